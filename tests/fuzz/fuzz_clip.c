/* fuzz_clip — clip_tokenize on concept words and prompts, with the real CLIP vocab
 * (INFICOND_CLIP_VOCAB or ../shared/clip/bpe_simple_vocab_16e6.txt.gz). First byte:
 * bit 0 truncate, the rest the context length. */
#include "fuzz_common.h"
#include "concepts/tokenizer_clip.h"

static clip_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *p = getenv("INFICOND_CLIP_VOCAB");
    if (!p) p = "../shared/clip/bpe_simple_vocab_16e6.txt.gz";
    err e = {0};
    tok = clip_tokenizer_load(p, &e);
    if (!tok) {
        fprintf(stderr, "fuzz_clip: cannot load %s: %s\n", p, e.msg);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int truncate = data[0] & 1;
    int ctx = 2 + (data[0] >> 1) % 80; /* 2 .. 81, 77 the usual */
    char *s = fz_cstr(data + 1, size - 1);
    int64_t out[81];
    err e = {0};
    int n = clip_tokenize(tok, s, ctx, truncate, out, &e);
    if (n >= 0 && (n < 2 || n > ctx)) abort();
    free(s);
    return 0;
}
