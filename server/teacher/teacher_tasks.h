/* teacher_tasks.h — a teacher-outputs run as chunk tasks that any worker claims
 * (job_tasks.h): each task computes the probabilities of one range of image rows
 * and stores them as a blob named in its task row's result; the job makes its
 * share, waits, then assembles the (N, C) matrix in image order. With chunks of a
 * multiple of TEACHER_BATCH rows every batch is the one a single run forms, so the
 * matrix is the same bytes whoever computed which chunk.
 */
#ifndef INFICOND_TEACHER_TASKS_H
#define INFICOND_TEACHER_TASKS_H

#include <jansson.h>
#include <stddef.h>

#include "dataset/dataset_store.h"
#include "err.h"
#include "jobs.h"
#include "models/model_registry.h"

/* In the job: the teacher m's probabilities for every image of d as
 * teacher_outputs_compute gives them (*probs (N, C), free it; *by_name), computed
 * in chunks of chunk_images rows by whichever workers take them. Chunks a killed
 * earlier attempt of this job finished (their blob intact) are not computed again.
 * *summary (new): {tasks, attempts, retried, workers}. */
int teacher_tasks_run(job_ctx *ctx, const dataset_images *d, const model_ref *m, size_t chunk_images, float **probs,
                      int *by_name, json_t **summary, err *e) WARN_UNUSED;

/* The task (job_kind.run_task of "teacher.outputs"): job params {dataset_id,
 * model_id}, task params {chunk, chunk_images}. Result {sha256 (float32 (n, C)
 * blob), n, by_name}. The teacher comes from the process's model cache. */
int teacher_chunk_task(job_ctx *ctx, const json_t *job_params, const json_t *task_params, json_t **result, err *e);

#endif
