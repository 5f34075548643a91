/* extraction_store.h — the extraction stage's rows: `extractions` (with its
 * presence columns and galleries), `extraction_failures` and `segment_chunks`.
 * extraction_store.c is the only code that writes them; the routes, the job, the
 * sync and the demo job come here.
 *
 * An extraction row is unique per (dataset, concept model, corpus) and moves
 * queued -> running -> ready | failed; a trigger on `jobs` (migration 007) fails it
 * when its job dies. Blobs are written before the rows that name them. JSON answers
 * are new references.
 */
#ifndef INFICOND_EXTRACTION_STORE_H
#define INFICOND_EXTRACTION_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
/* ---- one extraction's row ---- */

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

void extraction_free(extraction *x); /* NULL-safe, leaves *x zeroed */


/* Load (ERR_NOT_FOUND "no extraction N"). Free with extraction_free. */
int extraction_load(app *a, int64_t id, extraction *x, err *e) WARN_UNUSED;

/* Insert or reset the (dataset, model, corpus) row to `queued`; its id in *id.
 * user_id, job_id <= 0: none. */
int extraction_upsert(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t user_id,
                      int64_t job_id, int64_t *id, err *e) WARN_UNUSED;
/* The job computing it. */
int extraction_set_job(app *a, int64_t id, int64_t job_id, err *e) WARN_UNUSED;
int extraction_set_running(app *a, int64_t id, err *e) WARN_UNUSED;
/* State `failed` with the reason; best effort (its own error is dropped). */
void extraction_set_failed(app *a, int64_t id, const char *reason);

/* The finished job's row, in one transaction: state ready; encoder ("dense" /
 * "global"), n, dim, chunks and chunk sizes, words, d and corpus version from x;
 * the image id and presence blobs; the failed images, replacing earlier ones
 * (failures: [{image_id, reason}]); galleries ({word: [[image_id, segment, score]]});
 * column_hashes (x->d): presence_column_hashes of the matrix, what a student checks
 * its concepts' data by (migration 008). */
int extraction_store_ready(app *a, const extraction *x, const char *encoder, const char *ids_sha,
                           const char *presence_sha, const json_t *failures, const json_t *galleries,
                           char (*column_hashes)[65], err *e) WARN_UNUSED;

/* A new presence matrix (x's words, d and corpus version; its blob presence_sha
 * already stored) and galleries, only if the row is ready and still has expect_sha
 * at expect_version: 0 stored, 1 not (a concurrent change won), -1 error.
 * column_hashes (x->d) as for extraction_store_ready. */
int extraction_store_presence(app *a, const extraction *x, const char *presence_sha, const json_t *galleries,
                              char (*column_hashes)[65], const char *expect_sha, int expect_version,
                              err *e) WARN_UNUSED;

/* A presence matrix stored without column hashes (before migration 008) gets them
 * from a reader that computed them: hashes (d) of the matrix presence_sha, recorded
 * only while the row still holds that matrix. */
int extraction_column_hashes_record(app *a, int64_t extraction_id, const char *presence_sha,
                                    char (*column_hashes)[65], int d, err *e) WARN_UNUSED;

/* Galleries: all of them ({word: [...]}), or one word's ([] when it has none). */
json_t *extraction_galleries_json(app *a, int64_t id, err *e);
json_t *extraction_gallery_json(app *a, int64_t id, const char *word, err *e);

/* ---- segment chunks: one row per (dataset, model, image range) ---- */

/* The chunk row for exactly this range (first, last image id; n images), if any:
 * its blob in sha_out and its failures (new JSON) in *failures. 1 found, 0 not. */
int extraction_chunk_find(app *a, int64_t dataset_id, int64_t model_id, int64_t first, int64_t last, int n,
                          char sha_out[65], json_t **failures, err *e) WARN_UNUSED;
/* Insert or replace the chunk row; segs: segments in the blob. */
int extraction_chunk_save(app *a, int64_t dataset_id, int64_t model_id, int64_t first, int64_t last, int n,
                          size_t segs, const char *sha, const json_t *failures, err *e) WARN_UNUSED;

/* ---- questions about several rows ---- */

/* The extraction of the triple that is ready or whose job is queued or running:
 * its id in *id, 0 when there is none. */
int extraction_find_live(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t *id,
                         err *e) WARN_UNUSED;
/* The ids of a corpus's ready extractions (*ids new, ascending, n of them). */
int extraction_ready_of_corpus(app *a, int64_t corpus_id, int64_t **ids, size_t *n, err *e) WARN_UNUSED;
/* The concept models a corpus is extracted with (*ids new, n of them). */
int extraction_models_of_corpus(app *a, int64_t corpus_id, int64_t **ids, size_t *n, err *e) WARN_UNUSED;

/* What a new extraction is checked against (the corpus aside: corpus.h):
 * {ds: image count, ds_exists, kind (the model's, null when none), busy (one of the
 * triple is queued or running)}. */
json_t *extraction_preflight_json(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, err *e);

/* An extraction as the API shows it; the list filtered by corpus and dataset (decimal
 * text, NULL: any) as {items}. */
json_t *extraction_json(app *a, int64_t id, err *e);
json_t *extraction_list_json(app *a, const char *corpus_id, const char *dataset_id, err *e);

#endif
