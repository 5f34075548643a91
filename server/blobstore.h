/* blobstore.h — content-addressed files under `<data_dir>/blobs/`.
 *
 * A blob is stored once, named by the SHA-256 of its bytes in lowercase hex:
 * `<data_dir>/blobs/ab/cdef…` (first two hex digits as a fan-out folder, the other 62
 * as the file name). Writes are atomic and durable: a temporary file in the blob
 * folder is written in full, fsync'd, renamed into place and the folder fsync'd, so
 * a crash or a full disk never leaves a partial blob under a real name (and on any
 * failure the temporary file is removed). Storing bytes that are already present
 * does not rewrite them, unless the stored copy fails its checksum: then it is
 * rewritten, which heals it. It does refresh the stored copy's modification time:
 * gc (blob_gc.h) removes only unreferenced blobs unchanged for a while, and a row
 * about to name old bytes must not lose them. Reads verify the checksum, so silent disk corruption
 * is reported (ERR_CORRUPT, logged), never served. Any number of threads or
 * processes may put and read at once: racing writers of the same blob rename
 * identical content.
 *
 * Every sha_hex argument must be exactly 64 lowercase hex digits; anything else is
 * refused (ERR_BAD_REQUEST) before a path is built, so a hash taken from a URL can
 * never name a file outside the store. File system failures are ERR_IO with the
 * system's reason (e.g. "No space left on device"); a missing blob is ERR_NOT_FOUND.
 * INFICOND_DATA_QUOTA_BYTES (test/admin knob) caps the bytes of new blobs one
 * process writes; past it writes fail with "No space left on device".
 */
#ifndef INFICOND_BLOBSTORE_H
#define INFICOND_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define BLOBSTORE_HEX_LEN 64

typedef enum {
    BLOBSTORE_COPY = 0, /* the source file is left as it was                        */
    BLOBSTORE_MOVE = 1, /* the source file is renamed into the store (or copied and
                           removed across file systems); the caller must not touch
                           it while the call runs and must not use it afterwards    */
} blobstore_mode;

/* 1 when s is exactly 64 lowercase hex digits, else 0. NULL-safe. */
int blobstore_valid_hex(const char *s);
/* SHA-256 of data as 64 lowercase hex digits + NUL. */
void blobstore_hash(const void *data, size_t len, char sha_hex[BLOBSTORE_HEX_LEN + 1]);

/* The blob's file name into buf (len bytes). -1 for a bad hash or a short buffer.
 * Does not touch the disk. */
int blobstore_path(const char *data_dir, const char *sha_hex, char *buf, size_t len, err *e) WARN_UNUSED;

/* Store len bytes (len may be 0); sha_hex receives their hash. Creates
 * <data_dir>/blobs/.. as needed. 0 or -1. */
int blobstore_put(const char *data_dir, const void *data, size_t len, char sha_hex[BLOBSTORE_HEX_LEN + 1],
                  err *e) WARN_UNUSED;
/* Store the contents of a file already on disk, streaming (never whole in memory).
 * See blobstore_mode for what happens to the source. 0 or -1. */
int blobstore_put_file(const char *data_dir, const char *src_path, blobstore_mode mode,
                       char sha_hex[BLOBSTORE_HEX_LEN + 1], err *e) WARN_UNUSED;

/* 1 when the blob's file exists (no checksum check), 0 when not or on a bad hash. */
int blobstore_exists(const char *data_dir, const char *sha_hex);
/* Read a whole blob into a new malloc'd buffer (*buf, *len; free() it; a 0-byte blob
 * gives a non-NULL buffer), verifying its checksum: a mismatch is ERR_CORRUPT
 * "blob <sha> is corrupt (checksum mismatch)". For files of a size that fits in
 * memory (images, thumbnails); stream big ones with blobstore_path + open. */
int blobstore_read(const char *data_dir, const char *sha_hex, uint8_t **buf, size_t *len, err *e) WARN_UNUSED;
/* Re-hash a stored blob, streaming. 0 when intact, -1 with ERR_NOT_FOUND, ERR_CORRUPT
 * or ERR_IO (unreadable). */
int blobstore_verify(const char *data_dir, const char *sha_hex, err *e) WARN_UNUSED;
/* blobstore_verify, remembered: a file verified earlier by this process and unchanged
 * since (same device, inode, size and modification time) is not re-hashed. For
 * routes that read parts of a large blob on every request. */
int blobstore_verify_cached(const char *data_dir, const char *sha_hex, err *e) WARN_UNUSED;

#endif
