/* job_kinds.h — the table of every job kind this binary runs (job_kinds.c), and the
 * chunk-task queue the kinds that split their work go through (job_tasks.h).
 * Whoever opens an app that enqueues or runs jobs (serve, worker, demo) hands it
 * both with job_kinds_install; jobs.c only looks kinds up there and drives the
 * tasks through app.job_tasks. */
#ifndef INFICOND_JOB_KINDS_H
#define INFICOND_JOB_KINDS_H

#include "app.h"

/* a->job_kinds and a->n_job_kinds: the table (static storage); a->job_tasks: the
 * chunk-task queue (job_tasks_hooks). */
void job_kinds_install(app *a);

#endif
