/* teacher.c — teacher outputs: preprocessing and softmax shared by the job and the
 * benchmark, predictions-file parsing, and the "teacher.outputs" job.
 *
 * The job runs a registered teacher over every image of a dataset in batches of
 * TEACHER_BATCH: read the JPEG from the blob store (checksum verified), decode,
 * resize + normalise as the manifest says, forward through the shared model, softmax
 * in C. The (N, C) float32 matrix and the image ids go to the blob store and one
 * row of teacher_outputs is upserted, so a re-run (after a crash, or by hand)
 * replaces the same (dataset, model) row.
 */
#include "teacher/teacher.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blobstore.h"
#include "db_json.h"
#include "models/model_registry.h"

/* ---- numbers ------------------------------------------------------------- */

int teacher_preprocess(const model_manifest *mf, const image_rgb *img, float *out, float *scratch, err *e) {
    size_t plane = (size_t)mf->height * mf->width;
    if (mf->channels == 3) return image_to_chw(img, mf->width, mf->height, mf->mean, mf->std, out, 3 * plane, e);
    if (mf->channels != 1 || !scratch)
        return err_set(e, ERR_UNPROCESSABLE,
                       "manifest.input.channels: %d; teacher outputs are computed for 1 (grey) or 3 (RGB) channels",
                       mf->channels);
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    if (image_to_chw(img, mf->width, mf->height, zero, one, scratch, 3 * plane, e)) return -1; // (3, H, W) in [0,1]
    const float m = mf->mean[0], s = mf->std[0];
    for (size_t i = 0; i < plane; i++)
        out[i] = ((scratch[i] + scratch[plane + i] + scratch[2 * plane + i]) / 3.0f - m) / s;
    return 0;
}

void teacher_softmax_rows(float *x, size_t n, size_t c) {
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * c;
        float mx = row[0];
        for (size_t j = 1; j < c; j++) mx = row[j] > mx ? row[j] : mx;
        double sum = 0;
        for (size_t j = 0; j < c; j++) sum += exp((double)row[j] - mx);
        for (size_t j = 0; j < c; j++) row[j] = (float)(exp((double)row[j] - mx) / sum);
    }
}

int teacher_row_is_probs(const float *row, size_t c) {
    double sum = 0;
    for (size_t j = 0; j < c; j++) {
        if (!isfinite(row[j]) || row[j] < 0) return 0;
        sum += row[j];
    }
    return fabs(sum - 1.0) <= TEACHER_PROB_TOLERANCE;
}

/* ---- predictions files --------------------------------------------------- */

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

/* ---- storing --------------------------------------------------------------- */

int teacher_outputs_store(app *a, const dataset_images *d, int64_t model_id, const char *name, const float *probs,
                          size_t n_logit_rows, int64_t job_id, int64_t user_id, int64_t *out_id, err *e) {
    char probs_sha[BLOBSTORE_HEX_LEN + 1], ids_sha[BLOBSTORE_HEX_LEN + 1];
    /* Little-endian on disk; every host we build for is little-endian already. */
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "blobs are little-endian");
    if (blobstore_put(a->cfg.data_dir, probs, d->n * d->n_classes * sizeof(float), probs_sha, e) ||
        blobstore_put(a->cfg.data_dir, d->ids, d->n * sizeof(int64_t), ids_sha, e))
        return -1;
    char ds[24], mid[24], cls[24], n[24], lr[24], jid[24], uid[24];
    snprintf(ds, sizeof ds, "%lld", (long long)d->id);
    snprintf(mid, sizeof mid, "%lld", (long long)model_id);
    snprintf(cls, sizeof cls, "%zu", d->n_classes);
    snprintf(n, sizeof n, "%zu", d->n);
    snprintf(lr, sizeof lr, "%zu", n_logit_rows);
    snprintf(jid, sizeof jid, "%lld", (long long)job_id);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *p[] = {ds, model_id > 0 ? mid : NULL, model_id > 0 ? "model" : "file", name, cls, n,
                       probs_sha, ids_sha, lr, job_id > 0 ? jid : NULL, user_id > 0 ? uid : NULL};
    /* One statement: a re-run replaces the row in place (same id), atomically. */
    const char *sql =
        model_id > 0
            ? "INSERT INTO teacher_outputs (dataset_id, model_id, source, name, classes, n, probs_sha256,"
              " image_ids_sha256, logit_rows, job_id, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
              " ON CONFLICT (dataset_id, model_id) DO UPDATE SET name = EXCLUDED.name, classes = EXCLUDED.classes,"
              " n = EXCLUDED.n, probs_sha256 = EXCLUDED.probs_sha256, image_ids_sha256 = EXCLUDED.image_ids_sha256,"
              " logit_rows = EXCLUDED.logit_rows, job_id = EXCLUDED.job_id, created_by = EXCLUDED.created_by,"
              " created_at = now() RETURNING id"
            : "INSERT INTO teacher_outputs (dataset_id, model_id, source, name, classes, n, probs_sha256,"
              " image_ids_sha256, logit_rows, job_id, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
              " ON CONFLICT (dataset_id, name) WHERE source = 'file' DO UPDATE SET classes = EXCLUDED.classes,"
              " n = EXCLUDED.n, probs_sha256 = EXCLUDED.probs_sha256, image_ids_sha256 = EXCLUDED.image_ids_sha256,"
              " logit_rows = EXCLUDED.logit_rows, created_by = EXCLUDED.created_by, created_at = now() RETURNING id";
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, sql, 11, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    *out_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* ---- the job --------------------------------------------------------------- */

