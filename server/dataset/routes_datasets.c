/* routes_datasets.c — create, list, show and delete datasets, start imports into
 * them (from server-side paths, admins only, or from an uploaded tar), and page
 * through their images.
 *
 * An import is a "dataset.import" job (dataset_import.c); these routes validate
 * the request, then queue the job and answer 202 with it, so the client follows
 * progress on /api/v1/jobs/{id}. The job kind itself needs admin through the
 * generic POST /api/v1/jobs, because its params name server-side files: an editor
 * reaches it only through the upload route, which names the file itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset/dataset_import.h"
#include "db_json.h"
#include "jobs.h"
#include "log.h"
#include "dataset/routes_datasets.h"

#define DESCRIPTION_MAX 2000

/* {id, name, description, classes, created_by, created_at, image_count,
 *  splits: {split: n}} for the row aliased d. */
#define DATASET_JSON                                                                                    \
    "json_build_object('id', d.id, 'name', d.name, 'description', d.description,"                     \
    " 'classes', to_json(d.classes), 'created_by', d.created_by, 'created_at', d.created_at,"          \
    " 'image_count', (SELECT count(*) FROM images i WHERE i.dataset_id = d.id),"                       \
    " 'splits', (SELECT coalesce(json_object_agg(s.split, s.n ORDER BY s.split), '{}')"                \
    "   FROM (SELECT split, count(*) AS n FROM images i WHERE i.dataset_id = d.id GROUP BY split) s))"

static int only_fields_or_reply(req *r, const json_t *obj, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) ok |= !strcmp(*a, key);
        if (!ok) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return 0;
        }
    }
    return 1;
}

/* The dataset as JSON, or NULL after replying (404 / error). */
static json_t *dataset_or_reply(req *r, int64_t id) {
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    err e = {0};
    json_t *d = db_json(r->app, NULL, "SELECT " DATASET_JSON "::text FROM datasets d WHERE d.id = $1::bigint", 1, p, &e);
    if (!d) {
        if (e.code == ERR_NOT_FOUND)
            reply_error(r, 404, "not_found", "no dataset %lld", (long long)id);
        else
            reply_err(r, &e);
    }
    return d;
}

void route_datasets_create(req *r) {
    static const char *const allowed[] = {"name", "description", NULL};
    if (!only_fields_or_reply(r, r->json, allowed)) return;
    const char *name = json_req_string_or_reply(r, r->json, "name", DATASET_NAME_MAX);
    if (!name) return;
    if (!dataset_name_valid(name)) {
        reply_error(r, 422, "unprocessable", "field 'name' must be 1 to %d characters of A-Z a-z 0-9 _ . -",
                    DATASET_NAME_MAX);
        return;
    }
    const char *desc = "";
    if (json_object_get(r->json, "description") &&
        !(desc = json_req_string_or_reply(r, r->json, "description", DESCRIPTION_MAX)))
        return;
    char uid[32];
    snprintf(uid, sizeof uid, "%lld", (long long)r->user_id);
    const char *p[] = {name, desc, r->user_id > 0 ? uid : NULL};
    err e = {0};
    json_t *d = db_json(r->app, NULL,
                        "INSERT INTO datasets AS d (name, description, created_by) VALUES ($1, $2, $3::bigint)"
                        " RETURNING " DATASET_JSON "::text",
                        3, p, &e);
    if (!d) {
        if (e.code == ERR_CONFLICT)
            reply_error(r, 409, "conflict", "a dataset named '%s' already exists", name);
        else
            reply_err(r, &e);
        return;
    }
    reply_json_at(r, 201, d, "/api/v1/datasets/%lld", (long long)json_integer_value(json_object_get(d, "id")));
}

