/* routes_jobs.c — list, start, follow and cancel jobs. */
#include <stdio.h>
#include <string.h>

#include "http_internal.h"
#include "jobs.h"
#include "auth.h"
#include "routes_jobs.h"

static const char *const job_states[] = {"queued", "running", "succeeded", "failed", "cancelled",
                                         NULL};

void route_jobs_list(req *r) {
    const char *state = req_query(r, "state");
    const char *kind = req_query(r, "kind");
    if (state) {
        int ok = 0;
        for (const char *const *s = job_states; *s; s++) ok |= !strcmp(*s, state);
        if (!ok) {
            reply_error(r, 400, "bad_request",
                        "state must be queued, running, succeeded, failed or cancelled");
            return;
        }
    }
    req_page pg;
    if (!req_page_or_reply(r, 500, 50, REQ_OFFSET_MAX, &pg)) return;
    err e = {0};
    json_t *page = jobs_list_json(r->app, state, kind, pg.limit, pg.offset, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_jobs_create(req *r) {
    const char *kind = json_req_string_or_reply(r, r->json, "kind", 64);
    if (!kind) return;
    const job_kind *k = jobs_kind_find(r->app, kind);
    if (!k) {
        reply_error(r, 422, "unprocessable", "field 'kind': unknown job kind '%s'", kind);
        return;
    }
    int need = role_parse(k->min_role);
    if (need > (int)r->user_role) {
        reply_error(r, 403, "forbidden", "starting a '%s' job needs the %s role", kind, k->min_role);
        return;
    }
    json_t *params = json_object_get(r->json, "params");
    if (params && !json_is_object(params)) {
        reply_error(r, 422, "unprocessable", "field 'params' must be an object");
        return;
    }
    err e = {0};
    int64_t id = jobs_enqueue(r->app, kind, params, r->user_id, &e);
    if (id < 0) {
        reply_err(r, &e);
        return;
    }
    json_t *job = jobs_get_json(r->app, id, &e);
    if (!job) {
        reply_err(r, &e);
        return;
    }
    reply_json_at(r, 201, job, "/api/v1/jobs/%lld", (long long)id);
}

/* GET /jobs/{id}?wait=S&after=SEQ answers at once when the job's seq is past
 * SEQ (or it has finished), else parks the request until it changes or S
 * seconds pass — a browser follows progress with one open request. */
void route_jobs_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    long wait, after;
    if (!req_query_int_or_reply(r, "wait", 0, 60, 0, &wait) ||
        !req_query_int_or_reply(r, "after", 0, 1L << 62, 0, &after))
        return;
    for (int tries = 0; tries < 3; tries++) {
        uint64_t gen = req_wait_generation();
        err e = {0};
        json_t *job = jobs_get_json(r->app, id, &e);
        if (!job) {
            reply_err(r, &e);
            return;
        }
        long seq = (long)json_integer_value(json_object_get(job, "seq"));
        const char *state = json_string_value(json_object_get(job, "state"));
        int finished = state && (strcmp(state, "queued") && strcmp(state, "running"));
        if (wait == 0 || seq > after || finished || req_wait_expired(r)) {
            reply_json(r, 200, job);
            return;
        }
        json_decref(job);
        if (req_wait_job(r, id, (double)wait, gen)) return;
    }
    err e = {0};
    json_t *job = jobs_get_json(r->app, id, &e);
    reply_json_or_err(r, 200, job, &e);
}

void route_jobs_cancel(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *job = jobs_cancel(r->app, id, &e);
    reply_json_or_err(r, 200, job, &e);
}
