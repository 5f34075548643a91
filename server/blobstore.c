/* blobstore.c — content-addressed, atomically written, checksum-verified files.
 *
 * The write protocol (temp file, full write, fsync, rename, fsync folder) is what
 * makes a blob either wholly present under its name or absent. Temporary files
 * start with ".tmp-" so the start-up sweep (data_sweep.c) can recognise leftovers of
 * a killed process. blobstore_put writes its temp file in the blob's own fan-out folder;
 * blobstore_put_file cannot know that folder until the whole file is hashed, so
 * its temp file lives in blobs/ (same file system, so the rename is still atomic).
 */
#include "blobstore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define CHUNK (1 << 16)
#define VERIFIED_SLOTS 64

typedef struct blob_paths {
    char top[PATH_MAX];   /* <data_dir>/blobs        */
    char fan[PATH_MAX];   /* <data_dir>/blobs/ab     */
    char final[PATH_MAX]; /* <data_dir>/blobs/ab/cd… */
} blob_paths;

int blobstore_valid_hex(const char *s) {
    if (!s) return 0;
    for (int i = 0; i < BLOBSTORE_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[BLOBSTORE_HEX_LEN] == '\0';
}

static void digest_hex(const unsigned char d[crypto_hash_sha256_BYTES], char out[BLOBSTORE_HEX_LEN + 1]) {
    sodium_bin2hex(out, BLOBSTORE_HEX_LEN + 1, d, crypto_hash_sha256_BYTES);
}

void blobstore_hash(const void *data, size_t len, char sha_hex[BLOBSTORE_HEX_LEN + 1]) {
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, data, len);
    digest_hex(d, sha_hex);
}

static int make_paths(const char *data_dir, const char *sha_hex, blob_paths *p, err *e) {
    if (!blobstore_valid_hex(sha_hex))
        return err_set(e, ERR_BAD_REQUEST, "invalid blob hash (want 64 lowercase hex digits)");
    if (!data_dir || !*data_dir) return err_set(e, ERR_INTERNAL, "blobstore: no data folder");
    int a = snprintf(p->top, sizeof p->top, "%s/blobs", data_dir);
    int b = snprintf(p->fan, sizeof p->fan, "%s/%.2s", p->top, sha_hex);
    int c = snprintf(p->final, sizeof p->final, "%s/%s", p->fan, sha_hex + 2);
    if (a < 0 || b < 0 || c < 0 || (size_t)c >= sizeof p->final)
        return err_set(e, ERR_INTERNAL, "blobstore: data folder path too long");
    return 0;
}

int blobstore_path(const char *data_dir, const char *sha_hex, char *buf, size_t len, err *e) {
    blob_paths p;
    if (make_paths(data_dir, sha_hex, &p, e) < 0) return -1;
    if (strlen(p.final) >= len) return err_set(e, ERR_INTERNAL, "blobstore_path: buffer too small");
    memcpy(buf, p.final, strlen(p.final) + 1);
    return 0;
}

static int fsync_dir(const char *dir, err *e) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return err_set(e, ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int en = errno;
    close(fd);
    if (rc < 0) return err_set(e, ERR_IO, "cannot sync %s: %s", dir, strerror(en));
    return 0;
}

/* mkdir that tolerates an existing folder and makes a new one's name durable. */
static int ensure_dir(const char *dir, const char *parent, err *e) {
    if (mkdir(dir, 0755) == 0) return parent ? fsync_dir(parent, e) : 0;
    if (errno != EEXIST) return err_set(e, ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) return err_set(e, ERR_IO, "%s is not a folder", dir);
    return 0;
}

static int ensure_dirs(const char *data_dir, const blob_paths *p, err *e) {
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", data_dir, strerror(errno));
    if (ensure_dir(p->top, data_dir, e) < 0) return -1;
    return ensure_dir(p->fan, p->top, e);
}

/* Regular file at path: its size in *size and 1; 0 when absent. */
static int file_present(const char *path, off_t *size) {
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) return 0;
    if (size) *size = st.st_size;
    return 1;
}

