/* job_tasks.c — chunk tasks of one job (rules in job_tasks.h): queue them, claim and
 * run them in any worker, heartbeats and recovery, and the job's wait for them.
 *
 * Task states (job_tasks.state):
 *   queued --claim--> running --run_task ok--> done (result kept for the job)
 *                             --run_task err--> failed (fails the job with the reason)
 *                             --job cancelled--> cancelled
 *                             --shutdown------> queued (the attempt is not counted)
 *                             --worker dies---> queued (attempts left) | failed
 * As in jobs.c, every transition is guarded by the expected state, worker and
 * attempt, so a worker presumed dead cannot overwrite a newer outcome.
 */
#include "job_tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db_json.h"
#include "jobs_internal.h"
#include "log.h"

#define TASK_POLL_US 100000 /* the job's look at its tasks while none is left to take */

static int job_tasks_run_one(app *a, int64_t only_job, err *e);

size_t job_chunk_count(size_t n_rows, size_t chunk) { return chunk ? (n_rows + chunk - 1) / chunk : 0; }

void job_chunk_range(size_t n_rows, size_t chunk, size_t index, size_t *lo, size_t *count) {
    *lo = index * chunk;
    if (*lo >= n_rows) {
        *lo = n_rows, *count = 0;
        return;
    }
    *count = n_rows - *lo < chunk ? n_rows - *lo : chunk;
}

/* One statement on a pooled connection; NULL with e set on failure. */
static PGresult *exec(app *a, const char *sql, int n, const char *const *p, err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return NULL;
    PGresult *r = db_exec(c, sql, n, p, e);
    db_release(a->db, c);
    return r;
}

/* ---------------------------------------------------------------- in the job */

int job_tasks_queue(job_ctx *ctx, const int *indices, json_t *const *task_params, size_t n, err *e) {
    app *a = job_app(ctx);
    char id[32], attempts[16];
    snprintf(id, sizeof id, "%lld", (long long)job_id(ctx));
    snprintf(attempts, sizeof attempts, "%d", a->cfg.job_max_attempts);
    const char *p0[] = {id};
    PGresult *r = exec(a, "DELETE FROM job_tasks WHERE job_id = $1 AND state IN ('failed', 'cancelled')", 1, p0, e);
    if (!r) return -1;
    PQclear(r);
    /* All tasks in one statement: [[index, params], ...]. */
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < n; i++)
        json_array_append_new(rows, json_pack("[iO]", indices[i], task_params[i] ? task_params[i] : json_null()));
    char *text = rows ? json_dumps(rows, JSON_COMPACT) : NULL;
    json_decref(rows);
    if (!text) return err_set(e, ERR_INTERNAL, "out of memory");
    const char *p[] = {id, text, attempts};
    r = exec(a,
             "INSERT INTO job_tasks(job_id, idx, params, max_attempts)"
             " SELECT $1, (t->>0)::int, coalesce(t->1, '{}'), $3::int FROM jsonb_array_elements($2::jsonb) t"
             " ON CONFLICT (job_id, idx) DO UPDATE SET state = 'queued', params = EXCLUDED.params, result = NULL,"
             "   error = NULL, worker = NULL, attempts = 0, finished_at = NULL"
             " WHERE job_tasks.state = 'done'",
             3, p, e);
    free(text);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

/* The job's tasks counted: *done of *total, and the first failed one's index and
 * error (failed_idx -1 when none). */
static int tasks_count(app *a, const char *id, long *done, long *total, long *failed_idx, char *why, size_t why_cap,
                       err *e) {
    const char *p[] = {id};
    PGresult *r = exec(a,
                       "SELECT count(*) FILTER (WHERE state = 'done'), count(*),"
                       " (SELECT idx FROM job_tasks WHERE job_id = $1 AND state = 'failed' ORDER BY idx LIMIT 1),"
                       " (SELECT coalesce(error, 'failed') FROM job_tasks WHERE job_id = $1 AND state = 'failed'"
                       "   ORDER BY idx LIMIT 1)"
                       " FROM job_tasks WHERE job_id = $1",
                       1, p, e);
    if (!r) return -1;
    *done = atol(PQgetvalue(r, 0, 0));
    *total = atol(PQgetvalue(r, 0, 1));
    *failed_idx = PQgetisnull(r, 0, 2) ? -1 : atol(PQgetvalue(r, 0, 2));
    snprintf(why, why_cap, "%s", PQgetvalue(r, 0, 3));
    PQclear(r);
    return 0;
}

static json_t *tasks_summary(app *a, const char *id, err *e) {
    const char *p[] = {id};
    return db_json(a, "job tasks",
                   "SELECT json_build_object('tasks', count(*), 'attempts', coalesce(sum(attempts), 0),"
                   " 'retried', count(*) FILTER (WHERE attempts > 1),"
                   " 'workers', coalesce(json_agg(DISTINCT worker) FILTER (WHERE worker IS NOT NULL), '[]'))::text"
                   " FROM job_tasks WHERE job_id = $1",
                   1, p, e);
}

