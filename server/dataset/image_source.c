/* image_source.c — tar / folder / idx iterators behind one image_source_next.
 *
 * Tar and folder members go through the same classifier (classify_path): given the
 * member's path split into components it decides ignore / skip-with-reason /
 * accept-with-split-and-class, and fixes the layout on the first image. Nothing is
 * ever written to disk, so "unsafe" tar names cannot escape anywhere; they are
 * still refused because a dataset that contains them is suspect and an admin should
 * see it in the report. The folder walker holds one open descriptor per level
 * (at most three: root, split, class) and opens every child relative to its parent
 * with O_NOFOLLOW, so a symlink swapped in after the listing is not followed either.
 */
#include "dataset/image_source.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset/idx.h"
#include "log.h"

#define NAME_MAX_LEN 255   /* split / class component                   */
#define MEMBER_MAX_LEN 4096
#define MAX_DEPTH 3        /* <split>/<class>/<file>                     */

const char *const image_source_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

typedef enum { SRC_TAR, SRC_DIR, SRC_IDX } src_kind;

typedef struct dir_level {
    int fd;
    char **names; /* (n) sorted */
    size_t n, i;
    char name[NAME_MAX_LEN + 1]; /* this folder's own name ("" for the root) */
} dir_level;

struct image_source {
    src_kind kind;
    image_layout layout;
    size_t max_member;
    /* skips */
    image_skip *skips; /* (n_listed) */
    size_t n_listed, n_skipped;
    /* the current item's storage */
    char split[NAME_MAX_LEN + 1];
    char class_name[NAME_MAX_LEN + 1];
    char member[MEMBER_MAX_LEN];
    uint8_t *buf;      /* (cap) member bytes or idx pixels */
    size_t cap;
    /* SRC_TAR */
    struct archive *ar;
    /* SRC_DIR */
    dir_level lv[MAX_DEPTH];
    int depth;         /* open levels; 0 = finished */
    /* SRC_IDX */
    idx_reader *images;
    idx_array labels;
    const char *const *class_names;
    size_t n_classes;
    size_t index;
    char idx_base[NAME_MAX_LEN + 1];
};

/* ---- common ---------------------------------------------------------------- */

static image_source *source_new(src_kind kind, err *e) {
    image_source *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->kind = kind;
    s->max_member = IMAGE_SOURCE_MAX_MEMBER;
    for (int i = 0; i < MAX_DEPTH; i++) s->lv[i].fd = -1;
    return s;
}

void image_source_set_max_member(image_source *s, size_t bytes) { s->max_member = bytes; }

image_layout image_source_layout(const image_source *s) { return s->layout; }

const image_skip *image_source_skips(const image_source *s, size_t *n_listed, size_t *n_total) {
    if (n_listed) *n_listed = s->n_listed;
    if (n_total) *n_total = s->n_skipped;
    return s->skips;
}

static void add_skip(image_source *s, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_skip(image_source *s, const char *member, const char *fmt, ...) {
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    s->n_skipped++;
    log_debug("import: skipped %s: %s", member, reason);
    if (s->n_listed >= IMAGE_SOURCE_MAX_SKIPS_LISTED) return;
    if (s->n_listed % 64 == 0) {
        image_skip *grown = realloc(s->skips, (s->n_listed + 64) * sizeof *grown);
        if (!grown) return; /* the count above still records it */
        s->skips = grown;
    }
    char *m = strdup(member), *r = strdup(reason);
    if (!m || !r) {
        free(m);
        free(r);
        return;
    }
    s->skips[s->n_listed++] = (image_skip){m, r};
}

static int ensure_cap(image_source *s, size_t n, err *e) {
    if (n <= s->cap) return 0;
    uint8_t *b = realloc(s->buf, n);
    if (!b) return err_set(e, ERR_INTERNAL, "out of memory (%zu bytes)", n);
    s->buf = b;
    s->cap = n;
    return 0;
}

static int is_ignored_name(const char *c) { return c[0] == '.' || strcmp(c, "__MACOSX") == 0; }

int image_source_is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0);
}

enum { CLS_IGNORE, CLS_SKIP, CLS_ACCEPT };

/* Decide what to do with a regular file at comps[0..n). On accept, fills
 * s->split / s->class_name. `member` is only used to name skips. */
