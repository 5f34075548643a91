/* student_whatif.c — exact effects of weight changes before retraining: a version's
 * cached scores, one action, every concept ranked (see student_whatif.h).
 */
#include "student/student_whatif.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "student/student_actions.h"
#include "student/student_columns.h"
#include "student/student_measures.h"

/* ---- scores ------------------------------------------------------------------- */

void ss_scores_free(ss_scores *s) {
    if (!s) return;
    free(s->s), free(s->pred), free(s->margin), free(s->top);
    s->s = NULL, s->pred = NULL, s->margin = NULL, s->top = NULL;
}

/* Is class a ranked before class b in row si (higher score, or equal and lower)? */
static int ranks_before(const float *si, int32_t a, int32_t b) { return si[a] > si[b] || (si[a] == si[b] && a < b); }

int ss_scores_compute(const float *x, size_t n, size_t d, const float *w, const float *b, size_t c, ss_scores *out,
                      err *e) {
    out->n = n, out->c = c;
    out->s = malloc((n * c + 1) * sizeof *out->s); // (N, C)
    out->pred = malloc((n + 1) * sizeof *out->pred);
    out->margin = malloc((n + 1) * sizeof *out->margin);
    out->top = malloc((n * SS_WHATIF_TOP + 1) * sizeof *out->top); // (N, SS_WHATIF_TOP)
    if (!out->s || !out->pred || !out->margin || !out->top) {
        ss_scores_free(out);
        return err_set(e, ERR_INTERNAL, "out of memory for the scores of %zu images", n);
    }
    sm_scores(x, n, d, w, b, c, out->s);
    sm_argmax_rows(out->s, n, c, out->pred);
    for (size_t i = 0; i < n; i++) {
        const float *si = out->s + i * c;
        double top = si[out->pred[i]], second = -INFINITY;
        for (size_t k = 0; k < c; k++)
            if ((int32_t)k != out->pred[i] && si[k] > second) second = si[k];
        out->margin[i] = c > 1 ? (float)(top - second) : INFINITY;
        /* the best SS_WHATIF_TOP classes in order (insertion into a short list) */
        int32_t *ti = out->top + i * SS_WHATIF_TOP;
        size_t m = 0;
        for (int32_t k = 0; k < (int32_t)c; k++) {
            if (isnan(si[k])) continue;
            if (m == SS_WHATIF_TOP && !ranks_before(si, k, ti[m - 1])) continue;
            size_t at = m < SS_WHATIF_TOP ? m++ : SS_WHATIF_TOP - 1;
            while (at > 0 && ranks_before(si, k, ti[at - 1])) ti[at] = ti[at - 1], at--;
            ti[at] = k;
        }
        for (; m < SS_WHATIF_TOP; m++) ti[m] = -1;
    }
    return 0;
}

/* ---- the exact effects ---------------------------------------------------------- */

/* The class row i takes when its scores s_i (C) move by x * delta (C): argmax in
 * double, ties to the lowest class (sm_argmax_rows' rule). */
static int32_t rescored(const float *si, size_t c, double x, const float *delta) {
    int32_t best = 0;
    double bv = -INFINITY;
    for (size_t k = 0; k < c; k++) {
        double z = (double)si[k] + x * (double)delta[k];
        if (z > bv) bv = z, best = (int32_t)k;
    }
    return best;
}

/* Count the move of row i from class t to class u into fid[s], acc[s]. */
static void count_move(const ss_rows *rows, size_t i, int32_t t, int32_t u, int32_t *fid, int32_t *acc) {
    int32_t s = rows->split[i], te = rows->teacher[i], l = rows->labels[i];
    fid[s] += (u == te) - (t == te);
    if (l >= 0) acc[s] += (u == l) - (t == l);
}

/* The columns' changes, sparse: column j moves the classes cls[start[j] .. start[j+1])
 * by delta[...]; mask[j] has their bits (C <= 64). */
typedef struct moves {
    size_t *start;  // (d + 1)
    int32_t *cls;   // (moves)
    float *delta;   // (moves)
    uint64_t *mask; // (d)
} moves;

/* rescored() for a column whose moves are sparse: the best class the column leaves
 * alone (the row's class, or the first of its best classes outside the mask) against
 * the moved ones. -1 when the row's best classes are all moved (use rescored()). */
