/* student_columns.c — weights onto a new concept list, and the KKT test of added
 * columns (see student_columns.h).
 */
#include "student/student_columns.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "student/student_measures.h"

void ss_columns_map(const float *w, const float *lo, const float *hi, size_t c, size_t d_old, const long *from,
                    size_t d_new, float *w_new, float *lo_new, float *hi_new) {
    for (size_t k = 0; k < c; k++)
        for (size_t j = 0; j < d_new; j++) {
            size_t t = k * d_new + j;
            if (from[j] < 0) {
                w_new[t] = 0, lo_new[t] = -INFINITY, hi_new[t] = INFINITY;
            } else {
                size_t s = k * d_old + (size_t)from[j];
                w_new[t] = w[s], lo_new[t] = lo[s], hi_new[t] = hi[s];
            }
        }
}

int ss_columns_violations(const float *x, size_t n, size_t d, const float *p, size_t c, const float *w,
                          const float *b, const size_t *cols, size_t m, double lambda, double *viol, err *e) {
    for (size_t k = 0; k < c; k++) viol[k] = 0;
    if (m == 0 || n == 0) return 0;
    float *z = malloc(n * c * sizeof *z);   // (N, C) scores
    double *g = calloc(m * c, sizeof *g);   // (m, C) gradients
    if (!z || !g) {
        free(z), free(g);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    sm_scores(x, n, d, w, b, c, z);
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        for (size_t k = 0; k < c; k++) {
            double r = 1.0 / (1.0 + exp(-(double)z[i * c + k])) - (double)p[i * c + k];
            for (size_t t = 0; t < m; t++) g[t * c + k] += r * (double)xi[cols[t]];
        }
    }
    for (size_t t = 0; t < m; t++)
        for (size_t k = 0; k < c; k++) {
            double v = fabs(g[t * c + k]) / (double)n - lambda;
            if (v > viol[k]) viol[k] = v;
        }
    free(z), free(g);
    return 0;
}
