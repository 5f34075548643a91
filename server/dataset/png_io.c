/* png_io.c — PNG decode (libspng 0.7) to 8-bit RGB, alpha composited over white.
 *
 * libspng decodes every colour type and bit depth to RGBA8 (palette expanded, tRNS
 * turned into alpha, 16-bit scaled down); we then blend each pixel over white into
 * the (H, W, 3) image. The RGBA buffer is a second, 4/3 larger copy: simple, and the
 * size limits below bound both. Limits are set before the header is read, so a
 * header claiming 2^31 x 2^31 is refused before anything is allocated.
 */
#include "dataset/png_io.h"

#include <spng.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

int png_has_signature(const uint8_t *data, size_t len) {
    return data && len >= sizeof png_signature && memcmp(data, png_signature, sizeof png_signature) == 0;
}

/* libspng reports reading past the end of the buffer as SPNG_IO_EOF, SPNG_EIO or
 * SPNG_EOF, depending on where the cut falls. */
static int spng_failure(int rc, err *e) {
    if (rc == SPNG_IO_EOF || rc == SPNG_EIO || rc == SPNG_EOF) return err_set(e, ERR_UNPROCESSABLE, "truncated PNG");
    if (rc == SPNG_ECHUNK_LIMITS) return err_set(e, ERR_UNPROCESSABLE, "PNG chunk too large (limit %zu bytes)", PNG_MAX_CHUNK);
    return err_set(e, ERR_UNPROCESSABLE, "corrupt PNG data: %s", spng_strerror(rc));
}

int png_decode(const uint8_t *data, size_t len, image_rgb *out, err *e) {
    memset(out, 0, sizeof *out);
    if (!png_has_signature(data, len)) return err_set(e, ERR_UNPROCESSABLE, "not a PNG (no PNG signature)");
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return err_set(e, ERR_INTERNAL, "out of memory (spng_ctx_new)");
    int rc = -1, src;
    uint8_t *rgba = NULL;
    struct spng_ihdr ihdr;
    /* One past the side limit, so an over-large side reaches our own check and its
     * clearer message rather than libspng's generic one. */
    if ((src = spng_set_image_limits(ctx, JPEG_MAX_SIDE + 1, JPEG_MAX_SIDE + 1)) ||
        (src = spng_set_chunk_limits(ctx, PNG_MAX_CHUNK, PNG_MAX_CHUNK_CACHE)) ||
        (src = spng_set_png_buffer(ctx, data, len))) {
        err_set(e, ERR_INTERNAL, "libspng setup: %s", spng_strerror(src));
        goto done;
    }
    if ((src = spng_get_ihdr(ctx, &ihdr))) {
        if (src == SPNG_EUSER_WIDTH || src == SPNG_EUSER_HEIGHT)
            err_set(e, ERR_UNPROCESSABLE, "PNG is too large (max side %d)", JPEG_MAX_SIDE);
        else spng_failure(src, e);
        goto done;
    }
    if ((size_t)ihdr.width * ihdr.height > JPEG_MAX_PIXELS || ihdr.width > JPEG_MAX_SIDE ||
        ihdr.height > JPEG_MAX_SIDE) {
        err_set(e, ERR_UNPROCESSABLE, "PNG is too large (%ux%u, max side %d, max %zu pixels)", ihdr.width,
                ihdr.height, JPEG_MAX_SIDE, JPEG_MAX_PIXELS);
        goto done;
    }
    if (image_alloc(out, (int)ihdr.width, (int)ihdr.height, e) < 0) goto done;
    size_t need = 0;
    if ((src = spng_decoded_image_size(ctx, SPNG_FMT_RGBA8, &need))) {
        spng_failure(src, e);
        goto done;
    }
    rgba = malloc(need);
    if (!rgba) {
        err_set(e, ERR_INTERNAL, "out of memory for a %ux%u PNG", ihdr.width, ihdr.height);
        goto done;
    }
    if ((src = spng_decode_image(ctx, rgba, need, SPNG_FMT_RGBA8, SPNG_DECODE_TRNS))) {
        spng_failure(src, e);
        goto done;
    }
    /* Over white: c' = (c * a + 255 * (255 - a)) / 255, rounded. */
    size_t n = (size_t)out->width * (size_t)out->height;
    for (size_t i = 0; i < n; i++) {
        unsigned a = rgba[4 * i + 3], bg = 255u * (255u - a);
        for (int c = 0; c < 3; c++) out->pixels[3 * i + c] = (uint8_t)((rgba[4 * i + c] * a + bg + 127) / 255);
    }
    rc = 0;
done:
    free(rgba);
    if (rc < 0) image_free(out);
    spng_ctx_free(ctx);
    return rc;
}
