/* teacher_job.c — the "teacher.outputs" job: a registered teacher over every image
 * of a dataset, as chunk tasks that any worker makes (teacher_tasks.c, which
 * computes rows through teacher.c), then stored: the (N, C) float32 matrix and the
 * image ids go to the blob store and one row of teacher_outputs is upserted
 * (teacher_store_put), so a re-run (after a crash, or by hand) replaces the same
 * (dataset, model) row.
 */
#include "teacher/teacher_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dataset/dataset_store.h"
#include "db_json.h"
#include "models/model_registry.h"
#include "teacher/teacher.h"
#include "teacher/teacher_store.h"
#include "teacher/teacher_tasks.h"

static double job_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int teacher_outputs_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    app *a = job_app(ctx);
    int64_t dataset_id, model_id;
    if (job_param_id(params, "dataset_id", &dataset_id, e) || job_param_id(params, "model_id", &model_id, e)) return -1;
    dataset_images d;
    if (dataset_store_load(a, dataset_id, &d, e)) return -1;
    model_ref *m = NULL;
    float *probs = NULL;
    json_t *tasks = NULL; /* {tasks, attempts, retried, workers} of the chunk tasks */
    int rc = -1;
    if (d.n == 0) {
        err_set(e, ERR_UNPROCESSABLE, "dataset '%s' has no images", d.name);
        goto done;
    }
    if (!(m = model_registry_acquire(a, model_id, e))) goto done;
    const model_manifest *mf = &m->mf;
    if (mf->kind != MODEL_KIND_TEACHER) {
        err_set(e, ERR_UNPROCESSABLE, "params.model_id: model %lld is a concept model, not a teacher", (long long)model_id);
        goto done;
    }
    const size_t C = d.n_classes;
    int by_name = 0;
    double t0 = job_now();
    /* Chunks of whole batches: each chunk forms the batches one whole-dataset pass forms. */
    size_t chunk = ((size_t)a->cfg.chunk_images + TEACHER_BATCH - 1) / TEACHER_BATCH * TEACHER_BATCH;
    if (teacher_tasks_run(ctx, &d, m, chunk, &probs, &by_name, &tasks, e)) goto done;
    double secs = job_now() - t0;
    if (job_progress(ctx, 1.0, e, "storing %zu x %zu probabilities", d.n, C)) goto done;
    char mname[160];
    {
        char ids[24];
        snprintf(ids, sizeof ids, "%lld", (long long)model_id);
        const char *p[] = {ids};
        json_t *nm = db_json(a, "the model was deleted", "SELECT to_json(name)::text FROM models WHERE id = $1", 1, p, e);
        if (!nm) goto done;
        snprintf(mname, sizeof mname, "%s", json_string_value(nm) ? json_string_value(nm) : "model");
        json_decref(nm);
    }
    int64_t out_id;
    if (teacher_store_put(a, &d, model_id, mname, probs, 0, job_id(ctx), 0, &out_id, e)) goto done;
    size_t correct = 0, labelled = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (d.labels[i] < 0) continue;
        const float *row = probs + i * C;
        size_t best = 0;
        for (size_t j = 1; j < C; j++) best = row[j] > row[best] ? j : best;
        labelled++;
        correct += best == (size_t)d.labels[i];
    }
    *result = json_pack("{s:I,s:I,s:I,s:I,s:I,s:s,s:f,s:f,s:b}", "teacher_output_id", (json_int_t)out_id, "dataset_id",
                        (json_int_t)dataset_id, "model_id", (json_int_t)model_id, "n", (json_int_t)d.n, "classes",
                        (json_int_t)C, "class_mapping", by_name ? "by_name" : "by_index", "seconds", secs,
                        "images_per_s", secs > 0 ? d.n / secs : 0.0, "optimized", m->fast != NULL);
    json_object_set_new(*result, "chunk_images", json_integer((json_int_t)chunk));
    json_object_set_new(*result, "chunk_tasks", tasks);
    tasks = NULL;
    if (labelled) json_object_set_new(*result, "accuracy", json_real((double)correct / labelled));
    rc = 0;
done:
    json_decref(tasks);
    model_registry_release(m);
    dataset_images_free(&d);
    free(probs);
    return rc;
}