static int write_all(int fd, const uint8_t *p, size_t n, const char *what, err *e) {
    while (n > 0) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return err_set(e, ERR_IO, "cannot write %s: %s", what, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int make_temp(const char *dir, char *tmp, size_t tmplen, err *e) {
    int k = snprintf(tmp, tmplen, "%s/.tmp-XXXXXX", dir);
    if (k < 0 || (size_t)k >= tmplen) return err_set(e, ERR_INTERNAL, "blobstore: data folder path too long");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return err_set(e, ERR_IO, "cannot create a temporary file in %s: %s", dir, strerror(errno));
    return fd;
}

/* INFICOND_DATA_QUOTA_BYTES (a test/admin knob): the bytes of new blobs this process
 * may write before a write fails as if the disk were full. Lets the disk-full fault
 * test run where no small file system can be mounted. 0 or unset: no quota. */
static atomic_llong quota_used;

static int quota_take(off_t bytes, err *e) {
    const char *q = getenv("INFICOND_DATA_QUOTA_BYTES");
    long long limit = q ? atoll(q) : 0;
    if (limit <= 0) return 0;
    if (atomic_fetch_add(&quota_used, (long long)bytes) + (long long)bytes > limit) {
        atomic_fetch_sub(&quota_used, (long long)bytes);
        return err_set(e, ERR_IO, "cannot write blob: %s (INFICOND_DATA_QUOTA_BYTES=%lld reached)", strerror(ENOSPC),
                       limit);
    }
    return 0;
}

static int corrupt(const char *sha_hex, err *e);
static int hash_stream(int fd, int out_fd, const char *what, char sha_hex[BLOBSTORE_HEX_LEN + 1], err *e);

/* An existing file under a blob's name: 1 when its bytes hash to the name, 0 when
 * damaged (logged; the caller rewrites it, which heals it), -1 when unreadable. */
static int present_intact(const char *sha_hex, const char *path, err *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return err_set(e, ERR_IO, "cannot open blob %s: %s", sha_hex, strerror(errno));
    char h[BLOBSTORE_HEX_LEN + 1];
    int rc = hash_stream(fd, -1, "blob", h, e);
    close(fd);
    if (rc < 0) return -1;
    if (strcmp(h, sha_hex) == 0) return 1;
    (void)corrupt(sha_hex, NULL);
    log_warn("blobstore: rewriting damaged blob %s", sha_hex);
    return 0;
}

/* A blob found already stored is about to be named by a new row: mark it as used now,
 * so that gc (blob_gc.h), which removes only unreferenced blobs unchanged for a while,
 * keeps it. 1 when the name still holds it (marked, or unmarkable for a reason other
 * than being gone: logged), 0 when gc removed it meanwhile: store the bytes again. */
static int still_stored(const char *sha_hex, const char *path) {
    if (utimensat(AT_FDCWD, path, NULL, 0) == 0) return 1;
    if (errno == ENOENT) return 0;
    log_warn("blobstore: cannot mark blob %s as used: %s", sha_hex, strerror(errno));
    return 1;
}

/* fsync + chmod + close the temp file, rename it onto the blob's name, sync the
 * folder. Consumes fd; removes tmp on failure. */
static int commit_temp(int fd, const char *tmp, const blob_paths *p, err *e) {
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) < 0) rc = err_set(e, ERR_IO, "cannot stat blob: %s", strerror(errno));
    if (rc == 0) rc = quota_take(st.st_size, e);
    if (rc == 0 && fsync(fd) < 0) rc = err_set(e, ERR_IO, "cannot sync blob: %s", strerror(errno));
    /* mkstemp makes 0600; blobs are plain data other tools (backups) may read. */
    if (rc == 0 && fchmod(fd, 0644) < 0) rc = err_set(e, ERR_IO, "cannot chmod blob: %s", strerror(errno));
    if (close(fd) < 0 && rc == 0) rc = err_set(e, ERR_IO, "cannot write blob: %s", strerror(errno));
    if (rc == 0 && rename(tmp, p->final) < 0) rc = err_set(e, ERR_IO, "cannot rename blob into place: %s", strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        return -1;
    }
    return fsync_dir(p->fan, e);
}

int blobstore_put(const char *data_dir, const void *data, size_t len, char sha_hex[BLOBSTORE_HEX_LEN + 1], err *e) {
    blobstore_hash(data, len, sha_hex);
    blob_paths p;
    if (make_paths(data_dir, sha_hex, &p, e) < 0 || ensure_dirs(data_dir, &p, e) < 0) return -1;
    off_t have = 0;
    if (file_present(p.final, &have)) {
        /* Same name but other bytes (wrong size or checksum): a damaged copy.
         * Replacing it is safe and heals it. */
        if ((size_t)have != len)
            log_warn("blobstore: blob %s has %lld bytes instead of %zu, rewriting", sha_hex, (long long)have, len);
        else {
            int ok = present_intact(sha_hex, p.final, e);
            if (ok < 0) return -1;
            if (ok && still_stored(sha_hex, p.final)) return 0; /* already stored */
        }
    }
    char tmp[PATH_MAX];
    int fd = make_temp(p.fan, tmp, sizeof tmp, e);
    if (fd < 0) return -1;
    if (write_all(fd, data, len, "blob", e) < 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    return commit_temp(fd, tmp, &p, e);
}

/* Read fd to the end, hashing; when out_fd >= 0 also copy everything there. */
static int hash_stream(int fd, int out_fd, const char *what, char sha_hex[BLOBSTORE_HEX_LEN + 1], err *e) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    uint8_t *buf = malloc(CHUNK);
    if (!buf) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = err_set(e, ERR_IO, "cannot read %s: %s", what, strerror(errno));
            break;
        }
        if (r == 0) break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)r);
        if (out_fd >= 0 && (rc = write_all(out_fd, buf, (size_t)r, "blob", e)) < 0) break;
    }
    free(buf);
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, d);
    if (rc == 0) digest_hex(d, sha_hex);
    return rc;
}

