/* presence.h — concept presence (pipeline step 3, README.md of this folder):
 *
 *   presence[i][j] = max(0, max over segments s of image i of cos(seg_s, concept_j))
 *
 * All segment embeddings of a run, (S, D), are multiplied by the concept matrix
 * (d, D)^T with OpenBLAS SGEMM in row tiles of whole images (at most tile_rows
 * segments, default 1024), so memory beyond the inputs and the (N, d) output is one
 * (tile_rows, d) buffer. Each tile is reduced at once while it is hot: per image the
 * element-wise max over its segment rows, clamped at 0; per segment its nearest
 * concept (argmax); per concept a bounded min-heap of its top-K images, each with the
 * segment that produced the maximum (what the galleries outline). 1024 rows keep the
 * (1024, 584) tile (2.4 MB) near the cache while it is reduced; measured on a
 * SkylakeX core, the whole operation runs at 97-98% of the bare SGEMM's speed on the
 * same tiles at D=512 (92% with 4096-row tiles).
 *
 * Inputs must be unit-norm rows (segment stores hold unit embeddings; normalise
 * concept text embeddings with segments_normalize_rows), so a dot product is the
 * cosine. Segments are addressed through an offsets array: image i owns rows
 * offsets[i] .. offsets[i+1]-1 of `seg` (rows are counted from seg itself, so pass a
 * store's emb with any sub-range of its offsets). Ties: the nearest concept is the
 * lowest index among equals, a gallery's producing segment the first among equals,
 * and among equal scores the lower image id ranks first.
 *
 * A new concept is one SGEMV over the stored segments (presence_add_concept): one
 * column, its per-image producing segment, and an update of every segment's nearest
 * concept. Its cost is reading the (S, D) matrix once: memory bandwidth bound.
 */
#ifndef INFICOND_PRESENCE_H
#define INFICOND_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PRESENCE_DEFAULT_TILE 1024
#define PRESENCE_MAX_TOP_K 10000

/* One gallery entry: an image, the segment (index within that image) that gave the
 * maximum, and the presence score (> 0). */
typedef struct presence_hit {
    int32_t image;
    int32_t segment;
    float score;
} presence_hit;

typedef struct presence {
    int dim, d, top_k;
    size_t tile_rows;   /* target rows per SGEMM tile                             */
    size_t tile_cap;    /* allocated rows (grows if one image has more segments)  */
    float *tile;        // (tile_cap, d) SGEMM output
    presence_hit *heap; // (d, top_k) per concept a min-heap, worst entry first
    int32_t *heap_len;  // (d)
    float *bar;         // (d) score an image must beat to enter concept j's heap
} presence;

/* Prepare for d concepts of size dim, galleries of top_k (0 = none) images, tiles of
 * tile_rows segments (0 = PRESENCE_DEFAULT_TILE). */
int presence_init(presence *p, int dim, int d, int top_k, size_t tile_rows, err *e) WARN_UNUSED;

/* Presence of n images (a whole dataset or one chunk of it; galleries accumulate
 * across calls, so call chunks in increasing image order).
 *   concepts: (d, dim) unit rows
 *   seg:      (offsets[n], dim) unit rows; offsets: (n + 1), non-decreasing
 *   image_base: the id of the first image in galleries (chunk start)
 *   out:      (n, d) presence, written
 *   nearest, nearest_cos: (offsets[n]) per segment its nearest concept and that
 *             cosine (rows from offsets[0]); both NULL to skip
 * An image with no segments has presence 0 everywhere. */
int presence_run(presence *p, const float *concepts, const float *seg, const uint64_t *offsets, int n,
                 int image_base, float *out, int32_t *nearest, float *nearest_cos, err *e) WARN_UNUSED;

/* Concept j's gallery so far, best first, into out (>= top_k entries); *count
 * receives the number of entries (<= top_k; only images where presence > 0). */
int presence_gallery(const presence *p, int concept, presence_hit *out, int *count, err *e) WARN_UNUSED;

/* Forget the galleries (for a fresh run with the same shapes). */
void presence_reset(presence *p);
void presence_free(presence *p); /* NULL-safe, leaves *p zeroed */

/* Add one concept to n images with stored segments: col (n) receives its presence
 * column, best_seg (n, nullable) the producing segment per image (-1 when presence
 * is 0 or the image has no segments). When nearest / nearest_cos (offsets[n],
 * nullable together) are given, segments whose cosine with the new concept beats
 * their nearest one are relabelled concept_index. concept: (dim), unit norm. */
int presence_add_concept(const float *seg, const uint64_t *offsets, int n, int dim, const float *concept,
                         int32_t concept_index, float *col, int32_t *best_seg, int32_t *nearest,
                         float *nearest_cos, err *e) WARN_UNUSED;

/* The top k images of one presence column (n), best first (score > 0 only), with
 * their producing segment from best_seg (n, nullable: -1). out has >= k entries. */
int presence_top_k(const float *col, const int32_t *best_seg, int n, int image_base, int k,
                   presence_hit *out, int *count, err *e) WARN_UNUSED;

/* What a student checks its concepts' data by (migrations/008_student_concepts.sql):
 * per column j of x (N, d), the SHA-256 of ids_sha (the image ids blob's 64 hex
 * digits) followed by column j's N float32 values in row order, as 64 hex digits +
 * NUL in out[j]. A column keeps its hash while its values and the images stay, so
 * adding a word (a new column) leaves the other columns' hashes as they were. */
int presence_column_hashes(const float *x, size_t n, size_t d, const char *ids_sha, char (*out)[65],
                           err *e) WARN_UNUSED;

#endif
