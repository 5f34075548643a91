/* test_student.c — the student solver against an independent slow reference
 * (FISTA with adaptive restart in double, fixed step 1/L, projected onto the bounds,
 * run until its own KKT residual is tiny) on small problems, the KKT conditions of the
 * bounded L1 problem, exact bounds after retraining, warm starts, fit_all == per-class
 * fits, presence-like columns (a large common level: nearly collinear with the bias,
 * the case the centred Newton model is for), and input errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "student/student.h"

static uint64_t rng_state;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

static double sigm_(double z) { return 1 / (1 + exp(-z)); }

/* X (n, d) presence-like in [0, 1]; P (n, c) a softmax of a sparse linear model + noise. */
static void make_problem(size_t n, size_t d, size_t c, uint64_t seed, float *X, float *P) {
    rng_state = seed;
    for (size_t i = 0; i < n * d; i++) X[i] = (float)(0.1 + 0.3 * urand() + (urand() < 0.1 ? 0.5 * urand() : 0));
    double *beta = calloc(c * d, sizeof *beta); // (C, D)
    for (size_t k = 0; k < c; k++)
        for (size_t j = 0; j < d; j++)
            if (urand() < 0.3) beta[k * d + j] = 6 * (urand() - 0.3);
    for (size_t i = 0; i < n; i++) {
        double z[16], mx = -1e300, s = 0;
        for (size_t k = 0; k < c; k++) {
            z[k] = 0.5 * nrand();
            for (size_t j = 0; j < d; j++) z[k] += beta[k * d + j] * X[i * d + j];
            if (z[k] > mx) mx = z[k];
        }
        if (c == 1) {
            P[i] = (float)sigm_(z[0] - 1.0);
            continue;
        }
        for (size_t k = 0; k < c; k++) s += (z[k] = exp(z[k] - mx));
        for (size_t k = 0; k < c; k++) P[i * c + k] = (float)(z[k] / s);
    }
    free(beta);
}

static double sigm(double z) { return 1 / (1 + exp(-z)); }

/* Independent reference: FISTA with restart on the bounded L1 problem, double. */
static void reference(const float *X, const float *p, size_t stride, size_t n, size_t d, double lambda,
                      const float *lo, const float *hi, double *w, double *b, int iters) {
    double L = 0;
    for (size_t i = 0; i < n * d; i++) L += (double)X[i] * X[i];
    L = 0.25 * (L + (double)n) / (double)n; /* >= Lipschitz constant of the smooth part */
    double *y = calloc(d + 1, sizeof *y), *x = calloc(d + 1, sizeof *x), *xo = calloc(d + 1, sizeof *xo);
    double *g = calloc(d + 1, sizeof *g);
    double t = 1;
    for (int it = 0; it < iters; it++) {
        memset(g, 0, (d + 1) * sizeof *g);
        for (size_t i = 0; i < n; i++) {
            double z = y[d];
            for (size_t j = 0; j < d; j++) z += X[i * d + j] * y[j];
            double r = sigm(z) - p[i * stride];
            for (size_t j = 0; j < d; j++) g[j] += X[i * d + j] * r;
            g[d] += r;
        }
        memcpy(xo, x, (d + 1) * sizeof *x);
        for (size_t j = 0; j < d; j++) {
            double v = y[j] - g[j] / n / L;
            v = v > lambda / L ? v - lambda / L : (v < -lambda / L ? v + lambda / L : 0);
            if (lo && v < lo[j]) v = lo[j];
            if (hi && v > hi[j]) v = hi[j];
            x[j] = v;
        }
        x[d] = y[d] - g[d] / n / L;
        double dot = 0; /* adaptive restart (gradient scheme) */
        for (size_t j = 0; j <= d; j++) dot += (y[j] - x[j]) * (x[j] - xo[j]);
        if (dot > 0) t = 1;
        double tn = (1 + sqrt(1 + 4 * t * t)) / 2;
        for (size_t j = 0; j <= d; j++) y[j] = x[j] + (t - 1) / tn * (x[j] - xo[j]);
        t = tn;
    }
    memcpy(w, x, d * sizeof *w);
    *b = x[d];
    free(y), free(x), free(xo), free(g);
}

