/* segment_store.h — the segments of a chunk of a dataset's images (embeddings and
 * masks), kept as one checksummed blob so that a new concept never needs the image
 * encoder again.
 *
 * Blob format "inficond segments v1" (little-endian, sections 64-byte aligned from
 * the start of the blob):
 *
 *   header, 64 bytes:
 *     char     magic[8]   "INFCSEG1"
 *     uint32   version    1
 *     uint32   kind       1 = label maps (dense model), 2 = boxes (global model)
 *     uint32   n          images in the chunk
 *     uint32   dim        embedding size D
 *     uint32   h, w       label-map grid (0, 0 for boxes)
 *     uint64   s_total    segments in the chunk
 *     uint8    reserved[24] (zero)
 *   offsets    uint64 (n + 1)       image i's segments are rows offsets[i] ..
 *                                   offsets[i+1]-1; count = the difference
 *   embeddings float32 (s_total, D) unit norm, row-major
 *   masks      kind 1: uint8 (n, h*w) label maps (label < that image's count)
 *              kind 2: float32 (s_total, 4) boxes x0 y0 x1 y1 in [0, 1]
 *
 * Size at D=512: 2 KiB per segment, so 50,000 images x 26 segments (the demo's mean
 * under the default cap of 32) = 2.7 GB (the embeddings dominate); at the demo's D=64
 * and 8x8 grid, about 6.7 KiB per image.
 *
 * Written through the blob store (temporary file streamed in data_dir/blobs/.tmp-*,
 * then blobstore_put_file MOVE: atomic, never a second copy in memory); read with
 * blobstore_read, which verifies the SHA-256, then every field is validated (sizes,
 * offsets, label values, finite boxes), so a damaged blob is reported (ERR_IO
 * "... corrupt ...") and never used. A loaded store points into the read buffer (no
 * copy).
 */
#ifndef INFICOND_SEGMENT_STORE_H
#define INFICOND_SEGMENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"
#include "err.h"
#include "extraction/segments.h"

#define SEGMENT_STORE_MAGIC "INFCSEG1"
#define SEGMENT_STORE_VERSION 1
#define SEGMENT_STORE_HEADER 64

typedef enum {
    SEGMENT_STORE_LABELS = 1, /* dense model: per image a (h*w) label map */
    SEGMENT_STORE_BOXES = 2,  /* global model: per segment a box          */
} segment_store_kind;

typedef struct segment_store {
    segment_store_kind kind;
    int n, dim, h, w;
    size_t s_total;
    uint64_t *offsets; // (n + 1)
    float *emb;        // (s_total, dim)
    uint8_t *labels;   // (n, h*w)     LABELS only
    float *boxes;      // (s_total, 4) BOXES only
    /* private */
    size_t cap_images, cap_segments;
    uint8_t *blob; /* when loaded: the buffer everything above points into */
} segment_store;

/* An empty store to append images to. h, w: the label-map grid (ignored for boxes). */
int segment_store_init(segment_store *st, segment_store_kind kind, int dim, int h, int w,
                       err *e) WARN_UNUSED;
/* Append one image: k segments (0..255), emb (k, dim); labels (h*w) with values < k. */
int segment_store_add_labels(segment_store *st, int k, const float *emb, const uint8_t *labels,
                             err *e) WARN_UNUSED;
/* Append one image: k crops, emb (k, dim), boxes (k). */
int segment_store_add_boxes(segment_store *st, int k, const float *emb, const segment_box *boxes,
                            err *e) WARN_UNUSED;
/* Append one dense image's segments_result (dim, h, w must match). */
int segment_store_add_result(segment_store *st, const segments_result *r, err *e) WARN_UNUSED;

/* Segments of image i: *count rows starting at the returned row pointer (dim floats
 * each). */
const float *segment_store_image(const segment_store *st, int i, int *count);

/* Bytes of the serialised blob. */
size_t segment_store_size(const segment_store *st);
/* Serialise into a new malloc'd buffer (*buf, *len; free() it). */
int segment_store_serialize(const segment_store *st, uint8_t **buf, size_t *len, err *e) WARN_UNUSED;
/* Parse a serialised blob. Takes ownership of buf (malloc'd) in every case: on
 * success st points into it, on failure it is freed. Malformed: ERR_IO "segment store
 * blob is corrupt: <reason>". */
int segment_store_parse(segment_store *st, uint8_t *buf, size_t len, err *e) WARN_UNUSED;

/* Store into the blob store of data_dir (created if missing); sha_hex receives the
 * blob's name. */
int segment_store_put(const segment_store *st, const char *data_dir,
                      char sha_hex[BLOBSTORE_HEX_LEN + 1], err *e) WARN_UNUSED;
/* Load a stored blob (checksum verified, then parsed and validated). */
int segment_store_load(segment_store *st, const char *data_dir, const char *sha_hex,
                       err *e) WARN_UNUSED;

void segment_store_free(segment_store *st); /* NULL-safe, leaves *st zeroed */

#endif