static int32_t rescored_sparse(const float *si, const int32_t *top, int32_t t, double x, const moves *mv, size_t j) {
    uint64_t mask = mv->mask[j];
    int32_t best = -1;
    if (!(mask >> t & 1)) {
        best = t;
    } else {
        for (size_t q = 0; q < SS_WHATIF_TOP && best < 0 && top[q] >= 0; q++)
            if (!(mask >> top[q] & 1)) best = top[q];
        if (best < 0) return -1;
    }
    double bv = si[best];
    for (size_t q = mv->start[j]; q < mv->start[j + 1]; q++) {
        int32_t k = mv->cls[q];
        double z = (double)si[k] + x * (double)mv->delta[q];
        if (z > bv || (z == bv && k < best)) bv = z, best = k;
    }
    return best;
}

/* The bound that skips rows (see student_whatif.h), per class t of a row, split by
 * which class could overtake t: its runner-up r (gap m2 = s_t - s_r) or any other
 * (gap at least m3 = s_t - s_third). Arrays (C, d): dT[k][j] = delta_kj; h1[t][j] =
 * max over k != t of delta_kj - delta_tj, reached at a1[t][j]; h2[t][j] the same over
 * k not in {t, a1}. All rounded up: a float bound never falls below the true one. */
typedef struct bounds {
    float *dT, *h1, *h2;
    int32_t *a1;
} bounds;

