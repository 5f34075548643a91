/* routes_projects.c — projects: a name for the parts one distillation works on (a
 * dataset, a teacher and its outputs on it, a concept model, a corpus, and the
 * concept extraction of those three), listed with each part's name and readiness,
 * so the page can show what is still missing or being computed. The demo build
 * creates the project "demo" (demo_job.c); users create theirs here.
 *
 * Readiness is looked up, not stored: the teacher output is the (dataset, teacher)
 * row of teacher_outputs, the extraction the (dataset, concept model, corpus) row of
 * extractions, so computing either later makes the project ready without touching
 * it. Deleting a project leaves its parts alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_json.h"
#include "projects/routes_projects.h"

#define PROJECT_NAME_MAX 128

/* One JSON object per project row p, with the joins PROJECT_FROM makes. */
#define PROJECT_JSON                                                                                            \
    "json_build_object('id', p.id, 'name', p.name, 'is_demo', p.is_demo, 'created_by', p.created_by,"          \
    " 'created_at', p.created_at,"                                                                              \
    " 'ready', dc.n > 0 AND t.id IS NOT NULL AND cw.n > 0 AND coalesce(x.state = 'ready', false),"              \
    " 'parts', json_build_object("                                                                              \
    "  'dataset', json_build_object('id', d.id, 'name', d.name, 'image_count', dc.n, 'ready', dc.n > 0),"       \
    "  'teacher_model', json_build_object('id', tm.id, 'name', tm.name, 'ready', true),"                        \
    "  'teacher_output', json_build_object('id', t.id, 'ready', t.id IS NOT NULL),"                             \
    "  'concept_model', json_build_object('id', cm.id, 'name', cm.name, 'ready', true),"                        \
    "  'corpus', json_build_object('id', co.id, 'name', co.name, 'words', cw.n, 'ready', cw.n > 0),"            \
    "  'extraction', json_build_object('id', x.id, 'state', x.state,"                                          \
    "                                  'ready', coalesce(x.state = 'ready', false))))"

#define PROJECT_FROM                                                                                            \
    " JOIN datasets d ON d.id = p.dataset_id"                                                                   \
    " JOIN models tm ON tm.id = p.teacher_model_id"                                                             \
    " JOIN models cm ON cm.id = p.concept_model_id"                                                             \
    " JOIN corpora co ON co.id = p.corpus_id"                                                                   \
    " LEFT JOIN teacher_outputs t ON t.dataset_id = p.dataset_id AND t.model_id = p.teacher_model_id"           \
    " LEFT JOIN extractions x ON x.dataset_id = p.dataset_id AND x.concept_model_id = p.concept_model_id"       \
    "   AND x.corpus_id = p.corpus_id"                                                                          \
    " CROSS JOIN LATERAL (SELECT count(*) AS n FROM images i WHERE i.dataset_id = p.dataset_id) dc"            \
    " CROSS JOIN LATERAL (SELECT count(*) AS n FROM corpus_words w WHERE w.corpus_id = p.corpus_id) cw"

static json_t *project_json(app *a, int64_t id, err *e) {
    return db_json_by_id(a, "project", id,
                         "SELECT " PROJECT_JSON "::text FROM projects p" PROJECT_FROM " WHERE p.id = $1::bigint", e);
}

