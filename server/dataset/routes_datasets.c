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
#include "dataset/dataset_store.h"
#include "dataset/routes_datasets.h"
#include "jobs.h"
#include "log.h"

#define DESCRIPTION_MAX 2000

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
    err e = {0};
    json_t *d = dataset_store_get_json(r->app, id, &e);
    if (!d) reply_err(r, &e);
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
    err e = {0};
    json_t *d = dataset_store_create(r->app, name, desc, r->user_id, &e);
    if (!d) {
        reply_err(r, &e);
        return;
    }
    reply_json_at(r, 201, d, "/api/v1/datasets/%lld", (long long)json_integer_value(json_object_get(d, "id")));
}

void route_datasets_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    err e = {0};
    json_t *page = dataset_store_list_json(r->app, pg.limit, pg.offset, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_datasets_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    json_t *d = dataset_or_reply(r, id);
    if (d) reply_json(r, 200, d);
}

/* Refused (409) while a queued or running job names the dataset; the image blobs
 * stay (dataset_store_delete). */
void route_datasets_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    if (dataset_store_delete(r->app, id, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_no_content(r);
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
    err e = {0};
    json_t *page = dataset_store_images_page(r->app, id, split, label, pg.limit, pg.offset, &e);
    reply_json_or_err(r, 200, page, &e);
}
