/* fuzz_json_body — JSON request bodies through jansson and the validators that take
 * them: ss_plan_parse + ss_plan_apply (POST .../students/{id}/versions "actions"),
 * dataset_import_check (import params). First byte picks the validator. */
#include "fuzz_common.h"
#include <math.h>
#include <jansson.h>
#include "dataset/dataset_import.h"
#include "student/student_actions.h"
#include "student/student_columns.h"

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
        ss_plan plan;
        if (ss_plan_parse(j, words, 4, classes, 3, &plan, &e) == 0) {
            enum { C = 3, D = 4 };
            float w[C * D] = {0.5f, -1, 0, 2, 0, 0, 0, 0, -0.25f, 3, 1e-3f, -7};
            float lo[C * D], hi[C * D];
            for (int i = 0; i < C * D; i++) lo[i] = -INFINITY, hi[i] = INFINITY;
            size_t dn = plan.d, cdn = C * dn;
            float *wn = malloc(cdn * sizeof *wn), *ln = malloc(cdn * sizeof *ln), *hn = malloc(cdn * sizeof *hn);
            float *start = malloc(cdn * sizeof *start);
            if (wn && ln && hn && start) {
                ss_columns_map(w, lo, hi, C, D, plan.from, dn, wn, ln, hn);
                err te = {0};
                (void)!ss_plan_apply(&plan, wn, C, dn, classes, ln, hn, start, &te);
            }
            free(wn), free(ln), free(hn), free(start);
            ss_plan_free(&plan);
        }
    } else {
        (void)!dataset_import_check(j, &e);
    }
    json_decref(j);
    return 0;
}
