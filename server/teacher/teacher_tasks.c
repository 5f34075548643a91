/* teacher_tasks.c — teacher outputs as chunk tasks (teacher_tasks.h): the job's
 * plan, wait and assembly, and the task any worker runs.
 */
#include "teacher/teacher_tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "job_tasks.h"
#include "teacher/teacher.h"

/* Chunk c's probabilities from its task's result into probs (rows lo..lo+n of the
 * (N, C) matrix). 1 copied, 0 no usable result (none, or its blob is gone or
 * damaged: the chunk is computed again). */
static int chunk_copy(app *a, const json_t *results, size_t c, size_t n, size_t C, float *rows, int *by_name) {
    char key[24];
    snprintf(key, sizeof key, "%zu", c);
    json_t *r = json_object_get(results, key);
    const char *sha = json_string_value(json_object_get(r, "sha256"));
    if (!sha || json_integer_value(json_object_get(r, "n")) != (json_int_t)n) return 0;
    uint8_t *buf;
    size_t len;
    err re = {0};
    if (blobstore_read(a->cfg.data_dir, sha, &buf, &len, &re)) return 0;
    int ok = len == n * C * sizeof(float);
    if (ok) memcpy(rows, buf, len);
    free(buf);
    if (by_name) *by_name = json_is_true(json_object_get(r, "by_name"));
    return ok;
}

int teacher_tasks_run(job_ctx *ctx, const dataset_images *d, const model_ref *m, size_t chunk_images, float **probs_out,
                      int *by_name, json_t **summary, err *e) {
    *probs_out = NULL;
    app *a = job_app(ctx);
    const size_t C = d->n_classes, n_chunks = job_chunk_count(d->n, chunk_images);
    if (m->mf.n_classes != C) return err_set(e, ERR_UNPROCESSABLE, "the teacher has %zu classes but dataset '%s' has %zu",
                                             m->mf.n_classes, d->name, C);
    float *probs = malloc((d->n ? d->n : 1) * C * sizeof(float)); // (N, C)
    int *todo = malloc((n_chunks + 1) * sizeof *todo);             // (n_todo) chunk indices
    json_t **params = calloc(n_chunks + 1, sizeof *params);        // (n_todo)
    json_t *results = NULL;
    size_t n_todo = 0;
    int rc = -1;
    if (!probs || !todo || !params) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    /* Chunks an earlier attempt of this job finished stay done. */
    if (!(results = job_tasks_results(ctx, e))) goto done;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t lo, n;
        job_chunk_range(d->n, chunk_images, c, &lo, &n);
        if (chunk_copy(a, results, c, n, C, probs + lo * C, NULL)) continue;
        params[n_todo] = json_pack("{s:i,s:I}", "chunk", (int)c, "chunk_images", (json_int_t)chunk_images);
        todo[n_todo++] = (int)c;
    }
    if (job_tasks_queue(ctx, todo, params, n_todo, e) ||
        job_tasks_finish(ctx, 0.0, 1.0, "teacher outputs", summary, e))
        goto done;
    json_decref(results);
    if (!(results = job_tasks_results(ctx, e))) goto done;
    /* Assembled in image order: chunk c's rows land at c * chunk_images. */
    for (size_t c = 0; c < n_chunks; c++) {
        size_t lo, n;
        job_chunk_range(d->n, chunk_images, c, &lo, &n);
        if (!chunk_copy(a, results, c, n, C, probs + lo * C, c == 0 ? by_name : NULL)) {
            err_set(e, ERR_IO, "teacher outputs chunk %zu: its probabilities are missing or damaged", c);
            goto done;
        }
    }
    *probs_out = probs;
    probs = NULL;
    rc = 0;
done:
    for (size_t i = 0; params && i < n_todo; i++) json_decref(params[i]);
    free(params);
    free(todo);
    json_decref(results);
    free(probs);
    return rc;
}

static int task_int(const json_t *o, const char *field, json_int_t lo, json_int_t *out, err *e) {
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v) || json_integer_value(v) < lo)
        return err_set(e, ERR_UNPROCESSABLE, "task params.%s: expected an integer >= %lld", field, (long long)lo);
    *out = json_integer_value(v);
    return 0;
}

int teacher_chunk_task(job_ctx *ctx, const json_t *job_params, const json_t *task_params, json_t **result, err *e) {
    json_int_t dataset_id, model_id, chunk, chunk_images;
    if (task_int(job_params, "dataset_id", 1, &dataset_id, e) || task_int(job_params, "model_id", 1, &model_id, e) ||
        task_int(task_params, "chunk", 0, &chunk, e) || task_int(task_params, "chunk_images", 1, &chunk_images, e))
        return -1;
    app *a = job_app(ctx);
    dataset_images d = {0};
    model_ref *m = NULL;
    float *probs = NULL;
    int by_name = 0, rc = -1;
    if (dataset_store_load(a, (int64_t)dataset_id, &d, e) || !(m = model_registry_acquire(a, (int64_t)model_id, e)))
        goto done;
    size_t lo, n;
    job_chunk_range(d.n, (size_t)chunk_images, (size_t)chunk, &lo, &n);
    if (n == 0) {
        err_set(e, ERR_UNPROCESSABLE, "chunk %lld is past the dataset's %zu images", (long long)chunk, d.n);
        goto done;
    }
    char sha[65];
    if (teacher_outputs_compute_rows(ctx, &d, m, lo, n, 0.0, 1.0, "", &probs, &by_name, e) ||
        blobstore_put(a->cfg.data_dir, probs, n * d.n_classes * sizeof(float), sha, e))
        goto done;
    *result = json_pack("{s:s,s:I,s:b}", "sha256", sha, "n", (json_int_t)n, "by_name", by_name);
    rc = 0;
done:
    free(probs);
    model_registry_release(m);
    dataset_images_free(&d);
    return rc;
}
