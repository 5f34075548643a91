/* student_analyses.h — what the analysis views ask of one version on its (fresh)
 * problem: a class's concepts ranked by influence (weight x mean presence over the
 * images the teacher puts in the class), the images of a confusion cell, class or
 * split with both answers (paged, with a strong ETag), and one image's concept
 * contributions to every class score. Computed on request from the cached problem
 * (student_problem.h); nothing is stored.
 */
#ifndef INFICOND_STUDENT_ANALYSES_H
#define INFICOND_STUDENT_ANALYSES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "student/student_problem.h"
#include "student/student_store.h"

#define SS_ETAG 96 /* bytes of a disagreements ETag with its NUL */

/* Student student_id, its version `number` (loaded whole into v) and its problem, which
 * must be fresh (ERR_CONFLICT when stale or of another shape). On error v and *p are
 * freed; else the caller frees v and releases *p. */
int ss_analysis_open(app *a, int64_t student_id, int number, ss_version *v, ss_problem **p, err *e) WARN_UNUSED;

/* Class k's concepts by |influence|, at most `limit`, over the rows of split index
 * `split` (-1: every row): {"class", "class_index", "version", "split"?, "n_images",
 * "bias", "items": [{"concept", "index", "weight", "mean_presence", "influence", "lo",
 * "hi"}]}. New, or NULL with e set. */
json_t *ss_influence_json(const ss_problem *p, const ss_version *v, size_t k, int split, long limit, err *e);

/* Which rows a disagreements page takes; a class of -1 (or below) is any class. */
typedef struct ss_rows_filter {
    int agreement;      /* 0: student != teacher, 1: student == teacher, 2: every row */
    int split;          /* split index, -1: every split */
    long teacher_class, student_class, label;
    const unsigned char *only; /* (N) 1 for the rows to keep, or NULL: every row */
    long limit, offset;
} ss_rows_filter;

/* The ETag of a disagreements answer: the version's id, a hash of its weights and
 * biases, and the problem's checksums (what the answer depends on). etag (SS_ETAG). */
void ss_disagreements_etag(const ss_problem *p, const ss_version *v, char *etag);
/* The rows passing f in image id order, paged: {"version", "agreement", "split"?,
 * "teacher_class"?, "student_class"?, "label"?, "total", "limit", "offset", "items":
 * [{"image_id", "split", "teacher_class", "student_class", "teacher_probability",
 * "teacher_probability_of_student_class", "label"}]}. New, or NULL with e set. */
json_t *ss_disagreements_json(const ss_problem *p, const ss_version *v, const ss_rows_filter *f, err *e);

/* Row `row` (image image_id): each class's score, bias and its `top` largest non-zero
 * contributions weight x presence (only class `only_class` when >= 0); the student's
 * and the teacher's classes. New, or NULL with e set. */
json_t *ss_contributions_json(const ss_problem *p, const ss_version *v, size_t row, int64_t image_id,
                              long only_class, long top, err *e);

#endif