static void tight(student_opts *o, double lambda) {
    student_opts_default(o);
    o->lambda = lambda;
    o->kkt_tol = 1e-9;
    o->obj_tol = 1e-13;
}

static void check_against_reference(size_t n, size_t d, double lambda, int bounded) {
    float *X = malloc(n * d * sizeof *X), *P = malloc(n * sizeof *P);
    make_problem(n, d, 1, 42 + d, X, P);
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, n, d, &e), 0);
    float *lo = NULL, *hi = NULL;
    if (bounded) {
        lo = malloc(d * sizeof *lo), hi = malloc(d * sizeof *hi);
        for (size_t j = 0; j < d; j++) lo[j] = -INFINITY, hi[j] = INFINITY;
        lo[0] = hi[0] = 0.0f;     /* removed */
        lo[1] = 1.37f;            /* forced up */
        hi[2] = -0.25f;           /* forced negative */
        lo[3] = -0.1f, hi[3] = 0.1f;
    }
    student_opts o;
    tight(&o, lambda);
    float *w = calloc(d, sizeof *w), b;
    student_cold_start(P, n, 1, d, w, &b);
    student_result res;
    assert_int_equal(student_fit(&sd, P, 1, lo, hi, &o, w, &b, &res, &e), 0);
    assert_true(res.converged);

    double *wr = malloc(d * sizeof *wr), br;
    reference(X, P, 1, n, d, lambda, lo, hi, wr, &br, 20000);
    float *wrf = malloc(d * sizeof *wrf);
    for (size_t j = 0; j < d; j++) wrf[j] = (float)wr[j];
    double kkt_ref = student_kkt(&sd, P, 1, lo, hi, lambda, wrf, (float)br);
    assert_true(kkt_ref < 1e-6); /* the reference itself converged */

    for (size_t j = 0; j < d; j++) assert_true(fabs(w[j] - wr[j]) < 1e-5);
    assert_true(fabs(b - br) < 1e-5);
    double f = student_objective(&sd, P, 1, lambda, w, b), fr = student_objective(&sd, P, 1, lambda, wrf, (float)br);
    assert_true(fabs(f - fr) < 1e-7);
    assert_true(fabs(f - res.objective) < 1e-6);
    assert_true(student_kkt(&sd, P, 1, lo, hi, lambda, w, b) < 1e-6);
    if (bounded) {
        for (size_t j = 0; j < d; j++) assert_true(w[j] >= lo[j] && w[j] <= hi[j]);
        assert_true(w[0] == 0.0f);
    }
    free(X), free(P), free(w), free(wr), free(wrf), free(lo), free(hi);
    student_data_free(&sd);
}

static void matches_reference(void **state) {
    (void)state;
    check_against_reference(200, 10, 1e-2, 0);
    check_against_reference(200, 10, 1e-4, 0);
}

static void matches_reference_bounded(void **state) {
    (void)state;
    check_against_reference(200, 10, 1e-3, 1);
}

/* More concepts than one working-set step, default tolerances: KKT holds everywhere. */
static void kkt_at_default_tolerances(void **state) {
    (void)state;
    size_t n = 600, d = 80;
    float *X = malloc(n * d * sizeof *X), *P = malloc(n * sizeof *P);
    make_problem(n, d, 1, 7, X, P);
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, n, d, &e), 0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) assert_true(sd.xt[j * n + i] == X[i * d + j]);
    student_opts o;
    student_opts_default(&o);
    float *w = calloc(d, sizeof *w), b;
    student_cold_start(P, n, 1, d, w, &b);
    student_result res;
    assert_int_equal(student_fit(&sd, P, 1, NULL, NULL, &o, w, &b, &res, &e), 0);
    assert_true(res.converged);
    assert_true(res.rounds >= 2);
    assert_true(res.kkt <= o.kkt_tol);
    assert_true(student_kkt(&sd, P, 1, NULL, NULL, o.lambda, w, b) < 2 * o.kkt_tol);
    int nz = 0;
    for (size_t j = 0; j < d; j++) nz += w[j] != 0;
    assert_int_equal(nz, res.nonzeros);
    free(X), free(P), free(w);
    student_data_free(&sd);
}

