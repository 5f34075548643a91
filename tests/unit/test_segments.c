/* test_segments.c — dense region merging on synthetic grids (two halves, uniform,
 * one kind of stuff in two places, noise) and the 14 global crops, whose one-pass
 * preprocessing must equal cutting + image_resize + image_to_chw bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "extraction/segments.h"

/* Deterministic normal-ish noise: sum of 4 uniforms, centred. */
static uint64_t rng_state = 88172645463325252ULL;
static float rnd_u(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0));
}
static float rnd_n(void) { return (rnd_u() + rnd_u() + rnd_u() + rnd_u() - 2.0f) * 1.7320508f; }

static void random_unit(float *v, int dim) {
    double ss = 0;
    for (int i = 0; i < dim; i++) {
        v[i] = rnd_n();
        ss += (double)v[i] * v[i];
    }
    for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / sqrt(ss));
}

/* Fill grid (dim, h, w) with base[which(y, x)] scaled by a random norm plus noise. */
static void fill_grid(float *grid, int dim, int h, int w, const float *bases, int (*which)(int y, int x, int w),
                      float noise) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const float *b = bases + (size_t)which(y, x, w) * dim;
            float scale = 0.5f + 2.0f * rnd_u(); /* norms differ: must not matter */
            for (int d = 0; d < dim; d++) grid[(size_t)d * h * w + y * w + x] = scale * (b[d] + noise * rnd_n());
        }
}

static int which_halves(int y, int x, int w) { (void)y; return x < w / 2 ? 0 : 1; }
static int which_one(int y, int x, int w) { (void)y; (void)x; (void)w; return 0; }
static int which_strips(int y, int x, int w) { (void)y; return (x < w / 3 || x >= 2 * w / 3) ? 0 : 1; }

static float dotf(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void check_result_invariants(const segments_result *r) {
    assert_true(r->k >= 1 && r->k <= SEGMENTS_MAX_K);
    int total = 0;
    for (int k = 0; k < r->k; k++) {
        assert_true(fabsf(sqrtf(dotf(r->emb + (size_t)k * r->dim, r->emb + (size_t)k * r->dim, r->dim)) - 1.0f) < 1e-5f);
        total += r->size[k];
        int counted = 0;
        for (int l = 0; l < r->h * r->w; l++) counted += r->labels[l] == k;
        assert_int_equal(counted, r->size[k]);
    }
    assert_int_equal(total, r->h * r->w);
    for (int l = 0; l < r->h * r->w; l++) assert_true(r->labels[l] < r->k);
}

static void test_two_halves(void **state) {
    (void)state;
    enum { D = 32, H = 8, W = 10 };
    float bases[2 * D], grid[D * H * W];
    random_unit(bases, D);
    random_unit(bases + D, D);
    fill_grid(grid, D, H, W, bases, which_halves, 0.03f);
    segments_ctx c;
    err e = {0};
    assert_int_equal(segments_ctx_init(&c, D, H, W, &e), 0);
    segments_result r;
    assert_int_equal(segments_dense(&c, grid, NULL, &r, &e), 0);
    check_result_invariants(&r);
    assert_int_equal(r.k, 2);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) assert_int_equal(r.labels[y * W + x], x < W / 2 ? 0 : 1);
    assert_int_equal(r.size[0], H * W / 2);
    assert_true(dotf(r.emb, bases, D) > 0.99f);
    assert_true(dotf(r.emb + D, bases + D, D) > 0.99f);

    /* deterministic: the same input gives the same bytes */
    segments_result r2;
    assert_int_equal(segments_dense(&c, grid, NULL, &r2, &e), 0);
    assert_int_equal(r2.k, r.k);
    assert_memory_equal(r2.labels, r.labels, H * W);
    assert_memory_equal(r2.emb, r.emb, sizeof(float) * r.k * D);
    segments_result_free(&r2);
    segments_result_free(&r);
    segments_result_free(&r); /* idempotent */
    segments_ctx_free(&c);
    segments_ctx_free(&c);
}

