/* png_io.h — PNG decoding with libspng, into the same 8-bit RGB image_rgb as jpeg_io.h.
 *
 * PNG is an import format only: the import decodes a PNG member here and stores it
 * re-encoded as a JPEG (dataset_import.c), so every later stage keeps reading JPEGs.
 *
 * Conversion to (H, W, 3) 8-bit RGB: palette images are expanded, grey is copied to
 * R = G = B, 16-bit samples are scaled to 8 bits (libspng), and transparency (an
 * alpha channel or a tRNS chunk) is composited over white, the way a viewer shows
 * it and PIL's convert("RGB") does not (PIL drops alpha, leaving whatever colour the
 * transparent pixels happen to hold). No gamma or colour management.
 *
 * What counts as a bad PNG, all ERR_UNPROCESSABLE with a reason:
 *  - no PNG signature: "not a PNG (no PNG signature)";
 *  - width or height 0 or > JPEG_MAX_SIDE, or more than JPEG_MAX_PIXELS pixels (the
 *    header is checked before anything is allocated for the pixels);
 *  - data cut short: "truncated PNG"; a chunk bigger than PNG_MAX_CHUNK;
 *  - a bad CRC on a critical chunk, a broken deflate stream, any other libspng
 *    error: "corrupt PNG data: <libspng's reason>".
 */
#ifndef INFICOND_PNG_IO_H
#define INFICOND_PNG_IO_H

#include <stddef.h>
#include <stdint.h>

#include "dataset/jpeg_io.h"
#include "err.h"

/* Largest single chunk and the total of cached ancillary chunks we accept. */
#define PNG_MAX_CHUNK ((size_t)16 << 20)
#define PNG_MAX_CHUNK_CACHE ((size_t)64 << 20)

/* Do the bytes start with the 8-byte PNG signature? */
int png_has_signature(const uint8_t *data, size_t len);

/* Decode a PNG from memory into *out (zeroed on failure; image_free it). Safe on
 * hostile input (fuzzed); `data` is only read. */
int png_decode(const uint8_t *data, size_t len, image_rgb *out, err *e) WARN_UNUSED;

#endif
