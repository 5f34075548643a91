/* student_analyses.c — influence, disagreements and contributions of one version on
 * its problem (see student_analyses.h).
 */
#include "student/student_analyses.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "student/student_measures.h"
#include "student/student_split_measures.h"

int ss_analysis_open(app *a, int64_t sid, int num, ss_version *v, ss_problem **p, err *e) {
    *p = NULL;
    memset(v, 0, sizeof *v);
    ss_student s;
    if (ss_student_load(a, sid, &s, e) || ss_version_load(a, sid, num, v, e) || ss_student_problem(a, &s, v, p, e)) {
        ss_version_free(v);
        return -1;
    }
    if (v->c != (*p)->c || v->d != (*p)->d) {
        ss_problem_release(*p);
        *p = NULL;
        ss_version_free(v);
        return err_set(e, ERR_CONFLICT, "student %lld is stale: its data changed shape", (long long)sid);
    }
    return 0;
}

/* A concept j with the value it is ranked by. */
typedef struct ranked {
    float key;
    size_t j;
} ranked;

/* By |key|, largest first; ties by concept index. */
static int by_abs_desc(const void *a, const void *b) {
    float x = fabsf(((const ranked *)a)->key), y = fabsf(((const ranked *)b)->key);
    if (x != y) return x < y ? 1 : -1;
    return ((const ranked *)a)->j < ((const ranked *)b)->j ? -1 : 1;
}

/* ---- influence ---------------------------------------------------------------- */

json_t *ss_influence_json(const ss_problem *p, const ss_version *v, size_t k, int si, long limit, err *e) {
    /* Influence = weight x mean presence over the images the teacher puts in class k
     * (sm_influence's definition, for one class, optionally within one split). */
    double *mean = calloc(p->d + 1, sizeof *mean); // (d)
    ranked *rk = malloc((p->d + 1) * sizeof *rk);  // (d)
    json_t *out = NULL;
    if (!mean || !rk) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    size_t cnt = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->teacher[i] != (int32_t)k || (si >= 0 && p->split[i] != si)) continue;
        const float *xi = p->x + i * p->d;
        for (size_t j = 0; j < p->d; j++) mean[j] += xi[j];
        cnt++;
    }
    const float *wk = v->w + k * p->d, *lok = v->lo + k * p->d, *hik = v->hi + k * p->d;
    for (size_t j = 0; j < p->d; j++) {
        mean[j] = cnt ? mean[j] / (double)cnt : 0.0;
        rk[j] = (ranked){(float)(wk[j] * mean[j]), j};
    }
    qsort(rk, p->d, sizeof *rk, by_abs_desc);
    json_t *items = json_array();
    for (size_t t = 0; t < p->d && t < (size_t)limit; t++) {
        size_t j = rk[t].j;
        json_array_append_new(items, json_pack("{s:s,s:i,s:f,s:f,s:f,s:o,s:o}", "concept", p->words[j], "index",
                                               (int)j, "weight", (double)wk[j], "mean_presence", mean[j],
                                               "influence", (double)rk[t].key, "lo",
                                               isfinite(lok[j]) ? json_real(lok[j]) : json_null(), "hi",
                                               isfinite(hik[j]) ? json_real(hik[j]) : json_null()));
    }
    out = json_pack("{s:s,s:i,s:i,s:s?,s:I,s:f,s:o}", "class", p->classes[k], "class_index", (int)k, "version",
                    v->number, "split", si >= 0 ? p->splits[si] : NULL, "n_images", (json_int_t)cnt, "bias",
                    (double)v->b[k], "items", items);
    if (!out) err_set(e, ERR_INTERNAL, "out of memory");
done:
    free(mean);
    free(rk);
    return out;
}

/* ---- disagreements ------------------------------------------------------------ */

void ss_disagreements_etag(const ss_problem *p, const ss_version *v, char *etag) {
    /* FNV-1a over the weights and biases: the version's content, even if ids are
     * ever reused (a restored database). */
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *bytes[] = {(const unsigned char *)v->w, (const unsigned char *)v->b};
    const size_t lens[] = {v->c * v->d * sizeof *v->w, v->c * sizeof *v->b};
    for (int part = 0; part < 2; part++)
        for (size_t i = 0; i < lens[part]; i++) h = (h ^ bytes[part][i]) * 1099511628211ULL;
    snprintf(etag, SS_ETAG, "\"sd%lld-%016llx-%.12s-%.12s\"", (long long)v->id, (unsigned long long)h,
             p->presence_sha, p->probs_sha);
}