/* flags (d): 1 where the row (presence xi, class t, runner-up r) may change class
 * under column j: x_ij (delta_rj - delta_tj) > thr2, or x_ij times the most any third
 * class gains > thr3, or a negative presence (the bound assumes x >= 0). A plain loop
 * the compiler vectorises. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((optimize("O3"), target_clones("avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static void may_change(const float *xi, const bounds *bd, size_t d, int32_t t, int32_t r, float thr2, float thr3,
                       unsigned char *flags) {
    const float *dt = bd->dT + (size_t)t * d, *dr = bd->dT + (size_t)(r >= 0 ? r : t) * d;
    const float *h1 = bd->h1 + (size_t)t * d, *h2 = bd->h2 + (size_t)t * d;
    const int32_t *a1 = bd->a1 + (size_t)t * d;
    for (size_t j = 0; j < d; j++) {
        float v = xi[j], third = a1[j] == r ? h2[j] : h1[j];
        flags[j] = (unsigned char)((v * (dr[j] - dt[j]) * (1.0f + 1e-6f) > thr2) | (v * third > thr3) | (v < 0.0f));
    }
}

static float round_up(double g) {
    float f = (float)g;
    return (double)f < g ? nextafterf(f, INFINITY) : f;
}

int ss_whatif_concepts(const float *x, size_t n, size_t d, const ss_scores *sc, const ss_rows *rows, const float *w,
                       size_t c, long cls, int32_t *dfid, int32_t *dacc, err *e) {
    size_t ns = rows->n_splits;
    memset(dfid, 0, d * ns * sizeof *dfid);
    memset(dacc, 0, d * ns * sizeof *dacc);
    float *delta = malloc((d * c + 1) * sizeof *delta); // (d, C) the change of column j
    bounds bd = {malloc((c * d + 1) * sizeof *bd.dT), malloc((c * d + 1) * sizeof *bd.h1),
                 malloc((c * d + 1) * sizeof *bd.h2), malloc((c * d + 1) * sizeof *bd.a1)};
    unsigned char *flags = calloc(d + 8, 1);            // (d) padded to whole 8-byte words
    uint32_t *idx = malloc((d + 1) * sizeof *idx);
    moves mv = {malloc((d + 1) * sizeof *mv.start), malloc((d * c + 1) * sizeof *mv.cls),
                malloc((d * c + 1) * sizeof *mv.delta), calloc(d + 1, sizeof *mv.mask)};
    int rc = -1;
    if (!delta || !bd.dT || !bd.h1 || !bd.h2 || !bd.a1 || !flags || !idx || !mv.start || !mv.cls || !mv.delta || !mv.mask) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    const int sparse = c <= 64;
    mv.start[0] = 0;
    for (size_t j = 0; j < d; j++) {
        mv.start[j + 1] = mv.start[j];
        for (size_t k = 0; k < c; k++) {
            float v = cls < 0 || (long)k == cls ? -w[k * d + j] : 0.0f;
            delta[j * c + k] = v;
            if (v == 0.0f) continue;
            mv.cls[mv.start[j + 1]] = (int32_t)k, mv.delta[mv.start[j + 1]++] = v;
            if (sparse) mv.mask[j] |= (uint64_t)1 << k;
        }
    }
    for (size_t k = 0; k < c; k++)
        for (size_t j = 0; j < d; j++) bd.dT[k * d + j] = delta[j * c + k];
    for (size_t t = 0; t < c; t++)
        for (size_t j = 0; j < d; j++) {
            const float *dj = delta + j * c;
            double g1 = -INFINITY, g2 = -INFINITY;
            int32_t k1 = -1;
            for (size_t k = 0; k < c; k++) {
                if (k == t) continue;
                double g = (double)dj[k] - (double)dj[t];
                if (g > g1) g2 = g1, g1 = g, k1 = (int32_t)k;
                else if (g > g2) g2 = g;
            }
            bd.h1[t * d + j] = round_up(g1), bd.h2[t * d + j] = round_up(g2), bd.a1[t * d + j] = k1;
        }
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d, *si = sc->s + i * c;
        const int32_t t = sc->pred[i], *top = sc->top + i * SS_WHATIF_TOP;
        const int32_t r = c > 1 ? top[1] : -1, third = c > 2 ? top[2] : -1;
        const float m2 = sc->margin[i], m3 = third >= 0 ? si[t] - si[third] : INFINITY;
        may_change(xi, &bd, d, t, r, m2 * (1.0f - 1e-6f), m3 * (1.0f - 1e-6f), flags);
        size_t m = 0;
        for (size_t j = 0; j < d; j++) idx[m] = (uint32_t)j, m += flags[j];
        for (size_t q = 0; q < m; q++) {
            size_t j = idx[q];
            int32_t u = sparse ? rescored_sparse(si, sc->top + i * SS_WHATIF_TOP, t, xi[j], &mv, j) : -1;
            if (u < 0) u = rescored(si, c, xi[j], delta + j * c);
            if (u != t) count_move(rows, i, t, u, dfid + j * ns, dacc + j * ns);
        }
    }
    rc = 0;
done:
    free(delta), free(bd.dT), free(bd.h1), free(bd.h2), free(bd.a1), free(flags), free(idx);
    free(mv.start), free(mv.cls), free(mv.delta), free(mv.mask);
    return rc;
}

int ss_whatif_weights(const float *x, size_t n, size_t d, const ss_scores *sc, const ss_rows *rows,
                      const float *w_old, const float *w_new, size_t c, int32_t *dfid, int32_t *dacc, err *e) {
    memset(dfid, 0, rows->n_splits * sizeof *dfid);
    memset(dacc, 0, rows->n_splits * sizeof *dacc);
    size_t *cols = malloc((d + 1) * sizeof *cols), m = 0; // the columns that change
    double *delta = malloc((d * c + 1) * sizeof *delta);  // (m, C) their changes
    double *z = malloc((c + 1) * sizeof *z);               // (C)
    if (!cols || !delta || !z) {
        free(cols), free(delta), free(z);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t j = 0; j < d; j++) {
        int moved = 0;
        for (size_t k = 0; k < c; k++) moved |= w_new[k * d + j] != w_old[k * d + j];
        if (!moved) continue;
        for (size_t k = 0; k < c; k++) delta[m * c + k] = (double)w_new[k * d + j] - (double)w_old[k * d + j];
        cols[m++] = j;
    }
    for (size_t i = 0; m && i < n; i++) {
        const float *xi = x + i * d, *si = sc->s + i * c;
        int any = 0;
        for (size_t q = 0; q < m && !any; q++) any = xi[cols[q]] != 0.0f;
        if (!any) continue;
        for (size_t k = 0; k < c; k++) z[k] = si[k];
        for (size_t q = 0; q < m; q++)
            for (size_t k = 0; k < c; k++) z[k] += (double)xi[cols[q]] * delta[q * c + k];
        int32_t u = 0;
        for (size_t k = 1; k < c; k++)
            if (z[k] > z[u]) u = (int32_t)k;
        if (u != sc->pred[i]) count_move(rows, i, sc->pred[i], u, dfid, dacc);
    }
    free(cols), free(delta), free(z);
    return 0;
}

/* ---- the cache of scores --------------------------------------------------------- */

