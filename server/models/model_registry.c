/* model_registry.c — register model folders (copy, check, insert) and share loaded
 * models between threads through a small reference-counted cache.
 *
 * Registration order: the manifest is read where the user put it (to learn which
 * files belong to the model), those files are copied into a staging folder under
 * <data_dir>/models, model_check_dir runs on the copy (what we store is what we
 * checked), then the row is inserted and the folder renamed to <id>-<sha8> inside
 * one transaction; any failure removes the staging folder.
 */
#include "models/model_registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db_json.h"
#include "file_read.h"
#include "log.h"
#include "models/model_check.h"

/* A manifest names at most MODEL_MAX_CLASSES classes: a few MB of JSON at most. */
#define MANIFEST_FILE_MAX ((size_t)64 << 20)

/* ---- files ----------------------------------------------------------------- */

/* snprintf for paths; a path too long for PATH_MAX is cut (and then not found),
 * never overflowed. Through vsnprintf so that is one decision, here. */
__attribute__((format(printf, 3, 4))) static int pathf(char *buf, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path) ? (errno == ENOENT ? 0 : -1) : 0;
}

/* rm -rf, never following links. Errors are logged, not returned (cleanup paths). */
static void remove_tree(const char *dir) {
    if (!dir || !dir[0]) return;
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
        log_warn("could not remove %s: %s", dir, strerror(errno));
}

/* mkdir -p for the folders above `path` (a file), inside an existing root. */
static int make_parents(const char *path, err *e) {
    char buf[PATH_MAX];
    pathf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST) return err_set(e, ERR_IO, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    return 0;
}

/* Copy src to dst (created, replaced), streaming; sha_hex (may be NULL) gets the
 * SHA-256 of the bytes. */
static int copy_file(const char *src, const char *dst, char *sha_hex, err *e) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return err_set(e, ERR_UNPROCESSABLE, "cannot read %s: %s", src, strerror(errno));
    if (make_parents(dst, e)) {
        close(in);
        return -1;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return err_set(e, ERR_IO, "cannot create %s: %s", dst, strerror(errno));
    }
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    static const size_t BUF = 1 << 20;
    unsigned char *buf = malloc(BUF);
    int rc = buf ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
    for (ssize_t n; !rc && (n = read(in, buf, BUF)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = err_set(e, ERR_IO, "cannot read %s: %s", src, strerror(errno));
            break;
        }
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                rc = err_set(e, ERR_IO, "cannot write %s: %s", dst, strerror(errno));
                break;
            }
            off += w;
        }
    }
    free(buf);
    if (!rc && fsync(out)) rc = err_set(e, ERR_IO, "cannot write %s: %s", dst, strerror(errno));
    if (close(out) && !rc) rc = err_set(e, ERR_IO, "cannot write %s: %s", dst, strerror(errno));
    close(in);
    if (!rc && sha_hex) {
        unsigned char h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&st, h);
        for (size_t i = 0; i < sizeof h; i++) pathf(sha_hex + 2 * i, 3, "%02x", h[i]);
    }
    return rc;
}

/* ---- registration ---------------------------------------------------------- */

static int name_ok_or_set(const char *name, err *e) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > MODEL_NAME_MAX) return err_set(e, ERR_UNPROCESSABLE, "field 'name': 1 to %d characters", MODEL_NAME_MAX);
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20) return err_set(e, ERR_UNPROCESSABLE, "field 'name': control characters are not allowed");
    return 0;
}

