/* student_columns.h — a version's weights carried onto another concept list (a tune
 * that adds or drops concepts), and which classes an added concept changes.
 *
 * A kept concept keeps its weight and bounds in every class; an added one starts at
 * weight 0, unbounded; a dropped one is gone. With the other weights unchanged, class
 * k is still optimal after an add exactly when the KKT conditions hold on the added
 * columns at weight 0: |g_kj| <= lambda, with g_kj the gradient of the smooth loss
 * (student.h) on column j. Those classes keep their weights; the others are retrained
 * (student_tune.c). Pure functions on arrays: no database.
 */
#ifndef INFICOND_STUDENT_COLUMNS_H
#define INFICOND_STUDENT_COLUMNS_H

#include <stddef.h>

#include "err.h"

/* from (d_new): the old column of each new column, -1 for an added one. w, lo, hi
 * (C, d_old) -> w_new, lo_new, hi_new (C, d_new); added columns get 0 and (-inf, inf). */
void ss_columns_map(const float *w, const float *lo, const float *hi, size_t c, size_t d_old, const long *from,
                    size_t d_new, float *w_new, float *lo_new, float *hi_new);

/* For each class k (C) the largest KKT violation on the columns cols (m) of x, where
 * those weights are 0 and unbounded: viol[k] = max_j max(0, |g_kj| - lambda),
 * g_kj = (1/N) sum_i (sigmoid(x_i . w_k + b_k) - p_ik) x_ij. x (N, d), p (N, C),
 * w (C, d), b (C). One SGEMM for the scores; the sums in double. */
int ss_columns_violations(const float *x, size_t n, size_t d, const float *p, size_t c, const float *w,
                          const float *b, const size_t *cols, size_t m, double lambda, double *viol,
                          err *e) WARN_UNUSED;

#endif
