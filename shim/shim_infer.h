/* shim_infer.h — a teacher's forward method, optimised for CPU inference.
 *
 * torch::jit::optimize_for_inference (what torch.jit.optimize_for_inference does in
 * Python): freeze the module (parameters become constants), fold conv + batch norm,
 * fuse conv + add/relu, and run convolutions through oneDNN (MKL-DNN) with prepacked
 * weights. Same function, same results up to float rounding, several times faster
 * for convolutional teachers on one thread. Only the named method is kept.
 *
 * Used by the teacher.outputs job and `inficond bench teacher`; a model that cannot
 * be optimised (e.g. an OpenAI-style archive that needs the CUDA/fp16 patch) is run
 * through the ordinary shim_model instead. Same error and thread rules as
 * inficond_shim.h: short messages in errbuf, runs on one handle are serialised.
 */
#ifndef INFICOND_SHIM_INFER_H
#define INFICOND_SHIM_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "inficond_shim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shim_infer shim_infer;

/* Load `path` on the CPU, eval mode, and optimise it keeping `method`. NULL with the
 * reason on failure. */
shim_infer *shim_infer_load(const char *path, const char *method, char *errbuf, size_t errlen);
void shim_infer_free(shim_infer *m); /* NULL-safe */

/* Run the kept method on one float32 input; same contract as shim_model_run. */
int shim_infer_run(shim_infer *m, const shim_input *input, shim_output *out, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
