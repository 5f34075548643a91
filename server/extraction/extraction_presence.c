/* extraction_presence.c — presence of an extraction's words over its stored segment
 * chunks, and committing a new matrix (rules in extraction_presence.h).
 */
#include "extraction/extraction_presence.h"

#include <stdlib.h>

#include "blobstore.h"
#include "extraction/extraction_store.h"
#include "extraction/segment_store.h"

json_t *extraction_gallery_from_hits(const presence_hit *h, int count, const int64_t *ids) {
    json_t *g = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(g, json_pack("[I,i,f]", (json_int_t)ids[h[i].image],
                                           (int)h[i].segment, (double)h[i].score));
    return g;
}

/* Chunk c of x, checked against the row (embedding size, images). */
static int load_chunk(app *a, const extraction *x, size_t c, segment_store *st, err *e) {
    if (segment_store_load(st, a->cfg.data_dir, x->chunks[c], e)) return -1;
    if (st->dim != x->dim || st->n != x->chunk_sizes[c]) {
        segment_store_free(st);
        return err_set(e, ERR_IO, "segment blob %s does not match its extraction", x->chunks[c]);
    }
    return 0;
}

int extraction_presence_compute(app *a, const extraction *x, const int64_t *ids, const float *concepts, float *X,
                                json_t **galleries, int *segments, err *e) {
    presence p = {0};
    presence_hit *hits = NULL;
    *galleries = NULL;
    if (presence_init(&p, x->dim, x->d, EXTRACTION_TOP_K, 0, e)) return -1;
    int rc = -1;
    long base = 0;
    *segments = 0;
    for (size_t c = 0; c < x->n_chunks; c++) {
        segment_store st;
        if (load_chunk(a, x, c, &st, e)) goto done;
        int bad = presence_run(&p, concepts, st.emb, st.offsets, st.n, (int)base, X + (size_t)base * x->d, NULL, NULL, e);
        *segments += (int)st.s_total;
        base += st.n;
        segment_store_free(&st);
        if (bad) goto done;
    }
    hits = malloc(EXTRACTION_TOP_K * sizeof *hits);
    *galleries = json_object();
    if (!hits || !*galleries) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (int j = 0; j < x->d; j++) {
        int count;
        if (presence_gallery(&p, j, hits, &count, e)) goto done;
        json_object_set_new(*galleries, x->words[j], extraction_gallery_from_hits(hits, count, ids));
    }
    rc = 0;
done:
    if (rc) json_decref(*galleries), *galleries = NULL;
    free(hits);
    presence_free(&p);
    return rc;
}

int extraction_presence_columns(app *a, const extraction *x, const float *concepts, size_t n_add, float *cols,
                                int32_t *best, err *e) {
    long base = 0;
    for (size_t c = 0; n_add && c < x->n_chunks; c++) {
        segment_store st;
        if (load_chunk(a, x, c, &st, e)) return -1;
        int bad = 0;
        for (size_t k = 0; k < n_add && !bad; k++)
            bad = presence_add_concept(st.emb, st.offsets, st.n, x->dim, concepts + k * x->dim, (int32_t)k,
                                       cols + k * x->n + base, best + k * x->n + base, NULL, NULL, e);
        base += st.n;
        segment_store_free(&st);
        if (bad) return -1;
    }
    return 0;
}

int extraction_presence_commit(app *a, const extraction *x, const float *X, const json_t *galleries,
                               const char *expect_sha, int expect_version, err *e) {
    char sha[65];
    if (blobstore_put(a->cfg.data_dir, X, (size_t)x->n * x->d * sizeof(float), sha, e)) return -1;
    char (*cols)[65] = malloc(((size_t)x->d + 1) * sizeof *cols); // (d)
    if (!cols) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = presence_column_hashes(X, (size_t)x->n, (size_t)x->d, x->ids_sha, cols, e)
                 ? -1
                 : extraction_store_presence(a, x, sha, galleries, cols, expect_sha, expect_version, e);
    free(cols);
    return rc;
}
