/* jpeg_io.h — JPEG decode/encode and resizing with libjpeg-turbo (tj* API, 2.1).
 * Images in memory are interleaved 8-bit RGB, row-major: (H, W, 3).
 *
 * Decoding policy (what counts as a bad JPEG), all ERR_UNPROCESSABLE with a reason:
 *  - no SOI marker: "not a JPEG"; an unreadable header: "invalid JPEG header: ...";
 *  - width or height 0 or > JPEG_MAX_SIDE, or more than JPEG_MAX_PIXELS pixels;
 *  - a JPEG cut short (libjpeg's "Premature end of JPEG file" / "premature end of
 *    data segment" warnings, or a header that fails to parse and no EOI marker at
 *    the end): "truncated JPEG". libjpeg would pad it with grey and carry on; we
 *    refuse, because a half-grey image silently poisons a dataset;
 *  - other libjpeg warnings (corrupt entropy data, resync) also refuse with
 *    "corrupt JPEG data: ...", EXCEPT "extraneous bytes before marker", which many
 *    cameras produce and which does not damage the pixels;
 *  - progressive JPEGs with an absurd number of scans (TJFLAG_LIMITSCANS).
 * Greyscale JPEGs decode to RGB (R = G = B). CMYK/YCCK JPEGs are converted with the
 * naive formula for Adobe-style (inverted) CMYK — no colour management.
 */
#ifndef INFICOND_JPEG_IO_H
#define INFICOND_JPEG_IO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JPEG_MAX_SIDE 16384
#define JPEG_MAX_PIXELS ((size_t)64 << 20)

typedef struct image_rgb {
    int width, height;
    uint8_t *pixels; /* (height, width, 3), owned */
} image_rgb;

/* Allocate an uninitialised w x h image (same size limits as decoding). */
int image_alloc(image_rgb *img, int w, int h, err *e) WARN_UNUSED;

/* Decode a JPEG from memory into *out (zeroed on failure; image_free it). Rejects
 * non-JPEG, truncated or corrupt data and absurd sizes with ERR_UNPROCESSABLE and a
 * reason (see above). `data` is only read; safe on hostile input (fuzzed). */
int jpeg_decode(const uint8_t *data, size_t len, image_rgb *out, err *e) WARN_UNUSED;
/* Same, but lets libjpeg scale down by 1/2, 1/4 or 1/8 in the DCT (much faster for
 * big photos) as long as the longer side stays >= min_long_side. The result's size
 * is whatever that gives; resize afterwards for an exact size. */
int jpeg_decode_scaled(const uint8_t *data, size_t len, int min_long_side, image_rgb *out,
                       err *e) WARN_UNUSED;
/* Encode RGB (quality 1..100, 4:2:0) to a new malloc'd JPEG buffer (*out, *out_len;
 * free() it). */
int jpeg_encode(const image_rgb *img, int quality, uint8_t **out, size_t *out_len,
                err *e) WARN_UNUSED;
/* Encode 8-bit greyscale pixels (h, w) as a one-channel JPEG (idx datasets). */
int jpeg_encode_grey(const uint8_t *pixels, int w, int h, int quality, uint8_t **out,
                     size_t *out_len, err *e) WARN_UNUSED;
/* Resize to exactly w x h into a new image *out. Each axis separately: area
 * averaging when it shrinks (every source pixel counts with its covered fraction,
 * so thumbnails do not alias; 2x2 -> 1x1 is the mean), bilinear with pixel-centre
 * alignment when it grows or stays (same size is an exact copy). Rounded to
 * nearest. */
int image_resize(const image_rgb *src, int w, int h, image_rgb *out, err *e) WARN_UNUSED;
/* Decode, scale so that the longer side is exactly `size` (1..4096; small images
 * are enlarged, big ones shrunk; aspect kept, shorter side >= 1), encode at quality
 * 85: for gallery thumbnails. *out is malloc'd (free() it). */
int jpeg_thumbnail(const uint8_t *data, size_t len, int size, uint8_t **out, size_t *out_len,
                   err *e) WARN_UNUSED;
void image_free(image_rgb *img); /* NULL-safe; leaves *img zeroed */

/* Convert to a float tensor (3, h, w) for a model: resize to w x h with
 * image_resize (to 8 bits, as PIL/torchvision pipelines do), then per channel
 * out[c][y][x] = (p/255 - mean[c]) / std[c]. `out` holds at least 3*h*w floats
 * (out_count); std[c] must be non-zero. */
int image_to_chw(const image_rgb *img, int w, int h, const float mean[3], const float std[3],
                 float *out, size_t out_count, err *e) WARN_UNUSED;

/* A pixel rectangle [x0, x1) x [y0, y1). */
typedef struct image_rect {
    int x0, y0, x1, y1;
} image_rect;

/* For each of n rectangles of img, block k of out (n blocks of (3, h, w)) is what
 * cutting rects[k] out, then image_to_chw(cut, w, h, mean, std) gives, bit for bit
 * (same sums in the same order, a lookup table for the normalisation), but with no
 * cut or resized copy and one scratch allocation for all n. Rectangles must be
 * non-empty and inside the image (ERR_INTERNAL); out_count >= n*3*h*w. */
int image_rects_to_chw(const image_rgb *img, const image_rect *rects, int n, int w, int h,
                       const float mean[3], const float std[3], float *out, size_t out_count,
                       err *e) WARN_UNUSED;

#endif
