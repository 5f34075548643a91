/* project_store.h — the rows of `projects`: the only code that writes them
 * (server/projects/README.md), and their JSON for the routes.
 *
 * A project names the parts one distillation works on: a dataset, a teacher and its
 * outputs on it, a concept model, a corpus, and the extraction of those three. Its
 * JSON shows each part with its name and readiness, looked up rather than stored:
 * the teacher output is the (dataset, teacher) row of teacher_outputs, the
 * extraction the (dataset, concept model, corpus) row of extractions, so computing
 * either later makes the project ready without touching it. Deleting a project
 * leaves its parts alone.
 */
#ifndef INFICOND_PROJECT_STORE_H
#define INFICOND_PROJECT_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

#define PROJECT_NAME_MAX 128

/* The ids of a project's parts; 0 where a part is not known yet (teacher output,
 * extraction). */
typedef struct project_parts {
    int64_t dataset_id, teacher_model_id, teacher_output_id, concept_model_id, corpus_id, extraction_id;
} project_parts;

/* One project as JSON: {id, name, is_demo, created_by, created_at, ready, parts:
 * {dataset, teacher_model, teacher_output, concept_model, corpus, extraction}, each
 * with its id, name where it has one, and ready}. ERR_NOT_FOUND "no project N". */
json_t *project_store_get_json(app *a, int64_t id, err *e);

/* {items: [project...] by id, total, limit, offset}. */
json_t *project_store_list_json(app *a, long limit, long offset, err *e);

/* Create a user's project from parts' dataset, teacher model, concept model and
 * corpus ids (the teacher output and extraction fields are ignored: they are looked
 * up). Every part is checked first: ERR_UNPROCESSABLE naming each missing or
 * wrong-kind part ("field 'teacher_model_id': model 3 is a concept model, not a
 * teacher"; several joined by "; "). A taken name: ERR_CONFLICT. user_id <= 0: no
 * creator. Returns the new project's JSON (as project_store_get_json). */
json_t *project_store_create(app *a, const char *name, const project_parts *parts, int64_t user_id, err *e);

/* The demo's project `name` (is_demo), created or pointed at these parts (every
 * field used; 0 for a teacher output or extraction stores none). ERR_CONFLICT when a
 * project of that name exists and is not a demo's. Returns its id or -1. */
int64_t project_store_put_demo(app *a, const char *name, const project_parts *parts, err *e) WARN_UNUSED;

/* ERR_NOT_FOUND "no project N". */
int project_store_delete(app *a, int64_t id, err *e) WARN_UNUSED;

#endif
