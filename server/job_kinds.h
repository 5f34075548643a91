/* job_kinds.h — the table of every job kind this binary runs (job_kinds.c).
 * Whoever opens an app that enqueues or runs jobs (serve, worker, demo) hands it
 * this table in app.job_kinds; jobs.c only looks kinds up there. */
#ifndef INFICOND_JOB_KINDS_H
#define INFICOND_JOB_KINDS_H

#include "jobs.h"

/* The table (static storage) and its length in *count. */
const job_kind *job_kinds_all(int *count);

#endif
