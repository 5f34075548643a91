/* jobs.c — the job queue: claim, progress, heartbeats, cancel, recovery.
 *
 * State machine (jobs.state):
 *   queued --claim--> running --handler ok--> succeeded
 *                             --handler err--> failed (error = the handler's message)
 *                             --cancel seen--> cancelled
 *                             --shutdown-----> queued (re-runs; the attempt is not counted)
 *                             --worker dies--> queued (attempts left) | failed ("worker lost")
 *   queued --cancel--> cancelled
 * Every transition is one UPDATE guarded by the expected state and worker, so a
 * worker that was presumed dead and comes back cannot overwrite a newer outcome.
 */
#include "jobs.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs_internal.h"
#include "log.h"

#define MAX_RUNNING 64

struct job_workers {
    app *app;
    int n;
    pthread_t *threads;
    pthread_t heart;
    int heart_started;
    atomic_int stop;
};

/* Jobs running in this process, for the heartbeat thread. */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static job_ctx *running[MAX_RUNNING];

uint64_t jobs_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void jobs_running_add(job_ctx *c) {
    pthread_mutex_lock(&running_lock);
    for (int i = 0; i < MAX_RUNNING; i++)
        if (!running[i]) {
            running[i] = c;
            break;
        }
    pthread_mutex_unlock(&running_lock);
}

void jobs_running_remove(job_ctx *c) {
    pthread_mutex_lock(&running_lock);
    for (int i = 0; i < MAX_RUNNING; i++)
        if (running[i] == c) running[i] = NULL;
    pthread_mutex_unlock(&running_lock);
}

void jobs_running_stop_task(int64_t task_id) {
    pthread_mutex_lock(&running_lock);
    for (int i = 0; i < MAX_RUNNING; i++)
        if (running[i] && running[i]->task_id == task_id) atomic_store(&running[i]->cancel, 1);
    pthread_mutex_unlock(&running_lock);
}

app *job_app(job_ctx *c) { return c->app; }
int64_t job_id(job_ctx *c) { return c->id; }
int job_attempt(job_ctx *c) { return c->attempt; }

int job_should_stop(job_ctx *c) {
    return atomic_load(&c->cancel) || atomic_load(&c->app->stopping);
}

