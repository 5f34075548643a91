/* teacher_job.h — job "teacher.outputs": the probabilities a teacher gives every
 * image of a dataset, computed as chunk tasks (teacher_tasks.h) and stored
 * (teacher_store.h).
 */
#ifndef INFICOND_TEACHER_JOB_H
#define INFICOND_TEACHER_JOB_H

#include <jansson.h>

#include "err.h"
#include "jobs.h"

/* Job "teacher.outputs": params {"dataset_id", "model_id"}; computes (as chunk tasks
 * any worker makes, teacher_tasks.h) and stores (teacher_store_put) the teacher's
 * outputs on the dataset. Result: {teacher_output_id, dataset_id, model_id, n,
 * classes, class_mapping, seconds, images_per_s, optimized, chunk_images,
 * chunk_tasks: {tasks, attempts, retried, workers}, accuracy (when some image has a
 * label)}. */
int teacher_outputs_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

#endif
