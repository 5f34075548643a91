/* test_jpeg_io.c — JPEG round trips, the rejection policy (truncated, not a JPEG,
 * absurd sizes), greyscale, thumbnails, and the resampler and tensor conversion
 * against hand-computed values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/jpeg_io.h"

/* A smooth colour gradient (JPEG-friendly) of w x h. */
static void gradient(image_rgb *img, int w, int h) {
    assert_int_equal(image_alloc(img, w, h, NULL), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->pixels + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(255 * x / (w - 1));
            p[1] = (uint8_t)(255 * y / (h - 1));
            p[2] = (uint8_t)(128 + 64 * (x + y) / (w + h));
        }
}

static void encode_gradient(int w, int h, uint8_t **jpg, size_t *len) {
    image_rgb img;
    gradient(&img, w, h);
    err e = {0};
    assert_int_equal(jpeg_encode(&img, 95, jpg, len, &e), 0);
    image_free(&img);
}

static void test_round_trip(void **state) {
    (void)state;
    image_rgb img, back;
    gradient(&img, 64, 48);
    uint8_t *jpg;
    size_t len;
    err e = {0};
    assert_int_equal(jpeg_encode(&img, 95, &jpg, &len, &e), 0);
    assert_true(len > 100 && jpg[0] == 0xFF && jpg[1] == 0xD8);
    assert_int_equal(jpeg_decode(jpg, len, &back, &e), 0);
    assert_int_equal(back.width, 64);
    assert_int_equal(back.height, 48);
    double sum = 0;
    int maxd = 0;
    for (size_t i = 0; i < 64 * 48 * 3; i++) {
        int d = abs((int)img.pixels[i] - (int)back.pixels[i]);
        sum += d;
        if (d > maxd) maxd = d;
    }
    assert_true(sum / (64 * 48 * 3) < 2.0);
    assert_true(maxd < 24);
    free(jpg);
    image_free(&img);
    image_free(&back);
    image_free(NULL);
}

