/* tokenizer_clip.c — CLIP's byte-level BPE (clip/simple_tokenizer.py), in C.
 *
 * Per text: validate UTF-8; clean (a character-level subset of ftfy.fix_text,
 * html.unescape twice); collapse whitespace; lower-case (Python's str.lower());
 * split with CLIP's pattern
 *   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+
 * (IGNORECASE); map each piece's UTF-8 bytes to byte symbols, suffix the last
 * with </w>, and merge the lowest-ranked adjacent pair until none is known.
 * Unicode classes and case come from libutf8proc.
 *
 * Symbols are vocab ids throughout: a merge of rank r makes the symbol with id
 * 512 + r, so the merge table is one hash from (left id, right id) to rank, and
 * the strings are only needed while loading.
 *
 * Leaves out: ftfy's mojibake and terminal-escape repair and its all-caps entity
 * names; per-word caching (BPE of a prompt word is a handful of lookups).
 */
#include "concepts/tokenizer_clip.h"

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

/* ------------------------------------------------------- code point buffers */

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_reserve(cpbuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    uint32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v) return -1;
    b->v = v, b->cap = cap;
    return 0;
}

static int cp_push(cpbuf *b, uint32_t c) {
    if (b->n == b->cap && cp_reserve(b, 1)) return -1;
    b->v[b->n++] = c;
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). Returns the
 * byte offset of the first bad sequence, or -1 when all is well. */
static long decode_utf8(const unsigned char *s, size_t len, cpbuf *out) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) cp = c, k = 1;
        else if (c >= 0xC2 && c <= 0xDF) cp = c & 0x1F, k = 2;
        else if (c >= 0xE0 && c <= 0xEF) cp = c & 0x0F, k = 3;
        else if (c >= 0xF0 && c <= 0xF4) cp = c & 0x07, k = 4;
        else return (long)i;
        if (i + k > len) return (long)i;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return (long)i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return (long)i;
        out->v[out->n++] = cp; /* out has room for len code points */
        i += k;
    }
    return -1;
}

static int is_white_space(uint32_t c) { /* Unicode White_Space: what regex's \s matches */
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Bytes 0x80..0x9F as Windows-1252 (the five it leaves undefined map to
 * themselves): used by ftfy's fix_c1_controls and by html.unescape's &#128;..&#159;. */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* ------------------------------------------------------------- ftfy, lite */

/* ftfy.fix_text's character-level fixes, in its order: C1 controls as
 * Windows-1252, Latin ligatures spelled out, full/half-width forms NFKC'd,
 * curly quotes straightened, control characters removed, then NFC. Its
 * mojibake repair (re-decoding text that went through the wrong codec) is not
 * done: it needs ftfy's statistical heuristics. */
static const struct {
    uint16_t cp;
    uint16_t to[3];
} latin_ligatures[] = {
    {0x0132, {'I', 'J'}},       {0x0133, {'i', 'j'}},       {0x0149, {0x02BC, 'n'}},
    {0x01C4, {'D', 0x017D}},    {0x01C5, {'D', 0x017E}},    {0x01C6, {'d', 0x017E}},
    {0x01C7, {'L', 'J'}},       {0x01C8, {'L', 'j'}},       {0x01C9, {'l', 'j'}},
    {0x01CA, {'N', 'J'}},       {0x01CB, {'N', 'j'}},       {0x01CC, {'n', 'j'}},
    {0x01F1, {'D', 'Z'}},       {0x01F2, {'D', 'z'}},       {0x01F3, {'d', 'z'}},
    {0xFB00, {'f', 'f'}},       {0xFB01, {'f', 'i'}},       {0xFB02, {'f', 'l'}},
    {0xFB03, {'f', 'f', 'i'}},  {0xFB04, {'f', 'f', 'l'}},  {0xFB05, {0x017F, 't'}},
    {0xFB06, {'s', 't'}},
};

static int is_ftfy_control(uint32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static int ftfy_emit(cpbuf *out, uint32_t c) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
    if (is_ftfy_control(c)) return 0;
    return cp_push(out, c);
}

static int ftfy_width(cpbuf *out, uint32_t c) {
    if (c == 0x3000) return ftfy_emit(out, ' ');
    if (c < 0xFF01 || c > 0xFFEF) return ftfy_emit(out, c);
    utf8proc_int32_t d[8];
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)c, d, 8, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_STABLE, NULL);
    if (n <= 0 || n > 8) return ftfy_emit(out, c);
    n = utf8proc_normalize_utf32(d, n, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    for (utf8proc_ssize_t i = 0; i < n; i++)
        if (ftfy_emit(out, (uint32_t)d[i])) return -1;
    return 0;
}

