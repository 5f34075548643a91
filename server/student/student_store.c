/* student_store.c — students as stored things: the cached training problem, the
 * measures on every split, distillation (job "student.distill"), tuning and restore
 * as new immutable versions under a row lock on the student. See student_store.h.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "dataset/dataset_store.h"
#include "db.h"
#include "extraction/extraction.h"
#include "student/student_measures.h"
#include "student/student_store.h"

/* ---- the problem cache -------------------------------------------------------- */

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t build_mu = PTHREAD_MUTEX_INITIALIZER; /* one build at a time: they are large */
static ss_problem *cache[SS_CACHE_SIZE];
static unsigned long cache_used[SS_CACHE_SIZE];
static unsigned long cache_clock;

static void problem_free(ss_problem *p) {
    if (!p) return;
    free(p->x);
    free(p->p);
    free(p->ids);
    free(p->teacher);
    free(p->labels);
    free(p->split);
    for (size_t i = 0; i < p->n_splits; i++) free(p->splits[i]), free(p->split_rows[i]);
    free(p->splits);
    free(p->split_rows);
    free(p->split_n);
    for (size_t j = 0; p->words && j < p->d; j++) free(p->words[j]);
    free(p->words);
    for (size_t k = 0; p->classes && k < p->c; k++) free(p->classes[k]);
    free(p->classes);
    free(p->x_train);
    free(p->p_train);
    student_data_free(&p->sd);
    free(p);
}

void ss_problem_release(ss_problem *p) {
    if (!p) return;
    pthread_mutex_lock(&cache_mu);
    int drop = --p->refs == 0 && p->evicted;
    pthread_mutex_unlock(&cache_mu);
    if (drop) problem_free(p);
}

static ss_problem *cache_find(int64_t xid, int64_t tid, const char *psha, const char *tsha) {
    ss_problem *hit = NULL;
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < SS_CACHE_SIZE; i++) {
        ss_problem *p = cache[i];
        if (p && p->extraction_id == xid && p->teacher_output_id == tid && !strcmp(p->presence_sha, psha) &&
            !strcmp(p->probs_sha, tsha)) {
            p->refs++;
            cache_used[i] = ++cache_clock;
            hit = p;
            break;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return hit;
}

/* Insert with one reference for the caller; the least recently used goes. */
static void cache_put(ss_problem *p) {
    ss_problem *drop = NULL;
    pthread_mutex_lock(&cache_mu);
    int slot = 0;
    for (int i = 0; i < SS_CACHE_SIZE; i++) {
        if (!cache[i]) {
            slot = i;
            break;
        }
        if (cache_used[i] < cache_used[slot]) slot = i;
    }
    if (cache[slot]) {
        cache[slot]->evicted = 1;
        if (cache[slot]->refs == 0) drop = cache[slot];
    }
    p->refs = 1;
    cache[slot] = p;
    cache_used[slot] = ++cache_clock;
    pthread_mutex_unlock(&cache_mu);
    problem_free(drop);
}

/* One row of strings from a parameterised query, copied into out[0..ncols). */
static int query_row(app *a, const char *what, const char *sql, int np, const char *const *params, int ncols,
                     char (*out)[80], int *nulls, err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, sql, np, params, e);
    db_release(a->db, c);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return err_set(e, ERR_NOT_FOUND, "%s", what);
    }
    for (int i = 0; i < ncols; i++) {
        snprintf(out[i], 80, "%s", PQgetvalue(r, 0, i));
        if (nulls) nulls[i] = PQgetisnull(r, 0, i);
    }
    PQclear(r);
    return 0;
}

