/* teacher.c — teacher outputs: preprocessing and softmax shared by the job, the
 * extraction and the benchmarks, and the "teacher.outputs" job.
 *
 * The job runs a registered teacher over every image of a dataset, split into chunk
 * tasks that any worker makes (teacher_tasks.c), in batches of TEACHER_BATCH: read the JPEG from the blob store (checksum verified), decode,
 * resize + normalise as the manifest says, forward through the shared model, softmax
 * in C. The (N, C) float32 matrix and the image ids go to the blob store and one
 * row of teacher_outputs is upserted (teacher_store_put), so a re-run (after a crash, or by hand)
 * replaces the same (dataset, model) row.
 */
#include "teacher/teacher.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blobstore.h"
#include "db_json.h"
#include "models/model_registry.h"
#include "teacher/teacher_store.h"
#include "teacher/teacher_tasks.h"

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
    return teacher_outputs_compute_rows(ctx, d, m, 0, d->n, lo, hi, what, probs_out, by_name, e);
}

int teacher_outputs_compute_rows(job_ctx *ctx, const dataset_images *d, const model_ref *m, size_t first, size_t n,
                                 double lo, double hi, const char *what, float **probs_out, int *by_name, err *e) {
    *probs_out = NULL;
    const model_manifest *mf = &m->mf;
    const size_t C = d->n_classes, per = (size_t)mf->channels * mf->height * mf->width;
    if (mf->n_classes != C) return err_set(e, ERR_UNPROCESSABLE, "the teacher has %zu classes but dataset '%s' has %zu",
                                           mf->n_classes, d->name, C);
    if (first > d->n || n > d->n - first)
        return err_set(e, ERR_UNPROCESSABLE, "rows %zu..%zu are past the dataset's %zu images", first, first + n, d->n);
    float *probs = malloc((n ? n : 1) * C * sizeof(float));   // (n, C)
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
    /* Batches start at `first`: a chunk of a multiple of TEACHER_BATCH rows sees the
     * very batches a whole-dataset run sees, so its probabilities are the same bytes. */
    for (size_t at = 0; at < n; at += TEACHER_BATCH) {
        size_t b = n - at < TEACHER_BATCH ? n - at : TEACHER_BATCH;
        if (job_progress(ctx, lo + (hi - lo) * (double)at / n, e, "%s%zu of %zu images", what, at, n)) goto done;
        for (size_t i = 0; i < b; i++) {
            uint8_t *buf;
            size_t len;
            image_rgb img;
            if (blobstore_read(job_app(ctx)->cfg.data_dir, d->shas[first + at + i], &buf, &len, e)) goto done;
            int bad = jpeg_decode(buf, len, &img, e);
            free(buf);
            if (!bad) bad = teacher_preprocess(mf, &img, x + i * per, scratch, e);
            image_free(&img);
            if (bad) { /* name the image: "image 42: truncated JPEG" */
                char why[400];
                memcpy(why, e->msg, sizeof why - 1);
                why[sizeof why - 1] = 0;
                snprintf(e->msg, sizeof e->msg, "image %lld: %s", (long long)d->ids[first + at + i], why);
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
    json_t *tasks = NULL; /* {tasks, attempts, retried, workers} of the chunk tasks */
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
    /* Chunks of whole batches: each chunk forms the batches one whole-dataset pass forms. */
    size_t chunk = ((size_t)a->cfg.chunk_images + TEACHER_BATCH - 1) / TEACHER_BATCH * TEACHER_BATCH;
    if (teacher_tasks_run(ctx, &d, m, chunk, &probs, &by_name, &tasks, e)) goto done;
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
    if (teacher_store_put(a, &d, model_id, mname, probs, 0, job_id(ctx), 0, &out_id, e)) goto done;
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
    json_object_set_new(*result, "chunk_images", json_integer((json_int_t)chunk));
    json_object_set_new(*result, "chunk_tasks", tasks);
    tasks = NULL;
    if (labelled) json_object_set_new(*result, "accuracy", json_real((double)correct / labelled));
    rc = 0;
done:
    json_decref(tasks);
    model_registry_release(m);
    dataset_images_free(&d);
    free(probs);
    return rc;
}
