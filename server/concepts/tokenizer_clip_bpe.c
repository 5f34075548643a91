/* tokenizer_clip_bpe.c — CLIP's BPE merge table: the vocab file read into a hash
 * from (left id, right id) to rank, the process-wide cache of loaded tables, and the
 * merges of one piece (clip_bpe_piece, tokenizer_clip_bpe.h).
 *
 * Symbols are vocab ids throughout: a merge of rank r makes the symbol with id
 * 512 + r, so the merge table is one hash from (left id, right id) to rank, and
 * the strings are only needed while loading.
 */
#include "concepts/tokenizer_clip_bpe.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>
#include <zlib.h>

#include "log.h"

#define CLIP_N_MERGES 48894
#define CLIP_MERGE_BASE 512 /* 256 byte symbols + the same with </w> */

struct clip_tokenizer {
    int32_t byte_id[256]; /* vocab id of byte b as a symbol; + 256 for "b</w>" */
    int32_t merge_id[CLIP_N_MERGES]; /* rank -> id of the merged symbol */
    uint32_t *pair_key;              /* left << 16 | right; PAIR_EMPTY if free */
    int32_t *pair_rank;
    uint32_t pair_mask;
};

#define PAIR_EMPTY 0xFFFFFFFFu

/* ---------------------------------------------------------------- loading */

/* CLIP's bytes_to_unicode: printable bytes ('!'..'~', U+00A1..U+00AC,
 * U+00AE..U+00FF) stand for themselves and come first in the vocab, in that
 * order; the other 68 bytes follow, in byte order, as U+0100 + n. */
static int byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static void byte_symbols(int32_t id_of_byte[256], uint32_t cp_of_id[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++)
        if (byte_is_printable(b)) id_of_byte[b] = n, cp_of_id[n++] = (uint32_t)b;
    int extra = 0;
    for (int b = 0; b < 256; b++)
        if (!byte_is_printable(b)) id_of_byte[b] = n, cp_of_id[n++] = 0x100u + (uint32_t)extra++;
}

/* String -> id map used only while loading: strings live in the arena; slots
 * keep the hash so probes rarely touch the strings. */
typedef struct {
    uint32_t hash, off, len;
    int32_t id; /* -1: free */
} str_entry;

typedef struct {
    str_entry *slots;
    uint32_t mask;
    const char *base; /* the arena */
    int replaced;     /* a string was put twice */
} str_map;

static uint32_t str_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ h >> 15;
}

/* Later entries replace earlier ones, as Python's dict(zip(vocab, ids)) does. */
static void str_map_put(str_map *m, const char *s, size_t len, int32_t id) {
    uint32_t h = str_hash(s, len);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        str_entry *x = &m->slots[i];
        if (x->id < 0 || (x->hash == h && x->len == len && !memcmp(m->base + x->off, s, len))) {
            m->replaced |= x->id >= 0;
            *x = (str_entry){h, (uint32_t)(s - m->base), (uint32_t)len, id};
            return;
        }
    }
}

static int32_t str_map_get(const str_map *m, const char *s, size_t len) {
    uint32_t h = str_hash(s, len);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const str_entry *x = &m->slots[i];
        if (x->id < 0) return -1;
        if (x->hash == h && x->len == len && !memcmp(m->base + x->off, s, len)) return x->id;
    }
}

static uint32_t pair_slot(uint32_t key, uint32_t mask) { return (key * 2654435761u) >> 7 & mask; }

static void pair_put(clip_tokenizer *t, uint32_t key, int32_t rank) {
    for (uint32_t i = pair_slot(key, t->pair_mask);; i = (i + 1) & t->pair_mask)
        if (t->pair_key[i] == PAIR_EMPTY || t->pair_key[i] == key) {
            t->pair_key[i] = key, t->pair_rank[i] = rank;
            return;
        }
}

static inline int32_t pair_get(const clip_tokenizer *t, int32_t left, int32_t right) {
    uint32_t key = (uint32_t)left << 16 | (uint32_t)right;
    for (uint32_t i = pair_slot(key, t->pair_mask);; i = (i + 1) & t->pair_mask) {
        uint32_t k = t->pair_key[i];
        if (k == key) return t->pair_rank[i];
        if (k == PAIR_EMPTY) return INT32_MAX;
    }
}

/* Read the header and the merge lines (only those: the file goes on with
 * ~213k lines CLIP never uses, and skipping them halves the load time). */
