/* fuzz_common.h — helpers shared by the libFuzzer targets (header-only). */
#ifndef INFICOND_FUZZ_COMMON_H
#define INFICOND_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of the input (free() it). */
static inline char *fz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

static char fz_dir[64];

static inline int fz_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p), 0;
}
static inline void fz_cleanup(void) {
    if (fz_dir[0]) nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A per-process scratch folder under /tmp (created once, removed at exit). */
static inline const char *fz_tmpdir(void) {
    if (!fz_dir[0]) {
        snprintf(fz_dir, sizeof fz_dir, "/tmp/inficond-fuzz-XXXXXX");
        if (!mkdtemp(fz_dir)) abort();
        atexit(fz_cleanup);
    }
    return fz_dir;
}

/* Write bytes to a file in the scratch folder; returns its path (static buffer). */
static inline const char *fz_write_file(const char *name, const void *data, size_t size) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    return path;
}
#endif