json_t *ss_disagreements_json(const ss_problem *p, const ss_version *v, const ss_rows_filter *f, err *e) {
    int32_t *pred = malloc((p->n + 1) * sizeof *pred); // (N)
    if (!pred || ss_predict(p, v->w, v->b, pred, e)) {
        if (!err_is_set(e)) err_set(e, ERR_INTERNAL, "out of memory");
        free(pred);
        return NULL;
    }
    json_t *items = json_array();
    size_t total = 0;
    for (size_t i = 0; i < p->n; i++) {
        int agree = pred[i] == p->teacher[i];
        if ((f->agreement == 0 && agree) || (f->agreement == 1 && !agree) ||
            (f->split >= 0 && p->split[i] != f->split) ||
            (f->teacher_class >= 0 && p->teacher[i] != f->teacher_class) ||
            (f->student_class >= 0 && pred[i] != f->student_class) || (f->label >= 0 && p->labels[i] != f->label) ||
            (f->only && !f->only[i]))
            continue;
        if (total >= (size_t)f->offset && total < (size_t)(f->offset + f->limit)) {
            int32_t t = p->teacher[i], s = pred[i];
            json_array_append_new(
                items, json_pack("{s:I,s:s,s:s,s:s,s:f,s:f,s:o}", "image_id", (json_int_t)p->ids[i], "split",
                                 p->splits[p->split[i]], "teacher_class", p->classes[t], "student_class",
                                 p->classes[s], "teacher_probability", (double)p->p[i * p->c + t],
                                 "teacher_probability_of_student_class", (double)p->p[i * p->c + s], "label",
                                 p->labels[i] >= 0 ? json_string(p->classes[p->labels[i]]) : json_null()));
        }
        total++;
    }
    free(pred);
    json_t *out =
        json_pack("{s:i,s:s,s:s?,s:s?,s:s?,s:s?,s:I,s:i,s:i,s:o}", "version", v->number, "agreement",
                  f->agreement == 0 ? "disagree" : f->agreement == 1 ? "agree" : "all", "split",
                  f->split >= 0 ? p->splits[f->split] : NULL, "teacher_class",
                  f->teacher_class >= 0 ? p->classes[f->teacher_class] : NULL, "student_class",
                  f->student_class >= 0 ? p->classes[f->student_class] : NULL, "label",
                  f->label >= 0 ? p->classes[f->label] : NULL, "total", (json_int_t)total, "limit", (int)f->limit,
                  "offset", (int)f->offset, "items", items);
    if (!out) err_set(e, ERR_INTERNAL, "out of memory");
    return out;
}

/* ---- contributions ------------------------------------------------------------ */

json_t *ss_contributions_json(const ss_problem *p, const ss_version *v, size_t row, int64_t image_id,
                              long only, long top, err *e) {
    size_t c = p->c, d = p->d;
    float *contrib = malloc((c * d + 1) * sizeof *contrib); // (C, d)
    ranked *rk = malloc((d + 1) * sizeof *rk);              // (d)
    json_t *out = NULL;
    if (!contrib || !rk) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    const float *xi = p->x + row * d;
    sm_contributions(xi, d, v->w, c, contrib);
    json_t *classes = json_array();
    int32_t best = 0;
    double best_score = -INFINITY;
    for (size_t k = 0; k < c; k++) {
        double score = v->b[k];
        for (size_t j = 0; j < d; j++) score += contrib[k * d + j];
        if (score > best_score) best_score = score, best = (int32_t)k;
        if (only >= 0 && (long)k != only) continue;
        size_t m = 0;
        for (size_t j = 0; j < d; j++)
            if (contrib[k * d + j] != 0.0f) rk[m++] = (ranked){contrib[k * d + j], j};
        qsort(rk, m, sizeof *rk, by_abs_desc);
        json_t *items = json_array();
        for (size_t t = 0; t < m && t < (size_t)top; t++)
            json_array_append_new(items, json_pack("{s:s,s:f,s:f,s:f}", "concept", p->words[rk[t].j], "presence",
                                                   (double)xi[rk[t].j], "weight", (double)v->w[k * d + rk[t].j],
                                                   "contribution", (double)rk[t].key));
        json_array_append_new(classes, json_pack("{s:s,s:f,s:f,s:f,s:I,s:o}", "class", p->classes[k], "score", score,
                                                 "bias", (double)v->b[k], "teacher_probability",
                                                 (double)p->p[row * c + k], "nonzero", (json_int_t)m,
                                                 "contributions", items));
    }
    int32_t t = p->teacher[row], l = p->labels[row];
    out = json_pack("{s:I,s:i,s:s,s:o,s:s,s:s,s:o}", "image_id", (json_int_t)image_id, "version", v->number, "split",
                    p->splits[p->split[row]], "label", l >= 0 ? json_string(p->classes[l]) : json_null(),
                    "teacher_class", p->classes[t], "student_class", p->classes[best], "classes", classes);
    if (!out) err_set(e, ERR_INTERNAL, "out of memory");
done:
    free(contrib);
    free(rk);
    return out;
}
