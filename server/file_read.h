/* file_read.h — a whole (small) file into memory: manifests, migrations, corpora,
 * the benchmarks' inputs. */
#ifndef INFICOND_FILE_READ_H
#define INFICOND_FILE_READ_H

#include <stddef.h>

#include "err.h"

/* The file at path, NUL-terminated (the NUL not counted in *len; len may be NULL), or
 * NULL with e set: ERR_IO naming the path and the reason, ERR_TOO_LARGE beyond
 * max_len bytes. The caller frees it. */
char *file_read_all(const char *path, size_t max_len, size_t *len, err *e);

#endif
