/* student_distill.h — the job "student.distill": fit a new student on a problem's
 * train rows from a cold start (every class at once, student_fit_all), measure it on
 * every split and store it with its version 1 (student_store.h). Queued by
 * POST /api/v1/students (routes_students.c) or POST /api/v1/jobs.
 */
#ifndef INFICOND_STUDENT_DISTILL_H
#define INFICOND_STUDENT_DISTILL_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "jobs.h"

/* params {"extraction_id", "teacher_output_id", "name"?, "lambda"?}; *result
 * {"student_id", "version", "version_id", "fidelity": {split: f}, "fits": [per class
 * {"objective", "kkt", "nonzeros", "converged"}]}. A re-run of a job whose first run
 * stored its student answers {"student_id", "version": 1} and fits nothing. */
int ss_distill_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

/* Before queueing (the job checks the same again; answering at once saves a failed
 * job): both exist (else ERR_UNPROCESSABLE naming the field), the extraction is ready
 * (else ERR_CONFLICT) and both are of one dataset (else ERR_UNPROCESSABLE). */
int ss_distill_check(app *a, int64_t extraction_id, int64_t teacher_output_id, err *e) WARN_UNUSED;

#endif