void route_datasets_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    const char *p[] = {pg.limit_text, pg.offset_text};
    err e = {0};
    json_t *page = db_json(r->app, NULL,
                           "SELECT json_build_object("
                           " 'items', coalesce((SELECT json_agg(" DATASET_JSON " ORDER BY d.id)"
                           "   FROM (SELECT * FROM datasets ORDER BY id LIMIT $1::int OFFSET $2::int) d), '[]'),"
                           " 'total', (SELECT count(*) FROM datasets), 'limit', $1::int, 'offset', $2::int)::text",
                           2, p, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_datasets_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    json_t *d = dataset_or_reply(r, id);
    if (d) reply_json(r, 200, d);
}

/* Refused while a queued or running job names the dataset (an import would fail
 * half-way; other stages read its images). The image blobs stay: the store is
 * shared and content-addressed, other datasets may hold the same bytes. */
void route_datasets_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids, ids};
    err e = {0};
    json_t *res = db_json(r->app, NULL,
                          "WITH busy AS (SELECT id FROM jobs WHERE state IN ('queued', 'running')"
                          "   AND params->>'dataset_id' = $1::text ORDER BY id LIMIT 1),"
                          " gone AS (DELETE FROM datasets WHERE id = $2::bigint AND NOT EXISTS (SELECT 1 FROM busy)"
                          "   RETURNING id)"
                          " SELECT json_build_object('deleted', (SELECT count(*) FROM gone),"
                          "   'exists', EXISTS (SELECT 1 FROM datasets WHERE id = $2::bigint),"
                          "   'busy_job', (SELECT id FROM busy))::text",
                          2, p, &e);
    if (!res) {
        reply_err(r, &e);
        return;
    }
    int deleted = json_integer_value(json_object_get(res, "deleted")) > 0;
    int exists = json_is_true(json_object_get(res, "exists"));
    json_int_t busy = json_integer_value(json_object_get(res, "busy_job"));
    json_decref(res);
    if (deleted) {
        reply_no_content(r);
    } else if (!exists) {
        reply_error(r, 404, "not_found", "no dataset %lld", (long long)id);
    } else {
        reply_error(r, 409, "conflict", "job %lld is working on dataset %lld; cancel it or wait for it to finish",
                    (long long)busy, (long long)id);
    }
}

/* Queue the import and answer 202 with the job (Location: the job). */
static void enqueue_or_reply(req *r, const json_t *params, const char *upload_to_remove) {
    err e = {0};
    int64_t jid = jobs_enqueue(r->app, "dataset.import", params, r->user_id, &e);
    if (jid < 0) {
        if (upload_to_remove) unlink(upload_to_remove);
        reply_err(r, &e);
        return;
    }
    json_t *job = jobs_get_json(r->app, jid, &e);
    if (!job) {
        reply_err(r, &e);
        return;
    }
    reply_json_at(r, 202, job, "/api/v1/jobs/%lld", (long long)jid);
}

void route_datasets_import(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    /* dataset_id comes from the path; upload is for the upload route's own files. */
    static const char *const allowed[] = {"source", "images", "labels", "path", "split", "split_ratio", "classes", NULL};
    if (!only_fields_or_reply(r, r->json, allowed)) return;
    json_t *d = dataset_or_reply(r, id);
    if (!d) return;
    json_decref(d);
    json_t *params = json_deep_copy(r->json);
    json_object_set_new(params, "dataset_id", json_integer(id));
    err e = {0};
    if (dataset_import_check(params, &e)) {
        json_decref(params);
        reply_err(r, &e);
        return;
    }
    enqueue_or_reply(r, params, NULL);
    json_decref(params);
}

