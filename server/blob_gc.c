/* blob_gc.c — the referenced set, the scan of the data folder and the removal of
 * what no row names; see blob_gc.h for the rules and why they are safe. */
#include "blob_gc.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore.h"
#include "log.h"

#define FETCH_ROWS "10000"
/* Heartbeats younger than this many stale periods count a running job as alive. */
#define LIVE_HEARTBEAT_FACTOR 2

/* ---- the referenced set ---- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* 64 lowercase hex digits (then NUL or not, per need_end) -> 32 bytes; -1 if not. */
static int parse_digest(const char *hex, int need_end, uint8_t out[32]) {
    if (!hex) return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return need_end && hex[64] ? -1 : 0;
}

int blob_gc_refs_add(blob_gc_refs *r, const char *sha_hex) {
    uint8_t d[32];
    if (parse_digest(sha_hex, 1, d)) return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        void *grown = realloc(r->digests, cap * sizeof *r->digests);
        if (!grown) return -1;
        r->digests = grown;
        r->cap = cap;
    }
    memcpy(r->digests[r->n++], d, 32);
    return 0;
}

static int cmp_digest(const void *a, const void *b) { return memcmp(a, b, 32); }

void blob_gc_refs_seal(blob_gc_refs *r) {
    if (r->n < 2) return;
    qsort(r->digests, r->n, sizeof *r->digests, cmp_digest);
    size_t out = 1;
    for (size_t i = 1; i < r->n; i++)
        if (memcmp(r->digests[i], r->digests[out - 1], 32)) memcpy(r->digests[out++], r->digests[i], 32);
    r->n = out;
}

int blob_gc_refs_has(const blob_gc_refs *r, const char *sha_hex) {
    uint8_t d[32];
    if (!r->n || parse_digest(sha_hex, 1, d)) return 0;
    return bsearch(d, r->digests, r->n, sizeof *r->digests, cmp_digest) != NULL;
}

void blob_gc_refs_free(blob_gc_refs *r) {
    if (!r) return;
    free(r->digests);
    memset(r, 0, sizeof *r);
}

/* Every column that names a blob (migrations 002-006). models.sha256 is not one: it
 * is the checksum of the TorchScript file inside the model's own folder. */
static const blob_gc_column columns[] = {
    {"images", "sha256", 0},
    {"teacher_outputs", "probs_sha256", 0},
    {"teacher_outputs", "image_ids_sha256", 0},
    {"segment_chunks", "sha256", 0},
    {"extractions", "presence_sha256", 0},
    {"extractions", "image_ids_sha256", 0},
    {"extractions", "chunks", 1},
    {"students", "presence_sha256", 0}, /* what it was fitted on: kept while it exists */
    {"students", "probs_sha256", 0},
    {"student_versions", "weights_sha256", 0},
    {"student_versions", "bounds_sha256", 0},
    {NULL, NULL, 0},
};
/* Checksums of data, not blob names: a model's TorchScript file; a presence column's
 * values and a version's list of them (migration 008). */
static const char *const not_blob_columns[] = {"models.sha256", "extractions.column_sha256",
                                               "student_versions.columns_sha256", NULL};

const blob_gc_column *blob_gc_columns(void) { return columns; }

/* ---- the scan ---- */

static int is_hex_name(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (hex_digit(s[i]) < 0) return 0;
    return s[len] == '\0';
}

/* Remove one unreferenced blob unless a writer refreshed it: rename it aside (a writer
 * touching the name now finds it gone and stores the bytes again), re-read its time,
 * put it back when it was refreshed. 1 removed (*bytes set), 0 kept (young), -1 failed. */
