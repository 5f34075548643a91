/* extraction_encode.h — images -> segments under a concept model, shared by the
 * extraction job, predicting one image for a student (student/student_predict.c) and
 * `inficond bench extract`.
 *
 * A dense model's per-location grid is grouped into segments (segments_dense); a
 * global model encodes 14 crops per image (segments_global_batch). Either way the
 * segments of a chunk of images are appended to one segment_store.
 */
#ifndef INFICOND_EXTRACTION_ENCODE_H
#define INFICOND_EXTRACTION_ENCODE_H

#include <stddef.h>

#include "err.h"
#include "inficond_shim.h"
#include "models/model_manifest.h"
#include "extraction/segment_store.h"
#include "extraction/segments.h"

#define EXTRACTION_BATCH_GLOBAL 8    /* images per encoder call (x14 crops)      */
#define EXTRACTION_BATCH_DENSE 32    /* images per encoder call                  */

/* Holds the input batch buffer and the dense segmentation scratch. */
typedef struct extraction_encoder {
    const model_manifest *mf;
    shim_model *model;
    int batch;            /* images per encoder call                           */
    int expect_dim;       /* the text side's D (0: take manifest.embedding_dim) */
    size_t per;           /* input floats per image (global: 14 crops)         */
    shim_tensor *xt;      /* the input batch, a libtorch tensor run uncopied   */
    float *x;             /* (batch, per): xt's data, fetched again after runs */
    float *scratch;       /* (3, H, W) for one-channel models                  */
    segments_ctx sctx;
    int sctx_ready;
    int pending_empty;    /* failed images seen before a dense store knew its grid */
} extraction_encoder;

/* mf and model are borrowed and must outlive the encoder. */
int extraction_encoder_init(extraction_encoder *enc, const model_manifest *mf, shim_model *model, int expect_dim,
                            err *e) WARN_UNUSED;
void extraction_encoder_free(extraction_encoder *enc); /* NULL-safe */
/* A different batch size (1..1024 images) than the job's default, for the benchmark. */
int extraction_encoder_set_batch(extraction_encoder *enc, int batch, err *e) WARN_UNUSED;
/* Append imgs[0..n) (n <= batch) to *st, which may be zeroed: it is initialised
 * here once the grid size is known. An image with pixels NULL (it failed to decode)
 * gets no segments. An image side whose D differs from expect_dim is
 * ERR_UNPROCESSABLE. */
int extraction_encode(extraction_encoder *enc, const image_rgb *imgs, int n, segment_store *st, err *e) WARN_UNUSED;
/* Make sure *st is initialised and holds every image passed (call at chunk end). */
int extraction_encode_finish(extraction_encoder *enc, segment_store *st, err *e) WARN_UNUSED;

#endif
