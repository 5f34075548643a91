/* segment_store.c — build, serialise, store, load and validate a chunk's segments
 * (format in segment_store.h). One writer routine feeds either a memory buffer or a
 * temporary file, so the bytes stored and the bytes serialised are the same by
 * construction.
 */
#include "extraction/segment_store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "segment_store assumes a little-endian host");

#define SEG_ALIGN 64
#define SEG_MAX_DIM 65536
#define SEG_MAX_GRID 65536

static size_t seg_align(size_t x) { return (x + SEG_ALIGN - 1) / SEG_ALIGN * SEG_ALIGN; }

/* Section offsets for given sizes; 0 on overflow. */
typedef struct seg_layout {
    size_t off_offsets, off_emb, off_masks, total;
} seg_layout;

static int seg_layout_of(segment_store_kind kind, size_t n, size_t dim, size_t hw, size_t s_total,
                         seg_layout *l) {
    size_t a, b;
    l->off_offsets = SEGMENT_STORE_HEADER;
    if (__builtin_mul_overflow(n + 1, sizeof(uint64_t), &a)) return -1;
    l->off_emb = seg_align(l->off_offsets + a);
    if (__builtin_mul_overflow(s_total, dim, &a) || __builtin_mul_overflow(a, sizeof(float), &b)) return -1;
    if (__builtin_add_overflow(l->off_emb, b, &a)) return -1;
    l->off_masks = seg_align(a);
    if (kind == SEGMENT_STORE_LABELS) {
        if (__builtin_mul_overflow(n, hw, &a)) return -1;
    } else {
        if (__builtin_mul_overflow(s_total, 4 * sizeof(float), &a)) return -1;
    }
    if (__builtin_add_overflow(l->off_masks, a, &l->total)) return -1;
    return 0;
}

void segment_store_free(segment_store *st) {
    if (!st) return;
    if (st->blob) {
        free(st->blob);
    } else {
        free(st->offsets);
        free(st->emb);
        free(st->labels);
        free(st->boxes);
    }
    memset(st, 0, sizeof *st);
}

int segment_store_init(segment_store *st, segment_store_kind kind, int dim, int h, int w, err *e) {
    memset(st, 0, sizeof *st);
    if (kind != SEGMENT_STORE_LABELS && kind != SEGMENT_STORE_BOXES)
        return err_set(e, ERR_BAD_REQUEST, "segment store: unknown kind %d", (int)kind);
    if (dim < 1 || dim > SEG_MAX_DIM) return err_set(e, ERR_BAD_REQUEST, "segment store: bad dim %d", dim);
    if (kind == SEGMENT_STORE_LABELS && (h < 1 || w < 1 || (long)h * w > SEG_MAX_GRID))
        return err_set(e, ERR_BAD_REQUEST, "segment store: bad grid %dx%d", h, w);
    st->kind = kind;
    st->dim = dim;
    st->h = kind == SEGMENT_STORE_LABELS ? h : 0;
    st->w = kind == SEGMENT_STORE_LABELS ? w : 0;
    st->offsets = calloc(1, sizeof *st->offsets); // (n + 1)
    if (!st->offsets) return err_set(e, ERR_INTERNAL, "segment store: out of memory");
    return 0;
}

/* Room for one more image with k segments. */
static int seg_reserve(segment_store *st, int k, err *e) {
    if (st->blob) return err_set(e, ERR_BAD_REQUEST, "segment store: a loaded store is read-only");
    if (st->n >= INT32_MAX - 1) return err_set(e, ERR_TOO_LARGE, "segment store: too many images");
    size_t hw = (size_t)st->h * st->w;
    if ((size_t)st->n + 1 > st->cap_images) {
        size_t cap = st->cap_images ? st->cap_images * 2 : 64;
        uint64_t *o = realloc(st->offsets, (cap + 1) * sizeof *o);
        if (!o) return err_set(e, ERR_INTERNAL, "segment store: out of memory");
        st->offsets = o;
        if (st->kind == SEGMENT_STORE_LABELS) {
            uint8_t *l = realloc(st->labels, cap * hw);
            if (!l) return err_set(e, ERR_INTERNAL, "segment store: out of memory");
            st->labels = l;
        }
        st->cap_images = cap;
    }
    if (st->s_total + (size_t)k > st->cap_segments) {
        size_t cap = st->cap_segments ? st->cap_segments : 256;
        while (cap < st->s_total + (size_t)k) cap *= 2;
        float *m = realloc(st->emb, cap * (size_t)st->dim * sizeof *m);
        if (!m) return err_set(e, ERR_INTERNAL, "segment store: out of memory");
        st->emb = m;
        if (st->kind == SEGMENT_STORE_BOXES) {
            float *b = realloc(st->boxes, cap * 4 * sizeof *b);
            if (!b) return err_set(e, ERR_INTERNAL, "segment store: out of memory");
            st->boxes = b;
        }
        st->cap_segments = cap;
    }
    return 0;
}