/* Merge the three ascending id lists into the problem's rows. */
static int problem_build(app *a, int64_t xid, int64_t tid, const char *tids_sha, int64_t dataset_id, size_t tn,
                         size_t tc, ss_problem *p, err *e) {
    float *xall = NULL, *probs = NULL;
    int64_t *xids = NULL, *tids = NULL;
    char **words = NULL;
    int xn = 0, xd = 0;
    dataset_images ds = {0};
    int rc = -1;
    uint8_t *buf = NULL;
    size_t len;
    if (extraction_presence_load(a, xid, &xall, &xids, &xn, &xd, &words, e)) return -1;
    if (blobstore_read(a->cfg.data_dir, p->probs_sha, &buf, &len, e)) goto done;
    probs = (float *)buf;
    if (len != tn * tc * sizeof(float)) {
        err_set(e, ERR_IO, "teacher output %lld: probabilities blob has the wrong size", (long long)tid);
        goto done;
    }
    if (blobstore_read(a->cfg.data_dir, tids_sha, &buf, &len, e)) goto done;
    tids = (int64_t *)buf;
    if (len != tn * sizeof(int64_t)) {
        err_set(e, ERR_IO, "teacher output %lld: image id blob has the wrong size", (long long)tid);
        goto done;
    }
    if (dataset_store_load(a, dataset_id, &ds, e)) goto done;
    if (ds.n_classes != tc) {
        err_set(e, ERR_UNPROCESSABLE, "teacher output %lld has %zu classes but its dataset has %zu", (long long)tid,
                tc, ds.n_classes);
        goto done;
    }
    size_t cap = (size_t)xn, n = 0, d = (size_t)xd, c = tc;
    p->d = d, p->c = c;
    p->words = words, words = NULL;
    p->classes = calloc(c, sizeof *p->classes);
    p->x = malloc((cap * d + 1) * sizeof *p->x);   // (N, d)
    p->p = malloc((cap * c + 1) * sizeof *p->p);   // (N, C)
    p->ids = malloc((cap + 1) * sizeof *p->ids);
    p->teacher = malloc((cap + 1) * sizeof *p->teacher);
    p->labels = malloc((cap + 1) * sizeof *p->labels);
    p->split = malloc((cap + 1) * sizeof *p->split);
    p->splits = calloc(ds.n + 1, sizeof *p->splits);
    if (!p->classes || !p->x || !p->p || !p->ids || !p->teacher || !p->labels || !p->split || !p->splits) goto oom;
    for (size_t k = 0; k < c; k++)
        if (!(p->classes[k] = strdup(ds.classes[k]))) goto oom;
    size_t ti = 0, di = 0;
    for (size_t i = 0; i < cap; i++) {
        int64_t id = xids[i];
        while (ti < tn && tids[ti] < id) ti++;
        while (di < ds.n && ds.ids[di] < id) di++;
        if (ti == tn || tids[ti] != id || di == ds.n || ds.ids[di] != id) continue;
        memcpy(p->x + n * d, xall + i * d, d * sizeof(float));
        memcpy(p->p + n * c, probs + ti * c, c * sizeof(float));
        p->ids[n] = id;
        p->labels[n] = ds.labels[di] >= 0 && (size_t)ds.labels[di] < c ? ds.labels[di] : -1;
        const char *sp = ds.splits[di] && ds.splits[di][0] ? ds.splits[di] : "all";
        size_t s = 0;
        while (s < p->n_splits && strcmp(p->splits[s], sp)) s++;
        if (s == p->n_splits && !(p->splits[p->n_splits++] = strdup(sp))) goto oom;
        p->split[n] = (int32_t)s;
        n++;
    }
    if (n == 0) {
        err_set(e, ERR_UNPROCESSABLE, "extraction %lld and teacher output %lld share no image", (long long)xid,
                (long long)tid);
        goto done;
    }
    p->n = n;
    sm_argmax_rows(p->p, n, c, p->teacher);
    p->split_rows = calloc(p->n_splits, sizeof *p->split_rows);
    p->split_n = calloc(p->n_splits, sizeof *p->split_n);
    if (!p->split_rows || !p->split_n) goto oom;
    for (size_t s = 0; s < p->n_splits; s++)
        if (!(p->split_rows[s] = malloc(n * sizeof(size_t)))) goto oom;
    for (size_t i = 0; i < n; i++) p->split_rows[p->split[i]][p->split_n[p->split[i]]++] = i;
    /* Fit on the train split, or on everything when there is none. */
    int tr = ss_problem_split(p, SS_TRAIN_SPLIT);
    p->n_train = tr >= 0 ? p->split_n[tr] : n;
    p->x_train = malloc(p->n_train * d * sizeof(float)); // (N_train, d)
    p->p_train = malloc(p->n_train * c * sizeof(float)); // (N_train, C)
    if (!p->x_train || !p->p_train) goto oom;
    for (size_t r = 0; r < p->n_train; r++) {
        size_t i = tr >= 0 ? p->split_rows[tr][r] : r;
        memcpy(p->x_train + r * d, p->x + i * d, d * sizeof(float));
        memcpy(p->p_train + r * c, p->p + i * c, c * sizeof(float));
    }
    if (student_data_init(&p->sd, p->x_train, p->n_train, d, e)) goto done;
    rc = 0;
    goto done;
oom:
    err_set(e, ERR_INTERNAL, "out of memory building the student problem");
done:
    if (words) extraction_presence_free(NULL, NULL, words, xd);
    free(xall);
    free(xids);
    free(probs);
    free(tids);
    dataset_images_free(&ds);
    return rc;
}

