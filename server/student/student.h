/* student.h — the student solver: one L1-regularised soft-target logistic model per
 * class over the d concept presences (README.md here, "What a student is"), with
 * optional box bounds per weight (the tuning bounds: README.md, "Tuning"; tuning.h).
 *
 * For class k, with x_i the presence row of image i and p_ik the teacher's probability:
 *
 *   F_k(w, b) = (1/N) sum_i [softplus(z_i) - p_ik z_i] + lambda |w|_1,  z_i = x_i.w + b,
 *   subject to lo_j <= w_j <= hi_j  (bias unpenalised and unbounded).
 *
 * Method (glmnet-style proximal Newton on an active set): on the active set A the
 * quadratic model with weights sigma(1 - sigma) has the bias eliminated exactly (what
 * is left is the weighted covariance of the active columns centred at their weighted
 * means, from one SSYRK; above 16,384 rows from an evenly spread ~16k-row subset: a
 * subsampled Newton model; the gradient is always over all rows, so the solution and
 * the KKT certificate are not approximated, only the step). Centring matters: presence
 * columns sit in a narrow positive band and are nearly collinear with the bias, and
 * coordinate descent on the uncentred model took thousands of sweeps. The model is
 * solved by coordinate descent with the box-clipped soft threshold (exact for a 1-D
 * quadratic + lambda|w| on [lo, hi]), and the step is taken with a backtracking
 * (Armijo) line search on the true objective, so the objective never goes up
 * (asserted). After each active-set solve one pass over the
 * full data (SGEMM X^T R for all pending classes at once, SGEMV for one) checks the
 * KKT conditions everywhere and adds the worst violators (at most max(32, |A|/2) per
 * round); while violators remain outside A, the solves on A are inexact (to 0.3 times
 * the largest outside violation). Stops when the largest KKT violation over all weights
 * and the bias is below kkt_tol (default 1e-5, gradient units, see student_kkt: the
 * optimality certificate), or earlier when a Newton step changes F by less than obj_tol
 * relative (default 1e-7: stagnation; `converged` then says whether the KKT test holds,
 * or whether the Newton model's predicted decrease fell below 1e-14 |F|, i.e. F is
 * optimal to working precision). Weights, scores and the objective are kept in double
 * inside; X stays float32, and the gradient on A sums float products in runs of 256
 * added in double (relative error ~1e-6 of sum |x r|, far below kkt_tol). The scores
 * are recomputed exactly from w after every solve to kkt_tol and before a class ends
 * (in between they carry float rounding, ~1e-7 relative per step). Bounds hold exactly after fitting: every weight is clipped to its
 * float bounds in double and a value inside [lo, hi] rounds to float inside it.
 *
 * Left out: the lambda path (one lambda per fit), multithreading (the caller sets
 * OpenBLAS threads; the service runs it single-threaded), storage of models (the
 * caller owns W/b arrays: W (C, D) float row-major, b (C) float).
 */
#ifndef INFICOND_STUDENT_H
#define INFICOND_STUDENT_H

#include <stddef.h>

#include "err.h"

#define STUDENT_LAMBDA_DEFAULT 1e-4

/* The presence matrix made ready for the solver: a transposed copy (D, N) so a
 * concept's column is contiguous. Built once (one blocked transpose), shared read-only
 * by every fit on the same data; x is borrowed, xt owned. */
typedef struct student_data {
    size_t n, d;
    const float *x; // (N, D) row-major, borrowed
    float *xt;      // (D, N) row-major, owned
} student_data;

int student_data_init(student_data *sd, const float *x, size_t n, size_t d, err *e) WARN_UNUSED;
void student_data_free(student_data *sd); /* NULL-safe; leaves sd zeroed */

typedef struct student_opts {
    double lambda;   /* L1 weight, >= 0 (default STUDENT_LAMBDA_DEFAULT)               */
    double obj_tol;  /* stop (stagnation): relative change of F in a Newton step (1e-7) */
    double kkt_tol;  /* stop: largest KKT violation, gradient units (1e-5)            */
    int max_newton;  /* Newton steps per active-set solve (100)                       */
    int max_rounds;  /* full KKT checks per fit (100)                                 */
} student_opts;

void student_opts_default(student_opts *o);

typedef struct student_result {
    double objective; /* F_k at the returned (w, b), recomputed from scratch           */
    double kkt;       /* largest KKT violation at the end (float full-gradient pass)  */
    int iterations;   /* Newton steps, all rounds                                      */
    int rounds;       /* full KKT passes                                               */
    int nonzeros;     /* weights != 0                                                  */
    int converged;    /* both stopping tests met within the limits                     */
} student_result;

/* One class. p: the teacher's probabilities of this class, p[i * p_stride] for image i
 * (so a column of P (N, C) is p = P + k, p_stride = C). lo, hi: (D) bounds, -INFINITY /
 * INFINITY for none, either may be NULL (no bounds); lo_j > hi_j or NaN is
 * ERR_UNPROCESSABLE. w (D), b: in: the warm start (zeros for a cold start, see
 * student_cold_start), out: the solution (w projected onto the bounds first).
 * res may be NULL. */
int student_fit(const student_data *sd, const float *p, size_t p_stride, const float *lo, const float *hi,
                const student_opts *o, float *w, float *b, student_result *res, err *e) WARN_UNUSED;

/* All C classes, solved together so the full-data KKT passes are one SGEMM for every
 * class still pending. P (N, C) row-major; lo, hi (C, D) or NULL; W (C, D) and b (C)
 * in: warm start, out: solution; res (C) or NULL. */
int student_fit_all(const student_data *sd, const float *P, size_t c, const float *lo, const float *hi,
                    const student_opts *o, float *W, float *b, student_result *res, err *e) WARN_UNUSED;

/* The cold start: W = 0 and b_k = logit(mean_i P_ik) (the optimal bias at w = 0).
 * P (N, C); W (C, D); b (C). */
void student_cold_start(const float *P, size_t n, size_t c, size_t d, float *W, float *b);

/* Slow, independent checks in double from scratch (tests, reports). */
/* F(w, b) for one class. */
double student_objective(const student_data *sd, const float *p, size_t p_stride, double lambda, const float *w,
                         float b);
/* Largest KKT violation of the bounded L1 problem at (w, b), with g = grad of the
 * smooth part: for each weight, the most negative directional derivative of F along
 * +e_j (if w_j < hi_j) and -e_j (if w_j > lo_j), clamped at 0; i.e. |g_j + lambda
 * sign(w_j)| inside the bounds, max(0, |g_j| - lambda) at 0, only the feasible side at
 * a bound; and |dF/db|. 0 exactly at the optimum. */
double student_kkt(const student_data *sd, const float *p, size_t p_stride, const float *lo, const float *hi,
                   double lambda, const float *w, float b);

#endif
