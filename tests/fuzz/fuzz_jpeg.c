/* fuzz_jpeg — jpeg_decode, jpeg_decode_scaled and jpeg_thumbnail on uploaded images.
 * First input byte picks the thumbnail size; the rest is the image. */
#include "fuzz_common.h"
#include "dataset/jpeg_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sz = 1 + data[0] % 96;
    data++, size--;
    image_rgb img = {0};
    err e = {0};
    if (jpeg_decode(data, size, &img, &e) == 0) {
        image_rgb small = {0};
        if (image_resize(&img, 1 + img.width % 17, 1 + img.height % 13, &small, &e) == 0) image_free(&small);
        image_free(&img);
    }
    err e2 = {0};
    image_rgb sc = {0};
    if (jpeg_decode_scaled(data, size, sz, &sc, &e2) == 0) image_free(&sc);
    uint8_t *out = NULL;
    size_t out_len = 0;
    err e3 = {0};
    if (jpeg_thumbnail(data, size, sz, &out, &out_len, &e3) == 0) free(out);
    return 0;
}