int ss_problem_get(app *a, int64_t xid, int64_t tid, ss_problem **out, err *e) {
    *out = NULL;
    char xs[24], ts[24], what[64];
    snprintf(xs, sizeof xs, "%lld", (long long)xid);
    snprintf(ts, sizeof ts, "%lld", (long long)tid);
    char xrow[3][80], trow[5][80];
    int xnull[3];
    const char *px[] = {xs}, *pt[] = {ts};
    snprintf(what, sizeof what, "no extraction %lld", (long long)xid);
    if (query_row(a, what, "SELECT state, dataset_id, presence_sha256 FROM extractions WHERE id = $1", 1, px, 3, xrow,
                  xnull, e))
        return -1;
    if (strcmp(xrow[0], "ready") || xnull[2])
        return err_set(e, ERR_CONFLICT, "extraction %lld is %s, not ready", (long long)xid, xrow[0]);
    snprintf(what, sizeof what, "no teacher output %lld", (long long)tid);
    if (query_row(a, what,
                  "SELECT dataset_id, probs_sha256, image_ids_sha256, n, classes FROM teacher_outputs WHERE id = $1", 1,
                  pt, 5, trow, NULL, e))
        return -1;
    if (strcmp(xrow[1], trow[0]))
        return err_set(e, ERR_UNPROCESSABLE,
                       "extraction %lld is of dataset %s but teacher output %lld is of dataset %s", (long long)xid,
                       xrow[1], (long long)tid, trow[0]);
    if ((*out = cache_find(xid, tid, xrow[2], trow[1]))) return 0;
    pthread_mutex_lock(&build_mu);
    if ((*out = cache_find(xid, tid, xrow[2], trow[1]))) {
        pthread_mutex_unlock(&build_mu);
        return 0;
    }
    ss_problem *p = calloc(1, sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&build_mu);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    p->extraction_id = xid, p->teacher_output_id = tid, p->dataset_id = atoll(xrow[1]);
    snprintf(p->presence_sha, sizeof p->presence_sha, "%.64s", xrow[2]);
    snprintf(p->probs_sha, sizeof p->probs_sha, "%.64s", trow[1]);
    if (problem_build(a, xid, tid, trow[2], p->dataset_id, (size_t)atoll(trow[3]), (size_t)atoll(trow[4]), p, e)) {
        pthread_mutex_unlock(&build_mu);
        problem_free(p);
        return -1;
    }
    cache_put(p);
    pthread_mutex_unlock(&build_mu);
    *out = p;
    return 0;
}

