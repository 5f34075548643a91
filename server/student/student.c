/* student.c — the student solver (see student.h for the problem and the method).
 *
 * Layout of the work: each class keeps its weights w (D) and bias in double, the
 * scores z = X w + b (N) in double, and its active set A. One active-set solve is a
 * sequence of proximal Newton steps: gradient on A (and the weighted column means) in
 * one read of each contiguous column of X^T (no gathered copy), the weighted
 * covariance of the centred active columns from one SSYRK (float; only the model's
 * curvature; the bias eliminated exactly), coordinate descent on that small dense
 * quadratic with the box-clipped soft threshold, the bias's step from the eliminated
 * row, then an Armijo backtracking line search on the true objective. Between solves,
 * the full gradient of every pending class comes from one pass over X^T (SGEMM with
 * the residuals R (N, C_pending)) and the worst KKT violators join A; zeros that meet
 * their conditions leave it. Leaves out: screening rules beyond this working-set
 * growth (one lambda, no path to screen along).
 */
#include "student/student.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Working-set growth per round: at most max(STUDENT_ADD_MIN, |A| / 2) new coordinates
 * (the first round of a cold start adds the STUDENT_ADD_MIN worst violators). */
#define STUDENT_ADD_MIN 32
#define STUDENT_ARMIJO 1e-4
#define STUDENT_CD_SWEEPS 2000
/* Rows behind the Newton model's curvature: above STUDENT_HESS_ROWS, one block of
 * STUDENT_HESS_BLOCK rows in every hs blocks (contiguous runs, spread over the data). */
#define STUDENT_HESS_ROWS 16384
#define STUDENT_HESS_BLOCK 256
/* Rows per block of the blocked column sweeps (z, u): 4096 doubles stay in L1/L2. */
#define STUDENT_ROW_BLOCK 4096

static inline double st_softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

static inline double st_sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double t = exp(z);
    return t / (1.0 + t);
}

