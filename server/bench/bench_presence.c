/* bench_presence.c — `inficond bench presence`: concept presence throughput against
 * OpenBLAS SGEMM's own peak on this machine, in the same run.
 *
 * Random unit segment embeddings (N*S, D) and concepts (d, D) (uniform in [-1, 1]^D,
 * normalised: not uniform on the sphere, which does not matter to the arithmetic).
 * The machine is shared (other processes take time slices at random), so every
 * figure is taken in a way that load cannot flatter:
 *  (a) peak SGEMM GFLOP/s: the best single call among a 2048^3 square product (2 per
 *      repetition) and the bare SGEMM of every presence tile (tile, d, D) below;
 *  (b) presence: the dataset is processed in chunks of one tile of whole images; for
 *      each chunk the bare SGEMM of that tile runs, then presence_run on the chunk
 *      (SGEMM + max per image + nearest concept per segment + top-20 galleries).
 *      Reported: the whole-run time (median of --reps) and its GFLOP/s
 *      (2*N*S*D*d / s); fraction_of_peak = best presence tile GFLOP/s / peak (both
 *      best-of-many samples, i.e. uncontended); the median per-tile ratio bare SGEMM
 *      time / presence time (paired, adjacent in time); and whole-run GFLOP/s / peak;
 *  (c) peak resident memory (getrusage ru_maxrss), and the segment matrix's size;
 *  (d) presence_add_concept for one new concept over all stored segments (with the
 *      nearest-concept update), median of 5, segments already in memory;
 *  (e) with --store DIR: writing the segments as a segment store blob and loading it
 *      back (SHA-256 verified), once each.
 * Prints a table, then one JSON line last.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/bench_util.h"
#include "commands.h"
#include "extraction/presence.h"
#include "extraction/segment_store.h"
#include "extraction/segments.h"

static uint64_t bp_rng;
static inline float bp_uniform(void) { /* xorshift64*, [-1, 1) */
    bp_rng ^= bp_rng >> 12;
    bp_rng ^= bp_rng << 25;
    bp_rng ^= bp_rng >> 27;
    uint64_t r = bp_rng * 0x2545F4914F6CDD1DULL;
    return (float)((double)(r >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void bp_random_units(float *x, size_t rows, int dim) {
    for (size_t i = 0; i < rows * (size_t)dim; i++) x[i] = bp_uniform();
    segments_normalize_rows(x, rows, dim);
}

static double bp_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* GFLOP/s of one m x n x k SGEMM (best of reps). */
static double bp_sgemm_gflops(const float *a, const float *b, float *c, int m, int n, int k, int reps) {
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double g = 2.0 * m * n * k / (bench_now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    return best;
}

static void bp_usage(FILE *out) {
    fprintf(out, "Usage: inficond bench presence [--n N] [--segments S] [--dim D] [--concepts d]\n"
                 "                               [--seed X] [--tile ROWS] [--reps R] [--store DIR]\n\n"
                 "Presence of d concepts over N images x S segments of size D (defaults: 50000 x 8\n"
                 "x 512 vs 584, tiles of 1024 rows, 3 repetitions), against OpenBLAS SGEMM's peak\n"
                 "measured in the same run; then one concept added with a single SGEMV. --store\n"
                 "DIR also times writing and loading the segment store blob in DIR. Run with\n"
                 "OPENBLAS_NUM_THREADS=1 for single-core figures. Prints a table, then a JSON line.\n");
}

int bench_presence(int argc, char **argv) {
    long n = 50000, segs = 8, dim = 512, nc = 584, tile = PRESENCE_DEFAULT_TILE, reps = 3;
    unsigned long long seed = 1;
    const char *store_dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bp_usage(stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "--n")) {
            n = strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(a, "--segments")) {
            segs = strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(a, "--dim")) {
            dim = strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(a, "--concepts")) {
            nc = strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(a, "--seed")) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(a, "--tile")) {
            tile = strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(a, "--reps")) {
            reps = strtol(argv[++i], NULL, 10);
        } else if (i + 1 < argc && !strcmp(a, "--store")) {
            store_dir = argv[++i];
        } else {
            fprintf(stderr, "bench presence: bad argument '%s'\n\n", a);
            bp_usage(stderr);
            return 2;
        }
    }
    if (n < 1 || n > 10000000 || segs < 1 || segs > 255 || dim < 1 || dim > 65536 || nc < 1 || nc > 100000 ||
        tile < 1 || reps < 1 || reps > 100) {
        bp_usage(stderr);
        return 2;
    }
    bp_rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    const size_t s_total = (size_t)n * segs;
    const double flops = 2.0 * (double)s_total * dim * nc;
    const int top_k = 20;

    float *seg = malloc(s_total * dim * sizeof *seg);          // (S, D)
    float *concepts = malloc((size_t)nc * dim * sizeof *concepts); // (d, D)
    float *newc = malloc((size_t)dim * sizeof *newc);          // (D)
    uint64_t *offsets = malloc(((size_t)n + 1) * sizeof *offsets); // (N + 1)
    float *out = malloc((size_t)n * nc * sizeof *out);         // (N, d)
    int32_t *nearest = malloc(s_total * sizeof *nearest);      // (S)
    float *nearest_cos = malloc(s_total * sizeof *nearest_cos); // (S)
    float *col = malloc((size_t)n * sizeof *col);              // (N)
    int32_t *best_seg = malloc((size_t)n * sizeof *best_seg);  // (N)
    /* peak-measurement operands: square 2048 and the tile shape */
    const int sq = 2048;
    const size_t pk_rows = (size_t)sq > (size_t)tile ? (size_t)sq : (size_t)tile;
    const size_t pk_k = (size_t)sq > (size_t)dim ? (size_t)sq : (size_t)dim;
    const size_t pk_n = (size_t)sq > (size_t)nc ? (size_t)sq : (size_t)nc;
    float *pa = malloc(pk_rows * pk_k * sizeof *pa); // (max(2048, tile), max(2048, D))
    float *pb = malloc(pk_n * pk_k * sizeof *pb);    // (max(2048, d), max(2048, D))
    float *pc = malloc(pk_rows * pk_n * sizeof *pc); // (max(2048, tile), max(2048, d))
    if (!seg || !concepts || !newc || !offsets || !out || !nearest || !nearest_cos || !col || !best_seg || !pa ||
        !pb || !pc) {
        fprintf(stderr, "bench presence: out of memory (segments need %.0f MB)\n", s_total * dim * 4.0 / 1e6);
        return 1;
    }
    double t_gen = bench_now();
    bp_random_units(seg, s_total, (int)dim);
    bp_random_units(concepts, (size_t)nc, (int)dim);
    bp_random_units(newc, 1, (int)dim);
    for (size_t i = 0; i < pk_rows * pk_k; i++) pa[i] = bp_uniform();
    for (size_t i = 0; i < pk_n * pk_k; i++) pb[i] = bp_uniform();
    for (long i = 0; i <= n; i++) offsets[i] = (uint64_t)i * segs;
    t_gen = bench_now() - t_gen;

    err e = {0};
    presence p;
    if (presence_init(&p, (int)dim, (int)nc, top_k, (size_t)tile, &e) < 0) {
        fprintf(stderr, "bench presence: %s\n", e.msg);
        return 1;
    }
    /* Paired, per-tile measurement: each chunk of whole images (one presence tile) is
     * first multiplied by the bare SGEMM, then run through presence_run; the ratio of
     * the two times, taken adjacent in time, is robust to other processes' load. */
    const long per_chunk = tile / segs > 0 ? tile / segs : 1; /* images per chunk */
    const long chunks = (n + per_chunk - 1) / per_chunk;
    double *secs = malloc((size_t)reps * sizeof *secs);         // (reps)
    double *ratio = malloc((size_t)(reps * chunks) * sizeof *ratio); // (reps * chunks)
    float *scratch = malloc((size_t)per_chunk * segs * nc * sizeof *scratch); // (tile, d)
    if (!secs || !ratio || !scratch) return 1;
    memset(out, 0, (size_t)n * nc * sizeof *out); /* fault the pages in before timing */
    memset(nearest, 0, s_total * sizeof *nearest);
    memset(nearest_cos, 0, s_total * sizeof *nearest_cos);
    double peak_square = 0.0, peak_tile = 0.0, bare_total = 0.0, best_tile_gflops = 0.0;
    long nratio = 0;
    for (long r = 0; r < reps; r++) {
        double g = bp_sgemm_gflops(pa, pb, pc, sq, sq, sq, 2);
        if (g > peak_square) peak_square = g;
        presence_reset(&p);
        double total = 0.0, bare = 0.0;
        for (long c = 0; c < chunks; c++) {
            const long i0 = c * per_chunk, cn = i0 + per_chunk <= n ? per_chunk : n - i0;
            const int rows = (int)(cn * segs);
            double t0 = bench_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)nc, (int)dim, 1.0f,
                        seg + (size_t)i0 * segs * dim, (int)dim, concepts, (int)dim, 0.0f, scratch, (int)nc);
            double t1 = bench_now();
            if (presence_run(&p, concepts, seg, offsets + i0, (int)cn, (int)i0, out + (size_t)i0 * nc,
                             nearest + (size_t)i0 * segs, nearest_cos + (size_t)i0 * segs, &e) < 0) {
                fprintf(stderr, "bench presence: %s\n", e.msg);
                return 1;
            }
            double t2 = bench_now();
            double gt = 2.0 * rows * nc * dim / (t1 - t0) * 1e-9;
            if (gt > peak_tile) peak_tile = gt;
            ratio[nratio++] = (t1 - t0) / (t2 - t1);
            double gp = 2.0 * rows * nc * dim / (t2 - t1) * 1e-9;
            if (gp > best_tile_gflops) best_tile_gflops = gp;
            total += t2 - t1;
            bare += t1 - t0;
        }
        secs[r] = total;
        bare_total += bare;
    }
    double best_secs = secs[0];
    for (long r = 1; r < reps; r++)
        if (secs[r] < best_secs) best_secs = secs[r];
    double med_secs = bench_median(secs, (int)reps);
    double peak = peak_square > peak_tile ? peak_square : peak_tile;
    double gflops = flops / med_secs * 1e-9, gflops_best = flops / best_secs * 1e-9;
    double bare_gflops = flops * reps / bare_total * 1e-9;
    double paired = bench_median(ratio, (int)nratio);
    free(ratio);
    free(scratch);

    enum { ADD_REPS = 5 };
    double add_ms[ADD_REPS];
    for (int r = 0; r < ADD_REPS; r++) {
        double t0 = bench_now();
        if (presence_add_concept(seg, offsets, (int)n, (int)dim, newc, (int32_t)nc, col, best_seg, nearest,
                                 nearest_cos, &e) < 0) {
            fprintf(stderr, "bench presence: %s\n", e.msg);
            return 1;
        }
        add_ms[r] = (bench_now() - t0) * 1e3;
    }
    double add_med = bench_median(add_ms, ADD_REPS);
    double rss_mb = bp_peak_rss_mb();
    free(pa);
    free(pb);
    free(pc);

    double put_s = -1.0, load_s = -1.0;
    if (store_dir) {
        /* wrap the matrix as a box store (one whole-image box per segment) */
        segment_store st = {.kind = SEGMENT_STORE_BOXES, .n = (int)n, .dim = (int)dim, .s_total = s_total,
                            .offsets = offsets, .emb = seg};
        st.boxes = malloc(s_total * 4 * sizeof *st.boxes); // (S, 4)
        if (!st.boxes) return 1;
        for (size_t i = 0; i < s_total; i++) {
            st.boxes[4 * i] = st.boxes[4 * i + 1] = 0.0f;
            st.boxes[4 * i + 2] = st.boxes[4 * i + 3] = 1.0f;
        }
        char sha[BLOBSTORE_HEX_LEN + 1];
        double t0 = bench_now();
        int rc = segment_store_put(&st, store_dir, sha, &e);
        put_s = bench_now() - t0;
        free(st.boxes);
        if (rc < 0) {
            fprintf(stderr, "bench presence: %s\n", e.msg);
            return 1;
        }
        segment_store back;
        t0 = bench_now();
        rc = segment_store_load(&back, store_dir, sha, &e);
        load_s = bench_now() - t0;
        if (rc < 0) {
            fprintf(stderr, "bench presence: %s\n", e.msg);
            return 1;
        }
        segment_store_free(&back);
        rss_mb = bp_peak_rss_mb();
    }

    printf("%-40s %14s\n", "measure", "value");
    printf("%-40s %14s\n", "openblas core", openblas_get_corename());
    printf("%-40s %14d\n", "openblas threads", openblas_get_num_threads());
    printf("%-40s %14ld\n", "images", n);
    printf("%-40s %14zu\n", "segments (total)", s_total);
    printf("%-40s %14ld x %ld\n", "dim x concepts", dim, nc);
    printf("%-40s %14ld\n", "tile rows", tile);
    printf("%-40s %14.1f\n", "segment matrix (MB)", s_total * dim * 4.0 / 1e6);
    printf("%-40s %14.1f\n", "presence matrix (MB)", (double)n * nc * 4.0 / 1e6);
    printf("%-40s %14.2f\n", "random data generation (s)", t_gen);
    printf("%-40s %14.2f\n", "peak SGEMM 2048^3 (GFLOP/s)", peak_square);
    printf("%-40s %14.2f\n", "peak SGEMM tile shape (GFLOP/s)", peak_tile);
    printf("%-40s %14.3f\n", "presence, median (s)", med_secs);
    printf("%-40s %14.3f\n", "presence, best (s)", best_secs);
    printf("%-40s %14.2f\n", "presence, median (GFLOP/s)", gflops);
    printf("%-40s %14.2f\n", "bare SGEMM on the same tiles (GFLOP/s)", bare_gflops);
    printf("%-40s %14.3f\n", "presence / bare SGEMM, paired per tile", paired);
    printf("%-40s %14.2f\n", "presence, best tile (GFLOP/s)", best_tile_gflops);
    printf("%-40s %14.3f\n", "FRACTION: best tile / peak", best_tile_gflops / peak);
    printf("%-40s %14.3f\n", "median presence / peak", gflops / peak);
    printf("%-40s %14.3f\n", "best presence / peak", gflops_best / peak);
    printf("%-40s %14.1f\n", "add one concept, median of 5 (ms)", add_med);
    printf("%-40s %14.2f\n", "add one concept (GB/s of segments)", s_total * dim * 4.0 / (add_med * 1e-3) / 1e9);
    if (store_dir) {
        printf("%-40s %14.2f\n", "store segments blob (s)", put_s);
        printf("%-40s %14.2f\n", "load + verify segments blob (s)", load_s);
    }
    printf("%-40s %14.1f\n", "peak RSS (MB)", rss_mb);
    printf("{\"bench\":\"presence\",\"n\":%ld,\"segments\":%ld,\"dim\":%ld,\"concepts\":%ld,\"tile\":%ld,"
           "\"reps\":%ld,\"seconds\":%.4f,\"seconds_best\":%.4f,\"gflops\":%.3f,\"peak_gflops\":%.3f,"
           "\"peak_gflops_square\":%.3f,\"peak_gflops_tile\":%.3f,\"fraction_of_peak\":%.4f,"
           "\"gflops_best_tile\":%.3f,\"fraction_paired_vs_bare_sgemm\":%.4f,\"fraction_of_peak_whole_run\":%.4f,\"bare_tile_gflops\":%.3f,"
           "\"peak_rss_mb\":%.1f,\"segment_matrix_mb\":%.1f,\"add_concept_ms\":%.2f,\"store_put_s\":%.3f,"
           "\"store_load_s\":%.3f,\"threads\":%d}\n",
           n, segs, dim, nc, tile, reps, med_secs, best_secs, gflops, peak, peak_square, peak_tile,
           best_tile_gflops / peak, best_tile_gflops, paired, gflops / peak, bare_gflops,
           rss_mb, s_total * dim * 4.0 / 1e6, add_med, put_s, load_s, openblas_get_num_threads());

    presence_free(&p);
    free(secs);
    free(seg);
    free(concepts);
    free(newc);
    free(offsets);
    free(out);
    free(nearest);
    free(nearest_cos);
    free(col);
    free(best_seg);
    return 0;
}
