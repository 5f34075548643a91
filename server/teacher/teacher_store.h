/* teacher_store.h — the rows of teacher outputs (`teacher_outputs`): the only code
 * that writes them (server/teacher/README.md), and their reads for the routes.
 *
 * One row per (dataset, model) — or per (dataset, name) with source 'file' for
 * uploaded predictions — naming two blobs: the probabilities, float32 (N, C)
 * row-major little-endian, and the image ids, int64 (N) little-endian, ascending
 * (the order every reader of the matrix assumes). Columns follow the dataset's class
 * list. A re-run replaces its row in place (same id).
 */
#ifndef INFICOND_TEACHER_STORE_H
#define INFICOND_TEACHER_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "dataset/dataset_store.h"
#include "err.h"

/* Store probs (d->n, d->n_classes) and d->ids as blobs, then upsert the row: one per
 * (dataset, model) when model_id > 0, else one per (dataset, name) with source
 * 'file'. job_id, user_id <= 0: none. *out_id gets the row's id. */
int teacher_store_put(app *a, const dataset_images *d, int64_t model_id, const char *name, const float *probs,
                      size_t n_logit_rows, int64_t job_id, int64_t user_id, int64_t *out_id, err *e) WARN_UNUSED;

/* One row as JSON: {id, dataset_id, model_id, source, name, classes, n, probs_sha256,
 * image_ids_sha256, logit_rows, job_id, created_by, created_at}. ERR_NOT_FOUND "no
 * teacher output N". */
json_t *teacher_store_get_json(app *a, int64_t id, err *e);

/* A dataset's rows (as teacher_store_get_json), by id: a JSON array. */
json_t *teacher_store_list_json(app *a, int64_t dataset_id, err *e);

/* ERR_NOT_FOUND "no teacher output N". */
int teacher_store_delete(app *a, int64_t id, err *e) WARN_UNUSED;

/* The row's JSON with "accuracy": {split | "all": {n, correct, accuracy}} (the top
 * class against the labels; "all" over every labelled image) and "class_names". */
json_t *teacher_store_describe(app *a, int64_t id, err *e);

/* A page of the probabilities, images of `split` only when it is not NULL:
 * {items: [{image_id, probs: [C]}], total, limit, offset, classes,
 * teacher_output_id}. */
json_t *teacher_store_probs_page(app *a, int64_t id, const char *split, long limit, long offset, err *e);

#endif
