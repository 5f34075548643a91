/* tokenizer_words.h — the `words` tokenizer for small concept models: a text is
 * split at whitespace and punctuation, lower-cased, and each word is its line
 * number in a word list (1-based; 0 is padding). Read-only after load, so safe
 * to share between threads.
 *
 * Leaves out: sub-word pieces (an unknown word is an error naming it), start
 * and end tokens, and truncation.
 */
#ifndef INFICOND_TOKENIZER_WORDS_H
#define INFICOND_TOKENIZER_WORDS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define WORDS_MAX_TEXT_BYTES (64 * 1024)

typedef struct words_tokenizer words_tokenizer;

/* One word per line (trailing "\r" and surrounding blanks ignored; words are
 * lower-cased). A blank line still takes its id; a repeated word keeps its
 * first id. ERR_NOT_FOUND / ERR_IO when unreadable, ERR_UNPROCESSABLE when a
 * line is not valid UTF-8, holds two words, or the list is empty. */
words_tokenizer *words_tokenizer_load(const char *word_list_path, err *e) WARN_UNUSED;
void words_tokenizer_free(words_tokenizer *t);

/* Number of ids in use: the word list's line count (ids are 1 .. size). */
int words_tokenizer_size(const words_tokenizer *t);

/* The word of id (1 .. size), NULL for a blank line or an id out of range. */
const char *words_tokenizer_word(const words_tokenizer *t, int id);

/* Id of one word (already lower-case), or 0 when it is not in the list. */
int words_tokenizer_id(const words_tokenizer *t, const char *word, size_t len);

/* Tokenize a NUL-terminated UTF-8 text into out[0 .. context_length-1], ids
 * then zeros. Returns the number of words or -1: ERR_UNPROCESSABLE for
 * unknown words (naming each, up to 8), for more words than context_length,
 * or for invalid UTF-8. */
int words_tokenize(const words_tokenizer *t, const char *text, int context_length, int64_t *out,
                   err *e) WARN_UNUSED;

#endif
