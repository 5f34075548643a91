// shim_malloc.cpp — glibc malloc settings for libtorch's activation buffers.
#include <malloc.h>

#include "shim_internal.h"

// A forward pass (or a training step) frees and re-allocates the same few multi-MB
// activation buffers every batch; with glibc's default thresholds each one is a fresh
// mmap + page faults, or heap trimmed and refilled: 25-40% of a training step on one
// core, and at batch 32 the demo concept model's extraction ran 1,055 images/s instead
// of 1,660. Keep blocks up to 32 MiB (the most mallopt allows) in the heap and do not
// trim it eagerly. Process-wide and left in place (glibc cannot go back to its dynamic
// threshold); the cost is up to 256 MiB of freed memory kept for reuse.
void shim_tune_malloc() {
    static const bool done = [] {
        mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
        return true;
    }();
    (void)done;
}
