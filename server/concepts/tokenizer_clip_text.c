/* tokenizer_clip_text.c — cleaning a text before CLIP splits it, as
 * clip/simple_tokenizer.py does (shapes and order in tokenizer_clip_text.h): strict
 * UTF-8 decoding to code points, ftfy.fix_text's character-level fixes, whitespace
 * collapsed, Python's str.lower(). html.unescape is tokenizer_clip_html.c.
 * Unicode classes, case and normalisation come from libutf8proc.
 *
 * Leaves out: ftfy's mojibake and terminal-escape repair.
 */
#include "concepts/tokenizer_clip_text.h"

#include <stdlib.h>
#include <utf8proc.h>

/* ------------------------------------------------------- code point buffers */

int clip_cp_reserve(clip_cpbuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    uint32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v) return -1;
    b->v = v, b->cap = cap;
    return 0;
}

int clip_cp_push(clip_cpbuf *b, uint32_t c) {
    if (b->n == b->cap && clip_cp_reserve(b, 1)) return -1;
    b->v[b->n++] = c;
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). Returns the
 * byte offset of the first bad sequence, or -1 when all is well. */
long clip_decode_utf8(const unsigned char *s, size_t len, clip_cpbuf *out) {
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

int clip_is_white_space(uint32_t c) { /* Unicode White_Space: what regex's \s matches */
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Bytes 0x80..0x9F as Windows-1252 (the five it leaves undefined map to
 * themselves): used by ftfy's fix_c1_controls and by html.unescape's &#128;..&#159;. */
const uint16_t clip_cp1252_c1[32] = {
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

static int ftfy_emit(clip_cpbuf *out, uint32_t c) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
    if (is_ftfy_control(c)) return 0;
    return clip_cp_push(out, c);
}

static int ftfy_width(clip_cpbuf *out, uint32_t c) {
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

int clip_ftfy_lite(const clip_cpbuf *in, clip_cpbuf *out) {
    out->n = 0;
    int ascii = 1;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c >= 0x80 && c <= 0x9F) c = clip_cp1252_c1[c - 0x80];
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
    if (m < 0 || clip_cp_reserve(out, (size_t)m)) {
        free(d);
        return -1;
    }
    for (utf8proc_ssize_t i = 0; i < m; i++) out->v[out->n++] = (uint32_t)d[i];
    free(d);
    return 0;
}

/* ------------------------------------------------------ whitespace, case */

/* strip(); re.sub(r'\s+', ' '); strip() */
void clip_collapse_whitespace(clip_cpbuf *b) {
    size_t w = 0;
    int pending = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (clip_is_white_space(b->v[i])) {
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
int clip_lower_python(const clip_cpbuf *in, clip_cpbuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c < 0x80) {
            if (out->n == out->cap && clip_cp_reserve(out, 1)) return -1;
            out->v[out->n++] = c >= 'A' && c <= 'Z' ? c + 32 : c;
            continue;
        }
        if (c == 0x130) {
            if (clip_cp_push(out, 'i') || clip_cp_push(out, 0x307)) return -1;
            continue;
        }
        if (c == 0x3A3) {
            size_t k = i;
            while (k > 0 && is_case_ignorable(in->v[k - 1])) k--;
            int before = k > 0 && is_cased(in->v[k - 1]);
            k = i + 1;
            while (k < in->n && is_case_ignorable(in->v[k])) k++;
            int after = k < in->n && is_cased(in->v[k]);
            if (clip_cp_push(out, before && !after ? 0x3C2 : 0x3C3)) return -1;
            continue;
        }
        if (clip_cp_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c))) return -1;
    }
    return 0;
}
