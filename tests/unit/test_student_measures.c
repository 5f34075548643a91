/* test_student_measures.c — every measure on a hand-computed case (N=5, D=2, C=3):
 * scores, argmax (ties, NaN), fidelity, accuracies, per-class precision/recall,
 * confusion, disagreement rows, confusion-cell rows, influence, contributions, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "student/student_measures.h"

static const float X[5 * 2] = {1, 0, 0, 1, 1, 1, 0.5f, 0, 0, 0}; // (N, D)
static const float W[3 * 2] = {1, 0, 0, 1, 0.5f, 0.5f};          // (C, D)
static const float B[3] = {0, 0, 0.1f};
static const int32_t TEACHER[5] = {0, 1, 0, 1, 2};
static const int32_t LABELS[5] = {0, 1, 2, 0, -1};

static void scores_and_argmax(void **state) {
    (void)state;
    float s[5 * 3];
    sm_scores(X, 5, 2, W, B, 3, s);
    const float want[15] = {1, 0, 0.6f, 0, 1, 0.6f, 1, 1, 1.1f, 0.5f, 0, 0.35f, 0, 0, 0.1f};
    for (int i = 0; i < 15; i++) assert_true(fabsf(s[i] - want[i]) < 1e-6f);
    int32_t pred[5];
    sm_argmax_rows(s, 5, 3, pred);
    const int32_t wp[5] = {0, 1, 2, 0, 2};
    assert_memory_equal(pred, wp, sizeof wp);
    const float ties[2 * 3] = {1, 1, 0, NAN, 2, 2};
    sm_argmax_rows(ties, 2, 3, pred);
    assert_int_equal(pred[0], 0);
    assert_int_equal(pred[1], 1);
    assert_true(fabs(sm_agreement(wp, TEACHER, 5) - 0.6) < 1e-12);
    assert_true(isnan(sm_agreement(wp, TEACHER, 0)));
}

static void summary(void **state) {
    (void)state;
    const int32_t student[5] = {0, 1, 2, 0, 2};
    sm_summary s;
    err e = {0};
    assert_int_equal(sm_summary_compute(student, TEACHER, LABELS, 5, 3, &s, &e), 0);
    assert_true(fabs(s.fidelity - 0.6) < 1e-12);
    assert_true(fabs(s.student_accuracy - 1.0) < 1e-12);
    assert_true(fabs(s.teacher_accuracy - 0.5) < 1e-12);
    const int64_t conf[9] = {1, 0, 1, 1, 1, 0, 0, 0, 1};
    assert_memory_equal(s.confusion, conf, sizeof conf);
    const double fid[3] = {0.5, 0.5, 1.0}, prec[3] = {0.5, 1.0, 0.5};
    const double sacc[3] = {1, 1, 1}, tacc[3] = {0.5, 1, 0};
    for (int k = 0; k < 3; k++) {
        assert_true(fabs(s.class_fidelity[k] - fid[k]) < 1e-12);
        assert_true(fabs(s.class_precision[k] - prec[k]) < 1e-12);
        assert_true(fabs(s.class_student_accuracy[k] - sacc[k]) < 1e-12);
        assert_true(fabs(s.class_teacher_accuracy[k] - tacc[k]) < 1e-12);
    }
    assert_int_equal(s.n_disagree, 2);
    assert_int_equal(s.disagree[0], 2);
    assert_int_equal(s.disagree[1], 3);
    size_t rows[4];
    assert_int_equal(sm_cell_rows(student, TEACHER, 5, 1, 0, rows, 4), 1);
    assert_int_equal(rows[0], 3);
    assert_int_equal(sm_cell_rows(student, TEACHER, 5, 0, 2, rows, 4), 1);
    assert_int_equal(rows[0], 2);
    assert_int_equal(sm_cell_rows(student, TEACHER, 5, 2, 1, rows, 4), 0);

    json_t *j = sm_summary_json(&s);
    assert_non_null(j);
    assert_true(fabs(json_real_value(json_object_get(j, "fidelity")) - 0.6) < 1e-12);
    json_t *c1 = json_array_get(json_object_get(j, "classes"), 1);
    assert_true(fabs(json_real_value(json_object_get(c1, "precision")) - 1.0) < 1e-12);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(j, "confusion"), 0), 2)), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "disagreements")), 2);
    json_decref(j);
    sm_summary_free(&s);
    sm_summary_free(NULL);
    assert_null(s.confusion);

    /* no labels: accuracies are NaN (null in JSON); an empty class's ratios are NaN */
    const int32_t only0[2] = {0, 0};
    assert_int_equal(sm_summary_compute(only0, only0, NULL, 2, 2, &s, &e), 0);
    assert_true(isnan(s.student_accuracy) && isnan(s.class_fidelity[1]) && isnan(s.class_precision[1]));
    assert_true(s.fidelity == 1.0 && s.n_disagree == 0);
    j = sm_summary_json(&s);
    assert_true(json_is_null(json_object_get(j, "student_accuracy")));
    json_decref(j);
    sm_summary_free(&s);

    const int32_t bad[2] = {0, 3};
    assert_int_equal(sm_summary_compute(bad, only0, NULL, 2, 3, &s, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
}

static void influence_and_contributions(void **state) {
    (void)state;
    float infl[3 * 2];
    err e = {0};
    assert_int_equal(sm_influence(X, 5, 2, W, 3, TEACHER, infl, &e), 0);
    /* teacher class 0: rows 0, 2, mean x = (1, 0.5); class 1: rows 1, 3, mean (0.25, 0.5);
     * class 2: row 4, mean (0, 0) */
    const float want[6] = {1.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.0f};
    for (int i = 0; i < 6; i++) assert_true(fabsf(infl[i] - want[i]) < 1e-7f);
    const int32_t never2[5] = {0, 0, 1, 1, 0};
    const float W2[6] = {1, 1, 1, 1, 5, 5};
    assert_int_equal(sm_influence(X, 5, 2, W2, 3, never2, infl, &e), 0);
    assert_true(infl[4] == 0 && infl[5] == 0); /* a class the teacher never predicts */
    const int32_t bad[5] = {0, 0, 7, 0, 0};
    assert_int_equal(sm_influence(X, 5, 2, W, 3, bad, infl, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);

    float contrib[3 * 2];
    sm_contributions(X + 2 * 2, 2, W, 3, contrib); /* image 2: x = (1, 1) */
    const float wc[6] = {1, 0, 0, 1, 0.5f, 0.5f};
    assert_memory_equal(contrib, wc, sizeof wc);
    float s[5 * 3];
    sm_scores(X, 5, 2, W, B, 3, s);
    for (int k = 0; k < 3; k++) assert_true(fabsf(contrib[2 * k] + contrib[2 * k + 1] + B[k] - s[2 * 3 + k]) < 1e-6f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scores_and_argmax),
        cmocka_unit_test(summary),
        cmocka_unit_test(influence_and_contributions),
    };
    return cmocka_run_group_tests_name("student_measures", tests, NULL, NULL);
}
