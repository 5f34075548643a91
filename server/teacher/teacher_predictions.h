/* teacher_predictions.h — read a teacher's predictions from an uploaded file, for a
 * teacher that runs elsewhere (POST /api/v1/datasets/{id}/predictions).
 */
#ifndef INFICOND_TEACHER_PREDICTIONS_H
#define INFICOND_TEACHER_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Parse a predictions file (CSV `key,v0,v1,...` with an optional header line whose
 * first cell is not a key, or JSON {"classes": [...] (optional), "predictions":
 * {key: [...]}}) against a dataset whose images are ids[0..n) (ascending) with
 * sha256 hex shas[0..n). A key is an image id or its sha256. Rows that look like
 * probabilities (teacher_row_is_probs) are kept, others are taken as logits
 * (softmax). Every image must be covered exactly once, no unknown key, every row
 * `classes` wide: errors are ERR_UNPROCESSABLE naming the first bad key or line. On
 * success *probs is a new malloc'd (n, classes) matrix in ids order and
 * *n_logit_rows counts softmaxed rows. A JSON "classes" array, when given, must
 * equal dataset_classes[0..classes) (names checked in order). */
int teacher_parse_predictions(const char *path, const int64_t *ids, char *const *shas, size_t n,
                              char *const *dataset_classes, size_t classes, float **probs,
                              size_t *n_logit_rows, err *e) WARN_UNUSED;

#endif
