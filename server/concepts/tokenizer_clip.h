/* tokenizer_clip.h — OpenAI CLIP's byte-level BPE tokenizer, exactly as
 * clip/simple_tokenizer.py does it, for a concept model's text method.
 *
 * A vocab file is CLIP's bpe_simple_vocab_16e6.txt.gz (gzip or plain text): a
 * header line, then merges "left right" by rank. Loaded once, a tokenizer is
 * read-only and safe to share between threads. The vocab path always comes from
 * the caller (a model folder's manifest); nothing here knows a default.
 *
 * Leaves out: ftfy's mojibake repair (only its character-level fixes are done,
 * see tokenizer_clip.c), decoding ids back to text, and vocabularies other than
 * CLIP's 48,894-merge layout (SOT = 49406, EOT = 49407).
 */
#ifndef INFICOND_TOKENIZER_CLIP_H
#define INFICOND_TOKENIZER_CLIP_H

#include <stdint.h>

#include "err.h"

#define CLIP_CONTEXT_LENGTH 77
#define CLIP_SOT_ID 49406
#define CLIP_EOT_ID 49407
#define CLIP_VOCAB_SIZE 49408
/* Texts longer than this (bytes) are refused before any work: a prompt is short,
 * and the cap bounds the time one request can take. */
#define CLIP_MAX_TEXT_BYTES (64 * 1024)

typedef struct clip_tokenizer clip_tokenizer;

/* Read and index a vocab file. ERR_NOT_FOUND / ERR_IO when it cannot be opened,
 * ERR_UNPROCESSABLE when it is not a CLIP merges file (with the line at fault). */
clip_tokenizer *clip_tokenizer_load(const char *vocab_path, err *e) WARN_UNUSED;
void clip_tokenizer_free(clip_tokenizer *t);

/* The process-wide cache: the tokenizer for this path, loading it on first use
 * (keyed by the path plus the file's device, inode, size and mtime, so a replaced
 * file is reloaded). The result stays valid until clip_tokenizer_cache_clear(). */
const clip_tokenizer *clip_tokenizer_get(const char *vocab_path, err *e) WARN_UNUSED;
/* Free every cached tokenizer; only when no thread can still be using one. */
void clip_tokenizer_cache_clear(void);

/* Tokenize one NUL-terminated UTF-8 text into out[0 .. context_length-1]:
 * SOT, the BPE ids, EOT, then zeros. Returns the number of non-padding tokens
 * (>= 2) or -1. A text that needs more than context_length tokens fails with
 * ERR_UNPROCESSABLE naming its length, unless `truncate` is set: then it is cut
 * to context_length tokens with EOT last (as clip.tokenize(truncate=True)).
 * Invalid UTF-8 fails with ERR_UNPROCESSABLE naming the byte offset. */
int clip_tokenize(const clip_tokenizer *t, const char *text, int context_length, int truncate,
                  int64_t *out, err *e) WARN_UNUSED;

#endif