static char *read_merge_lines(const char *path, size_t *len_out, err *e) {
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return err_set(e, ERR_NOT_FOUND, "vocab file '%s' not found", path), NULL;
        return err_set(e, ERR_IO, "cannot open vocab file '%s': %s", path,
                       errno ? strerror(errno) : "out of memory"),
               NULL;
    }
    gzbuffer(f, 256 * 1024);
    size_t cap = 512 * 1024, len = 0, lines = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        gzclose(f);
        return err_set(e, ERR_INTERNAL, "out of memory loading vocab"), NULL;
    }
    for (;;) {
        if (cap - len < 64 * 1024) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf), gzclose(f);
                return err_set(e, ERR_INTERNAL, "out of memory loading vocab"), NULL;
            }
            buf = nb, cap *= 2;
        }
        int n = gzread(f, buf + len, (unsigned)(cap - len));
        if (n < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            err_set(e, ERR_UNPROCESSABLE, "vocab file '%s' is not a readable gzip file: %s", path,
                    zerr == Z_ERRNO ? strerror(errno) : msg);
            free(buf), gzclose(f);
            return NULL;
        }
        for (char *p = buf + len; (p = memchr(p, '\n', (size_t)(buf + len + n - p))); p++) lines++;
        len += (size_t)n;
        if (lines > CLIP_N_MERGES || n == 0) break;
    }
    int zerr;
    const char *msg = gzerror(f, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) { /* e.g. a truncated archive */
        err_set(e, ERR_UNPROCESSABLE, "vocab file '%s' is not a readable gzip file: %s", path, msg);
        free(buf), gzclose(f);
        return NULL;
    }
    gzclose(f);
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* Split "left right" (Python's str.split(): ASCII whitespace is enough, since
 * byte symbols never are whitespace) into exactly two fields. */
static int is_space_ascii(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static int split_merge(const char *line, const char *f[2], size_t fl[2]) {
    int n = 0;
    for (const char *p = line; *p;) {
        while (is_space_ascii(*p)) p++;
        if (!*p) break;
        const char *s = p;
        while (*p && !is_space_ascii(*p)) p++;
        if (n == 2) return -1;
        f[n] = s, fl[n++] = (size_t)(p - s);
    }
    return n == 2 ? 0 : -1;
}

typedef struct {
    const char *f[2], *cat;
    size_t fl[2];
} merge_fields;

static int put_utf8(char *dst, uint32_t cp) {
    return (int)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)dst);
}

clip_tokenizer *clip_tokenizer_load(const char *vocab_path, err *e) {
    if (!vocab_path || !*vocab_path) return err_set(e, ERR_UNPROCESSABLE, "no vocab file given"), NULL;
    size_t len;
    char *buf = read_merge_lines(vocab_path, &len, e);
    if (!buf) return NULL;

    uint32_t pair_cap = 1u << 17; /* load factor 0.37 */
    clip_tokenizer *t = calloc(1, sizeof *t);
    str_map m = {malloc((1u << 17) * sizeof(str_entry)), (1u << 17) - 1, NULL, 0};
    char *arena = malloc(256 * 12 + len); /* byte symbols, then merged strings */
    m.base = arena;
    merge_fields *mf = malloc(CLIP_N_MERGES * sizeof *mf);
    if (t) {
        t->pair_key = malloc(pair_cap * sizeof *t->pair_key);
        t->pair_rank = malloc(pair_cap * sizeof *t->pair_rank);
        t->pair_mask = pair_cap - 1;
    }
    if (!t || !m.slots || !arena || !mf || !t->pair_key || !t->pair_rank) {
        err_set(e, ERR_INTERNAL, "out of memory loading vocab");
        goto fail;
    }
    memset(t->pair_key, 0xFF, pair_cap * sizeof *t->pair_key);
    memset(m.slots, 0xFF, (1u << 17) * sizeof(str_entry));

    /* Vocab order: byte symbols, the same with </w>, then one per merge. */
    uint32_t cp_of_id[256];
    byte_symbols(t->byte_id, cp_of_id);
    char *a = arena;
    for (int w = 0; w < 2; w++)
        for (int id = 0; id < 256; id++) {
            char *s = a;
            a += put_utf8(a, cp_of_id[id]);
            if (w) memcpy(a, "</w>", 4), a += 4;
            str_map_put(&m, s, (size_t)(a - s), w * 256 + id);
        }

    /* Lines 2 .. 48895 are the merges; the first is a version header. */
    char *line = memchr(buf, '\n', len);
    for (int r = 0; r < CLIP_N_MERGES; r++) {
        if (!line) {
            err_set(e, ERR_UNPROCESSABLE,
                    "vocab file '%s' has %d merge lines; a CLIP BPE vocab has %d after its header",
                    vocab_path, r, CLIP_N_MERGES);
            goto fail;
        }
        line++;
        char *end = memchr(line, '\n', (size_t)(buf + len - line));
        if (end) *end = '\0';
        merge_fields *x = &mf[r];
        if (split_merge(line, x->f, x->fl)) {
            err_set(e, ERR_UNPROCESSABLE,
                    "vocab file '%s' line %d is not a merge \"left right\": '%.40s'", vocab_path,
                    r + 2, line);
            goto fail;
        }
        x->cat = a;
        memcpy(a, x->f[0], x->fl[0]), a += x->fl[0];
        memcpy(a, x->f[1], x->fl[1]), a += x->fl[1];
        str_map_put(&m, x->cat, x->fl[0] + x->fl[1], CLIP_MERGE_BASE + r);
        line = end;
    }
    /* Second pass, once every string has its final id (a later duplicate wins,
     * as in CLIP's encoder dict; the real file has none). */
    for (int r = 0; r < CLIP_N_MERGES; r++) {
        merge_fields *x = &mf[r];
        int32_t left = str_map_get(&m, x->f[0], x->fl[0]);
        int32_t right = str_map_get(&m, x->f[1], x->fl[1]);
        if (left < 0 || right < 0) {
            int k = left < 0 ? 0 : 1;
            err_set(e, ERR_UNPROCESSABLE, "vocab file '%s' line %d: '%.*s' is not a known symbol",
                    vocab_path, r + 2, (int)(x->fl[k] > 40 ? 40 : x->fl[k]), x->f[k]);
            goto fail;
        }
        t->merge_id[r] = m.replaced ? str_map_get(&m, x->cat, x->fl[0] + x->fl[1]) : CLIP_MERGE_BASE + r;
        pair_put(t, (uint32_t)left << 16 | (uint32_t)right, r);
    }
    free(mf), free(m.slots), free(arena), free(buf);
    return t;
fail:
    free(mf), free(m.slots), free(arena), free(buf);
    clip_tokenizer_free(t);
    return NULL;
}

