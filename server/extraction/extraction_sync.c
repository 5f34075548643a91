/* extraction_sync.c — a ready extraction brought to its corpus's current words
 * (rules in extraction_sync.h).
 *
 * One attempt: read the row and the corpus; map each current word to its old
 * column or mark it new; embed the new words; compute their columns from the
 * stored chunks; build the new (N, nw) matrix and galleries (kept words keep
 * theirs); commit only if the row is unchanged since it was read, else try again.
 */
#include "extraction/extraction_sync.h"

#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "concepts/concepts.h"
#include "concepts/corpus.h"
#include "extraction/extraction.h"
#include "extraction/extraction_presence.h"
#include "extraction/extraction_store.h"
#include "models/model_registry.h"

#define SYNC_ATTEMPTS 8

int extraction_embed_for_corpus(app *a, int64_t corpus_id, char *const *words, size_t n, err *e) {
    int64_t *models;
    size_t n_models;
    if (extraction_models_of_corpus(a, corpus_id, &models, &n_models, e)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n_models && !rc; i++) {
        model_ref *m = model_registry_acquire(a, models[i], e);
        float *emb = NULL;
        int D;
        rc = !m || concept_embed_words(a, m, words, n, &emb, &D, e) ? -1 : 0;
        free(emb);
        model_registry_release(m);
    }
    free(models);
    return rc;
}

/* One attempt's state: the row as read, the corpus now, and the arrays between. */
typedef struct sync_work {
    extraction x;
    char **words;        /* (nw) the corpus's words now */
    size_t nw;
    int version;
    int *map;            /* (nw) old column of each word, -1: new */
    char **add;          /* (n_add) the new words (borrowed from words) */
    size_t n_add;
    float *concepts;     /* (n_add, dim) their embeddings */
    int64_t *ids;        /* (N) image ids */
    float *old;          /* (N, x.d) the stored matrix */
    float *cols;         /* (n_add, N) new columns */
    int32_t *best;       /* (n_add, N) producing segment per image */
    float *X;            /* (N, nw) the new matrix */
    json_t *galleries;   /* {word: gallery} for the new words list */
} sync_work;

static void sync_work_free(sync_work *w) {
    extraction_free(&w->x);
    corpus_words_free(w->words, w->nw);
    free(w->map), free(w->add), free(w->concepts), free(w->ids), free(w->old), free(w->cols), free(w->best), free(w->X);
    json_decref(w->galleries);
    memset(w, 0, sizeof *w);
}

/* map and add from the old words (x) and the current ones. */
static int map_columns(sync_work *w, err *e) {
    w->map = malloc(w->nw * sizeof *w->map);
    w->add = calloc(w->nw, sizeof *w->add);
    if (!w->map || !w->add) return err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t j = 0; j < w->nw; j++) {
        w->map[j] = -1;
        for (int k = 0; k < w->x.d && w->map[j] < 0; k++)
            if (!strcmp(w->x.words[k], w->words[j])) w->map[j] = k;
        if (w->map[j] < 0) w->add[w->n_add++] = w->words[j];
    }
    return 0;
}

/* The new words' embeddings, in the segments' space. */
static int embed_new_words(app *a, sync_work *w, err *e) {
    if (!w->n_add) return 0;
    model_ref *m = model_registry_acquire(a, w->x.model_id, e);
    int D = 0, bad = !m || concept_embed_words(a, m, w->add, w->n_add, &w->concepts, &D, e);
    model_registry_release(m);
    if (bad) return -1;
    if (D != w->x.dim)
        return err_set(e, ERR_UNPROCESSABLE, "the concept model's text side gives %d-sized embeddings, its segments %d",
                       D, w->x.dim);
    return 0;
}

/* The stored image ids and matrix. */
static int read_matrix(app *a, sync_work *w, err *e) {
    uint8_t *buf;
    size_t len;
    if (extraction_image_ids(a, &w->x, &w->ids, e) || blobstore_read(a->cfg.data_dir, w->x.presence_sha, &buf, &len, e))
        return -1;
    w->old = (float *)buf;
    if (len != (size_t)w->x.n * w->x.d * sizeof(float))
        return err_set(e, ERR_IO, "extraction %lld: presence blob has the wrong size", (long long)w->x.id);
    return 0;
}

