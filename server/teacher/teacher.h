/* teacher.h — teacher outputs: the probabilities a teacher gives every image of a
 * dataset, computed here (the chunk tasks of job "teacher.outputs", teacher_tasks.h
 * and teacher_job.h, compute their rows with teacher_outputs_compute_rows) or read
 * from a predictions file (teacher_predictions.h), and stored by teacher_store.h
 * (one row per (dataset, model): probabilities (N, C) in ascending image id order,
 * columns in the dataset's class order).
 *
 * The preprocessing and softmax are also used by extraction, predictions files and
 * the benchmarks.
 */
#ifndef INFICOND_TEACHER_H
#define INFICOND_TEACHER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "dataset/dataset_store.h"
#include "dataset/jpeg_io.h"
#include "jobs.h"
#include "models/model_manifest.h"
#include "models/model_registry.h"

#define TEACHER_BATCH 64
#define TEACHER_PROB_TOLERANCE 1e-3 /* a row "sums to 1" within this */

/* Image -> the model's input (channels, height, width) floats: resize, /255, normalise
 * with the manifest's mean/std. 3 channels as RGB; 1 channel is the mean of R, G, B
 * (a greyscale JPEG decodes with R = G = B, so it is exact there). Other channel
 * counts are ERR_UNPROCESSABLE naming manifest.input.channels. `out` holds
 * C*H*W floats. `scratch` holds 3*H*W floats (used for 1 channel; may be NULL else). */
int teacher_preprocess(const model_manifest *mf, const image_rgb *img, float *out, float *scratch,
                       err *e) WARN_UNUSED;

/* Softmax of each row of x (n, c) in place, max-subtracted, in double. */
void teacher_softmax_rows(float *x, size_t n, size_t c);

/* 1 when the row looks like probabilities: every entry finite and >= 0, and the sum
 * within TEACHER_PROB_TOLERANCE of 1. */
int teacher_row_is_probs(const float *row, size_t c);

/* The teacher m's probabilities for every image of d, in the dataset's class order:
 * a new N x C array in *probs (free it). Columns are matched by class name when the
 * model's classes are a permutation of the dataset's (*by_name = 1, nullable), else by
 * position. Progress goes to ctx from lo to hi of its bar, as "<what>K of N images";
 * a bad image fails it with the image's id in the message. */
int teacher_outputs_compute(job_ctx *ctx, const dataset_images *d, const model_ref *m, double lo, double hi,
                            const char *what, float **probs, int *by_name, err *e) WARN_UNUSED;
/* The same for image rows [first, first + n) of d only: *probs (n, C). Batches of
 * TEACHER_BATCH start at `first`. */
int teacher_outputs_compute_rows(job_ctx *ctx, const dataset_images *d, const model_ref *m, size_t first, size_t n,
                                 double lo, double hi, const char *what, float **probs, int *by_name,
                                 err *e) WARN_UNUSED;

#endif
