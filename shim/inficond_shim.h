/* inficond_shim.h — the C face of the libtorch shim.
 *
 * Everything C++ lives behind this header. Every function catches every C++
 * exception and reports it as a short message in `errbuf` (never a traceback,
 * always < 300 chars, NUL-terminated when errlen > 0), returning a non-zero
 * status or NULL. Handles are opaque; each create has a free, and the frees are
 * NULL-safe.
 *
 * Models are TorchScript archives, all loaded through one path (torch::jit::load).
 * OpenAI-style CLIP archives (traced, with CUDA device constants and fp16 casts in
 * the graph) are patched after load the way clip.load(jit=True, device="cpu") does.
 *
 * Threads: a shim_model may be used by several threads at once. Each model holds a
 * mutex and shim_model_run() holds it for the whole call, so calls on one model are
 * serialised (libtorch still spreads one call over its intra-op threads). Different
 * models run in parallel. Loading and freeing are not concurrent with runs on the
 * same handle (the caller owns the lifetime).
 */
#ifndef INFICOND_SHIM_H
#define INFICOND_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The libtorch version this binary was built against, e.g. "1.13.1". Static storage. */
const char *shim_torch_version(void);

/* ---- process-wide settings ------------------------------------------------ */

/* Intra-op threads for libtorch (torch::set_num_threads). n < 1 is taken as 1. */
void shim_set_threads(int n);
/* 1 when libtorch sees a usable CUDA device. */
int shim_cuda_available(void);
/* "cuda" when a CUDA device is usable, else "cpu". Static storage. */
const char *shim_device_name(void);

/* ---- models --------------------------------------------------------------- */

typedef struct shim_model shim_model;

/* patch_openai: -1 detect (patch when the graph holds CUDA device constants or fp16
 * casts), 0 never, 1 always. */
#define SHIM_PATCH_DETECT (-1)

/* Load a TorchScript archive onto the CPU, in eval mode. Returns a new handle (free
 * with shim_model_free) or NULL with the reason in errbuf. An archive whose graph
 * pins CUDA devices, loaded with patch_openai == 0 on the CPU, is refused. */
shim_model *shim_model_load(const char *path, int patch_openai, char *errbuf, size_t errlen);
/* Same, on `device` ("cpu", "cuda" or NULL for cpu). "cuda" without a CUDA device is an
 * error. On CUDA, patching rewrites the fp16 casts to float32 but keeps the device. */
shim_model *shim_model_load_on(const char *path, int patch_openai, const char *device,
                               char *errbuf, size_t errlen);
void shim_model_free(shim_model *m);

/* 1 when the OpenAI patch (device constants + fp16 casts + float32 weights) was
 * applied at load, else 0. */
int shim_model_patched(const shim_model *m);
/* 1 when the module has a method called `name`, else 0 (also for NULL args). */
int shim_model_has_method(const shim_model *m, const char *name);
/* The module's method names, comma-separated ("forward, encode_image"), into
 * buf[len] (cut if too long). Returns 0, or -1 for bad arguments. */
int shim_model_method_names(const shim_model *m, char *buf, size_t len);

#define SHIM_MAX_DIMS 8

typedef enum { SHIM_FLOAT32 = 0, SHIM_INT64 = 1 } shim_dtype;

/* One input tensor, borrowed for the duration of the call. `count` is the number of
 * elements at `data`; it must equal the product of shape[0..ndim). Data is row-major
 * and contiguous; it is copied before the model sees it. */
typedef struct shim_input {
    shim_dtype dtype;
    int ndim;                        /* 0..SHIM_MAX_DIMS */
    int64_t shape[SHIM_MAX_DIMS];
    const void *data;                /* float[count] or int64_t[count] */
    size_t count;
} shim_input;

/* A method's result: the returned tensor (or the first tensor of a returned tuple or
 * list) as contiguous float32 on the CPU. `data` is malloc'd: release with
 * shim_free_output() or free(). */
typedef struct shim_output {
    float *data;                     /* (shape[0], ..., shape[ndim-1]) */
    int ndim;
    int64_t shape[SHIM_MAX_DIMS];
    size_t count;
} shim_output;

/* Run method `method` on `inputs[0..n_inputs)` without autograd. On success fills *out
 * and returns 0; on failure leaves *out zeroed and returns -1 with the reason. */
int shim_model_run(shim_model *m, const char *method, const shim_input *inputs, int n_inputs,
                   shim_output *out, char *errbuf, size_t errlen);
/* Free out->data and zero *out. NULL-safe. */
void shim_free_output(shim_output *out);

/* A float32 input buffer that is a libtorch tensor, so a big input (a batch of image
 * crops) is filled once by C and run with no copy. Its memory belongs to the shim: if
 * a method keeps the input (or a view of it) or resizes it in place, that memory stays
 * with the model and the buffer gets fresh memory, so fetch shim_tensor_data() again
 * after every run (NULL only if that fresh allocation failed). Not thread-safe. */
typedef struct shim_tensor shim_tensor;
/* A buffer of `count` floats (uninitialised); NULL with the reason. */
shim_tensor *shim_tensor_new(size_t count, char *errbuf, size_t errlen);
float *shim_tensor_data(shim_tensor *t); /* (count) */
void shim_tensor_free(shim_tensor *t);   /* NULL-safe */
/* shim_model_run with one input: the first prod(shape) floats of t, seen as `shape`.
 * The method may write into them (they are the caller's scratch). */
int shim_model_run_tensor(shim_model *m, const char *method, shim_tensor *t, int ndim,
                          const int64_t *shape, shim_output *out, char *errbuf, size_t errlen);

/* Shorten a libtorch/TorchScript error text (tracebacks, notes, suggestions) to its
 * first meaningful line, < 300 chars, into out[outlen]. Exposed for tests. */
void shim_trim_error(const char *raw, char *out, size_t outlen);

/* ---- building models (shim_define.cpp) ------------------------------------ */

/* Write a small randomly initialised TorchScript CNN to `path`: method
 * `forward(x: Tensor) -> Tensor` maps (N, channels, height, width) float32 images to
 * (N, classes) logits. conv3x3(16)-relu-maxpool2, conv3x3(32)-relu-maxpool2,
 * adaptive avg pool to 2x2, linear(128 -> classes). Parameters are registered (with
 * requires_grad) under conv1_w, conv1_b, conv2_w, conv2_b, fc_w, fc_b so the module
 * can be trained later. Same seed, same weights. Returns 0, or -1 with the reason. */
int shim_create_teacher_cnn(const char *path, int channels, int height, int width, int classes,
                            uint64_t seed, char *errbuf, size_t errlen);

/* ---- exporting a student (shim_student_export.cpp) ------------------------- */

/* A linear student as a TorchScript archive in memory: forward(x (B, d)) -> (B, C) =
 * x W^T + b and predict(x) -> (B) int64 argmax, with attributes concepts (List[str],
 * d), classes (List[str], C) and meta (str; `meta` may be NULL: "{}"). w: (C, d)
 * row-major, b: (C), all finite; names are copied. On success *buf is a new malloc'd
 * archive of *len bytes (free() it) and 0 is returned; else -1 with the reason. */
int shim_student_export(const float *w, const float *b, int c, int d, const char *const *concepts,
                        const char *const *classes, const char *meta, void **buf, size_t *len,
                        char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