static void test_uniform_one_segment(void **state) {
    (void)state;
    enum { D = 16, H = 12, W = 12 };
    float base[D], grid[D * H * W];
    random_unit(base, D);
    fill_grid(grid, D, H, W, base, which_one, 0.03f);
    segments_ctx c;
    err e = {0};
    assert_int_equal(segments_ctx_init(&c, D, H, W, &e), 0);
    segments_result r;
    assert_int_equal(segments_dense(&c, grid, NULL, &r, &e), 0);
    check_result_invariants(&r);
    assert_int_equal(r.k, 1);
    assert_true(dotf(r.emb, base, D) > 0.99f);
    segments_result_free(&r);
    segments_ctx_free(&c);
}

static void test_same_stuff_two_places(void **state) {
    (void)state;
    enum { D = 24, H = 6, W = 12 };
    float bases[2 * D], grid[D * H * W];
    random_unit(bases, D);
    random_unit(bases + D, D);
    fill_grid(grid, D, H, W, bases, which_strips, 0.03f);
    segments_ctx c;
    err e = {0};
    assert_int_equal(segments_ctx_init(&c, D, H, W, &e), 0);
    segments_result r;
    assert_int_equal(segments_dense(&c, grid, NULL, &r, &e), 0);
    check_result_invariants(&r);
    assert_int_equal(r.k, 2); /* left and right strips are one segment */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) assert_int_equal(r.labels[y * W + x], which_strips(y, x, W));
    segments_result_free(&r);
    segments_ctx_free(&c);
}