long ss_problem_row(const ss_problem *p, int64_t image_id) {
    long lo = 0, hi = (long)p->n - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (p->ids[mid] == image_id) return mid;
        if (p->ids[mid] < image_id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int ss_problem_split(const ss_problem *p, const char *name) {
    for (size_t s = 0; name && s < p->n_splits; s++)
        if (!strcmp(p->splits[s], name)) return (int)s;
    return -1;
}

/* ---- measures ----------------------------------------------------------------- */

int ss_predict(const ss_problem *p, const float *W, const float *b, int32_t *pred, err *e) {
    float *scores = malloc((p->n * p->c + 1) * sizeof *scores); // (N, C)
    if (!scores) return err_set(e, ERR_INTERNAL, "out of memory");
    sm_scores(p->x, p->n, p->d, W, b, p->c, scores);
    sm_argmax_rows(scores, p->n, p->c, pred);
    free(scores);
    return 0;
}

json_t *ss_measures(const ss_problem *p, const float *W, const float *b, err *e) {
    int32_t *pred = malloc((p->n + 1) * sizeof *pred);
    int32_t *ss = malloc((p->n + 1) * sizeof *ss), *tt = malloc((p->n + 1) * sizeof *tt),
            *ll = malloc((p->n + 1) * sizeof *ll);
    json_t *splits = json_object(), *nz = json_array(), *out = NULL;
    if (!pred || !ss || !tt || !ll || !splits || !nz) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (ss_predict(p, W, b, pred, e)) goto done;
    for (size_t s = 0; s < p->n_splits; s++) {
        size_t m = p->split_n[s];
        for (size_t r = 0; r < m; r++) {
            size_t i = p->split_rows[s][r];
            ss[r] = pred[i], tt[r] = p->teacher[i], ll[r] = p->labels[i];
        }
        sm_summary sum;
        if (sm_summary_compute(ss, tt, ll, m, p->c, &sum, e)) goto done;
        json_t *j = sm_summary_json(&sum);
        sm_summary_free(&sum);
        if (!j || json_object_set_new(splits, p->splits[s], j)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
    }
    for (size_t k = 0; k < p->c; k++) {
        json_int_t cnt = 0;
        for (size_t j = 0; j < p->d; j++) cnt += W[k * p->d + j] != 0.0f;
        json_array_append_new(nz, json_integer(cnt));
    }
    out = json_pack("{s:O,s:O}", "splits", splits, "nonzeros", nz);
    if (!out) err_set(e, ERR_INTERNAL, "out of memory");
done:
    json_decref(splits);
    json_decref(nz);
    free(pred), free(ss), free(tt), free(ll);
    return out;
}

json_t *ss_measure_deltas(const json_t *before, const json_t *after) {
    if (json_is_number(before) && json_is_number(after))
        return json_real(json_number_value(after) - json_number_value(before));
    if (json_is_object(before) && json_is_object(after)) {
        json_t *out = json_object();
        const char *k;
        json_t *va;
        json_object_foreach((json_t *)after, k, va) {
            if (!strcmp(k, "confusion")) continue;
            json_t *d = ss_measure_deltas(json_object_get(before, k), va);
            if (d) json_object_set_new(out, k, d);
        }
        return out;
    }
    if (json_is_array(before) && json_is_array(after) && json_array_size(before) == json_array_size(after)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(after); i++) {
            json_t *d = ss_measure_deltas(json_array_get(before, i), json_array_get(after, i));
            json_array_append_new(out, d ? d : json_null());
        }
        return out;
    }
    return NULL;
}

/* ---- rows --------------------------------------------------------------------- */

int ss_student_load(app *a, int64_t id, ss_student *s, err *e) {
    char ids[24], what[48], row[6][80];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(what, sizeof what, "no student %lld", (long long)id);
    const char *p[] = {ids};
    memset(s, 0, sizeof *s);
    if (query_row(a, what,
                  "SELECT dataset_id, teacher_output_id, extraction_id, presence_sha256, probs_sha256, lambda"
                  " FROM students WHERE id = $1",
                  1, p, 6, row, NULL, e))
        return -1;
    s->id = id;
    s->dataset_id = atoll(row[0]), s->teacher_output_id = atoll(row[1]), s->extraction_id = atoll(row[2]);
    snprintf(s->presence_sha, sizeof s->presence_sha, "%.64s", row[3]);
    snprintf(s->probs_sha, sizeof s->probs_sha, "%.64s", row[4]);
    s->lambda = strtod(row[5], NULL);
    return 0;
}

int ss_student_problem(app *a, const ss_student *s, ss_problem **out, err *e) {
    if (ss_problem_get(a, s->extraction_id, s->teacher_output_id, out, e)) return -1;
    if (strcmp((*out)->presence_sha, s->presence_sha) || strcmp((*out)->probs_sha, s->probs_sha)) {
        int px = strcmp((*out)->presence_sha, s->presence_sha) != 0;
        ss_problem_release(*out);
        *out = NULL;
        return err_set(e, ERR_CONFLICT,
                       "student %lld is stale: its %s was recomputed since it was distilled; distil a new student",
                       (long long)s->id, px ? "presence matrix" : "teacher output");
    }
    return 0;
}

void ss_version_free(ss_version *v) {
    if (!v) return;
    free(v->w), free(v->b), free(v->lo), free(v->hi);
    json_decref(v->measures);
    memset(v, 0, sizeof *v);
}

int ss_version_load(app *a, int64_t student_id, int number, ss_version *v, err *e) {
    memset(v, 0, sizeof *v);
    char sid[24], num[16];
    snprintf(sid, sizeof sid, "%lld", (long long)student_id);
    snprintf(num, sizeof num, "%d", number);
    const char *p[] = {sid, num};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c,
                          "SELECT id, number, parent_id, weights_sha256, biases::text, bounds_sha256, lambda,"
                          " measures::text FROM student_versions WHERE student_id = $1 AND number = CASE"
                          " WHEN $2::int > 0 THEN $2::int"
                          " ELSE (SELECT max(number) FROM student_versions WHERE student_id = $1) END",
                          2, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    int rc = -1;
    uint8_t *buf = NULL;
    size_t len;
    json_t *biases = NULL;
    if (PQntuples(r) == 0) {
        err_set(e, ERR_NOT_FOUND, "no version %d of student %lld", number, (long long)student_id);
        goto done;
    }
    v->id = atoll(PQgetvalue(r, 0, 0));
    v->number = atoi(PQgetvalue(r, 0, 1));
    v->parent_id = PQgetisnull(r, 0, 2) ? 0 : atoll(PQgetvalue(r, 0, 2));
    v->lambda = strtod(PQgetvalue(r, 0, 6), NULL);
    biases = json_loads(PQgetvalue(r, 0, 4), JSON_DECODE_ANY, NULL);
    v->measures = json_loads(PQgetvalue(r, 0, 7), JSON_DECODE_ANY, NULL);
    v->c = json_array_size(biases);
    if (!biases || !v->measures || v->c == 0) {
        err_set(e, ERR_INTERNAL, "student version %lld: bad stored JSON", (long long)v->id);
        goto done;
    }
    if (blobstore_read(a->cfg.data_dir, PQgetvalue(r, 0, 3), &buf, &len, e)) goto done;
    if (len % (v->c * sizeof(float))) {
        err_set(e, ERR_IO, "student version %lld: weights blob has the wrong size", (long long)v->id);
        goto done;
    }
    v->d = len / (v->c * sizeof(float));
    v->w = (float *)buf, buf = NULL;
    size_t cd = v->c * v->d;
    v->b = malloc(v->c * sizeof *v->b);
    v->lo = malloc((cd + 1) * sizeof *v->lo);
    v->hi = malloc((cd + 1) * sizeof *v->hi);
    if (!v->b || !v->lo || !v->hi) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < v->c; k++) v->b[k] = (float)json_number_value(json_array_get(biases, k));
    if (!PQgetisnull(r, 0, 5)) {
        if (blobstore_read(a->cfg.data_dir, PQgetvalue(r, 0, 5), &buf, &len, e)) goto done;
        if (len != 2 * cd * sizeof(float)) {
            err_set(e, ERR_IO, "student version %lld: bounds blob has the wrong size", (long long)v->id);
            goto done;
        }
        memcpy(v->lo, buf, cd * sizeof(float));
        memcpy(v->hi, (float *)buf + cd, cd * sizeof(float));
        v->has_bounds = 1;
    } else {
        for (size_t i = 0; i < cd; i++) v->lo[i] = -INFINITY, v->hi[i] = INFINITY;
    }
    rc = 0;
done:
    free(buf);
    json_decref(biases);
    PQclear(r);
    if (rc) ss_version_free(v);
    return rc;
}

/* ---- actions ------------------------------------------------------------------ */

/* A name or an index into names[0..n). */
static int pick(const json_t *v, char *const *names, size_t n, size_t *out) {
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || (size_t)i >= n) return -1;
        *out = (size_t)i;
        return 0;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(names[i], s)) {
            *out = i;
            return 0;
        }
    return -1;
}