void route_projects_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    const char *p[] = {pg.limit_text, pg.offset_text};
    err e = {0};
    json_t *page = db_json(r->app, NULL,
                           "SELECT json_build_object("
                           " 'items', coalesce((SELECT json_agg(" PROJECT_JSON " ORDER BY p.id)"
                           "   FROM (SELECT * FROM projects ORDER BY id LIMIT $1::int OFFSET $2::int) p" PROJECT_FROM
                           "), '[]'),"
                           " 'total', (SELECT count(*) FROM projects), 'limit', $1::int, 'offset', $2::int)::text",
                           2, p, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_projects_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j = project_json(r->app, id, &e);
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
    char missing[160] = "", ids[N_PARTS][24];
    for (int i = 0; i < N_PARTS; i++) {
        json_t *f = json_object_get(r->json, id_fields[i]);
        if (!json_is_integer(f) || json_integer_value(f) < 1) {
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s'%s'", *missing ? ", " : "",
                     id_fields[i]);
            continue;
        }
        snprintf(ids[i], sizeof ids[i], "%lld", (long long)json_integer_value(f));
    }
    if (*missing) {
        reply_error(r, 422, "unprocessable", "a project needs every part as a positive integer id; missing or invalid: %s",
                    missing);
        return;
    }
    const char *p[] = {ids[0], ids[1], ids[2], ids[3]};
    err e = {0};
    json_t *chk = db_json(r->app, NULL,
                          "SELECT json_build_object("
                          " 'dataset', EXISTS (SELECT 1 FROM datasets WHERE id = $1::bigint),"
                          " 'teacher', (SELECT kind FROM models WHERE id = $2::bigint),"
                          " 'concept', (SELECT kind FROM models WHERE id = $3::bigint),"
                          " 'corpus', EXISTS (SELECT 1 FROM corpora WHERE id = $4::bigint))::text",
                          4, p, &e);
    if (!chk) {
        reply_err(r, &e);
        return;
    }
    const char *tk = json_string_value(json_object_get(chk, "teacher"));
    const char *ck = json_string_value(json_object_get(chk, "concept"));
    char why[512] = "";
    size_t w = 0;
#define WHY(...) (w += (size_t)snprintf(why + w, w < sizeof why ? sizeof why - w : 0, __VA_ARGS__))
    if (!json_is_true(json_object_get(chk, "dataset"))) WHY("%sfield 'dataset_id': no dataset %s", w ? "; " : "", ids[0]);
    if (!tk) WHY("%sfield 'teacher_model_id': no model %s", w ? "; " : "", ids[1]);
    else if (strcmp(tk, "teacher")) WHY("%sfield 'teacher_model_id': model %s is a %s model, not a teacher", w ? "; " : "", ids[1], tk);
    if (!ck) WHY("%sfield 'concept_model_id': no model %s", w ? "; " : "", ids[2]);
    else if (strcmp(ck, "concept")) WHY("%sfield 'concept_model_id': model %s is a %s, not a concept model", w ? "; " : "", ids[2], ck);
    if (!json_is_true(json_object_get(chk, "corpus"))) WHY("%sfield 'corpus_id': no corpus %s", w ? "; " : "", ids[3]);
#undef WHY
    json_decref(chk);
    if (w) {
        reply_error(r, 422, "unprocessable", "%s", why);
        return;
    }
    char uid[24];
    snprintf(uid, sizeof uid, "%lld", (long long)r->user_id);
    const char *q[] = {name, ids[0], ids[1], ids[2], ids[3], r->user_id > 0 ? uid : NULL};
    json_t *idj = db_json(r->app, NULL,
                          "INSERT INTO projects (name, dataset_id, teacher_model_id, concept_model_id, corpus_id,"
                          " teacher_output_id, extraction_id, created_by)"
                          " VALUES ($1, $2::bigint, $3::bigint, $4::bigint, $5::bigint,"
                          " (SELECT id FROM teacher_outputs WHERE dataset_id = $2::bigint AND model_id = $3::bigint),"
                          " (SELECT id FROM extractions WHERE dataset_id = $2::bigint AND concept_model_id = $4::bigint"
                          "  AND corpus_id = $5::bigint), $6::bigint) RETURNING id::text",
                          6, q, &e);
    if (!idj) {
        if (e.code == ERR_CONFLICT)
            reply_error(r, 409, "conflict", "a project named '%s' already exists", name);
        else
            reply_err(r, &e);
        return;
    }
    int64_t id = (int64_t)json_integer_value(idj);
    json_decref(idj);
    json_t *j = project_json(r->app, id, &e);
    if (!j) {
        reply_err(r, &e);
        return;
    }
    reply_json_at(r, 201, j, "/api/v1/projects/%lld", (long long)id);
}

void route_projects_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    err e = {0};
    json_t *gone = db_json(r->app, NULL, "DELETE FROM projects WHERE id = $1::bigint RETURNING id::text", 1, p, &e);
    if (!gone) {
        if (e.code == ERR_NOT_FOUND)
            reply_error(r, 404, "not_found", "no project %lld", (long long)id);
        else
            reply_err(r, &e);
        return;
    }
    json_decref(gone);
    reply_no_content(r);
}
