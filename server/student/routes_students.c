/* routes_students.c — students (SPEC steps 5-7) over HTTP: start a distillation
 * (job), list and read students and their immutable versions (weights, measures),
 * tune (a new version from bounds, synchronous, 409 with the head when the parent is
 * not the head), restore, the provenance log with measure deltas, and the analyses of
 * a version: per-class concept influence, disagreement subsets, per-image concept
 * contributions, and the export.
 *
 * A version's body never changes, so it is served from a small in-process cache of
 * serialised bodies with a strong ETag. The analyses need the training problem
 * (student_store.h keeps it cached) and refuse a stale student (409).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_json.h"
#include "jobs.h"
#include "student/routes_students.h"
#include "student/student_measures.h"
#include "student/student_split_measures.h"
#include "student/student_store.h"
#include "student/student_tune.h"

#define VERSION_CACHE 16

/* ---- helpers ------------------------------------------------------------------ */

static json_t *floats_json(const float *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, isfinite(v[i]) ? json_real((double)v[i]) : json_null());
    return a;
}

static json_t *matrix_json(const float *m, size_t rows, size_t cols) { // m (rows, cols)
    json_t *a = json_array();
    for (size_t r = 0; r < rows; r++) json_array_append_new(a, floats_json(m + r * cols, cols));
    return a;
}

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
    /* The job checks the same again; answering here saves a failed job. */
    char xs[24], ts[24];
    snprintf(xs, sizeof xs, "%lld", (long long)xid);
    snprintf(ts, sizeof ts, "%lld", (long long)tid);
    const char *p[] = {xs, ts};
    err e = {0};
    json_t *chk = db_json(r->app, "none",
                          "SELECT json_build_object("
                          " 'x', (SELECT json_build_object('state', state, 'dataset_id', dataset_id)"
                          "       FROM extractions WHERE id = $1),"
                          " 't', (SELECT json_build_object('dataset_id', dataset_id) FROM teacher_outputs"
                          "       WHERE id = $2))::text",
                          2, p, &e);
    if (!chk) {
        reply_err(r, &e);
        return;
    }
    json_t *x = json_object_get(chk, "x"), *t = json_object_get(chk, "t");
    if (!json_is_object(x)) {
        reply_error(r, 422, "unprocessable", "field 'extraction_id': no extraction %lld", (long long)xid);
    } else if (!json_is_object(t)) {
        reply_error(r, 422, "unprocessable", "field 'teacher_output_id': no teacher output %lld", (long long)tid);
    } else if (strcmp(json_string_value(json_object_get(x, "state")), "ready")) {
        reply_error(r, 409, "conflict", "extraction %lld is %s, not ready", (long long)xid,
                    json_string_value(json_object_get(x, "state")));
    } else if (json_integer_value(json_object_get(x, "dataset_id")) !=
               json_integer_value(json_object_get(t, "dataset_id"))) {
        reply_error(r, 422, "unprocessable",
                    "field 'teacher_output_id': teacher output %lld is of another dataset than extraction %lld",
                    (long long)tid, (long long)xid);
    } else {
        json_t *params = json_pack("{s:I,s:I}", "extraction_id", (json_int_t)xid, "teacher_output_id", (json_int_t)tid);
        if (lv) json_object_set(params, "lambda", lv);
        if (nv) json_object_set(params, "name", nv);
        int64_t job = jobs_enqueue(r->app, "student.distill", params, r->user_id, &e);
        json_decref(params);
        reply_job(r, job, &e);
    }
    json_decref(chk);
}

