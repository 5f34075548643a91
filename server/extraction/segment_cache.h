/* segment_cache.h — parsed segment stores kept in memory for the read routes, keyed
 * by the blob's SHA-256.
 *
 * A segment blob is immutable and content-addressed, so a parsed copy can never go
 * stale: the first request for a chunk reads, verifies (SHA-256) and parses it
 * (segment_store_load) once; later requests share that copy. Bounded by total bytes
 * (the blobs' sizes), least recently used first out. Entries are reference-counted: a
 * store handed out stays valid until its holder releases it, even when it is evicted
 * (or replaced) meanwhile. Concurrent requests for a chunk not yet loaded wait for
 * the one load instead of each reading it.
 *
 * Damaged blobs: a load that fails (checksum mismatch, malformed store, missing
 * file) is reported to every request waiting for it and is not cached, so the next
 * request tries again. A hit costs one stat() of the blob's file: when its identity
 * (device, inode, size, modification time) differs from the one it had when it was
 * verified, the entry is dropped and the file is read and verified again, so a file
 * rewritten or damaged through the file system is detected as before (the same rule
 * as blobstore_verify_cached). Damage that leaves the identity unchanged (bit rot
 * under the file system) is not seen while the verified copy is cached: the cache
 * keeps serving that verified in-memory copy, which is the blob's true content, and
 * the next read from disk (a restart, an eviction, the extraction job) reports it.
 *
 * The process-wide cache (segment_cache_shared) is sized by INFICOND_SEGMENT_CACHE_MB
 * (default 256; 0 turns caching off: every get loads a private copy). A blob larger
 * than the bound is loaded privately and not kept.
 */
#ifndef INFICOND_SEGMENT_CACHE_H
#define INFICOND_SEGMENT_CACHE_H

#include <stddef.h>

#include "err.h"
#include "extraction/segment_store.h"

#define SEGMENT_CACHE_DEFAULT_MB 256

typedef struct segment_cache segment_cache;
typedef struct segment_cache_entry segment_cache_entry;

typedef struct segment_cache_stats {
    size_t entries, bytes, max_bytes;
    unsigned long hits, misses, evictions, failures;
} segment_cache_stats;

/* A cache holding at most max_bytes of blobs (0: hold nothing). NULL when out of memory. */
segment_cache *segment_cache_new(size_t max_bytes);
/* Free a cache and its entries. Every entry handed out must have been released. NULL-safe. */
void segment_cache_free(segment_cache *c);

/* The process-wide cache the routes use, created on first use from
 * INFICOND_SEGMENT_CACHE_MB (NULL only when out of memory at that moment, which the
 * functions below accept: a NULL cache caches nothing). */
segment_cache *segment_cache_shared(void);

/* The parsed store of blob sha_hex in data_dir: *st points at it and *ref is the
 * reference to pass to segment_cache_release when done (the store must not be used
 * after). Errors as segment_store_load (ERR_CORRUPT, ERR_IO, ERR_NOT_FOUND,
 * ERR_BAD_REQUEST for a malformed hash); on failure *st and *ref are NULL. */
int segment_cache_get(segment_cache *c, const char *data_dir, const char *sha_hex, const segment_store **st,
                      segment_cache_entry **ref, err *e) WARN_UNUSED;
/* Drop a reference from segment_cache_get. NULL-safe. */
void segment_cache_release(segment_cache_entry *ref);

void segment_cache_get_stats(segment_cache *c, segment_cache_stats *out);

#endif
