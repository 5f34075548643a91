/* extraction_tasks.h — an extraction's segment chunks as chunk tasks that any
 * worker claims (job_tasks.h): the job queues the chunks not stored yet, every
 * worker of every process may make them, the job makes its share and waits.
 * Each chunk lands as a segment_chunks row (extraction_store.c), so the job then
 * reads them exactly as a one-worker run does and its result is the same bytes.
 */
#ifndef INFICOND_EXTRACTION_TASKS_H
#define INFICOND_EXTRACTION_TASKS_H

#include <jansson.h>

#include "dataset/dataset_store.h"
#include "err.h"
#include "jobs.h"

/* In the job: queue a task per chunk of d (chunk_images each) not stored for
 * model_id, then work and wait until all are stored. dim: the concept embedding
 * width the encoder must produce. *summary (new) gets {tasks, attempts, retried,
 * workers} of this job's chunk tasks; *fresh (new) {"<chunk>": {sha256, …}} the
 * chunks its tasks stored; *queued the chunks queued now. */
int extraction_tasks_run(job_ctx *ctx, const dataset_images *d, int64_t model_id, int dim, size_t chunk_images,
                         json_t **summary, json_t **fresh, int *queued, err *e) WARN_UNUSED;

/* The task (job_kind.run_task of "concepts.extract"): job params {dataset_id,
 * concept_model_id}, task params {chunk, chunk_images, dim}. Result {sha256,
 * segments, failed}. The concept model comes from the process's model cache, so a
 * worker loads it once for all the chunks it makes. */
int extraction_chunk_task(job_ctx *ctx, const json_t *job_params, const json_t *task_params, json_t **result, err *e);

#endif
