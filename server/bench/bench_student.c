/* bench_student.c — `inficond bench student`: the student solver on a presence matrix
 * X (N, D) and teacher probabilities P (N, C), raw little-endian float32 row-major
 * files. Fits all classes from the cold start with the defaults (one thread), reports
 * seconds (including the one-off transpose), the summed objective, fidelity (argmax
 * agreement with P on the same rows) and nonzeros; then separate cold fits at looser
 * tolerances (kkt_tol 3e-3 .. 3e-5) for the time to reach a target fidelity (--target,
 * the fastest fit that reaches it; wall and CPU seconds); then the
 * one-class retrain after one bound change (downtune x2 of a class's most influential
 * concept, warm start from the parent), median of several.
 * `--gen OUTDIR [--gen-kind embed|planted]` writes a synthetic problem instead (see
 * student_gen.h). `--save DIR` writes the fitted W.f32 (C, D) and b.f32 (C) so the
 * peer can evaluate our solution with its own loss (the same objective, checked).
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

#include "bench/bench_util.h"
#include "commands.h"
#include "student/student.h"
#include "bench/student_gen.h"
#include "student/student_measures.h"
#include "student/tuning.h"

/* the process's CPU time: less inflated than wall time on a shared, loaded machine */
static double bs_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bs_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond bench student --x X.f32 --p P.f32 --n N --d D --c C [--lambda 1e-4]\n"
            "                              [--target FIDELITY] [--retrains 9]\n"
            "                              [--save DIR]\n"
            "       inficond bench student --gen OUTDIR --n N --d D --c C [--seed 1] [--gen-kind embed|planted]\n\n"
            "Fits the L1 student (one model per class) from zero with the defaults, one thread.\n"
            "X: presence (N x D), P: teacher probabilities (N x C), raw little-endian float32,\n"
            "row-major. Prints a table, then one JSON line last: seconds, objective (sum over\n"
            "classes), fidelity (argmax agreement with P), nonzeros, seconds_to_target (the fastest\n"
            "cold fit at kkt_tol 3e-3 .. 1e-5 with fidelity >= --target), retrain_ms_median\n"
            "(one class, warm start, after one downtune).\n"
            "--save DIR writes the fitted weights: DIR/W.f32 (C x D), DIR/b.f32 (C).\n"
            "--gen writes a synthetic problem to OUTDIR: X.f32, P.f32, y.i32 (true labels), meta.json;\n"
            "  kind embed (default: presence as max(0, cosine) over segments) or planted.\n");
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

static double bs_fidelity(const float *X, size_t n, size_t d, const float *W, const float *b, size_t c,
                          const int32_t *tpred, float *scores, int32_t *spred) {
    sm_scores(X, n, d, W, b, c, scores);
    sm_argmax_rows(scores, n, c, spred);
    return sm_agreement(spred, tpred, n);
}

static int bs_save(const char *dir, const float *W, const float *b, size_t c, size_t d) {
    char path[4096];
    int bad = 0;
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, f ? "b.f32" : "W.f32");
        FILE *o = fopen(path, "wb");
        size_t cnt = f ? c : c * d;
        if (!o || fwrite(f ? b : W, sizeof(float), cnt, o) != cnt) bad = 1;
        if (o && fclose(o)) bad = 1;
        if (bad) {
            fprintf(stderr, "bench student: writing %s failed\n", path);
            return 1;
        }
    }
    return 0;
}