static int ftfy_lite(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    int ascii = 1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c >= 0x80 && c <= 0x9F) c = cp1252_c1[c - 0x80];
        int lig = -1;
        if ((c >= 0x0132 && c <= 0x01F3) || (c >= 0xFB00 && c <= 0xFB06))
            for (size_t k = 0; k < sizeof latin_ligatures / sizeof *latin_ligatures; k++)
                if (latin_ligatures[k].cp == c) lig = (int)k;
        if (lig < 0) {
            if (ftfy_width(out, c)) return -1;
        } else {
            for (int k = 0; k < 3 && latin_ligatures[lig].to[k]; k++)
                if (ftfy_width(out, latin_ligatures[lig].to[k])) return -1;
        }
    }
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i] >= 0x300) ascii = 0;
    if (ascii) return 0; /* below U+0300 every string is already NFC */
    /* NFC: utf8proc composes a UTF-32 buffer in place once it is decomposed. */
    size_t cap = out->n * 4 + 16;
    utf8proc_int32_t *d = malloc(cap * sizeof *d);
    if (!d) return -1;
    size_t n = 0;
    for (size_t i = 0; i < out->n; i++) {
        int last = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)out->v[i], d + n,
                                                     (utf8proc_ssize_t)(cap - n),
                                                     UTF8PROC_DECOMPOSE | UTF8PROC_STABLE, &last);
        if (k < 0 || (size_t)k > cap - n) { /* cannot happen: 4 per char is enough */
            free(d);
            return -1;
        }
        n += (size_t)k;
    }
    /* Canonical ordering (utf8proc does it only in its UTF-8 entry points):
     * a stable sort of each run of combining marks by combining class. */
    for (size_t i = 1; i < n; i++) {
        utf8proc_int32_t c = d[i];
        int cc = utf8proc_get_property(c)->combining_class;
        size_t j = i;
        while (cc && j > 0 && utf8proc_get_property(d[j - 1])->combining_class > cc) d[j] = d[j - 1], j--;
        d[j] = c;
    }
    utf8proc_ssize_t m = utf8proc_normalize_utf32(d, (utf8proc_ssize_t)n, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    out->n = 0;
    if (m < 0 || cp_reserve(out, (size_t)m)) {
        free(d);
        return -1;
    }
    for (utf8proc_ssize_t i = 0; i < m; i++) out->v[out->n++] = (uint32_t)d[i];
    free(d);
    return 0;
}

/* ----------------------------------------------------------- html.unescape */

/* Python's html.unescape, for the entities of practical use: all 252 HTML 4
 * named entities (Latin-1, symbols and Greek, special: &amp; &lt; &gt; &quot;
 * &nbsp; &eacute; &hellip; &mdash; &rsquo; &euro; &trade; &alpha; ...), &apos;
 * and the all-caps &AMP; &LT; &GT; &QUOT; &REG; &COPY;, each with HTML5's
 * value; and the names HTML5 also accepts without ';' (the Latin-1 ones), with
 * Python's longest-prefix rule ("&ampfoo" -> "&foo"). Every numeric reference
 * &#NN; / &#xHH; (';' optional), with Python's handling of 0, C1, surrogates,
 * out-of-range and non-characters. HTML5's ~2,000 other names stay as text. */
