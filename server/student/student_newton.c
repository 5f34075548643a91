/* student_newton.c — the inner solve of the student solver: proximal Newton steps on
 * one class's active set A (see student.h for the method, student_newton.h for the
 * split with the active-set driver in student.c).
 *
 * One step: the gradient on A (and the weighted column means) in one read of each
 * contiguous column of X^T (no gathered copy), the weighted covariance of the centred
 * active columns from one SSYRK (float; only the model's curvature; the bias
 * eliminated exactly), coordinate descent on that small dense quadratic with the
 * box-clipped soft threshold, the bias's step from the eliminated row, then an Armijo
 * backtracking line search on the true objective. The kernels over rows are float
 * with 8 lanes (target_clones: AVX2 where the CPU has it).
 */
#include "student/student_newton.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STUDENT_ARMIJO 1e-4
#define STUDENT_CD_SWEEPS 2000
/* Rows behind the Newton model's curvature: above STUDENT_HESS_ROWS, one block of
 * STUDENT_HESS_BLOCK rows in every hs blocks (contiguous runs, spread over the data). */
#define STUDENT_HESS_ROWS 16384
#define STUDENT_HESS_BLOCK 256
/* Rows per block of the blocked column sweeps (z, u): 4096 doubles stay in L1/L2. */
#define STUDENT_ROW_BLOCK 4096

/* ---- workspace ---------------------------------------------------------------------- */

void st_ws_free(st_ws *ws) {
    free(ws->r), free(ws->u), free(ws->sig), free(ws->uf), free(ws->sh), free(ws->m), free(ws->cols), free(ws->dlf), free(ws->hf);
    free(ws->h);
    free(ws->g), free(ws->dl), free(ws->hd), free(ws->tgt), free(ws->mu), free(ws->gs), free(ws->hw), free(ws->rf);
    memset(ws, 0, sizeof *ws);
}

static int st_ws_reserve(st_ws *ws, size_t n, size_t m, err *e) {
    if (m <= ws->m_cap) return 0;
    size_t cap = ws->m_cap ? ws->m_cap : 32;
    while (cap < m) cap *= 2;
    free(ws->m), free(ws->cols), free(ws->dlf), free(ws->hf), free(ws->h), free(ws->g), free(ws->dl), free(ws->hd);
    free(ws->tgt), free(ws->mu), free(ws->gs);
    ws->m = malloc(cap * n * sizeof *ws->m);
    ws->cols = malloc(cap * sizeof *ws->cols);
    ws->dlf = malloc(cap * sizeof *ws->dlf);
    ws->hf = malloc(cap * cap * sizeof *ws->hf);
    ws->h = malloc(cap * cap * sizeof *ws->h);
    ws->g = malloc(cap * sizeof *ws->g);
    ws->dl = malloc(cap * sizeof *ws->dl);
    ws->hd = malloc(cap * sizeof *ws->hd);
    ws->tgt = malloc(cap * sizeof *ws->tgt);
    ws->mu = malloc(cap * sizeof *ws->mu);
    ws->gs = malloc(cap * sizeof *ws->gs);
    ws->m_cap = cap;
    if (!ws->m || !ws->cols || !ws->dlf || !ws->hf || !ws->h || !ws->g || !ws->dl || !ws->hd || !ws->tgt || !ws->mu ||
        !ws->gs) {
        ws->m_cap = 0;
        return err_set(e, ERR_INTERNAL, "student: out of memory for a %zu-column working set", m);
    }
    return 0;
}

/* ---- the objective and the kernels over rows ---------------------------------------- */

/* (1/N) sum softplus(z + t u) - p (z + t u); u may be NULL (t ignored). With u, also
 * stores sigma(z + t u) in sig (N) for the next Newton step (one exp per row). */
static double st_smooth(const float *p, const double *z, const double *u, double t, size_t n, double *sig) {
    double s = 0;
    if (u)
        for (size_t i = 0; i < n; i++) {
            double zi = z[i] + t * u[i];
            double ex = exp(-fabs(zi)), inv = 1.0 / (1.0 + ex);
            sig[i] = zi >= 0 ? inv : ex * inv;
            s += (zi > 0 ? zi : 0.0) + log1p(ex) - (double)p[i] * zi;
        }
    else
        for (size_t i = 0; i < n; i++) s += st_softplus(z[i]) - (double)p[i] * z[i];
    return s / (double)n;
}

