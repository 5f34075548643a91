/* idx.c — idx (MNIST-style) reader, plain or gzipped, whole or streamed.
 *
 * Everything funnels through one small byte source (`idx_src`) with three backings:
 * plain memory, gzipped memory (zlib inflate) and a file (zlib's gzFile, which reads
 * plain files transparently and detects gzip by magic). The header check and the
 * record reads are then written once. The payload size is known from the header
 * before anything is allocated, so the whole-file path allocates exactly once and
 * the streaming path only one record.
 */
#include "dataset/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_TYPE_UBYTE 0x08

typedef enum { SRC_MEM, SRC_MEM_GZ, SRC_FILE } src_kind;

typedef struct idx_src {
    src_kind kind;
    const char *name;       /* for messages: the path or "idx data"           */
    const uint8_t *mem;     /* SRC_MEM, SRC_MEM_GZ                            */
    size_t len, pos;
    z_stream zs;            /* SRC_MEM_GZ                                     */
    int zs_ready, zs_end;   /* inflate initialised / input fully consumed     */
    gzFile gz;              /* SRC_FILE                                       */
} idx_src;

struct idx_reader {
    idx_src src;
    idx_array hdr;          /* data stays NULL                                */
    size_t record;          /* bytes per record                               */
    uint32_t next;          /* index of the next record                       */
    char path[4096];
};

static int gz_is_magic(const uint8_t *p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

/* Read up to n bytes; returns the count (short only at end of data) or -1. */
static long long src_read(idx_src *s, uint8_t *buf, size_t n, err *e) {
    size_t got = 0;
    switch (s->kind) {
    case SRC_MEM: {
        size_t left = s->len - s->pos;
        got = n < left ? n : left;
        memcpy(buf, s->mem + s->pos, got);
        s->pos += got;
        return (long long)got;
    }
    case SRC_MEM_GZ:
        while (got < n && !s->zs_end) {
            /* avail_out is a uInt: feed at most 1 GiB per call. */
            size_t want = n - got;
            if (want > (1u << 30)) want = 1u << 30;
            s->zs.next_out = buf + got;
            s->zs.avail_out = (uInt)want;
            int rc = inflate(&s->zs, Z_NO_FLUSH);
            got += want - s->zs.avail_out;
            if (rc == Z_STREAM_END) {
                /* Concatenated gzip members are legal (gzip -c a b); go on if more. */
                if (s->zs.avail_in == 0) s->zs_end = 1;
                else if (inflateReset(&s->zs) != Z_OK)
                    return err_set(e, ERR_UNPROCESSABLE, "%s: gzip stream error", s->name);
            } else if (rc == Z_BUF_ERROR && s->zs.avail_in == 0) {
                return err_set(e, ERR_UNPROCESSABLE, "%s: truncated gzip data", s->name);
            } else if (rc != Z_OK) {
                return err_set(e, ERR_UNPROCESSABLE, "%s: corrupt gzip data (%s)", s->name,
                               s->zs.msg ? s->zs.msg : "inflate failed");
            }
        }
        return (long long)got;
    case SRC_FILE:
        while (got < n) {
            size_t want = n - got;
            if (want > (1u << 30)) want = 1u << 30;
            int r = gzread(s->gz, buf + got, (unsigned)want);
            if (r < 0) break;
            got += (size_t)r;
            if ((size_t)r < want) break;
        }
        {
            int zerr = Z_OK;
            const char *msg = gzerror(s->gz, &zerr);
            if (zerr == Z_BUF_ERROR)
                return err_set(e, ERR_UNPROCESSABLE, "%s: truncated gzip data", s->name);
            if (zerr == Z_ERRNO)
                return err_set(e, ERR_IO, "%s: read failed: %s", s->name, strerror(errno));
            if (zerr != Z_OK)
                return err_set(e, ERR_UNPROCESSABLE, "%s: corrupt gzip data (%s)", s->name, msg);
        }
        return (long long)got;
    }
    return err_set(e, ERR_INTERNAL, "idx: bad source kind");
}

/* 0 when the source is exhausted, -1 (error set) when anything is left. */
static int src_expect_end(idx_src *s, err *e) {
    uint8_t extra;
    long long r = src_read(s, &extra, 1, e);
    if (r < 0) return -1;
    if (r > 0) return err_set(e, ERR_UNPROCESSABLE, "%s: trailing data after the last element", s->name);
    return 0;
}

static void src_close(idx_src *s) {
    if (s->kind == SRC_MEM_GZ && s->zs_ready) inflateEnd(&s->zs);
    if (s->kind == SRC_FILE && s->gz) gzclose(s->gz);
    s->zs_ready = 0;
    s->gz = NULL;
}

static int src_init_mem(idx_src *s, const uint8_t *buf, size_t len, err *e) {
    memset(s, 0, sizeof *s);
    s->name = "idx data";
    s->mem = buf;
    s->len = len;
    if (!gz_is_magic(buf, len)) {
        s->kind = SRC_MEM;
        return 0;
    }
    s->kind = SRC_MEM_GZ;
    if (len > UINT_MAX) return err_set(e, ERR_TOO_LARGE, "idx data: gzip input too large");
    if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK)
        return err_set(e, ERR_INTERNAL, "idx data: inflateInit failed");
    s->zs_ready = 1;
    s->zs.next_in = (Bytef *)buf; /* zlib does not write through next_in */
    s->zs.avail_in = (uInt)len;
    return 0;
}