int job_tasks_finish(job_ctx *ctx, double lo, double hi, const char *what, json_t **summary, err *e) {
    app *a = job_app(ctx);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)job_id(ctx));
    for (;;) {
        long done, total, failed_idx;
        char why[400];
        if (tasks_count(a, id, &done, &total, &failed_idx, why, sizeof why, e)) return -1;
        if (failed_idx >= 0) return err_set(e, ERR_UNPROCESSABLE, "%s chunk %ld: %s", what, failed_idx, why);
        if (job_progress(ctx, lo + (hi - lo) * (total ? (double)done / total : 1.0), e, "%s: %ld of %ld chunks done",
                         what, done, total))
            return -1;
        if (done == total) break;
        /* Our own tasks first; with none left to take, wait for the other workers'. */
        int ran = job_tasks_run_one(a, job_id(ctx), e);
        if (ran < 0) return -1;
        if (!ran) usleep(TASK_POLL_US);
    }
    if (summary && !(*summary = tasks_summary(a, id, e))) return -1;
    return 0;
}

json_t *job_tasks_results(job_ctx *ctx, err *e) {
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)job_id(ctx));
    const char *p[] = {id};
    return db_json(job_app(ctx), "job tasks",
                   "SELECT coalesce(jsonb_object_agg(idx::text, coalesce(result, 'null'::jsonb)), '{}')::text"
                   " FROM job_tasks WHERE job_id = $1 AND state = 'done'",
                   1, p, e);
}

/* ---------------------------------------------------------------- in the workers */

/* The task's outcome, guarded by state, worker and attempt. The outcome must not
 * be lost to a short database outage, as a job's (jobs.c finish). */
static void task_finish(app *a, const job_ctx *t, const char *state, const char *error, const json_t *result) {
    char id[32], att[16];
    snprintf(id, sizeof id, "%lld", (long long)t->task_id);
    snprintf(att, sizeof att, "%d", t->attempt);
    char *res = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const char *p[] = {id, state, error, res, a->worker_name, att};
    for (int tries = 0; tries < 30; tries++) {
        err e = {0};
        PGresult *r = exec(a,
                           "UPDATE job_tasks SET state = $2, error = $3, result = $4::jsonb,"
                           " finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END,"
                           " attempts = CASE WHEN $2 = 'queued' THEN attempts - 1 ELSE attempts END"
                           " WHERE id = $1 AND state = 'running' AND worker = $5 AND attempts = $6::int",
                           6, p, &e);
        if (r) {
            if (atoi(PQcmdTuples(r)) == 0)
                log_warn("jobs: task %s of job %lld was taken over before it finished here", id, (long long)t->id);
            PQclear(r);
            break;
        }
        sleep(1);
    }
    free(res);
}

static void task_run(app *a, job_ctx *t, const char *job_params_text, const char *task_params_text, int idx) {
    const job_kind *k = jobs_kind_find(a, t->kind);
    json_error_t je;
    json_t *jp = json_loads(job_params_text, 0, &je), *tp = json_loads(task_params_text, 0, &je);
    json_t *result = NULL;
    err e = {0};
    uint64_t t0 = jobs_mono_ms();
    int rc;
    if (!k || !k->run_task) rc = err_set(&e, ERR_UNPROCESSABLE, "job kind '%s' has no chunk tasks in this version", t->kind);
    else if (!jp || !tp) rc = err_set(&e, ERR_UNPROCESSABLE, "bad task parameters: %s", je.text);
    else rc = k->run_task(t, jp, tp, &result, &e);
    double secs = (double)(jobs_mono_ms() - t0) / 1000.0;
    if (rc == 0) {
        task_finish(a, t, "done", NULL, result);
        log_debug("jobs: job %lld chunk %d done in %.2fs", (long long)t->id, idx, secs);
    } else if (e.code == ERR_CANCELLED && atomic_load(&t->cancel)) {
        task_finish(a, t, "cancelled", NULL, NULL);
    } else if (e.code == ERR_CANCELLED && atomic_load(&a->stopping)) {
        task_finish(a, t, "queued", NULL, NULL);
    } else {
        const char *msg = e.msg[0] ? e.msg : "failed";
        log_warn("jobs: job %lld chunk %d failed: %s", (long long)t->id, idx, msg);
        task_finish(a, t, "failed", msg, NULL);
    }
    json_decref(result);
    json_decref(jp);
    json_decref(tp);
}