int model_registry_register(app *a, const char *name, const char *src_dir, int64_t user_id, json_t **out, err *e) {
    *out = NULL;
    if (name_ok_or_set(name, e)) return -1;
    struct stat st;
    if (!src_dir || stat(src_dir, &st) || !S_ISDIR(st.st_mode))
        return err_set(e, ERR_UNPROCESSABLE, "field 'path': %s is not a folder on the server", src_dir ? src_dir : "");
    {   /* A clear 409 before the (possibly slow) load; the unique index still decides. */
        const char *p[] = {name};
        json_t *taken = db_json(a, "free", "SELECT 1::text FROM models WHERE name = $1", 1, p, e);
        if (taken) {
            json_decref(taken);
            return err_set(e, ERR_CONFLICT, "a model named '%s' already exists", name);
        }
        if (e->code != ERR_NOT_FOUND) return -1;
        err_clear(e);
    }
    model_manifest mf;
    if (model_manifest_load(src_dir, &mf, e)) return -1;

    char models_dir[PATH_MAX], staging[PATH_MAX], final_rel[64], final_dir[PATH_MAX], path[PATH_MAX];
    pathf(models_dir, sizeof models_dir, "%s/models", a->cfg.data_dir);
    if (mkdir(models_dir, 0755) && errno != EEXIST) {
        model_manifest_free(&mf);
        return err_set(e, ERR_IO, "cannot create %s: %s", models_dir, strerror(errno));
    }
    pathf(staging, sizeof staging, "%s/.staging-XXXXXX", models_dir);
    if (!mkdtemp(staging)) {
        model_manifest_free(&mf);
        return err_set(e, ERR_IO, "cannot create a folder in %s: %s", models_dir, strerror(errno));
    }
    int rc = -1;
    char sha[65] = {0};
    char *manifest_text = NULL;
    json_t *summary = NULL;
    PGconn *c = NULL;
    PGresult *res = NULL;
    int renamed = 0;

    pathf(path, sizeof path, "%s/manifest.json", staging);
    char src[PATH_MAX];
    pathf(src, sizeof src, "%s/manifest.json", src_dir);
    if (copy_file(src, path, NULL, e)) goto done;
    pathf(path, sizeof path, "%s/%s", staging, mf.file);
    if (copy_file(mf.file_path, path, sha, e)) goto done;
    if (mf.tokenizer_file) {
        pathf(path, sizeof path, "%s/%s", staging, mf.tokenizer_file);
        if (copy_file(mf.tokenizer_path, path, NULL, e)) goto done;
    }
    if (model_check_dir(staging, &summary, e)) {
        /* At registration a model that does not load or run is the user's input. */
        if (e->code == ERR_TORCH) e->code = ERR_UNPROCESSABLE;
        goto done;
    }
    json_object_del(summary, "dir");
    pathf(path, sizeof path, "%s/manifest.json", staging);
    if (!(manifest_text = file_read_all(path, MANIFEST_FILE_MAX, NULL, e))) goto done;
    char *summary_text = json_dumps(summary, JSON_COMPACT);
    if (!summary_text) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    char uid[24];
    pathf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *kind = model_kind_name(mf.kind);
    const char *enc = mf.kind == MODEL_KIND_CONCEPT ? model_encoder_name(mf.encoder) : NULL;
    const char *p[] = {name, kind, enc, manifest_text, sha, summary_text, user_id > 0 ? uid : NULL};
    if (!(c = db_acquire(a->db, e)) || db_begin(c, e)) {
        free(summary_text);
        goto done;
    }
    res = db_exec(c,
                  "INSERT INTO models (name, kind, encoder, manifest, sha256, dir, summary, created_by)"
                  " VALUES ($1, $2, $3, $4::jsonb, $5, '', $6::jsonb, $7) RETURNING id",
                  7, p, e);
    free(summary_text);
    if (!res) {
        if (e->code == ERR_CONFLICT) pathf(e->msg, sizeof e->msg, "a model named '%s' already exists", name);
        goto rollback;
    }
    long long id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    pathf(final_rel, sizeof final_rel, "models/%lld-%.8s", id, sha);
    pathf(final_dir, sizeof final_dir, "%s/%s", a->cfg.data_dir, final_rel);
    if (rename(staging, final_dir)) {
        err_set(e, ERR_IO, "cannot rename %s: %s", staging, strerror(errno));
        goto rollback;
    }
    renamed = 1;
    char ids[24];
    pathf(ids, sizeof ids, "%lld", id);
    const char *up[] = {final_rel, ids};
    if (db_run(c, "UPDATE models SET dir = $1 WHERE id = $2", 2, up, e) || db_commit(c, e)) goto rollback;
    db_release(a->db, c);
    c = NULL;
    *out = model_registry_get_json(a, id, e);
    rc = *out ? 0 : -1;
    log_info("model %lld '%s' registered (%s, sha256 %.12s)", id, name, kind, sha);
    goto done;
rollback:
    db_rollback(c);
    if (renamed) remove_tree(final_dir);
done:
    if (res) PQclear(res);
    if (c) db_release(a->db, c);
    if (!renamed || rc) remove_tree(staging);
    json_decref(summary);
    free(manifest_text);
    model_manifest_free(&mf);
    return rc;
}

/* ---- upload (.tar) --------------------------------------------------------- */