static double job_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int param_id(const json_t *params, const char *field, int64_t *out, err *e) {
    json_t *v = json_object_get(params, field);
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return err_set(e, ERR_UNPROCESSABLE, "params.%s: expected a positive integer id", field);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* model column j -> dataset column map[j]: by name when the model's classes are a
 * permutation of the dataset's, else by position. Returns 1 when by name. */
static int class_map(const model_manifest *mf, const dataset_images *d, int *map) {
    for (size_t j = 0; j < mf->n_classes; j++) {
        map[j] = -1;
        for (size_t k = 0; k < d->n_classes; k++)
            if (!strcmp(mf->classes[j], d->classes[k])) map[j] = (int)k;
    }
    int by_name = 1;
    for (size_t j = 0; j < mf->n_classes && by_name; j++) {
        if (map[j] < 0) by_name = 0;
        for (size_t k = 0; k < j && by_name; k++)
            if (map[k] == map[j]) by_name = 0;
    }
    if (!by_name)
        for (size_t j = 0; j < mf->n_classes; j++) map[j] = (int)j;
    return by_name;
}

int teacher_outputs_compute(job_ctx *ctx, const dataset_images *d, const model_ref *m, double lo, double hi,
                            const char *what, float **probs_out, int *by_name, err *e) {
    *probs_out = NULL;
    const model_manifest *mf = &m->mf;
    const size_t C = d->n_classes, per = (size_t)mf->channels * mf->height * mf->width;
    if (mf->n_classes != C) return err_set(e, ERR_UNPROCESSABLE, "the teacher has %zu classes but dataset '%s' has %zu",
                                           mf->n_classes, d->name, C);
    float *probs = malloc(d->n * C * sizeof(float));          // (N, C)
    float *x = malloc(per * TEACHER_BATCH * sizeof(float));   // (B, channels, H, W)
    float *scratch = malloc(3 * (size_t)mf->height * mf->width * sizeof(float));
    int *map = malloc(C * sizeof(int));
    int rc = -1;
    if (!probs || !x || !scratch || !map) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    int matched = class_map(mf, d, map);
    if (by_name) *by_name = matched;
    for (size_t at = 0; at < d->n; at += TEACHER_BATCH) {
        size_t b = d->n - at < TEACHER_BATCH ? d->n - at : TEACHER_BATCH;
        if (job_progress(ctx, lo + (hi - lo) * (double)at / d->n, e, "%s%zu of %zu images", what, at, d->n)) goto done;
        for (size_t i = 0; i < b; i++) {
            uint8_t *buf;
            size_t len;
            image_rgb img;
            if (blobstore_read(job_app(ctx)->cfg.data_dir, d->shas[at + i], &buf, &len, e)) goto done;
            int bad = jpeg_decode(buf, len, &img, e);
            free(buf);
            if (!bad) bad = teacher_preprocess(mf, &img, x + i * per, scratch, e);
            image_free(&img);
            if (bad) { /* name the image: "image 42: truncated JPEG" */
                char why[400];
                memcpy(why, e->msg, sizeof why - 1);
                why[sizeof why - 1] = 0;
                snprintf(e->msg, sizeof e->msg, "image %lld: %s", (long long)d->ids[at + i], why);
                goto done;
            }
        }
        shim_input in = {.dtype = SHIM_FLOAT32, .ndim = 4,
                         .shape = {(int64_t)b, mf->channels, mf->height, mf->width}, .data = x, .count = per * b};
        shim_output out = {0};
        char eb[320];
        if (m->fast ? shim_infer_run(m->fast, &in, &out, eb, sizeof eb)
                    : shim_model_run(m->model, mf->method_forward, &in, 1, &out, eb, sizeof eb)) {
            err_set(e, ERR_TORCH, "teacher forward failed: %s", eb);
            goto done;
        }
        if (out.ndim != 2 || out.shape[0] != (int64_t)b || out.shape[1] != (int64_t)C) { // (B, C)
            shim_free_output(&out);
            err_set(e, ERR_TORCH, "teacher forward returned an unexpected shape");
            goto done;
        }
        teacher_softmax_rows(out.data, b, C); // (B, C)
        for (size_t i = 0; i < b; i++)
            for (size_t j = 0; j < C; j++) probs[(at + i) * C + (size_t)map[j]] = out.data[i * C + j];
        shim_free_output(&out);
    }
    *probs_out = probs;
    probs = NULL;
    rc = 0;
done:
    free(probs);
    free(x);
    free(scratch);
    free(map);
    return rc;
}

int teacher_outputs_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    app *a = job_app(ctx);
    int64_t dataset_id, model_id;
    if (param_id(params, "dataset_id", &dataset_id, e) || param_id(params, "model_id", &model_id, e)) return -1;
    dataset_images d;
    if (dataset_store_load(a, dataset_id, &d, e)) return -1;
    model_ref *m = NULL;
    float *probs = NULL;
    int rc = -1;
    if (d.n == 0) {
        err_set(e, ERR_UNPROCESSABLE, "dataset '%s' has no images", d.name);
        goto done;
    }
    if (!(m = model_registry_acquire(a, model_id, e))) goto done;
    const model_manifest *mf = &m->mf;
    if (mf->kind != MODEL_KIND_TEACHER) {
        err_set(e, ERR_UNPROCESSABLE, "params.model_id: model %lld is a concept model, not a teacher", (long long)model_id);
        goto done;
    }
    const size_t C = d.n_classes;
    int by_name = 0;
    double t0 = job_now();
    if (teacher_outputs_compute(ctx, &d, m, 0.0, 1.0, "", &probs, &by_name, e)) goto done;
    double secs = job_now() - t0;
    if (job_progress(ctx, 1.0, e, "storing %zu x %zu probabilities", d.n, C)) goto done;
    char mname[160];
    {
        char ids[24];
        snprintf(ids, sizeof ids, "%lld", (long long)model_id);
        const char *p[] = {ids};
        json_t *nm = db_json(a, "the model was deleted", "SELECT to_json(name)::text FROM models WHERE id = $1", 1, p, e);
        if (!nm) goto done;
        snprintf(mname, sizeof mname, "%s", json_string_value(nm) ? json_string_value(nm) : "model");
        json_decref(nm);
    }
    int64_t out_id;
    if (teacher_outputs_store(a, &d, model_id, mname, probs, 0, job_id(ctx), 0, &out_id, e)) goto done;
    size_t correct = 0, labelled = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (d.labels[i] < 0) continue;
        const float *row = probs + i * C;
        size_t best = 0;
        for (size_t j = 1; j < C; j++) best = row[j] > row[best] ? j : best;
        labelled++;
        correct += best == (size_t)d.labels[i];
    }
    *result = json_pack("{s:I,s:I,s:I,s:I,s:I,s:s,s:f,s:f,s:b}", "teacher_output_id", (json_int_t)out_id, "dataset_id",
                        (json_int_t)dataset_id, "model_id", (json_int_t)model_id, "n", (json_int_t)d.n, "classes",
                        (json_int_t)C, "class_mapping", by_name ? "by_name" : "by_index", "seconds", secs,
                        "images_per_s", secs > 0 ? d.n / secs : 0.0, "optimized", m->fast != NULL);
    if (labelled) json_object_set_new(*result, "accuracy", json_real((double)correct / labelled));
    rc = 0;
done:
    model_registry_release(m);
    dataset_images_free(&d);
    free(probs);
    return rc;
}
