/* idx.h — reader for the idx format (MNIST / Fashion-MNIST), plain or gzipped.
 *
 * Layout: two zero bytes, a type byte, a dimension count n, n big-endian uint32
 * dimensions, then the elements row-major. Only the unsigned-byte element type (0x08)
 * is accepted; that is what image and label files use. Gzip is detected by its magic
 * (1f 8b), never by the file name. Checks are strict: 1..4 dimensions, none zero, the
 * element count must equal exactly the bytes that follow the header (a short file is
 * "truncated", extra bytes are "trailing data"), and the payload is capped at
 * IDX_MAX_BYTES so a forged header cannot make us allocate gigabytes.
 *
 * Two ways in: idx_load / idx_parse give the whole array in memory (labels, tests,
 * the fuzzer); idx_open / idx_next stream one record (one image) at a time so a
 * large image file is never held whole.
 *
 * Errors: ERR_UNPROCESSABLE for a malformed file (the message says what is wrong),
 * ERR_NOT_FOUND when the path does not exist, ERR_IO for other read failures.
 */
#ifndef INFICOND_IDX_H
#define INFICOND_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The largest payload (product of dims) accepted: 1 GiB. */
#define IDX_MAX_BYTES ((size_t)1 << 30)

typedef struct idx_array {
    int ndims;          /* 1 for labels, 3 for images (N, rows, cols)          */
    uint32_t dims[4];   /* dims[ndims..3] are 0                                */
    size_t count;       /* product of dims                                     */
    uint8_t *data;      /* (dims[0], dims[1], ...) row-major, owned            */
} idx_array;

/* Load a whole idx file (gzip detected by magic) into *out (zeroed on failure).
 * 0, or -1 with the error set. Free with idx_free. */
int idx_load(const char *path, idx_array *out, err *e) WARN_UNUSED;
/* Parse a whole idx image from memory, plain or gzipped (used by the fuzzer). `buf`
 * is only read; *out gets its own copy of the data. */
int idx_parse(const uint8_t *buf, size_t len, idx_array *out, err *e) WARN_UNUSED;
void idx_free(idx_array *a); /* NULL-safe; leaves *a zeroed */

/* Streaming reader: one record = one slice along dims[0] (an image of
 * dims[1] x dims[2] bytes, or one label byte for a 1-d file). */
typedef struct idx_reader idx_reader;

/* Open and validate the header. NULL on failure. */
idx_reader *idx_open(const char *path, err *e) WARN_UNUSED;
/* The header: ndims and dims (as in idx_array; data is NULL, count the product). */
const idx_array *idx_header(const idx_reader *r);
/* Bytes in one record (product of dims[1..]; 1 for a 1-d file). */
size_t idx_record_size(const idx_reader *r);
/* Read the next record into `rec` (idx_record_size bytes). 1 = a record was read,
 * 0 = end (after checking there is no trailing data), -1 = error (truncated,
 * trailing data, read or gzip failure). */
int idx_next(idx_reader *r, uint8_t *rec, err *e) WARN_UNUSED;
void idx_close(idx_reader *r); /* NULL-safe */

#endif
