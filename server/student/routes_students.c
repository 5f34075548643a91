/* routes_students.c — students over HTTP: start a distillation (job), list and read
 * students and their immutable versions (weights, measures), tune (a new version from
 * bounds, synchronous, 409 with the head when the parent is not the head), restore,
 * the provenance log with measure deltas, and the analyses of a version: per-class
 * concept influence, disagreement subsets, per-image concept contributions, and the
 * JSON export. Handlers parse and check the request, call the student modules
 * (README.md here lists them) and answer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "student/routes_students.h"
#include "student/student_analyses.h"
#include "student/student_distill.h"
#include "student/student_read.h"
#include "student/student_tune.h"
#include "student/student_version_body.h"

/* ---- helpers ------------------------------------------------------------------ */

/* Class from a query value: a name or an index; -2 when absent, -1 when unknown. */
static long class_arg(const char *s, char *const *classes, size_t c) {
    if (!s) return -2;
    for (size_t k = 0; k < c; k++)
        if (!strcmp(classes[k], s)) return (long)k;
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 0 && (size_t)v < c ? v : -1;
}

static void reply_job(req *r, int64_t job, err *e) {
    json_t *jj = job < 0 ? NULL : jobs_get_json(r->app, job, e);
    if (!jj) {
        reply_err(r, e);
        return;
    }
    reply_json_at(r, 202, jj, "/api/v1/jobs/%lld", (long long)job);
}

/* 409 with the head's number, or the usual error body. */
static void reply_tune_err(req *r, const err *e, int head) {
    if (e->code == ERR_CONFLICT && head > 0) {
        reply_json(r, 409, json_pack("{s:{s:s,s:s},s:i}", "error", "code", err_code_name(e->code), "message", e->msg,
                                     "head", head));
        return;
    }
    reply_err(r, e);
}

/* field 'note': absent, or a string of at most 2000 characters; replies 422 else. */
static int note_ok_or_reply(req *r, const json_t *nv) {
    if (nv && (!json_is_string(nv) || json_string_length(nv) > 2000)) {
        reply_error(r, 422, "unprocessable", "field 'note' must be a string of at most 2000 characters");
        return 0;
    }
    return 1;
}

/* ---- create, list, read ------------------------------------------------------- */

void route_students_create(req *r) {
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) {
        if (strcmp(key, "extraction_id") && strcmp(key, "teacher_output_id") && strcmp(key, "lambda") &&
            strcmp(key, "name")) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return;
        }
    }
    int64_t xid, tid;
    if (json_req_int_or_reply(r, r->json, "extraction_id", 1, INT64_MAX, &xid) ||
        json_req_int_or_reply(r, r->json, "teacher_output_id", 1, INT64_MAX, &tid))
        return;
    json_t *lv = json_object_get(r->json, "lambda"), *nv = json_object_get(r->json, "name");
    if (lv && (!json_is_number(lv) || !isfinite(json_number_value(lv)) || json_number_value(lv) < 0)) {
        reply_error(r, 422, "unprocessable", "field 'lambda' must be a finite number >= 0");
        return;
    }
    if (nv && (!json_is_string(nv) || json_string_length(nv) < 1 || json_string_length(nv) > 128)) {
        reply_error(r, 422, "unprocessable", "field 'name' must be a string of 1 to 128 characters");
        return;
    }
    err e = {0};
    if (ss_distill_check(r->app, xid, tid, &e)) {
        reply_err(r, &e);
        return;
    }
    json_t *params = json_pack("{s:I,s:I}", "extraction_id", (json_int_t)xid, "teacher_output_id", (json_int_t)tid);
    if (lv) json_object_set(params, "lambda", lv);
    if (nv) json_object_set(params, "name", nv);
    int64_t job = jobs_enqueue(r->app, "student.distill", params, r->user_id, &e);
    json_decref(params);
    reply_job(r, job, &e);
}

void route_students_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    const char *ds = req_query(r, "dataset_id");
    if (ds && strspn(ds, "0123456789") != strlen(ds)) {
        reply_error(r, 400, "bad_request", "dataset_id must be an id");
        return;
    }
    err e = {0};
    json_t *page = ss_students_list_json(r->app, pg.limit, pg.offset, ds && *ds ? ds : NULL, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_students_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j = ss_student_json(r->app, id, &e);
    reply_json_or_err(r, 200, j, &e);
}

void route_student_versions_list(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    err e = {0};
    json_t *page = ss_versions_list_json(r->app, id, pg.limit, pg.offset, &e);
    reply_json_or_err(r, 200, page, &e);
}

