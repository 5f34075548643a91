/* demo_models.h — the two built-in demo models (docs/ARCHITECTURE.md, "The demo world").
 *
 * Both are TorchScript modules defined in C++ (torch::jit::Module::define), trained
 * here with libtorch on one CPU thread, and saved with Module::save so that
 * torch::jit::load (and therefore the ordinary model loader) reads them back.
 *
 * Input images (both models): float32, NCHW, (N, 3, 64, 64), RGB in [0,1] normalised
 * by the caller as (v - DEMO_INPUT_MEAN) / DEMO_INPUT_STD on every channel. Those
 * constants go in each manifest's "input": {"mean": [0.5,0.5,0.5], "std": [0.25,...]}.
 *
 * Teacher (kind "teacher", method "forward"): x (N,3,64,64) -> logits (N, classes).
 *   conv5x5/2 (w) BN ReLU, maxpool2, conv3x3 (2w) BN ReLU, maxpool2, conv3x3 (4w)
 *   BN ReLU, [global max ++ global mean] -> linear(classes). w = 32 by default
 *   (max-pool is applied before ReLU: the same function, cheaper).
 *
 * Concept model (kind "concept", encoder "dense", tokenizer "words"):
 *   encode_image(x (N,3,64,64) float)  -> (N, 64, 8, 8), unit vectors along dim 1
 *   encode_text(tokens (N,L) int64)    -> (N, 64) unit vectors; token 0 = padding,
 *       token j (1..V) = vocabulary word j (line j of the words file); several words
 *       give the normalised mean of their (normalised) word embeddings; a row of only
 *       padding gives a zero vector.
 *   Same trunk as the teacher, a residual 3x3 conv (4w) at the 8x8 grid for context
 *   (receptive field 51 px: a whole item), then a 1x1 conv to 64-d per location.
 *   Trained with BCE on scale*max_loc cos(grid, word)+bias against "word in caption".
 *
 * Batch norm: running statistics are module buffers; the module's bool attribute
 * "training" (the one torch::jit::Module::train()/eval() toggles and TorchScript reads
 * as self.training) selects batch or running statistics. Saved files are in eval mode.
 *
 * Every function catches every C++ exception and returns a non-zero status with a
 * short message in errbuf. Counts are element counts (floats / int64s), checked
 * against the shapes. Training is deterministic for a given seed and thread count
 * (uses its own generator, not the global one). Training sets the process-wide
 * intra-op thread count to opts->threads (default 1); set OMP_NUM_THREADS=1 and
 * OPENBLAS_NUM_THREADS=1 in the environment before libtorch starts.
 */
#ifndef INFICOND_DEMO_MODELS_H
#define INFICOND_DEMO_MODELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DEMO_IMAGE_SIZE 64     /* input height = width */
#define DEMO_IMAGE_CHANNELS 3
#define DEMO_INPUT_MEAN 0.5f   /* per channel, on RGB in [0,1] */
#define DEMO_INPUT_STD 0.25f
#define DEMO_EMBED_DIM 64      /* concept model embedding size */
#define DEMO_GRID 8            /* concept model grid: DEMO_GRID x DEMO_GRID locations */

enum {
    DEMO_OK = 0,
    DEMO_EARGS = 1,      /* bad arguments / counts that do not match shapes */
    DEMO_EFAIL = 2,      /* libtorch error, I/O error */
    DEMO_ECANCELLED = 3  /* the progress callback returned non-zero */
};

typedef struct demo_train_opts {
    int epochs;          /* 0 = default (teacher 9, concepts 6: about 3 + 3 min for
                            20k scenes on one core; see demo_models.cpp) */
    int batch;           /* 0 = 128 */
    double lr;           /* peak learning rate of the one-cycle schedule; 0 = 3e-3 */
    double weight_decay; /* AdamW decay on conv/linear weights; 0 = 1e-2, <0 = none */
    uint64_t seed;
    int threads;         /* intra-op threads; 0 = 1 */
    int width;           /* channels of the first conv (then 2x, 4x);
                            0 = default (teacher 32, concepts 24) */
} demo_train_opts;

/* Called during training, about every 2% of the work and at the end of each epoch.
 * epoch: 0-based current epoch; loss: running mean training loss of this epoch;
 * frac: overall fraction done in [0,1]. Return non-zero to cancel (-> DEMO_ECANCELLED;
 * nothing is written). May be NULL. */
typedef int (*demo_progress_fn)(void *ud, int epoch, int epochs, double loss, double frac);

/* Trains the teacher on images (images_count == n*3*64*64) and labels (n values in
 * [0, classes)), with random horizontal flips, and saves TorchScript to out_path
 * (written to out_path.tmp then renamed). */
int demo_train_teacher(const float *images, size_t images_count,
                       const int64_t *labels, int n, int classes,
                       const demo_train_opts *opts,
                       demo_progress_fn progress, void *ud,
                       const char *out_path, char *errbuf, size_t errlen);

/* Trains the concept model on image-caption pairs: word_targets is (n, vocab) 0/1,
 * column j-1 = vocabulary word id j is in the caption (targets_count == n*vocab).
 * Saves TorchScript with encode_image / encode_text to out_path. */
int demo_train_concepts(const float *images, size_t images_count,
                        const float *word_targets, size_t targets_count,
                        int n, int vocab,
                        const demo_train_opts *opts,
                        demo_progress_fn progress, void *ud,
                        const char *out_path, char *errbuf, size_t errlen);

/* Loading and running a saved demo model (any TorchScript file with these methods):
 * for tests and for the demo build's own checks. Runs without autograd, in batches. */
typedef struct demo_model demo_model;
demo_model *demo_model_load(const char *path, char *errbuf, size_t errlen);
void demo_model_free(demo_model *m); /* NULL-safe */

/* Teacher logits: out (n, classes), out_count == n*classes. */
int demo_model_forward(demo_model *m, const float *images, size_t images_count, int n,
                       float *out, size_t out_count, char *errbuf, size_t errlen);
/* Concept grid: out (n, 64, 8, 8), out_count == n*64*8*8. */
int demo_model_encode_image(demo_model *m, const float *images, size_t images_count,
                            int n, float *out, size_t out_count,
                            char *errbuf, size_t errlen);
/* Word embeddings: tokens (n, len) int64 (0 = padding); out (n, 64). */
int demo_model_encode_text(demo_model *m, const int64_t *tokens, int n, int len,
                           float *out, size_t out_count, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
