/* concepts.h — concept words (pipeline step 1, README.md of this folder): the rules a
 * concept word follows, parsing a corpus text file, and embedding words through a
 * concept model's text side, once per (model, word) (table concept_embeddings).
 *
 * A word is normalised before it is stored or compared: surrounding blanks dropped,
 * inner whitespace runs collapsed to one space, ASCII lower-cased (the tokenizers
 * lower-case too, so "Grass" and "grass" are one concept). At most CONCEPT_WORD_MAX
 * bytes of valid UTF-8 with no control characters and no '/' (a word is a URL path
 * segment in the API).
 */
#ifndef INFICOND_CONCEPTS_H
#define INFICOND_CONCEPTS_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "models/model_registry.h"

#define CONCEPT_WORD_MAX 128
#define CONCEPT_CORPUS_MAX 20000   /* words per corpus */
#define CONCEPT_TEXT_BATCH 64      /* words per text-encoder call */
#define CONCEPT_REPORT_LINES 20    /* line numbers named per problem in an import report */

/* Normalise in[0..len) into out (cap >= len + 1). Returns the normalised length,
 * 0 for a blank word, -1 for bytes a word may not hold (control characters, '/',
 * invalid UTF-8), -2 when longer than CONCEPT_WORD_MAX after normalising. */
int concept_word_normalize(const char *in, size_t len, char *out, size_t cap);

/* A corpus text file: one concept per line. Blank lines and repeats (after
 * normalising) are dropped, over-long and invalid lines too; every drop is counted
 * and the first CONCEPT_REPORT_LINES line numbers (1-based) of each kind kept. */
typedef struct corpus_text {
    char **words;                 /* (n) normalised, first-seen order, owned */
    size_t n;
    size_t dropped_blank, dropped_duplicates, too_long, invalid;
    int too_long_lines[CONCEPT_REPORT_LINES], invalid_lines[CONCEPT_REPORT_LINES];
} corpus_text;

/* Parse text[0..len). ERR_UNPROCESSABLE when more than CONCEPT_CORPUS_MAX words. */
int corpus_text_parse(const char *text, size_t len, corpus_text *out, err *e) WARN_UNUSED;
void corpus_text_free(corpus_text *c); /* NULL-safe, leaves *c zeroed */

/* Can the model's tokenizer take every word? ERR_UNPROCESSABLE naming the words
 * a `words` tokenizer does not know (all of them, up to 8), or the first word a
 * clip-bpe tokenizer cannot fit in the context length. */
int concept_check_words(const model_manifest *mf, char *const *words, size_t n, err *e) WARN_UNUSED;

/* Embeddings of words[0..n) under model m (D = the text method's output size),
 * as unit rows: *out is a new malloc'd (n, D) matrix. Words already in
 * concept_embeddings for this model are read from there; the others go through the
 * text method in batches of CONCEPT_TEXT_BATCH and are stored. A text output whose
 * size differs from manifest.embedding_dim is ERR_UNPROCESSABLE. */
int concept_embed_words(app *a, model_ref *m, char *const *words, size_t n, float **out, int *dim,
                        err *e) WARN_UNUSED;

/* Stored embeddings only (no model run), as unit rows (n, dim): ERR_CONFLICT naming
 * the first word that was never embedded with this model. */
int concept_embeddings_load(app *a, int64_t model_id, int dim, char *const *words, size_t n, float **out,
                            err *e) WARN_UNUSED;

#endif