/* Retrain after bound changes from the parent: bounds hold exactly, KKT holds, and the
 * objective is no lower than the unbounded parent's. A warm start at the optimum is
 * (nearly) free. */
static void retrain_bounds_exact(void **state) {
    (void)state;
    size_t n = 400, d = 30, c = 3;
    float *X = malloc(n * d * sizeof *X), *P = malloc(n * c * sizeof *P);
    make_problem(n, d, c, 11, X, P);
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, n, d, &e), 0);
    student_opts o;
    student_opts_default(&o);
    o.lambda = 1e-3;
    float *W = malloc(c * d * sizeof *W), b[3];
    student_cold_start(P, n, c, d, W, b);
    student_result res[3];
    assert_int_equal(student_fit_all(&sd, P, c, NULL, NULL, &o, W, b, res, &e), 0);
    for (size_t k = 0; k < c; k++) assert_true(res[k].converged);

    /* warm start at the optimum */
    float w1[30], b1 = b[1];
    memcpy(w1, W + d, sizeof w1);
    student_result r1;
    assert_int_equal(student_fit(&sd, P + 1, c, NULL, NULL, &o, w1, &b1, &r1, &e), 0);
    assert_true(r1.iterations <= 2);
    assert_true(r1.objective <= res[1].objective + 1e-12);

    /* bounds on class 1: the largest weight at most a third of itself; a zero pushed up;
     * one removed; an odd float bound */
    float lo[30], hi[30];
    for (size_t j = 0; j < d; j++) lo[j] = -INFINITY, hi[j] = INFINITY;
    size_t big = 0, zero = d;
    for (size_t j = 0; j < d; j++) {
        if (fabsf(w1[j]) > fabsf(w1[big])) big = j;
        if (w1[j] == 0 && zero == d) zero = j;
    }
    if (w1[big] > 0) lo[big] = 0, hi[big] = w1[big] / 3.0f;
    else lo[big] = w1[big] / 3.0f, hi[big] = 0;
    if (zero < d) lo[zero] = 0.7310001f;
    size_t rem = (big + 1) % d;
    lo[rem] = hi[rem] = 0;
    size_t odd = (big + 2) % d == zero ? (big + 3) % d : (big + 2) % d;
    lo[odd] = 0.1234567f, hi[odd] = 0.1234568f;
    assert_int_equal(student_fit(&sd, P + 1, c, lo, hi, &o, w1, &b1, &r1, &e), 0);
    assert_true(r1.converged);
    for (size_t j = 0; j < d; j++) assert_true(w1[j] >= lo[j] && w1[j] <= hi[j]);
    assert_true(w1[rem] == 0.0f);
    assert_true(r1.objective >= res[1].objective - 1e-9);
    assert_true(student_kkt(&sd, P + 1, c, lo, hi, o.lambda, w1, b1) < 2 * o.kkt_tol);

    /* the same problem, bounded, solved by the reference */
    double wr[30], br;
    reference(X, P + 1, c, n, d, o.lambda, lo, hi, wr, &br, 20000);
    float wrf[30];
    for (size_t j = 0; j < d; j++) wrf[j] = (float)wr[j];
    double fr = student_objective(&sd, P + 1, c, o.lambda, wrf, (float)br);
    assert_true(fabs(r1.objective - fr) < 1e-6);

    /* fit_all and per-class fits agree */
    float w0[30], b0 = 0;
    memset(w0, 0, sizeof w0);
    assert_int_equal(student_fit(&sd, P + 2, c, NULL, NULL, &o, w0, &b0, &r1, &e), 0);
    assert_true(fabs(r1.objective - res[2].objective) < 1e-8);
    for (size_t j = 0; j < d; j++) assert_true(fabsf(w0[j] - W[2 * d + j]) < 1e-3);
    free(X), free(P), free(W);
    student_data_free(&sd);
}

