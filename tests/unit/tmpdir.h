/* tmpdir.h — scratch folders and small file helpers for the unit tests (header
 * only, static functions, so each test program stays one .c file). */
#ifndef INFICOND_TEST_TMPDIR_H
#define INFICOND_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int tmpdir_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

/* Remove a tree (does not follow symlinks). */
static inline void tmpdir_remove(const char *dir) { nftw(dir, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* A new empty folder /tmp/inficond-test-XXXXXX into buf (>= 64 bytes). */
static inline char *tmpdir_make(char *buf) {
    strcpy(buf, "/tmp/inficond-test-XXXXXX");
    return mkdtemp(buf);
}

static inline int tmpdir_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* mkdir -p for a path relative to nothing (absolute paths only). */
static inline void tmpdir_mkdirs(const char *path) {
    char b[4096];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(b, 0755);
            *p = '/';
        }
    mkdir(b, 0755);
}

#endif
