/* fuzz_json_body — JSON request bodies through jansson and the validators that take
 * them: ss_actions_parse + tuning_apply (POST .../students/{id}/versions "actions"),
 * dataset_import_check (import params). First byte picks the validator. */
#include "fuzz_common.h"
#include <math.h>
#include <jansson.h>
#include "dataset/dataset_import.h"
#include "student/student_actions.h"
#include "student/tuning.h"

static char w0[] = "stripes", w1[] = "wheel", w2[] = "fur", w3[] = "sky";
static char *const words[4] = {w0, w1, w2, w3};
static char k0[] = "cat", k1[] = "car", k2[] = "tiger";
static char *const classes[3] = {k0, k1, k2};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_write_file("train-images-idx3-ubyte", "x", 1);
    fz_write_file("train-labels-idx1-ubyte", "x", 1);
    fz_write_file("upload.tar", "x", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] & 1;
    json_error_t je;
    json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j) return 0;
    err e = {0};
    if (which == 0) {
        tuning_action *acts = NULL;
        size_t n = 0;
        if (ss_actions_parse(j, words, 4, classes, 3, &acts, &n, &e) == 0) {
            enum { C = 3, D = 4 };
            float w[C * D] = {0.5f, -1, 0, 2, 0, 0, 0, 0, -0.25f, 3, 1e-3f, -7};
            float lo[C * D], hi[C * D], start[C * D];
            for (int i = 0; i < C * D; i++) lo[i] = -INFINITY, hi[i] = INFINITY;
            err te = {0};
            (void)!tuning_apply(acts, n, w, C, D, lo, hi, start, &te);
            free(acts);
        }
    } else {
        (void)!dataset_import_check(j, &e);
    }
    json_decref(j);
    return 0;
}
