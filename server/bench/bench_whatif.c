/* bench_whatif.c — `inficond bench whatif`: the what-if list (student_whatif.h) on a
 * synthetic problem: every concept's removal from every class (and from one class),
 * counted on every split, as GET …/whatif/concepts computes it.
 *
 * The problem is student_gen's `embed` kind (presence as max(0, cosine) over segments:
 * dense, correlated columns, the hard case for the bound that skips rows) at N x D x C,
 * default 50,000 x 584 x 20; splits by row (train / test / shifted), labels from the
 * generator. The student is fitted on the first --fit-rows rows (a realistic sparse W;
 * its fit is not what is timed). Timed: the scores once (SGEMM, the per-version cache
 * fill), then the whole list, median of --repeat runs. Checked: for --check concepts
 * the list's counts against zeroing the column and recomputing X W^T + b from scratch
 * (sm_scores + sm_argmax_rows, the measures' own path); "mismatches" must be 0.
 * Leaves out: the HTTP and JSON around it (a few ms at d = 584).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "bench/student_gen.h"
#include "commands.h"
#include "file_read.h"
#include "student/student.h"
#include "student/student_measures.h"
#include "student/student_whatif.h"

static void bw_usage(FILE *out) {
    fprintf(out, "Usage: inficond bench whatif [--n 50000] [--d 584] [--c 20] [--seed 1] [--fit-rows 5000]\n"
                 "                             [--repeat 9] [--check 24] [--lambda 1e-4]\n\n"
                 "Times the what-if list: for every concept, the change in fidelity and accuracy on\n"
                 "every split if its weights were zeroed in every class (and in one class), from the\n"
                 "version's cached scores; checks it against recomputing the scores. JSON last line.\n");
}

/* This thread's CPU seconds: on a shared machine the wall time mostly measures the
 * neighbours; the list runs on one thread, so this is its wall time when alone. */
static double bw_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *bw_read(const char *dir, const char *name, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 0;
    err e = {0};
    char *buf = file_read_all(path, BENCH_FILE_MAX, &len, &e);
    if (buf && len != bytes) {
        fprintf(stderr, "bench whatif: %s holds %zu bytes, expected %zu\n", path, len, bytes);
        free(buf);
        return NULL;
    }
    if (!buf) fprintf(stderr, "bench whatif: %s\n", e.msg);
    unlink(path);
    return buf;
}

/* The count deltas of zeroing column j (in class cls, or every class when < 0) the slow
 * way: new scores from scratch, argmax, compare with pred. */
static void bw_reference(const float *x, size_t n, size_t d, const float *w, const float *b, size_t c, size_t j,
                         long cls, const int32_t *pred, const ss_rows *rows, float *w2, float *s2, int32_t *p2,
                         int32_t *fid, int32_t *acc) {
    memcpy(w2, w, c * d * sizeof *w2);
    for (size_t k = 0; k < c; k++)
        if (cls < 0 || (long)k == cls) w2[k * d + j] = 0;
    sm_scores(x, n, d, w2, b, c, s2);
    sm_argmax_rows(s2, n, c, p2);
    memset(fid, 0, rows->n_splits * sizeof *fid);
    memset(acc, 0, rows->n_splits * sizeof *acc);
    for (size_t i = 0; i < n; i++) {
        int32_t s = rows->split[i], t = rows->teacher[i], l = rows->labels[i];
        fid[s] += (p2[i] == t) - (pred[i] == t);
        if (l >= 0) acc[s] += (p2[i] == l) - (pred[i] == l);
    }
}

