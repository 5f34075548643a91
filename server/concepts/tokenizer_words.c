/* tokenizer_words.c — word-list tokenizer (see tokenizer_words.h).
 *
 * A word is a maximal run of letters, digits and combining marks (Unicode
 * classes from libutf8proc), so "red-brick's" is "red", "brick", "s"; the
 * rest (whitespace, punctuation, symbols) only separates. Words are NFC'd and
 * lower-cased with utf8proc (simple case mapping) both in the list and in the
 * text, so the two always agree.
 *
 * Leaves out: HTML unescaping and the rest of CLIP's text cleaning.
 */
#include "concepts/tokenizer_words.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct words_tokenizer {
    char **words;   /* by id - 1; NULL for a blank line */
    int n_words;
    int32_t *slots; /* open addressing: id, 0 = free */
    uint32_t mask;
};

static uint32_t words_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ h >> 15;
}

int words_tokenizer_id(const words_tokenizer *t, const char *word, size_t len) {
    for (uint32_t i = words_hash(word, len) & t->mask;; i = (i + 1) & t->mask) {
        int32_t id = t->slots[i];
        if (!id) return 0;
        const char *w = t->words[id - 1];
        if (strlen(w) == len && !memcmp(w, word, len)) return id;
    }
}

int words_tokenizer_size(const words_tokenizer *t) { return t ? t->n_words : 0; }

const char *words_tokenizer_word(const words_tokenizer *t, int id) {
    return t && id >= 1 && id <= t->n_words && t->words[id - 1] && t->words[id - 1][0] ? t->words[id - 1] : NULL;
}

static int is_word_char(utf8proc_int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* NFC + lower case of s[0..len) as a new string; NULL on invalid UTF-8 / OOM. */
static char *normalize_word(const char *s, size_t len) {
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &out,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) return NULL;
    /* lower-case in place, code point by code point (lengths may change: copy) */
    char *res = malloc((size_t)n * 2 + 1);
    if (!res) {
        free(out);
        return NULL;
    }
    size_t w = 0;
    for (utf8proc_ssize_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(out + i, n - i, &c);
        if (k <= 0) break;
        w += (size_t)utf8proc_encode_char(utf8proc_tolower(c), (utf8proc_uint8_t *)res + w);
        i += k;
    }
    res[w] = '\0';
    free(out);
    return res;
}

void words_tokenizer_free(words_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_words; i++) free(t->words[i]);
    free(t->words), free(t->slots), free(t);
}

words_tokenizer *words_tokenizer_load(const char *path, err *e) {
    if (!path || !*path) return err_set(e, ERR_UNPROCESSABLE, "no word list given"), NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return err_set(e, ERR_NOT_FOUND, "word list '%s' not found", path), NULL;
        return err_set(e, ERR_IO, "cannot open word list '%s': %s", path, strerror(errno)), NULL;
    }
    words_tokenizer *t = calloc(1, sizeof *t);
    char *line = NULL;
    size_t cap = 0, words_cap = 0;
    ssize_t len;
    if (!t) goto oom;
    while ((len = getline(&line, &cap, f)) >= 0) {
        int lineno = t->n_words + 1;
        char *s = line, *end = line + len;
        while (s < end && (*s == ' ' || *s == '\t')) s++;
        while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
        if (memchr(s, ' ', (size_t)(end - s)) || memchr(s, '\t', (size_t)(end - s))) {
            err_set(e, ERR_UNPROCESSABLE, "word list '%s' line %d holds more than one word", path, lineno);
            goto fail;
        }
        char *w = NULL;
        if (end > s && !(w = normalize_word(s, (size_t)(end - s)))) {
            err_set(e, ERR_UNPROCESSABLE, "word list '%s' line %d is not valid UTF-8", path, lineno);
            goto fail;
        }
        if ((size_t)t->n_words == words_cap) {
            words_cap = words_cap ? words_cap * 2 : 256;
            char **nw = realloc(t->words, words_cap * sizeof *nw);
            if (!nw) {
                free(w);
                goto oom;
            }
            t->words = nw;
        }
        t->words[t->n_words++] = w;
    }
    if (ferror(f)) {
        err_set(e, ERR_IO, "cannot read word list '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (!t->n_words) {
        err_set(e, ERR_UNPROCESSABLE, "word list '%s' is empty", path);
        goto fail;
    }
    uint32_t slots = 16;
    while (slots < (uint32_t)t->n_words * 2) slots *= 2;
    t->slots = calloc(slots, sizeof *t->slots);
    if (!t->slots) goto oom;
    t->mask = slots - 1;
    for (int id = 1; id <= t->n_words; id++) {
        const char *w = t->words[id - 1];
        if (!w || !*w) continue;
        size_t wl = strlen(w);
        for (uint32_t i = words_hash(w, wl) & t->mask;; i = (i + 1) & t->mask) {
            if (!t->slots[i]) {
                t->slots[i] = id;
                break;
            }
            if (!strcmp(t->words[t->slots[i] - 1], w)) break; /* repeated: first id wins */
        }
    }
    free(line);
    fclose(f);
    return t;
oom:
    err_set(e, ERR_INTERNAL, "out of memory loading word list");
fail:
    free(line);
    fclose(f);
    words_tokenizer_free(t);
    return NULL;
}

