/* extraction_tasks.c — segment chunks as chunk tasks (extraction_tasks.h): queued
 * by the extraction job, made by any worker through extraction_chunk_make.
 */
#include "extraction/extraction_tasks.h"

#include <stdlib.h>

#include "extraction/extraction_chunks.h"
#include "extraction/extraction_encode.h"
#include "job_tasks.h"
#include "models/model_registry.h"

int extraction_tasks_run(job_ctx *ctx, const dataset_images *d, int64_t model_id, int dim, size_t chunk_images,
                         json_t **summary, json_t **fresh, int *queued, err *e) {
    size_t n_chunks = job_chunk_count(d->n, chunk_images), n_missing = 0;
    int *missing = malloc((n_chunks + 1) * sizeof *missing);     // (n_chunks)
    json_t **params = calloc(n_chunks + 1, sizeof *params);      // (n_missing)
    int rc = -1;
    if (!missing || !params) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (extraction_chunks_missing(job_app(ctx), d, model_id, chunk_images, missing, &n_missing, e)) goto done;
    /* The chunk size travels with the task: every worker cuts the same ranges
     * whatever its own INFICOND_CHUNK_IMAGES says. */
    for (size_t i = 0; i < n_missing; i++)
        params[i] = json_pack("{s:i,s:I,s:i}", "chunk", missing[i], "chunk_images", (json_int_t)chunk_images, "dim", dim);
    *queued = (int)n_missing;
    rc = job_tasks_queue(ctx, missing, params, n_missing, e) ||
                 job_tasks_finish(ctx, 0.0, 1.0, "segments", summary, e) || !(*fresh = job_tasks_results(ctx, e))
             ? -1
             : 0;
done:
    for (size_t i = 0; params && i < n_missing; i++) json_decref(params[i]);
    free(params);
    free(missing);
    return rc;
}

static int task_int(const json_t *o, const char *field, json_int_t lo, json_int_t *out, err *e) {
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v) || json_integer_value(v) < lo)
        return err_set(e, ERR_UNPROCESSABLE, "task params.%s: expected an integer >= %lld", field, (long long)lo);
    *out = json_integer_value(v);
    return 0;
}

int extraction_chunk_task(job_ctx *ctx, const json_t *job_params, const json_t *task_params, json_t **result,
                          err *e) {
    json_int_t dataset_id, model_id, chunk, chunk_images, dim;
    if (task_int(job_params, "dataset_id", 1, &dataset_id, e) ||
        task_int(job_params, "concept_model_id", 1, &model_id, e) || task_int(task_params, "chunk", 0, &chunk, e) ||
        task_int(task_params, "chunk_images", 1, &chunk_images, e) || task_int(task_params, "dim", 1, &dim, e))
        return -1;
    app *a = job_app(ctx);
    dataset_images d = {0};
    model_ref *m = NULL;
    extraction_encoder enc = {0};
    json_t *failures = json_array();
    int rc = -1;
    if (!failures) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (dataset_store_load(a, (int64_t)dataset_id, &d, e) || !(m = model_registry_acquire(a, (int64_t)model_id, e)) ||
        extraction_encoder_init(&enc, &m->mf, m->model, (int)dim, e))
        goto done;
    size_t lo, n;
    job_chunk_range(d.n, (size_t)chunk_images, (size_t)chunk, &lo, &n);
    if (n == 0) {
        err_set(e, ERR_UNPROCESSABLE, "chunk %lld is past the dataset's %zu images", (long long)chunk, d.n);
        goto done;
    }
    char sha[65];
    size_t segs = 0;
    if (extraction_chunk_make(ctx, &enc, &d, (int64_t)model_id, lo, (int)n, sha, failures, &segs, e)) goto done;
    *result = json_pack("{s:s,s:I,s:i}", "sha256", sha, "segments", (json_int_t)segs, "failed",
                        (int)json_array_size(failures));
    rc = 0;
done:
    json_decref(failures);
    extraction_encoder_free(&enc);
    model_registry_release(m);
    dataset_images_free(&d);
    return rc;
}
