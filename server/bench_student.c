/* bench_student.c — `inficond bench student`: the student solver on a presence matrix
 * X (N, D) and teacher probabilities P (N, C), raw little-endian float32 row-major
 * files. Fits all classes from the cold start with the defaults (one thread), reports
 * seconds (including the one-off transpose), the summed objective, fidelity (argmax
 * agreement with P on the same rows) and nonzeros; then a warm-started tolerance path
 * (kkt_tol 1e-2 .. 1e-5) for the time to reach a target fidelity (--target); then the
 * one-class retrain after one bound change (downtune x2 of a class's most influential
 * concept, warm start from the parent), median of several.
 * `--gen OUTDIR` writes a synthetic problem instead (X.f32, P.f32, y.i32, meta.json).
 * Leaves out: the Python peer (bench/student_peer.py, compared by bench/student.sh).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cblas.h>

#include "commands.h"
#include "student.h"
#include "student_measures.h"
#include "tuning.h"

static double bs_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bs_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond bench student --x X.f32 --p P.f32 --n N --d D --c C [--lambda 1e-4]\n"
            "                              [--target FIDELITY] [--retrains 9]\n"
            "       inficond bench student --gen OUTDIR --n N --d D --c C [--seed 1]\n\n"
            "Fits the L1 student (one model per class) from zero with the defaults, one thread.\n"
            "X: presence (N x D), P: teacher probabilities (N x C), raw little-endian float32,\n"
            "row-major. Prints a table, then one JSON line last: seconds, objective (sum over\n"
            "classes), fidelity (argmax agreement with P), nonzeros, seconds_to_target (first\n"
            "point of a warm-started tolerance path with fidelity >= --target), retrain_ms_median\n"
            "(one class, warm start, after one downtune).\n"
            "--gen writes a synthetic problem to OUTDIR: X.f32, P.f32, y.i32 (true labels), meta.json.\n");
}

/* ---- synthetic problem -------------------------------------------------------------- */

static uint64_t bs_rng;
static double bs_u(void) {
    bs_rng ^= bs_rng << 13, bs_rng ^= bs_rng >> 7, bs_rng ^= bs_rng << 17;
    return (double)(bs_rng >> 11) * (1.0 / 9007199254740992.0);
}
static double bs_n(void) { return sqrt(-2 * log(bs_u() + 1e-300)) * cos(6.283185307179586 * bs_u()); }
static size_t bs_pick(size_t m) { return (size_t)(bs_u() * (double)m) % m; }

/* Presence-like X: every concept has a base level in 0.1-0.3 with per-image noise; each
 * class has 4 signature concepts (strong, 0.45-0.9, in 70% of its images), one
 * preferred background among 8 (60% of its images; others draw one at random), and
 * every image has 3 random distractor concepts (0.35-0.7). The teacher: a sparse linear
 * model on X (signatures +5, preferred background +1.5, 3 negative concepts -2 per
 * class) plus N(0, 0.8) logit noise, softmax. Labels: the scene's class. */
