/* test_png_io.c — PNG decoding to 8-bit RGB: every colour type we expect from
 * ImageFolder datasets (RGB, RGBA, grey, grey+alpha, palette with tRNS, 16-bit),
 * alpha over white, and the refusals (not a PNG, truncated, bad CRC, too large).
 * The PNGs are written here with libspng's encoder; none is checked in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dataset/png_io.h"

/* Encode `pixels` (rows of w samples as the colour type says, host-endian for
 * 16-bit) into a new PNG buffer; plte/trns are optional. */
static uint8_t *encode(int w, int h, int colour_type, int depth, const void *pixels, size_t pixels_len,
                       struct spng_plte *plte, struct spng_trns *trns, size_t *len) {
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    assert_non_null(ctx);
    assert_int_equal(spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1), 0);
    struct spng_ihdr ihdr = {.width = (uint32_t)w, .height = (uint32_t)h, .bit_depth = (uint8_t)depth,
                             .color_type = (uint8_t)colour_type};
    assert_int_equal(spng_set_ihdr(ctx, &ihdr), 0);
    if (plte) assert_int_equal(spng_set_plte(ctx, plte), 0);
    if (trns) assert_int_equal(spng_set_trns(ctx, trns), 0);
    assert_int_equal(spng_encode_image(ctx, pixels, pixels_len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
    int error = 0;
    uint8_t *png = spng_get_png_buffer(ctx, len, &error);
    assert_int_equal(error, 0);
    assert_non_null(png);
    spng_ctx_free(ctx);
    return png;
}

static void decode_ok(const uint8_t *png, size_t len, int w, int h, image_rgb *img) {
    err e = {0};
    assert_int_equal(png_decode(png, len, img, &e), 0);
    assert_int_equal(img->width, w);
    assert_int_equal(img->height, h);
}

static void assert_pixel(const image_rgb *img, int i, int r, int g, int b) {
    const uint8_t *p = img->pixels + 3 * i;
    if (p[0] != r || p[1] != g || p[2] != b)
        fail_msg("pixel %d is (%d,%d,%d), want (%d,%d,%d)", i, p[0], p[1], p[2], r, g, b);
}

static void test_rgb(void **state) {
    (void)state;
    const uint8_t px[2 * 3 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90};
    size_t len;
    uint8_t *png = encode(3, 2, SPNG_COLOR_TYPE_TRUECOLOR, 8, px, sizeof px, NULL, NULL, &len);
    assert_true(png_has_signature(png, len));
    image_rgb img;
    decode_ok(png, len, 3, 2, &img);
    assert_memory_equal(img.pixels, px, sizeof px); /* (h, w, 3), exact: PNG is lossless */
    image_free(&img);
    free(png);
}

static void test_rgba_over_white(void **state) {
    (void)state;
    /* Opaque red, fully transparent black, half-transparent blue. */
    const uint8_t px[3 * 4] = {255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 128};
    size_t len;
    uint8_t *png = encode(3, 1, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8, px, sizeof px, NULL, NULL, &len);
    image_rgb img;
    decode_ok(png, len, 3, 1, &img);
    assert_pixel(&img, 0, 255, 0, 0);
    assert_pixel(&img, 1, 255, 255, 255);
    assert_pixel(&img, 2, 127, 127, 255); /* 255 * 127 / 255 of white left in R and G */
    image_free(&img);
    free(png);
}

static void test_grey_and_grey_alpha(void **state) {
    (void)state;
    const uint8_t g[4] = {0, 77, 200, 255};
    size_t len;
    uint8_t *png = encode(2, 2, SPNG_COLOR_TYPE_GRAYSCALE, 8, g, sizeof g, NULL, NULL, &len);
    image_rgb img;
    decode_ok(png, len, 2, 2, &img);
    for (int i = 0; i < 4; i++) assert_pixel(&img, i, g[i], g[i], g[i]);
    image_free(&img);
    free(png);

    const uint8_t ga[2 * 2] = {50, 255, 50, 0};
    png = encode(2, 1, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, 8, ga, sizeof ga, NULL, NULL, &len);
    decode_ok(png, len, 2, 1, &img);
    assert_pixel(&img, 0, 50, 50, 50);
    assert_pixel(&img, 1, 255, 255, 255);
    image_free(&img);
    free(png);
}

static void test_palette_with_trns(void **state) {
    (void)state;
    struct spng_plte plte = {.n_entries = 3};
    plte.entries[0] = (struct spng_plte_entry){.red = 12, .green = 34, .blue = 56};
    plte.entries[1] = (struct spng_plte_entry){.red = 200, .green = 100, .blue = 0};
    plte.entries[2] = (struct spng_plte_entry){.red = 0, .green = 0, .blue = 0};
    struct spng_trns trns = {.n_type3_entries = 3, .type3_alpha = {255, 255, 0}}; /* entry 2 transparent */
    const uint8_t idx[4] = {0, 1, 2, 1};
    size_t len;
    uint8_t *png = encode(4, 1, SPNG_COLOR_TYPE_INDEXED, 8, idx, sizeof idx, &plte, &trns, &len);
    image_rgb img;
    decode_ok(png, len, 4, 1, &img);
    assert_pixel(&img, 0, 12, 34, 56);
    assert_pixel(&img, 1, 200, 100, 0);
    assert_pixel(&img, 2, 255, 255, 255);
    assert_pixel(&img, 3, 200, 100, 0);
    image_free(&img);
    free(png);
}

static void test_16_bit(void **state) {
    (void)state;
    const uint16_t px[2 * 3] = {0xFFFF, 0x0000, 0x8080, 0x1234, 0xABCD, 0x0101};
    size_t len;
    uint8_t *png = encode(2, 1, SPNG_COLOR_TYPE_TRUECOLOR, 16, px, sizeof px, NULL, NULL, &len);
    image_rgb img;
    decode_ok(png, len, 2, 1, &img);
    const int want[6] = {255, 0, 128, 0x12, 0xAB, 1}; /* the high byte, give or take rounding */
    for (int i = 0; i < 6; i++) {
        int d = img.pixels[i] - want[i];
        if (d < -1 || d > 1) fail_msg("sample %d is %d, want about %d", i, img.pixels[i], want[i]);
    }
    image_free(&img);
    free(png);
}

static void assert_refused(const uint8_t *data, size_t len, const char *reason) {
    image_rgb img = {.width = 7};
    err e = {0};
    assert_int_equal(png_decode(data, len, &img, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    if (!strstr(e.msg, reason)) fail_msg("error '%s' does not say '%s'", e.msg, reason);
    assert_null(img.pixels);
    assert_int_equal(img.width, 0);
}

/* Rewrite the IHDR's width and height (bytes 16..23) and fix its CRC, so the lie is
 * only in the numbers. */
static void patch_ihdr_size(uint8_t *png, uint32_t w, uint32_t h) {
    for (int i = 0; i < 4; i++) {
        png[16 + i] = (uint8_t)(w >> (24 - 8 * i));
        png[20 + i] = (uint8_t)(h >> (24 - 8 * i));
    }
    uint32_t crc = (uint32_t)crc32(0, png + 12, 4 + 13); /* type + data */
    for (int i = 0; i < 4; i++) png[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
}

static void test_refusals(void **state) {
    (void)state;
    uint8_t px[16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
    size_t len;
    uint8_t *png = encode(16, 16, SPNG_COLOR_TYPE_TRUECOLOR, 8, px, sizeof px, NULL, NULL, &len);

    assert_refused(NULL, 0, "not a PNG");
    assert_refused((const uint8_t *)"\xFF\xD8\xFF\xE0 a JPEG, not a PNG", 24, "not a PNG");
    assert_refused(png, 8, "truncated PNG");       /* the signature alone */
    assert_refused(png, 20, "truncated PNG");      /* cut inside IHDR */
    assert_refused(png, len / 2, "truncated PNG"); /* cut inside the pixel data */

    uint8_t *bad = malloc(len);
    memcpy(bad, png, len);
    bad[45] ^= 0x55; /* inside IDAT's data: its CRC no longer matches */
    assert_refused(bad, len, "corrupt PNG data");

    memcpy(bad, png, len);
    patch_ihdr_size(bad, 20000, 4);
    assert_refused(bad, len, "too large");
    memcpy(bad, png, len);
    patch_ihdr_size(bad, 16384, 8192); /* each side allowed, 2^27 pixels is not */
    assert_refused(bad, len, "too large");
    memcpy(bad, png, len);
    patch_ihdr_size(bad, 0, 16);
    assert_refused(bad, len, "corrupt PNG data");

    /* The untouched file still decodes, exactly. */
    image_rgb img;
    decode_ok(png, len, 16, 16, &img);
    assert_memory_equal(img.pixels, px, sizeof px);
    image_free(&img);
    free(bad);
    free(png);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rgb),           cmocka_unit_test(test_rgba_over_white),
        cmocka_unit_test(test_grey_and_grey_alpha), cmocka_unit_test(test_palette_with_trns),
        cmocka_unit_test(test_16_bit),        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
