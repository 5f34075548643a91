/* student_split_measures.h — a student's weights measured on a problem: predictions
 * over every image, and the measures JSON stored with each version (on every split,
 * student_measures.h's summary per split), and the deltas between two such JSONs that
 * the provenance log shows.
 *
 * Measures JSON: {"splits": {name: sm_summary_json}, "nonzeros": [per class]}.
 */
#ifndef INFICOND_STUDENT_SPLIT_MEASURES_H
#define INFICOND_STUDENT_SPLIT_MEASURES_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"
#include "student/student_problem.h"

/* Student predictions pred (N) for W (C, d), b (C): one SGEMM + argmax. */
int ss_predict(const ss_problem *p, const float *W, const float *b, int32_t *pred, err *e) WARN_UNUSED;
/* The measures JSON of W, b on every split (see above); new, or NULL with e set. */
json_t *ss_measures(const ss_problem *p, const float *W, const float *b, err *e);

/* Provenance JSON row deltas: after - before for every number present in both
 * (recursively over objects and equal-length arrays; confusion matrices left out).
 * New, or NULL when the two have no comparable shape. */
json_t *ss_measure_deltas(const json_t *before, const json_t *after);

#endif
