/* teacher_predictions.c — a teacher's predictions uploaded as a file, CSV or JSON
 * (format in teacher_predictions.h), parsed into the (N, C) probability matrix that
 * teacher_store_put stores like a computed teacher output.
 *
 * Keys are matched against the dataset's ids (binary search: they are ascending)
 * or sha256s (binary search over an index sorted once). Each row is checked for
 * width and finite values; a row that sums to 1 is taken as probabilities
 * (renormalised), any other as logits (softmaxed).
 */
#include "teacher/teacher_predictions.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "teacher/teacher.h"

typedef struct key_index {
    const int64_t *ids;
    char *const *shas;
    size_t n;
    size_t *by_sha; /* (n) indexes sorted by sha */
} key_index;

static const key_index *sort_ctx;
static int cmp_sha_idx(const void *a, const void *b) {
    return strcmp(sort_ctx->shas[*(const size_t *)a], sort_ctx->shas[*(const size_t *)b]);
}

/* Row index of `key` (an image id in decimal, or a sha256), or -1. */
static long key_find(const key_index *k, const char *key) {
    size_t L = strlen(key);
    if (L == 64 && blobstore_valid_hex(key)) {
        size_t lo = 0, hi = k->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strcmp(k->shas[k->by_sha[mid]], key);
            if (!c) return (long)k->by_sha[mid];
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        return -1;
    }
    if (L == 0 || L > 18) return -1;
    for (const char *p = key; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    long long id = strtoll(key, NULL, 10);
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k->ids[mid] == id) return (long)mid;
        if (k->ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Store one row: check width and values, softmax logits. `where` is "line 7" or
 * "key \"abc\"". */
static int put_row(float *probs, unsigned char *seen, long row, const float *vals, size_t got, size_t classes,
                   const char *where, const char *key, size_t *n_logits, err *e) {
    if (got != classes)
        return err_set(e, ERR_UNPROCESSABLE, "%s: image '%s' has %zu values, expected %zu (the dataset's class count)",
                       where, key, got, classes);
    if (seen[row]) return err_set(e, ERR_UNPROCESSABLE, "%s: image '%s' is given twice", where, key);
    seen[row] = 1;
    float *dst = probs + (size_t)row * classes;
    for (size_t j = 0; j < classes; j++) {
        if (!isfinite(vals[j]))
            return err_set(e, ERR_UNPROCESSABLE, "%s: image '%s': value %zu is not a finite number", where, key, j + 1);
        dst[j] = vals[j];
    }
    if (teacher_row_is_probs(dst, classes)) {
        double s = 0;
        for (size_t j = 0; j < classes; j++) s += dst[j];
        for (size_t j = 0; j < classes; j++) dst[j] = (float)(dst[j] / s);
    } else {
        teacher_softmax_rows(dst, 1, classes);
        (*n_logits)++;
    }
    return 0;
}

static int parse_float(const char *s, float *out) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    if (*end || errno == ERANGE) return -1;
    *out = (float)v;
    return 0;
}

static int parse_csv(FILE *f, const key_index *k, size_t classes, float *probs, unsigned char *seen,
                     size_t *n_logits, err *e) {
    char *line = NULL;
    size_t cap = 0;
    float *vals = malloc((classes + 1) * sizeof(float));
    if (!vals) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = 0;
    long lineno = 0;
    for (ssize_t len; !rc && (len = getline(&line, &cap, f)) >= 0;) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        char *save = NULL, *key = strtok_r(line, ",", &save);
        if (!key) continue;
        while (isspace((unsigned char)*key)) key++;
        for (char *q = key + strlen(key); q > key && isspace((unsigned char)q[-1]);) *--q = 0;
        if (*key == '"') { /* "key" quoted by a spreadsheet */
            key++;
            char *q = strchr(key, '"');
            if (q) *q = 0;
        }
        size_t got = 0;
        int bad_num = 0;
        char *bad_cell = NULL;
        for (char *cell; (cell = strtok_r(NULL, ",", &save));) {
            if (got <= classes && parse_float(cell, &vals[got]) == 0) got++;
            else if (got <= classes) {
                bad_num = 1;
                bad_cell = cell;
                break;
            }
        }
        long row = key_find(k, key);
        if (lineno == 1 && (row < 0 || bad_num)) continue; /* a header line */
        char where[32];
        snprintf(where, sizeof where, "line %ld", lineno);
        if (bad_num) rc = err_set(e, ERR_UNPROCESSABLE, "%s: '%.40s' is not a number", where, bad_cell);
        else if (row < 0)
            rc = err_set(e, ERR_UNPROCESSABLE, "%s: unknown image key '%.80s' (not an image id or sha256 of this dataset)",
                         where, key);
        else rc = put_row(probs, seen, row, vals, got, classes, where, key, n_logits, e);
    }
    free(line);
    free(vals);
    return rc;
}

