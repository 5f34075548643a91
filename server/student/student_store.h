/* student_store.h — students as stored things (SPEC steps 5-7): the training problem
 * of a (teacher output, presence extraction) pair, distillation, immutable versions,
 * tuning through bounds, restore, and the measures on every split.
 *
 * The problem (presence X, teacher probabilities P aligned by image id, split and
 * label per image, and the solver's transposed train rows) is built once and kept in
 * a small in-process cache keyed by the two blobs' checksums, so a tune action costs
 * one retrain of the named classes plus one SGEMM for the measures, not a reload.
 * A student remembers the checksums it was distilled from: when the extraction or the
 * teacher output is recomputed since, it is stale (ERR_CONFLICT, "stale"), and
 * nothing is stored. Versions are never changed: a tune or a restore adds one whose
 * number is the head's + 1, under a row lock on the student, so of two edits of the
 * same head exactly one succeeds (the other gets ERR_CONFLICT and the new head).
 *
 * Measures JSON: {"splits": {name: sm_summary_json}, "nonzeros": [per class]}; the
 * student is fitted on the "train" split (on every image when there is none).
 */
#ifndef INFICOND_STUDENT_STORE_H
#define INFICOND_STUDENT_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "jobs.h"
#include "student/student.h"
#include "student/tuning.h"

#define SS_TRAIN_SPLIT "train"
#define SS_CACHE_SIZE 3

/* The training problem, shared read-only by everyone holding a reference. */
typedef struct ss_problem {
    int64_t extraction_id, teacher_output_id, dataset_id;
    char presence_sha[65], probs_sha[65];
    size_t n, d, c;
    float *x;            // (N, d) presence, rows in ids order
    float *p;            // (N, C) teacher probabilities
    int64_t *ids;        // (N) ascending image ids
    int32_t *teacher;    // (N) argmax of p
    int32_t *labels;     // (N) -1 unknown
    int32_t *split;      // (N) index into splits
    size_t n_splits;
    char **splits;       // (n_splits) names
    size_t **split_rows; // (n_splits) rows of each split, ascending
    size_t *split_n;     // (n_splits)
    char **words;        // (d)
    char **classes;      // (C)
    size_t n_train;
    float *x_train;      // (N_train, d)
    float *p_train;      // (N_train, C)
    student_data sd;     // over x_train
    int refs;            /* cache-owned; see ss_problem_release */
    int evicted;
} ss_problem;

/* The problem of the pair at the current checksums (built or from the cache). Release
 * with ss_problem_release. ERR_CONFLICT when the extraction is not ready,
 * ERR_UNPROCESSABLE when the two do not belong to one dataset. */
int ss_problem_get(app *a, int64_t extraction_id, int64_t teacher_output_id, ss_problem **out, err *e) WARN_UNUSED;
void ss_problem_release(ss_problem *p); /* NULL-safe */
/* Row of image_id, or -1. */
long ss_problem_row(const ss_problem *p, int64_t image_id);
/* Split index by name, or -1. */
int ss_problem_split(const ss_problem *p, const char *name);

/* Student predictions pred (N) for W (C, d), b (C): one SGEMM + argmax. */
int ss_predict(const ss_problem *p, const float *W, const float *b, int32_t *pred, err *e) WARN_UNUSED;
/* The measures JSON of W, b on every split (see above). */
json_t *ss_measures(const ss_problem *p, const float *W, const float *b, err *e);

/* A student row. */
typedef struct ss_student {
    int64_t id, dataset_id, teacher_output_id, extraction_id;
    char presence_sha[65], probs_sha[65];
    double lambda;
} ss_student;

/* A version, loaded whole: lo, hi are always allocated (+-inf where unbounded). */
typedef struct ss_version {
    int64_t id, parent_id;
    int number;
    size_t c, d;
    float *w;  // (C, d)
    float *b;  // (C)
    float *lo; // (C, d)
    float *hi; // (C, d)
    int has_bounds;
    double lambda;
    json_t *measures; /* owned */
} ss_version;

int ss_student_load(app *a, int64_t id, ss_student *s, err *e) WARN_UNUSED;
/* number <= 0: the head. ERR_NOT_FOUND "no version N of student S". */
int ss_version_load(app *a, int64_t student_id, int number, ss_version *v, err *e) WARN_UNUSED;
void ss_version_free(ss_version *v); /* NULL-safe, leaves it zeroed */
/* The problem of a student, refused (ERR_CONFLICT) when it is stale. */
int ss_student_problem(app *a, const ss_student *s, ss_problem **out, err *e) WARN_UNUSED;

/* Parse the API's actions against a problem's words and classes: each
 * {"action": "uptune"|"downtune"|"remove"|"release"|"set", "concept": word or index,
 * "class": name or index, "factor": x (uptune, downtune), "value": v (set)}.
 * ERR_UNPROCESSABLE naming "actions[i].field". *acts is malloc'd (n_acts >= 1). */
int ss_actions_parse(const json_t *actions, char *const *words, size_t d, char *const *classes, size_t c,
                     tuning_action **acts, size_t *n_acts, err *e) WARN_UNUSED;

/* Job "student.distill": params {"extraction_id", "teacher_output_id", "name"?, "lambda"?}. */
int ss_distill_job(job_ctx *ctx, const json_t *params, json_t **result, err *e);

/* A tune: the actions (JSON, as above) applied to version `parent`, which must be the
 * head (else ERR_CONFLICT and *head = the head's number); the named classes are
 * retrained from the parent's weights under the new bounds. On success *out is
 * {"number", "id", "parent", "classes": [retrained], "measures"}. */
int ss_tune(app *a, int64_t student_id, int parent, const json_t *actions, const char *note, int64_t user_id,
            json_t **out, int *head, err *e) WARN_UNUSED;
/* A new head that copies version `number` (weights, biases, bounds, lambda); the
 * measures are recomputed (equal to the old ones on the same data). */
int ss_restore(app *a, int64_t student_id, int number, const char *note, int64_t user_id, json_t **out, err *e)
    WARN_UNUSED;

/* Provenance JSON row deltas: after - before for every number present in both
 * (recursively over objects and equal-length arrays; confusion matrices left out). */
json_t *ss_measure_deltas(const json_t *before, const json_t *after);

#endif
