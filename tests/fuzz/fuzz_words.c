/* fuzz_words — words_tokenize (word-list tokenizer of concept models) and the word
 * list loader itself. First byte: 0 = input is a word list, else tokenize it. */
#include "fuzz_common.h"
#include "concepts/tokenizer_words.h"

static words_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const char list[] = "cat\ndog\n\nRedCar\r\nzebra\nvelo\xc3\xa9\n  tree  \ncat\n";
    err e = {0};
    tok = words_tokenizer_load(fz_write_file("words.txt", list, sizeof list - 1), &e);
    if (!tok) {
        fprintf(stderr, "fuzz_words: %s\n", e.msg);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] == 0) {
        err e = {0};
        words_tokenizer *t = words_tokenizer_load(fz_write_file("list.txt", data + 1, size - 1), &e);
        if (t) {
            (void)words_tokenizer_size(t);
            words_tokenizer_free(t);
        }
        return 0;
    }
    int ctx = 1 + data[0] % 32;
    char *s = fz_cstr(data + 1, size - 1);
    int64_t out[32];
    err e = {0};
    int n = words_tokenize(tok, s, ctx, out, &e);
    if (n > ctx) abort();
    free(s);
    return 0;
}