/* X like real presence: every column max(0, cosine) in a narrow band around a common
 * level, with a per-image shared factor (so columns are correlated with each other and
 * with the bias); P a softmax of a linear model plus noise. */
static void make_presence_like(size_t n, size_t d, size_t c, uint64_t seed, float *X, float *P) {
    rng_state = seed;
    double *beta = calloc(c * d, sizeof *beta); // (C, D)
    for (size_t k = 0; k < c; k++)
        for (size_t j = 0; j < d; j++)
            if (urand() < 0.4) beta[k * d + j] = 30 * (urand() - 0.5);
    for (size_t i = 0; i < n; i++) {
        double common = 0.3 + 0.05 * nrand();
        for (size_t j = 0; j < d; j++) {
            double v = common + 0.04 * nrand();
            X[i * d + j] = (float)(v > 0 ? v : 0);
        }
        double z[8], mx = -1e300, s = 0;
        for (size_t k = 0; k < c; k++) {
            z[k] = 0.3 * nrand();
            for (size_t j = 0; j < d; j++) z[k] += beta[k * d + j] * (X[i * d + j] - 0.3);
            if (z[k] > mx) mx = z[k];
        }
        for (size_t k = 0; k < c; k++) s += (z[k] = exp(z[k] - mx));
        for (size_t k = 0; k < c; k++) P[i * c + k] = (float)(z[k] / s);
    }
    free(beta);
}

/* Presence-like data, bounded, tight tolerances: the reference optimum, the KKT
 * certificate, the objective recomputed from scratch; then every class at the default
 * tolerances through fit_all: KKT everywhere and agreement with one-class fits. */
static void presence_like_columns(void **state) {
    (void)state;
    size_t n = 300, d = 12, c = 3;
    float *X = malloc(n * d * sizeof *X), *P = malloc(n * c * sizeof *P);
    make_presence_like(n, d, c, 5, X, P);
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, n, d, &e), 0);
    double lambda = 1e-3;
    float lo[12], hi[12];
    for (size_t j = 0; j < d; j++) lo[j] = -INFINITY, hi[j] = INFINITY;
    lo[4] = hi[4] = 0.0f;
    hi[5] = 0.5f, lo[5] = -0.5f;
    student_opts o;
    tight(&o, lambda);
    float W[36], bb[3];
    student_cold_start(P, n, c, d, W, bb);
    float w[12], b = bb[0];
    memcpy(w, W, sizeof w); /* class 0 */
    student_result res;
    assert_int_equal(student_fit(&sd, P, c, lo, hi, &o, w, &b, &res, &e), 0);
    assert_true(res.converged);
    double wr[12], br;
    reference(X, P, c, n, d, lambda, lo, hi, wr, &br, 60000);
    float wrf[12];
    for (size_t j = 0; j < d; j++) wrf[j] = (float)wr[j];
    double kkt_ref = student_kkt(&sd, P, c, lo, hi, lambda, wrf, (float)br);
    double f = student_objective(&sd, P, c, lambda, w, b), fr = student_objective(&sd, P, c, lambda, wrf, (float)br);
    double kkt = student_kkt(&sd, P, c, lo, hi, lambda, w, b);
    print_message("presence-like: kkt %.2e (reference %.2e), F %.12f vs reference %.12f\n", kkt, kkt_ref, f, fr);
    assert_true(kkt < 1e-6);
    assert_true(f <= fr + 1e-9); /* at least as good as the slow reference */
    assert_true(fabs(f - fr) < 1e-6);
    assert_true(fabs(f - res.objective) < 1e-7);
    for (size_t j = 0; j < d; j++) assert_true(w[j] >= lo[j] && w[j] <= hi[j]);

    student_opts od;
    student_opts_default(&od);
    od.lambda = lambda;
    student_result ra[3];
    student_cold_start(P, n, c, d, W, bb);
    assert_int_equal(student_fit_all(&sd, P, c, NULL, NULL, &od, W, bb, ra, &e), 0);
    double maxdiff = 0;
    for (size_t k = 0; k < c; k++) {
        assert_true(ra[k].converged);
        assert_true(student_kkt(&sd, P + k, c, NULL, NULL, lambda, W + k * d, bb[k]) < 2 * od.kkt_tol);
        assert_true(fabs(student_objective(&sd, P + k, c, lambda, W + k * d, bb[k]) - ra[k].objective) < 1e-7);
        float w1[12], b1 = 0;
        memset(w1, 0, sizeof w1);
        student_result r1;
        assert_int_equal(student_fit(&sd, P + k, c, NULL, NULL, &od, w1, &b1, &r1, &e), 0);
        double df = fabs(r1.objective - ra[k].objective);
        if (df > maxdiff) maxdiff = df;
    }
    print_message("presence-like: fit_all vs one-class fits, max objective diff %.2e\n", maxdiff);
    assert_true(maxdiff < 1e-7); /* both stop at kkt_tol 1e-5: F within ~kkt^2 / curvature */
    free(X), free(P);
    student_data_free(&sd);
}

