/* extraction_chunks.h — the segments of a whole dataset, one chunk of
 * chunk_images images (ascending id; INFICOND_CHUNK_IMAGES, 2048) at a time, through
 * the chunk cache: a
 * segment blob already stored for exactly that image range (a `segment_chunks` row)
 * is reused, else the images are decoded, encoded and segmented and the blob stored.
 *
 * Segments never depend on a corpus, so a re-run skips chunks already stored
 * (resumable after a kill) and a new corpus or word never needs the image encoder
 * again. A chunk whose blob fails its checksum is not reused: computing it again
 * rewrites the file.
 *
 * A chunk is also the unit the workers share (extraction_tasks.c): the job lists
 * the chunks not stored yet (extraction_chunks_missing), any worker makes one
 * (extraction_chunk_make), and the job's own pass (extraction_chunks_segment) then
 * finds every chunk stored, exactly as a one-worker run's second pass would.
 */
#ifndef INFICOND_EXTRACTION_CHUNKS_H
#define INFICOND_EXTRACTION_CHUNKS_H

#include <jansson.h>

#include "dataset/dataset_store.h"
#include "err.h"
#include "extraction/extraction.h"
#include "extraction/extraction_encode.h"
#include "jobs.h"

/* Fill x->chunks and x->chunk_sizes (x->n_chunks of them, allocated by the caller)
 * for the images of d, with the model behind enc (x->model_id). Images that fail to
 * read are appended to failures ([{image_id, reason}]) and get no segments.
 * *reused and *computed count the chunks taken from the cache and made here.
 * fresh (nullable): {"<chunk>": {sha256}} of chunks this job's tasks just stored; a
 * stored chunk with that checksum is taken without re-hashing it here (the presence
 * pass reads every chunk checksummed).
 * Reports progress (0..1 over the images) and stops between batches on cancel. */
int extraction_chunks_segment(job_ctx *ctx, extraction_encoder *enc, const dataset_images *d, extraction *x,
                              size_t chunk_images, const json_t *fresh, json_t *failures, int *reused, int *computed,
                              err *e) WARN_UNUSED;

/* The chunks (indices, ascending) of d under model_id that are not stored yet or
 * whose blob fails its checksum: missing holds job_chunk_count(d->n, chunk_images). */
int extraction_chunks_missing(app *a, const dataset_images *d, int64_t model_id, size_t chunk_images, int *missing,
                              size_t *n_missing, err *e) WARN_UNUSED;

/* Segment image rows [lo, lo + n) of d with enc into a stored chunk blob (sha_out)
 * and its segment_chunks row; unreadable images are appended to failures and *segs
 * counts the segments. */
int extraction_chunk_make(job_ctx *ctx, extraction_encoder *enc, const dataset_images *d, int64_t model_id,
                          size_t lo, int n, char sha_out[65], json_t *failures, size_t *segs, err *e) WARN_UNUSED;

#endif