/* Copy the rest of src_fd into a temp file under blobs/, hashing on the way, then
 * commit it under its hash (or drop it if the blob is already there). */
static int copy_in(const char *data_dir, int src_fd, const char *src_path, char sha_hex[BLOBSTORE_HEX_LEN + 1],
                   err *e) {
    blob_paths p;
    /* A placeholder hash gives us the top folder before the real hash is known. */
    static const char zero_hex[] = "0000000000000000000000000000000000000000000000000000000000000000";
    if (make_paths(data_dir, zero_hex, &p, e) < 0) return -1;
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", data_dir, strerror(errno));
    if (ensure_dir(p.top, data_dir, e) < 0) return -1;
    char tmp[PATH_MAX];
    int fd = make_temp(p.top, tmp, sizeof tmp, e);
    if (fd < 0) return -1;
    if (hash_stream(src_fd, fd, src_path, sha_hex, e) < 0 || make_paths(data_dir, sha_hex, &p, e) < 0 ||
        ensure_dir(p.fan, p.top, e) < 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    int ok = file_present(p.final, NULL) ? present_intact(sha_hex, p.final, e) : 0;
    if (ok > 0) ok = still_stored(sha_hex, p.final);
    if (ok) { /* already stored (1) or unreadable (-1) */
        close(fd);
        unlink(tmp);
        return ok < 0 ? -1 : 0;
    }
    return commit_temp(fd, tmp, &p, e);
}

int blobstore_put_file(const char *data_dir, const char *src_path, blobstore_mode mode,
                       char sha_hex[BLOBSTORE_HEX_LEN + 1], err *e) {
    int fd = open(src_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return err_set(e, ERR_NOT_FOUND, "%s: no such file", src_path);
        return err_set(e, ERR_IO, "cannot open %s: %s", src_path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, ERR_IO, "%s is not a regular file", src_path);
    }
    int rc;
    if (mode != BLOBSTORE_MOVE) {
        rc = copy_in(data_dir, fd, src_path, sha_hex, e);
        close(fd);
        return rc;
    }
    /* MOVE: hash in place, then rename the file itself into the store. */
    blob_paths p;
    rc = hash_stream(fd, -1, src_path, sha_hex, e);
    if (rc == 0) rc = make_paths(data_dir, sha_hex, &p, e);
    if (rc == 0) rc = ensure_dirs(data_dir, &p, e);
    int ok = rc == 0 && file_present(p.final, NULL) ? present_intact(sha_hex, p.final, e) : 0;
    if (ok > 0) ok = still_stored(sha_hex, p.final);
    if (ok < 0) rc = -1;
    if (ok > 0) {
        close(fd);
        unlink(src_path);
        return 0;
    }
    if (rc == 0) rc = quota_take(st.st_size, e);
    if (rc == 0 && fsync(fd) < 0) rc = err_set(e, ERR_IO, "cannot sync %s: %s", src_path, strerror(errno));
    if (rc == 0 && fchmod(fd, 0644) < 0) rc = err_set(e, ERR_IO, "cannot chmod %s: %s", src_path, strerror(errno));
    if (rc == 0) {
        if (rename(src_path, p.final) == 0) {
            close(fd);
            return fsync_dir(p.fan, e);
        }
        if (errno != EXDEV) {
            rc = err_set(e, ERR_IO, "cannot move %s into the blob store: %s", src_path, strerror(errno));
        } else if (lseek(fd, 0, SEEK_SET) < 0) {
            rc = err_set(e, ERR_IO, "cannot rewind %s: %s", src_path, strerror(errno));
        } else {
            /* Another file system: copy (re-hashing) and drop the source. */
            char again[BLOBSTORE_HEX_LEN + 1];
            rc = copy_in(data_dir, fd, src_path, again, e);
            if (rc == 0 && strcmp(again, sha_hex) != 0)
                rc = err_set(e, ERR_IO, "%s changed while it was being stored", src_path);
            if (rc == 0) unlink(src_path);
        }
    }
    close(fd);
    return rc;
}

int blobstore_exists(const char *data_dir, const char *sha_hex) {
    blob_paths p;
    if (make_paths(data_dir, sha_hex, &p, NULL) < 0) return 0;
    return file_present(p.final, NULL);
}

static int open_blob(const char *data_dir, const char *sha_hex, blob_paths *p, err *e) {
    if (make_paths(data_dir, sha_hex, p, e) < 0) return -1;
    int fd = open(p->final, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return err_set(e, ERR_NOT_FOUND, "blob %s not found", sha_hex);
        return err_set(e, ERR_IO, "cannot open blob %s: %s", sha_hex, strerror(errno));
    }
    return fd;
}

static int corrupt(const char *sha_hex, err *e) {
    log_error("blobstore: blob %s is corrupt (checksum mismatch)", sha_hex);
    return err_set(e, ERR_CORRUPT, "blob %s is corrupt (checksum mismatch)", sha_hex);
}

int blobstore_read(const char *data_dir, const char *sha_hex, uint8_t **buf, size_t *len, err *e) {
    *buf = NULL;
    *len = 0;
    blob_paths p;
    int fd = open_blob(data_dir, sha_hex, &p, e);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return err_set(e, ERR_IO, "cannot stat blob %s: %s", sha_hex, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        close(fd);
        return err_set(e, ERR_INTERNAL, "out of memory for blob %s (%zu bytes)", sha_hex, n);
    }
    size_t got = 0;
    int failed = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            failed = err_set(e, ERR_IO, "cannot read blob %s: %s", sha_hex, strerror(errno));
            break;
        }
        if (r == 0) break; /* shrank under us: the checksum below catches it */
        got += (size_t)r;
    }
    close(fd);
    if (failed) {
        free(b);
        return -1;
    }
    char h[BLOBSTORE_HEX_LEN + 1];
    blobstore_hash(b, got, h);
    if (strcmp(h, sha_hex) != 0) {
        free(b);
        return corrupt(sha_hex, e);
    }
    *buf = b;
    *len = got;
    return 0;
}

