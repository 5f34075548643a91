/* fuzz_corpus — corpus_text_parse (uploaded concept corpus files) and
 * concept_word_normalize. */
#include "fuzz_common.h"
#include "concepts/concepts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    corpus_text c;
    err e = {0};
    if (corpus_text_parse((const char *)data, size, &c, &e) == 0) {
        for (size_t i = 0; i < c.n; i++)
            if (strlen(c.words[i]) == 0 || strlen(c.words[i]) > CONCEPT_WORD_MAX) abort();
        corpus_text_free(&c);
    }
    char out[CONCEPT_WORD_MAX * 4 + 8];
    size_t n = size < CONCEPT_WORD_MAX * 4 ? size : CONCEPT_WORD_MAX * 4;
    (void)concept_word_normalize((const char *)data, n, out, n + 1);
    return 0;
}
