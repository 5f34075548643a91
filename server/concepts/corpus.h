/* corpus.h — concept corpora: the rows of `corpora` and `corpus_words`. corpus.c is
 * the only code that writes them (routes_corpora.c, the demo job and the extraction
 * all come here).
 *
 * A corpus is a named, ordered list of normalised concept words (concepts.h says
 * what a word may hold) and a version that moves whenever the list changes; an
 * extraction records the version it was computed at. Word changes lock the corpus
 * row (SELECT … FOR UPDATE) so that the limit check and the change are one step.
 * Ids are passed as int64_t; JSON answers are new references.
 */
#ifndef INFICOND_CORPUS_H
#define INFICOND_CORPUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

/* The reason a word list is refused for its size (printf format, one %d: the limit). */
#define CORPUS_LIMIT_FMT "over the limit of %d concepts per corpus (INFICOND_MAX_CORPUS_CONCEPTS)"

/* Words per corpus: INFICOND_MAX_CORPUS_CONCEPTS, never above CONCEPT_CORPUS_MAX
 * (what the text parser takes). */
int corpus_word_limit(const app *a);

/* Insert the corpus and its words (n >= 1, normalised, distinct) in one transaction;
 * its id in *id. user_id <= 0: no creator. ERR_CONFLICT "a corpus named '…' already
 * exists". */
int corpus_create(app *a, const char *name, char *const *words, size_t n, int64_t user_id, int64_t *id,
                  err *e) WARN_UNUSED;

/* The id of the corpus with this name in *id, 0 when there is none. */
int corpus_find(app *a, const char *name, int64_t *id, err *e) WARN_UNUSED;

/* 0 when corpus id exists, else ERR_NOT_FOUND "no corpus N". */
int corpus_exists(app *a, int64_t id, err *e) WARN_UNUSED;

/* ERR_UNPROCESSABLE when the corpus already holds corpus_word_limit words (one more
 * would be over). A check before work; corpus_word_add checks again under the lock. */
int corpus_check_room(app *a, int64_t id, err *e) WARN_UNUSED;

/* Rename (name non-NULL) and/or replace the word list (words non-NULL, n >= 1) in one
 * transaction under the row lock. The version moves only when the list really
 * changes. ERR_NOT_FOUND, or ERR_CONFLICT "a corpus named '…' already exists". */
int corpus_update(app *a, int64_t id, const char *name, char *const *words, size_t n, err *e) WARN_UNUSED;

/* Append one normalised word and bump the version, under the row lock.
 * ERR_NOT_FOUND; ERR_UNPROCESSABLE at the limit; ERR_CONFLICT "'w' is already in the
 * corpus". */
int corpus_word_add(app *a, int64_t id, const char *word, err *e) WARN_UNUSED;

/* Append the words (n, normalised, distinct) the corpus lacks, in their order, and
 * bump the version once when any was new, under the row lock; *added: how many.
 * Words already there are skipped (a student's add of a word the corpus holds).
 * ERR_NOT_FOUND; ERR_UNPROCESSABLE when the new ones would pass the limit. */
int corpus_words_append(app *a, int64_t id, char *const *words, size_t n, size_t *added, err *e) WARN_UNUSED;

/* Remove one normalised word and bump the version, under the row lock.
 * ERR_NOT_FOUND (no corpus, or the word is not in it); ERR_UNPROCESSABLE when it is
 * the last word (a corpus is never empty). */
int corpus_word_remove(app *a, int64_t id, const char *word, err *e) WARN_UNUSED;

/* The corpus's words in order (*words: n new strings in a new array, free with
 * corpus_words_free) and its version. ERR_NOT_FOUND "no corpus N". */
int corpus_words(app *a, int64_t id, char ***words, size_t *n, int *version, err *e) WARN_UNUSED;
void corpus_words_free(char **words, size_t n); /* NULL-safe */

/* {id, name, version, words, word_count, created_by, created_at, updated_at}.
 * ERR_NOT_FOUND "no corpus N". */
json_t *corpus_json(app *a, int64_t id, err *e);
/* {items: [{id, name, version, word_count, created_at}], total, limit, offset};
 * limit and offset as decimal text (checked by the caller). */
json_t *corpus_list_json(app *a, const char *limit, const char *offset, err *e);

#endif
