/* test_tuning.c — tuning actions to bounds: each kind on positive, negative and zero
 * weights, accumulation and release, exact inward rounding, and the clear errors
 * (factor <= 1 or not finite, bounds that cannot all hold, unknown kind, out of range),
 * with nothing written on error. Then a retraining under the bounds keeps them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "student/student.h"
#include "student/tuning.h"

enum { C = 2, D = 3 };

static void fresh(float *lo, float *hi) {
    for (int i = 0; i < C * D; i++) lo[i] = -INFINITY, hi[i] = INFINITY;
}

static void kinds(void **state) {
    (void)state;
    const float w[C * D] = {0.5f, -0.4f, 0.0f, /* class 1 */ 0.0f, 0.0f, 0.0f};
    float lo[C * D], hi[C * D], ws[C * D];
    err e = {0};
    fresh(lo, hi);
    tuning_action a[] = {
        {TUNING_UPTUNE, 0, 0, 2.0},   /* 0.5 -> [1.0, inf)        */
        {TUNING_UPTUNE, 1, 0, 3.0},   /* -0.4 -> (-inf, -1.2]     */
        {TUNING_UPTUNE, 2, 0, 2.0},   /* 0 -> [2 * 0.01 * 0.5, inf) */
        {TUNING_UPTUNE, 0, 1, 4.0},   /* all-zero class: [4 * 0.01, inf) */
        {TUNING_DOWNTUNE, 1, 1, 2.0}, /* 0 -> [0, 0]              */
    };
    assert_int_equal(tuning_apply(a, 5, w, C, D, lo, hi, ws, &e), 0);
    assert_true(lo[0] == 1.0f && isinf(hi[0]) && hi[0] > 0);
    assert_true(isinf(lo[1]) && lo[1] < 0);
    assert_true((double)hi[1] <= 3.0 * (double)w[1]); /* inward: size at least 3x, exactly */
    assert_true((double)hi[1] > 3.0 * (double)w[1] - 1e-6);
    assert_true((double)lo[2] >= 2 * 0.01 * 0.5 && lo[2] < 0.0101f);
    assert_true((double)lo[3] >= 0.04 && lo[3] < 0.0401f);
    assert_true(lo[4] == 0 && hi[4] == 0);
    /* the start is the parent clipped into the bounds */
    assert_true(ws[0] == 1.0f && ws[1] == hi[1] && ws[2] == lo[2] && ws[3] == lo[3] && ws[4] == 0);

    /* downtune keeps the sign: positive [0, w/x], negative [w/x, 0] */
    fresh(lo, hi);
    tuning_action dn[] = {{TUNING_DOWNTUNE, 0, 0, 2.0}, {TUNING_DOWNTUNE, 1, 0, 4.0}};
    assert_int_equal(tuning_apply(dn, 2, w, C, D, lo, hi, ws, &e), 0);
    assert_true(lo[0] == 0 && hi[0] == 0.25f);
    assert_true(lo[1] == -0.1f && hi[1] == 0);
    assert_true(ws[0] == 0.25f && ws[1] == -0.1f && ws[2] == 0);

    /* remove, set, release */
    fresh(lo, hi);
    tuning_action r[] = {{TUNING_REMOVE, 0, 0, 0}, {TUNING_SET, 1, 0, -0.75}, {TUNING_SET, 2, 1, 3.0}};
    assert_int_equal(tuning_apply(r, 3, w, C, D, lo, hi, ws, &e), 0);
    assert_true(lo[0] == 0 && hi[0] == 0 && ws[0] == 0);
    assert_true(lo[1] == -0.75f && hi[1] == -0.75f && ws[1] == -0.75f);
    assert_true(lo[5] == 3.0f && hi[5] == 3.0f && ws[5] == 3.0f);
    tuning_action rel = {TUNING_RELEASE, 0, 0, 0};
    assert_int_equal(tuning_apply(&rel, 1, w, C, D, lo, hi, ws, &e), 0);
    assert_true(isinf(lo[0]) && isinf(hi[0]) && ws[0] == 0.5f);
    assert_true(lo[1] == -0.75f); /* others untouched */
}

