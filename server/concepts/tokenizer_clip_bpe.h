/* tokenizer_clip_bpe.h — inside the CLIP tokenizer: the merges of one piece over a
 * loaded table (tokenizer_clip_bpe.c, which also loads and caches the tables
 * declared in tokenizer_clip.h). Only tokenizer_clip.c includes this.
 */
#ifndef INFICOND_TOKENIZER_CLIP_BPE_H
#define INFICOND_TOKENIZER_CLIP_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "concepts/tokenizer_clip.h"

/* Byte-level BPE of one piece, cps[0..n) code points: its UTF-8 bytes as byte
 * symbols, the last one with </w>, then each round merges every occurrence, left
 * to right, of the lowest-ranked known pair, as CLIP does. sym and rank are scratch
 * of at least 4 n entries; the resulting vocab ids are sym[0 .. return value). */
size_t clip_bpe_piece(const clip_tokenizer *t, const uint32_t *cps, size_t n, int32_t *sym, int32_t *rank);

#endif
