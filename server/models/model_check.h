/* model_check.h — load a model folder and prove it does what its manifest says.
 *
 * `inficond model check DIR` and model registration share these checks: the manifest
 * validates (model_manifest.h), the TorchScript file loads through the shim (patched
 * as the manifest says, or as detected), and one probe batch of 2 runs through every
 * method with the output shapes the manifest promises:
 *   teacher  forward(zeros (2, C, H, W))          -> (2, len(classes))
 *   concept  image(zeros (2, C, H, W))            -> global (2, D) | dense (2, D, h, w)
 *            text(tokens (2, context_length))     -> (2, D)
 * and finite values. Errors name the manifest field they concern.
 *
 * A dense CLIP ("dense": {"from": "clip-vit"}) is put in dense mode at load (a ResNet
 * archive, a missing parameter or an input that is not whole patches is a 422 there);
 * the probe then also checks the runner's reading of the archive against the
 * archive's own image method (shim_model_dense_clip_check; a wrong head count is
 * named with the one that fits), recorded as methods.image.archive_gap.
 */
#ifndef INFICOND_MODEL_CHECK_H
#define INFICOND_MODEL_CHECK_H

#include <jansson.h>

#include "err.h"
#include "inficond_shim.h"
#include "models/model_manifest.h"

#define MODEL_PROBE_BATCH 2

/* Load the model file a manifest names (patch_openai_jit as given, else detect), in
 * dense mode when the manifest says so. Returns a new handle (shim_model_free) or NULL
 * with e set (ERR_TORCH; ERR_UNPROCESSABLE for what dense mode refuses). */
shim_model *model_check_load(const model_manifest *mf, err *e);

/* Run the probe batch through every method of `model` against `mf`. On success
 * returns 0 and, when methods_out is not NULL, sets one member per method in it
 * ({"name", "input", "output", "ms"}); on failure -1 with e set. Borrows both. */
int model_check_probe(const model_manifest *mf, shim_model *model, json_t *methods_out, err *e) WARN_UNUSED;

/* The whole check on DIR. On success returns 0 and *summary (new reference, may be
 * NULL to discard) describes the model; on failure -1 with e set. */
int model_check_dir(const char *dir, json_t **summary, err *e) WARN_UNUSED;

/* `inficond model ...` (also declared in commands.h). */
int cmd_model(int argc, char **argv);

#endif
