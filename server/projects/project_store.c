/* project_store.c — every statement that writes `projects`, and the project JSON
 * the routes answer with (contract in project_store.h).
 */
#include "projects/project_store.h"

#include <stdio.h>
#include <string.h>

#include "db_json.h"

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

static void id_text(char *buf, size_t cap, int64_t id) { snprintf(buf, cap, "%lld", (long long)id); }

/* ---- reads ------------------------------------------------------------------- */

json_t *project_store_get_json(app *a, int64_t id, err *e) {
    return db_json_by_id(a, "project", id,
                         "SELECT " PROJECT_JSON "::text FROM projects p" PROJECT_FROM " WHERE p.id = $1::bigint", e);
}

json_t *project_store_list_json(app *a, long limit, long offset, err *e) {
    char ls[24], os[24];
    snprintf(ls, sizeof ls, "%ld", limit);
    snprintf(os, sizeof os, "%ld", offset);
    const char *p[] = {ls, os};
    return db_json(a, NULL,
                   "SELECT json_build_object("
                   " 'items', coalesce((SELECT json_agg(" PROJECT_JSON " ORDER BY p.id)"
                   "   FROM (SELECT * FROM projects ORDER BY id LIMIT $1::int OFFSET $2::int) p" PROJECT_FROM
                   "), '[]'),"
                   " 'total', (SELECT count(*) FROM projects), 'limit', $1::int, 'offset', $2::int)::text",
                   2, p, e);
}

/* ---- writes ------------------------------------------------------------------ */

/* Every missing or wrong-kind part named at once (the form shows them together):
 * 0, or -1 with ERR_UNPROCESSABLE. ids: dataset, teacher, concept model, corpus. */
static int parts_check(app *a, const char *const ids[4], err *e) {
    json_t *chk = db_json(a, NULL,
                          "SELECT json_build_object("
                          " 'dataset', EXISTS (SELECT 1 FROM datasets WHERE id = $1::bigint),"
                          " 'teacher', (SELECT kind FROM models WHERE id = $2::bigint),"
                          " 'concept', (SELECT kind FROM models WHERE id = $3::bigint),"
                          " 'corpus', EXISTS (SELECT 1 FROM corpora WHERE id = $4::bigint))::text",
                          4, ids, e);
    if (!chk) return -1;
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
    return w ? err_set(e, ERR_UNPROCESSABLE, "%s", why) : 0;
}

json_t *project_store_create(app *a, const char *name, const project_parts *parts, int64_t user_id, err *e) {
    char ids[4][24], uid[24];
    id_text(ids[0], sizeof ids[0], parts->dataset_id);
    id_text(ids[1], sizeof ids[1], parts->teacher_model_id);
    id_text(ids[2], sizeof ids[2], parts->concept_model_id);
    id_text(ids[3], sizeof ids[3], parts->corpus_id);
    id_text(uid, sizeof uid, user_id);
    if (parts_check(a, (const char *const[]){ids[0], ids[1], ids[2], ids[3]}, e)) return NULL;
    const char *q[] = {name, ids[0], ids[1], ids[2], ids[3], user_id > 0 ? uid : NULL};
    json_t *idj = db_json(a, NULL,
                          "INSERT INTO projects (name, dataset_id, teacher_model_id, concept_model_id, corpus_id,"
                          " teacher_output_id, extraction_id, created_by)"
                          " VALUES ($1, $2::bigint, $3::bigint, $4::bigint, $5::bigint,"
                          " (SELECT id FROM teacher_outputs WHERE dataset_id = $2::bigint AND model_id = $3::bigint),"
                          " (SELECT id FROM extractions WHERE dataset_id = $2::bigint AND concept_model_id = $4::bigint"
                          "  AND corpus_id = $5::bigint), $6::bigint) RETURNING id::text",
                          6, q, e);
    if (!idj) {
        if (e && e->code == ERR_CONFLICT) {
            err_clear(e);
            err_set(e, ERR_CONFLICT, "a project named '%s' already exists", name);
        }
        return NULL;
    }
    int64_t id = (int64_t)json_integer_value(idj);
    json_decref(idj);
    return project_store_get_json(a, id, e);
}

/* Re-pointed only while it is the demo's own (is_demo): a user's project that took
 * the name is never overwritten. */
int64_t project_store_put_demo(app *a, const char *name, const project_parts *parts, err *e) {
    const int64_t v[6] = {parts->dataset_id, parts->teacher_model_id, parts->teacher_output_id,
                          parts->concept_model_id, parts->corpus_id, parts->extraction_id};
    char s[6][24];
    for (int i = 0; i < 6; i++) id_text(s[i], sizeof s[i], v[i]);
    const char *p[] = {name, s[0], s[1], v[2] > 0 ? s[2] : NULL, s[3], s[4], v[5] > 0 ? s[5] : NULL};
    json_t *idj = db_json(a, "none",
                          "INSERT INTO projects AS p (name, dataset_id, teacher_model_id, teacher_output_id,"
                          " concept_model_id, corpus_id, extraction_id, is_demo)"
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, true)"
                          " ON CONFLICT (name) DO UPDATE SET dataset_id = EXCLUDED.dataset_id,"
                          " teacher_model_id = EXCLUDED.teacher_model_id, teacher_output_id = EXCLUDED.teacher_output_id,"
                          " concept_model_id = EXCLUDED.concept_model_id, corpus_id = EXCLUDED.corpus_id,"
                          " extraction_id = EXCLUDED.extraction_id WHERE p.is_demo RETURNING p.id::text",
                          7, p, e);
    if (!idj) {
        if (e->code != ERR_NOT_FOUND) return -1;
        err_clear(e);
        return err_set(e, ERR_CONFLICT, "a project named '%s' exists and is not the demo's", name), -1;
    }
    int64_t id = json_is_integer(idj) ? (int64_t)json_integer_value(idj) : 0;
    json_decref(idj);
    return id;
}

int project_store_delete(app *a, int64_t id, err *e) {
    json_t *gone = db_json_by_id(a, "project", id, "DELETE FROM projects WHERE id = $1::bigint RETURNING id::text", e);
    if (!gone) return -1;
    json_decref(gone);
    return 0;
}
