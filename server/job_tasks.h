/* job_tasks.h — one job split into chunk tasks that any worker claims.
 *
 * A job whose work divides into independent pieces (an extraction's segment chunks,
 * a teacher-outputs run's rows) queues one task per piece (table job_tasks,
 * migration 009). Every worker thread, in `serve` and in every `inficond worker` on
 * any machine sharing the database and the data folder, takes a queued task before
 * a new job (FOR UPDATE SKIP LOCKED) and runs it with its kind's `run_task`. The job
 * that queued them works on its own tasks too while it waits (job_tasks_finish), so
 * one worker alone still finishes; then it assembles the result in order, exactly
 * as a one-worker run.
 *
 * A task's heartbeat is written with its job's by the heartbeat thread of the
 * process running it; the reaper (any process) re-queues a task whose worker went
 * silent while attempts remain, else fails it with the reason, which then fails the
 * job. A cancel of the job cancels its queued tasks at once and stops its running
 * ones at their next progress check. Tasks must be idempotent: a killed task's piece
 * is simply computed again.
 */
#ifndef INFICOND_JOB_TASKS_H
#define INFICOND_JOB_TASKS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "jobs.h"

/* Rows [*lo, *lo + *count) of chunk `index` when n_rows rows are cut into chunks of
 * `chunk` rows (the last one shorter). The number of chunks is
 * job_chunk_count(n_rows, chunk). */
size_t job_chunk_count(size_t n_rows, size_t chunk);
void job_chunk_range(size_t n_rows, size_t chunk, size_t index, size_t *lo, size_t *count);

/* --- in the job --- */
/* Queue tasks for this job: task_params[i] (borrowed) is handed to run_task as the
 * task's params; indices[i] its place (0..). Tasks of an earlier attempt of the same
 * job that failed or were cancelled are dropped first; a task with the same index
 * that is done is queued again (the caller listed it, so its result is not wanted);
 * one still running is left to finish. */
int job_tasks_queue(job_ctx *ctx, const int *indices, json_t *const *task_params, size_t n, err *e) WARN_UNUSED;

/* Work on this job's queued tasks and wait until every task of the job is done.
 * Progress goes from lo to hi of the job's bar as tasks done / tasks. A failed task
 * fails this with "<what> chunk K: <its error>". *summary (nullable) gets {tasks,
 * attempts, retried (tasks that needed more than one attempt), workers: [names]}. */
int job_tasks_finish(job_ctx *ctx, double lo, double hi, const char *what, json_t **summary, err *e) WARN_UNUSED;

/* The results of this job's done tasks: an object {"<index>": result} (new). */
json_t *job_tasks_results(job_ctx *ctx, err *e);

/* --- in the workers (jobs.c) --- */
/* Claiming, heartbeats, recovery and cancel of tasks, as jobs.c calls them through
 * app.job_tasks (job_kinds_install hands it this). */
extern const job_task_hooks job_tasks_hooks;

#endif