int bench_whatif(int argc, char **argv) {
    size_t n = 50000, d = 584, c = 20, fit_rows = 5000;
    unsigned long long seed = 1;
    int repeat = 9, check = 24;
    double lambda = STUDENT_LAMBDA_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bw_usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench whatif: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--n")) n = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--d")) d = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--c")) c = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--fit-rows")) fit_rows = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--repeat")) repeat = atoi(v);
        else if (!strcmp(a, "--check")) check = atoi(v);
        else if (!strcmp(a, "--lambda")) lambda = strtod(v, NULL);
        else {
            bw_usage(stderr);
            return 2;
        }
    }
    if (n < 10 || d < 1 || c < 2 || repeat < 1 || repeat > 1000 || check < 0) {
        bw_usage(stderr);
        return 2;
    }
    if (fit_rows > n) fit_rows = n;
    char dir[] = "/tmp/inficond-bench-whatif-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench whatif: mkdtemp");
        return 1;
    }
    err e = {0};
    double t0 = bench_now();
    if (student_gen_write(dir, STUDENT_GEN_EMBED, n, d, c, seed, &e)) {
        fprintf(stderr, "bench whatif: %s\n", e.msg);
        return 1;
    }
    float *x = bw_read(dir, "X.f32", n * d * sizeof(float)), *p = bw_read(dir, "P.f32", n * c * sizeof(float));
    int32_t *y = bw_read(dir, "y.i32", n * sizeof(int32_t));
    char meta[4200];
    snprintf(meta, sizeof meta, "%s/meta.json", dir);
    unlink(meta);
    rmdir(dir);
    double gen_s = bench_now() - t0;
    float *w = calloc(c * d, sizeof *w), *b = calloc(c, sizeof *b);              // (C, D), (C)
    int32_t *teacher = malloc(n * sizeof *teacher), *split = malloc(n * sizeof *split);
    int32_t *dfid = malloc(d * 3 * sizeof *dfid), *dacc = malloc(d * 3 * sizeof *dacc); // (D, 3)
    float *w2 = malloc(c * d * sizeof *w2), *s2 = malloc(n * c * sizeof *s2);
    int32_t *p2 = malloc(n * sizeof *p2);
    double *ms = malloc((size_t)repeat * sizeof *ms), *cpu = malloc((size_t)repeat * sizeof *cpu);
    student_data sd = {0};
    ss_scores sc = {0};
    int rc = 1;
    if (!x || !p || !y || !w || !b || !teacher || !split || !dfid || !dacc || !w2 || !s2 || !p2 || !ms || !cpu) {
        fprintf(stderr, "bench whatif: out of memory\n");
        goto done;
    }
    sm_argmax_rows(p, n, c, teacher);
    for (size_t i = 0; i < n; i++) split[i] = i % 5 < 3 ? 0 : (int32_t)(i % 5 - 2); /* train, test, shifted */
    /* A realistic student: fitted (not timed here) on the first rows. */
    t0 = bench_now();
    student_opts o;
    student_opts_default(&o);
    o.lambda = lambda;
    student_cold_start(p, fit_rows, c, d, w, b);
    if (student_data_init(&sd, x, fit_rows, d, &e) || student_fit_all(&sd, p, c, NULL, NULL, &o, w, b, NULL, &e)) {
        fprintf(stderr, "bench whatif: fit: %s\n", e.msg);
        goto done;
    }
    double fit_s = bench_now() - t0;
    size_t nonzeros = 0, active = 0;
    for (size_t j = 0; j < d; j++) {
        int any = 0;
        for (size_t k = 0; k < c; k++) any |= w[k * d + j] != 0, nonzeros += w[k * d + j] != 0;
        active += any;
    }
    t0 = bench_now();
    if (ss_scores_compute(x, n, d, w, b, c, &sc, &e)) {
        fprintf(stderr, "bench whatif: %s\n", e.msg);
        goto done;
    }
    double scores_ms = (bench_now() - t0) * 1e3;
    ss_rows rows = {teacher, y, split, 3};
    for (int r = 0; r < repeat; r++) {
        t0 = bench_now();
        double c0 = bw_cpu();
        if (ss_whatif_concepts(x, n, d, &sc, &rows, w, c, -1, dfid, dacc, &e)) {
            fprintf(stderr, "bench whatif: %s\n", e.msg);
            goto done;
        }
        cpu[r] = (bw_cpu() - c0) * 1e3;
        ms[r] = (bench_now() - t0) * 1e3;
    }
    double med = bench_median(ms, repeat), best = ms[0], cpu_med = bench_median(cpu, repeat);
    for (int r = 1; r < repeat; r++) best = ms[r] < best ? ms[r] : best;
    /* Exactness: the list against recomputing from scratch, for `check` concepts spread
     * over the active ones (and the same for one class). */
    int mismatches = 0, checked = 0;
    int32_t rf[3], ra[3];
    for (size_t j = 0, seen = 0; j < d && checked < check; j++) {
        int any = 0;
        for (size_t k = 0; k < c; k++) any |= w[k * d + j] != 0;
        if (!any || seen++ % (active / (size_t)(check ? check : 1) + 1)) continue;
        bw_reference(x, n, d, w, b, c, j, -1, sc.pred, &rows, w2, s2, p2, rf, ra);
        for (int s = 0; s < 3; s++) mismatches += rf[s] != dfid[j * 3 + s] || ra[s] != dacc[j * 3 + s];
        checked++;
    }
    double one_ms = 0;
    long cls = teacher[0];
    t0 = bench_now();
    if (ss_whatif_concepts(x, n, d, &sc, &rows, w, c, cls, dfid, dacc, &e)) goto done;
    one_ms = (bench_now() - t0) * 1e3;
    for (size_t j = 0, done_one = 0; j < d && done_one < 4; j++) {
        if (w[(size_t)cls * d + j] == 0) continue;
        bw_reference(x, n, d, w, b, c, j, cls, sc.pred, &rows, w2, s2, p2, rf, ra);
        for (int s = 0; s < 3; s++) mismatches += rf[s] != dfid[j * 3 + s] || ra[s] != dacc[j * 3 + s];
        done_one++, checked++;
    }
    printf("what-if list, N=%zu D=%zu C=%zu (%zu active concepts, %zu non-zero weights)\n", n, d, c, active,
           nonzeros);
    printf("  generate %.1f s, fit on %zu rows %.1f s (not timed below)\n", gen_s, fit_rows, fit_s);
    printf("  scores (SGEMM, once per version): %.1f ms\n", scores_ms);
    printf("  every concept from every class:   %.1f ms median of %d (best %.1f), CPU %.1f ms\n", med, repeat, best,
           cpu_med);
    printf("  every concept from one class:     %.1f ms\n", one_ms);
    printf("  checked against recomputation:    %d concepts, %d mismatches\n", checked, mismatches);
    printf("{\"bench\":\"whatif\",\"n\":%zu,\"d\":%zu,\"c\":%zu,\"active_concepts\":%zu,\"nonzeros\":%zu,"
           "\"scores_ms\":%.2f,\"whatif_concepts_ms_median\":%.2f,\"whatif_concepts_ms_best\":%.2f,"
           "\"whatif_concepts_cpu_ms_median\":%.2f,\"whatif_concepts_one_class_ms\":%.2f,\"repeat\":%d,\"checked\":%d,\"mismatches\":%d,\"target_ms\":50}\n",
           n, d, c, active, nonzeros, scores_ms, med, best, cpu_med, one_ms, repeat, checked, mismatches);
    rc = mismatches ? 1 : 0;
done:
    free(x), free(p), free(y), free(w), free(b), free(teacher), free(split), free(dfid), free(dacc);
    free(w2), free(s2), free(p2), free(ms), free(cpu);
    student_data_free(&sd);
    ss_scores_free(&sc);
    return rc;
}
