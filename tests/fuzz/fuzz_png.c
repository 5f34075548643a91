/* fuzz_png — png_decode (libspng) on import members, then the import's re-encode to
 * JPEG of whatever decoded (small images only, to keep runs fast). */
#include "fuzz_common.h"
#include "dataset/png_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    image_rgb img = {0};
    err e = {0};
    if (png_decode(data, size, &img, &e) == 0) {
        if ((size_t)img.width * (size_t)img.height <= 4096) {
            uint8_t *jpg = NULL;
            size_t len = 0;
            if (jpeg_encode(&img, 95, &jpg, &len, &e) == 0) free(jpg);
        }
        image_free(&img);
    }
    return 0;
}