int ss_actions_parse(const json_t *actions, char *const *words, size_t d, char *const *classes, size_t c,
                     tuning_action **acts, size_t *n_acts, err *e) {
    *acts = NULL, *n_acts = 0;
    if (!json_is_array(actions) || json_array_size(actions) == 0)
        return err_set(e, ERR_UNPROCESSABLE, "field 'actions': a non-empty array of actions");
    if (json_array_size(actions) > 10000) return err_set(e, ERR_UNPROCESSABLE, "field 'actions': at most 10000");
    size_t n = json_array_size(actions);
    tuning_action *t = calloc(n, sizeof *t);
    if (!t) return err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(actions, i);
        if (!json_is_object(a)) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu]: must be an object", i);
            goto bad;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)a, key, val) {
            if (strcmp(key, "action") && strcmp(key, "concept") && strcmp(key, "class") && strcmp(key, "factor") &&
                strcmp(key, "value")) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].%s: unknown field", i, key);
                goto bad;
            }
        }
        const char *kind = json_string_value(json_object_get(a, "action"));
        err ke = {0};
        if (!kind || tuning_kind_parse(kind, &t[i].kind, &ke)) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu].action: one of uptune, downtune, remove, release, set", i);
            goto bad;
        }
        const json_t *cv = json_object_get(a, "concept"), *kv = json_object_get(a, "class");
        if (pick(cv, words, d, &t[i].concept)) {
            if (json_is_string(cv))
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: unknown concept '%s'", i, json_string_value(cv));
            else err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: a concept word or an index below %zu", i, d);
            goto bad;
        }
        if (pick(kv, classes, c, &t[i].cls)) {
            if (json_is_string(kv))
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].class: unknown class '%s'", i, json_string_value(kv));
            else err_set(e, ERR_UNPROCESSABLE, "actions[%zu].class: a class name or an index below %zu", i, c);
            goto bad;
        }
        if (t[i].kind == TUNING_UPTUNE || t[i].kind == TUNING_DOWNTUNE) {
            const json_t *f = json_object_get(a, "factor");
            if (!json_is_number(f) || !isfinite(json_number_value(f)) || json_number_value(f) <= 1.0) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].factor: %s needs a number > 1", i, kind);
                goto bad;
            }
            t[i].value = json_number_value(f);
        } else if (t[i].kind == TUNING_SET) {
            const json_t *f = json_object_get(a, "value");
            if (!json_is_number(f) || !isfinite(json_number_value(f))) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].value: set needs a finite number", i);
                goto bad;
            }
            t[i].value = json_number_value(f);
        }
    }
    *acts = t, *n_acts = n;
    return 0;
bad:
    free(t);
    return -1;
}

/* The actions as stored in provenance: names, not indices. */
static json_t *actions_json(const tuning_action *t, size_t n, const ss_problem *p) {
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_pack("{s:s,s:s,s:s}", "action", tuning_kind_name(t[i].kind), "concept", p->words[t[i].concept],
                              "class", p->classes[t[i].cls]);
        if (t[i].kind == TUNING_UPTUNE || t[i].kind == TUNING_DOWNTUNE)
            json_object_set_new(a, "factor", json_real(t[i].value));
        if (t[i].kind == TUNING_SET) json_object_set_new(a, "value", json_real(t[i].value));
        json_array_append_new(out, a);
    }
    return out;
}

/* ---- storing versions --------------------------------------------------------- */

typedef struct new_version {
    const float *w, *b, *lo, *hi; // (C, d), (C), (C, d), (C, d)
    size_t c, d;
    int has_bounds;
    double lambda;
    const json_t *measures, *measures_before, *actions;
    const char *note, *kind;
    int64_t parent_id;
    int expect_head; /* the parent's number: the head must still be it */
} new_version;

static int any_bound(const float *lo, const float *hi, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isfinite(lo[i]) || isfinite(hi[i])) return 1;
    return 0;
}

/* Blobs first (content-addressed, harmless if unused), then under the student's row
 * lock: the head check, the version and its provenance, in one transaction. */