static pthread_mutex_t wc_mu = PTHREAD_MUTEX_INITIALIZER;
static ss_scores *wcache[SS_WHATIF_CACHE];
static unsigned long wc_used[SS_WHATIF_CACHE], wc_clock;

static void scores_drop(ss_scores *s) {
    ss_scores_free(s);
    free(s);
}

void ss_whatif_release(ss_scores *s) {
    if (!s) return;
    pthread_mutex_lock(&wc_mu);
    int drop = --s->refs == 0 && s->evicted;
    pthread_mutex_unlock(&wc_mu);
    if (drop) scores_drop(s);
}

/* FNV-1a over the weights and biases: the version's content, even if an id is reused
 * (a restored database). */
static uint64_t weights_hash(const ss_version *v) {
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *bytes[] = {(const unsigned char *)v->w, (const unsigned char *)v->b};
    const size_t lens[] = {v->c * v->d * sizeof *v->w, v->c * sizeof *v->b};
    for (int part = 0; part < 2; part++)
        for (size_t i = 0; i < lens[part]; i++) h = (h ^ bytes[part][i]) * 1099511628211ULL;
    return h;
}

int ss_whatif_get(const ss_problem *p, const ss_version *v, ss_scores **out, err *e) {
    *out = NULL;
    char key[200];
    snprintf(key, sizeof key, "%s/%s/%s", p->presence_sha, p->probs_sha, p->words_key);
    uint64_t h = weights_hash(v);
    pthread_mutex_lock(&wc_mu);
    for (int i = 0; i < SS_WHATIF_CACHE && !*out; i++)
        if (wcache[i] && wcache[i]->version_id == v->id && wcache[i]->weights_hash == h && !strcmp(wcache[i]->key, key)) {
            *out = wcache[i];
            wcache[i]->refs++;
            wc_used[i] = ++wc_clock;
        }
    pthread_mutex_unlock(&wc_mu);
    if (*out) return 0;
    ss_scores *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, ERR_INTERNAL, "out of memory");
    if (ss_scores_compute(p->x, p->n, p->d, v->w, v->b, p->c, s, e)) {
        free(s);
        return -1;
    }
    s->version_id = v->id, s->weights_hash = h, s->refs = 1;
    snprintf(s->key, sizeof s->key, "%s", key);
    /* Two requests may compute the same scores at once; both are kept, the older goes first. */
    ss_scores *drop = NULL;
    pthread_mutex_lock(&wc_mu);
    int slot = 0;
    for (int i = 0; i < SS_WHATIF_CACHE; i++) {
        if (!wcache[i]) {
            slot = i;
            break;
        }
        if (wc_used[i] < wc_used[slot]) slot = i;
    }
    if (wcache[slot]) {
        wcache[slot]->evicted = 1;
        if (wcache[slot]->refs == 0) drop = wcache[slot];
    }
    wcache[slot] = s, wc_used[slot] = ++wc_clock;
    pthread_mutex_unlock(&wc_mu);
    if (drop) scores_drop(drop);
    *out = s;
    return 0;
}

/* ---- answers ---------------------------------------------------------------------- */

/* Per split of p: rows, rows agreeing with the teacher, labelled rows, rows agreeing
 * with the label, under pred (N). Arrays (n_splits). */
static void split_counts(const ss_problem *p, const int32_t *pred, long *n, long *agree, long *lab, long *correct) {
    for (size_t s = 0; s < p->n_splits; s++) n[s] = agree[s] = lab[s] = correct[s] = 0;
    for (size_t i = 0; i < p->n; i++) {
        int32_t s = p->split[i];
        n[s]++;
        agree[s] += pred[i] == p->teacher[i];
        if (p->labels[i] >= 0) lab[s]++, correct[s] += pred[i] == p->labels[i];
    }
}

static json_t *ratio_or_null(long num, long den) { return den ? json_real((double)num / (double)den) : json_null(); }

static json_t *before_after(long before, long delta, long den) {
    if (!den) return json_null();
    return json_pack("{s:f,s:f,s:f}", "before", (double)before / (double)den, "after",
                     (double)(before + delta) / (double)den, "delta", (double)delta / (double)den);
}