static void accumulate_and_conflict(void **state) {
    (void)state;
    const float w[C * D] = {0.5f, -0.4f, 0.0f, 0.0f, 0.0f, 0.0f};
    float lo[C * D], hi[C * D], ws[C * D];
    err e = {0};
    fresh(lo, hi);
    tuning_action up = {TUNING_UPTUNE, 0, 0, 2.0};
    assert_int_equal(tuning_apply(&up, 1, w, C, D, lo, hi, ws, &e), 0);
    float lo_before[C * D], hi_before[C * D];
    memcpy(lo_before, lo, sizeof lo);
    memcpy(hi_before, hi, sizeof hi);
    /* a downtune of the same weight cannot hold together with the uptune */
    tuning_action both[] = {{TUNING_SET, 2, 0, 1.0}, {TUNING_DOWNTUNE, 0, 0, 2.0}};
    assert_int_equal(tuning_apply(both, 2, w, C, D, lo, hi, ws, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "cannot all hold"));
    assert_non_null(strstr(e.msg, "concept 0 of class 0"));
    assert_memory_equal(lo, lo_before, sizeof lo); /* nothing written */
    assert_memory_equal(hi, hi_before, sizeof hi);
    err_clear(&e);
    /* set outside the held interval */
    tuning_action set = {TUNING_SET, 0, 0, 0.2};
    assert_int_equal(tuning_apply(&set, 1, w, C, D, lo, hi, ws, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    /* release first, then it works; uptune twice tightens */
    tuning_action ok[] = {{TUNING_RELEASE, 0, 0, 0}, {TUNING_DOWNTUNE, 0, 0, 2.0}};
    assert_int_equal(tuning_apply(ok, 2, w, C, D, lo, hi, ws, &e), 0);
    assert_true(lo[0] == 0 && hi[0] == 0.25f);
    fresh(lo, hi);
    tuning_action twice[] = {{TUNING_UPTUNE, 0, 0, 2.0}, {TUNING_UPTUNE, 0, 0, 3.0}};
    assert_int_equal(tuning_apply(twice, 2, w, C, D, lo, hi, ws, &e), 0);
    assert_true(lo[0] == 1.5f);
}

static void bad_input(void **state) {
    (void)state;
    const float w[C * D] = {0.5f, -0.4f, 0, 0, 0, 0};
    float lo[C * D], hi[C * D], ws[C * D];
    err e = {0};
    fresh(lo, hi);
    const double factors[] = {1.0, 0.5, -2.0, NAN, INFINITY};
    for (size_t i = 0; i < 5; i++) {
        tuning_action a = {i % 2 ? TUNING_DOWNTUNE : TUNING_UPTUNE, 0, 0, factors[i]};
        err_clear(&e);
        assert_int_equal(tuning_apply(&a, 1, w, C, D, lo, hi, ws, &e), -1);
        assert_int_equal(e.code, ERR_UNPROCESSABLE);
        assert_non_null(strstr(e.msg, "factor"));
    }
    err_clear(&e);
    tuning_action s = {TUNING_SET, 0, 0, NAN};
    assert_int_equal(tuning_apply(&s, 1, w, C, D, lo, hi, ws, &e), -1);
    err_clear(&e);
    tuning_action far = {TUNING_REMOVE, D, 0, 0};
    assert_int_equal(tuning_apply(&far, 1, w, C, D, lo, hi, ws, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    tuning_action odd = {(tuning_kind)42, 0, 0, 2.0};
    assert_int_equal(tuning_apply(&odd, 1, w, C, D, lo, hi, ws, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    tuning_kind k;
    assert_int_equal(tuning_kind_parse("downtune", &k, &e), 0);
    assert_int_equal(k, TUNING_DOWNTUNE);
    assert_int_equal(tuning_kind_parse("boost", &k, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "boost"));
    assert_string_equal(tuning_kind_name(TUNING_RELEASE), "release");
    for (int i = 0; i < C * D; i++) assert_true(isinf(lo[i]) && isinf(hi[i]));
}

/* Uptune, downtune and remove on a fitted student, then retrain: the bounds hold
 * exactly and the KKT conditions of the bounded problem hold. */
static void retrain_under_actions(void **state) {
    (void)state;
    enum { N = 300, DD = 8, CC = 2 };
    static float X[N * DD], P[N * CC];
    uint64_t r = 5;
    for (int i = 0; i < N; i++) {
        double z = 0;
        for (int j = 0; j < DD; j++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            X[i * DD + j] = (float)((r >> 40) & 0xffff) / 65536.0f;
            z += (j % 3 == 0 ? 3.0 : -1.0) * X[i * DD + j];
        }
        P[i * CC] = (float)(1 / (1 + exp(-(z - 0.5))));
        P[i * CC + 1] = 1 - P[i * CC];
    }
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, N, DD, &e), 0);
    float W[CC * DD], b[CC], lo[CC * DD], hi[CC * DD], ws[CC * DD];
    student_cold_start(P, N, CC, DD, W, b);
    student_opts o;
    student_opts_default(&o);
    o.lambda = 1e-3;
    assert_int_equal(student_fit_all(&sd, P, CC, NULL, NULL, &o, W, b, NULL, &e), 0);
    for (int i = 0; i < CC * DD; i++) lo[i] = -INFINITY, hi[i] = INFINITY;
    size_t big = 0;
    for (size_t j = 0; j < DD; j++)
        if (fabsf(W[j]) > fabsf(W[big])) big = j;
    tuning_action acts[] = {{TUNING_DOWNTUNE, big, 0, 3.0}, {TUNING_UPTUNE, (big + 1) % DD, 0, 2.0},
                            {TUNING_REMOVE, (big + 2) % DD, 0, 0}};
    assert_int_equal(tuning_apply(acts, 3, W, CC, DD, lo, hi, ws, &e), 0);
    student_result res[CC];
    assert_int_equal(student_fit_all(&sd, P, CC, lo, hi, &o, ws, b, res, &e), 0);
    for (int i = 0; i < CC * DD; i++) assert_true(ws[i] >= lo[i] && ws[i] <= hi[i]);
    assert_true(fabsf(ws[big]) <= fabsf(W[big]) / 3.0f);
    assert_true(ws[(big + 2) % DD] == 0.0f);
    for (size_t k = 0; k < CC; k++) {
        assert_true(res[k].converged);
        assert_true(student_kkt(&sd, P + k, CC, lo + k * DD, hi + k * DD, o.lambda, ws + k * DD, b[k]) <
                    2 * o.kkt_tol);
    }
    student_data_free(&sd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kinds),
        cmocka_unit_test(accumulate_and_conflict),
        cmocka_unit_test(bad_input),
        cmocka_unit_test(retrain_under_actions),
    };
    return cmocka_run_group_tests_name("tuning", tests, NULL, NULL);
}
