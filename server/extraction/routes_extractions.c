/* routes_extractions.c — the extraction routes: start the "concepts.extract" job,
 * list and show extractions, read a presence matrix (paged JSON, the float32 blob or
 * the image ids), one image's presence and segments, a concept's gallery (whole, or
 * the part in one split).
 *
 * Rows come from extraction_store.c (a corpus's words from concepts/corpus.c), blobs
 * from extraction.c, the image and gallery answers from extraction_views.c; reads of
 * a matrix or a segment chunk need the extraction ready (409 otherwise).
 */
#include "extraction/routes_extractions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "concepts/concepts.h"
#include "concepts/corpus.h"
#include "dataset/dataset_import.h"
#include "dataset/dataset_store.h"
#include "extraction/extraction.h"
#include "extraction/extraction_job.h"
#include "extraction/extraction_store.h"
#include "extraction/extraction_views.h"
#include "jobs.h"
#include "models/model_registry.h"

#define GALLERY_PAGE_MAX 200

/* ---- starting one, listing ------------------------------------------------------- */

/* The inputs of a new extraction checked: chk (extraction_preflight_json) and the
 * corpus (n_words words; has_corpus 0 when there is none). Replies 422 / 409 and
 * returns -1 when the extraction cannot start. */
static int startable_or_reply(req *r, const json_t *chk, int has_corpus, size_t n_words, int64_t ds, int64_t mid,
                              int64_t cid) {
    const char *kind = json_string_value(json_object_get(chk, "kind"));
    if (!json_is_true(json_object_get(chk, "ds_exists")))
        reply_error(r, 422, "unprocessable", "field 'dataset_id': no dataset %lld", (long long)ds);
    else if (!json_integer_value(json_object_get(chk, "ds")))
        reply_error(r, 422, "unprocessable", "field 'dataset_id': dataset %lld has no images", (long long)ds);
    else if (!kind)
        reply_error(r, 422, "unprocessable", "field 'concept_model_id': no model %lld", (long long)mid);
    else if (strcmp(kind, "concept"))
        reply_error(r, 422, "unprocessable", "field 'concept_model_id': model %lld is a %s, not a concept model",
                    (long long)mid, kind);
    else if (!has_corpus)
        reply_error(r, 422, "unprocessable", "field 'corpus_id': no corpus %lld", (long long)cid);
    else if (n_words == 0)
        reply_error(r, 422, "unprocessable", "field 'corpus_id': the corpus is empty; add at least one concept word");
    else if (json_is_true(json_object_get(chk, "busy")))
        reply_error(r, 409, "conflict", "an extraction of this dataset, model and corpus is already queued or running");
    else
        return 0;
    return -1;
}

/* Fail fast on words the model cannot tokenize (the job checks again). */
static int words_readable(app *a, int64_t model_id, char *const *words, size_t n, err *e) {
    model_ref *m = model_registry_acquire(a, model_id, e);
    int bad = !m || concept_check_words(&m->mf, words, n, e);
    model_registry_release(m);
    return bad ? -1 : 0;
}

void route_extractions_create(req *r) {
    int64_t ds, mid, cid;
    if (json_req_int_or_reply(r, r->json, "dataset_id", 1, INT64_MAX, &ds) ||
        json_req_int_or_reply(r, r->json, "concept_model_id", 1, INT64_MAX, &mid) ||
        json_req_int_or_reply(r, r->json, "corpus_id", 1, INT64_MAX, &cid))
        return;
    err e = {0};
    char **words = NULL;
    size_t n_words = 0;
    int version, has_corpus = 1;
    json_t *chk = extraction_preflight_json(r->app, ds, mid, cid, &e);
    if (chk && corpus_words(r->app, cid, &words, &n_words, &version, &e)) {
        if (e.code == ERR_NOT_FOUND) err_clear(&e), has_corpus = 0; /* answered below, after the dataset and model */
        else json_decref(chk), chk = NULL;
    }
    if (!chk) {
        reply_err(r, &e);
    } else if (!startable_or_reply(r, chk, has_corpus, n_words, ds, mid, cid)) {
        int64_t xid = 0, job = -1;
        json_t *jj = words_readable(r->app, mid, words, n_words, &e) ||
                             extraction_queue(r->app, ds, mid, cid, r->user_id, &xid, &job, &e)
                         ? NULL
                         : jobs_get_json(r->app, job, &e);
        if (!jj) {
            reply_err(r, &e);
        } else {
            json_object_set_new(jj, "extraction_id", json_integer(xid));
            reply_json_at(r, 202, jj, "/api/v1/jobs/%lld", (long long)job);
        }
    }
    corpus_words_free(words, n_words);
    json_decref(chk);
}

