/* dataset_store.h — the rows of the dataset stage, `datasets` and `images`: the only
 * code that writes them (server/dataset/README.md), and the reads other code shares.
 *
 * Writes: create or find a dataset by name, delete one, grow its class list and add
 * image rows (the last two inside the import's own transaction, dataset_import.c).
 * Reads: a dataset or a page of datasets or images as the routes' JSON, one image's
 * sha256, image counts, and a whole dataset loaded for the stages that compute over
 * it (teacher outputs, extraction, students).
 *
 * Image rows name blobs by sha256; the blob is written before its row
 * (docs/ARCHITECTURE.md, "Faults"), and rows are never updated: the same bytes are
 * one row per dataset (UNIQUE (dataset_id, sha256)).
 */
#ifndef INFICOND_DATASET_STORE_H
#define INFICOND_DATASET_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "blobstore.h"
#include "err.h"

/* ---- datasets ---------------------------------------------------------------- */

/* A new dataset (name checked by the caller: dataset_name_valid) as the routes'
 * JSON: {id, name, description, classes, created_by, created_at, image_count,
 * splits: {split: n}}. user_id <= 0: no creator. ERR_CONFLICT "a dataset named 'x'
 * already exists". Returns a new reference or NULL. */
json_t *dataset_store_create(app *a, const char *name, const char *description, int64_t user_id, err *e);

/* The id of the dataset `name`, created (no creator) when absent; description is
 * used only then (NULL: ""). Safe against a concurrent creator. -1 on failure. */
int64_t dataset_store_find_or_create(app *a, const char *name, const char *description, err *e) WARN_UNUSED;

/* One dataset as JSON (as dataset_store_create), or NULL: ERR_NOT_FOUND "no dataset N". */
json_t *dataset_store_get_json(app *a, int64_t id, err *e);

/* {name, classes} of a dataset, without counting its images (for checks before a
 * job); ERR_NOT_FOUND "no dataset N". */
json_t *dataset_store_head_json(app *a, int64_t id, err *e);

/* {items: [dataset...] by id, total, limit, offset}. */
json_t *dataset_store_list_json(app *a, long limit, long offset, err *e);

/* Delete a dataset and its image rows (the blobs stay: the store is shared and
 * content-addressed). Refused with ERR_CONFLICT while a queued or running job
 * names it in params.dataset_id; ERR_NOT_FOUND "no dataset N". */
int dataset_store_delete(app *a, int64_t id, err *e) WARN_UNUSED;

/* ---- images ------------------------------------------------------------------ */

/* {items: [{id, split, label, class, width, height, sha256}] by id, total, limit,
 * offset} of a dataset's images; split NULL and label < 0 mean any. ERR_NOT_FOUND
 * "no dataset N". */
json_t *dataset_store_images_page(app *a, int64_t id, const char *split, long label, long limit, long offset,
                                  err *e);

/* An image's sha256 (hex) into sha. ERR_NOT_FOUND "no image N"; ERR_INTERNAL when the
 * stored value is not a sha256. */
int dataset_store_image_sha(app *a, int64_t image_id, char sha[BLOBSTORE_HEX_LEN + 1], err *e) WARN_UNUSED;

/* Number of images of a dataset (0 for an unknown dataset), or -1. */
long dataset_store_image_count(app *a, int64_t id, err *e);

/* The ids of a dataset's images in `split`, ascending: a new array in *ids (free it;
 * may be NULL when *n is 0). */
int dataset_store_split_ids(app *a, int64_t id, const char *split, int64_t **ids, size_t *n, err *e) WARN_UNUSED;

/* ---- inside an import's transaction (conn is in BEGIN) ----------------------------- */

/* Lock the dataset row, append to its class list the names of `want` (a JSON array
 * of strings; NULL: none) it lacks, in order, and give the whole list (a new JSON
 * array) in *classes. Under that lock two imports into one dataset cannot lose a
 * class. ERR_NOT_FOUND when the dataset is gone. */
int dataset_store_add_classes(PGconn *c, int64_t id, const json_t *want, json_t **classes, err *e) WARN_UNUSED;

/* Insert image rows, a JSON array of {split, label (int or null), sha256, width,
 * height, bytes, source_name}; rows whose sha256 the dataset already holds are left
 * out. *inserted gets the count added, and split_counts ({split: n}, may be NULL)
 * gains one per added row. */
int dataset_store_add_images(PGconn *c, int64_t id, const json_t *rows, json_t *split_counts, long *inserted,
                             err *e) WARN_UNUSED;

/* ---- a whole dataset, for the stages that compute over it ----------------------- */

/* A dataset's images in ascending id order, with what teacher outputs, extraction
 * and students need. Every array has n entries. */
typedef struct dataset_images {
    int64_t id;
    char *name;
    char **classes; /* (n_classes) the dataset's class list         */
    size_t n_classes;
    size_t n;
    int64_t *ids;  /* (n) ascending                                  */
    char **shas;   /* (n) sha256 hex of each JPEG                    */
    char **splits; /* (n) "" when the image has no split             */
    int *labels;   /* (n) class index, -1 when unknown               */
} dataset_images;

/* Load (ERR_NOT_FOUND "no dataset N"). Free with dataset_images_free; a failed
 * load leaves *d empty (freeing it again is harmless). */
int dataset_store_load(app *a, int64_t id, dataset_images *d, err *e) WARN_UNUSED;
void dataset_images_free(dataset_images *d); /* NULL-safe; leaves *d zeroed */

#endif
