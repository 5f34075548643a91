/* tokenizer_clip.c — CLIP's byte-level BPE (clip/simple_tokenizer.py), in C: one
 * text to its token ids.
 *
 * Per text: validate UTF-8; clean (a character-level subset of ftfy.fix_text,
 * html.unescape twice); collapse whitespace; lower-case (Python's str.lower());
 * split with CLIP's pattern
 *   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+
 * (IGNORECASE); map each piece's UTF-8 bytes to byte symbols, suffix the last
 * with </w>, and merge the lowest-ranked adjacent pair until none is known.
 * Unicode classes and case come from libutf8proc.
 *
 * Leaves out: ftfy's mojibake and terminal-escape repair and its all-caps entity
 * names; per-word caching (BPE of a prompt word is a handful of lookups).
 *
 * The parts: tokenizer_clip_text.c and tokenizer_clip_html.c clean the text,
 * tokenizer_clip_bpe.c loads the merge table and merges a piece; here the text is
 * split and the ids laid out.
 */
#include "concepts/tokenizer_clip.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "concepts/tokenizer_clip_bpe.h"
#include "concepts/tokenizer_clip_text.h"

/* ------------------------------------------------------- split and merge */

enum { CLS_SPACE, CLS_LETTER, CLS_NUMBER, CLS_OTHER };

static int char_class(uint32_t c) {
    if (c < 0x80) {
        if ((c | 32) >= 'a' && (c | 32) <= 'z') return CLS_LETTER;
        if (c >= '0' && c <= '9') return CLS_NUMBER;
        return clip_is_white_space(c) ? CLS_SPACE : CLS_OTHER;
    }
    if (clip_is_white_space(c)) return CLS_SPACE;
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
    size_t m = clip_bpe_piece(t, cps, n, sym, rank);
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

    clip_cpbuf a = {0}, b = {0};
    int32_t *sym = NULL;
    int rc = -1;
    if (clip_cp_reserve(&a, len + 1) || clip_cp_reserve(&b, len + 1)) goto oom;
    long bad = clip_decode_utf8((const unsigned char *)text, len, &a);
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
        if (clip_ftfy_lite(&a, &b) || clip_cp_reserve(&a, b.n + 1)) goto oom;
        clip_html_unescape(&b, &a);
        clip_html_unescape(&a, &b);
    } else {
        clip_html_unescape(&a, &b);
        clip_html_unescape(&b, &a);
        if (clip_ftfy_lite(&a, &b)) goto oom;
    }
    clip_collapse_whitespace(&b);
    if (clip_lower_python(&b, &a)) goto oom;

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