/* A version's body never changes: served with a strong ETag, 304 on If-None-Match. */
void route_student_version_get(req *r) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return;
    char *body;
    size_t len;
    char etag[VERSION_BODY_ETAG];
    err e = {0};
    if (ss_version_body(r->app, sid, (int)num, &body, &len, etag, &e)) {
        reply_err(r, &e);
        return;
    }
    const char *inm = req_header(r, "If-None-Match");
    if (inm && strstr(inm, etag)) reply_json_etag(r, NULL, etag); /* 304 */
    else reply_bytes(r, 200, "application/json", body, len, etag);
    free(body);
}

/* ---- tune, restore, provenance ------------------------------------------------ */

void route_student_versions_create(req *r) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) {
        if (strcmp(key, "parent") && strcmp(key, "actions") && strcmp(key, "note")) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return;
        }
    }
    int64_t parent;
    if (json_req_int_or_reply(r, r->json, "parent", 1, INT32_MAX, &parent)) return;
    json_t *nv = json_object_get(r->json, "note");
    if (!note_ok_or_reply(r, nv)) return;
    err e = {0};
    json_t *out = NULL;
    int head = 0;
    if (ss_tune(r->app, sid, (int)parent, json_object_get(r->json, "actions"), json_string_value(nv), r->user_id, &out,
                &head, &e)) {
        reply_tune_err(r, &e, head);
        return;
    }
    reply_json_at(r, 201, out, "/api/v1/students/%lld/versions/%lld", (long long)sid,
                  (long long)json_integer_value(json_object_get(out, "number")));
}

void route_student_version_restore(req *r) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return;
    json_t *nv = r->json ? json_object_get(r->json, "note") : NULL;
    if (!note_ok_or_reply(r, nv)) return;
    /* Optional 'parent': the head the caller saw (409 with the head when it moved on). */
    int64_t parent = 0;
    if (r->json && json_object_get(r->json, "parent") &&
        json_req_int_or_reply(r, r->json, "parent", 1, INT32_MAX, &parent))
        return;
    char note[64];
    snprintf(note, sizeof note, "restore of version %lld", (long long)num);
    err e = {0};
    json_t *out = NULL;
    int head = 0;
    if (ss_restore(r->app, sid, (int)num, (int)parent, nv ? json_string_value(nv) : note, r->user_id, &out, &head,
                   &e)) {
        reply_tune_err(r, &e, head);
        return;
    }
    reply_json_at(r, 201, out, "/api/v1/students/%lld/versions/%lld", (long long)sid,
                  (long long)json_integer_value(json_object_get(out, "number")));
}

void route_student_provenance(req *r) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    req_page pg;
    if (!req_page_or_reply(r, 200, 50, REQ_OFFSET_MAX, &pg)) return;
    err e = {0};
    json_t *page = ss_provenance_json(r->app, sid, pg.limit, pg.offset, &e);
    reply_json_or_err(r, 200, page, &e);
}

/* ---- analyses of a version ---------------------------------------------------- */

/* Student {0}, version {1} and the (fresh) problem; replies and returns -1 on failure. */
static int analysis_open_or_reply(req *r, ss_version *v, ss_problem **p) {
    *p = NULL;
    memset(v, 0, sizeof *v);
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return -1;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return -1;
    err e = {0};
    if (ss_analysis_open(r->app, sid, (int)num, v, p, &e)) {
        reply_err(r, &e);
        return -1;
    }
    return 0;
}

void route_student_influence(req *r) {
    ss_version v;
    ss_problem *p;
    if (analysis_open_or_reply(r, &v, &p)) return;
    long k = class_arg(r->params[2], p->classes, p->c);
    const char *split = req_query(r, "split");
    int si = ss_problem_split(p, split);
    long limit;
    if (k < 0) {
        reply_error(r, 404, "not_found", "no class '%s'", r->params[2]);
    } else if (split && si < 0) {
        reply_error(r, 422, "unprocessable", "query parameter 'split': no split '%s'", split);
    } else if (req_query_int_or_reply(r, "limit", 1, 100000, (long)p->d, &limit)) {
        err e = {0};
        json_t *j = ss_influence_json(p, &v, (size_t)k, si, limit, &e);
        reply_json_or_err(r, 200, j, &e);
    }
    ss_problem_release(p);
    ss_version_free(&v);
}

/* image_ids: 1 to 1000 ids separated by commas -> only (N): 1 on their rows (an image
 * outside this student's data matches nothing). 0 and *bad on a malformed list. */
static unsigned char *image_rows_parse(const ss_problem *p, const char *ids, int *bad) {
    unsigned char *only = calloc(p->n + 1, 1); // (N)
    size_t count = 0;
    *bad = 0;
    for (const char *q = ids; only;) {
        char *end;
        long long id = strtoll(q, &end, 10);
        if (*q < '0' || *q > '9' || (*end && *end != ',') || ++count > 1000) {
            *bad = 1;
            break;
        }
        long row = ss_problem_row(p, id);
        if (row >= 0) only[row] = 1;
        if (!*end) break;
        q = end + 1;
    }
    return only;
}