static const struct {
    const char *name;
    uint32_t cp;
    int legacy; /* also valid without ';' */
} html_entities[] = {
    {"AElig", 0x00C6, 1},
    {"AMP", 0x0026, 1},
    {"Aacute", 0x00C1, 1},
    {"Acirc", 0x00C2, 1},
    {"Agrave", 0x00C0, 1},
    {"Alpha", 0x0391, 0},
    {"Aring", 0x00C5, 1},
    {"Atilde", 0x00C3, 1},
    {"Auml", 0x00C4, 1},
    {"Beta", 0x0392, 0},
    {"COPY", 0x00A9, 1},
    {"Ccedil", 0x00C7, 1},
    {"Chi", 0x03A7, 0},
    {"Dagger", 0x2021, 0},
    {"Delta", 0x0394, 0},
    {"ETH", 0x00D0, 1},
    {"Eacute", 0x00C9, 1},
    {"Ecirc", 0x00CA, 1},
    {"Egrave", 0x00C8, 1},
    {"Epsilon", 0x0395, 0},
    {"Eta", 0x0397, 0},
    {"Euml", 0x00CB, 1},
    {"GT", 0x003E, 1},
    {"Gamma", 0x0393, 0},
    {"Iacute", 0x00CD, 1},
    {"Icirc", 0x00CE, 1},
    {"Igrave", 0x00CC, 1},
    {"Iota", 0x0399, 0},
    {"Iuml", 0x00CF, 1},
    {"Kappa", 0x039A, 0},
    {"LT", 0x003C, 1},
    {"Lambda", 0x039B, 0},
    {"Mu", 0x039C, 0},
    {"Ntilde", 0x00D1, 1},
    {"Nu", 0x039D, 0},
    {"OElig", 0x0152, 0},
    {"Oacute", 0x00D3, 1},
    {"Ocirc", 0x00D4, 1},
    {"Ograve", 0x00D2, 1},
    {"Omega", 0x03A9, 0},
    {"Omicron", 0x039F, 0},
    {"Oslash", 0x00D8, 1},
    {"Otilde", 0x00D5, 1},
    {"Ouml", 0x00D6, 1},
    {"Phi", 0x03A6, 0},
    {"Pi", 0x03A0, 0},
    {"Prime", 0x2033, 0},
    {"Psi", 0x03A8, 0},
    {"QUOT", 0x0022, 1},
    {"REG", 0x00AE, 1},
    {"Rho", 0x03A1, 0},
    {"Scaron", 0x0160, 0},
    {"Sigma", 0x03A3, 0},
    {"THORN", 0x00DE, 1},
    {"Tau", 0x03A4, 0},
    {"Theta", 0x0398, 0},
    {"Uacute", 0x00DA, 1},
    {"Ucirc", 0x00DB, 1},
    {"Ugrave", 0x00D9, 1},
    {"Upsilon", 0x03A5, 0},
    {"Uuml", 0x00DC, 1},
    {"Xi", 0x039E, 0},
    {"Yacute", 0x00DD, 1},
    {"Yuml", 0x0178, 0},
    {"Zeta", 0x0396, 0},
    {"aacute", 0x00E1, 1},
    {"acirc", 0x00E2, 1},
    {"acute", 0x00B4, 1},
    {"aelig", 0x00E6, 1},
    {"agrave", 0x00E0, 1},
    {"alefsym", 0x2135, 0},
    {"alpha", 0x03B1, 0},
    {"amp", 0x0026, 1},
    {"and", 0x2227, 0},
    {"ang", 0x2220, 0},
    {"apos", 0x0027, 0},
    {"aring", 0x00E5, 1},
    {"asymp", 0x2248, 0},
    {"atilde", 0x00E3, 1},
    {"auml", 0x00E4, 1},
    {"bdquo", 0x201E, 0},
    {"beta", 0x03B2, 0},
    {"brvbar", 0x00A6, 1},
    {"bull", 0x2022, 0},
    {"cap", 0x2229, 0},
    {"ccedil", 0x00E7, 1},
    {"cedil", 0x00B8, 1},
    {"cent", 0x00A2, 1},
    {"chi", 0x03C7, 0},
    {"circ", 0x02C6, 0},
    {"clubs", 0x2663, 0},
    {"cong", 0x2245, 0},
    {"copy", 0x00A9, 1},
    {"crarr", 0x21B5, 0},
    {"cup", 0x222A, 0},
    {"curren", 0x00A4, 1},
    {"dArr", 0x21D3, 0},
    {"dagger", 0x2020, 0},
    {"darr", 0x2193, 0},
    {"deg", 0x00B0, 1},
    {"delta", 0x03B4, 0},
    {"diams", 0x2666, 0},
    {"divide", 0x00F7, 1},
    {"eacute", 0x00E9, 1},
    {"ecirc", 0x00EA, 1},
    {"egrave", 0x00E8, 1},
    {"empty", 0x2205, 0},
    {"emsp", 0x2003, 0},
    {"ensp", 0x2002, 0},
    {"epsilon", 0x03B5, 0},
    {"equiv", 0x2261, 0},
    {"eta", 0x03B7, 0},
    {"eth", 0x00F0, 1},
    {"euml", 0x00EB, 1},
    {"euro", 0x20AC, 0},
    {"exist", 0x2203, 0},
    {"fnof", 0x0192, 0},
    {"forall", 0x2200, 0},
    {"frac12", 0x00BD, 1},
    {"frac14", 0x00BC, 1},
    {"frac34", 0x00BE, 1},
    {"frasl", 0x2044, 0},
    {"gamma", 0x03B3, 0},
    {"ge", 0x2265, 0},
    {"gt", 0x003E, 1},
    {"hArr", 0x21D4, 0},
    {"harr", 0x2194, 0},
    {"hearts", 0x2665, 0},
    {"hellip", 0x2026, 0},
    {"iacute", 0x00ED, 1},
    {"icirc", 0x00EE, 1},
    {"iexcl", 0x00A1, 1},
    {"igrave", 0x00EC, 1},
    {"image", 0x2111, 0},
    {"infin", 0x221E, 0},
    {"int", 0x222B, 0},
    {"iota", 0x03B9, 0},
    {"iquest", 0x00BF, 1},
    {"isin", 0x2208, 0},
    {"iuml", 0x00EF, 1},
    {"kappa", 0x03BA, 0},
    {"lArr", 0x21D0, 0},
    {"lambda", 0x03BB, 0},
    {"lang", 0x27E8, 0},
    {"laquo", 0x00AB, 1},
    {"larr", 0x2190, 0},
    {"lceil", 0x2308, 0},
    {"ldquo", 0x201C, 0},
    {"le", 0x2264, 0},
    {"lfloor", 0x230A, 0},
    {"lowast", 0x2217, 0},
    {"loz", 0x25CA, 0},
    {"lrm", 0x200E, 0},
    {"lsaquo", 0x2039, 0},
    {"lsquo", 0x2018, 0},
    {"lt", 0x003C, 1},
    {"macr", 0x00AF, 1},
    {"mdash", 0x2014, 0},
    {"micro", 0x00B5, 1},
    {"middot", 0x00B7, 1},
    {"minus", 0x2212, 0},
    {"mu", 0x03BC, 0},
    {"nabla", 0x2207, 0},
    {"nbsp", 0x00A0, 1},
    {"ndash", 0x2013, 0},
    {"ne", 0x2260, 0},
    {"ni", 0x220B, 0},
    {"not", 0x00AC, 1},
    {"notin", 0x2209, 0},
    {"nsub", 0x2284, 0},
    {"ntilde", 0x00F1, 1},
    {"nu", 0x03BD, 0},
    {"oacute", 0x00F3, 1},
    {"ocirc", 0x00F4, 1},
    {"oelig", 0x0153, 0},
    {"ograve", 0x00F2, 1},
    {"oline", 0x203E, 0},
    {"omega", 0x03C9, 0},
    {"omicron", 0x03BF, 0},
    {"oplus", 0x2295, 0},
    {"or", 0x2228, 0},
    {"ordf", 0x00AA, 1},
    {"ordm", 0x00BA, 1},
    {"oslash", 0x00F8, 1},
    {"otilde", 0x00F5, 1},
    {"otimes", 0x2297, 0},
    {"ouml", 0x00F6, 1},
    {"para", 0x00B6, 1},
    {"part", 0x2202, 0},
    {"permil", 0x2030, 0},
    {"perp", 0x22A5, 0},
    {"phi", 0x03C6, 0},
    {"pi", 0x03C0, 0},
    {"piv", 0x03D6, 0},
    {"plusmn", 0x00B1, 1},
    {"pound", 0x00A3, 1},
    {"prime", 0x2032, 0},
    {"prod", 0x220F, 0},
    {"prop", 0x221D, 0},
    {"psi", 0x03C8, 0},
    {"quot", 0x0022, 1},
    {"rArr", 0x21D2, 0},
    {"radic", 0x221A, 0},
    {"rang", 0x27E9, 0},
    {"raquo", 0x00BB, 1},
    {"rarr", 0x2192, 0},
    {"rceil", 0x2309, 0},
    {"rdquo", 0x201D, 0},
    {"real", 0x211C, 0},
    {"reg", 0x00AE, 1},
    {"rfloor", 0x230B, 0},
    {"rho", 0x03C1, 0},
    {"rlm", 0x200F, 0},
    {"rsaquo", 0x203A, 0},
    {"rsquo", 0x2019, 0},
    {"sbquo", 0x201A, 0},
    {"scaron", 0x0161, 0},
    {"sdot", 0x22C5, 0},
    {"sect", 0x00A7, 1},
    {"shy", 0x00AD, 1},
    {"sigma", 0x03C3, 0},
    {"sigmaf", 0x03C2, 0},
    {"sim", 0x223C, 0},
    {"spades", 0x2660, 0},
    {"sub", 0x2282, 0},
    {"sube", 0x2286, 0},
    {"sum", 0x2211, 0},
    {"sup", 0x2283, 0},
    {"sup1", 0x00B9, 1},
    {"sup2", 0x00B2, 1},
    {"sup3", 0x00B3, 1},
    {"supe", 0x2287, 0},
    {"szlig", 0x00DF, 1},
    {"tau", 0x03C4, 0},
    {"there4", 0x2234, 0},
    {"theta", 0x03B8, 0},
    {"thetasym", 0x03D1, 0},
    {"thinsp", 0x2009, 0},
    {"thorn", 0x00FE, 1},
    {"tilde", 0x02DC, 0},
    {"times", 0x00D7, 1},
    {"trade", 0x2122, 0},
    {"uArr", 0x21D1, 0},
    {"uacute", 0x00FA, 1},
    {"uarr", 0x2191, 0},
    {"ucirc", 0x00FB, 1},
    {"ugrave", 0x00F9, 1},
    {"uml", 0x00A8, 1},
    {"upsih", 0x03D2, 0},
    {"upsilon", 0x03C5, 0},
    {"uuml", 0x00FC, 1},
    {"weierp", 0x2118, 0},
    {"xi", 0x03BE, 0},
    {"yacute", 0x00FD, 1},
    {"yen", 0x00A5, 1},
    {"yuml", 0x00FF, 1},
    {"zeta", 0x03B6, 0},
    {"zwj", 0x200D, 0},
    {"zwnj", 0x200C, 0},
};