#define STUDENT_JSON                                                                                            \
    "json_build_object('id', s.id, 'name', s.name, 'dataset_id', s.dataset_id, 'teacher_output_id',         \
     s.teacher_output_id, 'extraction_id', s.extraction_id, 'lambda', s.lambda, 'concepts',                 \
     cardinality(s.concepts), 'classes', s.classes, 'created_by', s.created_by, 'created_at', s.created_at,  \
     'stale', s.presence_sha256 IS DISTINCT FROM (SELECT presence_sha256 FROM extractions WHERE id =         \
     s.extraction_id) OR s.probs_sha256 IS DISTINCT FROM (SELECT probs_sha256 FROM teacher_outputs WHERE     \
     id = s.teacher_output_id), 'head', (SELECT json_build_object('number', v.number, 'id', v.id,            \
     'created_at', v.created_at, 'note', v.note, 'measures', v.measures) FROM student_versions v WHERE       \
     v.student_id = s.id ORDER BY v.number DESC LIMIT 1))"

void route_students_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    const char *ds = req_query(r, "dataset_id");
    if (ds && strspn(ds, "0123456789") != strlen(ds)) {
        reply_error(r, 400, "bad_request", "dataset_id must be an id");
        return;
    }
    const char *p[] = {pg.limit_text, pg.offset_text, ds && *ds ? ds : NULL};
    err e = {0};
    json_t *page = db_json(r->app, "no students",
                           "SELECT json_build_object('items', COALESCE((SELECT json_agg(x.j ORDER BY x.id DESC) FROM ("
                           "  SELECT s.id, " STUDENT_JSON " AS j FROM students s"
                           "  WHERE ($3::bigint IS NULL OR s.dataset_id = $3) ORDER BY s.id DESC"
                           "  LIMIT $1::int OFFSET $2::int) x), '[]'::json),"
                           " 'total', (SELECT count(*) FROM students WHERE ($3::bigint IS NULL OR dataset_id = $3)),"
                           " 'limit', $1::int, 'offset', $2::int)::text",
                           3, p, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_students_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j =
        db_json_by_id(r->app, "student", id, "SELECT " STUDENT_JSON "::text FROM students s WHERE s.id = $1", &e);
    reply_json_or_err(r, 200, j, &e);
}

void route_student_versions_list(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    char ids[24], what[48];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(what, sizeof what, "no student %lld", (long long)id);
    const char *p[] = {ids, pg.limit_text, pg.offset_text};
    err e = {0};
    json_t *page = db_json(
        r->app, what,
        "SELECT json_build_object('items', COALESCE((SELECT json_agg(x ORDER BY x.number DESC) FROM ("
        "  SELECT v.id, v.number, (SELECT number FROM student_versions WHERE id = v.parent_id) AS parent, v.lambda,"
        "         v.note, v.author, v.created_at, v.bounds_sha256 IS NOT NULL AS bounded, v.measures,"
        "         (SELECT kind FROM student_provenance WHERE version_id = v.id LIMIT 1) AS kind"
        "  FROM student_versions v WHERE v.student_id = s.id ORDER BY v.number DESC"
        "  LIMIT $2::int OFFSET $3::int) x), '[]'::json),"
        " 'total', (SELECT count(*) FROM student_versions WHERE student_id = s.id),"
        " 'head', (SELECT max(number) FROM student_versions WHERE student_id = s.id),"
        " 'limit', $2::int, 'offset', $3::int)::text FROM students s WHERE s.id = $1",
        3, p, &e);
    reply_json_or_err(r, 200, page, &e);
}

/* ---- one version: the body, cached serialised (versions never change) --------- */

typedef struct cached_body {
    int64_t student_id;
    int number;
    char *body;
    size_t len;
    char etag[96];
    unsigned long used;
} cached_body;

static pthread_mutex_t vc_mu = PTHREAD_MUTEX_INITIALIZER;
static cached_body vcache[VERSION_CACHE];
static unsigned long vc_clock;