static int store_version(app *a, PGconn *conn, int own_tx, int64_t student_id, const new_version *nv,
                         int64_t user_id, int64_t *version_id, int *number, int *head, err *e) {
    char wsha[65], bsha[65] = "";
    size_t cd = nv->c * nv->d;
    if (blobstore_put(a->cfg.data_dir, nv->w, cd * sizeof(float), wsha, e)) return -1;
    if (nv->has_bounds) {
        float *lh = malloc(2 * cd * sizeof *lh); // (2, C, d)
        if (!lh) return err_set(e, ERR_INTERNAL, "out of memory");
        memcpy(lh, nv->lo, cd * sizeof(float));
        memcpy(lh + cd, nv->hi, cd * sizeof(float));
        int bad = blobstore_put(a->cfg.data_dir, lh, 2 * cd * sizeof(float), bsha, e);
        free(lh);
        if (bad) return -1;
    }
    json_t *bj = json_array();
    for (size_t k = 0; k < nv->c; k++) json_array_append_new(bj, json_real((double)nv->b[k]));
    char *biases = json_dumps(bj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char *meas = json_dumps(nv->measures, JSON_COMPACT);
    char *before = nv->measures_before ? json_dumps(nv->measures_before, JSON_COMPACT) : NULL;
    char *acts = json_dumps(nv->actions ? nv->actions : json_array(), JSON_COMPACT);
    json_decref(bj);
    int rc = -1, began = 0;
    PGresult *r = NULL;
    if (!biases || !meas || !acts || (nv->measures_before && !before)) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    char sid[24], uid[24], pid[24], lam[40], num[16];
    snprintf(sid, sizeof sid, "%lld", (long long)student_id);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(pid, sizeof pid, "%lld", (long long)nv->parent_id);
    snprintf(lam, sizeof lam, "%.17g", nv->lambda);
    if (own_tx && db_begin(conn, e)) goto done;
    began = own_tx;
    const char *p1[] = {sid};
    r = db_exec(conn, "SELECT 1 FROM students WHERE id = $1 FOR UPDATE", 1, p1, e);
    if (!r) goto done;
    if (PQntuples(r) == 0) {
        err_set(e, ERR_NOT_FOUND, "no student %lld", (long long)student_id);
        goto done;
    }
    PQclear(r), r = NULL;
    /* The head is read by its own statement, after the lock: under READ COMMITTED a
     * statement sees the snapshot it started with, so reading it in the locking
     * statement would miss a version committed while we waited for the lock. */
    r = db_exec(conn, "SELECT COALESCE(max(number), 0) FROM student_versions WHERE student_id = $1", 1, p1, e);
    if (!r) goto done;
    *head = atoi(PQgetvalue(r, 0, 0));
    PQclear(r), r = NULL;
    if (nv->expect_head >= 0 && *head != nv->expect_head) {
        err_set(e, ERR_CONFLICT, "version %d is not the head of student %lld; the head is %d", nv->expect_head,
                (long long)student_id, *head);
        goto done;
    }
    *number = *head + 1;
    snprintf(num, sizeof num, "%d", *number);
    const char *p2[] = {sid, num, nv->parent_id > 0 ? pid : NULL, wsha, biases, nv->has_bounds ? bsha : NULL, lam,
                        meas, nv->note ? nv->note : "", user_id > 0 ? uid : NULL};
    r = db_exec(conn,
                "INSERT INTO student_versions (student_id, number, parent_id, weights_sha256, biases, bounds_sha256,"
                " lambda, measures, note, author) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb, $9, $10)"
                " RETURNING id",
                10, p2, e);
    if (!r) goto done;
    *version_id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r), r = NULL;
    char vid[24];
    snprintf(vid, sizeof vid, "%lld", (long long)*version_id);
    const char *p3[] = {sid, vid, nv->parent_id > 0 ? pid : NULL, nv->kind, acts, user_id > 0 ? uid : NULL, before,
                        meas};
    if (db_run(conn,
               "INSERT INTO student_provenance (student_id, version_id, parent_version_id, kind, actions, author,"
               " measures_before, measures_after) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8::jsonb)",
               8, p3, e))
        goto done;
    if (own_tx && db_commit(conn, e)) goto done;
    began = 0;
    rc = 0;
done:
    PQclear(r);
    if (began) db_rollback(conn);
    free(biases), free(meas), free(before), free(acts);
    return rc;
}

static json_t *version_reply(int64_t id, int number, int parent, const json_t *measures, json_t *classes) {
    return json_pack("{s:I,s:i,s:i,s:O,s:o}", "id", (json_int_t)id, "number", number, "parent", parent, "measures",
                     measures, "retrained", classes ? classes : json_array());
}