static int classify_path(image_source *s, char **comps, int n, const char *member) {
    for (int i = 0; i < n; i++)
        if (is_ignored_name(comps[i])) return CLS_IGNORE;
    if (!image_source_is_image_name(comps[n - 1])) {
        add_skip(s, member, "not a .jpg or .png file");
        return CLS_SKIP;
    }
    if (n < 2) {
        add_skip(s, member, "not inside a class folder");
        return CLS_SKIP;
    }
    if (n > MAX_DEPTH) {
        add_skip(s, member, "nested too deeply (expected <split>/<class>/<file>.jpg or <class>/<file>.jpg)");
        return CLS_SKIP;
    }
    for (int i = 0; i < n - 1; i++)
        if (strlen(comps[i]) > NAME_MAX_LEN) {
            add_skip(s, member, "folder name too long");
            return CLS_SKIP;
        }
    image_layout want = n == 3 ? IMAGE_LAYOUT_SPLIT_CLASS : IMAGE_LAYOUT_CLASS;
    if (s->layout == IMAGE_LAYOUT_UNKNOWN) s->layout = want;
    if (s->layout != want) {
        add_skip(s, member, "does not match the layout of the first image (%s)",
                 s->layout == IMAGE_LAYOUT_SPLIT_CLASS ? "<split>/<class>/<file>.jpg" : "<class>/<file>.jpg");
        return CLS_SKIP;
    }
    snprintf(s->split, sizeof s->split, "%s", n == 3 ? comps[0] : "");
    snprintf(s->class_name, sizeof s->class_name, "%s", comps[n - 2]);
    return CLS_ACCEPT;
}

static void fill_file_item(image_source *s, image_item *it, size_t len) {
    memset(it, 0, sizeof *it);
    it->split = s->split;
    it->class_name = s->class_name;
    it->member_name = s->member;
    it->bytes = s->buf;
    it->len = len;
    it->label = -1;
}

/* ---- tar --------------------------------------------------------------------- */

image_source *image_source_open_tar(const char *path, err *e) {
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) err_set(e, ERR_NOT_FOUND, "%s: no such file", path);
        else err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(e, ERR_UNPROCESSABLE, "%s is not a file", path);
        return NULL;
    }
    image_source *s = source_new(SRC_TAR, e);
    if (!s) return NULL;
    s->ar = archive_read_new();
    if (!s->ar) {
        free(s);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    archive_read_support_format_tar(s->ar);
    archive_read_support_filter_gzip(s->ar); /* ARCHIVE_WARN if it needs the gzip program: fine */
    if (archive_read_open_filename(s->ar, path, 1 << 16) != ARCHIVE_OK) {
        /* libarchive reads ahead to recognise the format, so junk fails here
         * (with EILSEQ); system errors are the file's fault, not its format's. */
        int en = archive_errno(s->ar);
        if (en != EACCES && en != EPERM && en != EIO && en != ENOENT && en != EISDIR && en != ENOMEM)
            err_set(e, ERR_UNPROCESSABLE, "%s is not a tar archive: %s", path, archive_error_string(s->ar));
        else
            err_set(e, ERR_IO, "cannot open %s: %s", path, archive_error_string(s->ar));
        image_source_close(s);
        return NULL;
    }
    return s;
}

/* Split a relative tar path into components in `work` (modified), dropping "" and
 * ".". Returns the count; more than `max` components gives max + 1 (the caller
 * reports it as nested too deeply, so the exact count does not matter). */
static int split_tar_path(char *work, char **comps, int max) {
    int n = 0;
    for (char *save = NULL, *c = strtok_r(work, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0) continue;
        if (n == max) return max + 1;
        comps[n++] = c;
    }
    return n;
}

/* Absolute, or a ".." component anywhere ("..", "a/../b", "a/.."). */
static int tar_path_unsafe(const char *name) {
    if (name[0] == '/') return 1;
    for (const char *p = name; (p = strstr(p, "..")); p += 2)
        if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/')) return 1;
    return 0;
}

#define TAR_MAX_COMPS 32