/* w_after (C, d of v): v's weights after the plan, before any retraining: the start
 * tuning_apply gives for the weight actions, dropped columns at 0 (added ones have no
 * column in v and start at 0, so they change nothing yet). */
static int plan_start(const ss_plan *plan, const ss_version *v, char *const *classes, float *w_after, err *e) {
    size_t c = v->c, dn = plan->d, cdn = c * dn;
    float *w = malloc((cdn + 1) * sizeof *w), *lo = malloc((cdn + 1) * sizeof *lo); // (C, d') each
    float *hi = malloc((cdn + 1) * sizeof *hi), *start = malloc((cdn + 1) * sizeof *start);
    int rc = -1;
    if (!w || !lo || !hi || !start) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    ss_columns_map(v->w, v->lo, v->hi, c, v->d, plan->from, dn, w, lo, hi);
    if (ss_plan_apply(plan, w, c, dn, classes, lo, hi, start, e)) goto done;
    memset(w_after, 0, c * v->d * sizeof *w_after);
    for (size_t q = 0; q < dn; q++)
        if (plan->from[q] >= 0)
            for (size_t k = 0; k < c; k++) w_after[k * v->d + (size_t)plan->from[q]] = start[k * dn + q];
    rc = 0;
done:
    free(w), free(lo), free(hi), free(start);
    return rc;
}

json_t *ss_whatif_action_json(const ss_problem *p, const ss_version *v, const json_t *action, err *e) {
    json_t *arr = json_pack("[O]", action), *out = NULL;
    ss_plan plan = {0};
    ss_scores *sc = NULL;
    size_t c = v->c, d = v->d, ns = p->n_splits;
    float *w_after = malloc((c * d + 1) * sizeof *w_after); // (C, d)
    int32_t *dfid = calloc(ns + 1, sizeof *dfid), *dacc = calloc(ns + 1, sizeof *dacc);
    long *n = calloc(ns + 1, sizeof *n), *agree = calloc(ns + 1, sizeof *agree);
    long *lab = calloc(ns + 1, sizeof *lab), *correct = calloc(ns + 1, sizeof *correct);
    if (!arr || !w_after || !dfid || !dacc || !n || !agree || !lab || !correct) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (ss_plan_parse(arr, v->concepts, d, p->classes, c, &plan, e) || plan_start(&plan, v, p->classes, w_after, e) ||
        ss_whatif_get(p, v, &sc, e))
        goto done;
    ss_rows rows = {p->teacher, p->labels, p->split, ns};
    if (ss_whatif_weights(p->x, p->n, d, sc, &rows, v->w, w_after, c, dfid, dacc, e)) goto done;
    split_counts(p, sc->pred, n, agree, lab, correct);
    json_t *splits = json_object(), *changed = json_array();
    for (size_t s = 0; s < ns; s++)
        json_object_set_new(splits, p->splits[s],
                            json_pack("{s:I,s:o,s:o}", "n", (json_int_t)n[s], "fidelity",
                                      before_after(agree[s], dfid[s], n[s]), "accuracy",
                                      before_after(correct[s], dacc[s], lab[s])));
    for (size_t k = 0; k < c; k++)
        for (size_t j = 0; j < d; j++)
            if (w_after[k * d + j] != v->w[k * d + j])
                json_array_append_new(changed, json_pack("{s:s,s:s,s:f,s:f}", "concept", v->concepts[j], "class",
                                                         p->classes[k], "before", (double)v->w[k * d + j], "after",
                                                         (double)w_after[k * d + j]));
    out = json_pack("{s:i,s:O,s:o,s:o,s:s}", "version", v->number, "action", json_array_get(plan.record, 0),
                    "splits", splits, "changed", changed, "retraining",
                    "not included: after apply, the classes that change are retrained and the figures move again");
    if (!out) err_set(e, ERR_INTERNAL, "out of memory");
done:
    json_decref(arr);
    ss_plan_free(&plan);
    ss_whatif_release(sc);
    free(w_after), free(dfid), free(dacc), free(n), free(agree), free(lab), free(correct);
    return out;
}

typedef struct ranked_concept {
    double key;
    size_t j;
} ranked_concept;