int ss_tune(app *a, int64_t student_id, int parent, const json_t *actions, const char *note, int64_t user_id,
            json_t **out, int *head, err *e) {
    *out = NULL, *head = 0;
    ss_student s;
    ss_problem *p = NULL;
    ss_version v = {0};
    tuning_action *acts = NULL;
    size_t n_acts = 0;
    float *w = NULL, *b = NULL;
    json_t *meas = NULL, *aj = NULL, *retrained = NULL;
    unsigned char *touched = NULL;
    int rc = -1;
    if (ss_student_load(a, student_id, &s, e)) return -1;
    /* Reject a stale parent early, before any work (checked again under the lock). */
    if (ss_version_load(a, student_id, 0, &v, e)) goto done;
    if (v.number != parent) {
        *head = v.number;
        err_set(e, ERR_CONFLICT, "version %d is not the head of student %lld; the head is %d", parent,
                (long long)student_id, v.number);
        goto done;
    }
    if (ss_student_problem(a, &s, &p, e)) goto done;
    if (v.c != p->c || v.d != p->d) {
        err_set(e, ERR_CONFLICT, "student %lld is stale: its version has shape (%zu, %zu), the data (%zu, %zu)",
                (long long)student_id, v.c, v.d, p->c, p->d);
        goto done;
    }
    if (ss_actions_parse(actions, p->words, p->d, p->classes, p->c, &acts, &n_acts, e)) goto done;
    size_t cd = p->c * p->d;
    w = malloc(cd * sizeof *w); // (C, d)
    b = malloc(p->c * sizeof *b);
    touched = calloc(p->c, 1);
    if (!w || !b || !touched) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    memcpy(b, v.b, p->c * sizeof *b);
    /* tuning_apply writes the new bounds into v.lo / v.hi and the start into w. */
    if (tuning_apply(acts, n_acts, v.w, p->c, p->d, v.lo, v.hi, w, e)) goto done;
    for (size_t i = 0; i < n_acts; i++) touched[acts[i].cls] = 1;
    student_opts o;
    student_opts_default(&o);
    o.lambda = v.lambda;
    retrained = json_array();
    for (size_t k = 0; k < p->c; k++) {
        if (!touched[k]) continue;
        if (student_fit(&p->sd, p->p_train + k, p->c, v.lo + k * p->d, v.hi + k * p->d, &o, w + k * p->d, &b[k],
                        NULL, e))
            goto done;
        json_array_append_new(retrained, json_string(p->classes[k]));
    }
    if (!(meas = ss_measures(p, w, b, e))) goto done;
    aj = actions_json(acts, n_acts, p);
    new_version nv = {.w = w, .b = b, .lo = v.lo, .hi = v.hi, .c = p->c, .d = p->d,
                      .has_bounds = any_bound(v.lo, v.hi, cd), .lambda = v.lambda, .measures = meas,
                      .measures_before = v.measures, .actions = aj, .note = note, .kind = "tune",
                      .parent_id = v.id, .expect_head = parent};
    PGconn *conn = db_acquire(a->db, e);
    if (!conn) goto done;
    int64_t vid;
    int number;
    int bad = store_version(a, conn, 1, student_id, &nv, user_id, &vid, &number, head, e);
    db_release(a->db, conn);
    if (bad) goto done;
    *out = version_reply(vid, number, parent, meas, retrained);
    retrained = NULL;
    rc = 0;
done:
    ss_problem_release(p);
    ss_version_free(&v);
    free(acts), free(w), free(b), free(touched);
    json_decref(meas), json_decref(aj), json_decref(retrained);
    return rc;
}

int ss_restore(app *a, int64_t student_id, int number, const char *note, int64_t user_id, json_t **out, err *e) {
    *out = NULL;
    ss_student s;
    ss_problem *p = NULL;
    ss_version old = {0}, head = {0};
    json_t *meas = NULL, *aj = NULL;
    int rc = -1;
    if (ss_student_load(a, student_id, &s, e) || ss_version_load(a, student_id, number, &old, e) ||
        ss_version_load(a, student_id, 0, &head, e) || ss_student_problem(a, &s, &p, e))
        goto done;
    if (old.c != p->c || old.d != p->d) {
        err_set(e, ERR_CONFLICT, "student %lld is stale", (long long)student_id);
        goto done;
    }
    if (!(meas = ss_measures(p, old.w, old.b, e))) goto done;
    aj = json_pack("[{s:s,s:i}]", "action", "restore", "version", number);
    new_version nv = {.w = old.w, .b = old.b, .lo = old.lo, .hi = old.hi, .c = old.c, .d = old.d,
                      .has_bounds = old.has_bounds, .lambda = old.lambda, .measures = meas,
                      .measures_before = head.measures, .actions = aj, .note = note, .kind = "restore",
                      .parent_id = head.id, .expect_head = head.number};
    PGconn *conn = db_acquire(a->db, e);
    if (!conn) goto done;
    int64_t vid;
    int num, h;
    int bad = store_version(a, conn, 1, student_id, &nv, user_id, &vid, &num, &h, e);
    db_release(a->db, conn);
    if (bad) goto done;
    *out = version_reply(vid, num, head.number, meas, NULL);
    json_object_set_new(*out, "restored", json_integer(number));
    rc = 0;
done:
    ss_problem_release(p);
    ss_version_free(&old);
    ss_version_free(&head);
    json_decref(meas), json_decref(aj);
    return rc;
}

/* ---- distillation ------------------------------------------------------------- */

static json_t *names_json(char *const *names, size_t n) {
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(out, json_string(names[i]));
    return out;
}

