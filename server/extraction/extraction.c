/* extraction.c — the "concepts.extract" job, keeping presence current when a corpus
 * changes, and reading an extraction back.
 *
 * The job: (1) embed the corpus words (concepts.c; unknown words, over-long texts and
 * a text side of the wrong size fail here, before any image is read); (2) per chunk
 * of EXTRACTION_CHUNK images in id order, reuse a stored segment blob for exactly that
 * image range or decode + preprocess + encode + segment the images and store one
 * (an image that fails to read is recorded and gets no segments); (3) presence_run
 * chunk by chunk into the (N, d) matrix and the galleries; (4) store the matrix and
 * ids as blobs and mark the row ready. Cancel stops between batches; chunks stored
 * so far are kept, so running again resumes.
 */
#include "extraction/extraction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blobstore.h"
#include "concepts/concepts.h"
#include "db_json.h"
#include "models/model_registry.h"
#include "extraction/presence.h"
#include "teacher/teacher.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- images -> segments ----------------------------------------------------- */

int extraction_encoder_init(extraction_encoder *enc, const model_manifest *mf, shim_model *model, int expect_dim,
                            err *e) {
    memset(enc, 0, sizeof *enc);
    enc->mf = mf;
    enc->model = model;
    enc->expect_dim = expect_dim > 0 ? expect_dim : mf->embedding_dim;
    const size_t plane = (size_t)mf->height * mf->width;
    if (mf->encoder == MODEL_ENCODER_GLOBAL) {
        if (mf->channels != 3)
            return err_set(e, ERR_UNPROCESSABLE, "manifest.input.channels: %d; crops of a global model need 3 (RGB)",
                           mf->channels);
        enc->batch = EXTRACTION_BATCH_GLOBAL;
        enc->per = SEGMENTS_GLOBAL_COUNT * 3 * plane;
    } else if (mf->encoder == MODEL_ENCODER_DENSE) {
        enc->batch = EXTRACTION_BATCH_DENSE;
        enc->per = (size_t)mf->channels * plane;
    } else {
        return err_set(e, ERR_UNPROCESSABLE, "the model is not a concept model");
    }
    enc->scratch = malloc(3 * plane * sizeof(float));
    if (!enc->scratch) {
        extraction_encoder_free(enc);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (extraction_encoder_set_batch(enc, enc->batch, e)) {
        extraction_encoder_free(enc);
        return -1;
    }
    return 0;
}

int extraction_encoder_set_batch(extraction_encoder *enc, int batch, err *e) {
    if (batch < 1 || batch > 1024) return err_set(e, ERR_BAD_REQUEST, "extraction: batch %d not in 1..1024", batch);
    char eb[320];
    shim_tensor *xt = shim_tensor_new((size_t)batch * enc->per, eb, sizeof eb); // (batch, per)
    if (!xt) return err_set(e, ERR_INTERNAL, "extraction input buffer: %s", eb);
    shim_tensor_free(enc->xt);
    enc->xt = xt;
    enc->x = shim_tensor_data(xt);
    enc->batch = batch;
    return 0;
}

void extraction_encoder_free(extraction_encoder *enc) {
    if (!enc) return;
    shim_tensor_free(enc->xt);
    free(enc->scratch);
    segments_ctx_free(&enc->sctx);
    memset(enc, 0, sizeof *enc);
}

static int shape_str(const shim_output *o, char *buf, size_t len) {
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < o->ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)o->shape[i]);
    if (at < len) snprintf(buf + at, len - at, ")");
    return 0;
}

/* Non-NULL stand-ins for an image with no segments (the store copies 0 bytes from them). */
static const float no_emb[1];
static const segment_box no_box[1];

static int flush_pending(extraction_encoder *enc, segment_store *st, err *e) {
    const size_t hw = (size_t)st->h * st->w;
    uint8_t *zeros = calloc(hw + 1, 1);
    if (!zeros) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = 0;
    for (; enc->pending_empty > 0 && !rc; enc->pending_empty--) rc = segment_store_add_labels(st, 0, no_emb, zeros, e);
    free(zeros);
    return rc;
}