/* out (N) = (a - mu) * b elementwise (a column centred, then scaled). */
__attribute__((target_clones("avx2", "default"))) static void st_cmul_f(const float *restrict a, float mu,
                                                                         const float *restrict b,
                                                                         float *restrict out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) out[i + l] = (a[i + l] - mu) * b[i + l];
    for (; i < n; i++) out[i] = (a[i] - mu) * b[i];
}

/* sum_i x_i r_i and (in *xh) sum_i x_i h_i: one read of x. Products and runs of
 * STUDENT_DOT_RUN terms in float (8 lanes; X fits in the last-level cache, so this is
 * arithmetic-bound), the runs summed in double: relative error ~1e-6 of sum |x r|, far
 * below kkt_tol. */
#define STUDENT_DOT_RUN 256
__attribute__((target_clones("avx2", "default"))) static double st_dot2_f(const float *restrict x,
                                                                            const float *restrict r,
                                                                            const float *restrict h, size_t n,
                                                                            double *xh) {
    double s = 0, t = 0;
    size_t i = 0;
    while (i + 8 <= n) {
        float fs[8] = {0, 0, 0, 0, 0, 0, 0, 0}, ft[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t end = i + STUDENT_DOT_RUN < n ? i + STUDENT_DOT_RUN : n;
        for (; i + 8 <= end; i += 8)
            for (int l = 0; l < 8; l++) fs[l] += x[i + l] * r[i + l], ft[l] += x[i + l] * h[i + l];
        for (int l = 0; l < 8; l++) s += (double)fs[l], t += (double)ft[l];
    }
    for (; i < n; i++) s += (double)x[i] * r[i], t += (double)x[i] * h[i];
    *xh = t;
    return s;
}

/* z (n) += w x, x float, z double. */
__attribute__((target_clones("avx2", "default"))) static void st_axpy_fd(double *restrict z, double w,
                                                                          const float *restrict x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) /* 8 lanes so that -O2 emits packed code */
        for (int l = 0; l < 8; l++) z[i + l] += w * (double)x[i + l];
    for (; i < n; i++) z[i] += w * (double)x[i];
}

/* u (n) += w x, float. */
__attribute__((target_clones("avx2", "default"))) static void st_axpy_f(float *restrict u, float w,
                                                                         const float *restrict x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) u[i + l] += w * x[i + l];
    for (; i < n; i++) u[i] += w * x[i];
}

/* (see student_newton.h) */
void st_refresh(const student_data *sd, st_class *c, double lambda) {
    size_t n = sd->n;
    double l1 = 0;
    for (size_t a = 0; a < c->n_act; a++) l1 += fabs(c->w[c->act[a]]);
    for (size_t i0 = 0; i0 < n; i0 += STUDENT_ROW_BLOCK) { /* z's block stays in cache */
        size_t len = n - i0 < STUDENT_ROW_BLOCK ? n - i0 : STUDENT_ROW_BLOCK;
        for (size_t i = i0; i < i0 + len; i++) c->z[i] = c->b;
        for (size_t a = 0; a < c->n_act; a++) {
            size_t j = c->act[a];
            if (c->w[j] != 0) st_axpy_fd(c->z + i0, c->w[j], sd->xt + j * n + i0, len);
        }
    }
    c->l1 = l1;
    c->obj = st_smooth(c->p, c->z, NULL, 0, n, NULL) + lambda * l1;
}

/* ---- the active-set solve ------------------------------------------------------------ */

/* Proximal Newton on the active set until both tests hold or a limit is reached (see
 * student_newton.h). */
