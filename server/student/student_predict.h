/* student_predict.h — one new image through a student version (docs/ARCHITECTURE.md,
 * "The pipeline's data"): the image goes through concept extraction exactly as the dataset's images
 * did (the extraction's concept model, its manifest's preprocessing, the same
 * encoder and segmenter: extraction_encode; presence against the stored embeddings
 * of the student's concept words: presence_run), then the version's linear scores
 * x W^T + b, the predicted class and the concepts that carried it.
 *
 * Nothing is stored. A student whose presence matrix or teacher output was
 * recomputed since distillation is stale (ERR_CONFLICT), as for the analyses; so is
 * one whose extraction is not ready.
 */
#ifndef INFICOND_STUDENT_PREDICT_H
#define INFICOND_STUDENT_PREDICT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

#define SP_TOP_DEFAULT 10 /* contributing concepts listed by default */

/* Predict the JPEG jpeg[0..len) (borrowed) with version `number` (> 0) of student
 * `student_id`; list at most `top` (>= 1) concepts. On success *out is a new object:
 *   {student_id, version, encoder, image: {width, height}, class, class_index,
 *    scores: [{class, score}] (C, class order), presence: [d] (student's concept
 *    order), segments: [{index, nearest: {word, cos}, box | mask, area?}],
 *    label_map?: {h, w, labels} (dense models),
 *    concepts: [{concept, index, presence, weight, contribution, segment}] (the
 *    predicted class's non-zero contributions weight x presence, largest |.| first;
 *    segment: the entry of `segments` that gave the presence)}.
 * Errors: ERR_NOT_FOUND (student, version), ERR_CONFLICT (stale, not ready),
 * ERR_UNPROCESSABLE (not a decodable JPEG, or the model refuses it). */
int student_predict(app *a, int64_t student_id, int number, const uint8_t *jpeg, size_t len, int top, json_t **out,
                    err *e) WARN_UNUSED;

#endif