static int tar_next(image_source *s, image_item *it, err *e) {
    struct archive_entry *ent;
    for (;;) {
        int r = archive_read_next_header(s->ar, &ent);
        if (r == ARCHIVE_EOF) return 0;
        if (r == ARCHIVE_RETRY) continue;
        if (r < ARCHIVE_WARN)
            return err_set(e, ERR_UNPROCESSABLE, "bad tar archive: %s", archive_error_string(s->ar));
        const char *name = archive_entry_pathname(ent);
        if (!name) name = archive_entry_pathname_utf8(ent);
        if (!name) {
            add_skip(s, "(unnamed)", "unreadable member name");
            continue;
        }
        if (strlen(name) >= MEMBER_MAX_LEN) {
            add_skip(s, "(long name)", "member name too long");
            continue;
        }
        mode_t type = archive_entry_filetype(ent);
        if (type == AE_IFDIR) continue;
        /* Links are refused even though nothing is extracted: a dataset archive has
         * no business containing them, and the admin should see that. */
        if (archive_entry_hardlink(ent) || type == AE_IFLNK || tar_path_unsafe(name)) {
            add_skip(s, name, "unsafe path in archive");
            continue;
        }
        char work[MEMBER_MAX_LEN], *comps[TAR_MAX_COMPS + 1];
        snprintf(work, sizeof work, "%s", name);
        int n = split_tar_path(work, comps, TAR_MAX_COMPS);
        if (n == 0) continue; /* "." or "./" */
        int hidden = 0;
        for (int i = 0; i < n && i < TAR_MAX_COMPS; i++) hidden |= is_ignored_name(comps[i]);
        if (hidden) continue;
        if (type != AE_IFREG) {
            add_skip(s, name, "not a regular file");
            continue;
        }
        if (n > TAR_MAX_COMPS) {
            add_skip(s, name, "nested too deeply (expected <split>/<class>/<file>.jpg or <class>/<file>.jpg)");
            continue;
        }
        if (classify_path(s, comps, n, name) != CLS_ACCEPT) continue;
        if (archive_entry_size_is_set(ent) && (uint64_t)archive_entry_size(ent) > s->max_member) {
            add_skip(s, name, "too large (%lld bytes, limit %zu)", (long long)archive_entry_size(ent), s->max_member);
            continue;
        }
        /* Read the member, never past the limit even if the header lied. */
        size_t got = 0, want = archive_entry_size_is_set(ent) ? (size_t)archive_entry_size(ent) : 1 << 16;
        if (ensure_cap(s, want + 1, e) < 0) return -1;
        int too_big = 0;
        for (;;) {
            if (got == s->cap) {
                if (got > s->max_member) {
                    too_big = 1;
                    break;
                }
                if (ensure_cap(s, s->cap * 2, e) < 0) return -1;
            }
            la_ssize_t k = archive_read_data(s->ar, s->buf + got, s->cap - got);
            if (k < 0)
                return err_set(e, ERR_UNPROCESSABLE, "bad tar archive at %s: %s", name, archive_error_string(s->ar));
            if (k == 0) break;
            got += (size_t)k;
        }
        if (too_big || got > s->max_member) {
            add_skip(s, name, "too large (limit %zu bytes)", s->max_member);
            continue;
        }
        /* Normalised name: the components joined ("./a//b.jpg" -> "a/b.jpg"). */
        s->member[0] = '\0';
        for (int i = 0; i < n; i++) {
            if (i) strcat(s->member, "/");
            strcat(s->member, comps[i]);
        }
        fill_file_item(s, it, got);
        return 1;
    }
}

/* ---- folder -------------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void level_close(dir_level *L) {
    if (L->fd >= 0) close(L->fd);
    for (size_t i = 0; i < L->n; i++) free(L->names[i]);
    free(L->names);
    memset(L, 0, sizeof *L);
    L->fd = -1;
}

/* Take ownership of fd and list its entries, sorted. */
static int level_open(dir_level *L, int fd, const char *name, const char *what, err *e) {
    memset(L, 0, sizeof *L);
    L->fd = fd;
    snprintf(L->name, sizeof L->name, "%s", name);
    int dfd = dup(fd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        if (dfd >= 0) close(dfd);
        level_close(L);
        return err_set(e, ERR_IO, "cannot list %s: %s", what, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (L->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **g = realloc(L->names, cap * sizeof *g);
            if (!g) {
                rc = err_set(e, ERR_INTERNAL, "out of memory listing %s", what);
                break;
            }
            L->names = g;
        }
        if (!(L->names[L->n] = strdup(de->d_name))) {
            rc = err_set(e, ERR_INTERNAL, "out of memory listing %s", what);
            break;
        }
        L->n++;
    }
    if (rc == 0 && errno) rc = err_set(e, ERR_IO, "cannot list %s: %s", what, strerror(errno));
    closedir(d);
    if (rc < 0) {
        level_close(L);
        return -1;
    }
    qsort(L->names, L->n, sizeof *L->names, cmp_names);
    return 0;
}

image_source *image_source_open_dir(const char *root, err *e) {
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) err_set(e, ERR_NOT_FOUND, "%s: no such folder", root);
        else err_set(e, ERR_IO, "cannot open folder %s: %s", root, strerror(errno));
        return NULL;
    }
    image_source *s = source_new(SRC_DIR, e);
    if (!s) {
        close(fd);
        return NULL;
    }
    if (level_open(&s->lv[0], fd, "", root, e) < 0) {
        free(s);
        return NULL;
    }
    s->depth = 1;
    return s;
}