static int remove_blob(const char *fan, const char *name, time_t cutoff, long long *bytes) {
    char path[PATH_MAX], aside[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", fan, name) >= (int)sizeof path ||
        snprintf(aside, sizeof aside, "%s/.tmp-gc-%s", fan, name) >= (int)sizeof aside)
        return -1;
    if (rename(path, aside)) {
        if (errno == ENOENT) return 0; /* removed by someone else meanwhile */
        log_warn("gc: cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(aside, &st) || st.st_mtime >= cutoff) {
        /* Refreshed by a writer (or unreadable): back under its name, identical bytes. */
        if (rename(aside, path)) log_error("gc: cannot put %s back from %s: %s", path, aside, strerror(errno));
        return 0;
    }
    if (unlink(aside)) {
        log_warn("gc: cannot remove %s: %s", aside, strerror(errno));
        if (rename(aside, path)) log_error("gc: cannot put %s back from %s: %s", path, aside, strerror(errno));
        return -1;
    }
    *bytes = st.st_size;
    return 1;
}

static void sweep_fan(const char *fan, const char *prefix, const blob_gc_refs *refs, time_t cutoff,
                      blob_gc_report *rep, blob_gc_visit visit, void *arg) {
    DIR *d = opendir(fan);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));) {
        /* Dot-names: temporaries (.tmp-…) belong to the writers and the start-up sweep. */
        if (de->d_name[0] == '.' || !is_hex_name(de->d_name, BLOBSTORE_HEX_LEN - 2)) continue;
        char sha[BLOBSTORE_HEX_LEN + 1], path[PATH_MAX];
        memcpy(sha, prefix, 2); /* both lengths checked: 2 + 62 hex digits */
        memcpy(sha + 2, de->d_name, BLOBSTORE_HEX_LEN - 2 + 1);
        if (snprintf(path, sizeof path, "%s/%s", fan, de->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (lstat(path, &st) || !S_ISREG(st.st_mode)) continue;
        rep->blobs_scanned++;
        if (blob_gc_refs_has(refs, sha)) {
            rep->kept_referenced++;
            continue;
        }
        if (st.st_mtime >= cutoff) {
            rep->skipped_young++;
            continue;
        }
        long long bytes = st.st_size;
        int rc = rep->dry_run ? 1 : remove_blob(fan, de->d_name, cutoff, &bytes);
        if (rc < 0) rep->failed++;
        if (rc == 0) rep->skipped_young++;
        if (rc <= 0) continue;
        rep->removed++;
        rep->bytes += bytes;
        if (visit) visit(arg, "blob", sha, bytes);
    }
    closedir(d);
}

static void sweep_blobs(const char *data_dir, const blob_gc_refs *refs, time_t cutoff, blob_gc_report *rep,
                        blob_gc_visit visit, void *arg) {
    char top[PATH_MAX];
    snprintf(top, sizeof top, "%s/blobs", data_dir);
    DIR *d = opendir(top);
    if (!d) return; /* no blob stored yet */
    for (struct dirent *de; (de = readdir(d));) {
        if (!is_hex_name(de->d_name, 2)) continue;
        char fan[PATH_MAX];
        if (snprintf(fan, sizeof fan, "%s/%s", top, de->d_name) >= (int)sizeof fan) continue;
        sweep_fan(fan, de->d_name, refs, cutoff, rep, visit, arg);
    }
    closedir(d);
}

/* thumbs/<sha>-<size>.jpg of a hash no row names: the cache of a removed image. */
static void sweep_thumbs(const char *data_dir, const blob_gc_refs *refs, time_t cutoff, blob_gc_report *rep,
                         blob_gc_visit visit, void *arg) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/thumbs", data_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        char sha[BLOBSTORE_HEX_LEN + 1];
        if (n[0] == '.' || len < BLOBSTORE_HEX_LEN + 6 || n[BLOBSTORE_HEX_LEN] != '-' || strcmp(n + len - 4, ".jpg"))
            continue;
        memcpy(sha, n, BLOBSTORE_HEX_LEN);
        sha[BLOBSTORE_HEX_LEN] = '\0';
        if (!blobstore_valid_hex(sha) || blob_gc_refs_has(refs, sha)) continue;
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, n) >= (int)sizeof path) continue;
        if (lstat(path, &st) || !S_ISREG(st.st_mode) || st.st_mtime >= cutoff) continue;
        if (!rep->dry_run && unlink(path)) {
            if (errno != ENOENT) log_warn("gc: cannot remove %s: %s", path, strerror(errno)), rep->failed++;
            continue;
        }
        rep->thumbs_removed++;
        rep->thumbs_bytes += st.st_size;
        if (visit) visit(arg, "thumb", n, st.st_size);
    }
    closedir(d);
}

