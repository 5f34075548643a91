/* extraction_job.c — the "concepts.extract" job, one named step after another:
 *
 *   start_row        the extraction row reset and marked running
 *   load_inputs      dataset, concept model, corpus words
 *   embed_words      the words through the text side (concepts.c; unknown words,
 *                    over-long texts and a text side of the wrong size fail here,
 *                    in a second, before any image is read), then the encoder
 *   segment_tasks    the chunks of INFICOND_CHUNK_IMAGES images not stored yet, as
 *                    chunk tasks any worker of any process makes (extraction_tasks.c);
 *                    this job makes its share and waits for the rest
 *   segment          per chunk, the stored blob for that range (all there now; a
 *                    chunk that is not is made here) (extraction_chunks.c)
 *   compute_presence one SGEMM per chunk into the (N, d) matrix and the galleries
 *   store_ready      matrix and ids as blobs, then the row ready in one transaction
 *   extraction_sync  words changed while it ran: the matrix brought to them
 *
 * Cancel stops between batches; chunks stored so far are kept, so running again
 * resumes. A failure marks the row failed with the reason.
 */
#include "extraction/extraction_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blobstore.h"
#include "concepts/concepts.h"
#include "concepts/corpus.h"
#include "dataset/dataset_store.h"
#include "extraction/extraction.h"
#include "extraction/extraction_chunks.h"
#include "extraction/extraction_encode.h"
#include "extraction/extraction_presence.h"
#include "extraction/extraction_store.h"
#include "extraction/extraction_sync.h"
#include "extraction/extraction_tasks.h"
#include "job_tasks.h"
#include "models/model_registry.h"

#define EXTRACTION_JOB_KIND "concepts.extract"

/* What the steps hand on to each other. */
typedef struct extract_run {
    job_ctx *ctx;
    app *a;
    int64_t dataset_id, model_id, corpus_id, xid;
    dataset_images d;
    model_ref *m;
    char **words;          /* (n_words) the corpus's words, owned */
    size_t n_words;
    int version;           /* the corpus's, when its words were read */
    float *concepts;       /* (n_words, dim) unit rows */
    int dim;
    extraction_encoder enc;
    extraction x;          /* the row being built; x.words borrowed from words */
    json_t *failures;      /* [{image_id, reason}] */
    size_t chunk_images;   /* images per chunk (task) */
    json_t *tasks;         /* {tasks, attempts, retried, workers} of the chunk tasks */
    json_t *fresh;         /* {"<chunk>": {sha256, …}} the chunks those tasks stored */
    int queued;            /* chunks given to tasks by this run */
    int reused, computed, segments;
    float *X;              /* (N, d) presence */
    json_t *galleries;     /* {word: gallery} */
} extract_run;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int start_row(extract_run *r, err *e) {
    return extraction_upsert(r->a, r->dataset_id, r->model_id, r->corpus_id, 0, job_id(r->ctx), &r->xid, e) ||
                   extraction_set_running(r->a, r->xid, e)
               ? -1
               : 0;
}

static int load_inputs(extract_run *r, err *e) {
    if (dataset_store_load(r->a, r->dataset_id, &r->d, e) || !(r->m = model_registry_acquire(r->a, r->model_id, e)) ||
        corpus_words(r->a, r->corpus_id, &r->words, &r->n_words, &r->version, e))
        return -1;
    if (r->d.n == 0) return err_set(e, ERR_UNPROCESSABLE, "dataset '%s' has no images", r->d.name);
    if (r->m->mf.kind != MODEL_KIND_CONCEPT)
        return err_set(e, ERR_UNPROCESSABLE, "params.concept_model_id: model %lld is a teacher, not a concept model",
                       (long long)r->model_id);
    return 0;
}

/* Words first: a bad word fails in a second, not after the image pass. */
static int embed_words(extract_run *r, err *e) {
    return job_progress(r->ctx, 0, e, "embedding %zu concept words", r->n_words) ||
                   concept_embed_words(r->a, r->m, r->words, r->n_words, &r->concepts, &r->dim, e) ||
                   extraction_encoder_init(&r->enc, &r->m->mf, r->m->model, r->dim, e)
               ? -1
               : 0;
}

static int segment_tasks(extract_run *r, err *e) {
    r->chunk_images = (size_t)r->a->cfg.chunk_images;
    return extraction_tasks_run(r->ctx, &r->d, r->model_id, r->dim, r->chunk_images, &r->tasks, &r->fresh, &r->queued,
                                e);
}

static int segment(extract_run *r, err *e) {
    extraction *x = &r->x;
    x->id = r->xid, x->dataset_id = r->dataset_id, x->model_id = r->model_id, x->corpus_id = r->corpus_id;
    x->n = (int)r->d.n, x->dim = r->dim, x->d = (int)r->n_words, x->words = r->words, x->corpus_version = r->version;
    x->n_chunks = job_chunk_count(r->d.n, r->chunk_images);
    x->chunks = calloc(x->n_chunks, sizeof *x->chunks);
    x->chunk_sizes = calloc(x->n_chunks, sizeof *x->chunk_sizes);
    if (!x->chunks || !x->chunk_sizes || !r->failures) return err_set(e, ERR_INTERNAL, "out of memory");
    return extraction_chunks_segment(r->ctx, &r->enc, &r->d, x, r->chunk_images, r->fresh, r->failures, &r->reused,
                                     &r->computed, e);
}