/* X and galleries for the current words: old columns and galleries where a word was
 * kept, the new columns and their top images where it is new. */
static int merge_columns(app *a, sync_work *w, err *e) {
    const extraction *x = &w->x;
    json_t *old_gal = extraction_galleries_json(a, x->id, e);
    if (!old_gal) return -1;
    presence_hit *hits = malloc(EXTRACTION_TOP_K * sizeof *hits);
    w->galleries = json_object();
    int rc = hits && w->galleries ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t j = 0, k = 0; j < w->nw && !rc; j++) {
        float *X = w->X;
        if (w->map[j] >= 0) {
            for (int i = 0; i < x->n; i++) X[(size_t)i * w->nw + j] = w->old[(size_t)i * x->d + w->map[j]];
            json_t *g = json_object_get(old_gal, w->words[j]);
            json_object_set_new(w->galleries, w->words[j], g ? json_incref(g) : json_array());
            continue;
        }
        const float *col = w->cols + k * x->n;
        for (int i = 0; i < x->n; i++) X[(size_t)i * w->nw + j] = col[i];
        int count;
        rc = presence_top_k(col, w->best + k * x->n, x->n, 0, EXTRACTION_TOP_K, hits, &count, e);
        if (!rc) json_object_set_new(w->galleries, w->words[j], extraction_gallery_from_hits(hits, count, w->ids));
        k++;
    }
    free(hits);
    json_decref(old_gal);
    return rc;
}

/* One attempt; *retry = 1 when a concurrent change won the commit. */
static int sync_once(app *a, int64_t id, int *changed, int *retry, err *e) {
    sync_work w = {0};
    *retry = 0;
    if (extraction_load(a, id, &w.x, e)) return -1;
    int rc = -1;
    if (strcmp(w.x.state, "ready")) {
        rc = 0; /* nothing to bring up to date */
        goto done;
    }
    if (corpus_words(a, w.x.corpus_id, &w.words, &w.nw, &w.version, e)) goto done;
    if (w.version == w.x.corpus_version) {
        rc = 0;
        goto done;
    }
    if (w.nw == 0) {
        err_set(e, ERR_UNPROCESSABLE, "the corpus is empty: add at least one concept word");
        goto done;
    }
    if (map_columns(&w, e) || embed_new_words(a, &w, e) || read_matrix(a, &w, e)) goto done;
    const size_t N = (size_t)w.x.n;
    w.cols = calloc(w.n_add * N + 1, sizeof *w.cols);       // (n_add, N)
    w.best = malloc((w.n_add * N + 1) * sizeof *w.best);    // (n_add, N)
    w.X = calloc(N * w.nw + 1, sizeof *w.X);                // (N, nw)
    if (!w.cols || !w.best || !w.X) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (extraction_presence_columns(a, &w.x, w.concepts, w.n_add, w.cols, w.best, e) || merge_columns(a, &w, e))
        goto done;
    extraction nx = w.x;
    nx.words = w.words, nx.d = (int)w.nw, nx.corpus_version = w.version;
    int r = extraction_presence_commit(a, &nx, w.X, w.galleries, w.x.presence_sha, w.x.corpus_version, e);
    if (r < 0) goto done;
    if (r == 1) *retry = 1;
    else if (changed) *changed = 1;
    rc = 0;
done:
    sync_work_free(&w);
    return rc;
}

int extraction_sync(app *a, int64_t extraction_id, int *changed, err *e) {
    if (changed) *changed = 0;
    for (int attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
        int retry;
        if (sync_once(a, extraction_id, changed, &retry, e)) return -1;
        if (!retry) return 0;
    }
    return err_set(e, ERR_CONFLICT, "extraction %lld: the corpus keeps changing; try again", (long long)extraction_id);
}

int extraction_sync_corpus(app *a, int64_t corpus_id, int *updated, err *e) {
    int64_t *ids;
    size_t n;
    *updated = 0;
    if (extraction_ready_of_corpus(a, corpus_id, &ids, &n, e)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int changed = 0;
        rc = extraction_sync(a, ids[i], &changed, e);
        *updated += changed;
    }
    free(ids);
    return rc;
}
