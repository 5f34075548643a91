/* test_presence.c — tiled SGEMM presence against a naive double-precision double
 * loop (tiles smaller than the problem, an image larger than a tile, an image with
 * no segments), nearest concepts, galleries against a full sort (accumulated over
 * two chunks), one added concept against the full computation, and the column
 * hashes a student checks its data by. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "blobstore.h"
#include "extraction/presence.h"
#include "extraction/segments.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static float rnd_u(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0));
}
static void random_units(float *x, size_t rows, int dim) {
    for (size_t i = 0; i < rows * (size_t)dim; i++) x[i] = 2.0f * rnd_u() - 1.0f;
    segments_normalize_rows(x, rows, dim);
}

enum { N = 41, DIM = 16, NC = 23, TOPK = 5 };

typedef struct problem {
    uint64_t offsets[N + 1];
    float *seg;      // (S, DIM)
    float *concepts; // (NC, DIM)
    double *naive;   // (N, NC) presence
    int *naive_seg;  // (N, NC) first producing segment (-1 when presence 0)
    size_t s_total;
} problem;

static void problem_make(problem *p) {
    p->offsets[0] = 0;
    for (int i = 0; i < N; i++) {
        int cnt = (int)(rnd_u() * 6); /* 0..5 */
        if (i == 3) cnt = 0;
        if (i == 10) cnt = 11; /* more than a tile */
        p->offsets[i + 1] = p->offsets[i] + (uint64_t)cnt;
    }
    p->s_total = p->offsets[N];
    p->seg = malloc(p->s_total * DIM * sizeof *p->seg);
    p->concepts = malloc(NC * DIM * sizeof *p->concepts);
    random_units(p->seg, p->s_total, DIM);
    random_units(p->concepts, NC, DIM);
    p->naive = malloc(N * NC * sizeof *p->naive);
    p->naive_seg = malloc(N * NC * sizeof *p->naive_seg);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < NC; j++) {
            double best = 0.0;
            int bs = -1;
            for (uint64_t s = p->offsets[i]; s < p->offsets[i + 1]; s++) {
                double dot = 0;
                for (int k = 0; k < DIM; k++) dot += (double)p->seg[s * DIM + k] * p->concepts[j * DIM + k];
                if (dot > best) {
                    best = dot;
                    bs = (int)(s - p->offsets[i]);
                }
            }
            p->naive[i * NC + j] = best;
            p->naive_seg[i * NC + j] = bs;
        }
}

static void problem_free(problem *p) {
    free(p->seg);
    free(p->concepts);
    free(p->naive);
    free(p->naive_seg);
}

static double cosd(const float *a, const float *b) {
    double s = 0;
    for (int k = 0; k < DIM; k++) s += (double)a[k] * b[k];
    return s;
}

typedef struct ref_hit {
    int image;
    double score;
} ref_hit;
static int ref_cmp(const void *a, const void *b) {
    const ref_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->image - y->image;
}