static int upload_type_ok(const char *ct) {
    static const char *const ok[] = {"application/x-tar", "application/tar", "application/octet-stream",
                                     "application/gzip", "application/x-gzip", "application/x-gtar", NULL};
    if (!ct) return 0;
    for (const char *const *t = ok; *t; t++) {
        size_t n = strlen(*t);
        if (!strncasecmp(ct, *t, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ')) return 1;
    }
    return 0;
}

/* The body (a tar, maybe gzipped) was streamed to r->body_path; move it into
 * <data_dir>/uploads (same file system: a rename) where the job reads it and
 * deletes it once the import succeeded. ?split=NAME puts every image of a
 * <class>/<file> archive into that split (else the default ratio applies). */
void route_datasets_upload(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    if (!upload_type_ok(r->content_type)) {
        reply_error(r, 415, "unsupported_media_type",
                    "send the tar as application/x-tar (or application/gzip, application/octet-stream), got %s",
                    r->content_type ? r->content_type : "no Content-Type");
        return;
    }
    const char *split = req_query(r, "split");
    if (split && !dataset_split_valid(split)) {
        reply_error(r, 422, "unprocessable", "query parameter 'split' must be 1 to 32 characters of a-z 0-9 _ -");
        return;
    }
    json_t *d = dataset_or_reply(r, id);
    if (!d) return;
    json_decref(d);
    char dir[PATH_MAX + 16], dest[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/uploads", r->app->cfg.data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        err e = {0};
        err_set(&e, ERR_IO, "cannot create %s: %s", dir, strerror(errno));
        reply_err(r, &e);
        return;
    }
    const char *base = strrchr(r->body_path, '/');
    snprintf(dest, sizeof dest, "%s/%s.tar", dir, base ? base + 1 : r->body_path);
    if (rename(r->body_path, dest) != 0) {
        err e = {0};
        err_set(&e, ERR_IO, "cannot move the upload to %s: %s", dest, strerror(errno));
        reply_err(r, &e);
        return;
    }
    json_t *params = json_pack("{s:I,s:s,s:s,s:b}", "dataset_id", (json_int_t)id, "source", "tar", "path", dest,
                               "upload", 1);
    if (split) json_object_set_new(params, "split", json_string(split));
    err e = {0};
    if (dataset_import_check(params, &e)) {
        unlink(dest);
        json_decref(params);
        reply_err(r, &e);
        return;
    }
    log_info("upload: %zu bytes for dataset %lld at %s", r->body_len, (long long)id, dest);
    enqueue_or_reply(r, params, dest);
    json_decref(params);
}

/* GET /datasets/{id}/images?split=&label=&limit=&offset= ->
 * {items:[{id, split, label, class, width, height, sha256}], total, limit, offset}, by id. */
void route_dataset_images(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    req_page pg;
    long label;
    if (!req_page_or_reply(r, 1000, 100, REQ_OFFSET_MAX, &pg) ||
        !req_query_int_or_reply(r, "label", -1, 1000000, -1, &label))
        return;
    const char *split = req_query(r, "split");
    if (split && !dataset_split_valid(split)) {
        reply_error(r, 400, "bad_request", "query parameter 'split' must be 1 to 32 characters of a-z 0-9 _ -");
        return;
    }
    char ids[32], labs[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(labs, sizeof labs, "%ld", label);
    const char *p[] = {ids, split, label >= 0 ? labs : NULL, pg.limit_text, pg.offset_text};
    err e = {0};
    json_t *page = db_json(
        r->app, NULL,
        "WITH d AS (SELECT id, classes FROM datasets WHERE id = $1::bigint),"
        " f AS (SELECT i.id, i.split, i.label, i.width, i.height, i.sha256 FROM images i, d"
        "   WHERE i.dataset_id = d.id AND ($2::text IS NULL OR i.split = $2) AND ($3::int IS NULL OR i.label = $3::int))"
        " SELECT json_build_object("
        "  'items', coalesce((SELECT json_agg(json_build_object('id', p.id, 'split', p.split, 'label', p.label,"
        "     'class', d.classes[p.label + 1], 'width', p.width, 'height', p.height, 'sha256', p.sha256) ORDER BY p.id)"
        "     FROM (SELECT * FROM f ORDER BY id LIMIT $4::int OFFSET $5::int) p), '[]'),"
        "  'total', (SELECT count(*) FROM f), 'limit', $4::int, 'offset', $5::int)::text FROM d",
        5, p, &e);
    if (!page) {
        if (e.code == ERR_NOT_FOUND)
            reply_error(r, 404, "not_found", "no dataset %lld", (long long)id);
        else
            reply_err(r, &e);
        return;
    }
    reply_json(r, 200, page);
}
