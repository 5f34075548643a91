/* routes_projects.c — projects: a name for the parts one distillation works on,
 * listed with each part's name and readiness so the page can show what is still
 * missing or being computed (project_store.h says how readiness is found). The demo
 * build creates the project "demo" (demo_job.c); users create theirs here.
 */
#include <stdio.h>
#include <string.h>

#include "projects/project_store.h"
#include "projects/routes_projects.h"

void route_projects_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    err e = {0};
    json_t *page = project_store_list_json(r->app, pg.limit, pg.offset, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_projects_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j = project_store_get_json(r->app, id, &e);
    reply_json_or_err(r, 200, j, &e);
}

static const char *const id_fields[] = {"dataset_id", "teacher_model_id", "concept_model_id", "corpus_id"};
#define N_PARTS 4

void route_projects_create(req *r) {
    static const char *const allowed[] = {"name", "dataset_id", "teacher_model_id", "concept_model_id", "corpus_id"};
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) {
        int ok = 0;
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) ok |= !strcmp(allowed[i], key);
        if (!ok) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return;
        }
    }
    const char *name = json_req_string_or_reply(r, r->json, "name", PROJECT_NAME_MAX);
    if (!name) return;
    if (!*name) {
        reply_error(r, 422, "unprocessable", "field 'name' must be 1 to %d characters", PROJECT_NAME_MAX);
        return;
    }
    /* Name every missing or malformed part at once: the form shows them together. */
    char missing[160] = "";
    int64_t ids[N_PARTS] = {0};
    for (int i = 0; i < N_PARTS; i++) {
        json_t *f = json_object_get(r->json, id_fields[i]);
        if (!json_is_integer(f) || json_integer_value(f) < 1) {
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s'%s'", *missing ? ", " : "",
                     id_fields[i]);
            continue;
        }
        ids[i] = (int64_t)json_integer_value(f);
    }
    if (*missing) {
        reply_error(r, 422, "unprocessable", "a project needs every part as a positive integer id; missing or invalid: %s",
                    missing);
        return;
    }
    project_parts parts = {.dataset_id = ids[0], .teacher_model_id = ids[1], .concept_model_id = ids[2],
                           .corpus_id = ids[3]};
    err e = {0};
    json_t *j = project_store_create(r->app, name, &parts, r->user_id, &e);
    if (!j) {
        reply_err(r, &e);
        return;
    }
    reply_json_at(r, 201, j, "/api/v1/projects/%lld", (long long)json_integer_value(json_object_get(j, "id")));
}

void route_projects_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    if (project_store_delete(r->app, id, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_no_content(r);
}
