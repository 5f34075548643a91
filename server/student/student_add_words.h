/* student_add_words.h — the words a tune adds to a student made presence columns of
 * its extraction, before the new version is computed.
 *
 * A word the extraction already has is used as it is. The others must be readable by
 * the extraction's concept model (else ERR_UNPROCESSABLE "actions[i].concept: ..."
 * with the reason and the nearest words the model has: nothing changes); they are
 * then checked and embedded by every concept model of the corpus
 * (extraction_embed_for_corpus) and appended to it (corpus_words_append) and their presence columns computed from the stored
 * segments (extraction_sync_corpus) before this returns: one read of the segment
 * blobs, seconds at most, so the tune stays one synchronous request. The columns of
 * the words the student already has are copied by that sync, bit for bit, so its
 * versions stay usable (ss_student_problem checks their hashes).
 */
#ifndef INFICOND_STUDENT_ADD_WORDS_H
#define INFICOND_STUDENT_ADD_WORDS_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

/* words (n): the added words (normalised); action_of (n): the index in "actions" of
 * the action adding each (for messages). *changed = 1 when the extraction got new
 * columns. */
int ss_add_words_ensure(app *a, int64_t extraction_id, char *const *words, const size_t *action_of, size_t n,
                        int *changed, err *e) WARN_UNUSED;

#endif