/* The full version JSON: metadata, names, weights, biases, bounds, measures. */
static json_t *version_body(req *r, int64_t sid, int number, ss_version *v, err *e) {
    char ss[24], ns[16], what[64];
    snprintf(ss, sizeof ss, "%lld", (long long)sid);
    snprintf(ns, sizeof ns, "%d", v->number);
    snprintf(what, sizeof what, "no version %d of student %lld", number, (long long)sid);
    const char *p[] = {ss, ns};
    json_t *j = db_json(r->app, what,
                        "SELECT json_build_object('id', v.id, 'student_id', s.id, 'number', v.number, 'parent',"
                        " (SELECT number FROM student_versions WHERE id = v.parent_id), 'lambda', v.lambda, 'note',"
                        " v.note, 'author', v.author, 'created_at', v.created_at, 'weights_sha256', v.weights_sha256,"
                        " 'concepts', s.concepts, 'classes', s.classes, 'extraction_id', s.extraction_id,"
                        " 'teacher_output_id', s.teacher_output_id, 'dataset_id', s.dataset_id,"
                        " 'name', s.name)::text FROM student_versions v JOIN students s ON s.id = v.student_id"
                        " WHERE s.id = $1 AND v.number = $2::int",
                        2, p, e);
    if (!j) return NULL;
    json_object_set_new(j, "weights", matrix_json(v->w, v->c, v->d));
    json_object_set_new(j, "biases", floats_json(v->b, v->c));
    json_object_set_new(j, "bounds",
                        v->has_bounds ? json_pack("{s:o,s:o}", "lo", matrix_json(v->lo, v->c, v->d), "hi",
                                                  matrix_json(v->hi, v->c, v->d))
                                      : json_null());
    json_object_set(j, "measures", v->measures);
    return j;
}

void route_student_version_get(req *r) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return;
    char *body = NULL;
    size_t len = 0;
    char etag[96] = "";
    pthread_mutex_lock(&vc_mu);
    for (int i = 0; i < VERSION_CACHE; i++)
        if (vcache[i].body && vcache[i].student_id == sid && vcache[i].number == (int)num) {
            body = malloc(vcache[i].len);
            if (body) memcpy(body, vcache[i].body, vcache[i].len), len = vcache[i].len;
            snprintf(etag, sizeof etag, "%s", vcache[i].etag);
            vcache[i].used = ++vc_clock;
            break;
        }
    pthread_mutex_unlock(&vc_mu);
    if (!body) {
        err e = {0};
        ss_version v;
        if (ss_version_load(r->app, sid, (int)num, &v, &e)) {
            reply_err(r, &e);
            return;
        }
        json_t *j = version_body(r, sid, (int)num, &v, &e);
        if (j) {
            snprintf(etag, sizeof etag, "\"sv%lld-%.16s\"", (long long)v.id,
                     json_string_value(json_object_get(j, "weights_sha256")));
            body = json_dumps(j, JSON_COMPACT);
            len = body ? strlen(body) : 0;
            json_decref(j);
        }
        ss_version_free(&v);
        if (!body) {
            if (!err_is_set(&e)) err_set(&e, ERR_INTERNAL, "out of memory");
            reply_err(r, &e);
            return;
        }
        pthread_mutex_lock(&vc_mu);
        int slot = 0;
        for (int i = 0; i < VERSION_CACHE; i++) {
            if (!vcache[i].body) {
                slot = i;
                break;
            }
            if (vcache[i].used < vcache[slot].used) slot = i;
        }
        char *copy = malloc(len);
        if (copy) {
            memcpy(copy, body, len);
            free(vcache[slot].body);
            vcache[slot] = (cached_body){sid, (int)num, copy, len, "", ++vc_clock};
            snprintf(vcache[slot].etag, sizeof vcache[slot].etag, "%s", etag);
        }
        pthread_mutex_unlock(&vc_mu);
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
    if (nv && (!json_is_string(nv) || json_string_length(nv) > 2000)) {
        reply_error(r, 422, "unprocessable", "field 'note' must be a string of at most 2000 characters");
        return;
    }
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
    if (nv && (!json_is_string(nv) || json_string_length(nv) > 2000)) {
        reply_error(r, 422, "unprocessable", "field 'note' must be a string of at most 2000 characters");
        return;
    }
    char note[64];
    snprintf(note, sizeof note, "restore of version %lld", (long long)num);
    err e = {0};
    json_t *out = NULL;
    if (ss_restore(r->app, sid, (int)num, nv ? json_string_value(nv) : note, r->user_id, &out, &e)) {
        reply_err(r, &e);
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
    char ids[24], what[48];
    snprintf(ids, sizeof ids, "%lld", (long long)sid);
    snprintf(what, sizeof what, "no student %lld", (long long)sid);
    const char *p[] = {ids, pg.limit_text, pg.offset_text};
    err e = {0};
    json_t *page = db_json(
        r->app, what,
        "SELECT json_build_object('items', COALESCE((SELECT json_agg(x ORDER BY x.id DESC) FROM ("
        "  SELECT pr.id, pr.kind, pr.actions, pr.author, u.username AS author_name, pr.created_at,"
        "         v.number AS version, pv.number AS parent, pr.measures_before, pr.measures_after"
        "  FROM student_provenance pr JOIN student_versions v ON v.id = pr.version_id"
        "  LEFT JOIN student_versions pv ON pv.id = pr.parent_version_id"
        "  LEFT JOIN users u ON u.id = pr.author"
        "  WHERE pr.student_id = s.id ORDER BY pr.id DESC LIMIT $2::int OFFSET $3::int) x), '[]'::json),"
        " 'total', (SELECT count(*) FROM student_provenance WHERE student_id = s.id),"
        " 'limit', $2::int, 'offset', $3::int)::text FROM students s WHERE s.id = $1",
        3, p, &e);
    if (!page) {
        reply_err(r, &e);
        return;
    }
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(page, "items"), i, it) {
        json_t *d = ss_measure_deltas(json_object_get(it, "measures_before"), json_object_get(it, "measures_after"));
        json_object_set_new(it, "deltas", d ? d : json_null());
    }
    reply_json(r, 200, page);
}