static inline double st_clip(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static inline double st_soft(double v, double t) { return v > t ? v - t : (v < -t ? v + t : 0.0); }

/* KKT violation of one weight (see student_kkt). */
static double st_viol(double w, double g, double lo, double hi, double lambda) {
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

int student_data_init(student_data *sd, const float *x, size_t n, size_t d, err *e) {
    memset(sd, 0, sizeof *sd);
    if (!x || n == 0 || d == 0) return err_set(e, ERR_UNPROCESSABLE, "student: empty presence matrix");
    if (n > SIZE_MAX / sizeof(float) / d) return err_set(e, ERR_TOO_LARGE, "student: presence matrix too large");
    float *xt = malloc(n * d * sizeof *xt); // (D, N)
    if (!xt) return err_set(e, ERR_INTERNAL, "student: out of memory for a %zu x %zu transpose", d, n);
    enum { B = 64 };
    for (size_t i0 = 0; i0 < n; i0 += B) {
        size_t i1 = i0 + B < n ? i0 + B : n;
        for (size_t j0 = 0; j0 < d; j0 += B) {
            size_t j1 = j0 + B < d ? j0 + B : d;
            for (size_t i = i0; i < i1; i++)
                for (size_t j = j0; j < j1; j++) xt[j * n + i] = x[i * d + j];
        }
    }
    sd->n = n;
    sd->d = d;
    sd->x = x;
    sd->xt = xt;
    return 0;
}

void student_data_free(student_data *sd) {
    if (!sd) return;
    free(sd->xt);
    memset(sd, 0, sizeof *sd);
}

void student_opts_default(student_opts *o) {
    o->lambda = STUDENT_LAMBDA_DEFAULT;
    o->obj_tol = 1e-7;
    o->kkt_tol = 1e-5;
    o->max_newton = 100;
    o->max_rounds = 100;
}

void student_cold_start(const float *P, size_t n, size_t c, size_t d, float *W, float *b) {
    memset(W, 0, c * d * sizeof *W);
    for (size_t k = 0; k < c; k++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += P[i * c + k];
        double m = n ? s / (double)n : 0.5;
        m = st_clip(m, 1e-6, 1 - 1e-6);
        b[k] = (float)log(m / (1 - m));
    }
}

/* ---- per-class state and shared workspace ---------------------------------------- */

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

static void st_ws_free(st_ws *ws) {
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

static inline double st_lo(const st_class *c, size_t j) { return c->lo ? (double)c->lo[j] : -INFINITY; }
static inline double st_hi(const st_class *c, size_t j) { return c->hi ? (double)c->hi[j] : INFINITY; }

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

/* z = X w + b exactly (double) over the nonzero weights of A; refreshes obj and l1. */
static void st_refresh(const student_data *sd, st_class *c, double lambda) {
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

/* Proximal Newton on the active set until both tests hold or a limit is reached. */
static int st_solve_active(const student_data *sd, st_class *c, const student_opts *o, st_ws *ws, err *e) {
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

typedef struct st_cand {
    double v;
    size_t j;
} st_cand;

static int st_cand_cmp(const void *a, const void *b) {
    double x = ((const st_cand *)a)->v, y = ((const st_cand *)b)->v;
    return x < y ? 1 : (x > y ? -1 : 0);
}

static int st_check_bounds(const float *lo, const float *hi, size_t d, err *e) {
    for (size_t j = 0; j < d; j++) {
        double l = lo ? lo[j] : -INFINITY, h = hi ? hi[j] : INFINITY;
        if (isnan(l) || isnan(h) || l > h)
            return err_set(e, ERR_UNPROCESSABLE, "student: bounds of concept %zu are not an interval [%g, %g]", j,
                           l, h);
    }
    return 0;
}

/* Solve the classes cs[0 .. nc) together. */
static int st_fit_classes(const student_data *sd, st_class *cs, size_t nc, const student_opts *o, err *e) {
    const size_t n = sd->n, d = sd->d;
    st_ws ws = {0};
    ws.r = malloc(n * sizeof *ws.r);
    ws.u = malloc(n * sizeof *ws.u);
    ws.sh = malloc(n * sizeof *ws.sh);
    ws.hw = malloc(n * sizeof *ws.hw);
    ws.rf = malloc(n * sizeof *ws.rf);
    ws.uf = malloc(n * sizeof *ws.uf);
    ws.sig = malloc(n * sizeof *ws.sig);
    float *R = malloc(n * nc * sizeof *R);  // (N, pending)
    float *G = malloc(d * nc * sizeof *G);  // (D, pending)
    size_t *pend = malloc(nc * sizeof *pend);
    st_cand *cand = malloc(d * sizeof *cand);
    int rc = 0;
    if (!ws.r || !ws.u || !ws.sh || !ws.hw || !ws.rf || !ws.uf || !ws.sig || !R || !G || !pend || !cand) {
        rc = err_set(e, ERR_INTERNAL, "student: out of memory");
        goto out;
    }
    size_t np = nc;
    for (size_t q = 0; q < nc; q++) pend[q] = q;
    for (int round = 0; np > 0; round++) {
        for (size_t q = 0; q < np; q++) {
            st_class *c = &cs[pend[q]];
            if (st_solve_active(sd, c, o, &ws, e)) {
                rc = -1;
                goto out;
            }
            /* z drifts from X w + b by float rounding only (~1e-7 relative per step), far
             * below an inexact solve's tolerance: recomputed exactly after final solves
             * (and before a class ends), otherwise the solve's residual is current */
            if (c->final) {
                st_refresh(sd, c, o->lambda);
                for (size_t i = 0; i < n; i++) R[i * np + q] = (float)(st_sigmoid(c->z[i]) - (double)c->p[i]);
            } else {
                for (size_t i = 0; i < n; i++) R[i * np + q] = (float)ws.r[i];
            }
        }
        if (np == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)d, (int)n, 1.0f / (float)n, sd->xt, (int)n, R, 1, 0.0f,
                        G, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)np, (int)n, 1.0f / (float)n, sd->xt,
                        (int)n, R, (int)np, 0.0f, G, (int)np);
        size_t keep = 0;
        for (size_t q = 0; q < np; q++) {
            st_class *c = &cs[pend[q]];
            c->res.rounds++;
            double kkt = c->kkt_a, out = 0;
            size_t ncand = 0;
            for (size_t j = 0; j < d; j++) {
                if (c->in_a[j]) continue;
                double v = st_viol(0.0, (double)G[j * np + q], st_lo(c, j), st_hi(c, j), o->lambda);
                if (v > out) out = v;
                if (v > o->kkt_tol) cand[ncand++] = (st_cand){v, j};
            }
            if (out > kkt) kkt = out;
            c->res.kkt = kkt;
            c->out_viol = out;
            if (!c->final && (ncand == 0 || round + 1 >= o->max_rounds)) st_refresh(sd, c, o->lambda);
            if (ncand == 0 && (c->inner_ok || c->stalled)) {
                c->res.converged = c->inner_ok || kkt <= o->kkt_tol;
                c->done = 1;
            } else if (round + 1 >= o->max_rounds) {
                c->done = 1;
            } else {
                /* drop zeros that satisfy their conditions from A; the next pass sees them */
                size_t keep_a = 0;
                for (size_t a = 0; a < c->n_act; a++) {
                    size_t j = c->act[a];
                    if (c->w[j] == 0 && st_viol(0.0, (double)G[j * np + q], st_lo(c, j), st_hi(c, j), o->lambda) == 0)
                        c->in_a[j] = 0;
                    else
                        c->act[keep_a++] = j;
                }
                c->n_act = keep_a;
                qsort(cand, ncand, sizeof *cand, st_cand_cmp);
                size_t add = c->n_act / 2 > STUDENT_ADD_MIN ? c->n_act / 2 : STUDENT_ADD_MIN;
                if (add > ncand) add = ncand;
                for (size_t t = 0; t < add; t++) {
                    c->in_a[cand[t].j] = 1;
                    c->act[c->n_act++] = cand[t].j;
                }
            }
            if (!c->done) pend[keep++] = pend[q];
        }
        np = keep;
    }
out:
    st_ws_free(&ws);
    free(R), free(G), free(pend), free(cand);
    return rc;
}

static void st_class_free(st_class *c) {
    free(c->p), free(c->w), free(c->z), free(c->in_a), free(c->act);
}

static int st_class_init(const student_data *sd, st_class *c, const float *p, size_t p_stride, const float *lo,
                         const float *hi, const float *w, float b, double lambda, err *e) {
    const size_t n = sd->n, d = sd->d;
    memset(c, 0, sizeof *c);
    c->p = malloc(n * sizeof *c->p);
    c->w = malloc(d * sizeof *c->w);
    c->z = malloc(n * sizeof *c->z);
    c->in_a = calloc(d, 1);
    c->act = malloc(d * sizeof *c->act);
    if (!c->p || !c->w || !c->z || !c->in_a || !c->act) return err_set(e, ERR_INTERNAL, "student: out of memory");
    for (size_t i = 0; i < n; i++) {
        float v = p[i * p_stride];
        if (!(v >= 0.0f && v <= 1.0f))
            return err_set(e, ERR_UNPROCESSABLE, "student: teacher probability of image %zu is %g, not in [0, 1]", i,
                           (double)v);
        c->p[i] = v;
    }
    c->lo = lo;
    c->hi = hi;
    for (size_t j = 0; j < d; j++) {
        double wj = isfinite(w[j]) ? (double)w[j] : 0.0;
        c->w[j] = st_clip(wj, st_lo(c, j), st_hi(c, j));
        if (c->w[j] != 0) {
            c->in_a[j] = 1;
            c->act[c->n_act++] = j;
        }
    }
    c->b = isfinite(b) ? (double)b : 0.0;
    /* a warm start first re-solves on its own support (which absorbs most of a bound
     * change) before the first full pass; a cold start goes straight to the pass */
    c->out_viol = c->n_act ? 0.0 : INFINITY;
    st_refresh(sd, c, lambda);
    return 0;
}

static int st_check_opts(const student_data *sd, const student_opts *o, err *e) {
    if (!sd || !sd->xt) return err_set(e, ERR_INTERNAL, "student: data not initialised");
    if (!(o->lambda >= 0 && isfinite(o->lambda)))
        return err_set(e, ERR_UNPROCESSABLE, "student: lambda must be a finite number >= 0 (got %g)", o->lambda);
    if (!(o->obj_tol > 0) || !(o->kkt_tol > 0) || o->max_newton < 1 || o->max_rounds < 1)
        return err_set(e, ERR_UNPROCESSABLE, "student: tolerances must be > 0 and limits >= 1");
    if (sd->n > INT32_MAX || sd->d > INT32_MAX) return err_set(e, ERR_TOO_LARGE, "student: too many rows for BLAS");
    return 0;
}

static void st_write_back(const st_class *c, size_t d, float *w, float *b, student_result *res) {
    int nz = 0;
    for (size_t j = 0; j < d; j++) {
        w[j] = (float)c->w[j]; /* inside [lo, hi] in double => inside as float (both are floats) */
        nz += w[j] != 0;
    }
    *b = (float)c->b;
    if (res) {
        *res = c->res;
        res->objective = c->obj;
        res->nonzeros = nz;
    }
}

int student_fit(const student_data *sd, const float *p, size_t p_stride, const float *lo, const float *hi,
                const student_opts *o, float *w, float *b, student_result *res, err *e) {
    student_opts def;
    if (!o) student_opts_default(&def), o = &def;
    if (st_check_opts(sd, o, e) || st_check_bounds(lo, hi, sd->d, e)) return -1;
    st_class c;
    int rc = st_class_init(sd, &c, p, p_stride ? p_stride : 1, lo, hi, w, *b, o->lambda, e);
    if (!rc) rc = st_fit_classes(sd, &c, 1, o, e);
    if (!rc) st_write_back(&c, sd->d, w, b, res);
    st_class_free(&c);
    return rc;
}

int student_fit_all(const student_data *sd, const float *P, size_t c, const float *lo, const float *hi,
                    const student_opts *o, float *W, float *b, student_result *res, err *e) {
    student_opts def;
    if (!o) student_opts_default(&def), o = &def;
    if (st_check_opts(sd, o, e)) return -1;
    if (c == 0) return err_set(e, ERR_UNPROCESSABLE, "student: no classes");
    const size_t d = sd->d;
    for (size_t k = 0; k < c; k++)
        if (st_check_bounds(lo ? lo + k * d : NULL, hi ? hi + k * d : NULL, d, e)) return -1;
    st_class *cs = calloc(c, sizeof *cs);
    if (!cs) return err_set(e, ERR_INTERNAL, "student: out of memory");
    int rc = 0;
    for (size_t k = 0; k < c && !rc; k++)
        rc = st_class_init(sd, &cs[k], P + k, c, lo ? lo + k * d : NULL, hi ? hi + k * d : NULL, W + k * d, b[k],
                           o->lambda, e);
    if (!rc) rc = st_fit_classes(sd, cs, c, o, e);
    for (size_t k = 0; k < c; k++) {
        if (!rc) st_write_back(&cs[k], d, W + k * d, b + k, res ? res + k : NULL);
        st_class_free(&cs[k]);
    }
    free(cs);
    return rc;
}

/* ---- slow independent checks ------------------------------------------------------ */

static void st_slow_residual(const student_data *sd, const float *p, size_t p_stride, const float *w, float b,
                             double *z) {
    for (size_t i = 0; i < sd->n; i++) {
        const float *xi = sd->x + i * sd->d;
        double s = b;
        for (size_t j = 0; j < sd->d; j++) s += (double)xi[j] * (double)w[j];
        z[i] = s;
    }
    (void)p, (void)p_stride;
}

double student_objective(const student_data *sd, const float *p, size_t p_stride, double lambda, const float *w,
                         float b) {
    double *z = malloc(sd->n * sizeof *z);
    if (!z) return NAN;
    st_slow_residual(sd, p, p_stride, w, b, z);
    double s = 0, l1 = 0;
    for (size_t i = 0; i < sd->n; i++) s += st_softplus(z[i]) - (double)p[i * p_stride] * z[i];
    for (size_t j = 0; j < sd->d; j++) l1 += fabs((double)w[j]);
    free(z);
    return s / (double)sd->n + lambda * l1;
}

double student_kkt(const student_data *sd, const float *p, size_t p_stride, const float *lo, const float *hi,
                   double lambda, const float *w, float b) {
    const size_t n = sd->n, d = sd->d;
    double *z = malloc(n * sizeof *z), *g = calloc(d, sizeof *g);
    if (!z || !g) {
        free(z), free(g);
        return NAN;
    }
    st_slow_residual(sd, p, p_stride, w, b, z);
    double gb = 0;
    for (size_t i = 0; i < n; i++) {
        double r = st_sigmoid(z[i]) - (double)p[i * p_stride];
        gb += r;
        const float *xi = sd->x + i * d;
        for (size_t j = 0; j < d; j++) g[j] += (double)xi[j] * r;
    }
    double v = fabs(gb / (double)n);
    for (size_t j = 0; j < d; j++) {
        double vj = st_viol((double)w[j], g[j] / (double)n, lo ? (double)lo[j] : -INFINITY,
                            hi ? (double)hi[j] : INFINITY, lambda);
        if (vj > v) v = vj;
    }
    free(z), free(g);
    return v;
}
