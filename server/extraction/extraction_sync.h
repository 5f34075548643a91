/* extraction_sync.h — keeping ready extractions current when their corpus's words
 * change (the corpus routes call these), from the stored segments alone: the image
 * encoder never runs again.
 */
#ifndef INFICOND_EXTRACTION_SYNC_H
#define INFICOND_EXTRACTION_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

/* Before a word change: check words[0..n) against the tokenizer of every concept
 * model the corpus is extracted with, and embed them there (stored for later), so
 * a word a model cannot read, or a text side of the wrong size, fails
 * (ERR_UNPROCESSABLE) before anything changes. */
int extraction_embed_for_corpus(app *a, int64_t corpus_id, char *const *words, size_t n, err *e) WARN_UNUSED;

/* Bring a ready extraction's presence to its corpus's current word list: columns of
 * kept words are kept, new words are embedded and computed from the stored segments
 * (presence_add_concept), removed ones dropped. Safe to race with other changes (the
 * update is conditional and retried). *changed (nullable) = 1 when a new matrix was
 * stored. Not ready: nothing to do (0). */
int extraction_sync(app *a, int64_t extraction_id, int *changed, err *e) WARN_UNUSED;
/* extraction_sync for every ready extraction of a corpus; *updated counts those
 * changed. Stops at the first failure. */
int extraction_sync_corpus(app *a, int64_t corpus_id, int *updated, err *e) WARN_UNUSED;

#endif