/* nftw passes no user pointer: a folder's newest time and size, per thread (the
 * route runs on HTTP threads). */
static _Thread_local time_t tree_newest;
static _Thread_local long long tree_bytes;

static int note_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)path, (void)flag, (void)f;
    if (st->st_mtime > tree_newest) tree_newest = st->st_mtime;
    if (S_ISREG(st->st_mode)) tree_bytes += st->st_size;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(path) && errno != ENOENT ? -1 : 0;
}

static int named(const char *rel, const char *const *dirs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (dirs[i] && !strcmp(dirs[i], rel)) return 1;
    return 0;
}

/* Folders in models/ no row names. A folder's age is its newest entry's, or its own
 * change time when later: registration renames the checked folder into place before
 * its row commits, and a rename changes only that. */
static void sweep_models(const char *data_dir, const char *const *model_dirs, size_t n_model_dirs, time_t cutoff,
                         blob_gc_report *rep, blob_gc_visit visit, void *arg) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/models", data_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char rel[NAME_MAX + 16], path[PATH_MAX];
        snprintf(rel, sizeof rel, "models/%s", de->d_name);
        if (named(rel, model_dirs, n_model_dirs)) continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (lstat(path, &st) || !S_ISDIR(st.st_mode)) continue;
        tree_newest = st.st_ctime;
        tree_bytes = 0;
        if (nftw(path, note_entry, 16, FTW_PHYS) || tree_newest >= cutoff) continue;
        long long bytes = tree_bytes;
        if (!rep->dry_run && nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS)) {
            log_warn("gc: cannot remove %s: %s", path, strerror(errno));
            rep->failed++;
            continue;
        }
        rep->models_removed++;
        rep->models_bytes += bytes;
        if (visit) visit(arg, "model", de->d_name, bytes);
    }
    closedir(d);
}

int blob_gc_sweep(const char *data_dir, const blob_gc_refs *refs, const char *const *model_dirs, size_t n_model_dirs,
                  time_t cutoff, blob_gc_report *rep, blob_gc_visit visit, void *arg, err *e) {
    struct stat st;
    if (stat(data_dir, &st) || !S_ISDIR(st.st_mode))
        return err_set(e, ERR_IO, "gc: cannot read the data folder %s", data_dir);
    rep->cutoff = cutoff;
    sweep_blobs(data_dir, refs, cutoff, rep, visit, arg);
    sweep_thumbs(data_dir, refs, cutoff, rep, visit, arg);
    sweep_models(data_dir, model_dirs, n_model_dirs, cutoff, rep, visit, arg);
    return 0;
}

json_t *blob_gc_report_json(const blob_gc_report *rep) {
    char cutoff[32] = "";
    struct tm tm;
    if (gmtime_r(&rep->cutoff, &tm)) strftime(cutoff, sizeof cutoff, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:b,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "dry_run", rep->dry_run,
                     "min_age_s", (json_int_t)rep->min_age_s, "cutoff", cutoff, "blobs_scanned",
                     (json_int_t)rep->blobs_scanned, "blobs_referenced", (json_int_t)rep->blobs_referenced,
                     "kept_referenced", (json_int_t)rep->kept_referenced, "removed", (json_int_t)rep->removed, "bytes",
                     (json_int_t)rep->bytes, "skipped_young", (json_int_t)rep->skipped_young, "failed",
                     (json_int_t)rep->failed, "thumbs_removed", (json_int_t)rep->thumbs_removed, "thumbs_bytes",
                     (json_int_t)rep->thumbs_bytes, "models_removed", (json_int_t)rep->models_removed,
                     "models_bytes", (json_int_t)rep->models_bytes);
}

