/* vocabulary.c — a concept model's vocabulary for people typing concepts: prefix
 * listings, nearest words, the reason a word is refused (see vocabulary.h).
 */
#include "concepts/vocabulary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"

/* Edit distance between a and b (bytes), or max + 1 once it must exceed max. */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb, int max) {
    if ((la > lb ? la - lb : lb - la) > (size_t)max) return max + 1;
    int prev[4 * CONCEPT_WORD_MAX + 9], cur[4 * CONCEPT_WORD_MAX + 9];
    if (lb + 1 > sizeof prev / sizeof *prev) return max + 1;
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int row_min = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]), del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (cur[j] < row_min) row_min = cur[j];
        }
        if (row_min > max) return max + 1;
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

typedef struct near_word {
    int dist;
    size_t len;
    int id;
} near_word;

static int near_before(const near_word *x, const near_word *y) {
    if (x->dist != y->dist) return x->dist < y->dist;
    if (x->len != y->len) return x->len < y->len;
    return x->id < y->id;
}

size_t vocabulary_nearest(const words_tokenizer *t, const char *word, const char **out, size_t k) {
    near_word best[VOCABULARY_NEAREST];
    size_t m = 0, lw = strlen(word);
    /* a short word is near fewer edits: three edits make "red" of "sky" */
    int max = (int)(lw + 1) / 2 < VOCABULARY_MAX_DISTANCE ? (int)(lw + 1) / 2 : VOCABULARY_MAX_DISTANCE;
    if (max < 1) max = 1;
    if (k > VOCABULARY_NEAREST) k = VOCABULARY_NEAREST;
    for (int id = 1; id <= words_tokenizer_size(t) && k; id++) {
        const char *w = words_tokenizer_word(t, id);
        if (!w || words_tokenizer_id(t, w, strlen(w)) != id) continue; /* blank, or a repeat */
        size_t lv = strlen(w);
        if (lv == lw && !memcmp(w, word, lw)) continue;                  /* the word itself */
        int d = edit_distance(w, lv, word, lw, max);
        if (lw && lv > lw && !memcmp(w, word, lw) && d > 1) d = 1;      /* typed the start of it */
        if (d > max) continue;
        near_word c = {d, lv, id};
        if (m == k && !near_before(&c, &best[m - 1])) continue;
        size_t at = m < k ? m++ : k - 1;
        while (at > 0 && near_before(&c, &best[at - 1])) best[at] = best[at - 1], at--;
        best[at] = c;
    }
    for (size_t i = 0; i < m; i++) out[i] = words_tokenizer_word(t, best[i].id);
    return m;
}

static int by_bytes(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int vocabulary_prefix(const words_tokenizer *t, const char *prefix, const char **out, size_t limit, size_t *total,
                      err *e) {
    size_t n = (size_t)words_tokenizer_size(t), m = 0, lp = strlen(prefix);
    const char **all = malloc((n + 1) * sizeof *all); // (matches)
    if (!all) return err_set(e, ERR_INTERNAL, "out of memory");
    for (int id = 1; id <= (int)n; id++) {
        const char *w = words_tokenizer_word(t, id);
        if (w && !strncmp(w, prefix, lp) && words_tokenizer_id(t, w, strlen(w)) == id) all[m++] = w;
    }
    qsort(all, m, sizeof *all, by_bytes);
    for (size_t i = 0; i < m && i < limit; i++) out[i] = all[i];
    *total = m;
    free(all);
    return 0;
}

int vocabulary_unknown(const words_tokenizer *t, const char *text, char *out, size_t cap) {
    int unknown = 0;
    size_t used = 0;
    if (cap) out[0] = 0;
    for (const char *s = text; *s;) {
        /* words are runs of anything but ASCII blanks and punctuation (the tokenizer's
         * rule, near enough for naming them) */
        while (*s && (unsigned char)*s < 0x80 && !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))) s++;
        const char *w = s;
        while (*s && ((unsigned char)*s >= 0x80 || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))) s++;
        if (s == w || words_tokenizer_id(t, w, (size_t)(s - w))) continue;
        char word[4 * CONCEPT_WORD_MAX + 8];
        snprintf(word, sizeof word, "%.*s", (int)(s - w), w);
        const char *near[VOCABULARY_NEAREST];
        size_t k = vocabulary_nearest(t, word, near, VOCABULARY_NEAREST);
        int m = snprintf(out + used, used < cap ? cap - used : 0, "%s'%s' (%s", unknown++ ? ", " : "", word,
                         k ? "nearest: " : "no word near it");
        used += m > 0 ? (size_t)m : 0;
        for (size_t i = 0; i < k; i++) {
            m = snprintf(out + used, used < cap ? cap - used : 0, "%s'%s'", i ? ", " : "", near[i]);
            used += m > 0 ? (size_t)m : 0;
        }
        m = snprintf(out + used, used < cap ? cap - used : 0, ")");
        used += m > 0 ? (size_t)m : 0;
    }
    if (cap && used >= cap) out[cap - 1] = 0;
    return unknown;
}

json_t *vocabulary_json(const model_manifest *mf, const char *prefix, size_t limit, err *e) {
    if (mf->tokenizer == MODEL_TOKENIZER_CLIP_BPE)
        return json_pack("{s:s,s:b,s:i,s:[]}", "tokenizer", "clip-bpe", "open", 1, "context_length",
                         mf->context_length, "items");
    if (mf->tokenizer != MODEL_TOKENIZER_WORDS) {
        err_set(e, ERR_UNPROCESSABLE, "the model has no tokenizer: it is not a concept model");
        return NULL;
    }
    words_tokenizer *t = words_tokenizer_load(mf->tokenizer_path, e);
    if (!t) return NULL;
    const char **items = malloc((limit + 1) * sizeof *items);
    size_t total = 0;
    json_t *out = NULL;
    if (!items) {
        err_set(e, ERR_INTERNAL, "out of memory");
    } else if (!vocabulary_prefix(t, prefix, items, limit, &total, e)) {
        json_t *arr = json_array();
        for (size_t i = 0; i < total && i < limit; i++) json_array_append_new(arr, json_string(items[i]));
        out = json_pack("{s:s,s:b,s:i,s:s,s:I,s:o}", "tokenizer", "words", "open", 0, "size",
                        words_tokenizer_size(t), "prefix", prefix, "total", (json_int_t)total, "items", arr);
        if (!out) err_set(e, ERR_INTERNAL, "out of memory");
    }
    free(items);
    words_tokenizer_free(t);
    return out;
}
