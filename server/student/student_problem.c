/* student_problem.c — the training problem of a (teacher output, presence extraction)
 * pair and its in-process cache (see student_problem.h).
 */
#include "student/student_problem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "dataset/dataset_store.h"
#include "extraction/extraction.h"
#include "student/student_measures.h"
#include "student/student_query_row.h"

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

/* ---- building ------------------------------------------------------------------ */

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
    if (ss_query_row(a, what, "SELECT state, dataset_id, presence_sha256 FROM extractions WHERE id = $1", 1, px, 3,
                     xrow, xnull, e))
        return -1;
    if (strcmp(xrow[0], "ready") || xnull[2])
        return err_set(e, ERR_CONFLICT, "extraction %lld is %s, not ready", (long long)xid, xrow[0]);
    snprintf(what, sizeof what, "no teacher output %lld", (long long)tid);
    if (ss_query_row(a, what,
                     "SELECT dataset_id, probs_sha256, image_ids_sha256, n, classes FROM teacher_outputs WHERE id = $1",
                     1, pt, 5, trow, NULL, e))
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
