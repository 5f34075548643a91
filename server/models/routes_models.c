/* routes_models.c — the model registry: register by server path or .tar upload,
 * list, read, delete (model_registry.h). Teacher outputs have their own routes
 * (teacher/routes_teacher.c).
 *
 * Registration runs the model check in the request (one load, one probe batch per
 * method): the caller gets the field-named 422 at once instead of a failed job.
 */
#include <string.h>

#include "models/model_registry.h"
#include "models/routes_models.h"

static void reply_model_created(req *r, json_t *model) {
    reply_json_at(r, 201, model, "/api/v1/models/%lld", (long long)json_integer_value(json_object_get(model, "id")));
}

void route_models_list(req *r) {
    const char *kind = req_query(r, "kind");
    if (kind && strcmp(kind, "teacher") && strcmp(kind, "concept")) {
        reply_error(r, 400, "bad_request", "kind must be teacher or concept");
        return;
    }
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    err e = {0};
    json_t *page = model_registry_list_json(r->app, kind, pg.limit, pg.offset, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_models_create(req *r) {
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) {
        if (strcmp(key, "name") && strcmp(key, "path")) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return;
        }
    }
    const char *name = json_req_string_or_reply(r, r->json, "name", MODEL_NAME_MAX);
    if (!name) return;
    const char *path = json_req_string_or_reply(r, r->json, "path", 4000);
    if (!path) return;
    err e = {0};
    json_t *model = NULL;
    if (model_registry_register(r->app, name, path, r->user_id, &model, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_model_created(r, model);
}

void route_models_upload(req *r) {
    const char *name = req_query(r, "name");
    if (!name || !name[0]) {
        reply_error(r, 422, "unprocessable", "query parameter 'name' is required");
        return;
    }
    if (!r->body_path || r->body_len == 0) {
        reply_error(r, 422, "unprocessable", "send the model folder as a .tar archive in the body");
        return;
    }
    err e = {0};
    json_t *model = NULL;
    if (model_registry_register_tar(r->app, name, r->body_path, r->user_id, &model, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_model_created(r, model);
}

void route_models_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *m = model_registry_get_json(r->app, id, &e);
    reply_json_or_err(r, 200, m, &e);
}

void route_models_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    if (model_registry_delete(r->app, id, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_no_content(r);
}