/* Read and validate the header into *h (count set, data NULL). */
static int read_header(idx_src *s, idx_array *h, err *e) {
    uint8_t m[4];
    memset(h, 0, sizeof *h);
    long long r = src_read(s, m, 4, e);
    if (r < 0) return -1;
    if (r < 4) return err_set(e, ERR_UNPROCESSABLE, "%s: truncated header (%lld bytes)", s->name, r);
    if (m[0] != 0 || m[1] != 0)
        return err_set(e, ERR_UNPROCESSABLE, "%s: bad magic %02x %02x (not an idx file)", s->name, m[0], m[1]);
    if (m[2] != IDX_TYPE_UBYTE)
        return err_set(e, ERR_UNPROCESSABLE,
                       "%s: unsupported element type 0x%02x (only unsigned bytes, 0x08)", s->name, m[2]);
    if (m[3] < 1 || m[3] > 4)
        return err_set(e, ERR_UNPROCESSABLE, "%s: %d dimensions (1 to 4 supported)", s->name, m[3]);
    uint8_t d[16];
    size_t dn = 4u * m[3];
    r = src_read(s, d, dn, e);
    if (r < 0) return -1;
    if ((size_t)r < dn) return err_set(e, ERR_UNPROCESSABLE, "%s: truncated header (dimensions)", s->name);
    h->ndims = m[3];
    size_t count = 1;
    for (int i = 0; i < h->ndims; i++) {
        uint32_t v = (uint32_t)d[4 * i] << 24 | (uint32_t)d[4 * i + 1] << 16 | (uint32_t)d[4 * i + 2] << 8 | d[4 * i + 3];
        if (v == 0) return err_set(e, ERR_UNPROCESSABLE, "%s: dimension %d is zero", s->name, i);
        h->dims[i] = v;
        /* count <= 1 GiB and v < 2^32, so the product fits in 64 bits before the check. */
        count *= v;
        if (count > IDX_MAX_BYTES)
            return err_set(e, ERR_UNPROCESSABLE, "%s: payload larger than the %zu-byte limit", s->name,
                           IDX_MAX_BYTES);
    }
    h->count = count;
    return 0;
}

/* Header + whole payload + end check. */
static int read_all(idx_src *s, idx_array *out, err *e) {
    idx_array a;
    if (read_header(s, &a, e) < 0) return -1;
    a.data = malloc(a.count);
    if (!a.data) return err_set(e, ERR_INTERNAL, "%s: out of memory (%zu bytes)", s->name, a.count);
    long long r = src_read(s, a.data, a.count, e);
    if (r >= 0 && (size_t)r < a.count)
        err_set(e, ERR_UNPROCESSABLE, "%s: truncated: header promises %zu data bytes, found %lld", s->name,
                a.count, r);
    if (r < 0 || (size_t)r < a.count || src_expect_end(s, e) < 0) {
        free(a.data);
        return -1;
    }
    *out = a;
    return 0;
}

static int open_file(idx_src *s, const char *path, err *e) {
    memset(s, 0, sizeof *s);
    s->kind = SRC_FILE;
    s->name = path;
    errno = 0;
    s->gz = gzopen(path, "rb");
    if (!s->gz) {
        int en = errno;
        if (en == ENOENT) return err_set(e, ERR_NOT_FOUND, "%s: no such file", path);
        return err_set(e, ERR_IO, "%s: cannot open: %s", path, en ? strerror(en) : "out of memory");
    }
    gzbuffer(s->gz, 1 << 17);
    return 0;
}

int idx_load(const char *path, idx_array *out, err *e) {
    memset(out, 0, sizeof *out);
    idx_src s;
    if (open_file(&s, path, e) < 0) return -1;
    int rc = read_all(&s, out, e);
    src_close(&s);
    return rc;
}

int idx_parse(const uint8_t *buf, size_t len, idx_array *out, err *e) {
    memset(out, 0, sizeof *out);
    idx_src s;
    int rc = src_init_mem(&s, buf, len, e);
    if (rc == 0) rc = read_all(&s, out, e);
    src_close(&s);
    return rc;
}

void idx_free(idx_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

idx_reader *idx_open(const char *path, err *e) {
    idx_reader *r = calloc(1, sizeof *r);
    if (!r) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    /* Keep our own copy: the source's messages point at it. */
    snprintf(r->path, sizeof r->path, "%s", path);
    if (open_file(&r->src, r->path, e) < 0 || read_header(&r->src, &r->hdr, e) < 0) {
        idx_close(r);
        return NULL;
    }
    r->record = r->hdr.count / r->hdr.dims[0];
    return r;
}

const idx_array *idx_header(const idx_reader *r) { return &r->hdr; }

size_t idx_record_size(const idx_reader *r) { return r->record; }

int idx_next(idx_reader *r, uint8_t *rec, err *e) {
    if (r->next == r->hdr.dims[0]) return src_expect_end(&r->src, e) < 0 ? -1 : 0;
    long long got = src_read(&r->src, rec, r->record, e);
    if (got < 0) return -1;
    if ((size_t)got < r->record)
        return err_set(e, ERR_UNPROCESSABLE, "%s: truncated: record %u of %u is incomplete", r->path, r->next,
                       r->hdr.dims[0]);
    r->next++;
    return 1;
}

void idx_close(idx_reader *r) {
    if (!r) return;
    src_close(&r->src);
    free(r);
}
