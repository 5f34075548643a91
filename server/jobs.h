/* jobs.h — long work as rows in the `jobs` table, run by worker threads.
 *
 * A job is queued with jobs_enqueue, claimed by a worker (in this process or any
 * `inficond worker` on any machine that reaches the database) with
 * SELECT ... FOR UPDATE SKIP LOCKED, kept alive by heartbeats, and finished as
 * succeeded / failed / cancelled. A running job whose heartbeat goes stale (its
 * worker died) is re-queued while attempts remain, else failed with the reason.
 *
 * Job kinds live in one table (job_kinds.c), handed to the process in
 * app.job_kinds, and the chunk tasks some kinds split into (job_tasks.h) run through
 * app.job_tasks. A handler reports progress with job_progress, which also tells it
 * when to stop: it returns -1 with ERR_CANCELLED in e once a cancel was requested
 * or the process is stopping.
 * Handlers must be safe to re-run from the start after a crash (idempotent).
 */
#ifndef INFICOND_JOBS_H
#define INFICOND_JOBS_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

typedef struct job_ctx job_ctx;

/* Runs one job. `params` is borrowed. On success may set *result to a new JSON
 * object (stolen) stored in jobs.result; on failure sets e (its message is what the
 * user sees as the job's error). */
typedef int (*job_fn)(job_ctx *ctx, const json_t *params, json_t **result, err *e);

/* Runs one chunk task of a job of this kind (job_tasks.h): `job_params` are the
 * job's, `task_params` what job_tasks_queue was given for this task (both borrowed).
 * On success may set *result (stolen) to what the job assembles from. ctx's
 * job_progress only says when to stop (the task's heartbeat is written for it). */
typedef int (*job_task_fn)(job_ctx *ctx, const json_t *job_params, const json_t *task_params, json_t **result,
                           err *e);

typedef struct job_kind {
    const char *name;      /* e.g. "dataset.import"                     */
    job_fn run;
    const char *min_role;  /* role needed to start it via the API        */
    job_task_fn run_task;  /* its chunk tasks (NULL: the kind makes none) */
} job_kind;

/* The chunk-task queue (job_tasks.h) as the job queue drives it: the workers take a
 * queued task before a new job, the heartbeat thread beats and reaps tasks with the
 * jobs, and a cancel marks the job's queued tasks. Whoever opens the app hands it
 * job_tasks_hooks in app.job_tasks (job_kinds_install), so that this queue needs
 * nothing of the tasks it hosts. NULL: no task is taken by a worker (a job still
 * makes its own while it waits for them, job_tasks_finish). */
typedef struct job_task_hooks {
    /* Claim one queued task (of job only_job when > 0, else of any running job whose
     * cancel was not requested) and run it. 1 ran, 0 none queued, -1 error. */
    int (*run_one)(app *a, int64_t only_job, err *e);
    /* Heartbeat for the tasks running here (task_ids: "{1,2}"); flags those whose job
     * is cancelled or over, or which were taken from this worker, to stop. */
    void (*heartbeat)(app *a, const char *task_ids);
    /* Re-queue (attempts left) or fail tasks whose heartbeat is older than
     * stale_after_ms. Returns the number recovered, -1 on error. */
    int (*reap_stale)(app *a, err *e);
    /* The job's queued tasks cancelled (the job was). */
    int (*cancel)(app *a, int64_t job_id, err *e);
} job_task_hooks;

/* The kind named `name` among a->job_kinds (the table the process was started
 * with, job_kinds.c), or NULL. Borrowed. */
const job_kind *jobs_kind_find(const app *a, const char *name);

/* --- for handlers --- */
app *job_app(job_ctx *ctx);
int64_t job_id(job_ctx *ctx);
int job_attempt(job_ctx *ctx);
/* Record progress in [0,1] and a short message (rate-limited DB write; also a
 * heartbeat). Returns 0, or -1 with ERR_CANCELLED when the job should stop. */
int job_progress(job_ctx *ctx, double fraction, err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Has cancel been requested? Cheap (no DB query). */
int job_should_stop(job_ctx *ctx);
/* params.<field> as a row id (a positive integer) in *out, else ERR_UNPROCESSABLE
 * "params.<field>: expected a positive integer id". */
int job_param_id(const json_t *params, const char *field, int64_t *out, err *e) WARN_UNUSED;

/* --- for the API and CLI --- */
/* Queue a job; returns its id, or -1 with e set. `params` borrowed. */
int64_t jobs_enqueue(app *a, const char *kind, const json_t *params, int64_t user_id,
                     err *e) WARN_UNUSED;
/* The job as JSON (new reference), or NULL with ERR_NOT_FOUND. */
json_t *jobs_get_json(app *a, int64_t id, err *e);
/* A page of jobs, newest first: {"items":[...],"total":N,"limit":L,"offset":O}.
 * state and kind filter when non-NULL. */
json_t *jobs_list_json(app *a, const char *state, const char *kind, long limit, long offset,
                       err *e);
/* Request cancel: a queued job becomes cancelled at once, a running one is flagged.
 * ERR_CONFLICT when it already finished. Returns the job JSON (new). */
json_t *jobs_cancel(app *a, int64_t id, err *e);

/* --- worker pool --- */
typedef struct job_workers job_workers;
/* Start n worker threads plus a heartbeat/reaper thread. */
job_workers *job_workers_start(app *a, int n, err *e) WARN_UNUSED;
/* Ask them to stop, wait for the running steps to notice, join. NULL-safe. */
void job_workers_stop(job_workers *w);

/* Re-queue or fail jobs whose heartbeat is older than stale_after_ms. Returns the
 * number recovered, -1 on error. Called by the reaper thread; exposed for tests. */
int jobs_reap_stale(app *a, err *e);

/* Wait (in a worker) for the next job and run it; used by tests to run exactly one.
 * Returns 1 if a job ran, 0 if none was queued, -1 on error. */
int jobs_run_one(app *a, err *e);

#endif
