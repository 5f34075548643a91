/* extraction.c — reading a loaded extraction's blobs: its image ids, one presence
 * row, the whole presence matrix for the student, and where an image row lives
 * among the segment chunks.
 */
#include "extraction/extraction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "extraction/extraction_store.h"

int extraction_image_ids(app *a, const extraction *x, int64_t **ids, err *e) {
    uint8_t *buf;
    size_t len;
    *ids = NULL;
    if (!blobstore_valid_hex(x->ids_sha)) return err_set(e, ERR_CONFLICT, "extraction %lld is not ready", (long long)x->id);
    if (blobstore_read(a->cfg.data_dir, x->ids_sha, &buf, &len, e)) return -1;
    if (len != (size_t)x->n * sizeof(int64_t)) {
        free(buf);
        return err_set(e, ERR_IO, "extraction %lld: image id blob has the wrong size", (long long)x->id);
    }
    *ids = (int64_t *)buf;
    return 0;
}

long extraction_image_index(const int64_t *ids, int n, int64_t image_id) {
    long lo = 0, hi = (long)n - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (ids[mid] == image_id) return mid;
        if (ids[mid] < image_id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int extraction_chunk_of(const extraction *x, long index, long *first_row) {
    long at = 0;
    for (size_t c = 0; c < x->n_chunks; c++) {
        if (index < at + x->chunk_sizes[c]) {
            *first_row = at;
            return (int)c;
        }
        at += x->chunk_sizes[c];
    }
    return -1;
}

int extraction_presence_row(app *a, const extraction *x, long row, float *v, err *e) {
    char path[4096];
    err pe = {0};
    FILE *f = NULL;
    int bad = blobstore_path(a->cfg.data_dir, x->presence_sha, path, sizeof path, &pe) || !(f = fopen(path, "rb")) ||
              fseeko(f, (off_t)row * x->d * (off_t)sizeof(float), SEEK_SET) ||
              fread(v, sizeof(float), (size_t)x->d, f) != (size_t)x->d;
    if (f) fclose(f);
    if (bad) return err_set(e, ERR_IO, "cannot read the presence matrix of extraction %lld", (long long)x->id);
    return 0;
}

void extraction_presence_free(float *x, int64_t *image_ids, char **words, int d) {
    free(x);
    free(image_ids);
    for (int i = 0; words && i < d; i++) free(words[i]);
    free(words);
}

int extraction_presence_load(app *a, int64_t extraction_id, float **x, int64_t **image_ids, int *n, int *d,
                             char ***words, char *presence_sha, char *ids_sha, err *e) {
    extraction ex;
    *x = NULL, *image_ids = NULL, *words = NULL;
    if (extraction_load(a, extraction_id, &ex, e)) return -1;
    int rc = -1;
    uint8_t *buf = NULL;
    size_t len;
    if (strcmp(ex.state, "ready")) {
        err_set(e, ERR_CONFLICT, "extraction %lld is %s, not ready", (long long)extraction_id, ex.state);
    } else if (!extraction_image_ids(a, &ex, image_ids, e) &&
               !blobstore_read(a->cfg.data_dir, ex.presence_sha, &buf, &len, e)) {
        if (len != (size_t)ex.n * ex.d * sizeof(float)) {
            err_set(e, ERR_IO, "extraction %lld: presence blob has the wrong size", (long long)extraction_id);
        } else {
            *x = (float *)buf, buf = NULL;
            *n = ex.n, *d = ex.d, *words = ex.words;
            ex.words = NULL; /* handed over */
            if (presence_sha) memcpy(presence_sha, ex.presence_sha, sizeof ex.presence_sha);
            if (ids_sha) memcpy(ids_sha, ex.ids_sha, sizeof ex.ids_sha);
            rc = 0;
        }
    }
    free(buf);
    if (rc) free(*image_ids), *image_ids = NULL;
    extraction_free(&ex);
    return rc;
}
