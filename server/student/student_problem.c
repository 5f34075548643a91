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
#include "extraction/presence.h"
#include "log.h"
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
    free(p->col_sha);
    free(p);
}

void ss_problem_release(ss_problem *p) {
    if (!p) return;
    pthread_mutex_lock(&cache_mu);
    int drop = --p->refs == 0 && p->evicted;
    pthread_mutex_unlock(&cache_mu);
    if (drop) problem_free(p);
}

/* The problem of the pair at these checksums: the whole extraction (key NULL) or the
 * view of the word list whose hash is key. */
static ss_problem *cache_find(int64_t xid, int64_t tid, const char *psha, const char *tsha, const char *key) {
    ss_problem *hit = NULL;
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < SS_CACHE_SIZE; i++) {
        ss_problem *p = cache[i];
        if (p && p->extraction_id == xid && p->teacher_output_id == tid && !strcmp(p->presence_sha, psha) &&
            !strcmp(p->probs_sha, tsha) && p->view == (key != NULL) && (!key || !strcmp(p->words_key, key))) {
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

/* The hash of a word list (words joined by newlines, which a concept word never
 * holds): which columns a view has. */
static int words_key(char *const *words, size_t d, char out[65]) {
    size_t len = 0;
    for (size_t j = 0; j < d; j++) len += strlen(words[j]) + 1;
    char *buf = malloc(len + 1);
    if (!buf) return -1;
    size_t at = 0;
    for (size_t j = 0; j < d; j++) {
        size_t L = strlen(words[j]);
        memcpy(buf + at, words[j], L);
        buf[at + L] = '\n';
        at += L + 1;
    }
    blobstore_hash(buf, at, out);
    free(buf);
    return 0;
}

int ss_problem_columns_sha(const ss_problem *p, char *const *words, size_t d, char *out, const char **missing) {
    *missing = NULL;
    char *buf = malloc(d * 64 + 1); // (d) hex hashes joined
    if (!buf) return -1;
    for (size_t j = 0; j < d; j++) {
        size_t k = 0;
        while (k < p->d && strcmp(p->words[k], words[j])) k++;
        if (k == p->d) {
            *missing = words[j];
            free(buf);
            return -1;
        }
        memcpy(buf + j * 64, p->col_sha[k], 64);
    }
    blobstore_hash(buf, d * 64, out);
    free(buf);
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
    char ids_sha[65];
    if (extraction_presence_load(a, xid, &xall, &xids, &xn, &xd, &words, p->presence_sha, ids_sha, e)) return -1;
    /* Column hashes from the data itself; a matrix stored without them gets them. */
    if (!(p->col_sha = malloc(((size_t)xd + 1) * sizeof *p->col_sha))) goto oom;
    if (presence_column_hashes(xall, (size_t)xn, (size_t)xd, ids_sha, p->col_sha, e)) goto done;
    err re = {0};
    if (extraction_column_hashes_record(a, xid, p->presence_sha, p->col_sha, xd, &re))
        log_warn("extraction %lld: column hashes not recorded: %s", (long long)xid, re.msg);
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
    if (words_key(p->words, d, p->words_key)) goto oom;
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
    if ((*out = cache_find(xid, tid, xrow[2], trow[1], NULL))) return 0;
    pthread_mutex_lock(&build_mu);
    if ((*out = cache_find(xid, tid, xrow[2], trow[1], NULL))) {
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

/* ---- views: a version's columns ---------------------------------------------------- */

static void *dup_bytes(const void *src, size_t len) {
    void *d = malloc(len + 1);
    if (d && len) memcpy(d, src, len);
    return d;
}

/* A copy of base with only the columns col (d) of its presence, in that order. */
static int view_build(const ss_problem *b, char *const *words, const size_t *col, size_t d, ss_problem *v, err *e) {
    size_t n = b->n, c = b->c;
    v->extraction_id = b->extraction_id, v->teacher_output_id = b->teacher_output_id, v->dataset_id = b->dataset_id;
    memcpy(v->presence_sha, b->presence_sha, sizeof v->presence_sha);
    memcpy(v->probs_sha, b->probs_sha, sizeof v->probs_sha);
    v->view = 1;
    v->n = n, v->d = d, v->c = c, v->n_train = b->n_train;
    v->x = malloc((n * d + 1) * sizeof *v->x);               // (N, d)
    v->p = dup_bytes(b->p, n * c * sizeof *v->p);             // (N, C)
    v->ids = dup_bytes(b->ids, n * sizeof *v->ids);
    v->teacher = dup_bytes(b->teacher, n * sizeof *v->teacher);
    v->labels = dup_bytes(b->labels, n * sizeof *v->labels);
    v->split = dup_bytes(b->split, n * sizeof *v->split);
    v->splits = calloc(b->n_splits + 1, sizeof *v->splits);
    v->split_rows = calloc(b->n_splits + 1, sizeof *v->split_rows);
    v->split_n = dup_bytes(b->split_n, b->n_splits * sizeof *v->split_n);
    v->words = calloc(d + 1, sizeof *v->words);
    v->classes = calloc(c + 1, sizeof *v->classes);
    v->col_sha = malloc((d + 1) * sizeof *v->col_sha);
    v->x_train = malloc((b->n_train * d + 1) * sizeof *v->x_train); // (N_train, d)
    v->p_train = dup_bytes(b->p_train, b->n_train * c * sizeof *v->p_train);
    if (!v->x || !v->p || !v->ids || !v->teacher || !v->labels || !v->split || !v->splits || !v->split_rows ||
        !v->split_n || !v->words || !v->classes || !v->col_sha || !v->x_train || !v->p_train)
        goto oom;
    for (size_t s = 0; s < b->n_splits; s++, v->n_splits++)
        if (!(v->splits[s] = strdup(b->splits[s])) ||
            !(v->split_rows[s] = dup_bytes(b->split_rows[s], b->split_n[s] * sizeof(size_t)))) {
            free(v->splits[s]);
            goto oom;
        }
    for (size_t j = 0; j < d; j++) {
        if (!(v->words[j] = strdup(words[j]))) goto oom;
        memcpy(v->col_sha[j], b->col_sha[col[j]], 65);
    }
    for (size_t k = 0; k < c; k++)
        if (!(v->classes[k] = strdup(b->classes[k]))) goto oom;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) v->x[i * d + j] = b->x[i * b->d + col[j]];
    for (size_t i = 0; i < b->n_train; i++)
        for (size_t j = 0; j < d; j++) v->x_train[i * d + j] = b->x_train[i * b->d + col[j]];
    if (words_key(v->words, d, v->words_key)) goto oom;
    return student_data_init(&v->sd, v->x_train, v->n_train, d, e);
oom:
    return err_set(e, ERR_INTERNAL, "out of memory building a student version's problem");
}

int ss_problem_view(ss_problem *base, char *const *words, size_t d, ss_problem **out, err *e) {
    *out = NULL;
    int same = d == base->d;
    for (size_t j = 0; same && j < d; j++) same = !strcmp(words[j], base->words[j]);
    if (same) {
        pthread_mutex_lock(&cache_mu);
        base->refs++;
        pthread_mutex_unlock(&cache_mu);
        *out = base;
        return 0;
    }
    if (d == 0) return err_set(e, ERR_UNPROCESSABLE, "a student needs at least one concept");
    char key[65];
    size_t *col = malloc(d * sizeof *col); // (d) base column of each word
    if (!col || words_key(words, d, key)) {
        free(col);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t j = 0; j < d; j++) {
        size_t k = 0;
        while (k < base->d && strcmp(base->words[k], words[j])) k++;
        if (k == base->d) {
            free(col);
            return err_set(e, ERR_CONFLICT, "concept '%s' is no longer a presence column of extraction %lld",
                           words[j], (long long)base->extraction_id);
        }
        col[j] = k;
    }
    const int64_t xid = base->extraction_id, tid = base->teacher_output_id;
    if ((*out = cache_find(xid, tid, base->presence_sha, base->probs_sha, key))) {
        free(col);
        return 0;
    }
    pthread_mutex_lock(&build_mu);
    if ((*out = cache_find(xid, tid, base->presence_sha, base->probs_sha, key))) {
        pthread_mutex_unlock(&build_mu);
        free(col);
        return 0;
    }
    ss_problem *v = calloc(1, sizeof *v);
    int rc = v ? view_build(base, words, col, d, v, e) : err_set(e, ERR_INTERNAL, "out of memory");
    free(col);
    if (rc) {
        pthread_mutex_unlock(&build_mu);
        problem_free(v);
        return -1;
    }
    cache_put(v);
    pthread_mutex_unlock(&build_mu);
    *out = v;
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