#define WORDS_MAX_NAMED 8

int words_tokenize(const words_tokenizer *t, const char *text, int context_length, int64_t *out,
                   err *e) {
    if (!t || !text || !out) return err_set(e, ERR_INTERNAL, "words_tokenize: missing argument");
    if (context_length < 1 || context_length > 1 << 20)
        return err_set(e, ERR_UNPROCESSABLE, "context length %d is out of range (1 .. %d)",
                       context_length, 1 << 20);
    size_t len = strlen(text);
    if (len > WORDS_MAX_TEXT_BYTES)
        return err_set(e, ERR_TOO_LARGE, "text is %zu bytes; the limit is %d", len, WORDS_MAX_TEXT_BYTES);
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
    for (size_t i = 0; i < len;) { /* validate first: errors name the text's fault, not a word's */
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k < 0) return err_set(e, ERR_UNPROCESSABLE, "text is not valid UTF-8 (at byte %zu)", i);
        i += (size_t)k;
    }
    char unknown[400];
    size_t ulen = 0;
    int n_unknown = 0, count = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
        if (!is_word_char(c)) {
            i += (size_t)k;
            continue;
        }
        size_t start = i;
        while (i < len && (k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c)) > 0 &&
               is_word_char(c))
            i += (size_t)k;
        char *w = normalize_word(text + start, i - start);
        if (!w) return err_set(e, ERR_INTERNAL, "out of memory tokenizing");
        int id = words_tokenizer_id(t, w, strlen(w));
        if (!id) {
            if (n_unknown++ < WORDS_MAX_NAMED) {
                int m = snprintf(unknown + ulen, sizeof unknown - ulen, "%s'%.40s'", ulen ? ", " : "", w);
                if (m > 0) ulen += (size_t)m < sizeof unknown - ulen ? (size_t)m : sizeof unknown - ulen - 1;
            }
        } else if (count < context_length) {
            out[count] = id;
        }
        if (id) count++;
        free(w);
    }
    if (n_unknown) {
        if (n_unknown > WORDS_MAX_NAMED)
            return err_set(e, ERR_UNPROCESSABLE, "unknown words %s and %d more", unknown,
                           n_unknown - WORDS_MAX_NAMED);
        return err_set(e, ERR_UNPROCESSABLE, "unknown word%s %s", n_unknown > 1 ? "s" : "", unknown);
    }
    if (count > context_length)
        return err_set(e, ERR_UNPROCESSABLE, "text has %d words; the context length is %d", count,
                       context_length);
    for (int j = count; j < context_length; j++) out[j] = 0;
    return count;
}
