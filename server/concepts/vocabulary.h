/* vocabulary.h — what a concept model can read, for people typing a concept word:
 * a word-list model's words that start with what was typed, and the words nearest
 * (edit distance) to one it does not know; a CLIP model's byte-level BPE reads any
 * text up to its context length, so its vocabulary is open.
 *
 * Left out: ranking by how common a word is (a word list says nothing about that);
 * words are listed in byte order, nearest ones by distance, then length, then list
 * order.
 */
#ifndef INFICOND_VOCABULARY_H
#define INFICOND_VOCABULARY_H

#include <jansson.h>
#include <stddef.h>

#include "concepts/tokenizer_words.h"
#include "err.h"
#include "models/model_manifest.h"

#define VOCABULARY_NEAREST 5       /* suggestions named for an unknown word */
#define VOCABULARY_MAX_DISTANCE 3  /* edits beyond which a word is not "near" */
#define VOCABULARY_LIMIT_MAX 1000  /* words one answer lists */

/* Up to k words of t nearest to word (at most (length + 1) / 2 edits, and never more
 * than VOCABULARY_MAX_DISTANCE, or starting with it) into out, borrowed from t;
 * returns how many. */
size_t vocabulary_nearest(const words_tokenizer *t, const char *word, const char **out, size_t k);

/* Up to limit words of t starting with prefix (all words for ""), in byte order, into
 * out (borrowed from t); *total = how many match. out has room for limit. */
int vocabulary_prefix(const words_tokenizer *t, const char *prefix, const char **out, size_t limit, size_t *total,
                      err *e) WARN_UNUSED;

/* Why a `words` tokenizer refuses text (a concept word), for a person: each unknown
 * word with its nearest words, "'smal' (nearest: 'small', 'smell')", joined by ", "
 * into out (cap bytes). Returns how many words of text are unknown. */
int vocabulary_unknown(const words_tokenizer *t, const char *text, char *out, size_t cap);

/* GET /models/{id}/vocabulary for the concept model mf: {"tokenizer", "open": false,
 * "size", "prefix", "total", "items": [words]} for a word list, {"tokenizer", "open":
 * true, "context_length", "items": []} for clip-bpe (any text of at most that many
 * tokens). ERR_UNPROCESSABLE for a model without a tokenizer. New, or NULL. */
json_t *vocabulary_json(const model_manifest *mf, const char *prefix, size_t limit, err *e);

#endif