void route_extractions_list(req *r) {
    const char *corpus = req_query(r, "corpus_id"), *ds = req_query(r, "dataset_id");
    if ((corpus && !strtoll(corpus, NULL, 10)) || (ds && !strtoll(ds, NULL, 10))) {
        reply_error(r, 400, "bad_request", "corpus_id and dataset_id must be positive integers");
        return;
    }
    err e = {0};
    json_t *j = extraction_list_json(r->app, corpus, ds, &e);
    reply_json_or_err(r, 200, j, &e);
}

void route_extractions_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j = extraction_json(r->app, id, &e);
    reply_json_or_err(r, 200, j, &e);
}

/* ---- reading a ready one -------------------------------------------------------- */

/* The extraction, ready, or reply (404 / 409). */
static int ready_or_reply(req *r, extraction *x) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return -1;
    err e = {0};
    if (extraction_load(r->app, id, x, &e)) {
        reply_err(r, &e);
        return -1;
    }
    if (strcmp(x->state, "ready")) {
        reply_error(r, 409, "conflict", "extraction %lld is %s, not ready", (long long)id, x->state);
        extraction_free(x);
        return -1;
    }
    return 0;
}

/* The f32 matrix or the ids blob as a download. */
static void reply_presence_blob(req *r, const extraction *x, const char *format) {
    const char *sha = !strcmp(format, "f32") ? x->presence_sha : x->ids_sha;
    char path[4096], etag[80], shape[64];
    err e = {0};
    if (blobstore_verify_cached(r->app->cfg.data_dir, sha, &e) ||
        blobstore_path(r->app->cfg.data_dir, sha, path, sizeof path, &e)) {
        reply_err(r, &e);
        return;
    }
    snprintf(etag, sizeof etag, "\"%s\"", sha);
    if (!strcmp(format, "f32")) snprintf(shape, sizeof shape, "%d,%d", x->n, x->d);
    else snprintf(shape, sizeof shape, "%d", x->n);
    reply_add_header(r, "X-Shape", shape);
    reply_add_header(r, "X-Image-Ids-Sha256", x->ids_sha);
    reply_file(r, path, "application/octet-stream", etag);
}

/* A page of the matrix's rows as JSON. */
static void reply_presence_page(req *r, const extraction *x, long limit, long offset) {
    float *X;
    int64_t *ids;
    int n, d;
    char **words;
    err e = {0};
    if (extraction_presence_load(r->app, x->id, &X, &ids, &n, &d, &words, NULL, NULL, &e)) {
        reply_err(r, &e);
        return;
    }
    json_t *items = json_array(), *jw = json_array();
    for (int j = 0; j < d; j++) json_array_append_new(jw, json_string(words[j]));
    for (long i = offset; i < n && i < offset + limit; i++) {
        json_t *row = json_array();
        for (int j = 0; j < d; j++) json_array_append_new(row, json_real(X[(size_t)i * d + j]));
        json_array_append_new(items, json_pack("{s:I,s:o}", "image_id", (json_int_t)ids[i], "presence", row));
    }
    extraction_presence_free(X, ids, words, d);
    reply_json(r, 200, json_pack("{s:o,s:o,s:i,s:i,s:i}", "words", jw, "items", items, "total", n, "limit", (int)limit,
                                 "offset", (int)offset));
}

void route_extractions_presence(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    const char *format = req_query(r, "format");
    long limit, offset;
    if (format && strcmp(format, "json") && strcmp(format, "f32") && strcmp(format, "ids"))
        reply_error(r, 400, "bad_request", "format must be json, f32 or ids");
    else if (format && strcmp(format, "json"))
        reply_presence_blob(r, &x, format);
    else if (req_query_int_or_reply(r, "limit", 1, 1000, 100, &limit) &&
             req_query_int_or_reply(r, "offset", 0, 1L << 40, 0, &offset))
        reply_presence_page(r, &x, limit, offset);
    extraction_free(&x);
}

/* Image row of path parameter 1 (an image id) or reply 404. */
static long image_row_or_reply(req *r, const extraction *x, int64_t **ids) {
    char *end;
    long long image_id = strtoll(r->params[1], &end, 10);
    err e = {0};
    if (*end || image_id < 1) {
        reply_error(r, 404, "not_found", "no image '%s'", r->params[1]);
        return -1;
    }
    if (extraction_image_ids(r->app, x, ids, &e)) {
        reply_err(r, &e);
        return -1;
    }
    long row = extraction_image_index(*ids, x->n, image_id);
    if (row < 0) {
        free(*ids), *ids = NULL;
        reply_error(r, 404, "not_found", "image %lld is not in extraction %lld", image_id, (long long)x->id);
    }
    return row;
}