static int job_tasks_run_one(app *a, int64_t only_job, err *e) {
    char only[32];
    snprintf(only, sizeof only, "%lld", (long long)only_job);
    const char *p[] = {a->worker_name, only_job > 0 ? only : NULL};
    PGresult *r = exec(a,
                       "UPDATE job_tasks t SET state = 'running', attempts = t.attempts + 1, worker = $1,"
                       " heartbeat_at = now(), error = NULL"
                       " FROM jobs j WHERE j.id = t.job_id AND t.id = ("
                       "   SELECT k.id FROM job_tasks k JOIN jobs p ON p.id = k.job_id"
                       "   WHERE k.state = 'queued' AND p.state = 'running' AND NOT p.cancel_requested"
                       "     AND ($2::bigint IS NULL OR k.job_id = $2)"
                       "   ORDER BY k.job_id, k.idx FOR UPDATE OF k SKIP LOCKED LIMIT 1)"
                       " RETURNING t.id, t.job_id, t.idx, t.attempts, j.kind, j.params::text, t.params::text",
                       2, p, e);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    job_ctx *t = calloc(1, sizeof *t);
    char *jp = strdup(PQgetvalue(r, 0, 5)), *tp = strdup(PQgetvalue(r, 0, 6));
    if (!t || !jp || !tp) {
        PQclear(r);
        free(t), free(jp), free(tp);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    t->app = a;
    t->task_id = atoll(PQgetvalue(r, 0, 0));
    t->id = atoll(PQgetvalue(r, 0, 1));
    int idx = atoi(PQgetvalue(r, 0, 2));
    t->attempt = atoi(PQgetvalue(r, 0, 3));
    snprintf(t->kind, sizeof t->kind, "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    jobs_running_add(t);
    task_run(a, t, jp, tp, idx);
    jobs_running_remove(t);
    free(jp);
    free(tp);
    free(t);
    return 1;
}

static void job_tasks_heartbeat(app *a, const char *task_ids) {
    const char *p[] = {task_ids, a->worker_name};
    err e = {0};
    PGresult *r = exec(a,
                       "WITH mine AS (SELECT id FROM unnest($1::bigint[]) id),"
                       " beat AS (UPDATE job_tasks t SET heartbeat_at = now() FROM jobs j"
                       "   WHERE t.id IN (SELECT id FROM mine) AND t.state = 'running' AND t.worker = $2"
                       "     AND j.id = t.job_id"
                       "   RETURNING t.id, j.cancel_requested OR j.state <> 'running' AS stop)"
                       " SELECT m.id FROM mine m LEFT JOIN beat b ON b.id = m.id WHERE b.id IS NULL OR b.stop",
                       2, p, &e);
    if (!r) return; /* a missed heartbeat; the reaper allows several */
    for (int i = 0; i < PQntuples(r); i++) jobs_running_stop_task(atoll(PQgetvalue(r, i, 0)));
    PQclear(r);
}

static int job_tasks_reap_stale(app *a, err *e) {
    char secs[32];
    snprintf(secs, sizeof secs, "%.3f", a->cfg.stale_after_ms / 1000.0);
    const char *p[] = {secs};
    PGresult *r = exec(a,
                       "WITH stale AS (SELECT id FROM job_tasks WHERE state = 'running'"
                       "   AND heartbeat_at < now() - make_interval(secs => $1::float8) FOR UPDATE SKIP LOCKED)"
                       " UPDATE job_tasks t SET"
                       "   state = CASE WHEN t.attempts < t.max_attempts THEN 'queued' ELSE 'failed' END,"
                       "   error = CASE WHEN t.attempts >= t.max_attempts THEN"
                       "     format('worker %s stopped answering (no heartbeat for %s s) on attempt %s of %s',"
                       "            coalesce(t.worker, '?'), $1, t.attempts, t.max_attempts) END,"
                       "   finished_at = CASE WHEN t.attempts >= t.max_attempts THEN now() END"
                       " FROM stale WHERE t.id = stale.id RETURNING t.job_id, t.idx, t.state, t.worker",
                       1, p, e);
    if (!r) return -1;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        log_warn("jobs: job %s chunk %s: worker %s was lost; now %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                 PQgetvalue(r, i, 3), PQgetvalue(r, i, 2));
    PQclear(r);
    return n;
}

static int job_tasks_cancel(app *a, int64_t job_id, err *e) {
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)job_id);
    const char *p[] = {id};
    PGresult *r = exec(a,
                       "UPDATE job_tasks SET state = 'cancelled', finished_at = now()"
                       " WHERE job_id = $1 AND state = 'queued'",
                       1, p, e);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

const job_task_hooks job_tasks_hooks = {
    .run_one = job_tasks_run_one,
    .heartbeat = job_tasks_heartbeat,
    .reap_stale = job_tasks_reap_stale,
    .cancel = job_tasks_cancel,
};