static int seg_check_emb(const float *emb, size_t count, err *e) {
    for (size_t i = 0; i < count; i++)
        if (!isfinite(emb[i])) return err_set(e, ERR_UNPROCESSABLE, "segment store: non-finite embedding");
    return 0;
}

int segment_store_add_labels(segment_store *st, int k, const float *emb, const uint8_t *labels, err *e) {
    if (!st || st->kind != SEGMENT_STORE_LABELS)
        return err_set(e, ERR_BAD_REQUEST, "segment store: not a label-map store");
    if (k < 0 || k > 255 || (k > 0 && !emb) || !labels)
        return err_set(e, ERR_BAD_REQUEST, "segment store: bad segment count %d", k);
    size_t hw = (size_t)st->h * st->w;
    for (size_t i = 0; i < hw; i++)
        if (labels[i] >= (k > 0 ? k : 1))
            return err_set(e, ERR_BAD_REQUEST, "segment store: label %d out of range (k = %d)", labels[i], k);
    if (seg_check_emb(emb, (size_t)k * st->dim, e) < 0) return -1;
    if (seg_reserve(st, k, e) < 0) return -1;
    /* k == 0 (an image that failed) passes emb == NULL: memcpy must not see it. */
    if (k > 0) memcpy(st->emb + st->s_total * st->dim, emb, (size_t)k * st->dim * sizeof *emb);
    memcpy(st->labels + (size_t)st->n * hw, labels, hw);
    st->s_total += (size_t)k;
    st->n++;
    st->offsets[st->n] = st->s_total;
    return 0;
}

int segment_store_add_boxes(segment_store *st, int k, const float *emb, const segment_box *boxes, err *e) {
    if (!st || st->kind != SEGMENT_STORE_BOXES) return err_set(e, ERR_BAD_REQUEST, "segment store: not a box store");
    if (k < 0 || k > 65535 || (k > 0 && (!emb || !boxes)))
        return err_set(e, ERR_BAD_REQUEST, "segment store: bad segment count %d", k);
    for (int i = 0; i < k; i++) {
        const segment_box *b = &boxes[i];
        if (!(b->x0 >= 0.0f && b->y0 >= 0.0f && b->x1 <= 1.0f && b->y1 <= 1.0f && b->x0 < b->x1 && b->y0 < b->y1))
            return err_set(e, ERR_BAD_REQUEST, "segment store: bad box %d", i);
    }
    if (seg_check_emb(emb, (size_t)k * st->dim, e) < 0) return -1;
    if (seg_reserve(st, k, e) < 0) return -1;
    if (k > 0) memcpy(st->emb + st->s_total * st->dim, emb, (size_t)k * st->dim * sizeof *emb);
    for (int i = 0; i < k; i++) {
        float *dst = st->boxes + (st->s_total + (size_t)i) * 4; // (4)
        dst[0] = boxes[i].x0;
        dst[1] = boxes[i].y0;
        dst[2] = boxes[i].x1;
        dst[3] = boxes[i].y1;
    }
    st->s_total += (size_t)k;
    st->n++;
    st->offsets[st->n] = st->s_total;
    return 0;
}

int segment_store_add_result(segment_store *st, const segments_result *r, err *e) {
    if (!st || !r) return err_set(e, ERR_BAD_REQUEST, "segment store: no result");
    if (r->dim != st->dim || r->h != st->h || r->w != st->w)
        return err_set(e, ERR_BAD_REQUEST, "segment store: result is %dx%dx%d, store is %dx%dx%d", r->dim,
                       r->h, r->w, st->dim, st->h, st->w);
    return segment_store_add_labels(st, r->k, r->emb, r->labels, e);
}

const float *segment_store_image(const segment_store *st, int i, int *count) {
    if (!st || i < 0 || i >= st->n) {
        if (count) *count = 0;
        return NULL;
    }
    if (count) *count = (int)(st->offsets[i + 1] - st->offsets[i]);
    return st->emb + st->offsets[i] * (size_t)st->dim;
}

size_t segment_store_size(const segment_store *st) {
    seg_layout l;
    if (seg_layout_of(st->kind, (size_t)st->n, (size_t)st->dim, (size_t)st->h * st->w, st->s_total, &l) < 0)
        return 0;
    return l.total;
}

/* ---- writing ------------------------------------------------------------------ */

typedef int (*seg_sink)(void *ctx, const void *data, size_t len);