void clip_tokenizer_free(clip_tokenizer *t) {
    if (!t) return;
    free(t->pair_key), free(t->pair_rank), free(t);
}

/* ------------------------------------------------------------------ cache */

typedef struct cache_entry {
    struct cache_entry *next;
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    clip_tokenizer *tok;
} cache_entry;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cache_entry *cache_head;

const clip_tokenizer *clip_tokenizer_get(const char *vocab_path, err *e) {
    struct stat st;
    if (!vocab_path || stat(vocab_path, &st) != 0) {
        if (!vocab_path || errno == ENOENT)
            return err_set(e, ERR_NOT_FOUND, "vocab file '%s' not found", vocab_path ? vocab_path : ""),
                   NULL;
        return err_set(e, ERR_IO, "cannot stat vocab file '%s': %s", vocab_path, strerror(errno)), NULL;
    }
    pthread_mutex_lock(&cache_mu);
    for (cache_entry *c = cache_head; c; c = c->next)
        if (!strcmp(c->path, vocab_path) && c->dev == st.st_dev && c->ino == st.st_ino &&
            c->size == st.st_size && c->mtime.tv_sec == st.st_mtim.tv_sec &&
            c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            pthread_mutex_unlock(&cache_mu);
            return c->tok;
        }
    /* Loading under the lock: concurrent first users wait rather than load twice. */
    clip_tokenizer *t = clip_tokenizer_load(vocab_path, e);
    cache_entry *c = t ? calloc(1, sizeof *c) : NULL;
    char *path = c ? strdup(vocab_path) : NULL;
    if (t && !path) {
        free(c), clip_tokenizer_free(t), t = NULL;
        err_set(e, ERR_INTERNAL, "out of memory caching vocab");
    }
    if (t) {
        /* A replaced file's old entry stays: a caller may still hold it. */
        *c = (cache_entry){cache_head, path, st.st_dev, st.st_ino, st.st_size, st.st_mtim, t};
        cache_head = c;
        log_debug("clip tokenizer: loaded vocab %s", vocab_path);
    }
    pthread_mutex_unlock(&cache_mu);
    return t;
}

void clip_tokenizer_cache_clear(void) {
    pthread_mutex_lock(&cache_mu);
    while (cache_head) {
        cache_entry *c = cache_head;
        cache_head = c->next;
        clip_tokenizer_free(c->tok), free(c->path), free(c);
    }
    pthread_mutex_unlock(&cache_mu);
}

/* -------------------------------------------------------------- merging */

/* Byte-level BPE of one piece, in place: sym[] holds vocab ids, rank[] the
 * rank of each adjacent pair. Each round merges every occurrence, left to
 * right, of the lowest-ranked pair, as CLIP does. Returns the new length. */
static size_t bpe(const clip_tokenizer *t, int32_t *sym, int32_t *rank, size_t n) {
    if (n < 2) return n;
    for (size_t i = 0; i + 1 < n; i++) rank[i] = pair_get(t, sym[i], sym[i + 1]);
    for (;;) {
        size_t k = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[k]) k = i;
        int32_t r = rank[k];
        if (r == INT32_MAX) break;
        int32_t left = sym[k], right = sym[k + 1], merged = t->merge_id[r];
        size_t w = k;
        for (size_t i = k; i < n;) {
            if (i + 1 < n && sym[i] == left && sym[i + 1] == right) sym[w++] = merged, i += 2;
            else sym[w++] = sym[i++];
        }
        n = w;
        if (n < 2) break;
        for (size_t i = k ? k - 1 : 0; i + 1 < n; i++) rank[i] = pair_get(t, sym[i], sym[i + 1]);
    }
    return n;
}

size_t clip_bpe_piece(const clip_tokenizer *t, const uint32_t *cps, size_t n, int32_t *sym, int32_t *rank) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char u[4];
        int k = (int)utf8proc_encode_char((utf8proc_int32_t)cps[i], u);
        for (int j = 0; j < k; j++) sym[m++] = t->byte_id[u[j]];
    }
    if (!m) return 0;
    sym[m - 1] += 256; /* the piece's last byte carries </w> */
    return bpe(t, sym, rank, m);
}