/* Binary search by name (the table is sorted by byte value). */
static int entity_lookup(const uint32_t *name, size_t len, int need_legacy, uint32_t *cp) {
    size_t lo = 0, hi = sizeof html_entities / sizeof *html_entities;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *s = html_entities[mid].name;
        int cmp = 0;
        size_t i = 0;
        for (; i < len && s[i]; i++)
            if (name[i] != (unsigned char)s[i]) {
                cmp = name[i] < (unsigned char)s[i] ? -1 : 1;
                break;
            }
        if (!cmp) cmp = i < len ? 1 : (s[i] ? -1 : 0);
        if (!cmp) {
            if (need_legacy && !html_entities[mid].legacy) return 0;
            *cp = html_entities[mid].cp;
            return 1;
        }
        if (cmp < 0) hi = mid;
        else lo = mid + 1;
    }
    return 0;
}

/* html.unescape's answer for a numeric reference; 0 when it removes it. */
static uint32_t numeric_charref(uint32_t n) {
    if (n == 0) return 0xFFFD;
    if (n == 0x0D) return '\r';
    if (n >= 0x80 && n <= 0x9F) return cp1252_c1[n - 0x80];
    if ((n >= 0xD800 && n <= 0xDFFF) || n > 0x10FFFF) return 0xFFFD;
    if ((n >= 0x01 && n <= 0x08) || n == 0x0B || (n >= 0x0E && n <= 0x1F) || n == 0x7F ||
        (n >= 0xFDD0 && n <= 0xFDEF) || (n & 0xFFFE) == 0xFFFE)
        return 0;
    return n;
}

