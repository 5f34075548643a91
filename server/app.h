/* app.h — the state one process shares between its HTTP threads and job workers.
 * Made once in main, passed by pointer; nothing here is a hidden global. */
#ifndef INFICOND_APP_H
#define INFICOND_APP_H

#include <stdatomic.h>

#include "config.h"
#include "db.h"

typedef struct app {
    config cfg;
    db_pool *db;
    atomic_int stopping; /* set on SIGINT/SIGTERM: workers finish their step and exit */
    char worker_name[128]; /* host:pid, written into jobs.worker */
    struct login_limit *logins; /* failed-login counters (serve only; NULL: no limit) */
    struct busy_limit *predictions; /* predictions at once (serve only; NULL: no limit) */
    const struct job_kind *job_kinds; /* the job kinds this process knows (job_kinds.c), */
    int n_job_kinds;                  /* set at start by whoever opens the app         */
    const struct job_task_hooks *job_tasks; /* their chunk tasks (job_tasks.c), likewise */
} app;

#endif
