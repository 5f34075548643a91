/* file_read.c — see file_read.h. */
#include "file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *file_read_all(const char *path, size_t max_len, size_t *len, err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno)), NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return err_set(e, ERR_IO, "cannot read %s: not a regular file", path), NULL;
    }
    if ((unsigned long long)sb.st_size > max_len) {
        fclose(f);
        return err_set(e, ERR_TOO_LARGE, "%s is larger than %zu bytes", path, max_len), NULL;
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return err_set(e, ERR_INTERNAL, "out of memory reading %s", path), NULL;
    }
    size_t got = fread(buf, 1, n, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != n) {
        free(buf);
        return err_set(e, ERR_IO, "cannot read %s: short read", path), NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
