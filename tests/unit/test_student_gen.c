/* test_student_gen.c — the synthetic student problems: files of the right sizes,
 * probabilities that are distributions, labels in range, presence in [0, 1] (embed: in
 * a narrow band, as max(0, cosine) is), the same seed giving the same bytes, and bad
 * shapes refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/student_gen.h"

static void *slurp(const char *dir, const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *v = malloc(*len ? *len : 1);
    assert_int_equal(fread(v, 1, *len, f), *len);
    fclose(f);
    return v;
}

static void rm_dir(const char *dir) {
    const char *names[] = {"X.f32", "P.f32", "y.i32", "meta.json"};
    char path[512];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void check_kind(student_gen_kind kind) {
    const size_t n = 300, d = 150, c = 6;
    char dir[] = "/tmp/test_student_gen_XXXXXX";
    assert_non_null(mkdtemp(dir));
    err e = {0};
    assert_int_equal(student_gen_write(dir, kind, n, d, c, 3, &e), 0);
    size_t lx, lp, ly, lm;
    float *X = slurp(dir, "X.f32", &lx), *P = slurp(dir, "P.f32", &lp);
    int32_t *y = slurp(dir, "y.i32", &ly);
    char *meta = slurp(dir, "meta.json", &lm);
    assert_int_equal(lx, n * d * sizeof(float));
    assert_int_equal(lp, n * c * sizeof(float));
    assert_int_equal(ly, n * sizeof(int32_t));
    assert_non_null(strstr(meta, student_gen_kind_name(kind)));
    size_t band = 0, agree = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        size_t top = 0;
        for (size_t k = 0; k < c; k++) {
            assert_true(P[i * c + k] >= 0 && P[i * c + k] <= 1);
            s += P[i * c + k];
            if (P[i * c + k] > P[i * c + top]) top = k;
        }
        assert_true(fabs(s - 1) < 1e-5);
        assert_true(y[i] >= 0 && (size_t)y[i] < c);
        agree += top == (size_t)y[i];
        for (size_t j = 0; j < d; j++) {
            float v = X[i * d + j];
            assert_true(v >= 0 && v <= 1);
            band += v >= 0.05f && v <= 0.75f;
        }
    }
    print_message("%s: %.3f of presence values in [0.05, 0.75], teacher = label on %.3f\n", student_gen_kind_name(kind),
                  (double)band / (double)(n * d), (double)agree / (double)n);
    assert_true(agree > n / 2); /* the teacher knows the classes */
    if (kind == STUDENT_GEN_EMBED) assert_true(band > n * d * 99 / 100);

    /* the same seed: the same bytes */
    char dir2[] = "/tmp/test_student_gen_XXXXXX";
    assert_non_null(mkdtemp(dir2));
    assert_int_equal(student_gen_write(dir2, kind, n, d, c, 3, &e), 0);
    size_t lx2;
    float *X2 = slurp(dir2, "X.f32", &lx2);
    assert_int_equal(lx2, lx);
    assert_memory_equal(X, X2, lx);
    free(X), free(P), free(y), free(meta), free(X2);
    rm_dir(dir), rm_dir(dir2);
}

static void embed_problem(void **state) {
    (void)state;
    check_kind(STUDENT_GEN_EMBED);
}

static void planted_problem(void **state) {
    (void)state;
    check_kind(STUDENT_GEN_PLANTED);
}

static void bad_shapes(void **state) {
    (void)state;
    char dir[] = "/tmp/test_student_gen_XXXXXX";
    assert_non_null(mkdtemp(dir));
    err e = {0};
    assert_int_equal(student_gen_write(dir, STUDENT_GEN_EMBED, 10, 584, 1, 1, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    assert_int_equal(student_gen_write(dir, STUDENT_GEN_EMBED, 10, 20, 20, 1, &e), -1); /* D too small */
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    assert_int_equal(student_gen_write(dir, STUDENT_GEN_PLANTED, 10, 20, 20, 1, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_int_equal(student_gen_kind_parse("embed"), STUDENT_GEN_EMBED);
    assert_int_equal(student_gen_kind_parse("planted"), STUDENT_GEN_PLANTED);
    assert_int_equal(student_gen_kind_parse("dense"), -1);
    rm_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embed_problem),
        cmocka_unit_test(planted_problem),
        cmocka_unit_test(bad_shapes),
    };
    return cmocka_run_group_tests_name("student_gen", tests, NULL, NULL);
}