static void test_noise_capped(void **state) {
    (void)state;
    enum { D = 16, H = 16, W = 16 };
    static float grid[D * H * W];
    for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++) grid[i] = rnd_n();
    grid[0 * H * W + 5] = 0; /* a zero vector location is fine */
    for (int d = 0; d < D; d++) grid[(size_t)d * H * W + 7] = 0.0f;
    segments_ctx c;
    err e = {0};
    assert_int_equal(segments_ctx_init(&c, D, H, W, &e), 0);
    segments_result r;
    assert_int_equal(segments_dense(&c, grid, NULL, &r, &e), 0);
    check_result_invariants(&r);
    assert_int_equal(r.k, SEGMENTS_DEFAULT_K); /* pure noise: the default cap binds */
    segments_result_free(&r);

    segments_params p = segments_default_params();
    p.max_k = 3;
    assert_int_equal(segments_dense(&c, grid, &p, &r, &e), 0);
    check_result_invariants(&r);
    assert_true(r.k <= 3);
    segments_result_free(&r);

    p.max_k = SEGMENTS_MAX_K + 1;
    assert_int_equal(segments_dense(&c, grid, &p, &r, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    err_clear(&e);
    grid[100] = NAN;
    assert_int_equal(segments_dense(&c, grid, NULL, &r, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_null(r.emb);
    segments_ctx_free(&c);

    err_clear(&e);
    assert_int_equal(segments_ctx_init(&c, 0, 4, 4, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
}

static void test_global_boxes(void **state) {
    (void)state;
    segment_box b[SEGMENTS_GLOBAL_COUNT];
    segments_global_boxes(b);
    const float want[SEGMENTS_GLOBAL_COUNT][4] = {
        {0, 0, 1, 1},
        {0, 0, .5f, .5f}, {.5f, 0, 1, .5f}, {0, .5f, .5f, 1}, {.5f, .5f, 1, 1},
        {0, 0, 1 / 3.f, 1 / 3.f}, {1 / 3.f, 0, 2 / 3.f, 1 / 3.f}, {2 / 3.f, 0, 1, 1 / 3.f},
        {0, 1 / 3.f, 1 / 3.f, 2 / 3.f}, {1 / 3.f, 1 / 3.f, 2 / 3.f, 2 / 3.f}, {2 / 3.f, 1 / 3.f, 1, 2 / 3.f},
        {0, 2 / 3.f, 1 / 3.f, 1}, {1 / 3.f, 2 / 3.f, 2 / 3.f, 1}, {2 / 3.f, 2 / 3.f, 1, 1},
    };
    for (int k = 0; k < SEGMENTS_GLOBAL_COUNT; k++) {
        assert_true(fabsf(b[k].x0 - want[k][0]) < 1e-6f);
        assert_true(fabsf(b[k].y0 - want[k][1]) < 1e-6f);
        assert_true(fabsf(b[k].x1 - want[k][2]) < 1e-6f);
        assert_true(fabsf(b[k].y1 - want[k][3]) < 1e-6f);
    }
    /* the 3x3 cells of a 300x300 image are exactly 100 pixels */
    int x0, y0, x1, y1;
    segments_box_pixels(&b[9], 300, 300, &x0, &y0, &x1, &y1);
    assert_int_equal(x0, 100);
    assert_int_equal(y0, 100);
    assert_int_equal(x1, 200);
    assert_int_equal(y1, 200);
    segments_box_pixels(&b[13], 7, 5, &x0, &y0, &x1, &y1); /* odd sizes: cells overlap, never empty */
    assert_int_equal(x0, 4);
    assert_int_equal(x1, 7);
    assert_int_equal(y0, 3);
    assert_int_equal(y1, 5);
}

static void test_global_crops(void **state) {
    (void)state;
    err e = {0};
    image_rgb img;
    assert_int_equal(image_alloc(&img, 6, 6, &e), 0);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++)
            for (int ch = 0; ch < 3; ch++) img.pixels[(y * 6 + x) * 3 + ch] = (uint8_t)(y * 40 + x * 5 + ch);
    segment_box b[SEGMENTS_GLOBAL_COUNT];
    segments_global_boxes(b);
    image_rgb crop;
    /* the centre cell of the 3x3 grid, at its own size: an exact copy of pixels 2..3 */
    assert_int_equal(segments_crop(&img, &b[9], 2, 2, &crop, &e), 0);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            assert_int_equal(crop.pixels[(y * 2 + x) * 3], (y + 2) * 40 + (x + 2) * 5);
    image_free(&crop);
    /* the bottom-right cell of the 2x2 grid (pixels 3..5) shrunk to 1x1 is its mean */
    assert_int_equal(segments_crop(&img, &b[4], 1, 1, &crop, &e), 0);
    int mean = 0;
    for (int y = 3; y < 6; y++)
        for (int x = 3; x < 6; x++) mean += y * 40 + x * 5;
    assert_int_equal(crop.pixels[0], (mean + 4) / 9);
    image_free(&crop);

    float mean3[3] = {0, 0, 0}, std3[3] = {1, 1, 1};
    size_t count = (size_t)SEGMENTS_GLOBAL_COUNT * 3 * 4 * 4;
    float *batch = malloc(count * sizeof *batch);
    assert_int_equal(segments_global_batch(&img, 4, 4, mean3, std3, batch, count, &e), 0);
    /* crop 0 is the whole image: its first pixel's red channel averages the top-left 1.5x1.5 */
    assert_true(batch[0] >= 0.0f && batch[0] < 0.2f);
    /* crop 13 (bottom-right 3x3 cell) starts at pixel (4, 4) area */
    assert_true(batch[13 * 48] > batch[5 * 48]);
    assert_int_equal(segments_global_batch(&img, 4, 4, mean3, std3, batch, count - 1, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    free(batch);

    err_clear(&e);
    segment_box bad = {0.5f, 0, 0.5f, 1};
    assert_int_equal(segments_crop(&img, &bad, 2, 2, &crop, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    image_free(&img);

    float rows[2 * 3] = {3, 4, 0, 0, 0, 0};
    segments_normalize_rows(rows, 2, 3);
    assert_true(fabsf(rows[0] - 0.6f) < 1e-6f && fabsf(rows[1] - 0.8f) < 1e-6f);
    assert_true(rows[3] == 0.0f);
}

/* segments_global_batch (one pass per crop, image_rects_to_chw) against the
 * straightforward path: cut each box, resize it (segments_crop), image_to_chw. Sizes
 * cover growing, shrinking (area), mixed axes, odd cells, same size and 1x1. */
static void test_global_batch_matches_reference(void **state) {
    (void)state;
    const int sizes[][4] = {
        /* image w, h -> crop w, h */
        {64, 64, 64, 64}, {6, 6, 4, 4}, {7, 5, 3, 4}, {300, 200, 64, 64}, {97, 33, 20, 48},
        {1, 1, 5, 5},     {128, 96, 64, 32}, {65, 67, 21, 22}, {250, 250, 224, 224},
    };
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        const int iw = sizes[t][0], ih = sizes[t][1], ow = sizes[t][2], oh = sizes[t][3];
        err e = {0};
        image_rgb img;
        assert_int_equal(image_alloc(&img, iw, ih, &e), 0);
        for (size_t i = 0; i < (size_t)iw * ih * 3; i++) /* smooth ramps plus noise: exercises the rounding */
            img.pixels[i] = (uint8_t)((i % 3 == 0 ? (i / 3) % iw * 255 / (iw > 1 ? iw - 1 : 1) : rnd_u() * 256.0f));
        const size_t per = (size_t)3 * ow * oh, count = SEGMENTS_GLOBAL_COUNT * per;
        float *fused = malloc(count * sizeof *fused), *ref = malloc(count * sizeof *ref);
        assert_non_null(fused);
        assert_non_null(ref);
        memset(fused, 0xff, count * sizeof *fused); /* NaN: every element must be written */
        assert_int_equal(segments_global_batch(&img, ow, oh, mean, std, fused, count, &e), 0);
        segment_box b[SEGMENTS_GLOBAL_COUNT];
        segments_global_boxes(b);
        for (int k = 0; k < SEGMENTS_GLOBAL_COUNT; k++) {
            image_rgb crop;
            assert_int_equal(segments_crop(&img, &b[k], ow, oh, &crop, &e), 0);
            assert_int_equal(image_to_chw(&crop, ow, oh, mean, std, ref + (size_t)k * per, per, &e), 0);
            image_free(&crop);
        }
        for (size_t i = 0; i < count; i++)
            if (memcmp(&fused[i], &ref[i], sizeof(float)))
                fail_msg("%dx%d -> %dx%d: crop %zu, element %zu: %.9g, reference %.9g", iw, ih, ow, oh, i / per,
                         i % per, (double)fused[i], (double)ref[i]);
        free(fused);
        free(ref);
        image_free(&img);
    }
}

/* Bad input to the one-pass crops: clear errors, nothing written past the buffer. */
static void test_global_batch_bad_input(void **state) {
    (void)state;
    err e = {0};
    image_rgb img;
    assert_int_equal(image_alloc(&img, 8, 8, &e), 0);
    memset(img.pixels, 100, 8 * 8 * 3);
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std0[3] = {0.25f, 0.0f, 0.25f};
    float out[SEGMENTS_GLOBAL_COUNT * 3 * 2 * 2];
    assert_int_equal(segments_global_batch(&img, 2, 2, mean, std0, out, sizeof out / sizeof *out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    err_clear(&e);
    image_rgb none = {0};
    assert_int_equal(segments_global_batch(&none, 2, 2, mean, mean, out, sizeof out / sizeof *out, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    err_clear(&e);
    assert_int_equal(segments_global_batch(&img, 0, 2, mean, mean, out, sizeof out / sizeof *out, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    err_clear(&e);
    /* a rectangle outside the image, an empty one, a buffer one float short */
    const image_rect outside = {4, 4, 9, 8}, empty = {3, 3, 3, 5}, whole = {0, 0, 8, 8};
    assert_int_equal(image_rects_to_chw(&img, &outside, 1, 2, 2, mean, mean, out, 12, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    err_clear(&e);
    assert_int_equal(image_rects_to_chw(&img, &empty, 1, 2, 2, mean, mean, out, 12, &e), -1);
    err_clear(&e);
    assert_int_equal(image_rects_to_chw(&img, &whole, 1, 2, 2, mean, mean, out, 11, &e), -1);
    err_clear(&e);
    assert_int_equal(image_rects_to_chw(&img, &whole, 1, 2, 2, mean, mean, out, 12, &e), 0);
    assert_true(fabsf(out[0] - (100.0f / 255.0f - 0.5f) / 0.5f) < 1e-6f);
    image_free(&img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_halves),
        cmocka_unit_test(test_uniform_one_segment),
        cmocka_unit_test(test_same_stuff_two_places),
        cmocka_unit_test(test_noise_capped),
        cmocka_unit_test(test_global_boxes),
        cmocka_unit_test(test_global_crops),
        cmocka_unit_test(test_global_batch_matches_reference),
        cmocka_unit_test(test_global_batch_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