static int compute_presence(extract_run *r, err *e) {
    if (job_progress(r->ctx, 1.0, e, "presence of %zu concepts in %zu images", r->n_words, r->d.n)) return -1;
    r->X = calloc((size_t)r->x.n * r->x.d + 1, sizeof *r->X); // (N, d)
    if (!r->X) return err_set(e, ERR_INTERNAL, "out of memory");
    return extraction_presence_compute(r->a, &r->x, r->d.ids, r->concepts, r->X, &r->galleries, &r->segments, e);
}

/* Blobs first, then the row that names them. */
static int store_ready(extract_run *r, err *e) {
    char ids_sha[65], x_sha[65];
    if (blobstore_put(r->a->cfg.data_dir, r->d.ids, r->d.n * sizeof(int64_t), ids_sha, e) ||
        blobstore_put(r->a->cfg.data_dir, r->X, (size_t)r->x.n * r->x.d * sizeof(float), x_sha, e))
        return -1;
    const char *encoder = r->m->mf.encoder == MODEL_ENCODER_DENSE ? "dense" : "global";
    char (*cols)[65] = malloc(((size_t)r->x.d + 1) * sizeof *cols); // (d)
    int rc = !cols ? err_set(e, ERR_INTERNAL, "out of memory")
             : presence_column_hashes(r->X, (size_t)r->x.n, (size_t)r->x.d, ids_sha, cols, e) ||
                     extraction_store_ready(r->a, &r->x, encoder, ids_sha, x_sha, r->failures, r->galleries, cols, e)
                 ? -1
                 : 0;
    free(cols);
    return rc;
}

/* chunks_computed: the chunks this run made (its tasks', by any worker, and any its
 * own pass made); chunks_reused: those stored before it; chunk_tasks: the tasks'
 * {tasks, attempts, retried, workers} (attempts > tasks: a worker died mid-chunk). */
static json_t *result_json(const extract_run *r, double secs) {
    int reused = r->reused - r->queued; /* the pass found the tasks' chunks stored */
    return json_pack("{s:I,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:O,s:f,s:f}", "extraction_id", (json_int_t)r->xid,
                     "dataset_id", (json_int_t)r->dataset_id, "n_images", r->x.n, "d", r->x.d, "segments", r->segments,
                     "failed", (int)json_array_size(r->failures), "chunks_computed", r->queued + r->computed,
                     "chunks_reused", reused > 0 ? reused : 0, "chunk_images", (int)r->chunk_images, "chunk_tasks",
                     r->tasks ? r->tasks : json_null(), "seconds", secs, "images_per_s", secs > 0 ? r->x.n / secs : 0.0);
}

static void extract_run_free(extract_run *r) {
    r->x.words = NULL, r->x.d = 0; /* owned by r->words */
    extraction_free(&r->x);
    extraction_encoder_free(&r->enc);
    corpus_words_free(r->words, r->n_words);
    free(r->concepts);
    free(r->X);
    json_decref(r->failures);
    json_decref(r->galleries);
    json_decref(r->tasks);
    json_decref(r->fresh);
    model_registry_release(r->m);
    dataset_images_free(&r->d);
}

int extraction_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    extract_run r = {.ctx = ctx, .a = job_app(ctx)};
    if (job_param_id(params, "dataset_id", &r.dataset_id, e) ||
        job_param_id(params, "concept_model_id", &r.model_id, e) || job_param_id(params, "corpus_id", &r.corpus_id, e))
        return -1;
    r.failures = json_array();
    double t0 = now_s();
    int rc = start_row(&r, e) || load_inputs(&r, e) || embed_words(&r, e) || segment_tasks(&r, e) || segment(&r, e) ||
             compute_presence(&r, e) || store_ready(&r, e) || extraction_sync(r.a, r.xid, NULL, e);
    if (!rc) {
        *result = result_json(&r, now_s() - t0);
    } else if (r.xid) {
        extraction_set_failed(r.a, r.xid, e->code == ERR_CANCELLED ? "cancelled" : e->msg);
    }
    extract_run_free(&r);
    return rc ? -1 : 0;
}

int extraction_queue(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t user_id,
                     int64_t *extraction_id, int64_t *queued_job, err *e) {
    json_t *params = json_pack("{s:I,s:I,s:I}", "dataset_id", (json_int_t)dataset_id, "concept_model_id",
                               (json_int_t)model_id, "corpus_id", (json_int_t)corpus_id);
    *queued_job = -1;
    int bad = extraction_upsert(a, dataset_id, model_id, corpus_id, user_id, 0, extraction_id, e);
    if (!bad) bad = (*queued_job = jobs_enqueue(a, EXTRACTION_JOB_KIND, params, user_id, e)) < 0;
    json_decref(params);
    if (!bad) bad = extraction_set_job(a, *extraction_id, *queued_job, e);
    return bad ? -1 : 0;
}
