/* tokenizer_clip_text.h — inside the CLIP tokenizer: a text as code points, and
 * the cleaning clip/simple_tokenizer.py does before it splits (tokenizer_clip_text.c;
 * html.unescape in tokenizer_clip_html.c). Only the tokenizer's own files include
 * this.
 */
#ifndef INFICOND_TOKENIZER_CLIP_TEXT_H
#define INFICOND_TOKENIZER_CLIP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* A growable buffer of code points. */
typedef struct {
    uint32_t *v; /* (cap) */
    size_t n, cap;
} clip_cpbuf;

/* Room for `extra` more code points; -1 out of memory. */
int clip_cp_reserve(clip_cpbuf *b, size_t extra);
int clip_cp_push(clip_cpbuf *b, uint32_t c);

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF) appended to out,
 * which must have room for len code points. Returns the byte offset of the first
 * bad sequence, or -1 when all is well. */
long clip_decode_utf8(const unsigned char *s, size_t len, clip_cpbuf *out);

/* Unicode White_Space: what regex's \s matches. */
int clip_is_white_space(uint32_t c);

/* Bytes 0x80..0x9F as Windows-1252 (the five it leaves undefined map to
 * themselves): ftfy's fix_c1_controls and html.unescape's &#128;..&#159;. */
extern const uint16_t clip_cp1252_c1[32];

/* ftfy.fix_text's character-level fixes, then NFC: in -> out (replaced). -1 out of memory. */
int clip_ftfy_lite(const clip_cpbuf *in, clip_cpbuf *out);
/* Python's html.unescape: in -> out (replaced). Never grows the text, so out needs
 * no more room than in->n. */
void clip_html_unescape(const clip_cpbuf *in, clip_cpbuf *out);
/* strip(); re.sub(r'\s+', ' '); strip(), in place. */
void clip_collapse_whitespace(clip_cpbuf *b);
/* Python's str.lower(): in -> out (replaced). -1 out of memory. */
int clip_lower_python(const clip_cpbuf *in, clip_cpbuf *out);

#endif