int job_param_id(const json_t *params, const char *field, int64_t *out, err *e) {
    json_t *v = json_object_get(params, field);
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return err_set(e, ERR_UNPROCESSABLE, "params.%s: expected a positive integer id", field);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int stop_error(job_ctx *c, err *e) {
    if (atomic_load(&c->cancel)) return err_set(e, ERR_CANCELLED, "cancelled");
    return err_set(e, ERR_CANCELLED, "interrupted by shutdown");
}

int job_progress(job_ctx *c, double fraction, err *e, const char *fmt, ...) {
    if (job_should_stop(c)) return stop_error(c, e);
    if (c->task_id > 0) return 0; /* a task's progress is its job's count of tasks done */
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    uint64_t now = jobs_mono_ms();
    /* At most ~4 writes a second per job, but always the first and the last. */
    if (c->last_write_ms && now - c->last_write_ms < 250 && fraction < 1.0) return 0;
    c->last_write_ms = now;
    c->last_fraction = fraction;
    char msg[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    char id[32], frac[32];
    snprintf(id, sizeof id, "%lld", (long long)c->id);
    snprintf(frac, sizeof frac, "%.4f", fraction);
    const char *params[] = {id, frac, msg};
    err dbe = {0};
    PGconn *conn = db_acquire(c->app->db, &dbe);
    if (!conn) return 0; /* progress is best effort; the heartbeat notices a long outage */
    PGresult *r = db_exec(conn,
                          "UPDATE jobs SET progress = $2, message = $3, heartbeat_at = now()"
                          " WHERE id = $1 AND state = 'running' RETURNING cancel_requested",
                          3, params, &dbe);
    db_release(c->app->db, conn);
    if (!r) return 0;
    int gone = PQntuples(r) == 0;
    int cancel = !gone && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (gone) return err_set(e, ERR_CANCELLED, "job is no longer running here");
    if (cancel) {
        atomic_store(&c->cancel, 1);
        return stop_error(c, e);
    }
    return 0;
}

/* ---------------------------------------------------------------- API side */

const job_kind *jobs_kind_find(const app *a, const char *name) {
    if (!name || !a->job_kinds) return NULL;
    for (int i = 0; i < a->n_job_kinds; i++)
        if (!strcmp(a->job_kinds[i].name, name)) return &a->job_kinds[i];
    return NULL;
}

int64_t jobs_enqueue(app *a, const char *kind, const json_t *params, int64_t user_id, err *e) {
    if (!jobs_kind_find(a, kind)) return err_set(e, ERR_UNPROCESSABLE, "unknown job kind '%s'", kind), -1;
    char *pj = json_dumps(params ? params : json_object(), JSON_COMPACT);
    char uid[32], attempts[16];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(attempts, sizeof attempts, "%d", a->cfg.job_max_attempts);
    const char *p[] = {kind, pj ? pj : "{}", user_id > 0 ? uid : NULL, attempts};
    PGconn *c = db_acquire(a->db, e);
    if (!c) {
        free(pj);
        return -1;
    }
    PGresult *r = db_exec(c,
                          "INSERT INTO jobs(kind, params, created_by, max_attempts, message)"
                          " VALUES ($1, $2::jsonb, $3, $4, 'queued') RETURNING id",
                          4, p, e);
    db_release(a->db, c);
    free(pj);
    if (!r) return -1;
    int64_t id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return id;
}

#define JOB_COLUMNS                                                                          \
    "id, kind, params, state, round(progress::numeric, 4)::float8 AS progress, message, error,"  \
    " result, attempts, max_attempts,"   \
    " cancel_requested, worker, created_by, created_at, started_at, finished_at,"           \
    " heartbeat_at, seq"

static json_t *json_from_text(const char *text, err *e) {
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) err_set(e, ERR_INTERNAL, "bad JSON from the database: %s", je.text);
    return j;
}

json_t *jobs_get_json(app *a, int64_t id, err *e) {
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return NULL;
    PGresult *r = db_exec(c, "SELECT row_to_json(j)::text FROM (SELECT " JOB_COLUMNS
                             " FROM jobs WHERE id = $1) j",
                          1, p, e);
    db_release(a->db, c);
    if (!r) return NULL;
    if (PQntuples(r) == 0) {
        PQclear(r);
        err_set(e, ERR_NOT_FOUND, "no job %lld", (long long)id);
        return NULL;
    }
    json_t *j = json_from_text(PQgetvalue(r, 0, 0), e);
    PQclear(r);
    return j;
}

json_t *jobs_list_json(app *a, const char *state, const char *kind, long limit, long offset,
                       err *e) {
    char lim[32], off[32];
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *p[] = {state, kind, lim, off};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return NULL;
    PGresult *r = db_exec(
        c,
        "SELECT json_build_object('items', coalesce((SELECT json_agg(j) FROM (SELECT " JOB_COLUMNS
        " FROM jobs WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)"
        " ORDER BY id DESC LIMIT $3 OFFSET $4) j), '[]'::json),"
        " 'total', (SELECT count(*) FROM jobs WHERE ($1::text IS NULL OR state = $1)"
        " AND ($2::text IS NULL OR kind = $2)), 'limit', $3::int, 'offset', $4::int)::text",
        4, p, e);
    db_release(a->db, c);
    if (!r) return NULL;
    json_t *j = json_from_text(PQgetvalue(r, 0, 0), e);
    PQclear(r);
    return j;
}

json_t *jobs_cancel(app *a, int64_t id, err *e) {
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return NULL;
    PGresult *r = db_exec(c,
                          "UPDATE jobs SET cancel_requested = true,"
                          " state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,"
                          " finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,"
                          " message = CASE WHEN state = 'queued' THEN 'cancelled before it started'"
                          "   ELSE 'cancelling' END"
                          " WHERE id = $1 AND state IN ('queued', 'running') RETURNING id",
                          1, p, e);
    db_release(a->db, c);
    if (!r) return NULL;
    int changed = PQntuples(r) > 0;
    PQclear(r);
    err te = {0};
    /* Best effort: a cancelled job's queued tasks are never claimed anyway. */
    if (changed && a->job_tasks && a->job_tasks->cancel(a, id, &te))
        log_warn("jobs: job %lld cancelled; its queued chunk tasks not marked: %s", (long long)id, te.msg);
    json_t *job = jobs_get_json(a, id, e);
    if (!job) return NULL;
    if (!changed) {
        err_set(e, ERR_CONFLICT, "job %lld already %s", (long long)id,
                json_string_value(json_object_get(job, "state")));
        json_decref(job);
        return NULL;
    }
    return job;
}

/* ---------------------------------------------------------------- worker side */

int jobs_reap_stale(app *a, err *e) {
    char secs[32];
    snprintf(secs, sizeof secs, "%.3f", a->cfg.stale_after_ms / 1000.0);
    const char *p[] = {secs};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(
        c,
        "WITH stale AS (SELECT id FROM jobs WHERE state = 'running'"
        "   AND heartbeat_at < now() - make_interval(secs => $1::float8)"
        "   FOR UPDATE SKIP LOCKED)"
        " UPDATE jobs j SET"
        "   state = CASE WHEN j.cancel_requested THEN 'cancelled'"
        "                WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END,"
        "   error = CASE WHEN NOT j.cancel_requested AND j.attempts >= j.max_attempts THEN"
        "     format('worker %s stopped answering (no heartbeat for %s s) on attempt %s of %s',"
        "            coalesce(j.worker, '?'), $1, j.attempts, j.max_attempts) END,"
        "   message = CASE WHEN NOT j.cancel_requested AND j.attempts < j.max_attempts THEN"
        "     format('re-queued: worker %s stopped answering', coalesce(j.worker, '?'))"
        "     ELSE j.message END,"
        "   finished_at = CASE WHEN j.cancel_requested OR j.attempts >= j.max_attempts"
        "     THEN now() END,"
        "   worker = NULL"
        " FROM stale WHERE j.id = stale.id RETURNING j.id, j.state",
        1, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        log_warn("jobs: job %s's worker was lost; now %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return n;
}

static void finish(app *a, job_ctx *ctx, const char *state, const char *error, json_t *result,
                   const char *message) {
    char id[32], att[16];
    snprintf(id, sizeof id, "%lld", (long long)ctx->id);
    snprintf(att, sizeof att, "%d", ctx->attempt);
    char *res = result ? json_dumps(result, JSON_COMPACT) : NULL;
    const char *p[] = {id, state, error, res, message, a->worker_name, att};
    err e = {0};
    for (int tries = 0; tries < 30; tries++) {
        PGconn *c = db_acquire(a->db, &e);
        if (c) {
            PGresult *r = db_exec(
                c,
                "UPDATE jobs SET state = $2, error = $3, result = $4::jsonb, message = $5,"
                " progress = CASE WHEN $2 = 'succeeded' THEN 1 ELSE progress END,"
                " finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END,"
                " attempts = CASE WHEN $2 = 'queued' THEN attempts - 1 ELSE attempts END,"
                " worker = CASE WHEN $2 = 'queued' THEN NULL ELSE worker END"
                " WHERE id = $1 AND state = 'running' AND worker = $6 AND attempts = $7::int",
                7, p, &e);
            db_release(a->db, c);
            if (r) {
                if (atoi(PQcmdTuples(r)) == 0)
                    log_warn("jobs: job %s was taken over before it finished here", id);
                PQclear(r);
                break;
            }
        }
        /* The outcome must not be lost to a short database outage. */
        err_clear(&e);
        sleep(1);
    }
    free(res);
}

static void run_claimed(app *a, job_ctx *ctx, const char *params_text) {
    const job_kind *k = jobs_kind_find(a, ctx->kind);
    json_error_t je;
    json_t *params = json_loads(params_text, 0, &je);
    err e = {0};
    json_t *result = NULL;
    uint64_t t0 = jobs_mono_ms();
    log_info("jobs: job %lld (%s) started, attempt %d", (long long)ctx->id, ctx->kind, ctx->attempt);
    int rc;
    if (!k) rc = err_set(&e, ERR_UNPROCESSABLE, "unknown job kind '%s' in this version", ctx->kind);
    else if (!params) rc = err_set(&e, ERR_UNPROCESSABLE, "bad job parameters: %s", je.text);
    else rc = k->run(ctx, params, &result, &e);
    double secs = (double)(jobs_mono_ms() - t0) / 1000.0;
    if (rc == 0) {
        finish(a, ctx, "succeeded", NULL, result, "done");
        log_info("jobs: job %lld (%s) succeeded in %.2fs", (long long)ctx->id, ctx->kind, secs);
    } else if (e.code == ERR_CANCELLED && atomic_load(&ctx->cancel)) {
        finish(a, ctx, "cancelled", NULL, NULL, "cancelled");
        log_info("jobs: job %lld (%s) cancelled after %.2fs", (long long)ctx->id, ctx->kind, secs);
    } else if (e.code == ERR_CANCELLED && atomic_load(&a->stopping)) {
        finish(a, ctx, "queued", NULL, NULL, "interrupted by a shutdown; will run again");
        log_info("jobs: job %lld (%s) interrupted by shutdown, re-queued", (long long)ctx->id,
                 ctx->kind);
    } else {
        const char *msg = e.msg[0] ? e.msg : "failed";
        if (err_http_status(e.code) >= 500 && e.code != ERR_UNAVAILABLE)
            log_error("jobs: job %lld (%s) failed: %s", (long long)ctx->id, ctx->kind, msg);
        finish(a, ctx, "failed", msg, NULL, "failed");
        log_info("jobs: job %lld (%s) failed after %.2fs", (long long)ctx->id, ctx->kind, secs);
    }
    json_decref(result);
    json_decref(params);
}

int jobs_run_one(app *a, err *e) {
    const char *p[] = {a->worker_name};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c,
                          "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                          " started_at = now(), heartbeat_at = now(), worker = $1, progress = 0,"
                          " message = 'started', error = NULL"
                          " WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id"
                          "   FOR UPDATE SKIP LOCKED LIMIT 1)"
                          " RETURNING id, kind, params::text, attempts",
                          1, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    job_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        PQclear(r);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    ctx->app = a;
    ctx->id = atoll(PQgetvalue(r, 0, 0));
    snprintf(ctx->kind, sizeof ctx->kind, "%s", PQgetvalue(r, 0, 1));
    ctx->attempt = atoi(PQgetvalue(r, 0, 3));
    char *params = strdup(PQgetvalue(r, 0, 2));
    PQclear(r);
    jobs_running_add(ctx);
    run_claimed(a, ctx, params ? params : "{}");
    jobs_running_remove(ctx);
    free(params);
    free(ctx);
    return 1;
}

static void *worker_main(void *arg) {
    job_workers *w = arg;
    while (!atomic_load(&w->stop) && !atomic_load(&w->app->stopping)) {
        err e = {0};
        /* A chunk of a job already running before a new job: the running one ends sooner. */
        int ran = w->app->job_tasks ? w->app->job_tasks->run_one(w->app, 0, &e) : 0;
        if (ran == 0) ran = jobs_run_one(w->app, &e);
        if (ran < 0) log_warn("jobs: cannot claim work: %s", e.msg);
        if (ran != 1)
            for (int i = 0; i < 5 && !atomic_load(&w->stop); i++) usleep(60000);
    }
    return NULL;
}

/* Heartbeats for the jobs running here, cancel flags back, and the reaper. */
static void *heart_main(void *arg) {
    job_workers *w = arg;
    app *a = w->app;
    while (!atomic_load(&w->stop)) {
        char ids[MAX_RUNNING * 24] = "{", task_ids[MAX_RUNNING * 24] = "{";
        int n = 0, n_tasks = 0;
        pthread_mutex_lock(&running_lock);
        for (int i = 0; i < MAX_RUNNING; i++) {
            if (!running[i]) continue;
            if (running[i]->task_id > 0)
                n_tasks += snprintf(task_ids + strlen(task_ids), sizeof task_ids - strlen(task_ids), "%s%lld",
                                    n_tasks ? "," : "", (long long)running[i]->task_id) > 0;
            else
                n += snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%lld", n ? "," : "",
                              (long long)running[i]->id) > 0;
        }
        pthread_mutex_unlock(&running_lock);
        strcat(ids, "}");
        strcat(task_ids, "}");
        if (n_tasks && a->job_tasks) a->job_tasks->heartbeat(a, task_ids);
        err e = {0};
        if (n) {
            const char *p[] = {ids, a->worker_name};
            PGconn *c = db_acquire(a->db, &e);
            PGresult *r = c ? db_exec(c,
                                      "UPDATE jobs SET heartbeat_at = now() WHERE id = ANY($1::bigint[])"
                                      " AND state = 'running' AND worker = $2"
                                      " RETURNING id, cancel_requested",
                                      2, p, &e)
                            : NULL;
            if (c) db_release(a->db, c);
            if (r) {
                pthread_mutex_lock(&running_lock);
                for (int i = 0; i < PQntuples(r); i++) {
                    int64_t id = atoll(PQgetvalue(r, i, 0));
                    if (PQgetvalue(r, i, 1)[0] != 't') continue;
                    for (int k = 0; k < MAX_RUNNING; k++)
                        if (running[k] && !running[k]->task_id && running[k]->id == id)
                            atomic_store(&running[k]->cancel, 1);
                }
                pthread_mutex_unlock(&running_lock);
                PQclear(r);
            }
        }
        err_clear(&e);
        if (jobs_reap_stale(a, &e) < 0 && e.code != ERR_UNAVAILABLE)
            log_warn("jobs: reaper: %s", e.msg);
        err_clear(&e);
        if (a->job_tasks && a->job_tasks->reap_stale(a, &e) < 0 && e.code != ERR_UNAVAILABLE)
            log_warn("jobs: task reaper: %s", e.msg);
        for (int slept = 0; slept < a->cfg.heartbeat_ms && !atomic_load(&w->stop); slept += 50)
            usleep(50000);
    }
    return NULL;
}

job_workers *job_workers_start(app *a, int n, err *e) {
    job_workers *w = calloc(1, sizeof *w);
    if (!w) return err_set(e, ERR_INTERNAL, "out of memory"), NULL;
    w->app = a;
    w->threads = calloc((size_t)(n > 0 ? n : 1), sizeof *w->threads);
    if (!w->threads) {
        free(w);
        return err_set(e, ERR_INTERNAL, "out of memory"), NULL;
    }
    for (int i = 0; i < n; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) break;
        w->n++;
    }
    if (pthread_create(&w->heart, NULL, heart_main, w) == 0) w->heart_started = 1;
    log_info("jobs: %d worker thread(s) as %s", w->n, a->worker_name);
    return w;
}

void job_workers_stop(job_workers *w) {
    if (!w) return;
    atomic_store(&w->stop, 1);
    for (int i = 0; i < w->n; i++) pthread_join(w->threads[i], NULL);
    if (w->heart_started) pthread_join(w->heart, NULL);
    free(w->threads);
    free(w);
}