int extraction_encode(extraction_encoder *enc, const image_rgb *imgs, int n, segment_store *st, err *e) {
    const model_manifest *mf = enc->mf;
    const int global = mf->encoder == MODEL_ENCODER_GLOBAL;
    if (n < 1 || n > enc->batch) return err_set(e, ERR_INTERNAL, "extraction: bad batch size %d", n);
    if (global && !st->dim && segment_store_init(st, SEGMENT_STORE_BOXES, enc->expect_dim, 0, 0, e)) return -1;
    if (!enc->x) return err_set(e, ERR_INTERNAL, "extraction: out of memory (input buffer)");
    int valid = 0;
    for (int i = 0; i < n; i++) {
        if (!imgs[i].pixels) continue;
        float *slot = enc->x + (size_t)valid * enc->per;
        if (global ? segments_global_batch(&imgs[i], mf->width, mf->height, mf->mean, mf->std, slot, enc->per, e)
                   : teacher_preprocess(mf, &imgs[i], slot, enc->scratch, e))
            return -1;
        valid++;
    }
    shim_output out = {0};
    if (valid > 0) {
        const int64_t rows = global ? (int64_t)valid * SEGMENTS_GLOBAL_COUNT : valid;
        const int64_t in_shape[4] = {rows, mf->channels, mf->height, mf->width};
        char eb[320], shape[96];
        /* the batch is run where it was written (no copy); its memory may change */
        int bad = shim_model_run_tensor(enc->model, mf->method_image, enc->xt, 4, in_shape, &out, eb, sizeof eb);
        enc->x = shim_tensor_data(enc->xt);
        if (bad) return err_set(e, ERR_TORCH, "image method '%s' failed: %s", mf->method_image, eb);
        shape_str(&out, shape, sizeof shape);
        /* global: (rows, D); dense: (valid, D, h, w) */
        int ok = global ? out.ndim == 2 && out.shape[0] == rows
                        : out.ndim == 4 && out.shape[0] == rows && out.shape[2] > 0 && out.shape[3] > 0 &&
                              out.shape[2] * out.shape[3] <= 65536;
        if (!ok) {
            shim_free_output(&out);
            return err_set(e, ERR_UNPROCESSABLE, "image method '%s' returned %s for %lld inputs; a %s model gives %s",
                           mf->method_image, shape, (long long)rows, global ? "global" : "dense",
                           global ? "(N, D)" : "(N, D, h, w)");
        }
        if (out.shape[1] != enc->expect_dim) {
            shim_free_output(&out);
            return err_set(e, ERR_UNPROCESSABLE,
                           "the concept model's image side gives %s-sized embeddings (%s) but its text side gives %d: "
                           "they must live in one space",
                           mf->method_image, shape, enc->expect_dim);
        }
    }
    const int D = enc->expect_dim;
    int rc = 0;
    if (global) {
        segment_box boxes[SEGMENTS_GLOBAL_COUNT];
        segments_global_boxes(boxes);
        if (valid) segments_normalize_rows(out.data, (size_t)valid * SEGMENTS_GLOBAL_COUNT, D);
        for (int i = 0, v = 0; i < n && !rc; i++) {
            if (!imgs[i].pixels) {
                rc = segment_store_add_boxes(st, 0, no_emb, no_box, e);
                continue;
            }
            rc = segment_store_add_boxes(st, SEGMENTS_GLOBAL_COUNT, out.data + (size_t)v * SEGMENTS_GLOBAL_COUNT * D,
                                         boxes, e);
            v++;
        }
    } else {
        const int h = valid ? (int)out.shape[2] : 0, w = valid ? (int)out.shape[3] : 0;
        if (valid && !st->dim) {
            if (segment_store_init(st, SEGMENT_STORE_LABELS, D, h, w, e) || flush_pending(enc, st, e)) rc = -1;
        }
        if (!rc && valid && (st->h != h || st->w != w)) /* one model, one grid */
            rc = err_set(e, ERR_UNPROCESSABLE, "image method '%s' changed its grid from %dx%d to %dx%d",
                         mf->method_image, st->h, st->w, h, w);
        if (!rc && valid && (!enc->sctx_ready || enc->sctx.h != h || enc->sctx.w != w)) {
            segments_ctx_free(&enc->sctx);
            rc = segments_ctx_init(&enc->sctx, D, h, w, e);
            enc->sctx_ready = !rc;
        }
        for (int i = 0, v = 0; i < n && !rc; i++) {
            if (!imgs[i].pixels) {
                if (!st->dim) enc->pending_empty++;
                else enc->pending_empty = 1, rc = flush_pending(enc, st, e);
                continue;
            }
            segments_result r = {0};
            rc = segments_dense(&enc->sctx, out.data + (size_t)v * D * h * w, NULL, &r, e) ||
                 segment_store_add_result(st, &r, e);
            segments_result_free(&r);
            v++;
        }
    }
    shim_free_output(&out);
    return rc ? -1 : 0;
}

int extraction_encode_finish(extraction_encoder *enc, segment_store *st, err *e) {
    if (!st->dim) {
        /* every image of the chunk failed: an empty 1x1 grid still records them */
        if (segment_store_init(st, enc->mf->encoder == MODEL_ENCODER_GLOBAL ? SEGMENT_STORE_BOXES : SEGMENT_STORE_LABELS,
                               enc->expect_dim, 1, 1, e))
            return -1;
    }
    if (st->kind == SEGMENT_STORE_BOXES) {
        for (; enc->pending_empty > 0; enc->pending_empty--)
            if (segment_store_add_boxes(st, 0, no_emb, no_box, e)) return -1;
        return 0;
    }
    return flush_pending(enc, st, e);
}

/* ---- rows ------------------------------------------------------------------- */

void extraction_free(extraction *x) {
    if (!x) return;
    for (int i = 0; x->words && i < x->d; i++) free(x->words[i]);
    free(x->words);
    free(x->chunks);
    free(x->chunk_sizes);
    memset(x, 0, sizeof *x);
}