int ss_distill_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    app *a = job_app(ctx);
    json_t *xv = json_object_get(params, "extraction_id"), *tv = json_object_get(params, "teacher_output_id");
    json_t *lv = json_object_get(params, "lambda");
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!json_is_integer(xv) || !json_is_integer(tv))
        return err_set(e, ERR_UNPROCESSABLE, "params need extraction_id and teacher_output_id");
    double lambda = lv ? json_number_value(lv) : STUDENT_LAMBDA_DEFAULT;
    if (lv && (!json_is_number(lv) || !isfinite(lambda) || lambda < 0))
        return err_set(e, ERR_UNPROCESSABLE, "lambda must be a finite number >= 0");
    int64_t xid = json_integer_value(xv), tid = json_integer_value(tv);
    char jid[24];
    snprintf(jid, sizeof jid, "%lld", (long long)job_id(ctx));
    /* A re-run after a crash finds the student its first run committed. */
    {
        char row[1][80];
        const char *p[] = {jid};
        err ne = {0};
        if (!query_row(a, "none", "SELECT id FROM students WHERE job_id = $1", 1, p, 1, row, NULL, &ne)) {
            *result = json_pack("{s:I,s:i}", "student_id", (json_int_t)atoll(row[0]), "version", 1);
            return 0;
        }
        if (ne.code != ERR_NOT_FOUND) return err_set(e, ne.code, "%s", ne.msg);
    }
    if (job_progress(ctx, 0.05, e, "loading presence and teacher outputs")) return -1;
    ss_problem *p = NULL;
    if (ss_problem_get(a, xid, tid, &p, e)) return -1;
    int rc = -1;
    size_t cd = p->c * p->d;
    float *w = calloc(cd + 1, sizeof *w), *b = calloc(p->c, sizeof *b);
    float *lo = malloc((cd + 1) * sizeof *lo), *hi = malloc((cd + 1) * sizeof *hi);
    student_result *res = calloc(p->c, sizeof *res);
    json_t *meas = NULL, *fits = NULL;
    char *words = NULL, *classes = NULL;
    PGconn *conn = NULL;
    int began = 0;
    if (!w || !b || !lo || !hi || !res) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < cd; i++) lo[i] = -INFINITY, hi[i] = INFINITY;
    if (job_progress(ctx, 0.2, e, "fitting %zu classes on %zu images x %zu concepts", p->c, p->n_train, p->d))
        goto done;
    student_cold_start(p->p_train, p->n_train, p->c, p->d, w, b);
    student_opts o;
    student_opts_default(&o);
    o.lambda = lambda;
    if (student_fit_all(&p->sd, p->p_train, p->c, NULL, NULL, &o, w, b, res, e)) goto done;
    if (job_progress(ctx, 0.8, e, "measuring")) goto done;
    if (!(meas = ss_measures(p, w, b, e))) goto done;
    fits = json_array();
    for (size_t k = 0; k < p->c; k++)
        json_array_append_new(fits, json_pack("{s:f,s:f,s:i,s:b}", "objective", res[k].objective, "kkt", res[k].kkt,
                                              "nonzeros", res[k].nonzeros, "converged", res[k].converged));
    json_t *wj = names_json(p->words, p->d), *cj = names_json(p->classes, p->c);
    words = json_dumps(wj, JSON_COMPACT);
    classes = json_dumps(cj, JSON_COMPACT);
    json_decref(wj), json_decref(cj);
    char default_name[64], xs[24], ts[24], ds[24], lam[40];
    snprintf(default_name, sizeof default_name, "student of extraction %lld", (long long)xid);
    snprintf(xs, sizeof xs, "%lld", (long long)xid);
    snprintf(ts, sizeof ts, "%lld", (long long)tid);
    snprintf(ds, sizeof ds, "%lld", (long long)p->dataset_id);
    snprintf(lam, sizeof lam, "%.17g", lambda);
    if (!(conn = db_acquire(a->db, e)) || db_begin(conn, e)) goto done;
    began = 1;
    const char *ps[] = {name && name[0] ? name : default_name, ds, ts, xs, p->presence_sha, p->probs_sha, lam,
                        words, classes, jid};
    PGresult *r = db_exec(conn,
                          "INSERT INTO students (name, dataset_id, teacher_output_id, extraction_id, presence_sha256,"
                          " probs_sha256, lambda, concepts, classes, job_id, created_by) VALUES ($1, $2, $3, $4, $5,"
                          " $6, $7, ARRAY(SELECT json_array_elements_text($8::json)),"
                          " ARRAY(SELECT json_array_elements_text($9::json)), $10,"
                          " (SELECT created_by FROM jobs WHERE id = $10)) RETURNING id, created_by",
                          10, ps, e);
    if (!r) goto done;
    int64_t student_id = atoll(PQgetvalue(r, 0, 0));
    int64_t user_id = PQgetisnull(r, 0, 1) ? 0 : atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
    new_version nv = {.w = w, .b = b, .lo = lo, .hi = hi, .c = p->c, .d = p->d, .has_bounds = 0, .lambda = lambda,
                      .measures = meas, .measures_before = NULL, .actions = NULL, .note = "distilled",
                      .kind = "distill", .parent_id = 0, .expect_head = 0};
    int64_t vid;
    int number, head;
    /* One transaction: no student without its first version. */
    if (store_version(a, conn, 0, student_id, &nv, user_id, &vid, &number, &head, e) || db_commit(conn, e)) goto done;
    began = 0;
    json_t *splits = json_object_get(meas, "splits");
    json_t *fid = json_object();
    const char *sk;
    json_t *sv;
    json_object_foreach(splits, sk, sv) json_object_set(fid, sk, json_object_get(sv, "fidelity"));
    *result = json_pack("{s:I,s:i,s:I,s:o,s:o}", "student_id", (json_int_t)student_id, "version", number,
                        "version_id", (json_int_t)vid, "fidelity", fid, "fits", fits);
    fits = NULL;
    rc = 0;
done:
    if (began) db_rollback(conn);
    if (conn) db_release(a->db, conn);
    ss_problem_release(p);
    free(w), free(b), free(lo), free(hi), free(res), free(words), free(classes);
    json_decref(meas), json_decref(fits);
    return rc;
}