static int bs_generate(const char *dir, size_t n, size_t d, size_t c, uint64_t seed) {
    if (d < 4 * c + 8 || c < 2) {
        fprintf(stderr, "bench student: --gen needs C >= 2 and D >= 4 C + 8\n");
        return 1;
    }
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "bench student: mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    bs_rng = seed * 0x9E3779B97F4A7C15ULL + 88172645463325252ULL;
    double *base = malloc(d * sizeof *base);      // (D)
    size_t *sig = malloc(c * 4 * sizeof *sig);    // (C, 4)
    size_t *bgc = malloc(8 * sizeof *bgc);        // (8) background concepts
    double *beta = calloc(c * d, sizeof *beta);   // (C, D)
    float *x = malloc(d * sizeof *x), *p = malloc(c * sizeof *p);
    double *z = malloc(c * sizeof *z);
    size_t *perm = malloc(d * sizeof *perm);
    if (!base || !sig || !bgc || !beta || !x || !p || !z || !perm) return 1;
    for (size_t j = 0; j < d; j++) base[j] = 0.1 + 0.2 * bs_u(), perm[j] = j;
    for (size_t j = d - 1; j > 0; j--) {
        size_t q = bs_pick(j + 1), t = perm[j];
        perm[j] = perm[q], perm[q] = t;
    }
    for (size_t k = 0; k < c; k++)
        for (size_t s = 0; s < 4; s++) sig[k * 4 + s] = perm[k * 4 + s];
    for (size_t s = 0; s < 8; s++) bgc[s] = perm[4 * c + s];
    for (size_t k = 0; k < c; k++) {
        for (size_t s = 0; s < 4; s++) beta[k * d + sig[k * 4 + s]] = 5.0;
        beta[k * d + bgc[k % 8]] += 1.5;
        for (int s = 0; s < 3; s++) beta[k * d + perm[bs_pick(d)]] -= 2.0;
    }
    char path[4096];
    FILE *fx, *fp, *fy;
    snprintf(path, sizeof path, "%s/X.f32", dir), fx = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/P.f32", dir), fp = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/y.i32", dir), fy = fopen(path, "wb");
    if (!fx || !fp || !fy) {
        fprintf(stderr, "bench student: cannot write to %s\n", dir);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t y = (int32_t)bs_pick(c);
        for (size_t j = 0; j < d; j++) x[j] = (float)fmin(1, fmax(0, base[j] + 0.05 * bs_n()));
        for (size_t s = 0; s < 4; s++)
            if (bs_u() < 0.7) x[sig[(size_t)y * 4 + s]] = (float)(0.45 + 0.45 * bs_u());
        size_t bg = bs_u() < 0.6 ? bgc[(size_t)y % 8] : bgc[bs_pick(8)];
        x[bg] = (float)(0.4 + 0.4 * bs_u());
        for (int s = 0; s < 3; s++) x[bs_pick(d)] = (float)(0.35 + 0.35 * bs_u());
        double mx = -1e300, sum = 0;
        for (size_t k = 0; k < c; k++) {
            double v = 0.8 * bs_n();
            for (size_t j = 0; j < d; j++)
                if (beta[k * d + j] != 0) v += beta[k * d + j] * x[j];
            z[k] = v;
            if (v > mx) mx = v;
        }
        for (size_t k = 0; k < c; k++) sum += (z[k] = exp(z[k] - mx));
        for (size_t k = 0; k < c; k++) p[k] = (float)(z[k] / sum);
        if (fwrite(x, sizeof *x, d, fx) != d || fwrite(p, sizeof *p, c, fp) != c || fwrite(&y, sizeof y, 1, fy) != 1) {
            fprintf(stderr, "bench student: write failed in %s\n", dir);
            return 1;
        }
    }
    int bad = fclose(fx) | fclose(fp) | fclose(fy);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *fm = fopen(path, "w");
    if (fm) fprintf(fm, "{\"n\":%zu,\"d\":%zu,\"c\":%zu,\"seed\":%llu}\n", n, d, c, (unsigned long long)seed);
    bad |= !fm || fclose(fm);
    free(base), free(sig), free(bgc), free(beta), free(x), free(p), free(z), free(perm);
    if (bad) fprintf(stderr, "bench student: closing files in %s failed\n", dir);
    else printf("{\"bench\":\"student-gen\",\"dir\":\"%s\",\"n\":%zu,\"d\":%zu,\"c\":%zu,\"seed\":%llu}\n", dir, n, d,
                c, (unsigned long long)seed);
    return bad ? 1 : 0;
}

/* ---- the benchmark ------------------------------------------------------------------ */

static float *bs_read(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench student: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || (size_t)st.st_size != count * sizeof(float)) {
        fprintf(stderr, "bench student: %s holds %lld bytes, expected %zu\n", path, (long long)st.st_size,
                count * sizeof(float));
        fclose(f);
        return NULL;
    }
    float *v = malloc(count * sizeof *v);
    if (v && fread(v, sizeof *v, count, f) != count) free(v), v = NULL;
    fclose(f);
    if (!v) fprintf(stderr, "bench student: reading %s failed\n", path);
    return v;
}

static int bs_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double bs_fidelity(const float *X, size_t n, size_t d, const float *W, const float *b, size_t c,
                          const int32_t *tpred, float *scores, int32_t *spred) {
    sm_scores(X, n, d, W, b, c, scores);
    sm_argmax_rows(scores, n, c, spred);
    return sm_agreement(spred, tpred, n);
}