static void test_presence_matches_naive(void **state) {
    (void)state;
    problem pr;
    problem_make(&pr);
    presence p;
    err e = {0};
    assert_int_equal(presence_init(&p, DIM, NC, TOPK, 7, &e), 0); /* tiles of 7 rows */
    float *out = malloc(N * NC * sizeof *out);
    int32_t *nearest = malloc(pr.s_total * sizeof *nearest);
    float *nearest_cos = malloc(pr.s_total * sizeof *nearest_cos);
    /* two chunks, galleries accumulate */
    const int split = 17;
    assert_int_equal(presence_run(&p, pr.concepts, pr.seg, pr.offsets, split, 0, out, nearest, nearest_cos, &e), 0);
    assert_int_equal(presence_run(&p, pr.concepts, pr.seg, pr.offsets + split, N - split, split,
                                  out + (size_t)split * NC, nearest + pr.offsets[split],
                                  nearest_cos + pr.offsets[split], &e),
                     0);
    assert_true(p.tile_cap >= 11);

    int positives = 0;
    for (int i = 0; i < N * NC; i++) {
        assert_true(fabs(out[i] - pr.naive[i]) < 1e-5);
        positives += out[i] > 0;
    }
    assert_true(positives > N * NC / 3);
    for (int j = 0; j < NC; j++) assert_true(out[3 * NC + j] == 0.0f); /* no segments */

    /* nearest concept per segment */
    for (size_t s = 0; s < pr.s_total; s++) {
        double best = -2;
        int bj = -1;
        for (int j = 0; j < NC; j++) {
            double c = cosd(pr.seg + s * DIM, pr.concepts + j * DIM);
            if (c > best) {
                best = c;
                bj = j;
            }
        }
        assert_int_equal(nearest[s], bj);
        assert_true(fabs(nearest_cos[s] - best) < 1e-5);
    }

    /* galleries against a sort of the naive column */
    presence_hit hits[TOPK];
    ref_hit ref[N];
    for (int j = 0; j < NC; j++) {
        int m = 0;
        for (int i = 0; i < N; i++)
            if (out[i * NC + j] > 0) ref[m++] = (ref_hit){i, out[i * NC + j]};
        qsort(ref, (size_t)m, sizeof ref[0], ref_cmp);
        int count;
        assert_int_equal(presence_gallery(&p, j, hits, &count, &e), 0);
        assert_int_equal(count, m < TOPK ? m : TOPK);
        for (int r = 0; r < count; r++) {
            assert_int_equal(hits[r].image, ref[r].image);
            assert_true(hits[r].score == (float)ref[r].score);
            assert_int_equal(hits[r].segment, pr.naive_seg[ref[r].image * NC + j]);
        }
    }
    assert_int_equal(presence_gallery(&p, NC, hits, &(int){0}, &e), -1);

    /* one more run after reset gives the same galleries in one chunk with default tiles */
    presence_free(&p);
    assert_int_equal(presence_init(&p, DIM, NC, TOPK, 0, &e), 0);
    float *out2 = malloc(N * NC * sizeof *out2);
    assert_int_equal(presence_run(&p, pr.concepts, pr.seg, pr.offsets, N, 0, out2, NULL, NULL, &e), 0);
    for (int i = 0; i < N * NC; i++) assert_true(fabsf(out2[i] - out[i]) < 1e-6f);
    presence_reset(&p);
    int count = -1;
    assert_int_equal(presence_gallery(&p, 0, hits, &count, &e), 0);
    assert_int_equal(count, 0);

    free(out2);
    free(out);
    free(nearest);
    free(nearest_cos);
    presence_free(&p);
    presence_free(&p);
    problem_free(&pr);
}