static int member_unsafe(const char *name) {
    if (!name[0] || name[0] == '/') return 1;
    for (const char *p = name; (p = strstr(p, "..")); p += 2)
        if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) return 1;
    return 0;
}

static int extract_tar(const char *tar_path, const char *dest, err *e) {
    struct archive *ar = archive_read_new();
    if (!ar) return err_set(e, ERR_INTERNAL, "out of memory");
    archive_read_support_format_tar(ar);
    archive_read_support_filter_gzip(ar);
    int rc = -1;
    if (archive_read_open_filename(ar, tar_path, 1 << 16) != ARCHIVE_OK) {
        err_set(e, ERR_UNPROCESSABLE, "the upload is not a tar archive: %s", archive_error_string(ar));
        goto done;
    }
    char *buf = malloc(1 << 16);
    if (!buf) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    int files = 0;
    for (;;) {
        struct archive_entry *ent;
        int r = archive_read_next_header(ar, &ent);
        if (r == ARCHIVE_EOF) break;
        if (r == ARCHIVE_RETRY) continue;
        if (r < ARCHIVE_WARN) {
            err_set(e, ERR_UNPROCESSABLE, "bad tar archive: %s", archive_error_string(ar));
            goto free_buf;
        }
        const char *name = archive_entry_pathname(ent);
        mode_t type = archive_entry_filetype(ent);
        if (!name || member_unsafe(name) || archive_entry_hardlink(ent) || (type != AE_IFREG && type != AE_IFDIR)) {
            err_set(e, ERR_UNPROCESSABLE, "unsafe member '%s' in the archive (absolute path, '..', link or device)",
                    name ? name : "(unnamed)");
            goto free_buf;
        }
        if (!strncmp(name, "./", 2)) name += 2;
        char path[PATH_MAX];
        if (!name[0] || pathf(path, sizeof path, "%s/%s", dest, name) >= (int)sizeof path) continue;
        if (type == AE_IFDIR) {
            size_t L = strlen(path);
            if (L && path[L - 1] == '/') path[L - 1] = 0;
            if (make_parents(path, e) || (mkdir(path, 0755) && errno != EEXIST)) {
                err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
                goto free_buf;
            }
            continue;
        }
        if (make_parents(path, e)) goto free_buf;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
            goto free_buf;
        }
        for (;;) {
            la_ssize_t n = archive_read_data(ar, buf, 1 << 16);
            if (n == 0) break;
            if (n < 0) {
                close(fd);
                err_set(e, ERR_UNPROCESSABLE, "bad tar archive at %s: %s", name, archive_error_string(ar));
                goto free_buf;
            }
            if (write(fd, buf, (size_t)n) != n) {
                close(fd);
                err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
                goto free_buf;
            }
        }
        close(fd);
        files++;
    }
    rc = files ? 0 : err_set(e, ERR_UNPROCESSABLE, "the archive holds no files");
free_buf:
    free(buf);
done:
    archive_read_free(ar);
    return rc;
}