/* GET …/versions/{v}/disagreements: the images of a confusion cell, a class or a split
 * with both answers, paged in image id order. agreement=disagree (the default) keeps
 * the rows where student != teacher, agree the others, all every row; teacher_class,
 * student_class, label (the true class), split and image_ids (a list, e.g. a concept
 * gallery's page) filter. The answer depends only on the (immutable) version and the
 * problem's checksums (a stale student is refused), so it carries a strong ETag and
 * If-None-Match is answered 304 before any work. */
void route_student_disagreements(req *r) {
    ss_version v;
    ss_problem *p;
    if (analysis_open_or_reply(r, &v, &p)) return;
    const char *split = req_query(r, "split"), *agr = req_query(r, "agreement");
    ss_rows_filter f = {0};
    f.split = ss_problem_split(p, split);
    f.agreement = !agr || !strcmp(agr, "disagree") ? 0 : !strcmp(agr, "agree") ? 1 : !strcmp(agr, "all") ? 2 : -1;
    f.teacher_class = class_arg(req_query(r, "teacher_class"), p->classes, p->c);
    f.student_class = class_arg(req_query(r, "student_class"), p->classes, p->c);
    f.label = class_arg(req_query(r, "label"), p->classes, p->c);
    const char *ids = req_query(r, "image_ids");
    int ids_bad = 0;
    unsigned char *only = ids ? image_rows_parse(p, ids, &ids_bad) : NULL;
    f.only = only;
    if (ids && !only) {
        reply_error(r, 500, "internal", "out of memory");
    } else if (ids_bad) {
        reply_error(r, 400, "bad_request",
                    "query parameter 'image_ids' must be 1 to 1000 image ids separated by commas");
    } else if (split && f.split < 0) {
        reply_error(r, 422, "unprocessable", "query parameter 'split': no split '%s'", split);
    } else if (f.agreement < 0) {
        reply_error(r, 400, "bad_request", "query parameter 'agreement' must be disagree, agree or all");
    } else if (f.teacher_class == -1 || f.student_class == -1 || f.label == -1) {
        reply_error(r, 422, "unprocessable", "query parameter '%s': no such class",
                    f.teacher_class == -1 ? "teacher_class" : f.student_class == -1 ? "student_class" : "label");
    } else if (req_query_int_or_reply(r, "limit", 1, 1000, 100, &f.limit) &&
               req_query_int_or_reply(r, "offset", 0, 1000000000, 0, &f.offset)) {
        char etag[SS_ETAG];
        ss_disagreements_etag(p, &v, etag);
        const char *inm = req_header(r, "If-None-Match");
        if (inm && strstr(inm, etag)) {
            reply_json_etag(r, NULL, etag); /* 304 */
        } else {
            err e = {0};
            json_t *j = ss_disagreements_json(p, &v, &f, &e);
            if (j) reply_json_etag(r, j, etag);
            else reply_err(r, &e);
        }
    }
    free(only);
    ss_problem_release(p);
    ss_version_free(&v);
}

void route_student_contributions(req *r) {
    ss_version v;
    ss_problem *p;
    if (analysis_open_or_reply(r, &v, &p)) return;
    char *end;
    long long image_id = strtoll(r->params[2], &end, 10);
    long row = *r->params[2] && !*end ? ss_problem_row(p, image_id) : -1;
    long only = class_arg(req_query(r, "class"), p->classes, p->c);
    long top;
    if (row < 0) {
        reply_error(r, 404, "not_found", "image %s is not in this student's data", r->params[2]);
    } else if (only == -1) {
        reply_error(r, 422, "unprocessable", "query parameter 'class': no such class");
    } else if (req_query_int_or_reply(r, "top", 1, 100000, 20, &top)) {
        err e = {0};
        json_t *j = ss_contributions_json(p, &v, (size_t)row, image_id, only, top, &e);
        reply_json_or_err(r, 200, j, &e);
    }
    ss_problem_release(p);
    ss_version_free(&v);
}

void route_student_export(req *r) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return;
    err e = {0};
    json_t *j = ss_export_json(r->app, sid, (int)num, &e);
    if (!j) {
        reply_err(r, &e);
        return;
    }
    char disp[96];
    snprintf(disp, sizeof disp, "attachment; filename=\"student-%lld-v%lld.json\"", (long long)sid, (long long)num);
    reply_add_header(r, "Content-Disposition", disp);
    reply_json(r, 200, j);
}
