/* model_registry.h — registered models (table `models`) and the process-wide cache of
 * loaded ones.
 *
 * Registering copies the model folder's manifest.json, the TorchScript file and the
 * tokenizer file into `<data_dir>/models/<id>-<sha8>/` (so the registry never depends
 * on a user's path staying put), runs model_check_dir on the copy (manifest field by
 * field, load, one probe batch per method) and inserts the row. Every check failure
 * is ERR_UNPROCESSABLE (422) naming the manifest field; load failures say why
 * ("not a TorchScript archive", "exported by a newer PyTorch than libtorch 1.13 can
 * read"); a taken name is ERR_CONFLICT.
 *
 * Loaded models are shared: model_registry_acquire returns a counted reference to
 * one shim_model per model id, loaded on first use. The shim serialises runs on one
 * model, so any number of threads may hold the same reference. At most
 * MODEL_CACHE_MAX models stay loaded; the least recently used unreferenced one is
 * freed first. A deleted model is dropped from the cache when its last user releases it.
 */
#ifndef INFICOND_MODEL_REGISTRY_H
#define INFICOND_MODEL_REGISTRY_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "inficond_shim.h"
#include "shim_infer.h"
#include "models/model_manifest.h"

#define MODEL_CACHE_MAX 4
#define MODEL_NAME_MAX 128

typedef struct model_ref {
    int64_t id;
    model_manifest mf;  /* as validated, paths under the registry's copy  */
    shim_model *model;
    shim_infer *fast;   /* teachers: forward optimised for inference (shim_infer.h),
                           NULL when the model could not be optimised              */
} model_ref;

/* Register the model folder `src_dir` (on this server) as `name`. On success returns
 * the new model's JSON (as model_registry_get_json) in *out. */
int model_registry_register(app *a, const char *name, const char *src_dir, int64_t user_id, json_t **out,
                            err *e) WARN_UNUSED;

/* Extract a .tar (optionally gzipped) of a model folder into a new temporary folder
 * under <data_dir>/tmp and register that. Members with absolute paths, ".."
 * components, links or devices are refused (ERR_UNPROCESSABLE); a single top-level
 * folder holding manifest.json is accepted as the model folder. */
int model_registry_register_tar(app *a, const char *name, const char *tar_path, int64_t user_id, json_t **out,
                                err *e) WARN_UNUSED;

/* One model as JSON: {id, name, kind, encoder, classes|embedding_dim, manifest,
 * sha256, summary, created_by, created_at}. ERR_NOT_FOUND when absent. */
json_t *model_registry_get_json(app *a, int64_t id, err *e);
/* {items: [{id, name, kind, encoder, classes, embedding_dim, input, sha256,
 * created_by, created_at}] by id, total, limit, offset}; kind NULL: every kind. */
json_t *model_registry_list_json(app *a, const char *kind, long limit, long offset, err *e);
/* Delete the row (teacher outputs made with it go too, by the foreign key), the
 * folder and the cache entry. ERR_NOT_FOUND when absent. */
int model_registry_delete(app *a, int64_t id, err *e) WARN_UNUSED;

/* The manifest of registered model id, read from its folder without loading the model
 * (free with model_manifest_free). ERR_NOT_FOUND when absent. */
int model_registry_manifest(app *a, int64_t id, model_manifest *mf, err *e) WARN_UNUSED;

/* A loaded model by id (loaded on first use). Release every acquired reference. */
model_ref *model_registry_acquire(app *a, int64_t id, err *e) WARN_UNUSED;
void model_registry_release(model_ref *m); /* NULL-safe */

#endif
