/* extraction_job.h — job "concepts.extract": the segments and concept presence of
 * a dataset under a concept model and a corpus (extraction_job.c has its steps), and
 * queueing it.
 */
#ifndef INFICOND_EXTRACTION_JOB_H
#define INFICOND_EXTRACTION_JOB_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "jobs.h"

/* Job "concepts.extract": params {"dataset_id", "concept_model_id", "corpus_id"}.
 * Result {extraction_id, dataset_id, n_images, d, segments, failed, chunks_computed,
 * chunks_reused, seconds, images_per_s}. */
int extraction_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

/* Reset (or create) the triple's extraction row to queued, queue the job for it
 * (by user_id, <= 0: the service) and record the job on the row: *extraction_id and
 * *queued_job. The caller checks the inputs first. */
int extraction_queue(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t user_id,
                     int64_t *extraction_id, int64_t *queued_job, err *e) WARN_UNUSED;

#endif