int extraction_load(app *a, int64_t id, extraction *x, err *e) {
    memset(x, 0, sizeof *x);
    char ids[24], what[48];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(what, sizeof what, "no extraction %lld", (long long)id);
    const char *p[] = {ids};
    json_t *j = db_json(a, what,
                        "SELECT json_build_object('dataset_id', x.dataset_id, 'model_id', x.concept_model_id,"
                        " 'corpus_id', x.corpus_id, 'corpus_version', x.corpus_version, 'current', c.version,"
                        " 'state', x.state, 'encoder', x.encoder, 'n', x.n_images, 'dim', x.embedding_dim,"
                        " 'words', to_json(x.words), 'presence', x.presence_sha256, 'ids', x.image_ids_sha256,"
                        " 'chunks', to_json(x.chunks), 'sizes', to_json(x.chunk_sizes))::text"
                        " FROM extractions x JOIN corpora c ON c.id = x.corpus_id WHERE x.id = $1",
                        1, p, e);
    if (!j) return -1;
    x->id = id;
    x->dataset_id = json_integer_value(json_object_get(j, "dataset_id"));
    x->model_id = json_integer_value(json_object_get(j, "model_id"));
    x->corpus_id = json_integer_value(json_object_get(j, "corpus_id"));
    x->corpus_version = (int)json_integer_value(json_object_get(j, "corpus_version"));
    x->corpus_current_version = (int)json_integer_value(json_object_get(j, "current"));
    x->n = (int)json_integer_value(json_object_get(j, "n"));
    x->dim = (int)json_integer_value(json_object_get(j, "dim"));
    const char *s;
    snprintf(x->state, sizeof x->state, "%s", (s = json_string_value(json_object_get(j, "state"))) ? s : "");
    snprintf(x->encoder, sizeof x->encoder, "%s", (s = json_string_value(json_object_get(j, "encoder"))) ? s : "");
    snprintf(x->presence_sha, sizeof x->presence_sha, "%s", (s = json_string_value(json_object_get(j, "presence"))) ? s : "");
    snprintf(x->ids_sha, sizeof x->ids_sha, "%s", (s = json_string_value(json_object_get(j, "ids"))) ? s : "");
    json_t *w = json_object_get(j, "words"), *ch = json_object_get(j, "chunks"), *sz = json_object_get(j, "sizes");
    x->d = (int)json_array_size(w);
    x->n_chunks = json_array_size(ch);
    x->words = calloc((size_t)x->d + 1, sizeof *x->words);
    x->chunks = calloc(x->n_chunks + 1, sizeof *x->chunks);
    x->chunk_sizes = calloc(x->n_chunks + 1, sizeof *x->chunk_sizes);
    int rc = x->words && x->chunks && x->chunk_sizes ? 0 : -1;
    for (int i = 0; !rc && i < x->d; i++)
        if (!(x->words[i] = strdup(json_string_value(json_array_get(w, i)) ?: ""))) rc = -1;
    for (size_t i = 0; !rc && i < x->n_chunks; i++) {
        snprintf(x->chunks[i], 65, "%s", json_string_value(json_array_get(ch, i)) ?: "");
        x->chunk_sizes[i] = (int)json_integer_value(json_array_get(sz, i));
    }
    json_decref(j);
    if (rc) {
        extraction_free(x);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

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

int extraction_upsert(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t user_id, int64_t job_id,
                      int64_t *id, err *e) {
    char ds[24], mo[24], co[24], us[24], jb[24];
    snprintf(ds, sizeof ds, "%lld", (long long)dataset_id);
    snprintf(mo, sizeof mo, "%lld", (long long)model_id);
    snprintf(co, sizeof co, "%lld", (long long)corpus_id);
    snprintf(us, sizeof us, "%lld", (long long)user_id);
    snprintf(jb, sizeof jb, "%lld", (long long)job_id);
    const char *p[] = {ds, mo, co, user_id > 0 ? us : NULL, job_id > 0 ? jb : NULL};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c,
                          "INSERT INTO extractions (dataset_id, concept_model_id, corpus_id, created_by, job_id)"
                          " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dataset_id, concept_model_id, corpus_id) DO UPDATE"
                          " SET state = 'queued', error = NULL, job_id = EXCLUDED.job_id, updated_at = now() RETURNING id",
                          5, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* A corpus's words in order and its version. */
static int corpus_words(app *a, int64_t corpus_id, char ***words, size_t *n, int *version, err *e) {
    char ids[24], what[40];
    snprintf(ids, sizeof ids, "%lld", (long long)corpus_id);
    snprintf(what, sizeof what, "no corpus %lld", (long long)corpus_id);
    const char *p[] = {ids};
    json_t *j = db_json(a, what,
                        "SELECT json_build_object('v', c.version, 'w', (SELECT coalesce(json_agg(word ORDER BY position),"
                        " '[]') FROM corpus_words WHERE corpus_id = c.id))::text FROM corpora c WHERE c.id = $1",
                        1, p, e);
    if (!j) return -1;
    json_t *w = json_object_get(j, "w");
    *version = (int)json_integer_value(json_object_get(j, "v"));
    *n = json_array_size(w);
    *words = calloc(*n + 1, sizeof **words);
    int rc = *words ? 0 : -1;
    for (size_t i = 0; !rc && i < *n; i++)
        if (!((*words)[i] = strdup(json_string_value(json_array_get(w, i)) ?: ""))) rc = -1;
    json_decref(j);
    if (rc) {
        for (size_t i = 0; *words && i < *n; i++) free((*words)[i]);
        free(*words);
        *words = NULL;
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

static void words_free(char **w, size_t n) {
    for (size_t i = 0; w && i < n; i++) free(w[i]);
    free(w);
}

/* ---- presence storage -------------------------------------------------------- */

/* Gallery JSON [[image_id, segment, score], ...] from hits with image rows. */
static json_t *gallery_json(const presence_hit *h, int count, const int64_t *ids) {
    json_t *g = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(g, json_pack("[I,i,f]", (json_int_t)ids[h[i].image],
                                           (int)h[i].segment, (double)h[i].score));
    return g;
}

/* ---- the job ------------------------------------------------------------------ */

static int param_id(const json_t *params, const char *field, int64_t *out, err *e) {
    json_t *v = json_object_get(params, field);
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return err_set(e, ERR_UNPROCESSABLE, "params.%s: expected a positive integer id", field);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* The stored chunk for this exact image range, if any: its sha in sha_out and its
 * failures (new JSON) in *failures. 1 found, 0 not, -1 error. */
static int chunk_lookup(app *a, int64_t ds, int64_t model, int64_t first, int64_t last, int n, char sha_out[65],
                        json_t **failures, err *e) {
    char p1[24], p2[24], p3[24], p4[24], p5[16];
    snprintf(p1, sizeof p1, "%lld", (long long)ds);
    snprintf(p2, sizeof p2, "%lld", (long long)model);
    snprintf(p3, sizeof p3, "%lld", (long long)first);
    snprintf(p4, sizeof p4, "%lld", (long long)last);
    snprintf(p5, sizeof p5, "%d", n);
    const char *p[] = {p1, p2, p3, p4, p5};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, "SELECT sha256, failures::text FROM segment_chunks WHERE dataset_id = $1 AND model_id = $2"
                             " AND first_image_id = $3 AND last_image_id = $4 AND n = $5", 5, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    int found = 0;
    err ve = {0};
    /* A damaged chunk (checksum, logged) is not reused: recomputing it rewrites the file. */
    if (PQntuples(r) == 1 && !blobstore_verify(a->cfg.data_dir, PQgetvalue(r, 0, 0), &ve)) {
        snprintf(sha_out, 65, "%s", PQgetvalue(r, 0, 0));
        *failures = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
        found = *failures != NULL;
    }
    PQclear(r);
    return found;
}

static int chunk_store(app *a, int64_t ds, int64_t model, int64_t first, int64_t last, int n, size_t segs,
                       const char *sha, const json_t *failures, err *e) {
    char p1[24], p2[24], p3[24], p4[24], p5[16], p6[24];
    snprintf(p1, sizeof p1, "%lld", (long long)ds);
    snprintf(p2, sizeof p2, "%lld", (long long)model);
    snprintf(p3, sizeof p3, "%lld", (long long)first);
    snprintf(p4, sizeof p4, "%lld", (long long)last);
    snprintf(p5, sizeof p5, "%d", n);
    snprintf(p6, sizeof p6, "%zu", segs);
    char *f = json_dumps(failures, JSON_COMPACT);
    if (!f) return err_set(e, ERR_INTERNAL, "out of memory");
    const char *p[] = {p1, p2, p3, p4, p5, p6, sha, f};
    PGconn *c = db_acquire(a->db, e);
    int rc = -1;
    if (c) {
        rc = db_run(c, "INSERT INTO segment_chunks (dataset_id, model_id, first_image_id, last_image_id, n, segments,"
                       " sha256, failures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)"
                       " ON CONFLICT (dataset_id, model_id, first_image_id, last_image_id, n) DO UPDATE"
                       " SET segments = EXCLUDED.segments, sha256 = EXCLUDED.sha256, failures = EXCLUDED.failures",
                    8, p, e);
        db_release(a->db, c);
    }
    free(f);
    return rc;
}

/* Read, decode and segment images rows [lo, lo+n) of d into a stored chunk. */
static int chunk_compute(job_ctx *ctx, extraction_encoder *enc, const teacher_dataset *d, size_t lo, int n,
                         size_t *done, char sha_out[65], json_t *failures, size_t *segs, err *e) {
    app *a = job_app(ctx);
    segment_store st = {0};
    image_rgb imgs[EXTRACTION_BATCH_DENSE > EXTRACTION_BATCH_GLOBAL ? EXTRACTION_BATCH_DENSE : EXTRACTION_BATCH_GLOBAL];
    int rc = -1;
    for (int at = 0; at < n; at += enc->batch) {
        int b = n - at < enc->batch ? n - at : enc->batch;
        if (job_progress(ctx, (double)*done / d->n, e, "segments: %zu of %zu images", *done, d->n)) goto done;
        memset(imgs, 0, sizeof imgs);
        for (int i = 0; i < b; i++) {
            size_t row = lo + (size_t)at + (size_t)i;
            uint8_t *buf;
            size_t len;
            err ie = {0};
            if (!blobstore_read(a->cfg.data_dir, d->shas[row], &buf, &len, &ie)) {
                if (jpeg_decode(buf, len, &imgs[i], &ie)) imgs[i].pixels = NULL; /* reported below */
                free(buf);
            }
            if (!imgs[i].pixels) /* reported and skipped: the image gets no segments */
                json_array_append_new(failures, json_pack("{s:I,s:s}", "image_id", (json_int_t)d->ids[row], "reason",
                                                          ie.msg[0] ? ie.msg : "unreadable"));
        }
        int bad = extraction_encode(enc, imgs, b, &st, e);
        for (int i = 0; i < b; i++) image_free(&imgs[i]);
        if (bad) goto done;
        *done += (size_t)b;
    }
    if (extraction_encode_finish(enc, &st, e) || segment_store_put(&st, a->cfg.data_dir, sha_out, e)) goto done;
    *segs = st.s_total;
    rc = 0;
done:
    segment_store_free(&st);
    return rc;
}

/* Presence of every chunk's segments against concepts (d, D): fills X (N, d) and the
 * galleries object {word: [...]}. */
static int presence_all(app *a, const extraction *x, const int64_t *ids, const float *concepts, float *X,
                        json_t **galleries, int *segments, err *e) {
    presence p = {0};
    presence_hit *hits = NULL;
    if (presence_init(&p, x->dim, x->d, EXTRACTION_TOP_K, 0, e)) return -1;
    int rc = -1;
    long base = 0;
    *segments = 0;
    for (size_t c = 0; c < x->n_chunks; c++) {
        segment_store st;
        if (segment_store_load(&st, a->cfg.data_dir, x->chunks[c], e)) goto done;
        if (st.dim != x->dim || st.n != x->chunk_sizes[c]) {
            segment_store_free(&st);
            err_set(e, ERR_IO, "segment blob %s does not match its extraction", x->chunks[c]);
            goto done;
        }
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
        json_object_set_new(*galleries, x->words[j], gallery_json(hits, count, ids));
    }
    rc = 0;
done:
    if (rc) json_decref(*galleries), *galleries = NULL;
    free(hits);
    presence_free(&p);
    return rc;
}

/* The column hashes of X (N, d) under the image ids blob ids_sha as a text[] literal
 * (db_text_array), new; NULL with e set. */
static char *column_hashes_array(const float *X, size_t n, size_t d, const char *ids_sha, err *e) {
    char (*h)[65] = malloc((d + 1) * sizeof *h); // (d)
    char **names = malloc((d + 1) * sizeof *names);
    char *arr = NULL;
    if (!h || !names) {
        err_set(e, ERR_INTERNAL, "out of memory");
    } else if (!presence_column_hashes(X, n, d, ids_sha, h, e)) {
        for (size_t j = 0; j < d; j++) names[j] = h[j];
        if (!(arr = db_text_array(names, d))) err_set(e, ERR_INTERNAL, "out of memory");
    }
    free(h);
    free(names);
    return arr;
}

/* Store X as the presence of x's words at x's corpus version, only if the row still
 * has expect_sha at expect_version (a concurrent change wins): 1 when it did not. */
static int presence_commit(app *a, const extraction *x, const float *X, const json_t *galleries, const char *expect_sha,
                           int expect_version, err *e) {
    char sha[65];
    if (blobstore_put(a->cfg.data_dir, X, (size_t)x->n * x->d * sizeof(float), sha, e)) return -1;
    char *words = db_text_array(x->words, (size_t)x->d), *gal = json_dumps(galleries, JSON_COMPACT);
    char *cols = column_hashes_array(X, (size_t)x->n, (size_t)x->d, x->ids_sha, e);
    char id[24], ver[16], d[16], ev[16];
    snprintf(id, sizeof id, "%lld", (long long)x->id);
    snprintf(ver, sizeof ver, "%d", x->corpus_version);
    snprintf(d, sizeof d, "%d", x->d);
    snprintf(ev, sizeof ev, "%d", expect_version);
    int rc = -1;
    if (!cols) {
        /* e says why */
    } else if (!words || !gal) {
        err_set(e, ERR_INTERNAL, "out of memory");
    } else {
        const char *p[] = {id, sha, words, ver, d, gal, expect_sha, ev, cols};
        PGconn *c = db_acquire(a->db, e);
        PGresult *r = c ? db_exec(c,
                                  "UPDATE extractions SET presence_sha256 = $2, words = $3::text[], corpus_version = $4,"
                                  " d = $5, galleries = $6::jsonb, column_sha256 = $9::text[], column_sha256_of = $2,"
                                  " updated_at = now() WHERE id = $1 AND state = 'ready'"
                                  " AND presence_sha256 = $7 AND corpus_version = $8::int",
                                  9, p, e)
                        : NULL;
        if (c) db_release(a->db, c);
        if (r) rc = atoi(PQcmdTuples(r)) == 1 ? 0 : 1;
        PQclear(r);
    }
    free(words);
    free(gal);
    free(cols);
    return rc;
}

static int set_failed(app *a, int64_t id, const char *msg) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids, msg};
    err e = {0};
    PGconn *c = db_acquire(a->db, &e);
    if (!c) return -1;
    int rc = db_run(c, "UPDATE extractions SET state = 'failed', error = $2, updated_at = now() WHERE id = $1", 2, p, &e);
    db_release(a->db, c);
    return rc;
}

int extraction_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    app *a = job_app(ctx);
    int64_t ds_id, model_id, corpus_id, xid = 0;
    if (param_id(params, "dataset_id", &ds_id, e) || param_id(params, "concept_model_id", &model_id, e) ||
        param_id(params, "corpus_id", &corpus_id, e))
        return -1;
    teacher_dataset d = {0};
    model_ref *m = NULL;
    extraction x = {0};
    extraction_encoder enc = {0};
    float *concepts = NULL, *X = NULL;
    char **words = NULL;
    size_t n_words = 0;
    json_t *failures = json_array(), *galleries = NULL;
    int rc = -1, version = 0, reused = 0, computed = 0, segments = 0;
    double t0 = now_s();
    if (extraction_upsert(a, ds_id, model_id, corpus_id, 0, job_id(ctx), &xid, e)) goto done;
    {
        char ids[24];
        snprintf(ids, sizeof ids, "%lld", (long long)xid);
        const char *p[] = {ids};
        PGconn *c = db_acquire(a->db, e);
        if (!c) goto done;
        int bad = db_run(c, "UPDATE extractions SET state = 'running', updated_at = now() WHERE id = $1", 1, p, e);
        db_release(a->db, c);
        if (bad) goto done;
    }
    if (teacher_dataset_load(a, ds_id, &d, e) || !(m = model_registry_acquire(a, model_id, e)) ||
        corpus_words(a, corpus_id, &words, &n_words, &version, e))
        goto done;
    if (d.n == 0) {
        err_set(e, ERR_UNPROCESSABLE, "dataset '%s' has no images", d.name);
        goto done;
    }
    if (m->mf.kind != MODEL_KIND_CONCEPT) {
        err_set(e, ERR_UNPROCESSABLE, "params.concept_model_id: model %lld is a teacher, not a concept model",
                (long long)model_id);
        goto done;
    }
    /* Words first: a bad word fails in a second, not after the image pass. */
    int D;
    if (job_progress(ctx, 0, e, "embedding %zu concept words", n_words) ||
        concept_embed_words(a, m, words, n_words, &concepts, &D, e) ||
        extraction_encoder_init(&enc, &m->mf, m->model, D, e))
        goto done;

    /* Segments, chunk by chunk. */
    x.id = xid, x.dataset_id = ds_id, x.model_id = model_id, x.corpus_id = corpus_id;
    x.n = (int)d.n, x.dim = D, x.d = (int)n_words, x.words = words, x.corpus_version = version;
    x.n_chunks = (d.n + EXTRACTION_CHUNK - 1) / EXTRACTION_CHUNK;
    x.chunks = calloc(x.n_chunks, sizeof *x.chunks);
    x.chunk_sizes = calloc(x.n_chunks, sizeof *x.chunk_sizes);
    if (!x.chunks || !x.chunk_sizes || !failures) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    size_t done_images = 0;
    for (size_t c = 0; c < x.n_chunks; c++) {
        size_t lo = c * EXTRACTION_CHUNK;
        int n = (int)(d.n - lo < EXTRACTION_CHUNK ? d.n - lo : EXTRACTION_CHUNK);
        x.chunk_sizes[c] = n;
        json_t *f = NULL;
        int found = chunk_lookup(a, ds_id, model_id, d.ids[lo], d.ids[lo + n - 1], n, x.chunks[c], &f, e);
        if (found < 0) goto done;
        if (found) {
            reused++;
            done_images += (size_t)n;
            json_array_extend(failures, f);
            json_decref(f);
            continue;
        }
        json_t *cf = json_array();
        size_t segs = 0;
        if (!cf || chunk_compute(ctx, &enc, &d, lo, n, &done_images, x.chunks[c], cf, &segs, e) ||
            chunk_store(a, ds_id, model_id, d.ids[lo], d.ids[lo + n - 1], n, segs, x.chunks[c], cf, e)) {
            json_decref(cf);
            goto done;
        }
        computed++;
        json_array_extend(failures, cf);
        json_decref(cf);
    }

    /* Presence: one SGEMM per chunk. */
    if (job_progress(ctx, 1.0, e, "presence of %zu concepts in %zu images", n_words, d.n)) goto done;
    X = calloc((size_t)x.n * x.d + 1, sizeof *X); // (N, d)
    if (!X) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (presence_all(a, &x, d.ids, concepts, X, &galleries, &segments, e)) goto done;
    {
        char ids_sha[65], x_sha[65], ids[24], n[16], dim[16], ver[16], dd[16];
        if (blobstore_put(a->cfg.data_dir, d.ids, d.n * sizeof(int64_t), ids_sha, e) ||
            blobstore_put(a->cfg.data_dir, X, (size_t)x.n * x.d * sizeof(float), x_sha, e))
            goto done;
        size_t L = x.n_chunks * 66 + 3, sl = x.n_chunks * 12 + 3;
        char *chunks = malloc(L), *sizes = malloc(sl), *fj = json_dumps(failures, JSON_COMPACT);
        char *wl = db_text_array(words, n_words), *gj = json_dumps(galleries, JSON_COMPACT);
        char *cols = column_hashes_array(X, (size_t)x.n, (size_t)x.d, ids_sha, e);
        if (!chunks || !sizes || !fj || !wl || !gj || !cols) {
            free(chunks), free(sizes), free(fj), free(wl), free(gj);
            if (cols) err_set(e, ERR_INTERNAL, "out of memory");
            free(cols);
            goto done;
        }
        size_t at = 0, st = 0;
        chunks[at++] = '{', sizes[st++] = '{';
        for (size_t c = 0; c < x.n_chunks; c++) {
            at += (size_t)snprintf(chunks + at, L - at, "%s%s", c ? "," : "", x.chunks[c]);
            st += (size_t)snprintf(sizes + st, sl - st, "%s%d", c ? "," : "", x.chunk_sizes[c]);
        }
        snprintf(chunks + at, L - at, "}");
        snprintf(sizes + st, sl - st, "}");
        snprintf(ver, sizeof ver, "%d", version);
        snprintf(dd, sizeof dd, "%zu", n_words);
        snprintf(ids, sizeof ids, "%lld", (long long)xid);
        snprintf(n, sizeof n, "%d", x.n);
        snprintf(dim, sizeof dim, "%d", D);
        const char *p[] = {ids, m->mf.encoder == MODEL_ENCODER_DENSE ? "dense" : "global", n, dim, ids_sha, chunks, sizes,
                           fj, x_sha, wl, ver, dd, gj, cols};
        PGconn *c = db_acquire(a->db, e);
        int bad = !c || db_begin(c, e) ||
                  db_run(c, "UPDATE extractions SET state = 'ready', error = NULL, encoder = $2, n_images = $3,"
                            " embedding_dim = $4, image_ids_sha256 = $5, chunks = $6::text[], chunk_sizes = $7::int[],"
                            " n_failed = jsonb_array_length($8::jsonb), presence_sha256 = $9, words = $10::text[],"
                            " corpus_version = $11, d = $12, galleries = $13::jsonb, column_sha256 = $14::text[],"
                            " column_sha256_of = $9, updated_at = now() WHERE id = $1",
                            14, p, e) ||
                  db_run(c, "DELETE FROM extraction_failures WHERE extraction_id = $1", 1, p, e) ||
                  db_run(c, "INSERT INTO extraction_failures (extraction_id, image_id, reason) SELECT $1,"
                            " (f->>'image_id')::bigint, f->>'reason' FROM jsonb_array_elements($2::jsonb) f"
                            " ON CONFLICT DO NOTHING", 2, (const char *[]){ids, fj}, e) ||
                  db_commit(c, e);
        if (bad && c) db_rollback(c);
        if (c) db_release(a->db, c);
        free(chunks), free(sizes), free(fj), free(wl), free(gj), free(cols);
        if (bad) goto done;
    }
    /* Words changed while this ran: bring the matrix to the corpus as it is now. */
    if (extraction_sync(a, xid, NULL, e)) goto done;
    double secs = now_s() - t0;
    *result = json_pack("{s:I,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f}", "extraction_id", (json_int_t)xid, "dataset_id",
                        (json_int_t)ds_id, "n_images", x.n, "d", x.d, "segments", segments, "failed",
                        (int)json_array_size(failures), "chunks_computed", computed, "chunks_reused", reused, "seconds",
                        secs, "images_per_s", secs > 0 ? x.n / secs : 0.0);
    rc = 0;
done:
    if (rc && xid) set_failed(a, xid, e->code == ERR_CANCELLED ? "cancelled" : e->msg);
    x.words = NULL, x.d = 0; /* owned by `words` */
    extraction_free(&x);
    extraction_encoder_free(&enc);
    words_free(words, n_words);
    free(concepts);
    free(X);
    json_decref(failures);
    json_decref(galleries);
    model_registry_release(m);
    teacher_dataset_free(&d);
    return rc;
}

/* ---- keeping presence current --------------------------------------------------- */

static int sync_once(app *a, int64_t id, int *changed, int *retry, err *e) {
    extraction x;
    if (extraction_load(a, id, &x, e)) return -1;
    char **words = NULL;
    size_t nw = 0;
    int version, rc = -1;
    float *old = NULL, *X = NULL, *concepts = NULL, *cols = NULL;
    int32_t *best = NULL;
    int64_t *ids = NULL;
    int *map = NULL;
    char **add = NULL;
    presence_hit *hits = NULL;
    json_t *gal = NULL, *old_gal = NULL;
    *retry = 0;
    if (strcmp(x.state, "ready") || corpus_words(a, x.corpus_id, &words, &nw, &version, e)) {
        rc = strcmp(x.state, "ready") ? 0 : -1;
        goto done;
    }
    if (version == x.corpus_version) {
        rc = 0;
        goto done;
    }
    if (nw == 0) {
        err_set(e, ERR_UNPROCESSABLE, "the corpus is empty: add at least one concept word");
        goto done;
    }
    size_t n_add = 0;
    map = malloc(nw * sizeof *map);
    add = calloc(nw, sizeof *add);
    if (!map || !add) goto oom;
    for (size_t j = 0; j < nw; j++) {
        map[j] = -1;
        for (int k = 0; k < x.d && map[j] < 0; k++)
            if (!strcmp(x.words[k], words[j])) map[j] = k;
        if (map[j] < 0) add[n_add++] = words[j];
    }
    if (n_add) {
        model_ref *m = model_registry_acquire(a, x.model_id, e);
        int D = 0, bad = !m || concept_embed_words(a, m, add, n_add, &concepts, &D, e);
        model_registry_release(m);
        if (bad) goto done;
        if (D != x.dim) {
            err_set(e, ERR_UNPROCESSABLE, "the concept model's text side gives %d-sized embeddings, its segments %d", D,
                    x.dim);
            goto done;
        }
    }
    /* Old matrix, new columns from the stored segments. */
    uint8_t *buf;
    size_t len;
    if (extraction_image_ids(a, &x, &ids, e) || blobstore_read(a->cfg.data_dir, x.presence_sha, &buf, &len, e)) goto done;
    old = (float *)buf;
    if (len != (size_t)x.n * x.d * sizeof(float)) {
        err_set(e, ERR_IO, "extraction %lld: presence blob has the wrong size", (long long)id);
        goto done;
    }
    cols = calloc(n_add * (size_t)x.n + 1, sizeof *cols);       // (n_add, N)
    best = malloc((n_add * (size_t)x.n + 1) * sizeof *best);    // (n_add, N)
    X = calloc((size_t)x.n * nw + 1, sizeof *X);                // (N, nw)
    hits = malloc(EXTRACTION_TOP_K * sizeof *hits);
    if (!cols || !best || !X || !hits) goto oom;
    long base = 0;
    for (size_t c = 0; n_add && c < x.n_chunks; c++) {
        segment_store st;
        if (segment_store_load(&st, a->cfg.data_dir, x.chunks[c], e)) goto done;
        int bad = st.dim != x.dim || st.n != x.chunk_sizes[c];
        if (bad) err_set(e, ERR_IO, "segment blob %s does not match its extraction", x.chunks[c]);
        for (size_t k = 0; k < n_add && !bad; k++)
            bad = presence_add_concept(st.emb, st.offsets, st.n, x.dim, concepts + k * x.dim, (int32_t)k,
                                       cols + k * x.n + base, best + k * x.n + base, NULL, NULL, e);
        base += st.n;
        segment_store_free(&st);
        if (bad) goto done;
    }
    /* Galleries: kept words keep theirs. */
    char ids_s[24];
    snprintf(ids_s, sizeof ids_s, "%lld", (long long)id);
    const char *p[] = {ids_s};
    if (!(old_gal = db_json(a, "extraction gone", "SELECT galleries::text FROM extractions WHERE id = $1", 1, p, e)))
        goto done;
    gal = json_object();
    for (size_t j = 0, k = 0; j < nw; j++) {
        if (map[j] >= 0) {
            for (int i = 0; i < x.n; i++) X[(size_t)i * nw + j] = old[(size_t)i * x.d + map[j]];
            json_t *g = json_object_get(old_gal, words[j]);
            json_object_set_new(gal, words[j], g ? json_incref(g) : json_array());
            continue;
        }
        const float *col = cols + k * x.n;
        for (int i = 0; i < x.n; i++) X[(size_t)i * nw + j] = col[i];
        int count;
        if (presence_top_k(col, best + k * x.n, x.n, 0, EXTRACTION_TOP_K, hits, &count, e)) goto done;
        json_object_set_new(gal, words[j], gallery_json(hits, count, ids));
        k++;
    }
    extraction nx = x;
    nx.words = words, nx.d = (int)nw, nx.corpus_version = version;
    int r = presence_commit(a, &nx, X, gal, x.presence_sha, x.corpus_version, e);
    if (r < 0) goto done;
    if (r == 1) *retry = 1;
    else if (changed) *changed = 1;
    rc = 0;
    goto done;
oom:
    err_set(e, ERR_INTERNAL, "out of memory");
done:
    extraction_free(&x);
    words_free(words, nw);
    free(old), free(X), free(concepts), free(cols), free(best), free(ids), free(map), free(add), free(hits);
    json_decref(gal);
    json_decref(old_gal);
    return rc;
}

int extraction_sync(app *a, int64_t extraction_id, int *changed, err *e) {
    if (changed) *changed = 0;
    for (int attempt = 0; attempt < 8; attempt++) {
        int retry;
        if (sync_once(a, extraction_id, changed, &retry, e)) return -1;
        if (!retry) return 0;
    }
    return err_set(e, ERR_CONFLICT, "extraction %lld: the corpus keeps changing; try again", (long long)extraction_id);
}

int extraction_sync_corpus(app *a, int64_t corpus_id, int *updated, err *e) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)corpus_id);
    const char *p[] = {ids};
    *updated = 0;
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, "SELECT id FROM extractions WHERE corpus_id = $1 AND state = 'ready' ORDER BY id", 1, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && !rc; i++) {
        int changed = 0;
        rc = extraction_sync(a, strtoll(PQgetvalue(r, i, 0), NULL, 10), &changed, e);
        *updated += changed;
    }
    PQclear(r);
    return rc;
}

