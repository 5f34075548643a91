/* jobs_internal.h — what jobs.c and job_tasks.c share and nothing else sees: the
 * context a job or a chunk task runs with, and the list of those running in this
 * process (their heartbeats are written by the one heartbeat thread). */
#ifndef INFICOND_JOBS_INTERNAL_H
#define INFICOND_JOBS_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "jobs.h"

struct job_ctx {
    app *app;
    int64_t id;             /* the job (for a task: the job it belongs to)          */
    int64_t task_id;        /* > 0: this context runs one chunk task (job_tasks.c)  */
    int attempt;
    char kind[64];
    atomic_int cancel;      /* set by the heartbeat thread from cancel_requested   */
    uint64_t last_write_ms; /* progress writes are rate-limited                    */
    double last_fraction;
};

/* The contexts running in this process, for the heartbeat thread. */
void jobs_running_add(job_ctx *c);
void jobs_running_remove(job_ctx *c);
/* Ask the task running here as task_id to stop (its job was cancelled or is over). */
void jobs_running_stop_task(int64_t task_id);

uint64_t jobs_mono_ms(void);

#endif
