/* student_measures.h — the measures (README.md here, "Measures") as pure functions on
 * arrays: student scores (one SGEMM), predictions (row argmax), fidelity, accuracy
 * against true labels, per-class precision/recall of the student against the teacher,
 * the student-vs-teacher confusion matrix, the disagreement subsets, each concept's
 * influence per class and each concept's contribution to an image's class scores.
 *
 * The caller applies them per split (train, test, shifted ...) and to the teacher
 * (its predictions are the argmax of its probabilities, sm_argmax_rows). Left out:
 * storage, and anything that needs the database; sm_summary_json renders a summary
 * with jansson for the API. Conventions: class indices are int32 in [0, C); a label of
 * -1 means "unknown" and is skipped by the accuracy measures; a ratio with an empty
 * denominator is NaN (null in JSON).
 */
#ifndef INFICOND_STUDENT_MEASURES_H
#define INFICOND_STUDENT_MEASURES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* scores (N, C) = X (N, D) W^T (C, D) + b (C), float32, one SGEMM. */
void sm_scores(const float *x, size_t n, size_t d, const float *w, const float *b, size_t c, float *scores);

/* pred (N): argmax of each row of s (N, C); ties go to the lowest index; a row with
 * NaN ignores the NaN entries (all NaN: 0). */
void sm_argmax_rows(const float *s, size_t n, size_t c, int32_t *pred);

/* Fraction of rows where a[i] == b[i] (NaN when n == 0). */
double sm_agreement(const int32_t *a, const int32_t *b, size_t n);

typedef struct sm_summary {
    size_t n, c;
    double fidelity;         /* student == teacher                                       */
    double student_accuracy; /* student == label over labelled rows (NaN: no labels)     */
    double teacher_accuracy; /* teacher == label                                         */
    double *class_fidelity;  /* (C) per teacher class k: P(student = k | teacher = k),
                                i.e. the student's recall of the teacher's class k       */
    double *class_precision; /* (C) P(teacher = k | student = k)                         */
    double *class_student_accuracy; /* (C) per true class: P(student = label | label = k) */
    double *class_teacher_accuracy; /* (C) P(teacher = label | label = k)                */
    int64_t *confusion;      /* (C, C) row = teacher class, column = student class       */
    size_t n_disagree;
    size_t *disagree;        /* (n_disagree) row indices where student != teacher, ascending */
} sm_summary;

/* labels may be NULL. Classes outside [0, C) in student/teacher are ERR_UNPROCESSABLE. */
int sm_summary_compute(const int32_t *student, const int32_t *teacher, const int32_t *labels, size_t n, size_t c,
                       sm_summary *out, err *e) WARN_UNUSED;
void sm_summary_free(sm_summary *s); /* NULL-safe; leaves it zeroed */

/* The rows of one confusion cell (teacher class t, student class s; t != s is a
 * disagreement subset): writes up to cap indices to out, returns how many match. */
size_t sm_cell_rows(const int32_t *student, const int32_t *teacher, size_t n, int32_t t, int32_t s, size_t *out,
                    size_t cap);

/* influence (C, D): influence[k][j] = W[k][j] * mean of x[i][j] over the rows i with
 * teacher[i] == k (0 for a class the teacher never predicts). x (N, D), W (C, D). */
int sm_influence(const float *x, size_t n, size_t d, const float *w, size_t c, const int32_t *teacher,
                 float *influence, err *e) WARN_UNUSED;

/* contrib (C, D): contrib[k][j] = W[k][j] * xi[j] for one image's presence row xi (D);
 * score_k = sum_j contrib[k][j] + b_k. */
void sm_contributions(const float *xi, size_t d, const float *w, size_t c, float *contrib);

/* {"n","fidelity","student_accuracy","teacher_accuracy","classes":[{"fidelity",
 *  "precision","recall","student_accuracy","teacher_accuracy"}...],"confusion":[[..]],
 *  "disagreements": n_disagree}; NaN as null. NULL on out of memory. */
json_t *sm_summary_json(const sm_summary *s);

#endif
