/* fuzz_tar — image_source over an uploaded tar (libarchive): every member is read
 * with a small per-member limit. */
#include "fuzz_common.h"
#include "dataset/image_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_file("upload.tar", data, size);
    err e = {0};
    image_source *s = image_source_open_tar(path, &e);
    if (!s) return 0;
    image_source_set_max_member(s, 1 << 16);
    image_item it;
    int guard = 0;
    for (;;) {
        err ne = {0};
        int rc = image_source_next(s, &it, &ne);
        if (rc != 1) break;
        if (it.bytes) {
            volatile uint8_t x = 0;
            for (size_t i = 0; i < it.len; i++) x ^= it.bytes[i];
            (void)x;
        }
        (void)strlen(it.split), (void)strlen(it.class_name), (void)strlen(it.member_name);
        if (++guard > 100000) abort();
    }
    (void)image_source_layout(s);
    size_t nl = 0, nt = 0;
    const image_skip *sk = image_source_skips(s, &nl, &nt);
    (void)sk;
    image_source_close(s);
    return 0;
}
