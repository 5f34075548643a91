/* extraction_presence.h — an extraction's presence from its stored segment chunks:
 * the whole (N, d) matrix with its galleries (the job), new columns for words added
 * later (the sync), and committing a new matrix to the row.
 *
 * Concepts are unit rows (concept_embed_words gives them so); chunks are read one
 * at a time, in image order, so memory beyond the matrix is one chunk's segments.
 * A gallery is JSON [[image_id, segment, score], ...], best first, at most
 * EXTRACTION_TOP_K entries.
 */
#ifndef INFICOND_EXTRACTION_PRESENCE_H
#define INFICOND_EXTRACTION_PRESENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "extraction/extraction.h"
#include "extraction/presence.h"

/* Presence of x's words (concepts: (x->d, x->dim)) over every chunk of x: fills
 * X (x->n, x->d), *galleries (new: {word: gallery}) and *segments (segments seen).
 * ids: (x->n) the image ids, ascending. One SGEMM per chunk (presence_run). */
int extraction_presence_compute(app *a, const extraction *x, const int64_t *ids, const float *concepts, float *X,
                                json_t **galleries, int *segments, err *e) WARN_UNUSED;

/* n_add new concepts (concepts: (n_add, x->dim)) over every chunk of x: cols
 * (n_add, x->n) their presence columns, best (n_add, x->n) each image's producing
 * segment. One SGEMV per concept and chunk (presence_add_concept). */
int extraction_presence_columns(app *a, const extraction *x, const float *concepts, size_t n_add, float *cols,
                                int32_t *best, err *e) WARN_UNUSED;

/* A gallery from hits whose images are rows of ids (new JSON). */
json_t *extraction_gallery_from_hits(const presence_hit *hits, int count, const int64_t *ids);

/* Store X (x->n, x->d) as a blob and make it the presence of x's words at x's corpus
 * version, with galleries, only if the row still has expect_sha at expect_version:
 * 0 stored, 1 not (a concurrent change won: read the row again), -1 error. */
int extraction_presence_commit(app *a, const extraction *x, const float *X, const json_t *galleries,
                               const char *expect_sha, int expect_version, err *e) WARN_UNUSED;

#endif