static void test_rejects(void **state) {
    (void)state;
    uint8_t *jpg;
    size_t len;
    encode_gradient(64, 64, &jpg, &len);
    image_rgb out;
    err e = {0};

    assert_int_equal(jpeg_decode(jpg, len / 2, &out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_string_equal(e.msg, "truncated JPEG");
    assert_null(out.pixels);

    err_clear(&e);
    const char *text = "hello, this is not an image";
    assert_int_equal(jpeg_decode((const uint8_t *)text, strlen(text), &out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "not a JPEG"));

    err_clear(&e);
    uint8_t junk[64] = {0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3};
    assert_int_equal(jpeg_decode(junk, sizeof junk, &out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);

    err_clear(&e);
    assert_int_equal(jpeg_decode(NULL, 0, &out, &e), -1);

    /* Patch the frame header (SOF0: FFC0 len(2) precision height(2) width(2)). */
    size_t sof = 0;
    for (size_t i = 2; i + 9 < len; i++)
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    uint8_t *big = malloc(len);
    memcpy(big, jpg, len);
    big[sof + 7] = 20000 >> 8; /* width 20000 > 16384 */
    big[sof + 8] = 20000 & 0xFF;
    err_clear(&e);
    assert_int_equal(jpeg_decode(big, len, &out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "too large"));
    /* 16000 x 16000 = 256M pixels: each side fine, the product is not */
    memcpy(big, jpg, len);
    big[sof + 5] = big[sof + 7] = 16000 >> 8;
    big[sof + 6] = big[sof + 8] = 16000 & 0xFF;
    err_clear(&e);
    assert_int_equal(jpeg_decode(big, len, &out, &e), -1);
    assert_non_null(strstr(e.msg, "too many pixels"));
    free(big);
    free(jpg);
}

static void test_greyscale(void **state) {
    (void)state;
    uint8_t grey[32 * 16];
    for (int i = 0; i < 32 * 16; i++) grey[i] = (uint8_t)(i % 32 * 8);
    uint8_t *jpg;
    size_t len;
    err e = {0};
    assert_int_equal(jpeg_encode_grey(grey, 32, 16, 95, &jpg, &len, &e), 0);
    image_rgb out;
    assert_int_equal(jpeg_decode(jpg, len, &out, &e), 0);
    assert_int_equal(out.width, 32);
    assert_int_equal(out.height, 16);
    for (int i = 0; i < 32 * 16; i++) {
        assert_int_equal(out.pixels[3 * i], out.pixels[3 * i + 1]);
        assert_int_equal(out.pixels[3 * i], out.pixels[3 * i + 2]);
        assert_true(abs((int)out.pixels[3 * i] - grey[i]) <= 12);
    }
    image_free(&out);
    free(jpg);
}

static void thumb_size(int w, int h, int size, int ew, int eh) {
    uint8_t *jpg, *th;
    size_t len, tlen;
    encode_gradient(w, h, &jpg, &len);
    err e = {0};
    assert_int_equal(jpeg_thumbnail(jpg, len, size, &th, &tlen, &e), 0);
    image_rgb out;
    assert_int_equal(jpeg_decode(th, tlen, &out, &e), 0);
    assert_int_equal(out.width, ew);
    assert_int_equal(out.height, eh);
    image_free(&out);
    free(th);
    free(jpg);
}

static void test_thumbnail(void **state) {
    (void)state;
    thumb_size(200, 100, 64, 64, 32);
    thumb_size(30, 90, 32, 11, 32);  /* 30*32/90 = 10.67 -> 11 */
    thumb_size(28, 28, 128, 128, 128); /* tiny images are enlarged */
    thumb_size(1000, 600, 128, 128, 77); /* goes through DCT scaling (1/4 -> 250x150) */
    uint8_t *jpg, *th;
    size_t len, tlen;
    encode_gradient(16, 16, &jpg, &len);
    err e = {0};
    assert_int_equal(jpeg_thumbnail(jpg, len, 0, &th, &tlen, &e), -1);
    assert_null(th);
    err_clear(&e);
    int rc = jpeg_thumbnail(jpg, len / 2, 8, &th, &tlen, &e); /* cut inside the headers */
    free(jpg);
    assert_int_equal(rc, -1);
    assert_string_equal(e.msg, "truncated JPEG");
    encode_gradient(256, 256, &jpg, &len);
    err_clear(&e);
    rc = jpeg_thumbnail(jpg, len * 3 / 4, 8, &th, &tlen, &e); /* cut in the scan data */
    free(jpg);
    assert_int_equal(rc, -1);
    assert_string_equal(e.msg, "truncated JPEG");
}

static void test_decode_scaled(void **state) {
    (void)state;
    uint8_t *jpg;
    size_t len;
    encode_gradient(400, 200, &jpg, &len);
    image_rgb out;
    err e = {0};
    assert_int_equal(jpeg_decode_scaled(jpg, len, 100, &out, &e), 0);
    assert_int_equal(out.width, 100); /* 1/4; 1/8 would be 50 < 100 */
    assert_int_equal(out.height, 50);
    image_free(&out);
    assert_int_equal(jpeg_decode_scaled(jpg, len, 1000, &out, &e), 0);
    assert_int_equal(out.width, 400); /* never enlarged */
    image_free(&out);
    free(jpg);
}

/* w x h image from per-pixel RGB triples. */
static void make_img(image_rgb *img, int w, int h, const uint8_t *rgb) {
    assert_int_equal(image_alloc(img, w, h, NULL), 0);
    memcpy(img->pixels, rgb, (size_t)w * h * 3);
}

static void test_resize(void **state) {
    (void)state;
    image_rgb src, out;
    err e = {0};
    /* 2x2 -> 1x1 is the mean of the four (per channel; 25.25 rounds to 25). */
    const uint8_t q[12] = {10, 0, 255, 20, 100, 255, 30, 0, 0, 41, 100, 1};
    make_img(&src, 2, 2, q);
    assert_int_equal(image_resize(&src, 1, 1, &out, &e), 0);
    assert_int_equal(out.pixels[0], 25);
    assert_int_equal(out.pixels[1], 50);
    assert_int_equal(out.pixels[2], 128); /* 511/4 = 127.75 */
    image_free(&out);
    /* same size: exact copy */
    assert_int_equal(image_resize(&src, 2, 2, &out, &e), 0);
    assert_memory_equal(out.pixels, q, 12);
    image_free(&out);
    image_free(&src);

    /* 3 -> 2 area: out0 = (p0 + p1/2) / 1.5, out1 = (p1/2 + p2) / 1.5 */
    const uint8_t row3[9] = {0, 0, 0, 90, 90, 90, 180, 180, 180};
    make_img(&src, 3, 1, row3);
    assert_int_equal(image_resize(&src, 2, 1, &out, &e), 0);
    assert_int_equal(out.pixels[0], 30);
    assert_int_equal(out.pixels[3], 150);
    image_free(&out);
    image_free(&src);

    /* 2 -> 4 bilinear, centre-aligned: 0, 25, 75, 100 */
    const uint8_t row2[6] = {0, 0, 0, 100, 100, 100};
    make_img(&src, 2, 1, row2);
    assert_int_equal(image_resize(&src, 4, 1, &out, &e), 0);
    assert_int_equal(out.pixels[0], 0);
    assert_int_equal(out.pixels[3], 25);
    assert_int_equal(out.pixels[6], 75);
    assert_int_equal(out.pixels[9], 100);
    image_free(&out);
    /* enlarging one axis while the other stays: 2x1 -> 2x3 repeats the row */
    assert_int_equal(image_resize(&src, 2, 3, &out, &e), 0);
    for (int y = 0; y < 3; y++) assert_memory_equal(out.pixels + y * 6, row2, 6);
    image_free(&out);
    assert_int_equal(image_resize(&src, 0, 3, &out, &e), -1);
    image_free(&src);
}

static void test_to_chw(void **state) {
    (void)state;
    image_rgb src;
    err e = {0};
    const uint8_t px[6] = {255, 0, 51, 0, 255, 102};
    make_img(&src, 2, 1, px);
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.25f, 0.2f};
    float out[6];
    assert_int_equal(image_to_chw(&src, 2, 1, mean, std, out, 6, &e), 0);
    const float want[6] = {1.0f, -1.0f, -2.0f, 2.0f, -1.5f, -0.5f}; /* (3, 1, 2) planar */
    for (int i = 0; i < 6; i++) assert_true(fabsf(out[i] - want[i]) < 1e-5f);

    /* with a resize: 2x2 -> 1x1 mean first, then normalise */
    image_free(&src);
    const uint8_t q[12] = {0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255}; /* mean 127.5 -> 128 */
    make_img(&src, 2, 2, q);
    const float m0[3] = {0, 0, 0}, s1[3] = {1, 1, 1};
    float one[3];
    assert_int_equal(image_to_chw(&src, 1, 1, m0, s1, one, 3, &e), 0);
    for (int c = 0; c < 3; c++) assert_true(fabsf(one[c] - 128.0f / 255.0f) < 1e-6f);

    float small[2];
    assert_int_equal(image_to_chw(&src, 1, 1, m0, s1, small, 2, &e), -1);
    err_clear(&e);
    const float s0[3] = {1, 0, 1};
    assert_int_equal(image_to_chw(&src, 1, 1, m0, s0, one, 3, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    image_free(&src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_greyscale),  cmocka_unit_test(test_thumbnail),
        cmocka_unit_test(test_decode_scaled), cmocka_unit_test(test_resize),
        cmocka_unit_test(test_to_chw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
