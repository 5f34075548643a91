/* extraction_views.h — what the extraction routes answer about one image or one
 * concept, built from a loaded, ready extraction, its segment chunks (through the
 * shared segment cache, segment_cache.h) and the stored word embeddings. New JSON,
 * NULL with e set on failure.
 */
#ifndef INFICOND_EXTRACTION_VIEWS_H
#define INFICOND_EXTRACTION_VIEWS_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "extraction/extraction.h"

/* {extraction_id, image_id, concepts: [{word, presence}]}, highest presence first
 * (ties keep corpus order). v: (x->d) the image's presence row. */
json_t *extraction_image_presence_json(const extraction *x, int64_t image_id, const float *v);

/* {extraction_id, image_id, encoder, segments: [{segment, nearest: {word, cos}, box |
 * mask, area (dense)}], label_map (dense)} of image row `row`. */
json_t *extraction_image_segments_json(app *a, const extraction *x, long row, int64_t image_id, err *e);

/* The items [offset, offset + limit) of a stored gallery ([[image_id, segment,
 * score]]) as [{image_id, presence, segment, box | mask}]. ids: (x->n) image ids. */
json_t *extraction_gallery_items_json(app *a, const extraction *x, const json_t *gallery, const int64_t *ids,
                                      long offset, long limit, err *e);

/* The entries of a stored gallery whose image is one of split_ids (n, ascending),
 * best first still (new JSON; NULL when out of memory). */
json_t *extraction_gallery_in_split(const json_t *gallery, const int64_t *split_ids, size_t n);

#endif
