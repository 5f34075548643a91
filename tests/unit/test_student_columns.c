/* test_student_columns.c — weights carried onto a new concept list (student_columns.h)
 * and the KKT test of added columns: the violations equal the gradient computed
 * directly in double, and they agree with the solver's own certificate (student_kkt):
 * a class fitted without the new column, then checked with it free, violates KKT by
 * exactly the new column's violation when that exceeds the fit's tolerance. Refitting
 * the classes it flags and keeping the others gives every class a KKT certificate on
 * the new list. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "student/student.h"
#include "student/student_columns.h"

static uint64_t rng_state = 42;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static void map_columns(void **state) {
    (void)state;
    /* C = 2, old list (a, b, c); new list (c, new, a): b dropped, one added */
    const float w[6] = {1, 2, 3, 4, 5, 6}, lo[6] = {0, -1, -2, -3, -4, -5}, hi[6] = {9, 8, 7, 6, 5, 4};
    const long from[3] = {2, -1, 0};
    float wn[6], ln[6], hn[6];
    ss_columns_map(w, lo, hi, 2, 3, from, 3, wn, ln, hn);
    const float we[6] = {3, 0, 1, 6, 0, 4}, le[6] = {-2, -INFINITY, 0, -5, -INFINITY, -3},
                he[6] = {7, INFINITY, 9, 4, INFINITY, 6};
    assert_memory_equal(wn, we, sizeof we);
    assert_memory_equal(ln, le, sizeof le);
    assert_memory_equal(hn, he, sizeof he);
}

enum { N = 400, D = 7, C = 3 }; /* the last column is the added one */

/* X (N, D) presence-like; P (N, C) a softmax that leans on the last column for class 0
 * (so adding it matters there) and not for the others. */
static void make(float *X, float *P) {
    for (size_t i = 0; i < (size_t)N * D; i++) X[i] = (float)(0.1 + 0.5 * urand());
    for (size_t i = 0; i < N; i++) {
        const float *x = X + i * D;
        double z[C] = {4 * x[D - 1] + x[0], 2 * x[1] - x[2], 1.5 * x[3]}, s = 0, m = -1e300;
        for (int k = 0; k < C; k++) m = z[k] > m ? z[k] : m;
        for (int k = 0; k < C; k++) s += (z[k] = exp(z[k] - m));
        for (int k = 0; k < C; k++) P[i * C + k] = (float)(z[k] / s);
    }
}

static void violations(void **state) {
    (void)state;
    float *X = malloc(N * D * sizeof *X), *P = malloc(N * C * sizeof *P);
    make(X, P);
    const double lambda = 1e-3;
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, N, D, &e), 0);
    student_opts o;
    student_opts_default(&o);
    o.lambda = lambda;
    /* Fit every class with the last column held at 0: the student before the add. */
    float W[C * D], b[C], lo[C * D], hi[C * D];
    for (int i = 0; i < C * D; i++) lo[i] = -INFINITY, hi[i] = INFINITY;
    for (int k = 0; k < C; k++) lo[k * D + D - 1] = hi[k * D + D - 1] = 0;
    student_cold_start(P, N, C, D, W, b);
    assert_int_equal(student_fit_all(&sd, P, C, lo, hi, &o, W, b, NULL, &e), 0);
    size_t added = D - 1;
    double viol[C];
    assert_int_equal(ss_columns_violations(X, N, D, P, C, W, b, &added, 1, lambda, viol, &e), 0);
    int flagged = 0;
    for (int k = 0; k < C; k++) {
        /* the gradient directly, in double */
        double g = 0;
        for (size_t i = 0; i < N; i++) {
            double z = b[k];
            for (int j = 0; j < D; j++) z += (double)W[k * D + j] * X[i * D + j];
            g += (1 / (1 + exp(-z)) - P[i * C + k]) * X[i * D + D - 1];
        }
        double want = fmax(0, fabs(g / N) - lambda);
        assert_true(fabs(viol[k] - want) < 1e-6 * (1 + want));
        /* the solver's certificate with the column free: the same violation */
        float flo[D], fhi[D];
        for (int j = 0; j < D; j++) flo[j] = -INFINITY, fhi[j] = INFINITY;
        double kkt = student_kkt(&sd, P + k, C, flo, fhi, lambda, W + k * D, b[k]);
        if (viol[k] > o.kkt_tol) {
            assert_true(fabs(kkt - viol[k]) < 1e-6 + 1e-3 * viol[k]);
            flagged++;
            /* refit from the parent with the column free: the certificate holds again */
            assert_int_equal(student_fit(&sd, P + k, C, flo, fhi, &o, W + k * D, &b[k], NULL, &e), 0);
            assert_true(student_kkt(&sd, P + k, C, flo, fhi, lambda, W + k * D, b[k]) < 1e-4);
            assert_true(W[k * D + D - 1] != 0);
        } else {
            assert_true(kkt < 1e-4); /* a class left alone is optimal on the new list as it is */
        }
    }
    assert_true(flagged >= 1); /* class 0 leans on the new column */
    assert_true(viol[0] > o.kkt_tol);
    /* no added column: nothing to violate */
    assert_int_equal(ss_columns_violations(X, N, D, P, C, W, b, NULL, 0, lambda, viol, &e), 0);
    for (int k = 0; k < C; k++) assert_true(viol[k] == 0);
    student_data_free(&sd);
    free(X), free(P);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_columns),
        cmocka_unit_test(violations),
    };
    return cmocka_run_group_tests_name("student_columns", tests, NULL, NULL);
}