/* ---- analyses of a version ---------------------------------------------------- */

/* Student, version {1} and the (fresh) problem; replies and returns -1 on failure. */
static int analysis_open(req *r, ss_version *v, ss_problem **p) {
    *p = NULL;
    memset(v, 0, sizeof *v);
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return -1;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return -1;
    err e = {0};
    ss_student s;
    if (ss_student_load(r->app, sid, &s, &e) || ss_version_load(r->app, sid, (int)num, v, &e) ||
        ss_student_problem(r->app, &s, p, &e)) {
        ss_version_free(v);
        reply_err(r, &e);
        return -1;
    }
    if (v->c != (*p)->c || v->d != (*p)->d) {
        ss_problem_release(*p);
        ss_version_free(v);
        reply_error(r, 409, "conflict", "student %lld is stale: its data changed shape", (long long)sid);
        return -1;
    }
    return 0;
}

typedef struct ranked {
    float key;
    size_t j;
} ranked;

static int by_abs_desc(const void *a, const void *b) {
    float x = fabsf(((const ranked *)a)->key), y = fabsf(((const ranked *)b)->key);
    if (x != y) return x < y ? 1 : -1;
    return ((const ranked *)a)->j < ((const ranked *)b)->j ? -1 : 1;
}

void route_student_influence(req *r) {
    ss_version v;
    ss_problem *p;
    if (analysis_open(r, &v, &p)) return;
    long k = class_arg(r->params[2], p->classes, p->c);
    const char *split = req_query(r, "split");
    int si = ss_problem_split(p, split);
    long limit;
    if (k < 0) {
        reply_error(r, 404, "not_found", "no class '%s'", r->params[2]);
    } else if (split && si < 0) {
        reply_error(r, 422, "unprocessable", "query parameter 'split': no split '%s'", split);
    } else if (req_query_int_or_reply(r, "limit", 1, 100000, (long)p->d, &limit)) {
        /* Influence = weight x mean presence over the images the teacher puts in class k
         * (sm_influence's definition, for one class, optionally within one split). */
        double *mean = calloc(p->d + 1, sizeof *mean);
        ranked *rk = malloc((p->d + 1) * sizeof *rk);
        size_t cnt = 0;
        json_t *items = json_array();
        if (mean && rk) {
            for (size_t i = 0; i < p->n; i++) {
                if (p->teacher[i] != k || (si >= 0 && p->split[i] != si)) continue;
                const float *xi = p->x + i * p->d;
                for (size_t j = 0; j < p->d; j++) mean[j] += xi[j];
                cnt++;
            }
            const float *wk = v.w + (size_t)k * p->d;
            for (size_t j = 0; j < p->d; j++) {
                mean[j] = cnt ? mean[j] / (double)cnt : 0.0;
                rk[j] = (ranked){(float)(wk[j] * mean[j]), j};
            }
            qsort(rk, p->d, sizeof *rk, by_abs_desc);
            for (size_t t = 0; t < p->d && t < (size_t)limit; t++) {
                size_t j = rk[t].j;
                json_array_append_new(items, json_pack("{s:s,s:i,s:f,s:f,s:f,s:O,s:O}", "concept", p->words[j], "index",
                                                       (int)j, "weight", (double)wk[j], "mean_presence", mean[j],
                                                       "influence", (double)rk[t].key, "lo",
                                                       isfinite(v.lo[k * p->d + j]) ? json_real(v.lo[k * p->d + j]) : json_null(),
                                                       "hi",
                                                       isfinite(v.hi[k * p->d + j]) ? json_real(v.hi[k * p->d + j]) : json_null()));
            }
            reply_json(r, 200, json_pack("{s:s,s:i,s:i,s:s?,s:I,s:f,s:o}", "class", p->classes[k], "class_index",
                                         (int)k, "version", v.number, "split", split, "n_images", (json_int_t)cnt,
                                         "bias", (double)v.b[k], "items", items));
        } else {
            json_decref(items);
            reply_error(r, 500, "internal", "out of memory");
        }
        free(mean);
        free(rk);
    }
    ss_problem_release(p);
    ss_version_free(&v);
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
    if (analysis_open(r, &v, &p)) return;
    const char *split = req_query(r, "split"), *agr = req_query(r, "agreement");
    int si = ss_problem_split(p, split);
    int want = !agr || !strcmp(agr, "disagree") ? 0 : !strcmp(agr, "agree") ? 1 : !strcmp(agr, "all") ? 2 : -1;
    long tc = class_arg(req_query(r, "teacher_class"), p->classes, p->c);
    long sc = class_arg(req_query(r, "student_class"), p->classes, p->c);
    long lc = class_arg(req_query(r, "label"), p->classes, p->c);
    long limit, offset;
    int32_t *pred = NULL;
    unsigned char *only = NULL; /* (N) rows named by image_ids, or NULL: every row */
    const char *ids = req_query(r, "image_ids");
    int ids_bad = 0;
    err e = {0};
    if (ids && (only = calloc(p->n + 1, 1))) {
        size_t count = 0;
        for (const char *q = ids;; q++) {
            char *end;
            long long id = strtoll(q, &end, 10);
            if (*q < '0' || *q > '9' || (*end && *end != ',') || ++count > 1000) {
                ids_bad = 1;
                break;
            }
            long row = ss_problem_row(p, id);
            if (row >= 0) only[row] = 1; /* an image outside this student's data matches nothing */
            if (!*end) break;
            q = end;
        }
    }
    if (ids && !only) {
        reply_error(r, 500, "internal", "out of memory");
    } else if (ids_bad) {
        reply_error(r, 400, "bad_request", "query parameter 'image_ids' must be 1 to 1000 image ids separated by commas");
    } else if (split && si < 0) {
        reply_error(r, 422, "unprocessable", "query parameter 'split': no split '%s'", split);
    } else if (want < 0) {
        reply_error(r, 400, "bad_request", "query parameter 'agreement' must be disagree, agree or all");
    } else if (tc == -1 || sc == -1 || lc == -1) {
        reply_error(r, 422, "unprocessable", "query parameter '%s': no such class",
                    tc == -1 ? "teacher_class" : sc == -1 ? "student_class" : "label");
    } else if (req_query_int_or_reply(r, "limit", 1, 1000, 100, &limit) &&
               req_query_int_or_reply(r, "offset", 0, 1000000000, 0, &offset)) {
        /* FNV-1a over the weights and biases: the version's content, even if ids are
         * ever reused (a restored database). */
        uint64_t h = 1469598103934665603ULL;
        const unsigned char *bytes[] = {(const unsigned char *)v.w, (const unsigned char *)v.b};
        const size_t lens[] = {v.c * v.d * sizeof *v.w, v.c * sizeof *v.b};
        for (int part = 0; part < 2; part++)
            for (size_t i = 0; i < lens[part]; i++) h = (h ^ bytes[part][i]) * 1099511628211ULL;
        char etag[96];
        snprintf(etag, sizeof etag, "\"sd%lld-%016llx-%.12s-%.12s\"", (long long)v.id, (unsigned long long)h,
                 p->presence_sha, p->probs_sha);
        const char *inm = req_header(r, "If-None-Match");
        if (inm && strstr(inm, etag)) {
            reply_json_etag(r, NULL, etag); /* 304 */
        } else if (!(pred = malloc((p->n + 1) * sizeof *pred)) || ss_predict(p, v.w, v.b, pred, &e)) {
            if (!err_is_set(&e)) err_set(&e, ERR_INTERNAL, "out of memory");
            reply_err(r, &e);
        } else {
            json_t *items = json_array();
            size_t total = 0;
            for (size_t i = 0; i < p->n; i++) {
                int agree = pred[i] == p->teacher[i];
                if ((want == 0 && agree) || (want == 1 && !agree) || (si >= 0 && p->split[i] != si) ||
                    (tc >= 0 && p->teacher[i] != tc) || (sc >= 0 && pred[i] != sc) || (lc >= 0 && p->labels[i] != lc) ||
                    (only && !only[i]))
                    continue;
                if (total >= (size_t)offset && total < (size_t)(offset + limit)) {
                    int32_t t = p->teacher[i], s = pred[i];
                    json_array_append_new(
                        items, json_pack("{s:I,s:s,s:s,s:s,s:f,s:f,s:O}", "image_id", (json_int_t)p->ids[i], "split",
                                         p->splits[p->split[i]], "teacher_class", p->classes[t], "student_class",
                                         p->classes[s], "teacher_probability", (double)p->p[i * p->c + t],
                                         "teacher_probability_of_student_class", (double)p->p[i * p->c + s], "label",
                                         p->labels[i] >= 0 ? json_string(p->classes[p->labels[i]]) : json_null()));
                }
                total++;
            }
            reply_json_etag(r,
                            json_pack("{s:i,s:s,s:s?,s:s?,s:s?,s:s?,s:I,s:i,s:i,s:o}", "version", v.number,
                                      "agreement", want == 0 ? "disagree" : want == 1 ? "agree" : "all", "split",
                                      split, "teacher_class", tc >= 0 ? p->classes[tc] : NULL, "student_class",
                                      sc >= 0 ? p->classes[sc] : NULL, "label", lc >= 0 ? p->classes[lc] : NULL,
                                      "total", (json_int_t)total, "limit", (int)limit, "offset", (int)offset, "items",
                                      items),
                            etag);
        }
    }
    free(pred);
    free(only);
    ss_problem_release(p);
    ss_version_free(&v);
}

