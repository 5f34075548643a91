/* blob_gc.h — removes blobs no database row names (`inficond gc`, POST /api/v1/admin/gc).
 *
 * Blobs are written before the rows that name them commit, and deleting a dataset,
 * model, extraction or student deletes rows only: the bytes stay in
 * `<data_dir>/blobs/`. A collection
 *  1. opens one REPEATABLE READ, READ ONLY transaction (one snapshot for everything
 *     below) and takes a transaction advisory lock, so two collections never overlap
 *     (the second gets ERR_CONFLICT);
 *  2. checks that every column of the schema that may name a blob (a name ending in
 *     `sha256`, or `chunks`) is one it reads (blob_gc_columns), and refuses otherwise:
 *     a migration that adds a blob column without teaching gc would lose data;
 *  3. reads the referenced set: every hash those columns hold, in that snapshot;
 *  4. computes the cutoff: the earlier of now - min_age_s and the start of the oldest
 *     running job whose heartbeat is fresh (a live job may write blobs now and commit
 *     the rows naming them later; a job with a dead worker is re-run from the start);
 *  5. scans the data folder and removes (or, in a dry run, lists) what is unreferenced
 *     and last modified before the cutoff:
 *     - blobs `blobs/ab/cdef…`;
 *     - thumbnails `thumbs/<sha>-<size>.jpg` of hashes no row names (a cache);
 *     - folders in `models/` no `models.dir` names (left by a registration or a model
 *       deletion that was killed half-way), by the newest file in them.
 *     `.tmp-` files are the start-up sweep's (data_sweep.h), never gc's.
 *
 * Why the age rule is enough: blobstore_put refreshes the modification time of a blob
 * it finds already stored (a new row is about to name old bytes), and a removal first
 * renames the blob to `.tmp-gc-…`, re-reads its time and puts it back when it was
 * refreshed meanwhile; a refresh that finds the name gone makes the writer store the
 * bytes again. So a blob a writer is using is either seen young or written anew. The
 * grace period must exceed the time between a request's blob write and its commit
 * (milliseconds); the default is an hour. Clocks of the database and the data folder's
 * machine are compared: keep them in sync (min_age_s absorbs a smaller skew).
 *
 * Removal is unlink only; a file that cannot be removed is counted in `failed` and
 * logged, never fatal.
 */
#ifndef INFICOND_BLOB_GC_H
#define INFICOND_BLOB_GC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "app.h"
#include "err.h"

#define BLOB_GC_DEFAULT_MIN_AGE_S 3600L
#define BLOB_GC_MAX_MIN_AGE_S (30L * 24 * 3600)

/* The hashes rows name: sorted, distinct SHA-256 digests. */
typedef struct blob_gc_refs {
    uint8_t (*digests)[32]; /* (n, 32) */
    size_t n, cap;
} blob_gc_refs;

/* Add one 64-hex-digit hash (anything else is ignored: a NULL column, or a value the
 * CHECK constraints would not have let in). 0, or -1 when out of memory. */
int blob_gc_refs_add(blob_gc_refs *r, const char *sha_hex) WARN_UNUSED;
/* Sort and drop duplicates; call once after the last add, before any lookup. */
void blob_gc_refs_seal(blob_gc_refs *r);
/* 1 when the sealed set holds sha_hex (64 lowercase hex digits), else 0. */
int blob_gc_refs_has(const blob_gc_refs *r, const char *sha_hex);
void blob_gc_refs_free(blob_gc_refs *r); /* NULL-safe; leaves an empty set */

/* One table column that names blobs: text, or text[] when is_array. */
typedef struct blob_gc_column {
    const char *table, *column;
    int is_array;
} blob_gc_column;

/* The columns gc reads, ending with {NULL}. Static storage. */
const blob_gc_column *blob_gc_columns(void);

typedef struct blob_gc_report {
    int dry_run;
    long min_age_s;
    time_t cutoff;               /* kept: everything modified at or after it        */
    long long blobs_scanned;     /* blob files found under blobs/ab/                */
    long long blobs_referenced;  /* distinct hashes the rows name                   */
    long long kept_referenced;   /* scanned blobs a row names                       */
    long long removed, bytes;    /* blobs removed (dry run: would be) and their size */
    long long skipped_young;     /* unreferenced but modified after the cutoff      */
    long long failed;            /* could not be removed (logged)                   */
    long long thumbs_removed, thumbs_bytes;
    long long models_removed, models_bytes;
} blob_gc_report;

/* The report as the one JSON object `inficond gc` prints last and the admin route
 * answers: {dry_run, min_age_s, cutoff (UTC, ISO 8601), blobs_scanned, blobs_referenced,
 * kept_referenced, removed, bytes, skipped_young, failed, thumbs_removed, thumbs_bytes,
 * models_removed, models_bytes}. New reference. */
json_t *blob_gc_report_json(const blob_gc_report *rep);

/* Told of each item removed (dry run: that would be): kind "blob", "thumb" or
 * "model"; name is the blob's hash, the thumbnail's file name or the folder's name. */
typedef void (*blob_gc_visit)(void *arg, const char *kind, const char *name, long long bytes);

/* Step 5 alone, without the database: scan data_dir against refs (sealed) and
 * model_dirs (the `models.dir` values, e.g. "models/3-ab12cd34"; n_model_dirs of
 * them), keeping what was modified at or after `cutoff`. Adds to *rep (whose dry_run
 * says whether to remove). visit may be NULL. 0, or -1 when data_dir is unreadable. */
int blob_gc_sweep(const char *data_dir, const blob_gc_refs *refs, const char *const *model_dirs,
                  size_t n_model_dirs, time_t cutoff, blob_gc_report *rep, blob_gc_visit visit, void *arg,
                  err *e) WARN_UNUSED;

/* A whole collection (steps 1-5) on a's database and data folder. min_age_s in
 * [0, BLOB_GC_MAX_MIN_AGE_S]. Fills *rep. 0, or -1: ERR_CONFLICT when another
 * collection runs or the schema has a blob column gc does not know, ERR_UNAVAILABLE /
 * ERR_DB from the database, ERR_IO when the data folder cannot be read. */
int blob_gc_run(app *a, int dry_run, long min_age_s, blob_gc_report *rep, blob_gc_visit visit, void *arg,
                err *e) WARN_UNUSED;

#endif