static int parse_json(const char *path, const key_index *k, char *const *dataset_classes, size_t classes,
                      float *probs, unsigned char *seen, size_t *n_logits, err *e) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return err_set(e, ERR_UNPROCESSABLE, "predictions: invalid JSON at line %d: %s", je.line, je.text);
    int rc = 0;
    json_t *cls = json_object_get(root, "classes"), *pred = json_object_get(root, "predictions");
    if (!json_is_object(root) || !json_is_object(pred)) {
        rc = err_set(e, ERR_UNPROCESSABLE, "predictions: expected {\"classes\": [...], \"predictions\": {key: [...]}}");
        goto done;
    }
    if (cls) {
        if (!json_is_array(cls) || json_array_size(cls) != classes) {
            rc = err_set(e, ERR_UNPROCESSABLE, "classes: %zu names, but the dataset has %zu classes",
                         json_is_array(cls) ? json_array_size(cls) : 0, classes);
            goto done;
        }
        for (size_t j = 0; j < classes; j++) {
            const char *s = json_string_value(json_array_get(cls, j));
            if (!s || strcmp(s, dataset_classes[j])) {
                rc = err_set(e, ERR_UNPROCESSABLE, "classes[%zu]: '%s', but the dataset's class %zu is '%s'", j,
                             s ? s : "(not a string)", j, dataset_classes[j]);
                goto done;
            }
        }
    }
    float *vals = malloc((classes + 1) * sizeof(float));
    if (!vals) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(pred, key, v) {
        char where[128];
        snprintf(where, sizeof where, "predictions[\"%.80s\"]", key);
        long row = key_find(k, key);
        if (row < 0) {
            rc = err_set(e, ERR_UNPROCESSABLE, "%s: unknown image key (not an image id or sha256 of this dataset)", where);
            break;
        }
        if (!json_is_array(v)) {
            rc = err_set(e, ERR_UNPROCESSABLE, "%s: expected an array of numbers", where);
            break;
        }
        size_t got = json_array_size(v) > classes ? classes + 1 : json_array_size(v);
        for (size_t j = 0; j < got && !rc; j++) {
            json_t *x = json_array_get(v, j);
            if (!json_is_number(x)) rc = err_set(e, ERR_UNPROCESSABLE, "%s[%zu]: not a number", where, j);
            else vals[j] = (float)json_number_value(x);
        }
        if (rc || (rc = put_row(probs, seen, row, vals, json_array_size(v), classes, where, key, n_logits, e))) break;
    }
    free(vals);
done:
    json_decref(root);
    return rc;
}

int teacher_parse_predictions(const char *path, const int64_t *ids, char *const *shas, size_t n,
                              char *const *dataset_classes, size_t classes, float **probs_out, size_t *n_logit_rows,
                              err *e) {
    *probs_out = NULL;
    *n_logit_rows = 0;
    if (n == 0) return err_set(e, ERR_UNPROCESSABLE, "the dataset has no images");
    if (classes == 0) return err_set(e, ERR_UNPROCESSABLE, "the dataset has no classes");
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, ERR_IO, "cannot read the upload: %s", strerror(errno));
    key_index k = {.ids = ids, .shas = shas, .n = n, .by_sha = malloc(n * sizeof(size_t))};
    float *probs = calloc(n * classes, sizeof(float)); // (N, C)
    unsigned char *seen = calloc(n, 1);
    int rc = -1;
    if (!k.by_sha || !probs || !seen) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) k.by_sha[i] = i;
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER; /* qsort has no context argument */
    pthread_mutex_lock(&sort_lock);
    sort_ctx = &k;
    qsort(k.by_sha, n, sizeof(size_t), cmp_sha_idx);
    pthread_mutex_unlock(&sort_lock);
    int c;
    while ((c = fgetc(f)) != EOF && isspace(c)) {
    }
    if (c == EOF) {
        err_set(e, ERR_UNPROCESSABLE, "the predictions file is empty");
        goto done;
    }
    if (c == '{') {
        if (parse_json(path, &k, dataset_classes, classes, probs, seen, n_logit_rows, e)) goto done;
    } else {
        rewind(f);
        if (parse_csv(f, &k, classes, probs, seen, n_logit_rows, e)) goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!seen[i]) {
            err_set(e, ERR_UNPROCESSABLE, "image %lld (sha256 %s) has no prediction: every image of the dataset must be covered",
                    (long long)ids[i], shas[i]);
            goto done;
        }
    *probs_out = probs;
    probs = NULL;
    rc = 0;
done:
    fclose(f);
    free(k.by_sha);
    free(probs);
    free(seen);
    return rc;
}
