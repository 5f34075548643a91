/* student.c — the student solver's driver and public API (see student.h for the
 * problem and the method; student_newton.c holds the inner solve on an active set).
 *
 * Layout of the work: each class keeps its weights w (D) and bias in double, the
 * scores z = X w + b (N) in double, and its active set A (st_class, student_newton.h).
 * Rounds: every pending class is solved on its A (st_solve_active), then the full
 * gradient of every pending class comes from one pass over X^T (SGEMM with the
 * residuals R (N, C_pending)) and the worst KKT violators join A; zeros that meet
 * their conditions leave it. Leaves out: screening rules beyond this working-set
 * growth (one lambda, no path to screen along).
 */
#include "student/student.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "student/student_newton.h"

/* Working-set growth per round: at most max(STUDENT_ADD_MIN, |A| / 2) new coordinates
 * (the first round of a cold start adds the STUDENT_ADD_MIN worst violators). */
#define STUDENT_ADD_MIN 32

/* ---- data, options, cold start ------------------------------------------------------ */

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

/* ---- the active-set rounds ----------------------------------------------------------- */

/* A coordinate outside A and its KKT violation. */
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

/* ---- one class's state, the public fits ---------------------------------------------- */

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