int blobstore_verify(const char *data_dir, const char *sha_hex, err *e) {
    blob_paths p;
    int fd = open_blob(data_dir, sha_hex, &p, e);
    if (fd < 0) return -1;
    char h[BLOBSTORE_HEX_LEN + 1];
    int rc = hash_stream(fd, -1, "blob", h, e);
    close(fd);
    if (rc < 0) return -1;
    return strcmp(h, sha_hex) == 0 ? 0 : corrupt(sha_hex, e);
}

/* Files this process verified, by identity: a file whose device, inode, size and
 * modification time are unchanged since then is not re-hashed. */
static pthread_mutex_t verified_lock = PTHREAD_MUTEX_INITIALIZER;
static struct verified {
    char sha[BLOBSTORE_HEX_LEN + 1];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} verified[VERIFIED_SLOTS];
static unsigned verified_next;

static int same_file(const struct verified *v, const char *sha_hex, const struct stat *st) {
    return !strcmp(v->sha, sha_hex) && v->dev == st->st_dev && v->ino == st->st_ino && v->size == st->st_size &&
           v->mtime.tv_sec == st->st_mtim.tv_sec && v->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int blobstore_verify_cached(const char *data_dir, const char *sha_hex, err *e) {
    blob_paths p;
    if (make_paths(data_dir, sha_hex, &p, e) < 0) return -1;
    struct stat st;
    if (stat(p.final, &st) < 0) {
        if (errno == ENOENT) return err_set(e, ERR_NOT_FOUND, "blob %s not found", sha_hex);
        return err_set(e, ERR_IO, "cannot stat blob %s: %s", sha_hex, strerror(errno));
    }
    pthread_mutex_lock(&verified_lock);
    int hit = 0;
    for (int i = 0; i < VERIFIED_SLOTS && !hit; i++) hit = same_file(&verified[i], sha_hex, &st);
    pthread_mutex_unlock(&verified_lock);
    if (hit) return 0;
    if (blobstore_verify(data_dir, sha_hex, e) < 0) return -1;
    pthread_mutex_lock(&verified_lock);
    struct verified *v = &verified[verified_next++ % VERIFIED_SLOTS];
    snprintf(v->sha, sizeof v->sha, "%s", sha_hex);
    v->dev = st.st_dev, v->ino = st.st_ino, v->size = st.st_size, v->mtime = st.st_mtim;
    pthread_mutex_unlock(&verified_lock);
    return 0;
}