void route_extraction_image_presence(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    int64_t *ids = NULL;
    long row = image_row_or_reply(r, &x, &ids);
    if (row >= 0) {
        err e = {0};
        float *v = malloc((size_t)x.d * sizeof *v + 1); // (d)
        if (v && blobstore_verify_cached(r->app->cfg.data_dir, x.presence_sha, &e))
            reply_err(r, &e);
        else if (!v || extraction_presence_row(r->app, &x, row, v, &e))
            reply_error(r, 500, "io", "cannot read the presence matrix of extraction %lld", (long long)x.id);
        else
            reply_json(r, 200, extraction_image_presence_json(&x, ids[row], v));
        free(v);
    }
    free(ids);
    extraction_free(&x);
}

void route_extraction_image_segments(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    int64_t *ids = NULL;
    long row = image_row_or_reply(r, &x, &ids);
    if (row >= 0) {
        err e = {0};
        json_t *j = extraction_image_segments_json(r->app, &x, row, ids[row], &e);
        reply_json_or_err(r, 200, j, &e);
    }
    free(ids);
    extraction_free(&x);
}

/* Column of the concept named by path parameter 1 (normalised) or reply 404. */
static int concept_or_reply(req *r, const extraction *x) {
    char word[4 * CONCEPT_WORD_MAX + 8];
    size_t L = strlen(r->params[1]);
    int k = L + 1 > sizeof word ? -2 : concept_word_normalize(r->params[1], L, word, sizeof word);
    for (int j = 0; k > 0 && j < x->d; j++)
        if (!strcmp(x->words[j], word)) return j;
    reply_error(r, 404, "not_found", "'%s' is not a concept of extraction %lld", r->params[1], (long long)x->id);
    return -1;
}

/* The entries of gallery g (consumed) whose images are in `split`: new JSON, or NULL
 * with e set (422 for a split the dataset does not have). */
static json_t *gallery_of_split(app *a, const extraction *x, json_t *g, const char *split, err *e) {
    int64_t *split_ids = NULL;
    size_t n = 0;
    json_t *kept = NULL;
    if (!dataset_store_split_ids(a, x->dataset_id, split, &split_ids, &n, e)) {
        if (!n)
            err_set(e, ERR_UNPROCESSABLE, "query parameter 'split': no split '%s'", split);
        else if (!(kept = extraction_gallery_in_split(g, split_ids, n)))
            err_set(e, ERR_INTERNAL, "out of memory");
    }
    json_decref(g);
    free(split_ids);
    return kept;
}

void route_extraction_gallery(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    long limit, offset;
    int col = concept_or_reply(r, &x);
    if (col < 0 || !req_query_int_or_reply(r, "limit", 1, GALLERY_PAGE_MAX, 24, &limit) ||
        !req_query_int_or_reply(r, "offset", 0, EXTRACTION_TOP_K, 0, &offset)) {
        extraction_free(&x);
        return;
    }
    /* split=: only the gallery's images in that split (the views follow one split). */
    const char *split = req_query(r, "split");
    if (split && !dataset_split_valid(split)) {
        reply_error(r, 422, "unprocessable", "query parameter 'split' must be 1..32 characters of [a-z0-9_-]");
        extraction_free(&x);
        return;
    }
    err e = {0};
    int64_t *ids = NULL;
    json_t *items = NULL, *g = extraction_gallery_json(r->app, x.id, x.words[col], &e);
    if (g && split) g = gallery_of_split(r->app, &x, g, split, &e);
    if (!g || extraction_image_ids(r->app, &x, &ids, &e) ||
        !(items = extraction_gallery_items_json(r->app, &x, g, ids, offset, limit, &e)))
        reply_err(r, &e);
    else {
        json_t *page = json_pack("{s:I,s:s,s:o,s:I,s:i,s:i}", "extraction_id", (json_int_t)x.id, "word", x.words[col],
                                 "items", items, "total", (json_int_t)json_array_size(g), "limit", (int)limit,
                                 "offset", (int)offset);
        if (split) json_object_set_new(page, "split", json_string(split));
        reply_json(r, 200, page);
    }
    json_decref(g);
    free(ids);
    extraction_free(&x);
}