static void test_add_concept(void **state) {
    (void)state;
    problem pr;
    problem_make(&pr);
    err e = {0};
    presence full, part;
    assert_int_equal(presence_init(&full, DIM, NC, 0, 9, &e), 0);
    assert_int_equal(presence_init(&part, DIM, NC - 1, 0, 9, &e), 0);
    float *out_full = malloc(N * NC * sizeof(float)), *out_part = malloc(N * (NC - 1) * sizeof(float));
    int32_t *near_full = malloc(pr.s_total * sizeof(int32_t)), *near_part = malloc(pr.s_total * sizeof(int32_t));
    float *cos_full = malloc(pr.s_total * sizeof(float)), *cos_part = malloc(pr.s_total * sizeof(float));
    assert_int_equal(presence_run(&full, pr.concepts, pr.seg, pr.offsets, N, 0, out_full, near_full, cos_full, &e), 0);
    assert_int_equal(presence_run(&part, pr.concepts, pr.seg, pr.offsets, N, 0, out_part, near_part, cos_part, &e), 0);

    /* the last concept added to the first NC-1 */
    float col[N];
    int32_t best[N];
    const float *newc = pr.concepts + (NC - 1) * DIM;
    assert_int_equal(presence_add_concept(pr.seg, pr.offsets, N, DIM, newc, NC - 1, col, best, near_part, cos_part, &e), 0);
    for (int i = 0; i < N; i++) {
        assert_true(fabsf(col[i] - out_full[i * NC + NC - 1]) < 1e-5f);
        assert_int_equal(best[i], pr.naive_seg[i * NC + NC - 1]);
    }
    for (size_t s = 0; s < pr.s_total; s++) {
        assert_int_equal(near_part[s], near_full[s]);
        assert_true(fabsf(cos_part[s] - cos_full[s]) < 1e-5f);
    }
    /* a sub-range of the images (rows counted from seg, offsets not from 0) */
    float col2[N];
    assert_int_equal(presence_add_concept(pr.seg, pr.offsets + 5, N - 5, DIM, newc, 0, col2, NULL, NULL, NULL, &e), 0);
    for (int i = 5; i < N; i++) assert_true(col2[i - 5] == col[i]);

    /* its gallery */
    presence_hit hits[TOPK];
    int count;
    assert_int_equal(presence_top_k(col, best, N, 100, TOPK, hits, &count, &e), 0);
    ref_hit ref[N];
    int m = 0;
    for (int i = 0; i < N; i++)
        if (col[i] > 0) ref[m++] = (ref_hit){i, col[i]};
    qsort(ref, (size_t)m, sizeof ref[0], ref_cmp);
    assert_int_equal(count, m < TOPK ? m : TOPK);
    for (int r = 0; r < count; r++) {
        assert_int_equal(hits[r].image, 100 + ref[r].image);
        assert_int_equal(hits[r].segment, best[ref[r].image]);
    }

    /* bad offsets are refused */
    uint64_t bad[3] = {0, 4, 2};
    assert_int_equal(presence_add_concept(pr.seg, bad, 2, DIM, newc, 0, col, NULL, NULL, NULL, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);

    free(out_full);
    free(out_part);
    free(near_full);
    free(near_part);
    free(cos_full);
    free(cos_part);
    presence_free(&full);
    presence_free(&part);
    problem_free(&pr);
}

static void test_gallery_ties_and_bounds(void **state) {
    (void)state;
    /* every image identical: ties rank by image id, the heap keeps the first K */
    enum { NI = 20 };
    float seg[NI * 2 * 4], conc[4] = {1, 0, 0, 0};
    uint64_t off[NI + 1];
    for (int i = 0; i < NI; i++) {
        off[i] = (uint64_t)i * 2;
        float a[8] = {0, 1, 0, 0, 1, 0, 0, 0}; /* the second segment produces the max */
        memcpy(seg + i * 8, a, sizeof a);
    }
    off[NI] = NI * 2;
    presence p;
    err e = {0};
    assert_int_equal(presence_init(&p, 4, 1, 3, 4, &e), 0);
    float out[NI];
    assert_int_equal(presence_run(&p, conc, seg, off, NI, 0, out, NULL, NULL, &e), 0);
    presence_hit hits[3];
    int count;
    assert_int_equal(presence_gallery(&p, 0, hits, &count, &e), 0);
    assert_int_equal(count, 3);
    for (int r = 0; r < 3; r++) {
        assert_int_equal(hits[r].image, r);
        assert_int_equal(hits[r].segment, 1);
        assert_true(hits[r].score == 1.0f);
    }
    presence_free(&p);
    assert_int_equal(presence_init(&p, 0, 1, 3, 4, &e), -1);
    assert_int_equal(presence_init(&p, 4, 1, PRESENCE_MAX_TOP_K + 1, 4, &e), -1);
}

/* Column hashes: each is SHA-256 of the ids hash then the column's floats; a column
 * keeps its hash when a column is appended, and only the changed column's moves. */
static void test_column_hashes(void **state) {
    (void)state;
    enum { R = 70, D0 = 37 }; /* more columns than one gathering block */
    static float x[R * D0], x2[R * (D0 + 1)];
    for (int i = 0; i < R * D0; i++) x[i] = rnd_u();
    const char *ids = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char h[D0][65], h2[D0 + 1][65], want[65];
    err e = {0};
    assert_int_equal(presence_column_hashes(x, R, D0, ids, h, &e), 0);
    unsigned char msg[64 + R * sizeof(float)];
    for (int j = 0; j < D0; j++) {
        memcpy(msg, ids, 64);
        for (int i = 0; i < R; i++) memcpy(msg + 64 + i * sizeof(float), &x[i * D0 + j], sizeof(float));
        blobstore_hash(msg, sizeof msg, want);
        assert_string_equal(h[j], want);
    }
    /* a word added: a new last column, the others copied */
    for (int i = 0; i < R; i++) {
        memcpy(x2 + i * (D0 + 1), x + i * D0, D0 * sizeof(float));
        x2[i * (D0 + 1) + D0] = rnd_u();
    }
    assert_int_equal(presence_column_hashes(x2, R, D0 + 1, ids, h2, &e), 0);
    for (int j = 0; j < D0; j++) assert_string_equal(h2[j], h[j]);
    /* one value of column 5 changed: only its hash moves */
    x[3 * D0 + 5] += 0.25f;
    char h3[D0][65];
    assert_int_equal(presence_column_hashes(x, R, D0, ids, h3, &e), 0);
    for (int j = 0; j < D0; j++) assert_int_equal(strcmp(h3[j], h[j]) != 0, j == 5);
    /* other images, same values: other hashes */
    assert_int_equal(presence_column_hashes(x, R, D0, "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                            h3, &e), 0);
    assert_string_not_equal(h3[0], h[0]);
    assert_int_equal(presence_column_hashes(x, R, D0, "not a hash", h3, &e), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presence_matches_naive),
        cmocka_unit_test(test_add_concept),
        cmocka_unit_test(test_gallery_ties_and_bounds),
        cmocka_unit_test(test_column_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
