/* segments.h — split an image into segments, each with an embedding in the concept
 * model's joint space (pipeline step 2, README.md of this folder).
 *
 * Dense concept models (CLIP-S4 style) give one embedding per grid location,
 * (D, h, w) for one image. segments_dense() groups the locations by similarity:
 *
 *   Algorithm (deterministic region merging on the 4-neighbour grid graph):
 *   every location starts as its own region (its embedding normalised to unit
 *   length); the adjacent pair of regions whose mean embeddings have the highest
 *   cosine is merged, repeatedly, while that cosine is >= `threshold` (phase 1).
 *   Regions smaller than `min_size` locations are then merged into their most
 *   similar neighbour (phase 2), and while more than `max_k` regions remain the most
 *   similar adjacent pair is merged whatever its cosine (phase 3). Finally, any two
 *   of the <= max_k regions (adjacent or not) whose cosine is >= threshold are merged
 *   (phase 4), so one kind of stuff seen in two places is one segment whose mask has
 *   two parts. k is therefore adaptive (1..max_k): a uniform grid gives one segment,
 *   a textured one up to max_k. Ties are broken by the lowest region ids, so the
 *   result depends only on the input. A segment's embedding is the unit-normalised
 *   mean of its locations' unit embeddings; its mask is a label map at grid
 *   resolution (h*w bytes, label in 0..k-1, labels numbered in raster order of each
 *   segment's first location).
 *   Cost: O(h*w * (E + deg*D)) per image with E ~ 2*h*w edges; measured on one core:
 *   0.7 ms at 16x16x64 (the demo), 1.3 ms at 14x14x512, 20 ms at 32x32x512.
 *
 * Global models (an ordinary CLIP) have one embedding per image, so a segment is a
 * crop: the whole image, a 2x2 grid and a 3x3 grid (SEGMENTS_GLOBAL_COUNT = 14
 * boxes), each encoded on its own; the segment's mask is its box.
 */
#ifndef INFICOND_SEGMENTS_H
#define INFICOND_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "dataset/jpeg_io.h"

#define SEGMENTS_MAX_K 64       /* hard cap on segments per dense image */
#define SEGMENTS_DEFAULT_K 32    /* max_k unless the caller sets it     */
#define SEGMENTS_GLOBAL_COUNT 14 /* 1 + 2x2 + 3x3 crops                  */

typedef struct segments_params {
    float threshold; /* merge adjacent regions while cos >= threshold (default 0.9) */
    int max_k;       /* 1..SEGMENTS_MAX_K (default 32)                              */
    int min_size;    /* regions smaller than this (in locations) are absorbed;
                        0 = automatic: max(1, h*w/50)                                */
} segments_params;

/* The defaults above. */
segments_params segments_default_params(void);

/* One image's segments. */
typedef struct segments_result {
    int k;           /* number of segments, 1..max_k                           */
    int dim, h, w;
    float *emb;      /* (k, dim), each row unit norm (a zero row if all its
                        locations were zero vectors)                           */
    int32_t *size;   /* (k) locations per segment                              */
    uint8_t *labels; /* (h*w) label map, row-major, values 0..k-1              */
} segments_result;

/* Reusable scratch for segments_dense (one per thread). */
typedef struct segments_ctx {
    int dim, h, w;
    float *unit;     /* (h*w, dim) unit location embeddings              */
    float *sum;      /* (h*w, dim) per-region sum of unit embeddings     */
    float *norm;     /* (h*w) |sum| per region                           */
    int32_t *count;  /* (h*w) locations per region (0 = merged away)     */
    int32_t *stamp;  /* (h*w) scratch marks for de-duplicating edges     */
    int32_t *parent; /* (h*w) union-find parent                          */
    int32_t *edge_a, *edge_b; /* (2*h*w) adjacency edges (region ids)    */
    float *edge_cos; /* (2*h*w) cached cosine of each edge               */
    size_t n_edges;
} segments_ctx;

/* Scratch for grids of (dim, h, w). 0 or -1 (ERR_BAD_REQUEST for bad sizes, ERR_INTERNAL
 * out of memory). */
int segments_ctx_init(segments_ctx *c, int dim, int h, int w, err *e) WARN_UNUSED;
void segments_ctx_free(segments_ctx *c); /* NULL-safe, idempotent */

/* Segment one image. grid: (dim, h, w) channel-major (one image of a dense model's
 * (N, D, h, w) output). params may be NULL (defaults). *out is allocated here (free with
 * segments_result_free; zeroed on failure). Non-finite input is ERR_UNPROCESSABLE. */
int segments_dense(segments_ctx *c, const float *grid, const segments_params *params,
                   segments_result *out, err *e) WARN_UNUSED;
void segments_result_free(segments_result *r); /* NULL-safe, leaves *r zeroed */

/* ---- global models: crops ----------------------------------------------------- */

/* A box in normalised image coordinates, x0 < x1 and y0 < y1 in [0, 1]. */
typedef struct segment_box {
    float x0, y0, x1, y1;
} segment_box;

/* The 14 boxes, in order: whole image; 2x2 grid (row-major); 3x3 grid (row-major). */
void segments_global_boxes(segment_box out[SEGMENTS_GLOBAL_COUNT]);

/* The pixel rectangle of a box in a width x height image: [px0, px1) x [py0, py1),
 * floor of the start, ceil of the end, never empty. */
void segments_box_pixels(const segment_box *b, int width, int height, int *px0, int *py0,
                         int *px1, int *py1);

/* Cut box b out of img and resize it (image_resize) to out_w x out_h into *out
 * (image_free it). */
int segments_crop(const image_rgb *img, const segment_box *b, int out_w, int out_h,
                  image_rgb *out, err *e) WARN_UNUSED;

/* All 14 crops of one image as a model batch: out is (14, 3, out_h, out_w), each crop
 * cut, resized and normalised like image_to_chw. out_count >= 14*3*out_h*out_w.
 * One pass per crop (image_rects_to_chw): no intermediate crop images, and the same
 * floats, bit for bit, as segments_crop followed by image_to_chw. */
int segments_global_batch(const image_rgb *img, int out_w, int out_h, const float mean[3],
                          const float std[3], float *out, size_t out_count,
                          err *e) WARN_UNUSED;

/* Normalise each of `rows` rows of x (rows, dim) to unit length in place (zero rows stay
 * zero); for global models' crop embeddings. */
void segments_normalize_rows(float *x, size_t rows, int dim);

#endif