int st_solve_active(const student_data *sd, st_class *c, const student_opts *o, st_ws *ws, err *e) {
    const size_t n = sd->n, na = c->n_act, m = na + 1;
    const double lambda = o->lambda, inv_n = 1.0 / (double)n;
    if (st_ws_reserve(ws, n, m, e)) return -1;
    double *r = ws->r, *u = ws->u, *g = ws->g, *dl = ws->dl, *hd = ws->hd, *h = ws->h, *tgt = ws->tgt;
    float *sh = ws->sh, *hw = ws->hw, *rf = ws->rf, *mm = ws->m, *hf = ws->hf, *uf = ws->uf, *dlf = ws->dlf;
    double *mu = ws->mu, *gs = ws->gs;
    const float **cols = ws->cols;
    for (size_t a = 0; a < na; a++) cols[a] = sd->xt + c->act[a] * n;
    double last_rel = INFINITY;
    /* inexact solves while the working set is still growing: the tolerance on A follows
     * the violations outside it; the full tests only once those are below kkt_tol */
    const double tol_in = fmax(o->kkt_tol, 0.3 * c->out_viol);
    const int final = tol_in <= o->kkt_tol;
    c->final = final;
    c->inner_ok = 0;
    c->stalled = 0;
    /* the Hessian's rows: the first STUDENT_HESS_BLOCK rows of every hs-th block */
    const size_t hs = (n + STUDENT_HESS_ROWS - 1) / STUDENT_HESS_ROWS;
    size_t nh = 0;
    for (size_t i0 = 0; i0 < n; i0 += hs * STUDENT_HESS_BLOCK)
        nh += n - i0 < STUDENT_HESS_BLOCK ? n - i0 : STUDENT_HESS_BLOCK;
    for (int it = 0;; it++) {
        /* residuals, curvature weights, gradient on A and the bias (sigma from the line
         * search after the first step) */
        double gb = 0, hsum = 0;
        for (size_t i = 0; i < n; i++) {
            double s = it ? ws->sig[i] : st_sigmoid(c->z[i]);
            r[i] = s - (double)c->p[i];
            rf[i] = (float)r[i];
            hw[i] = (float)(s * (1 - s));
            sh[i] = sqrtf(hw[i]);
            gb += r[i];
            hsum += (double)hw[i];
        }
        g[na] = gb * inv_n;
        double kkt = fabs(g[na]);
        /* one read of each column: the gradient and the h-weighted column sum (for the
         * centring below) */
        for (size_t a = 0; a < na; a++) {
            size_t j = c->act[a];
            double sx;
            g[a] = st_dot2_f(cols[a], rf, hw, n, &sx) * inv_n;
            mu[a] = hsum > 0 ? sx / hsum : 0.0;
            double v = st_viol(c->w[j], g[a], st_lo(c, j), st_hi(c, j), lambda);
            if (v > kkt) kkt = v;
        }
        c->kkt_a = kkt;
        if (kkt <= tol_in) { /* the optimality certificate on A */
            c->inner_ok = final;
            break;
        }
        if (last_rel < o->obj_tol) { /* stagnation: F no longer moves */
            c->stalled = 1;
            break;
        }
        if (it >= o->max_newton) break;

        /* The Newton model in (delta_w, delta_b) with H = (1/N) [X_A, 1]^T diag(h) [X_A, 1],
         * the bias eliminated exactly: for a given delta_w the best delta_b is
         * -(g_b + H_bw delta_w) / H_bb, which leaves the Schur complement H_ww - H_wb H_bw /
         * H_bb — the h-weighted covariance of the columns centred at their h-weighted
         * means mu — and the gradient g_w - mu g_b. Presence columns share a large common
         * level (all cosines sit in a narrow positive band), so next to the bias they are
         * nearly collinear: coordinate descent on the uncentred model needed thousands of
         * sweeps, on the centred one a few dozen (what glmnet's standardisation buys).
         * Built by one SSYRK over the centred, scaled columns. Above STUDENT_HESS_ROWS rows,
         * from one block of rows in hs only (a subsampled Newton model: the gradient stays
         * exact every step and the line search guards descent, so the solution and the
         * KKT certificate are unchanged; only the step is approximate). */
        const double hbb = fmax(hsum * inv_n, 1e-12);
        for (size_t a = 0; a < na; a++) {
            const float *col = cols[a];
            gs[a] = g[a] - mu[a] * g[na];
            float *row = mm + a * nh;
            for (size_t i0 = 0, q = 0; i0 < n; i0 += hs * STUDENT_HESS_BLOCK) {
                size_t len = n - i0 < STUDENT_HESS_BLOCK ? n - i0 : STUDENT_HESS_BLOCK;
                st_cmul_f(col + i0, (float)mu[a], sh + i0, row + q, len);
                q += len;
            }
        }
        if (na) {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)na, (int)nh, 1.0f / (float)nh, mm, (int)nh,
                        0.0f, hf, (int)na);
            for (size_t a = 0; a < na; a++)
                for (size_t q = a; q < na; q++) h[a * na + q] = h[q * na + a] = (double)hf[a * na + q];
        }

        /* the reduced quadratic with the box and the L1 term: exact coordinate descent */
        memset(dl, 0, m * sizeof *dl);
        memset(hd, 0, m * sizeof *hd);
        for (int sweep = 0; na && sweep < STUDENT_CD_SWEEPS; sweep++) {
            double maxchg = 0;
            for (size_t a = 0; a < na; a++) {
                double haa = h[a * na + a] > 1e-12 ? h[a * na + a] : 1e-12;
                double grad = gs[a] + hd[a];
                size_t j = c->act[a];
                double cur = c->w[j] + dl[a];
                double v = st_clip(st_soft(cur - grad / haa, lambda / haa), st_lo(c, j), st_hi(c, j));
                tgt[a] = v;
                double step = (v - c->w[j]) - dl[a];
                if (step != 0) {
                    dl[a] += step;
                    const double *row = h + a * na; /* = column a (symmetric) */
                    for (size_t q = 0; q < na; q++) hd[q] += step * row[q];
                    double ch = fabs(step) * haa; /* the change of its model gradient */
                    if (ch > maxchg) maxchg = ch;
                }
            }
            if (maxchg < 1e-2 * tol_in) break;
        }
        /* the bias's step given delta_w */
        dl[na] = -g[na] / hbb;
        for (size_t a = 0; a < na; a++) dl[na] -= mu[a] * dl[a];
        for (size_t a = 0; a < na; a++)
            if (dl[a] == 0) tgt[a] = c->w[c->act[a]];

        /* predicted decrease of the model (<= 0) */
        double pred = g[na] * dl[na], l1_new = 0;
        for (size_t a = 0; a < na; a++) {
            pred += g[a] * dl[a];
            l1_new += fabs(tgt[a]);
        }
        pred += lambda * (l1_new - c->l1); /* every nonzero weight is in A */
        if (!(pred < 0)) {
            c->inner_ok = kkt <= o->kkt_tol;
            c->stalled = 1;
            break;
        }

        /* direction in score space: u = X_A delta + delta_b (float, over row blocks that
         * stay in cache; z is recomputed exactly from w after the final solves) */
        for (size_t a = 0; a < na; a++) dlf[a] = (float)dl[a];
        for (size_t i0 = 0; i0 < n; i0 += STUDENT_ROW_BLOCK) {
            size_t len = n - i0 < STUDENT_ROW_BLOCK ? n - i0 : STUDENT_ROW_BLOCK;
            memset(uf + i0, 0, len * sizeof *uf);
            for (size_t a = 0; a < na; a++)
                if (dlf[a] != 0) st_axpy_f(uf + i0, dlf[a], cols[a] + i0, len);
            for (size_t i = i0; i < i0 + len; i++) u[i] = (double)uf[i] + dl[na];
        }

        /* backtracking on the true objective; when the model predicts a decrease below
         * the resolution of F, F is optimal to working precision: take the full step
         * only if F does not rise, and stop */
        double t = 1, fnew = INFINITY, l1_t = 0;
        int ok = 0, tiny = -pred < 1e-14 * fabs(c->obj);
        for (int ls = 0; ls < (tiny ? 1 : 60); ls++) {
            l1_t = 0;
            for (size_t a = 0; a < na; a++) {
                size_t j = c->act[a];
                double wt = t == 1 ? tgt[a] : st_clip(c->w[j] + t * (tgt[a] - c->w[j]), st_lo(c, j), st_hi(c, j));
                l1_t += fabs(wt);
            }
            fnew = st_smooth(c->p, c->z, u, t, n, ws->sig) + lambda * l1_t;
            if (fnew <= c->obj + STUDENT_ARMIJO * t * pred || (tiny && fnew <= c->obj)) {
                ok = 1;
                break;
            }
            t *= 0.5;
        }
        if (!ok) {
            c->inner_ok = tiny || kkt <= o->kkt_tol;
            c->stalled = 1;
            break;
        }
        for (size_t a = 0; a < na; a++) {
            size_t j = c->act[a];
            c->w[j] = t == 1 ? tgt[a] : st_clip(c->w[j] + t * (tgt[a] - c->w[j]), st_lo(c, j), st_hi(c, j));
        }
        c->b += t * dl[na];
        for (size_t i = 0; i < n; i++) c->z[i] += t * u[i];
        assert(fnew <= c->obj); /* the objective never goes up */
        last_rel = (c->obj - fnew) / (fabs(fnew) > 1e-300 ? fabs(fnew) : 1e-300);
        c->obj = fnew;
        c->l1 = l1_t;
        c->res.iterations++;
        if (tiny) {
            for (size_t i = 0; i < n; i++) r[i] = ws->sig[i] - (double)c->p[i]; /* keep r current */
            c->inner_ok = 1;
            break;
        }
    }
    return 0;
}