static int entity_name_char(uint32_t c) {
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
           c != ';';
}

static int hexval(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Never grows the text, so out needs no more room than in. */
static void html_unescape(const cpbuf *in, cpbuf *out) {
    const uint32_t *s = in->v;
    size_t n = in->n, i = 0;
    out->n = 0;
    while (i < n) {
        if (s[i] != '&') {
            out->v[out->n++] = s[i++];
            continue;
        }
        if (i + 1 < n && s[i + 1] == '#') {
            size_t j = i + 2;
            int hex = j < n && (s[j] == 'x' || s[j] == 'X');
            j += (size_t)hex;
            size_t start = j;
            uint32_t val = 0;
            for (int d; j < n && (d = hex ? hexval(s[j]) : (s[j] >= '0' && s[j] <= '9' ? (int)(s[j] - '0') : -1)) >= 0; j++)
                val = val > 0x110000 ? val : val * (hex ? 16u : 10u) + (uint32_t)d;
            if (j > start) {
                if (j < n && s[j] == ';') j++;
                uint32_t c = numeric_charref(val);
                if (c) out->v[out->n++] = c;
                i = j;
                continue;
            }
            out->v[out->n++] = s[i++];
            continue;
        }
        /* Python's pattern: up to 32 name characters, then an optional ';'. */
        size_t j = i + 1;
        while (j < n && j - (i + 1) < 32 && entity_name_char(s[j])) j++;
        size_t rlen = j - (i + 1);
        int semi = j < n && s[j] == ';';
        uint32_t c;
        if (rlen && entity_lookup(s + i + 1, rlen, !semi, &c)) {
            out->v[out->n++] = c;
            i = j + (size_t)semi;
            continue;
        }
        size_t x = rlen + (size_t)semi - 1;
        if (x > rlen) x = rlen;
        for (; rlen && x >= 2; x--)
            if (entity_lookup(s + i + 1, x, 1, &c)) break;
        if (rlen && x >= 2) {
            out->v[out->n++] = c;
            i += 1 + x;
            continue;
        }
        out->v[out->n++] = s[i++];
    }
}

/* ------------------------------------------------------ whitespace, case */

/* strip(); re.sub(r'\s+', ' '); strip() */
static void collapse_whitespace(cpbuf *b) {
    size_t w = 0;
    int pending = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (is_white_space(b->v[i])) {
            pending = w > 0;
            continue;
        }
        if (pending) b->v[w++] = ' ', pending = 0;
        b->v[w++] = b->v[i];
    }
    b->n = w;
}

