/* extraction_encode.c — images -> segments through a concept model's image side,
 * one batch per encoder call (the rules: extraction_encode.h).
 *
 * Global models: 14 crops per image are cut, resized and normalised straight into
 * the batch (segments_global_batch); each crop's embedding is a segment with its
 * box. Dense models: the image is preprocessed as the teacher's are, the (D, h, w)
 * grid is grouped into segments (segments_dense) and stored as a label map.
 */
#include "extraction/extraction_encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "teacher/teacher.h"

int extraction_encoder_init(extraction_encoder *enc, const model_manifest *mf, shim_model *model, int expect_dim,
                            err *e) {
    memset(enc, 0, sizeof *enc);
    enc->mf = mf;
    enc->model = model;
    enc->expect_dim = expect_dim > 0 ? expect_dim : mf->embedding_dim;
    const size_t plane = (size_t)mf->height * mf->width;
    if (mf->encoder == MODEL_ENCODER_GLOBAL) {
        if (mf->channels != 3)
            return err_set(e, ERR_UNPROCESSABLE, "manifest.input.channels: %d; crops of a global model need 3 (RGB)",
                           mf->channels);
        enc->batch = EXTRACTION_BATCH_GLOBAL;
        enc->per = SEGMENTS_GLOBAL_COUNT * 3 * plane;
    } else if (mf->encoder == MODEL_ENCODER_DENSE) {
        enc->batch = EXTRACTION_BATCH_DENSE;
        enc->per = (size_t)mf->channels * plane;
    } else {
        return err_set(e, ERR_UNPROCESSABLE, "the model is not a concept model");
    }
    enc->scratch = malloc(3 * plane * sizeof(float));
    if (!enc->scratch) {
        extraction_encoder_free(enc);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (extraction_encoder_set_batch(enc, enc->batch, e)) {
        extraction_encoder_free(enc);
        return -1;
    }
    return 0;
}

int extraction_encoder_set_batch(extraction_encoder *enc, int batch, err *e) {
    if (batch < 1 || batch > 1024) return err_set(e, ERR_BAD_REQUEST, "extraction: batch %d not in 1..1024", batch);
    char eb[320];
    shim_tensor *xt = shim_tensor_new((size_t)batch * enc->per, eb, sizeof eb); // (batch, per)
    if (!xt) return err_set(e, ERR_INTERNAL, "extraction input buffer: %s", eb);
    shim_tensor_free(enc->xt);
    enc->xt = xt;
    enc->x = shim_tensor_data(xt);
    enc->batch = batch;
    return 0;
}

void extraction_encoder_free(extraction_encoder *enc) {
    if (!enc) return;
    shim_tensor_free(enc->xt);
    free(enc->scratch);
    segments_ctx_free(&enc->sctx);
    memset(enc, 0, sizeof *enc);
}

static int shape_str(const shim_output *o, char *buf, size_t len) {
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < o->ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)o->shape[i]);
    if (at < len) snprintf(buf + at, len - at, ")");
    return 0;
}

/* Non-NULL stand-ins for an image with no segments (the store copies 0 bytes from them). */
static const float no_emb[1];
static const segment_box no_box[1];

static int flush_pending(extraction_encoder *enc, segment_store *st, err *e) {
    const size_t hw = (size_t)st->h * st->w;
    uint8_t *zeros = calloc(hw + 1, 1);
    if (!zeros) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = 0;
    for (; enc->pending_empty > 0 && !rc; enc->pending_empty--) rc = segment_store_add_labels(st, 0, no_emb, zeros, e);
    free(zeros);
    return rc;
}

