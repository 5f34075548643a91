/* extraction_chunks.c — segments chunk by chunk through the chunk cache (rules in
 * extraction_chunks.h): look the image range up, else decode, encode, store.
 */
#include "extraction/extraction_chunks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "extraction/extraction_store.h"
#include "job_tasks.h"

/* The stored chunk for this exact image range, if its blob verifies: its sha in
 * sha_out and its failures (new JSON) in *failures. 1 found, 0 not, -1 error. */
static int chunk_lookup(app *a, int64_t ds, int64_t model, int64_t first, int64_t last, int n, const char *fresh_sha,
                        char sha_out[65], json_t **failures, err *e) {
    int found = extraction_chunk_find(a, ds, model, first, last, n, sha_out, failures, e);
    if (found <= 0) return found;
    /* Just written by this job's task: the presence pass reads it checksummed anyway. */
    if (fresh_sha && !strcmp(fresh_sha, sha_out)) return 1;
    err ve = {0};
    /* A damaged chunk (checksum, logged) is not reused: recomputing it rewrites the file. */
    if (blobstore_verify(a->cfg.data_dir, sha_out, &ve)) {
        json_decref(*failures), *failures = NULL;
        return 0;
    }
    return 1;
}

/* Read, decode and segment image rows [lo, lo+n) of d into a stored chunk blob
 * (sha_out); *done counts the images seen, for progress. */
static int chunk_compute(job_ctx *ctx, extraction_encoder *enc, const dataset_images *d, size_t lo, int n,
                         size_t *done, char sha_out[65], json_t *failures, size_t *segs, err *e) {
    app *a = job_app(ctx);
    segment_store st = {0};
    image_rgb imgs[EXTRACTION_BATCH_DENSE > EXTRACTION_BATCH_GLOBAL ? EXTRACTION_BATCH_DENSE : EXTRACTION_BATCH_GLOBAL];
    int rc = -1;
    for (int at = 0; at < n; at += enc->batch) {
        int b = n - at < enc->batch ? n - at : enc->batch;
        if (job_progress(ctx, (double)*done / d->n, e, "segments: %zu of %zu images", *done, d->n)) goto done;
        memset(imgs, 0, sizeof imgs);
        for (int i = 0; i < b; i++) {
            size_t row = lo + (size_t)at + (size_t)i;
            uint8_t *buf;
            size_t len;
            err ie = {0};
            if (!blobstore_read(a->cfg.data_dir, d->shas[row], &buf, &len, &ie)) {
                if (jpeg_decode(buf, len, &imgs[i], &ie)) imgs[i].pixels = NULL; /* reported below */
                free(buf);
            }
            if (!imgs[i].pixels) /* reported and skipped: the image gets no segments */
                json_array_append_new(failures, json_pack("{s:I,s:s}", "image_id", (json_int_t)d->ids[row], "reason",
                                                          ie.msg[0] ? ie.msg : "unreadable"));
        }
        int bad = extraction_encode(enc, imgs, b, &st, e);
        for (int i = 0; i < b; i++) image_free(&imgs[i]);
        if (bad) goto done;
        *done += (size_t)b;
    }
    if (extraction_encode_finish(enc, &st, e) || segment_store_put(&st, a->cfg.data_dir, sha_out, e)) goto done;
    *segs = st.s_total;
    rc = 0;
done:
    segment_store_free(&st);
    return rc;
}

int extraction_chunk_make(job_ctx *ctx, extraction_encoder *enc, const dataset_images *d, int64_t model_id,
                          size_t lo, int n, char sha_out[65], json_t *failures, size_t *segs, err *e) {
    size_t done_images = lo;
    int64_t first = d->ids[lo], last = d->ids[lo + (size_t)n - 1];
    return chunk_compute(ctx, enc, d, lo, n, &done_images, sha_out, failures, segs, e) ||
                   extraction_chunk_save(job_app(ctx), d->id, model_id, first, last, n, *segs, sha_out, failures, e)
               ? -1
               : 0;
}

int extraction_chunks_missing(app *a, const dataset_images *d, int64_t model_id, size_t chunk_images, int *missing,
                              size_t *n_missing, err *e) {
    *n_missing = 0;
    size_t n_chunks = job_chunk_count(d->n, chunk_images);
    for (size_t c = 0; c < n_chunks; c++) {
        size_t lo, n;
        job_chunk_range(d->n, chunk_images, c, &lo, &n);
        char sha[65];
        json_t *f = NULL;
        int found = chunk_lookup(a, d->id, model_id, d->ids[lo], d->ids[lo + n - 1], (int)n, NULL, sha, &f, e);
        json_decref(f);
        if (found < 0) return -1;
        if (!found) missing[(*n_missing)++] = (int)c;
    }
    return 0;
}

int extraction_chunks_segment(job_ctx *ctx, extraction_encoder *enc, const dataset_images *d, extraction *x,
                              size_t chunk_images, const json_t *fresh, json_t *failures, int *reused, int *computed,
                              err *e) {
    app *a = job_app(ctx);
    size_t done_images = 0;
    for (size_t c = 0; c < x->n_chunks; c++) {
        size_t lo, count;
        job_chunk_range(d->n, chunk_images, c, &lo, &count);
        int n = (int)count;
        int64_t first = d->ids[lo], last = d->ids[lo + n - 1];
        x->chunk_sizes[c] = n;
        json_t *f = NULL;
        char key[24];
        snprintf(key, sizeof key, "%zu", c);
        const char *fresh_sha = json_string_value(json_object_get(json_object_get(fresh, key), "sha256"));
        int found = chunk_lookup(a, x->dataset_id, x->model_id, first, last, n, fresh_sha, x->chunks[c], &f, e);
        if (found < 0) return -1;
        if (found) {
            (*reused)++;
            done_images += (size_t)n;
            json_array_extend(failures, f);
            json_decref(f);
            continue;
        }
        json_t *cf = json_array();
        size_t segs = 0;
        int bad = !cf ? err_set(e, ERR_INTERNAL, "out of memory")
                      : chunk_compute(ctx, enc, d, lo, n, &done_images, x->chunks[c], cf, &segs, e) ||
                            extraction_chunk_save(a, x->dataset_id, x->model_id, first, last, n, segs, x->chunks[c],
                                                  cf, e);
        if (!bad) {
            (*computed)++;
            json_array_extend(failures, cf);
        }
        json_decref(cf);
        if (bad) return -1;
    }
    return 0;
}
