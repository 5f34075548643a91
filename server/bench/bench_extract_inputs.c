/* bench_extract_inputs.c — the files and concepts `inficond bench extract` feeds
 * both sides (see bench_extract_inputs.h). */
#include "bench/bench_extract_inputs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/bench_util.h"
#include "concepts/concepts.h"
#include "concepts/tokenizer_clip.h"
#include "concepts/tokenizer_words.h"
#include "extraction/segments.h"
#include "file_read.h"

/* ---- files ------------------------------------------------------------------ */


int bx_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_add(bx_list *l, const char *path) {
    if (l->len == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        char **nv = realloc(l->v, (size_t)cap * sizeof *nv);
        if (!nv) return;
        l->v = nv, l->cap = cap;
    }
    char *s = strdup(path);
    if (s) l->v[l->len++] = s;
}

/* Every .jpg under folder (depth <= 4, no symlinks followed). */
void bx_walk_jpegs(const char *folder, int depth, bx_list *l) {
    DIR *d = opendir(folder);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", folder, de->d_name) >= (int)sizeof path) continue;
        struct stat sb;
        if (lstat(path, &sb)) continue;
        size_t L = strlen(de->d_name);
        if (S_ISDIR(sb.st_mode) && depth < 4) bx_walk_jpegs(path, depth + 1, l);
        else if (S_ISREG(sb.st_mode) && L >= 5 && !strcasecmp(de->d_name + L - 4, ".jpg")) list_add(l, path);
    }
    closedir(d);
}

int bx_copy_file(const char *from, const char *to) {
    size_t len;
    char *b = file_read_all(from, BENCH_FILE_MAX, &len, NULL);
    if (!b) return -1;
    FILE *f = fopen(to, "wb");
    int rc = f && fwrite(b, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f)) rc = -1;
    free(b);
    return rc;
}

/* ---- concepts --------------------------------------------------------------- */

static const char *const default_words[] = {"grass", "sky",   "water", "tree",  "road",  "sand",  "snow",  "brick",
                                            "wood",  "metal", "cloth", "stone", "red",   "blue",  "green", "yellow",
                                            "dog",   "cat",   "car",   "house", "shoe",  "shirt", "bag",   "dress"};

static void add_word(bx_list *w, const char *s, size_t len) {
    char buf[CONCEPT_WORD_MAX + 1];
    int L = len <= CONCEPT_WORD_MAX * 2 ? concept_word_normalize(s, len, buf, sizeof buf) : -2;
    if (L <= 0) return;
    for (int i = 0; i < w->len; i++)
        if (!strcmp(w->v[i], buf)) return;
    list_add(w, buf);
}

int bx_gather_words(const model_manifest *mf, const char *words, const char *corpus, bx_list *w, err *e) {
    if (words) {
        for (const char *s = words; *s;) {
            const char *c = strchr(s, ',');
            size_t L = c ? (size_t)(c - s) : strlen(s);
            add_word(w, s, L);
            s += L + (c ? 1 : 0);
        }
    } else if (corpus || mf->tokenizer == MODEL_TOKENIZER_WORDS) {
        size_t len;
        char *b = file_read_all(corpus ? corpus : mf->tokenizer_path, BENCH_FILE_MAX, &len, e);
        if (!b) return -1;
        corpus_text ct = {0};
        int rc = corpus_text_parse((const char *)b, len, &ct, e);
        free(b);
        if (rc) return -1;
        for (size_t i = 0; i < ct.n; i++) list_add(w, ct.words[i]);
        corpus_text_free(&ct);
    } else {
        for (size_t i = 0; i < sizeof default_words / sizeof *default_words; i++) list_add(w, default_words[i]);
    }
    if (w->len == 0) return err_set(e, ERR_BAD_REQUEST, "no concept words");
    return 0;
}

/* Token ids (d, L) of the words with the model's tokenizer. */
int64_t *bx_tokenize(const model_manifest *mf, const bx_list *w, err *e) {
    const int L = mf->context_length;
    int64_t *ids = calloc((size_t)w->len * L, sizeof *ids);
    if (!ids) return err_set(e, ERR_INTERNAL, "out of memory"), NULL;
    int rc = 0;
    if (mf->tokenizer == MODEL_TOKENIZER_CLIP_BPE) {
        const clip_tokenizer *t = clip_tokenizer_get(mf->tokenizer_path, e);
        if (!t) rc = -1;
        for (int i = 0; i < w->len && !rc; i++)
            if (clip_tokenize(t, w->v[i], L, 0, ids + (size_t)i * L, e) < 0) rc = -1;
    } else {
        words_tokenizer *t = words_tokenizer_load(mf->tokenizer_path, e);
        if (!t) rc = -1;
        for (int i = 0; i < w->len && !rc; i++)
            if (words_tokenize(t, w->v[i], L, ids + (size_t)i * L, e) < 0) rc = -1;
        words_tokenizer_free(t);
    }
    if (rc) free(ids);
    return rc ? NULL : ids;
}

/* (d, D) unit rows through the text method. */
float *bx_embed(const model_manifest *mf, shim_model *model, const int64_t *ids, int d, err *e) {
    const int L = mf->context_length, D = mf->embedding_dim;
    shim_input in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {d, L}, .data = ids, .count = (size_t)d * L};
    shim_output out = {0};
    char eb[320];
    if (shim_model_run(model, mf->method_text, &in, 1, &out, eb, sizeof eb))
        return err_set(e, ERR_TORCH, "text method '%s': %s", mf->method_text, eb), NULL;
    if (out.ndim != 2 || out.shape[0] != d || out.shape[1] != D) {
        shim_free_output(&out);
        return err_set(e, ERR_UNPROCESSABLE, "text method '%s': not (%d, %d)", mf->method_text, d, D), NULL;
    }
    segments_normalize_rows(out.data, (size_t)d, D);
    return out.data; /* malloc'd */
}