/* A fit cut short (one full pass) still reports the exact objective of what it returns,
 * and a warm start from there finishes the job. */
static void cut_short_then_resumed(void **state) {
    (void)state;
    size_t n = 500, d = 60;
    float *X = malloc(n * d * sizeof *X), *P = malloc(n * sizeof *P);
    make_problem(n, d, 1, 9, X, P);
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, n, d, &e), 0);
    student_opts o;
    student_opts_default(&o);
    o.max_rounds = 1;
    float w[60], b;
    student_cold_start(P, n, 1, d, w, &b);
    student_result res;
    assert_int_equal(student_fit(&sd, P, 1, NULL, NULL, &o, w, &b, &res, &e), 0);
    assert_false(res.converged);
    assert_true(fabs(student_objective(&sd, P, 1, o.lambda, w, b) - res.objective) < 1e-7);
    double f1 = res.objective;
    student_opts_default(&o);
    assert_int_equal(student_fit(&sd, P, 1, NULL, NULL, &o, w, &b, &res, &e), 0);
    assert_true(res.converged);
    assert_true(res.objective < f1);
    assert_true(student_kkt(&sd, P, 1, NULL, NULL, o.lambda, w, b) < 2 * o.kkt_tol);
    free(X), free(P);
    student_data_free(&sd);
}

static void errors(void **state) {
    (void)state;
    float X[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, P[3] = {0.2f, 0.5f, 0.9f};
    student_data sd;
    err e = {0};
    assert_int_equal(student_data_init(&sd, X, 0, 2, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    student_data_free(&sd);
    student_data_free(NULL);
    err_clear(&e);
    assert_int_equal(student_data_init(&sd, X, 3, 2, &e), 0);
    float w[2] = {0, 0}, b = 0, lo[2] = {1, -INFINITY}, hi[2] = {0, INFINITY};
    assert_int_equal(student_fit(&sd, P, 1, lo, hi, NULL, w, &b, NULL, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "concept 0"));
    err_clear(&e);
    student_opts o;
    student_opts_default(&o);
    o.lambda = -1;
    assert_int_equal(student_fit(&sd, P, 1, NULL, NULL, &o, w, &b, NULL, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    float bad[3] = {0.2f, NAN, 0.1f};
    assert_int_equal(student_fit(&sd, bad, 1, NULL, NULL, NULL, w, &b, NULL, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    /* a tiny problem works with NULL opts and res */
    assert_int_equal(student_fit(&sd, P, 1, NULL, NULL, NULL, w, &b, NULL, &e), 0);
    float W[2], bb[1];
    student_cold_start(P, 3, 1, 2, W, bb);
    assert_true(W[0] == 0 && W[1] == 0);
    assert_true(fabs(bb[0] - log((1.6 / 3) / (1 - 1.6 / 3))) < 1e-6);
    student_data_free(&sd);
    assert_null(sd.xt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_reference),         cmocka_unit_test(matches_reference_bounded),
        cmocka_unit_test(kkt_at_default_tolerances), cmocka_unit_test(retrain_bounds_exact),
        cmocka_unit_test(presence_like_columns),     cmocka_unit_test(cut_short_then_resumed),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests_name("student", tests, NULL, NULL);
}
