/* teacher.h — teacher outputs: the probabilities a teacher gives every image of a
 * dataset, computed here (job "teacher.outputs") or read from a predictions file.
 *
 * Stored as one row of `teacher_outputs` per (dataset, model) — or per dataset and
 * file for uploaded predictions — pointing at two blobs: the probabilities, float32
 * (N, C) row-major little-endian, and the image ids, int64 (N) little-endian, in
 * ascending image id order (the order every reader of the matrix assumes). Columns
 * follow the dataset's class list.
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

/* Parse a predictions file (CSV `key,v0,v1,...` with an optional header line whose
 * first cell is not a key, or JSON {"classes": [...] (optional), "predictions":
 * {key: [...]}}) against a dataset whose images are ids[0..n) (ascending) with
 * sha256 hex shas[0..n). A key is an image id or its sha256. Rows that look like
 * probabilities are kept, others are taken as logits (softmax). Every image must be
 * covered exactly once, no unknown key, every row `classes` wide: errors are
 * ERR_UNPROCESSABLE naming the first bad key or line. On success *probs is a new
 * malloc'd (n, classes) matrix in ids order and *n_logit_rows counts softmaxed rows.
 * json_classes (may be NULL): the JSON "classes" array, when given, must equal
 * dataset_classes[0..classes) (names checked in order). */
int teacher_parse_predictions(const char *path, const int64_t *ids, char *const *shas, size_t n,
                              char *const *dataset_classes, size_t classes, float **probs,
                              size_t *n_logit_rows, err *e) WARN_UNUSED;

/* Store probs (d->n, d->n_classes) and the ids as blobs and upsert the row: one per
 * (dataset, model) when model_id > 0, else one per (dataset, name) with source
 * 'file'. *out_id gets the row's id. */
int teacher_outputs_store(app *a, const dataset_images *d, int64_t model_id, const char *name, const float *probs,
                          size_t n_logit_rows, int64_t job_id, int64_t user_id, int64_t *out_id, err *e) WARN_UNUSED;

/* Job "teacher.outputs": params {"dataset_id", "model_id"}. */
/* The teacher m's probabilities for every image of d, in the dataset's class order:
 * a new N x C array in *probs (free it). Columns are matched by class name when the
 * model's classes are a permutation of the dataset's (*by_name = 1, nullable), else by
 * position. Progress goes to ctx from lo to hi of its bar, as "<what>K of N images";
 * a bad image fails it with the image's id in the message. */
int teacher_outputs_compute(job_ctx *ctx, const dataset_images *d, const model_ref *m, double lo, double hi,
                            const char *what, float **probs, int *by_name, err *e) WARN_UNUSED;
int teacher_outputs_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

#endif
