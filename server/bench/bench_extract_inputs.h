/* bench_extract_inputs.h — what `inficond bench extract` feeds both sides: the image
 * files (the first N .jpg under a folder, sorted) and the concepts (words gathered,
 * tokenized and embedded once before timing). bench_extract.c only. */
#ifndef INFICOND_BENCH_EXTRACT_INPUTS_H
#define INFICOND_BENCH_EXTRACT_INPUTS_H

#include <stdint.h>

#include "err.h"
#include "inficond_shim.h"
#include "models/model_manifest.h"

/* A growing list of owned strings. */
typedef struct bx_list {
    char **v;
    int len, cap;
} bx_list;

/* strcmp for qsort over char *. */
int bx_cmp_str(const void *a, const void *b);
/* Every .jpg / .jpeg under folder (to depth levels), appended to l. */
void bx_walk_jpegs(const char *folder, int depth, bx_list *l);
/* Copy a file; 0 or -1. */
int bx_copy_file(const char *from, const char *to);
/* The concept words: --words (comma-separated), --corpus (a file), else a words
 * tokenizer's list or a built-in one. */
int bx_gather_words(const model_manifest *mf, const char *words, const char *corpus, bx_list *w, err *e);
/* Token ids (w->len, context length) with the manifest's tokenizer; new array. */
int64_t *bx_tokenize(const model_manifest *mf, const bx_list *w, err *e);
/* Unit text embeddings (d, D) from the model's text method; new array. */
float *bx_embed(const model_manifest *mf, shim_model *model, const int64_t *ids, int d, err *e);

#endif