/* Largest change first; ties by concept index. */
static int by_key_desc(const void *a, const void *b) {
    const ranked_concept *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? 1 : -1;
    return x->j < y->j ? -1 : 1;
}

json_t *ss_whatif_concepts_json(const ss_problem *p, const ss_version *v, int split, long cls, const char *by,
                                long limit, err *e) {
    size_t c = v->c, d = v->d, ns = p->n_splits;
    int by_acc = !by || !strcmp(by, "accuracy");
    ss_scores *sc = NULL;
    json_t *out = NULL;
    int32_t *dfid = malloc((d * ns + 1) * sizeof *dfid), *dacc = malloc((d * ns + 1) * sizeof *dacc); // (d, splits)
    long *n = calloc(ns + 1, sizeof *n), *agree = calloc(ns + 1, sizeof *agree);
    long *lab = calloc(ns + 1, sizeof *lab), *correct = calloc(ns + 1, sizeof *correct);
    ranked_concept *rk = malloc((d + 1) * sizeof *rk);
    if (!dfid || !dacc || !n || !agree || !lab || !correct || !rk) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (ss_whatif_get(p, v, &sc, e)) goto done;
    split_counts(p, sc->pred, n, agree, lab, correct);
    if (!by && lab[split] == 0) by_acc = 0; /* no true labels: rank by fidelity */
    if (by_acc && lab[split] == 0) {
        err_set(e, ERR_UNPROCESSABLE, "split '%s' has no true labels: rank by=fidelity", p->splits[split]);
        goto done;
    }
    ss_rows rows = {p->teacher, p->labels, p->split, ns};
    if (ss_whatif_concepts(p->x, p->n, d, sc, &rows, v->w, c, cls, dfid, dacc, e)) goto done;
    size_t m = 0;
    for (size_t j = 0; j < d; j++) {
        int has = 0;
        for (size_t k = 0; k < c; k++) has |= (cls < 0 || (long)k == cls) && v->w[k * d + j] != 0.0f;
        if (!has) continue;
        int32_t dv = by_acc ? dacc[j * ns + (size_t)split] : dfid[j * ns + (size_t)split];
        rk[m++] = (ranked_concept){(double)dv / (double)(by_acc ? lab[split] : n[split]), j};
    }
    qsort(rk, m, sizeof *rk, by_key_desc);
    json_t *baseline = json_object(), *items = json_array();
    for (size_t s = 0; s < ns; s++)
        json_object_set_new(baseline, p->splits[s],
                            json_pack("{s:I,s:o,s:o}", "n", (json_int_t)n[s], "fidelity", ratio_or_null(agree[s], n[s]),
                                      "accuracy", ratio_or_null(correct[s], lab[s])));
    for (size_t t = 0; t < m && (long)t < limit; t++) {
        size_t j = rk[t].j;
        json_t *per = json_object();
        for (size_t s = 0; s < ns; s++)
            json_object_set_new(per, p->splits[s],
                                json_pack("{s:o,s:o}", "fidelity", ratio_or_null(dfid[j * ns + s], n[s]), "accuracy",
                                          ratio_or_null(dacc[j * ns + s], lab[s])));
        json_array_append_new(
            items, json_pack("{s:s,s:i,s:s,s:o,s:o,s:o}", "concept", v->concepts[j], "index", (int)j, "effect",
                             rk[t].key > 0 ? "helps" : rk[t].key < 0 ? "hurts" : "none", "fidelity",
                             ratio_or_null(dfid[j * ns + (size_t)split], n[split]), "accuracy",
                             ratio_or_null(dacc[j * ns + (size_t)split], lab[split]), "splits", per));
    }
    out = json_pack("{s:i,s:s,s:o,s:s,s:o,s:I,s:o}", "version", v->number, "split", p->splits[split], "class",
                    cls >= 0 ? json_string(p->classes[cls]) : json_null(), "by", by_acc ? "accuracy" : "fidelity",
                    "baseline", baseline, "total", (json_int_t)m, "items", items);
    if (!out) err_set(e, ERR_INTERNAL, "out of memory");
done:
    ss_whatif_release(sc);
    free(dfid), free(dacc), free(n), free(agree), free(lab), free(correct), free(rk);
    return out;
}