/* ---- the database side ---- */

static int known_column(const char *qualified) {
    for (const blob_gc_column *c = columns; c->table; c++) {
        size_t t = strlen(c->table);
        if (!strncmp(qualified, c->table, t) && qualified[t] == '.' && !strcmp(qualified + t + 1, c->column)) return 1;
    }
    for (const char *const *n = not_blob_columns; *n; n++)
        if (!strcmp(qualified, *n)) return 1;
    return 0;
}

/* Refuse when the schema has a column that may name blobs and gc does not read it. */
static int check_schema(PGconn *c, err *e) {
    PGresult *r = db_exec(c,
                          "SELECT table_name || '.' || column_name FROM information_schema.columns"
                          " WHERE table_schema = current_schema()"
                          "   AND (column_name LIKE '%sha256' OR column_name = 'chunks') ORDER BY 1",
                          0, NULL, e);
    if (!r) return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && !rc; i++)
        if (!known_column(PQgetvalue(r, i, 0)))
            rc = err_set(e, ERR_CONFLICT,
                         "gc: column %s may name blobs but gc does not read it; nothing removed "
                         "(add it to blob_gc.c's columns)",
                         PQgetvalue(r, i, 0));
    PQclear(r);
    return rc;
}

/* SELECT col FROM t WHERE col IS NOT NULL UNION … over every blob column. */
static char *refs_sql(void) {
    size_t cap = 4096, len = 0;
    char *sql = malloc(cap);
    if (!sql) return NULL;
    sql[0] = '\0';
    for (const blob_gc_column *c = columns; c->table; c++) {
        int k = c->is_array ? snprintf(sql + len, cap - len, "%sSELECT unnest(%s) FROM %s", len ? " UNION " : "",
                                       c->column, c->table)
                            : snprintf(sql + len, cap - len, "%sSELECT %s FROM %s WHERE %s IS NOT NULL",
                                       len ? " UNION " : "", c->column, c->table, c->column);
        if (k < 0 || (size_t)k >= cap - len) {
            free(sql);
            return NULL;
        }
        len += (size_t)k;
    }
    return sql;
}

/* The referenced set, read through a cursor (a million images would otherwise be one
 * result of a million rows in memory at once). */
static int read_refs(PGconn *c, blob_gc_refs *refs, err *e) {
    char *sel = refs_sql();
    if (!sel) return err_set(e, ERR_INTERNAL, "out of memory");
    size_t need = strlen(sel) + 64;
    char *decl = malloc(need);
    if (decl) snprintf(decl, need, "DECLARE blob_gc_refs NO SCROLL CURSOR FOR %s", sel);
    free(sel);
    if (!decl) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = db_run(c, decl, 0, NULL, e);
    free(decl);
    while (rc == 0) {
        PGresult *r = db_exec(c, "FETCH FORWARD " FETCH_ROWS " FROM blob_gc_refs", 0, NULL, e);
        if (!r) return -1;
        int n = PQntuples(r);
        for (int i = 0; i < n && rc == 0; i++)
            if (blob_gc_refs_add(refs, PQgetvalue(r, i, 0))) rc = err_set(e, ERR_INTERNAL, "out of memory");
        PQclear(r);
        if (n == 0) break;
    }
    if (rc == 0) rc = db_run(c, "CLOSE blob_gc_refs", 0, NULL, e);
    blob_gc_refs_seal(refs);
    return rc;
}

