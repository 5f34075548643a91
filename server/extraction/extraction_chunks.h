/* extraction_chunks.h — the segments of a whole dataset, one chunk of
 * EXTRACTION_CHUNK images (ascending id) at a time, through the chunk cache: a
 * segment blob already stored for exactly that image range (a `segment_chunks` row)
 * is reused, else the images are decoded, encoded and segmented and the blob stored.
 *
 * Segments never depend on a corpus, so a re-run skips chunks already stored
 * (resumable after a kill) and a new corpus or word never needs the image encoder
 * again. A chunk whose blob fails its checksum is not reused: computing it again
 * rewrites the file.
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
 * Reports progress (0..1 over the images) and stops between batches on cancel. */
int extraction_chunks_segment(job_ctx *ctx, extraction_encoder *enc, const dataset_images *d, extraction *x,
                              json_t *failures, int *reused, int *computed, err *e) WARN_UNUSED;

#endif