static int is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

static int is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0x5E: case 0x60: case 0xA8: case 0xAD: case 0xAF:
    case 0xB4: case 0xB7: case 0xB8: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
        return 1;
    }
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* Python's str.lower(): the simple mapping, plus U+0130 -> "i\u0307" and a
 * capital sigma at a word's end -> final sigma. */
static int lower_python(const cpbuf *in, cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c < 0x80) {
            if (out->n == out->cap && cp_reserve(out, 1)) return -1;
            out->v[out->n++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
            continue;
        }
        if (c == 0x130) {
            if (cp_push(out, 'i') || cp_push(out, 0x307)) return -1;
            continue;
        }
        if (c == 0x3A3) {
            size_t k = i;
            while (k > 0 && is_case_ignorable(in->v[k - 1])) k--;
            int before = k > 0 && is_cased(in->v[k - 1]);
            k = i + 1;
            while (k < in->n && is_case_ignorable(in->v[k])) k++;
            int after = k < in->n && is_cased(in->v[k]);
            if (cp_push(out, before && !after ? 0x3C2 : 0x3C3)) return -1;
            continue;
        }
        if (cp_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c))) return -1;
    }
    return 0;
}

/* ------------------------------------------------------- split and merge */

enum { CLS_SPACE, CLS_LETTER, CLS_NUMBER, CLS_OTHER };