/* The `dir` of every model row (n of them, malloc'd strings; free with free_dirs). */
static char **read_model_dirs(PGconn *c, size_t *n, err *e) {
    *n = 0;
    PGresult *r = db_exec(c, "SELECT dir FROM models", 0, NULL, e);
    if (!r) return NULL;
    size_t rows = (size_t)PQntuples(r);
    char **dirs = calloc(rows + 1, sizeof *dirs);
    for (size_t i = 0; dirs && i < rows; i++) dirs[i] = strdup(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    if (!dirs) err_set(e, ERR_INTERNAL, "out of memory");
    else *n = rows;
    return dirs;
}

static void free_dirs(char **dirs, size_t n) {
    for (size_t i = 0; dirs && i < n; i++) free(dirs[i]);
    free(dirs);
}

/* The cutoff: now - min_age_s, or the start (whole seconds, rounded down) of the
 * oldest running job with a live heartbeat when that is earlier. */
static int read_cutoff(PGconn *c, long min_age_s, int stale_after_ms, time_t *cutoff, err *e) {
    char live_ms[32];
    snprintf(live_ms, sizeof live_ms, "%lld", (long long)stale_after_ms * LIVE_HEARTBEAT_FACTOR);
    const char *p[] = {live_ms};
    PGresult *r = db_exec(c,
                          "SELECT floor(extract(epoch FROM min(started_at)))::bigint FROM jobs"
                          " WHERE state = 'running' AND started_at IS NOT NULL"
                          "   AND heartbeat_at > now() - $1::bigint * interval '1 millisecond'",
                          1, p, e);
    if (!r) return -1;
    *cutoff = time(NULL) - min_age_s;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        time_t oldest_job = (time_t)atoll(PQgetvalue(r, 0, 0));
        if (oldest_job < *cutoff) *cutoff = oldest_job;
    }
    PQclear(r);
    return 0;
}

static int collect(PGconn *c, app *a, long min_age_s, blob_gc_report *rep, blob_gc_visit visit, void *arg, err *e) {
    PGresult *r = db_exec(c, "SELECT pg_try_advisory_xact_lock(hashtext('inficond.blob_gc'))", 0, NULL, e);
    if (!r) return -1;
    int locked = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    if (!locked) return err_set(e, ERR_CONFLICT, "gc: another collection is running; try again when it ends");
    if (check_schema(c, e)) return -1;
    blob_gc_refs refs = {0};
    size_t n_dirs = 0;
    char **dirs = NULL;
    time_t cutoff = 0;
    int rc = read_refs(c, &refs, e);
    if (rc == 0) rc = (dirs = read_model_dirs(c, &n_dirs, e)) ? 0 : -1;
    if (rc == 0) rc = read_cutoff(c, min_age_s, a->cfg.stale_after_ms, &cutoff, e);
    if (rc == 0) {
        rep->blobs_referenced = (long long)refs.n;
        rc = blob_gc_sweep(a->cfg.data_dir, &refs, (const char *const *)dirs, n_dirs, cutoff, rep, visit, arg, e);
    }
    free_dirs(dirs, n_dirs);
    blob_gc_refs_free(&refs);
    return rc;
}

int blob_gc_run(app *a, int dry_run, long min_age_s, blob_gc_report *rep, blob_gc_visit visit, void *arg, err *e) {
    memset(rep, 0, sizeof *rep);
    rep->dry_run = dry_run;
    rep->min_age_s = min_age_s;
    if (min_age_s < 0 || min_age_s > BLOB_GC_MAX_MIN_AGE_S)
        return err_set(e, ERR_UNPROCESSABLE, "min_age_s must be 0 to %ld seconds", BLOB_GC_MAX_MIN_AGE_S);
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    /* One snapshot for the referenced set, the model folders and the running jobs;
     * the transaction (and its advisory lock) lasts until the scan is done. */
    int rc = db_run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, e);
    if (rc == 0) {
        rc = collect(c, a, min_age_s, rep, visit, arg, e);
        if (rc == 0) rc = db_commit(c, e);
        else db_rollback(c);
    }
    db_release(a->db, c);
    if (rc == 0)
        log_info("gc:%s %lld of %lld blobs removed (%lld bytes), %lld young kept, %lld failed; %lld thumbnails, "
                 "%lld model folders",
                 dry_run ? " (dry run)" : "", rep->removed, rep->blobs_scanned, rep->bytes, rep->skipped_young,
                 rep->failed, rep->thumbs_removed, rep->models_removed);
    return rc;
}
