/* fuzz_predictions — teacher_parse_predictions: uploaded CSV / JSON predictions files
 * against a 3-image, 3-class dataset (ids 1, 2, 7). */
#include "fuzz_common.h"
#include "teacher/teacher_predictions.h"

static const int64_t ids[3] = {1, 2, 7};
static char sha0[] = "0000000000000000000000000000000000000000000000000000000000000001";
static char sha1[] = "00000000000000000000000000000000000000000000000000000000000000ab";
static char sha2[] = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
static char *const shas[3] = {sha0, sha1, sha2};
static char c0[] = "cat", c1[] = "dog", c2[] = "bird";
static char *const classes[3] = {c0, c1, c2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *name = (data[0] & 1) ? "pred.json" : "pred.csv";
    const char *path = fz_write_file(name, data + 1, size - 1);
    float *probs = NULL;
    size_t n_logit = 0;
    err e = {0};
    if (teacher_parse_predictions(path, ids, shas, 3, classes, 3, &probs, &n_logit, &e) == 0) {
        if (n_logit > 3) abort();
        free(probs);
    }
    return 0;
}
