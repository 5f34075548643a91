/* test_student_export.c — shim_student_export (shim/shim_student_export.cpp): the
 * archive loads back through the product's own torch::jit::load path
 * (shim_model_load), its forward equals x W^T + b computed here in double, predict is
 * the argmax, the names travel in the archive, a wrong input width is refused by the
 * module, and bad arguments are errors with a reason (no archive).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inficond_shim.h"
#include "tmpdir.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libtorch_cpu.so\n"; }

#define C 5
#define D 37
#define B 9

static const char *const CLASSES[C] = {"cat", "dog", "bird", "fish", "horse"};
static char concept_buf[D][24];
static const char *concepts[D];

static uint32_t rng_state = 12345;
static float frand(void) { /* [0, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f;
}

static void names(void) {
    for (int j = 0; j < D; j++) {
        snprintf(concept_buf[j], sizeof concept_buf[j], "%s%d", j == 3 ? "whisker" : "concept", j);
        concepts[j] = concept_buf[j];
    }
}

/* Export W, b to a file under dir; returns the loaded model. */
static shim_model *export_and_load(const float *w, const float *b, const char *dir, void **buf, size_t *len) {
    char eb[320], path[256];
    int rc = shim_student_export(w, b, C, D, concepts, CLASSES, "{\"student_id\":7}", buf, len, eb, sizeof eb);
    if (rc) fail_msg("export failed: %s", eb);
    assert_non_null(*buf);
    assert_true(*len > 4);
    assert_memory_equal(*buf, "PK\x03\x04", 4); /* a zip archive, as TorchScript files are */
    snprintf(path, sizeof path, "%s/student.pt", dir);
    assert_int_equal(tmpdir_write(path, *buf, *len), 0);
    shim_model *m = shim_model_load(path, 0, eb, sizeof eb);
    if (!m) fail_msg("load failed: %s", eb);
    return m;
}

static void test_round_trip(void **state) {
    (void)state;
    names();
    float w[C * D], b[C], x[B * D];
    for (int i = 0; i < C * D; i++) w[i] = frand() < 0.7f ? 0.0f : 4.0f * frand() - 2.0f; /* sparse, as L1 makes it */
    for (int k = 0; k < C; k++) b[k] = frand() - 0.5f;
    for (int i = 0; i < B * D; i++) x[i] = frand() < 0.3f ? 0.0f : frand();
    for (int j = 0; j < D; j++) x[j] = 0.0f; /* row 0: scores are the biases */
    char dir[64];
    assert_non_null(tmpdir_make(dir));
    void *buf = NULL;
    size_t len = 0;
    shim_model *m = export_and_load(w, b, dir, &buf, &len);
    assert_true(shim_model_has_method(m, "forward"));
    assert_true(shim_model_has_method(m, "predict"));
    /* The names are pickled as plain strings in the (uncompressed) archive. */
    assert_non_null(memmem(buf, len, "whisker3", 8));
    assert_non_null(memmem(buf, len, "horse", 5));
    assert_non_null(memmem(buf, len, "\"student_id\":7", 14));

    shim_input in = {.dtype = SHIM_FLOAT32, .ndim = 2, .shape = {B, D}, .data = x, .count = B * D};
    shim_output out = {0};
    char eb[320];
    if (shim_model_run(m, "forward", &in, 1, &out, eb, sizeof eb)) fail_msg("forward: %s", eb);
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.shape[0], B);
    assert_int_equal(out.shape[1], C);
    double max_diff = 0;
    int argmax[B];
    for (int i = 0; i < B; i++) {
        argmax[i] = 0;
        double best = -INFINITY;
        for (int k = 0; k < C; k++) {
            double z = b[k];
            for (int j = 0; j < D; j++) z += (double)x[i * D + j] * w[k * D + j];
            double diff = fabs(z - out.data[i * C + k]);
            if (diff > max_diff) max_diff = diff;
            if (z > best) best = z, argmax[i] = k;
        }
    }
    printf("forward vs x W^T + b (double): max diff %.3g over %d x %d scores\n", max_diff, B, C);
    assert_true(max_diff < 1e-5);
    for (int k = 0; k < C; k++) assert_true(out.data[k] == b[k]); /* zero row */
    shim_free_output(&out);

    if (shim_model_run(m, "predict", &in, 1, &out, eb, sizeof eb)) fail_msg("predict: %s", eb);
    assert_int_equal(out.ndim, 1);
    assert_int_equal(out.shape[0], B);
    for (int i = 0; i < B; i++) assert_int_equal((int)out.data[i], argmax[i]);
    shim_free_output(&out);

    /* A presence vector of the wrong width is refused by the module itself. */
    shim_input bad = {.dtype = SHIM_FLOAT32, .ndim = 2, .shape = {1, D - 1}, .data = x, .count = D - 1};
    assert_int_equal(shim_model_run(m, "forward", &bad, 1, &out, eb, sizeof eb), -1);
    assert_true(strlen(eb) > 0);
    assert_null(out.data);

    shim_model_free(m);
    free(buf);
    tmpdir_remove(dir);
}

static void test_bad_arguments(void **state) {
    (void)state;
    names();
    float w[C * D] = {0}, b[C] = {0};
    char eb[320];
    void *buf = (void *)1;
    size_t len = 99;

    w[C * D - 1] = NAN;
    assert_int_equal(shim_student_export(w, b, C, D, concepts, CLASSES, NULL, &buf, &len, eb, sizeof eb), -1);
    assert_non_null(strstr(eb, "not finite"));
    assert_null(buf);
    assert_int_equal(len, 0);
    w[C * D - 1] = 0;

    b[2] = INFINITY;
    assert_int_equal(shim_student_export(w, b, C, D, concepts, CLASSES, NULL, &buf, &len, eb, sizeof eb), -1);
    assert_non_null(strstr(eb, "bias 2"));
    b[2] = 0;

    assert_int_equal(shim_student_export(w, b, 0, D, concepts, CLASSES, NULL, &buf, &len, eb, sizeof eb), -1);
    assert_non_null(strstr(eb, "1.."));

    const char *holes[C] = {"a", "b", NULL, "d", "e"};
    assert_int_equal(shim_student_export(w, b, C, D, concepts, holes, NULL, &buf, &len, eb, sizeof eb), -1);
    assert_non_null(strstr(eb, "class name 2"));
    assert_null(buf);

    assert_int_equal(shim_student_export(NULL, b, C, D, concepts, CLASSES, NULL, &buf, &len, eb, sizeof eb), -1);
    assert_non_null(strstr(eb, "NULL"));

    /* And the same arguments, made valid, work (meta may be NULL). */
    assert_int_equal(shim_student_export(w, b, C, D, concepts, CLASSES, NULL, &buf, &len, eb, sizeof eb), 0);
    assert_non_null(buf);
    assert_non_null(memmem(buf, len, "{}", 2));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