/* ---- for the student ------------------------------------------------------------ */

void extraction_presence_free(float *x, int64_t *image_ids, char **words, int d) {
    free(x);
    free(image_ids);
    words_free(words, words ? (size_t)d : 0);
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

int extraction_column_hashes_record(app *a, int64_t extraction_id, const char *presence_sha, char (*hashes)[65],
                                    int d, err *e) {
    char **names = malloc(((size_t)d + 1) * sizeof *names);
    if (!names) return err_set(e, ERR_INTERNAL, "out of memory");
    for (int j = 0; j < d; j++) names[j] = hashes[j];
    char *arr = db_text_array(names, (size_t)d), id[24];
    free(names);
    if (!arr) return err_set(e, ERR_INTERNAL, "out of memory");
    snprintf(id, sizeof id, "%lld", (long long)extraction_id);
    const char *p[] = {id, presence_sha, arr};
    PGconn *c = db_acquire(a->db, e);
    int rc = !c || db_run(c,
                          "UPDATE extractions SET column_sha256 = $3::text[], column_sha256_of = $2 WHERE id = $1"
                          " AND presence_sha256 = $2 AND column_sha256_of IS DISTINCT FROM $2",
                          3, p, e)
                 ? -1
                 : 0;
    if (c) db_release(a->db, c);
    free(arr);
    return rc;
}