static int char_class(uint32_t c) {
    if (c < 0x80) {
        if ((c | 32) >= 'a' && (c | 32) <= 'z') return CLS_LETTER;
        if (c >= '0' && c <= '9') return CLS_NUMBER;
        return is_white_space(c) ? CLS_SPACE : CLS_OTHER;
    }
    if (is_white_space(c)) return CLS_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CLS_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CLS_NUMBER;
    default:
        return CLS_OTHER;
    }
}

/* Does the ASCII pattern match at s (IGNORECASE: the text is lower-cased
 * already, but regex's case folding also lets U+017F 'long s' match 's')? */
static size_t match_at(const uint32_t *s, size_t n, const char *pat) {
    size_t i = 0;
    for (; pat[i]; i++) {
        if (i >= n) return 0;
        if (s[i] != (unsigned char)pat[i] && !(pat[i] == 's' && s[i] == 0x17F)) return 0;
    }
    return i;
}

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

typedef struct {
    int64_t *out;
    int room;   /* ids that fit between SOT and EOT */
    long count; /* ids produced so far */
} emitter;

static void emit(emitter *em, int32_t id) {
    if (em->count < em->room) em->out[1 + em->count] = id;
    em->count++;
}

static void bpe_piece(const clip_tokenizer *t, const uint32_t *cps, size_t n, int32_t *sym,
                      int32_t *rank, emitter *em) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char u[4];
        int k = (int)utf8proc_encode_char((utf8proc_int32_t)cps[i], u);
        for (int j = 0; j < k; j++) sym[m++] = t->byte_id[u[j]];
    }
    if (!m) return;
    sym[m - 1] += 256; /* the piece's last byte carries </w> */
    m = bpe(t, sym, rank, m);
    for (size_t i = 0; i < m; i++) emit(em, sym[i]);
}

