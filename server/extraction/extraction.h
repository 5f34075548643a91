/* extraction.h — segments and concept presence of a dataset under a concept model
 * and a corpus (pipeline steps 2 and 3 of docs/SPEC.md), job "concepts.extract".
 *
 * Segments: a dense model's per-location grid is grouped into segments
 * (segments_dense); a global model encodes 14 crops per image (segments_global_batch).
 * They are stored per chunk of EXTRACTION_CHUNK images (ascending id) as segment-store
 * blobs, rows of segment_chunks keyed by (dataset, model, image range). They never
 * depend on a corpus, so a re-run skips chunks already stored (resumable) and a new
 * corpus or word never needs the image encoder again.
 *
 * Presence: the corpus words are embedded once per model (concepts.h), then
 * presence_run (one tiled SGEMM per chunk) fills the (N, d) matrix and per-concept
 * galleries (top EXTRACTION_TOP_K images, with the producing segment). A word added
 * to the corpus later is one presence_add_concept per chunk (extraction_sync).
 */
#ifndef INFICOND_EXTRACTION_H
#define INFICOND_EXTRACTION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "jobs.h"
#include "models/model_manifest.h"
#include "inficond_shim.h"
#include "extraction/segment_store.h"
#include "extraction/segments.h"

#define EXTRACTION_CHUNK 2048        /* images per segment blob                  */
#define EXTRACTION_BATCH_GLOBAL 8    /* images per encoder call (x14 crops)      */
#define EXTRACTION_BATCH_DENSE 32    /* images per encoder call                  */
#define EXTRACTION_TOP_K 48          /* gallery images kept per concept          */

/* One row of `extractions`, as the routes and the student need it. */
typedef struct extraction {
    int64_t id, dataset_id, model_id, corpus_id;
    int corpus_version, corpus_current_version;
    char state[16];
    char encoder[8];      /* "dense" / "global" */
    int n, d, dim;        /* images, concepts, embedding size */
    char **words;         /* (d) column order */
    char presence_sha[65], ids_sha[65];
    size_t n_chunks;
    char (*chunks)[65];   /* (n_chunks) segment-store blobs */
    int *chunk_sizes;     /* (n_chunks) images per chunk    */
} extraction;

/* Load (ERR_NOT_FOUND "no extraction N"). Free with extraction_free. */
int extraction_load(app *a, int64_t id, extraction *x, err *e) WARN_UNUSED;
void extraction_free(extraction *x); /* NULL-safe, leaves *x zeroed */

/* The extraction's image ids (n, ascending), a new malloc'd array. */
int extraction_image_ids(app *a, const extraction *x, int64_t **ids, err *e) WARN_UNUSED;
/* Row of image_id in ids (n ascending), or -1. */
long extraction_image_index(const int64_t *ids, int n, int64_t image_id);
/* The chunk holding image row `index` and its first row. */
int extraction_chunk_of(const extraction *x, long index, long *first_row);

/* Insert or reset the (dataset, model, corpus) row to `queued`; its id in *id. */
int extraction_upsert(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t user_id,
                      int64_t job_id, int64_t *id, err *e) WARN_UNUSED;

/* Bring a ready extraction's presence to its corpus's current word list: columns of
 * kept words are kept, new words are embedded and computed from the stored segments
 * (presence_add_concept), removed ones dropped. Safe to race with other changes (the
 * update is conditional and retried). *changed (nullable) = 1 when a new matrix was
 * stored. Not ready: nothing to do (0). */
int extraction_sync(app *a, int64_t extraction_id, int *changed, err *e) WARN_UNUSED;
/* extraction_sync for every extraction of a corpus; *updated counts those changed.
 * Stops at the first failure. */
int extraction_sync_corpus(app *a, int64_t corpus_id, int *updated, err *e) WARN_UNUSED;

/* The presence matrix of a ready extraction, for the student:
 *   *x (N, d) float32 row-major, malloc'd; *image_ids (N) ascending; *words (d)
 *   column names; presence_sha, ids_sha (65 bytes each, nullable): the checksums of
 *   the presence and image ids blobs read. Free with extraction_presence_free. */
int extraction_presence_load(app *a, int64_t extraction_id, float **x, int64_t **image_ids, int *n, int *d,
                             char ***words, char *presence_sha, char *ids_sha, err *e) WARN_UNUSED;
void extraction_presence_free(float *x, int64_t *image_ids, char **words, int d);

/* Every stored presence matrix carries its column hashes (presence_column_hashes,
 * columns column_sha256 / column_sha256_of); one stored without them (before
 * migration 008) gets them here from a reader that computed them: hashes (d) of the
 * matrix presence_sha, recorded only while the row still holds that matrix. */
int extraction_column_hashes_record(app *a, int64_t extraction_id, const char *presence_sha, char (*hashes)[65],
                                    int d, err *e) WARN_UNUSED;

/* Images -> segments, shared by the job and `inficond bench extract`. Holds the
 * input batch buffer and the dense segmentation scratch. */
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

/* Job "concepts.extract": params {"dataset_id", "concept_model_id", "corpus_id"}. */
int extraction_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

#endif