int extraction_encode(extraction_encoder *enc, const image_rgb *imgs, int n, segment_store *st, err *e) {
    const model_manifest *mf = enc->mf;
    const int global = mf->encoder == MODEL_ENCODER_GLOBAL;
    if (n < 1 || n > enc->batch) return err_set(e, ERR_INTERNAL, "extraction: bad batch size %d", n);
    if (global && !st->dim && segment_store_init(st, SEGMENT_STORE_BOXES, enc->expect_dim, 0, 0, e)) return -1;
    if (!enc->x) return err_set(e, ERR_INTERNAL, "extraction: out of memory (input buffer)");
    int valid = 0;
    for (int i = 0; i < n; i++) {
        if (!imgs[i].pixels) continue;
        float *slot = enc->x + (size_t)valid * enc->per;
        if (global ? segments_global_batch(&imgs[i], mf->width, mf->height, mf->mean, mf->std, slot, enc->per, e)
                   : teacher_preprocess(mf, &imgs[i], slot, enc->scratch, e))
            return -1;
        valid++;
    }
    shim_output out = {0};
    if (valid > 0) {
        const int64_t rows = global ? (int64_t)valid * SEGMENTS_GLOBAL_COUNT : valid;
        const int64_t in_shape[4] = {rows, mf->channels, mf->height, mf->width};
        char eb[320], shape[96];
        /* the batch is run where it was written (no copy); its memory may change */
        int bad = shim_model_run_tensor(enc->model, mf->method_image, enc->xt, 4, in_shape, &out, eb, sizeof eb);
        enc->x = shim_tensor_data(enc->xt);
        if (bad) return err_set(e, ERR_TORCH, "image method '%s' failed: %s", mf->method_image, eb);
        shape_str(&out, shape, sizeof shape);
        /* global: (rows, D); dense: (valid, D, h, w) */
        int ok = global ? out.ndim == 2 && out.shape[0] == rows
                        : out.ndim == 4 && out.shape[0] == rows && out.shape[2] > 0 && out.shape[3] > 0 &&
                              out.shape[2] * out.shape[3] <= 65536;
        if (!ok) {
            shim_free_output(&out);
            return err_set(e, ERR_UNPROCESSABLE, "image method '%s' returned %s for %lld inputs; a %s model gives %s",
                           mf->method_image, shape, (long long)rows, global ? "global" : "dense",
                           global ? "(N, D)" : "(N, D, h, w)");
        }
        if (out.shape[1] != enc->expect_dim) {
            shim_free_output(&out);
            return err_set(e, ERR_UNPROCESSABLE,
                           "the concept model's image side gives %s-sized embeddings (%s) but its text side gives %d: "
                           "they must live in one space",
                           mf->method_image, shape, enc->expect_dim);
        }
    }
    const int D = enc->expect_dim;
    int rc = 0;
    if (global) {
        segment_box boxes[SEGMENTS_GLOBAL_COUNT];
        segments_global_boxes(boxes);
        if (valid) segments_normalize_rows(out.data, (size_t)valid * SEGMENTS_GLOBAL_COUNT, D);
        for (int i = 0, v = 0; i < n && !rc; i++) {
            if (!imgs[i].pixels) {
                rc = segment_store_add_boxes(st, 0, no_emb, no_box, e);
                continue;
            }
            rc = segment_store_add_boxes(st, SEGMENTS_GLOBAL_COUNT, out.data + (size_t)v * SEGMENTS_GLOBAL_COUNT * D,
                                         boxes, e);
            v++;
        }
    } else {
        const int h = valid ? (int)out.shape[2] : 0, w = valid ? (int)out.shape[3] : 0;
        if (valid && !st->dim) {
            if (segment_store_init(st, SEGMENT_STORE_LABELS, D, h, w, e) || flush_pending(enc, st, e)) rc = -1;
        }
        if (!rc && valid && (st->h != h || st->w != w)) /* one model, one grid */
            rc = err_set(e, ERR_UNPROCESSABLE, "image method '%s' changed its grid from %dx%d to %dx%d",
                         mf->method_image, st->h, st->w, h, w);
        if (!rc && valid && (!enc->sctx_ready || enc->sctx.h != h || enc->sctx.w != w)) {
            segments_ctx_free(&enc->sctx);
            rc = segments_ctx_init(&enc->sctx, D, h, w, e);
            enc->sctx_ready = !rc;
        }
        for (int i = 0, v = 0; i < n && !rc; i++) {
            if (!imgs[i].pixels) {
                if (!st->dim) enc->pending_empty++;
                else enc->pending_empty = 1, rc = flush_pending(enc, st, e);
                continue;
            }
            segments_result r = {0};
            rc = segments_dense(&enc->sctx, out.data + (size_t)v * D * h * w, NULL, &r, e) ||
                 segment_store_add_result(st, &r, e);
            segments_result_free(&r);
            v++;
        }
    }
    shim_free_output(&out);
    return rc ? -1 : 0;
}

int extraction_encode_finish(extraction_encoder *enc, segment_store *st, err *e) {
    if (!st->dim) {
        /* every image of the chunk failed: an empty 1x1 grid still records them */
        if (segment_store_init(st, enc->mf->encoder == MODEL_ENCODER_GLOBAL ? SEGMENT_STORE_BOXES : SEGMENT_STORE_LABELS,
                               enc->expect_dim, 1, 1, e))
            return -1;
    }
    if (st->kind == SEGMENT_STORE_BOXES) {
        for (; enc->pending_empty > 0; enc->pending_empty--)
            if (segment_store_add_boxes(st, 0, no_emb, no_box, e)) return -1;
        return 0;
    }
    return flush_pending(enc, st, e);
}
