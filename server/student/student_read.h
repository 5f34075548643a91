/* student_read.h — the read views of students for the API, each one query whose JSON
 * PostgreSQL builds: the list of students with their heads, one student (its names,
 * whether it is stale, its head), a student's versions and its provenance log (with
 * the measure deltas of each entry). Pages are newest first; limit and offset are
 * the caller's, already checked. Left out: a version's weights (student_version_body.h).
 */
#ifndef INFICOND_STUDENT_READ_H
#define INFICOND_STUDENT_READ_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

/* {"items": [student], "total", "limit", "offset"}; dataset_id: decimal text, or
 * NULL for every dataset. New, or NULL with e set. */
json_t *ss_students_list_json(app *a, long limit, long offset, const char *dataset_id, err *e);
/* One student: {"id", "name", …, "stale", "head": {"number", "id", "created_at", "note",
 * "measures"}}; ERR_NOT_FOUND "no student N". */
json_t *ss_student_json(app *a, int64_t student_id, err *e);
/* {"items": [version without weights], "total", "head", "limit", "offset"};
 * ERR_NOT_FOUND "no student N". */
json_t *ss_versions_list_json(app *a, int64_t student_id, long limit, long offset, err *e);
/* {"items": [entry with "deltas"], "total", "limit", "offset"}; ERR_NOT_FOUND. */
json_t *ss_provenance_json(app *a, int64_t student_id, long limit, long offset, err *e);

#endif