int bench_student(int argc, char **argv) {
    const char *xpath = NULL, *ppath = NULL, *gen = NULL, *save = NULL;
    int kind = STUDENT_GEN_EMBED;
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
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--gen-kind")) {
            if ((kind = student_gen_kind_parse(v)) < 0) {
                fprintf(stderr, "bench student: --gen-kind is embed or planted, not %s\n", v);
                return 2;
            }
        }
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
    if (gen) {
        err ge = {0};
        if (student_gen_write(gen, (student_gen_kind)kind, n, d, c, seed, &ge)) {
            fprintf(stderr, "bench student: %s\n", ge.msg);
            return 1;
        }
        printf("{\"bench\":\"student-gen\",\"dir\":\"%s\",\"kind\":\"%s\",\"n\":%zu,\"d\":%zu,\"c\":%zu,\"seed\":%llu}\n", gen,
               student_gen_kind_name((student_gen_kind)kind), n, d, c, seed);
        return 0;
    }
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
    double t0 = bench_now(), c0 = bs_cpu();
    if (student_data_init(&sd, X, n, d, &e)) {
        fprintf(stderr, "bench student: %s\n", e.msg);
        return 1;
    }
    double t1 = bench_now();
    student_cold_start(P, n, c, d, W, b);
    if (student_fit_all(&sd, P, c, NULL, NULL, &o, W, b, res, &e)) {
        fprintf(stderr, "bench student: %s\n", e.msg);
        return 1;
    }
    double t2 = bench_now(), cpu = bs_cpu() - c0;
    double seconds = t2 - t0, obj = 0, kkt = 0;
    long nz = 0, iters = 0, rounds = 0;
    int conv = 1;
    for (size_t k = 0; k < c; k++) {
        obj += res[k].objective;
        nz += res[k].nonzeros;
        iters += res[k].iterations;
        rounds += res[k].rounds;
        conv &= res[k].converged;
        if (res[k].kkt > kkt) kkt = res[k].kkt;
    }
    double fid = bs_fidelity(X, n, d, W, b, c, tpred, scores, spred);
    printf("student: N=%zu D=%zu C=%zu lambda=%g, 1 thread\n", n, d, c, lambda);
    printf("  fit from zero: %.3f s (CPU %.3f s; transpose %.3f s), objective %.6f (sum over classes),\n"
           "  fidelity %.4f, %ld nonzeros (%.1f per class), %ld Newton steps, %ld class-rounds, max KKT %.2e,\n"
           "  converged %s\n",
           seconds, cpu, t1 - t0, obj, fid, nz, (double)nz / (double)c, iters, rounds, kkt, conv ? "yes" : "no");

    if (save && bs_save(save, W, b, c, d)) return 1;

    /* time to reach a fidelity: separate cold fits (transpose included) at looser KKT
     * tolerances, the setting a user would pick, as the peer's epoch count is picked;
     * the fastest one that reaches the target counts. The last is the fit above. */
    float *W2 = malloc(c * d * sizeof *W2), *b2 = malloc(c * sizeof *b2);
    enum { NTOL = 6 };
    const double tols[NTOL] = {3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5};
    double path_s[NTOL], path_c[NTOL], path_f[NTOL], to_target = -1, to_target_cpu = -1;
    if (!W2 || !b2) return 1;
    for (int s = 0; s < NTOL; s++) {
        if (s == NTOL - 1) {
            path_s[s] = seconds, path_c[s] = cpu, path_f[s] = fid;
        } else {
            student_opts po = o;
            po.kkt_tol = tols[s];
            po.obj_tol = tols[s] * 1e-2;
            student_data_free(&sd);
            double tp0 = bench_now(), tc0 = bs_cpu();
            if (student_data_init(&sd, X, n, d, &e)) return 1;
            student_cold_start(P, n, c, d, W2, b2);
            if (student_fit_all(&sd, P, c, NULL, NULL, &po, W2, b2, NULL, &e)) {
                fprintf(stderr, "bench student: %s\n", e.msg);
                return 1;
            }
            path_s[s] = bench_now() - tp0;
            path_c[s] = bs_cpu() - tc0;
            path_f[s] = bs_fidelity(X, n, d, W2, b2, c, tpred, scores, spred);
        }
        if (isfinite(target) && path_f[s] >= target && (to_target < 0 || path_c[s] < to_target_cpu))
            to_target = path_s[s], to_target_cpu = path_c[s];
        printf("  cold fit to kkt_tol %.0e: %.3f s (CPU %.3f s), fidelity %.4f\n", tols[s], path_s[s], path_c[s],
               path_f[s]);
    }

    /* one class retrained after one bound change, warm start from the parent */
    float *lo = malloc(c * d * sizeof *lo), *hi = malloc(c * d * sizeof *hi), *ws = malloc(c * d * sizeof *ws);
    float *infl = malloc(c * d * sizeof *infl);
    double *ms = malloc((size_t)(retrains > 0 ? retrains : 1) * sizeof *ms);
    double *cms = malloc((size_t)(retrains > 0 ? retrains : 1) * sizeof *cms);
    if (!lo || !hi || !ws || !infl || !ms || !cms) return 1;
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
        double ta = bench_now(), ca = bs_cpu();
        if (student_fit(&sd, P + k, c, lo + k * d, hi + k * d, &o, ws + k * d, &bk, &rr, &e)) {
            fprintf(stderr, "bench student: %s\n", e.msg);
            return 1;
        }
        ms[r] = 1e3 * (bench_now() - ta);
        cms[r] = 1e3 * (bs_cpu() - ca);
        for (size_t j = 0; j < d; j++) bounds_ok &= ws[k * d + j] >= lo[k * d + j] && ws[k * d + j] <= hi[k * d + j];
        printf("  retrain class %zu after downtune x2 of concept %zu: %.1f ms, %d Newton steps, %d rounds, "
               "objective %.6f -> %.6f\n",
               k, best, ms[r], rr.iterations, rr.rounds, res[k].objective, rr.objective);
    }
    double med = -1, cmed = -1;
    if (retrains > 0) {
        qsort(ms, (size_t)retrains, sizeof *ms, bench_cmp_double);
        qsort(cms, (size_t)retrains, sizeof *cms, bench_cmp_double);
        med = ms[retrains / 2];
        cmed = cms[retrains / 2];
    }
    printf("  retrain one class: median %.1f ms (CPU %.1f ms) over %d, bounds hold: %s\n", med, cmed, retrains,
           bounds_ok ? "yes" : "no");
    printf("{\"bench\":\"student\",\"n\":%zu,\"d\":%zu,\"c\":%zu,\"lambda\":%g,\"seconds\":%.4f,"
           "\"cpu_seconds\":%.4f,\"transpose_seconds\":%.4f,\"objective\":%.8f,\"fidelity\":%.6f,\"nonzeros\":%ld,"
           "\"converged\":%s,\"max_kkt\":%.3e,\"newton_steps\":%ld,\"class_rounds\":%ld,\"tolerances\":[",
           n, d, c, lambda, seconds, cpu, t1 - t0, obj, fid, nz, conv ? "true" : "false", kkt, iters, rounds);
    for (int s = 0; s < NTOL; s++)
        printf("%s{\"kkt_tol\":%g,\"seconds\":%.4f,\"cpu_seconds\":%.4f,\"fidelity\":%.6f}", s ? "," : "", tols[s],
               path_s[s], path_c[s], path_f[s]);
    printf("],\"target\":");
    if (isfinite(target))
        printf("%.6f,\"seconds_to_target\":%.4f,\"cpu_seconds_to_target\":%.4f", target, to_target, to_target_cpu);
    else printf("null,\"seconds_to_target\":null,\"cpu_seconds_to_target\":null");
    printf(",\"retrain_ms_median\":%.2f,\"retrain_cpu_ms_median\":%.2f,\"retrains\":%d,\"bounds_hold\":%s}\n", med,
           cmed, retrains, bounds_ok ? "true" : "false");
    student_data_free(&sd);
    free(X), free(P), free(W), free(b), free(scores), free(tpred), free(spred), free(res), free(W2), free(b2);
    free(lo), free(hi), free(ws), free(infl), free(ms), free(cms);
    return 0;
}