void route_student_contributions(req *r) {
    ss_version v;
    ss_problem *p;
    if (analysis_open(r, &v, &p)) return;
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
        size_t c = p->c, d = p->d;
        float *contrib = malloc((c * d + 1) * sizeof *contrib); // (C, d)
        ranked *rk = malloc((d + 1) * sizeof *rk);
        if (!contrib || !rk) {
            reply_error(r, 500, "internal", "out of memory");
        } else {
            const float *xi = p->x + (size_t)row * d;
            sm_contributions(xi, d, v.w, c, contrib);
            json_t *classes = json_array();
            int32_t best = 0;
            double best_score = -INFINITY;
            for (size_t k = 0; k < c; k++) {
                double score = v.b[k];
                for (size_t j = 0; j < d; j++) score += contrib[k * d + j];
                if (score > best_score) best_score = score, best = (int32_t)k;
                if (only >= 0 && (long)k != only) continue;
                size_t m = 0;
                for (size_t j = 0; j < d; j++)
                    if (contrib[k * d + j] != 0.0f) rk[m++] = (ranked){contrib[k * d + j], j};
                qsort(rk, m, sizeof *rk, by_abs_desc);
                json_t *items = json_array();
                for (size_t t = 0; t < m && t < (size_t)top; t++)
                    json_array_append_new(items, json_pack("{s:s,s:f,s:f,s:f}", "concept", p->words[rk[t].j],
                                                           "presence", (double)xi[rk[t].j], "weight",
                                                           (double)v.w[k * d + rk[t].j], "contribution",
                                                           (double)rk[t].key));
                json_array_append_new(classes, json_pack("{s:s,s:f,s:f,s:f,s:I,s:o}", "class", p->classes[k], "score",
                                                         score, "bias", (double)v.b[k], "teacher_probability",
                                                         (double)p->p[(size_t)row * c + k], "nonzero",
                                                         (json_int_t)m, "contributions", items));
            }
            int32_t t = p->teacher[row], l = p->labels[row];
            reply_json(r, 200, json_pack("{s:I,s:i,s:s,s:O,s:s,s:s,s:o}", "image_id", (json_int_t)image_id, "version",
                                         v.number, "split", p->splits[p->split[row]], "label",
                                         l >= 0 ? json_string(p->classes[l]) : json_null(), "teacher_class",
                                         p->classes[t], "student_class", p->classes[best], "classes", classes));
        }
        free(contrib);
        free(rk);
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
    ss_version v;
    if (ss_version_load(r->app, sid, (int)num, &v, &e)) {
        reply_err(r, &e);
        return;
    }
    json_t *j = version_body(r, sid, (int)num, &v, &e);
    ss_version_free(&v);
    char ss[24];
    snprintf(ss, sizeof ss, "%lld", (long long)sid);
    const char *p[] = {ss};
    json_t *cm = j ? db_json(r->app, "no concept model",
                             "SELECT json_build_object('id', m.id, 'name', m.name, 'sha256', m.sha256, 'encoder',"
                             " m.encoder, 'corpus_id', x.corpus_id, 'presence_sha256', s.presence_sha256)::text"
                             " FROM students s JOIN extractions x ON x.id = s.extraction_id"
                             " JOIN models m ON m.id = x.concept_model_id WHERE s.id = $1",
                             1, p, &e)
                   : NULL;
    if (!cm) {
        json_decref(j);
        reply_err(r, &e);
        return;
    }
    json_object_set_new(j, "format", json_string("inficond-student/1"));
    json_object_set_new(j, "concept_model", cm);
    json_object_set_new(j, "prediction", json_string("argmax over classes of weights . presence + bias"));
    char disp[96];
    snprintf(disp, sizeof disp, "attachment; filename=\"student-%lld-v%lld.json\"", (long long)sid, (long long)num);
    reply_add_header(r, "Content-Disposition", disp);
    reply_json(r, 200, j);
}