/* Relative path of `name` inside the current level into s->member. */
static int dir_member(image_source *s, const char *name) {
    size_t off = 0;
    s->member[0] = '\0';
    for (int i = 1; i < s->depth; i++) {
        int k = snprintf(s->member + off, sizeof s->member - off, "%s/", s->lv[i].name);
        if (k < 0 || (size_t)k >= sizeof s->member - off) return -1;
        off += (size_t)k;
    }
    int k = snprintf(s->member + off, sizeof s->member - off, "%s", name);
    return k < 0 || (size_t)k >= sizeof s->member - off ? -1 : 0;
}

/* Read an opened regular file fully (size limit enforced as it reads). 1 = read,
 * 0 = skipped (too large), -1 = error. Consumes fd. */
static int read_member_fd(image_source *s, int fd, size_t size_hint, size_t *len, err *e) {
    if (ensure_cap(s, size_hint + 1, e) < 0) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    for (;;) {
        if (got == s->cap) {
            if (got > s->max_member) break;
            if (ensure_cap(s, s->cap * 2, e) < 0) {
                close(fd);
                return -1;
            }
        }
        ssize_t r = read(fd, s->buf + got, s->cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int en = errno;
            close(fd);
            return err_set(e, ERR_IO, "cannot read %s: %s", s->member, strerror(en));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got > s->max_member) {
        add_skip(s, s->member, "too large (limit %zu bytes)", s->max_member);
        return 0;
    }
    *len = got;
    return 1;
}

static int dir_next(image_source *s, image_item *it, err *e) {
    while (s->depth > 0) {
        dir_level *L = &s->lv[s->depth - 1];
        if (L->i == L->n) {
            level_close(L);
            s->depth--;
            continue;
        }
        const char *name = L->names[L->i++];
        if (is_ignored_name(name)) continue;
        if (dir_member(s, name) < 0) {
            add_skip(s, name, "path too long");
            continue;
        }
        struct stat st;
        if (fstatat(L->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            add_skip(s, s->member, "cannot stat: %s", strerror(errno));
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            add_skip(s, s->member, "symbolic link (not followed)");
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (s->depth >= MAX_DEPTH) {
                add_skip(s, s->member, "nested too deeply (expected <split>/<class>/<file>.jpg or <class>/<file>.jpg)");
                continue;
            }
            if (strlen(name) > NAME_MAX_LEN) {
                add_skip(s, s->member, "folder name too long");
                continue;
            }
            int fd = openat(L->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                add_skip(s, s->member, "cannot open folder: %s", strerror(errno));
                continue;
            }
            if (level_open(&s->lv[s->depth], fd, name, s->member, e) < 0) return -1;
            s->depth++;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            add_skip(s, s->member, "not a regular file");
            continue;
        }
        char *comps[MAX_DEPTH];
        int n = 0;
        for (int i = 1; i < s->depth; i++) comps[n++] = s->lv[i].name;
        comps[n++] = (char *)name;
        if (classify_path(s, comps, n, s->member) != CLS_ACCEPT) continue;
        if ((size_t)st.st_size > s->max_member) {
            add_skip(s, s->member, "too large (%lld bytes, limit %zu)", (long long)st.st_size, s->max_member);
            continue;
        }
        /* O_NONBLOCK: should a FIFO have been swapped in since fstatat, do not hang. */
        int fd = openat(L->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st2;
        if (fd < 0 || fstat(fd, &st2) < 0 || !S_ISREG(st2.st_mode)) {
            add_skip(s, s->member, "cannot open: %s", fd < 0 ? strerror(errno) : "changed while reading");
            if (fd >= 0) close(fd);
            continue;
        }
        size_t len = 0;
        int r = read_member_fd(s, fd, (size_t)st2.st_size, &len, e);
        if (r < 0) return -1;
        if (r == 0) continue;
        fill_file_item(s, it, len);
        return 1;
    }
    return 0;
}

/* ---- idx ---------------------------------------------------------------------- */

image_source *image_source_open_idx(const char *images_path, const char *labels_path, const char *split,
                                    const char *const *class_names, size_t n_classes, err *e) {
    image_source *s = source_new(SRC_IDX, e);
    if (!s) return NULL;
    s->layout = IMAGE_LAYOUT_SPLIT_CLASS;
    s->class_names = class_names;
    s->n_classes = class_names ? n_classes : 0;
    snprintf(s->split, sizeof s->split, "%s", split ? split : "");
    const char *base = strrchr(images_path, '/');
    snprintf(s->idx_base, sizeof s->idx_base, "%s", base ? base + 1 : images_path);
    if (idx_load(labels_path, &s->labels, e) < 0) goto fail;
    if (!(s->images = idx_open(images_path, e))) goto fail;
    const idx_array *h = idx_header(s->images);
    if (h->ndims != 3) {
        err_set(e, ERR_UNPROCESSABLE, "%s: images must have 3 dimensions (N, rows, cols), not %d", images_path,
                h->ndims);
        goto fail;
    }
    if (h->dims[1] > 16384 || h->dims[2] > 16384) {
        err_set(e, ERR_UNPROCESSABLE, "%s: images of %ux%u are too large", images_path, h->dims[2], h->dims[1]);
        goto fail;
    }
    if (s->labels.ndims != 1) {
        err_set(e, ERR_UNPROCESSABLE, "%s: labels must have 1 dimension, not %d", labels_path, s->labels.ndims);
        goto fail;
    }
    if (s->labels.dims[0] != h->dims[0]) {
        err_set(e, ERR_UNPROCESSABLE, "%u images but %u labels", h->dims[0], s->labels.dims[0]);
        goto fail;
    }
    if (ensure_cap(s, idx_record_size(s->images), e) < 0) goto fail;
    return s;
fail:
    image_source_close(s);
    return NULL;
}

static int idx_next_item(image_source *s, image_item *it, err *e) {
    const idx_array *h = idx_header(s->images);
    for (;;) {
        int r = idx_next(s->images, s->buf, e);
        if (r <= 0) return r;
        size_t i = s->index++;
        int label = s->labels.data[i];
        snprintf(s->member, sizeof s->member, "%s#%zu", s->idx_base, i);
        if (s->class_names) {
            if ((size_t)label >= s->n_classes) {
                add_skip(s, s->member, "label %d has no class name (%zu classes)", label, s->n_classes);
                continue;
            }
            snprintf(s->class_name, sizeof s->class_name, "%s", s->class_names[label]);
        } else {
            snprintf(s->class_name, sizeof s->class_name, "%d", label);
        }
        memset(it, 0, sizeof *it);
        it->split = s->split;
        it->class_name = s->class_name;
        it->member_name = s->member;
        it->pixels = s->buf;
        it->height = (int)h->dims[1];
        it->width = (int)h->dims[2];
        it->label = label;
        return 1;
    }
}

/* ---- dispatch ---------------------------------------------------------------- */

int image_source_next(image_source *s, image_item *item, err *e) {
    switch (s->kind) {
    case SRC_TAR: return tar_next(s, item, e);
    case SRC_DIR: return dir_next(s, item, e);
    case SRC_IDX: return idx_next_item(s, item, e);
    }
    return err_set(e, ERR_INTERNAL, "image_source: bad kind");
}

void image_source_close(image_source *s) {
    if (!s) return;
    if (s->ar) archive_read_free(s->ar);
    for (int i = 0; i < MAX_DEPTH; i++)
        if (s->lv[i].fd >= 0 || s->lv[i].names) level_close(&s->lv[i]);
    idx_close(s->images);
    idx_free(&s->labels);
    for (size_t i = 0; i < s->n_listed; i++) {
        free(s->skips[i].member);
        free(s->skips[i].reason);
    }
    free(s->skips);
    free(s->buf);
    free(s);
}