int clip_tokenize(const clip_tokenizer *t, const char *text, int context_length, int truncate,
                  int64_t *out, err *e) {
    if (!t || !text || !out) return err_set(e, ERR_INTERNAL, "clip_tokenize: missing argument");
    if (context_length < 2 || context_length > 1 << 20)
        return err_set(e, ERR_UNPROCESSABLE, "context length %d is out of range (2 .. %d)",
                       context_length, 1 << 20);
    size_t len = strlen(text);
    if (len > CLIP_MAX_TEXT_BYTES)
        return err_set(e, ERR_TOO_LARGE, "text is %zu bytes; the limit is %d", len, CLIP_MAX_TEXT_BYTES);

    cpbuf a = {0}, b = {0};
    int32_t *sym = NULL;
    int rc = -1;
    if (cp_reserve(&a, len + 1) || cp_reserve(&b, len + 1)) goto oom;
    long bad = decode_utf8((const unsigned char *)text, len, &a);
    if (bad >= 0) {
        err_set(e, ERR_UNPROCESSABLE, "text is not valid UTF-8 (bad byte 0x%02X at offset %ld)",
                (unsigned char)text[bad], bad);
        goto done;
    }
    /* ftfy.fix_text decodes HTML entities itself only when the text has no '<';
     * then html.unescape runs twice. Either way the character fixes apply to
     * what ftfy saw. */
    int has_lt = memchr(text, '<', len) != NULL;
    if (has_lt) {
        if (ftfy_lite(&a, &b) || cp_reserve(&a, b.n + 1)) goto oom;
        html_unescape(&b, &a);
        html_unescape(&a, &b);
    } else {
        html_unescape(&a, &b);
        html_unescape(&b, &a);
        if (ftfy_lite(&a, &b)) goto oom;
    }
    collapse_whitespace(&b);
    if (lower_python(&b, &a)) goto oom;

    /* Scratch for BPE: at most 4 bytes per code point. */
    sym = malloc((a.n * 4 + 1) * 2 * sizeof *sym);
    if (!sym) goto oom;
    int32_t *rank = sym + a.n * 4 + 1;

    emitter em = {out, context_length - 2, 0};
    const uint32_t *s = a.v;
    size_t n = a.n, i = 0;
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    while (i < n) {
        if (truncate && em.count >= em.room) break; /* the rest would be cut */
        uint32_t c = s[i];
        int cls = char_class(c);
        if (cls == CLS_SPACE) {
            i++;
            continue;
        }
        size_t k = 0;
        if (c == '<') {
            /* CLIP's pattern matches the special tokens' text and its BPE cache
             * answers them as the special tokens themselves. */
            if ((k = match_at(s + i, n - i, "<|startoftext|>")) || (k = match_at(s + i, n - i, "<|endoftext|>"))) {
                int sot = s[i + 2] == 's', exact = 1;
                for (size_t j = 0; j < k; j++) exact &= s[i + j] != 0x17F;
                if (exact) emit(&em, sot ? CLIP_SOT_ID : CLIP_EOT_ID);
                else bpe_piece(t, s + i, k, sym, rank, &em);
                i += k;
                continue;
            }
        } else if (c == '\'') {
            for (size_t q = 0; q < sizeof contractions / sizeof *contractions && !k; q++)
                k = match_at(s + i, n - i, contractions[q]);
        }
        if (!k) {
            k = 1;
            if (cls == CLS_LETTER)
                while (i + k < n && char_class(s[i + k]) == CLS_LETTER) k++;
            else if (cls == CLS_OTHER)
                while (i + k < n && char_class(s[i + k]) == CLS_OTHER) k++;
        }
        bpe_piece(t, s + i, k, sym, rank, &em);
        i += k;
    }
    if (em.count > em.room && !truncate) {
        err_set(e, ERR_UNPROCESSABLE,
                "text is %ld tokens long with start and end; the context length is %d "
                "(shorten it, or ask for truncation)",
                em.count + 2, context_length);
        goto done;
    }
    int used = em.count > em.room ? em.room : (int)em.count;
    out[0] = CLIP_SOT_ID;
    out[used + 1] = CLIP_EOT_ID;
    for (int j = used + 2; j < context_length; j++) out[j] = 0;
    rc = used + 2;
    goto done;
oom:
    err_set(e, ERR_INTERNAL, "out of memory tokenizing");
done:
    free(a.v), free(b.v), free(sym);
    return rc;
}