static int seg_write(const segment_store *st, seg_sink sink, void *ctx) {
    seg_layout l;
    if (seg_layout_of(st->kind, (size_t)st->n, (size_t)st->dim, (size_t)st->h * st->w, st->s_total, &l) < 0)
        return -1;
    uint8_t hdr[SEGMENT_STORE_HEADER] = {0};
    uint32_t u32[6] = {SEGMENT_STORE_VERSION, (uint32_t)st->kind, (uint32_t)st->n, (uint32_t)st->dim,
                       (uint32_t)st->h, (uint32_t)st->w};
    uint64_t s64 = st->s_total;
    memcpy(hdr, SEGMENT_STORE_MAGIC, 8);
    memcpy(hdr + 8, u32, sizeof u32);
    memcpy(hdr + 32, &s64, sizeof s64);
    static const uint8_t zeros[SEG_ALIGN] = {0};
    size_t pos = 0;
    if (sink(ctx, hdr, sizeof hdr) < 0) return -1;
    pos += sizeof hdr;
    if (sink(ctx, st->offsets, ((size_t)st->n + 1) * sizeof(uint64_t)) < 0) return -1;
    pos += ((size_t)st->n + 1) * sizeof(uint64_t);
    if (sink(ctx, zeros, l.off_emb - pos) < 0) return -1;
    pos = l.off_emb;
    size_t emb_bytes = st->s_total * (size_t)st->dim * sizeof(float);
    if (emb_bytes && sink(ctx, st->emb, emb_bytes) < 0) return -1;
    pos += emb_bytes;
    if (sink(ctx, zeros, l.off_masks - pos) < 0) return -1;
    size_t mask_bytes = st->kind == SEGMENT_STORE_LABELS ? (size_t)st->n * st->h * st->w
                                                         : st->s_total * 4 * sizeof(float);
    const void *masks = st->kind == SEGMENT_STORE_LABELS ? (const void *)st->labels : (const void *)st->boxes;
    if (mask_bytes && sink(ctx, masks, mask_bytes) < 0) return -1;
    return 0;
}

typedef struct seg_membuf {
    uint8_t *p;
    size_t len, cap;
} seg_membuf;

static int seg_sink_mem(void *ctx, const void *data, size_t len) {
    seg_membuf *m = ctx;
    if (m->len + len > m->cap) return -1;
    if (len) memcpy(m->p + m->len, data, len);
    m->len += len;
    return 0;
}