int bench_student(int argc, char **argv) {
    const char *xpath = NULL, *ppath = NULL, *gen = NULL;
    size_t n = 0, d = 0, c = 0;
    double lambda = STUDENT_LAMBDA_DEFAULT, target = NAN;
    unsigned long long seed = 1;
    int retrains = 9;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bs_usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench student: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--x")) xpath = v;
        else if (!strcmp(a, "--p")) ppath = v;
        else if (!strcmp(a, "--gen")) gen = v;
        else if (!strcmp(a, "--n")) n = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--d")) d = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--c")) c = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--lambda")) lambda = strtod(v, NULL);
        else if (!strcmp(a, "--target")) target = strtod(v, NULL);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--retrains")) retrains = atoi(v);
        else {
            fprintf(stderr, "bench student: unknown option %s\n", a);
            bs_usage(stderr);
            return 2;
        }
    }
    if (!n || !d || !c || (!gen && (!xpath || !ppath))) {
        bs_usage(stderr);
        return 2;
    }
    if (gen) return bs_generate(gen, n, d, c, seed);
    openblas_set_num_threads(1);

    float *X = bs_read(xpath, n * d), *P = bs_read(ppath, n * c); // (N, D), (N, C)
    float *W = malloc(c * d * sizeof *W), *b = malloc(c * sizeof *b);
    float *scores = malloc(n * c * sizeof *scores);
    int32_t *tpred = malloc(n * sizeof *tpred), *spred = malloc(n * sizeof *spred);
    student_result *res = malloc(c * sizeof *res);
    if (!X || !P || !W || !b || !scores || !tpred || !spred || !res) return 1;
    sm_argmax_rows(P, n, c, tpred);

    student_opts o;
    student_opts_default(&o);
    o.lambda = lambda;
    err e = {0};
    student_data sd;
    double t0 = bs_now();
    if (student_data_init(&sd, X, n, d, &e)) {
        fprintf(stderr, "bench student: %s\n", e.msg);
        return 1;
    }
    double t1 = bs_now();
    student_cold_start(P, n, c, d, W, b);
    if (student_fit_all(&sd, P, c, NULL, NULL, &o, W, b, res, &e)) {
        fprintf(stderr, "bench student: %s\n", e.msg);
        return 1;
    }
    double t2 = bs_now();
    double seconds = t2 - t0, obj = 0, kkt = 0;
    long nz = 0, iters = 0;
    int conv = 1;
    for (size_t k = 0; k < c; k++) {
        obj += res[k].objective;
        nz += res[k].nonzeros;
        iters += res[k].iterations;
        conv &= res[k].converged;
        if (res[k].kkt > kkt) kkt = res[k].kkt;
    }
    double fid = bs_fidelity(X, n, d, W, b, c, tpred, scores, spred);
    printf("student: N=%zu D=%zu C=%zu lambda=%g, 1 thread\n", n, d, c, lambda);
    printf("  fit from zero: %.3f s (transpose %.3f s), objective %.6f (sum over classes), fidelity %.4f,\n"
           "  %ld nonzeros (%.1f per class), %ld Newton steps, max KKT %.2e, converged %s\n",
           seconds, t1 - t0, obj, fid, nz, (double)nz / (double)c, iters, kkt, conv ? "yes" : "no");

    /* warm-started tolerance path: time to reach a fidelity */
    float *W2 = malloc(c * d * sizeof *W2), *b2 = malloc(c * sizeof *b2);
    const double tols[] = {1e-2, 1e-3, 1e-4, 1e-5};
    double path_s[4], path_f[4], to_target = -1;
    if (!W2 || !b2) return 1;
    double tp0 = bs_now();
    student_data_free(&sd);
    if (student_data_init(&sd, X, n, d, &e)) return 1;
    student_cold_start(P, n, c, d, W2, b2);
    double excl = 0; /* fidelity evaluation is not part of the fit's time */
    for (int s = 0; s < 4; s++) {
        student_opts po = o;
        po.kkt_tol = tols[s];
        po.obj_tol = tols[s] * 1e-2;
        if (student_fit_all(&sd, P, c, NULL, NULL, &po, W2, b2, NULL, &e)) {
            fprintf(stderr, "bench student: %s\n", e.msg);
            return 1;
        }
        double te = bs_now();
        path_s[s] = te - tp0 - excl;
        path_f[s] = bs_fidelity(X, n, d, W2, b2, c, tpred, scores, spred);
        excl += bs_now() - te;
        if (to_target < 0 && isfinite(target) && path_f[s] >= target) to_target = path_s[s];
        printf("  path kkt_tol %.0e: %.3f s, fidelity %.4f\n", tols[s], path_s[s], path_f[s]);
    }
    if (isfinite(target) && to_target < 0 && fid >= target) to_target = seconds;

    /* one class retrained after one bound change, warm start from the parent */
    float *lo = malloc(c * d * sizeof *lo), *hi = malloc(c * d * sizeof *hi), *ws = malloc(c * d * sizeof *ws);
    float *infl = malloc(c * d * sizeof *infl);
    double *ms = malloc((size_t)(retrains > 0 ? retrains : 1) * sizeof *ms);
    if (!lo || !hi || !ws || !infl || !ms) return 1;
    if (sm_influence(X, n, d, W, c, tpred, infl, &e)) return 1;
    int bounds_ok = 1;
    for (int r = 0; r < retrains; r++) {
        size_t k = (size_t)r % c, best = 0;
        for (size_t j = 0; j < d; j++)
            if (fabsf(infl[k * d + j]) > fabsf(infl[k * d + best])) best = j;
        for (size_t f = 0; f < c * d; f++) lo[f] = -INFINITY, hi[f] = INFINITY;
        tuning_action act = {TUNING_DOWNTUNE, best, k, 2.0};
        if (tuning_apply(&act, 1, W, c, d, lo, hi, ws, &e)) {
            fprintf(stderr, "bench student: %s\n", e.msg);
            return 1;
        }
        float bk = b[k];
        student_result rr;
        double ta = bs_now();
        if (student_fit(&sd, P + k, c, lo + k * d, hi + k * d, &o, ws + k * d, &bk, &rr, &e)) {
            fprintf(stderr, "bench student: %s\n", e.msg);
            return 1;
        }
        ms[r] = 1e3 * (bs_now() - ta);
        for (size_t j = 0; j < d; j++) bounds_ok &= ws[k * d + j] >= lo[k * d + j] && ws[k * d + j] <= hi[k * d + j];
        printf("  retrain class %zu after downtune x2 of concept %zu: %.1f ms, %d Newton steps, %d rounds, "
               "objective %.6f -> %.6f\n",
               k, best, ms[r], rr.iterations, rr.rounds, res[k].objective, rr.objective);
    }
    double med = -1;
    if (retrains > 0) {
        qsort(ms, (size_t)retrains, sizeof *ms, bs_cmp_double);
        med = ms[retrains / 2];
    }
    printf("  retrain one class: median %.1f ms over %d, bounds hold: %s\n", med, retrains, bounds_ok ? "yes" : "no");
    printf("{\"bench\":\"student\",\"n\":%zu,\"d\":%zu,\"c\":%zu,\"lambda\":%g,\"seconds\":%.4f,"
           "\"transpose_seconds\":%.4f,\"objective\":%.8f,\"fidelity\":%.6f,\"nonzeros\":%ld,\"converged\":%s,"
           "\"max_kkt\":%.3e,\"newton_steps\":%ld,\"path\":[",
           n, d, c, lambda, seconds, t1 - t0, obj, fid, nz, conv ? "true" : "false", kkt, iters);
    for (int s = 0; s < 4; s++)
        printf("%s{\"kkt_tol\":%g,\"seconds\":%.4f,\"fidelity\":%.6f}", s ? "," : "", tols[s], path_s[s], path_f[s]);
    printf("],\"target\":");
    if (isfinite(target)) printf("%.6f,\"seconds_to_target\":%.4f", target, to_target);
    else printf("null,\"seconds_to_target\":null");
    printf(",\"retrain_ms_median\":%.2f,\"retrains\":%d,\"bounds_hold\":%s}\n", med, retrains,
           bounds_ok ? "true" : "false");
    student_data_free(&sd);
    free(X), free(P), free(W), free(b), free(scores), free(tpred), free(spred), free(res), free(W2), free(b2);
    free(lo), free(hi), free(ws), free(infl), free(ms);
    return 0;
}