int model_registry_register_tar(app *a, const char *name, const char *tar_path, int64_t user_id, json_t **out,
                                err *e) {
    *out = NULL;
    if (name_ok_or_set(name, e)) return -1;
    char tmp[PATH_MAX], root[PATH_MAX];
    pathf(tmp, sizeof tmp, "%s/tmp", a->cfg.data_dir);
    if (mkdir(tmp, 0755) && errno != EEXIST) return err_set(e, ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    pathf(tmp, sizeof tmp, "%s/tmp/model-XXXXXX", a->cfg.data_dir);
    if (!mkdtemp(tmp)) return err_set(e, ERR_IO, "cannot create a temporary folder: %s", strerror(errno));
    int rc = -1;
    if (extract_tar(tar_path, tmp, e)) goto done;
    /* The folder itself, or one top-level folder that holds manifest.json. */
    pathf(root, sizeof root, "%s/manifest.json", tmp);
    struct stat st;
    if (!stat(root, &st)) {
        pathf(root, sizeof root, "%s", tmp);
    } else {
        root[0] = 0;
        char cand[PATH_MAX];
        int n = 0;
        struct dirent **names = NULL;
        int k = scandir(tmp, &names, NULL, alphasort);
        for (int i = 0; i < k; i++) {
            if (names[i]->d_name[0] != '.') {
                n++;
                pathf(cand, sizeof cand, "%s/%s/manifest.json", tmp, names[i]->d_name);
                if (!stat(cand, &st)) pathf(root, sizeof root, "%s/%s", tmp, names[i]->d_name);
            }
            free(names[i]);
        }
        free(names);
        if (n != 1 || !root[0]) {
            err_set(e, ERR_UNPROCESSABLE, "manifest.json not found at the top of the archive (or in its one folder)");
            goto done;
        }
    }
    rc = model_registry_register(a, name, root, user_id, out, e);
done:
    remove_tree(tmp);
    return rc;
}

/* ---- reading and deleting --------------------------------------------------- */

#define MODEL_JSON                                                                                         \
    "json_build_object('id', m.id, 'name', m.name, 'kind', m.kind, 'encoder', m.encoder,"                  \
    " 'classes', m.manifest->'classes', 'embedding_dim', m.manifest->'embedding_dim',"                     \
    " 'input', m.manifest->'input', 'sha256', m.sha256, 'manifest', m.manifest, 'summary', m.summary,"     \
    " 'created_by', m.created_by, 'created_at', m.created_at)"

json_t *model_registry_get_json(app *a, int64_t id, err *e) {
    char ids[24], what[48];
    pathf(ids, sizeof ids, "%lld", (long long)id);
    pathf(what, sizeof what, "no model %lld", (long long)id);
    const char *p[] = {ids};
    return db_json(a, what, "SELECT " MODEL_JSON "::text FROM models m WHERE m.id = $1", 1, p, e);
}

json_t *model_registry_list_json(app *a, const char *kind, long limit, long offset, err *e) {
    char ls[24], os[24];
    pathf(ls, sizeof ls, "%ld", limit);
    pathf(os, sizeof os, "%ld", offset);
    const char *p[] = {kind, ls, os};
    return db_json(a, "no models",
                   "SELECT json_build_object('items', COALESCE((SELECT json_agg(x ORDER BY x.id) FROM ("
                   "  SELECT m.id, m.name, m.kind, m.encoder, m.manifest->'classes' AS classes,"
                   "         m.manifest->'embedding_dim' AS embedding_dim, m.manifest->'input' AS input, m.sha256,"
                   "         m.created_by, m.created_at FROM models m WHERE ($1::text IS NULL OR m.kind = $1)"
                   "  ORDER BY m.id LIMIT $2::int OFFSET $3::int) x), '[]'::json),"
                   " 'total', (SELECT count(*) FROM models WHERE ($1::text IS NULL OR kind = $1)),"
                   " 'limit', $2::int, 'offset', $3::int)::text",
                   3, p, e);
}

/* ---- the cache -------------------------------------------------------------- */

typedef struct cache_entry {
    model_ref ref; /* first: a model_ref* is the entry */
    int refs;
    int dead;      /* deleted: free when the last user lets go */
    uint64_t used;
    struct cache_entry *next;
} cache_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_entry *cache_head;
static uint64_t cache_tick;

static void entry_free(cache_entry *c) {
    if (!c) return;
    shim_model_free(c->ref.model);
    shim_infer_free(c->ref.fast);
    model_manifest_free(&c->ref.mf);
    free(c);
}

/* Unlink entries to free (dead or beyond the limit, unreferenced) onto *freed.
 * Called with the lock held; the frees happen after unlocking. */
static void cache_trim_locked(cache_entry **freed) {
    for (cache_entry **pp = &cache_head; *pp;) {
        if ((*pp)->dead && (*pp)->refs == 0) {
            cache_entry *c = *pp;
            *pp = c->next;
            c->next = *freed;
            *freed = c;
        } else pp = &(*pp)->next;
    }
    for (;;) {
        int n = 0;
        cache_entry **lru = NULL;
        for (cache_entry **pp = &cache_head; *pp; pp = &(*pp)->next) {
            n++;
            if ((*pp)->refs == 0 && (!lru || (*pp)->used < (*lru)->used)) lru = pp;
        }
        if (n <= MODEL_CACHE_MAX || !lru) return;
        cache_entry *c = *lru;
        *lru = c->next;
        c->next = *freed;
        *freed = c;
    }
}

static void free_list(cache_entry *c) {
    while (c) {
        cache_entry *next = c->next;
        entry_free(c);
        c = next;
    }
}

model_ref *model_registry_acquire(app *a, int64_t id, err *e) {
    pthread_mutex_lock(&cache_lock);
    for (cache_entry *c = cache_head; c; c = c->next)
        if (c->ref.id == id && !c->dead) {
            c->refs++;
            c->used = ++cache_tick;
            pthread_mutex_unlock(&cache_lock);
            return &c->ref;
        }
    pthread_mutex_unlock(&cache_lock);

    /* Load outside the lock: a big model takes seconds, other models stay usable. */
    char ids[24], what[48];
    pathf(ids, sizeof ids, "%lld", (long long)id);
    pathf(what, sizeof what, "no model %lld", (long long)id);
    const char *p[] = {ids};
    json_t *dir = db_json(a, what, "SELECT to_json(dir)::text FROM models WHERE id = $1", 1, p, e);
    if (!dir) return NULL;
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%s", a->cfg.data_dir, json_string_value(dir) ? json_string_value(dir) : "");
    json_decref(dir);
    cache_entry *mine = calloc(1, sizeof *mine);
    if (!mine) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    mine->ref.id = id;
    if (model_manifest_load(path, &mine->ref.mf, e) || !(mine->ref.model = model_check_load(&mine->ref.mf, e))) {
        entry_free(mine);
        return NULL;
    }
    if (mine->ref.mf.kind == MODEL_KIND_TEACHER) {
        char eb[320];
        mine->ref.fast = shim_infer_load(mine->ref.mf.file_path, mine->ref.mf.method_forward, eb, sizeof eb);
        if (!mine->ref.fast) log_warn("model %lld runs unoptimised: %s", (long long)id, eb);
    }
    mine->refs = 1;
    cache_entry *freed = NULL;
    pthread_mutex_lock(&cache_lock);
    cache_entry *have = NULL;
    for (cache_entry *c = cache_head; c; c = c->next)
        if (c->ref.id == id && !c->dead) have = c;
    if (have) { /* another thread loaded it meanwhile: use theirs */
        have->refs++;
        have->used = ++cache_tick;
        mine->next = freed;
        freed = mine;
        mine = have;
    } else {
        mine->used = ++cache_tick;
        mine->next = cache_head;
        cache_head = mine;
    }
    cache_trim_locked(&freed);
    pthread_mutex_unlock(&cache_lock);
    free_list(freed);
    return &mine->ref;
}

int model_registry_manifest(app *a, int64_t id, model_manifest *mf, err *e) {
    memset(mf, 0, sizeof *mf);
    char ids[24], what[48];
    pathf(ids, sizeof ids, "%lld", (long long)id);
    pathf(what, sizeof what, "no model %lld", (long long)id);
    const char *p[] = {ids};
    json_t *dir = db_json(a, what, "SELECT to_json(dir)::text FROM models WHERE id = $1", 1, p, e);
    if (!dir) return -1;
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%s", a->cfg.data_dir, json_string_value(dir) ? json_string_value(dir) : "");
    json_decref(dir);
    return model_manifest_load(path, mf, e);
}

void model_registry_release(model_ref *m) {
    if (!m) return;
    cache_entry *c = (cache_entry *)m, *freed = NULL;
    pthread_mutex_lock(&cache_lock);
    c->refs--;
    cache_trim_locked(&freed);
    pthread_mutex_unlock(&cache_lock);
    free_list(freed);
}

static void cache_forget(int64_t id) {
    cache_entry *freed = NULL;
    pthread_mutex_lock(&cache_lock);
    for (cache_entry *c = cache_head; c; c = c->next)
        if (c->ref.id == id) c->dead = 1;
    cache_trim_locked(&freed);
    pthread_mutex_unlock(&cache_lock);
    free_list(freed);
}

int model_registry_delete(app *a, int64_t id, err *e) {
    char ids[24], what[48];
    pathf(ids, sizeof ids, "%lld", (long long)id);
    pathf(what, sizeof what, "no model %lld", (long long)id);
    const char *p[] = {ids};
    json_t *dir = db_json(a, what, "DELETE FROM models WHERE id = $1 RETURNING to_json(dir)::text", 1, p, e);
    if (!dir) return -1;
    const char *rel = json_string_value(dir);
    if (rel && !strncmp(rel, "models/", 7) && !strstr(rel, "..")) {
        char path[PATH_MAX];
        pathf(path, sizeof path, "%s/%s", a->cfg.data_dir, rel);
        remove_tree(path);
    }
    json_decref(dir);
    cache_forget(id);
    return 0;
}
