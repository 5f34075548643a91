/* corpus_words.h — adding words to a concept corpus, the step that the corpus routes
 * (POST /corpora/{id}/words) and a student's "add" action share.
 *
 * The words are first checked against every concept model the corpus is extracted
 * with (a word one of them cannot read is ERR_UNPROCESSABLE with the reason and the
 * nearest words it has: concepts.h), then inserted at the end of the corpus under the
 * corpus row lock, where the word limit (INFICOND_MAX_CORPUS_CONCEPTS) is checked,
 * and the corpus version moves once. The extractions are brought up to date by the
 * caller (extraction_sync_corpus), so a failed sync leaves the word change standing
 * and the extraction shows itself out of date.
 */
#ifndef INFICOND_CORPUS_WORDS_H
#define INFICOND_CORPUS_WORDS_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

/* Words per corpus: INFICOND_MAX_CORPUS_CONCEPTS, never above what the parser takes. */
int corpus_words_limit(const app *a);

/* Can every concept model the corpus is extracted with read words (n)? They are
 * embedded there (and the embeddings kept), so a later sync only reads them back. */
int corpus_words_check_models(app *a, int64_t corpus_id, char *const *words, size_t n, err *e) WARN_UNUSED;

/* Append words (n, normalised: concept_word_normalize) to corpus_id. A word already
 * in the corpus is ERR_CONFLICT "'w' is already in the corpus", unless present_ok,
 * when it is skipped. *added (nullable): how many were inserted (the version moves
 * only when > 0). ERR_NOT_FOUND for no corpus; nothing changes on any error. */
int corpus_words_add(app *a, int64_t corpus_id, char *const *words, size_t n, int present_ok, size_t *added,
                     err *e) WARN_UNUSED;

#endif
