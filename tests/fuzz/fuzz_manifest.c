/* fuzz_manifest — model_manifest_parse: manifest.json of an uploaded model. The folder
 * it is checked against holds model.pt, vocab.txt.gz and words.txt so that the file
 * checks pass for the common names. */
#include "fuzz_common.h"
#include "models/model_manifest.h"

static const char *dir;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    dir = fz_tmpdir();
    fz_write_file("model.pt", "x", 1);
    fz_write_file("vocab.txt.gz", "x", 1);
    fz_write_file("bpe_simple_vocab_16e6.txt.gz", "x", 1);
    fz_write_file("words.txt", "cat\ndog\n", 8);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fz_cstr(data, size);
    model_manifest m;
    err e = {0};
    if (model_manifest_parse(dir, s, &m, &e) == 0) {
        (void)model_kind_name(m.kind);
        (void)model_encoder_name(m.encoder);
        (void)model_tokenizer_name(m.tokenizer);
        model_manifest_free(&m);
    }
    free(s);
    return 0;
}
