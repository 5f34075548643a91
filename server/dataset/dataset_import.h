/* dataset_import.h — import images into a dataset from an idx pair, a folder tree
 * or a tar archive; the code behind the "dataset.import" job and `inficond dataset
 * import`. The checks (names, params) are in dataset_import_check.c, the import
 * itself in dataset_import.c; its rows are written through dataset_store.h.
 *
 * Each image is checked (tar/folder bytes are fully decoded with libjpeg-turbo, or
 * libspng for PNGs; idx pixels are encoded as greyscale JPEG, quality 95), stored in the blob store under
 * its sha256 and recorded in `images` in batches. A bad file is skipped and listed
 * with its reason; only a broken source (unreadable, corrupt archive) or a database
 * failure fails the import. The same bytes are stored once per dataset, so an
 * import can be re-run from the start (after a crash, or by the user) and adds
 * nothing twice.
 *
 * Params (JSON object; the job's params as stored in jobs.params):
 *   dataset_id   integer, required
 *   source       "idx" | "folder" | "tar"
 *   images, labels  absolute paths of the idx pair (source "idx"; gzip allowed)
 *   path         absolute path of the folder or tar (sources "folder", "tar")
 *   split        idx: the split (default "train" for train-*, "test" for t10k-* or test-*);
 *                folder/tar in the <class>/<file> layout: every image goes there
 *   split_ratio  folder/tar in the <class>/<file> layout: {"train":0.8,"val":0.1,
 *                "test":0.1} (weights, normalised); an image's split is chosen from
 *                its sha256, so a re-import puts it in the same split. Default
 *                {"train":0.8,"val":0.1,"test":0.1} when neither split nor
 *                split_ratio is given. Ignored in the <split>/<class>/<file> layout.
 *   classes      optional class names: idx label i is classes[i]; for folders they
 *                fix the order of those names (others are appended as found)
 *   upload       true when `path` is an upload under <data_dir>/uploads that the
 *                import deletes once it has succeeded
 * Result: {imported, duplicates, skipped:[{name,reason}] (first 1000), skipped_total,
 *          classes, splits:{name:imported}, seconds, images_per_second}.
 */
#ifndef INFICOND_DATASET_IMPORT_H
#define INFICOND_DATASET_IMPORT_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "jobs.h"

#define DATASET_NAME_MAX 100
#define DATASET_SPLIT_MAX 32
#define DATASET_IMPORT_BATCH 500
#define DATASET_IDX_JPEG_QUALITY 95
/* PNG members are stored re-encoded as JPEG at this quality, so every stage after
 * the import (teacher, extraction, thumbnails) only ever decodes JPEGs. */
#define DATASET_PNG_JPEG_QUALITY 95
#define DATASET_MAX_SPLITS 16        /* names in a split_ratio                 */
#define DATASET_MAX_CLASSES 100000   /* names in params.classes                */
#define DATASET_CLASS_NAME_MAX 255   /* bytes of a class (folder) name         */

/* 1 when s is 1..100 characters of [A-Za-z0-9_.-]. NULL-safe. */
int dataset_name_valid(const char *s);
/* 1 when s is 1..32 characters of [a-z0-9_-]. NULL-safe. */
int dataset_split_valid(const char *s);

/* The idx split implied by the images file's name ("train" for train-*, "test" for
 * t10k-* and test-*), or NULL. */
const char *dataset_idx_default_split(const char *images_path);

/* Validate import params (fields, types, paths exist with the right kind, split
 * names). 0, or -1 with ERR_UNPROCESSABLE and a message naming the field
 * ("field 'labels': no such file /x"). dataset_id is not checked here. */
int dataset_import_check(const json_t *params, err *e) WARN_UNUSED;

/* Progress sink: fraction in [0,1] and a short message. Return 0 to go on, or -1
 * with e set (ERR_CANCELLED) to stop. */
typedef int (*dataset_progress_fn)(void *arg, double fraction, const char *message, err *e);

/* Run an import (params as above). On success *result is a new JSON object. */
int dataset_import_run(app *a, const json_t *params, dataset_progress_fn progress, void *arg,
                       json_t **result, err *e) WARN_UNUSED;

/* The "dataset.import" job kind (job_kinds.c). */
int dataset_import_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

#endif
