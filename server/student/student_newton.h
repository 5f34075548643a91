/* student_newton.h — inside the student solver (private to student.c and
 * student_newton.c): the state of one class's fit, the workspace its solves share, the
 * small scalar rules both halves use, and the proximal Newton solve on an active set.
 *
 * The split: student_newton.c solves one class on its active set A (gradient on A,
 * the centred Newton model from one SSYRK, coordinate descent with the box-clipped
 * soft threshold, Armijo line search); student.c drives the rounds (the full-data KKT
 * pass over every pending class, growing and pruning A), owns the public API of
 * student.h and the slow independent checks. The method itself is described in
 * student.h.
 */
#ifndef INFICOND_STUDENT_NEWTON_H
#define INFICOND_STUDENT_NEWTON_H

#include <math.h>
#include <stddef.h>

#include "err.h"
#include "student/student.h"

/* One class being fitted. */
typedef struct st_class {
    float *p;             // (N) this class's teacher probabilities, gathered
    const float *lo, *hi; // (D) or NULL
    double *w;            // (D)
    double b;
    double *z;            // (N) X w + b
    unsigned char *in_a;  // (D) 1 when in the active set
    size_t *act;          // (D) capacity; the active set is act[0 .. n_act)
    size_t n_act;
    double obj;           // F at (w, b)
    double l1;            // |w|_1
    double kkt_a;         // KKT violation on A and the bias at the last gradient
    double out_viol;      // largest violation outside A at the last full pass (inf: none yet)
    int final;            // the last active-set solve was to kkt_tol (not inexact)
    int inner_ok;         // the last active-set solve met both tests
    int stalled;          // F stopped moving (relative change < obj_tol, or no descent left)
    int done;
    student_result res;
} st_class;

/* Scratch shared by the solves of one fit (one class at a time). The (N) arrays are
 * allocated by the driver; the (m_cap) ones grow with the active set (st_ws_reserve). */
typedef struct st_ws {
    double *r, *u, *sig; // (N) residual, direction in score space, sigma at the new point
    float *sh;     // (N) sqrt(sigma (1 - sigma))
    float *uf;     // (N) X_A delta
    float *m;      // (m_cap, N) rows: active columns scaled by sh, then sh
    const float **cols; // (m_cap) the active columns: pointers into X^T (contiguous, no copy)
    float *dlf;    // (m_cap) the step in float
    size_t m_cap;
    float *hf;     // (m_cap, m_cap)
    double *h;     // (m_cap, m_cap)
    double *g, *dl, *hd, *tgt; // (m_cap) gradient, step, H step, target weights
    double *mu, *gs;           // (m_cap) h-weighted column means, reduced gradient
    float *hw;                 // (N) sigma (1 - sigma)
    float *rf;                 // (N) the residual in float
} st_ws;

static inline double st_softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

static inline double st_sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double t = exp(z);
    return t / (1.0 + t);
}

static inline double st_clip(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static inline double st_soft(double v, double t) { return v > t ? v - t : (v < -t ? v + t : 0.0); }

static inline double st_lo(const st_class *c, size_t j) { return c->lo ? (double)c->lo[j] : -INFINITY; }
static inline double st_hi(const st_class *c, size_t j) { return c->hi ? (double)c->hi[j] : INFINITY; }

/* KKT violation of one weight w with smooth gradient g on [lo, hi] (see student_kkt). */
static inline double st_viol(double w, double g, double lo, double hi, double lambda) {
    if (lo == hi) return 0.0;
    double v = 0.0;
    if (w < hi) {
        double right = g + lambda * (w < 0 ? -1.0 : 1.0); /* dF/dt along +e_j */
        if (-right > v) v = -right;
    }
    if (w > lo) {
        double left = -g - lambda * (w > 0 ? 1.0 : -1.0); /* dF/dt along -e_j */
        if (-left > v) v = -left;
    }
    return v;
}

void st_ws_free(st_ws *ws); /* frees every array, (N) ones included; leaves it zeroed */

/* z = X w + b exactly (double) over the nonzero weights of A; refreshes obj and l1. */
void st_refresh(const student_data *sd, st_class *c, double lambda);

/* Proximal Newton on c's active set until both tests hold (to kkt_tol, or inexactly to
 * 0.3 times c->out_viol while violators remain outside A) or a limit is reached; sets
 * c->final, inner_ok, stalled, kkt_a. ws->r holds the residual at the end. */
int st_solve_active(const student_data *sd, st_class *c, const student_opts *o, st_ws *ws, err *e) WARN_UNUSED;

#endif
