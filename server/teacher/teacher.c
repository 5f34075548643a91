/* teacher.c — running a teacher: the preprocessing and softmax shared by the
 * teacher-outputs run, the extraction and the benchmarks, and the probabilities of
 * a range of a dataset's image rows.
 *
 * Rows go in batches of TEACHER_BATCH: read the JPEG from the blob store (checksum
 * verified), decode, resize + normalise as the manifest says, forward through the
 * shared model, softmax in C. The "teacher.outputs" job (teacher_job.c) has its
 * chunk tasks (teacher_tasks.c) compute its rows here.
 */
#include "teacher/teacher.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
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

/* ---- running a teacher over image rows ----------------------------------- */

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
