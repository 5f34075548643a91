/* fuzz_idx — idx_parse (plain and gzipped idx files: dataset uploads). */
#include "fuzz_common.h"
#include "dataset/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    idx_array a;
    err e = {0};
    if (idx_parse(data, size, &a, &e) == 0) {
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < a.count; i++) sum ^= a.data[i];
        (void)sum;
        idx_free(&a);
    }
    return 0;
}