static int seg_sink_file(void *ctx, const void *data, size_t len) {
    return len == 0 || fwrite(data, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

int segment_store_serialize(const segment_store *st, uint8_t **buf, size_t *len, err *e) {
    *buf = NULL;
    *len = 0;
    if (!st || !st->offsets) return err_set(e, ERR_BAD_REQUEST, "segment store: not initialised");
    size_t total = segment_store_size(st);
    if (!total) return err_set(e, ERR_TOO_LARGE, "segment store: too large");
    seg_membuf m = {malloc(total), 0, total};
    if (!m.p) return err_set(e, ERR_INTERNAL, "segment store: out of memory");
    if (seg_write(st, seg_sink_mem, &m) < 0 || m.len != total) {
        free(m.p);
        return err_set(e, ERR_INTERNAL, "segment store: serialisation size mismatch");
    }
    *buf = m.p;
    *len = total;
    return 0;
}

int segment_store_put(const segment_store *st, const char *data_dir, char sha_hex[BLOBSTORE_HEX_LEN + 1],
                      err *e) {
    if (!st || !st->offsets) return err_set(e, ERR_BAD_REQUEST, "segment store: not initialised");
    if (!data_dir || !*data_dir) return err_set(e, ERR_INTERNAL, "segment store: no data folder");
    char dir[4096], tmp[4200];
    if (snprintf(dir, sizeof dir, "%s/blobs", data_dir) >= (int)sizeof dir)
        return err_set(e, ERR_INTERNAL, "segment store: data folder path too long");
    if (mkdir(data_dir, 0755) < 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", data_dir, strerror(errno));
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s/.tmp-segments-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) return err_set(e, ERR_IO, "cannot create a temporary file in %s: %s", dir, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return err_set(e, ERR_IO, "cannot open %s: %s", tmp, strerror(errno));
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    int rc = seg_write(st, seg_sink_file, f);
    int saved = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc < 0) {
        unlink(tmp);
        return err_set(e, ERR_IO, "cannot write segments to %s: %s", tmp, strerror(saved));
    }
    if (blobstore_put_file(data_dir, tmp, BLOBSTORE_MOVE, sha_hex, e) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------ */

static int seg_corrupt(uint8_t *buf, err *e, const char *why) {
    free(buf);
    return err_set(e, ERR_IO, "segment store blob is corrupt: %s", why);
}

int segment_store_parse(segment_store *st, uint8_t *buf, size_t len, err *e) {
    memset(st, 0, sizeof *st);
    if (!buf) return err_set(e, ERR_BAD_REQUEST, "segment store: no buffer");
    if (((uintptr_t)buf & 7) != 0) return seg_corrupt(buf, e, "misaligned buffer");
    if (len < SEGMENT_STORE_HEADER || memcmp(buf, SEGMENT_STORE_MAGIC, 8) != 0)
        return seg_corrupt(buf, e, "bad magic");
    uint32_t u32[6];
    uint64_t s_total;
    memcpy(u32, buf + 8, sizeof u32);
    memcpy(&s_total, buf + 32, sizeof s_total);
    if (u32[0] != SEGMENT_STORE_VERSION) return seg_corrupt(buf, e, "unsupported version");
    for (int i = 40; i < SEGMENT_STORE_HEADER; i++)
        if (buf[i]) return seg_corrupt(buf, e, "reserved header bytes set");
    segment_store_kind kind = (segment_store_kind)u32[1];
    uint32_t n = u32[2], dim = u32[3], h = u32[4], w = u32[5];
    if (kind != SEGMENT_STORE_LABELS && kind != SEGMENT_STORE_BOXES) return seg_corrupt(buf, e, "unknown kind");
    if (n > INT32_MAX - 1 || dim < 1 || dim > SEG_MAX_DIM) return seg_corrupt(buf, e, "bad sizes");
    if (kind == SEGMENT_STORE_LABELS && (h < 1 || w < 1 || (uint64_t)h * w > SEG_MAX_GRID))
        return seg_corrupt(buf, e, "bad grid");
    if (kind == SEGMENT_STORE_BOXES && (h != 0 || w != 0)) return seg_corrupt(buf, e, "bad grid");
    seg_layout l;
    if (s_total > SIZE_MAX / 4 || seg_layout_of(kind, n, dim, (size_t)h * w, (size_t)s_total, &l) < 0 ||
        l.total != len)
        return seg_corrupt(buf, e, "size does not match header");
    const uint64_t *off = (const uint64_t *)(buf + l.off_offsets); // (n + 1)
    if (off[0] != 0 || off[n] != s_total) return seg_corrupt(buf, e, "bad offsets");
    for (uint32_t i = 0; i < n; i++) {
        if (off[i + 1] < off[i]) return seg_corrupt(buf, e, "offsets not increasing");
        if (kind == SEGMENT_STORE_LABELS && off[i + 1] - off[i] > 255)
            return seg_corrupt(buf, e, "too many segments in an image");
    }
    const float *emb = (const float *)(buf + l.off_emb); // (s_total, dim)
    for (size_t i = 0; i < (size_t)s_total * dim; i++)
        if (!isfinite(emb[i])) return seg_corrupt(buf, e, "non-finite embedding");
    if (kind == SEGMENT_STORE_LABELS) {
        const uint8_t *lab = buf + l.off_masks; // (n, h*w)
        size_t hw = (size_t)h * w;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t k = off[i + 1] - off[i];
            if (k == 0) k = 1;
            for (size_t j = 0; j < hw; j++)
                if (lab[(size_t)i * hw + j] >= k) return seg_corrupt(buf, e, "label out of range");
        }
    } else {
        const float *bx = (const float *)(buf + l.off_masks); // (s_total, 4)
        for (size_t i = 0; i < (size_t)s_total; i++) {
            const float *b = bx + i * 4;
            if (!(b[0] >= 0.0f && b[1] >= 0.0f && b[2] <= 1.0f && b[3] <= 1.0f && b[0] < b[2] && b[1] < b[3]))
                return seg_corrupt(buf, e, "bad box");
        }
    }
    st->kind = kind;
    st->n = (int)n;
    st->dim = (int)dim;
    st->h = (int)h;
    st->w = (int)w;
    st->s_total = (size_t)s_total;
    st->offsets = (uint64_t *)(buf + l.off_offsets);
    st->emb = (float *)(buf + l.off_emb);
    st->labels = kind == SEGMENT_STORE_LABELS ? buf + l.off_masks : NULL;
    st->boxes = kind == SEGMENT_STORE_BOXES ? (float *)(buf + l.off_masks) : NULL;
    st->cap_images = n;
    st->cap_segments = (size_t)s_total;
    st->blob = buf;
    return 0;
}

int segment_store_load(segment_store *st, const char *data_dir, const char *sha_hex, err *e) {
    memset(st, 0, sizeof *st);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (blobstore_read(data_dir, sha_hex, &buf, &len, e) < 0) return -1;
    return segment_store_parse(st, buf, len, e);
}
