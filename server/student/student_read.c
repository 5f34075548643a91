/* student_read.c — the read views of students as JSON (see student_read.h). */
#include "student/student_read.h"

#include <stdio.h>

#include "db_json.h"
#include "student/student_split_measures.h"

/* A student row s as JSON, with its head version and whether that version can still
 * be used on the data as they are now (student_version_stale, migration 008). */
#define STUDENT_JSON                                                                                            \
    "(SELECT json_build_object('id', s.id, 'name', s.name, 'dataset_id', s.dataset_id, 'teacher_output_id',  \
     s.teacher_output_id, 'extraction_id', s.extraction_id, 'concept_model_id', (SELECT concept_model_id     \
     FROM extractions WHERE id = s.extraction_id), 'lambda', s.lambda, 'concepts', cardinality(hv.concepts),  \
     'classes', s.classes, 'created_by', s.created_by, 'created_at', s.created_at, 'stale',                  \
     hv.why IS NOT NULL, 'stale_reason', hv.why, 'head', json_build_object('number', hv.number, 'id', hv.id,  \
     'created_at', hv.created_at, 'note', hv.note, 'concepts', hv.concepts, 'measures', hv.measures))        \
     FROM (SELECT h.*, student_version_stale(h.id) AS why FROM (SELECT * FROM student_versions v WHERE        \
     v.student_id = s.id ORDER BY v.number DESC LIMIT 1) h) hv)"

json_t *ss_students_list_json(app *a, long limit, long offset, const char *dataset_id, err *e) {
    char lim[24], off[24];
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *p[] = {lim, off, dataset_id};
    return db_json(a, "no students",
                   "SELECT json_build_object('items', COALESCE((SELECT json_agg(x.j ORDER BY x.id DESC) FROM ("
                   "  SELECT s.id, " STUDENT_JSON " AS j FROM students s"
                   "  WHERE ($3::bigint IS NULL OR s.dataset_id = $3) ORDER BY s.id DESC"
                   "  LIMIT $1::int OFFSET $2::int) x), '[]'::json),"
                   " 'total', (SELECT count(*) FROM students WHERE ($3::bigint IS NULL OR dataset_id = $3)),"
                   " 'limit', $1::int, 'offset', $2::int)::text",
                   3, p, e);
}

json_t *ss_student_json(app *a, int64_t student_id, err *e) {
    return db_json_by_id(a, "student", student_id, "SELECT " STUDENT_JSON "::text FROM students s WHERE s.id = $1",
                         e);
}

json_t *ss_versions_list_json(app *a, int64_t student_id, long limit, long offset, err *e) {
    char ids[24], what[48], lim[24], off[24];
    snprintf(ids, sizeof ids, "%lld", (long long)student_id);
    snprintf(what, sizeof what, "no student %lld", (long long)student_id);
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *p[] = {ids, lim, off};
    return db_json(
        a, what,
        /* stale is a function of (concepts, columns_sha256) within a student: computed
         * once per distinct pair on the page (versions mostly share their list) */
        "WITH page AS (SELECT * FROM student_versions WHERE student_id = $1 ORDER BY number DESC"
        "  LIMIT $2::int OFFSET $3::int),"
        " kinds AS (SELECT DISTINCT ON (concepts, columns_sha256) concepts, columns_sha256,"
        "  student_version_stale(id) AS why FROM page)"
        "SELECT json_build_object('items', COALESCE((SELECT json_agg(x ORDER BY x.number DESC) FROM ("
        "  SELECT v.id, v.number, (SELECT number FROM student_versions WHERE id = v.parent_id) AS parent, v.lambda,"
        "         v.note, v.author, v.created_at, v.bounds_sha256 IS NOT NULL AS bounded, v.measures,"
        "         cardinality(v.concepts) AS n_concepts, k.why IS NOT NULL AS stale, k.why AS stale_reason,"
        "         (SELECT kind FROM student_provenance WHERE version_id = v.id LIMIT 1) AS kind"
        "  FROM page v JOIN kinds k ON k.concepts = v.concepts"
        "  AND k.columns_sha256 IS NOT DISTINCT FROM v.columns_sha256) x), '[]'::json),"
        " 'total', (SELECT count(*) FROM student_versions WHERE student_id = s.id),"
        " 'head', (SELECT max(number) FROM student_versions WHERE student_id = s.id),"
        " 'limit', $2::int, 'offset', $3::int)::text FROM students s WHERE s.id = $1",
        3, p, e);
}

json_t *ss_provenance_json(app *a, int64_t student_id, long limit, long offset, err *e) {
    char ids[24], what[48], lim[24], off[24];
    snprintf(ids, sizeof ids, "%lld", (long long)student_id);
    snprintf(what, sizeof what, "no student %lld", (long long)student_id);
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *p[] = {ids, lim, off};
    json_t *page = db_json(
        a, what,
        "SELECT json_build_object('items', COALESCE((SELECT json_agg(x ORDER BY x.id DESC) FROM ("
        "  SELECT pr.id, pr.kind, pr.actions, pr.author, u.username AS author_name, pr.created_at,"
        "         v.number AS version, pv.number AS parent, pr.measures_before, pr.measures_after"
        "  FROM student_provenance pr JOIN student_versions v ON v.id = pr.version_id"
        "  LEFT JOIN student_versions pv ON pv.id = pr.parent_version_id"
        "  LEFT JOIN users u ON u.id = pr.author"
        "  WHERE pr.student_id = s.id ORDER BY pr.id DESC LIMIT $2::int OFFSET $3::int) x), '[]'::json),"
        " 'total', (SELECT count(*) FROM student_provenance WHERE student_id = s.id),"
        " 'limit', $2::int, 'offset', $3::int)::text FROM students s WHERE s.id = $1",
        3, p, e);
    if (!page) return NULL;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(page, "items"), i, it) {
        json_t *d = ss_measure_deltas(json_object_get(it, "measures_before"), json_object_get(it, "measures_after"));
        json_object_set_new(it, "deltas", d ? d : json_null());
    }
    return page;
}
