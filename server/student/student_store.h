/* student_store.h — students as stored things: the only code that writes the tables
 * students, student_versions and student_provenance (migrations/006_students.sql), and
 * the loaders of a student row and of a whole version (weights and bounds from their
 * blobs).
 *
 * A student remembers the checksums of the presence and teacher blobs it was distilled
 * from: when the extraction or the teacher output is recomputed since, it is stale
 * (ss_student_problem: ERR_CONFLICT, "stale") and nothing is stored. Versions are
 * never changed: a tune or a restore adds one whose number is the head's + 1, under a
 * row lock on the student, so of two edits of the same head exactly one succeeds (the
 * other gets ERR_CONFLICT and the new head); docs/ARCHITECTURE.md, "The pipeline's
 * data", tells why the head is read in its own statement. A new student is stored
 * with its first version in one transaction.
 */
#ifndef INFICOND_STUDENT_STORE_H
#define INFICOND_STUDENT_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "student/student_problem.h"

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

/* A version to store, with its provenance row; everything borrowed. */
typedef struct ss_new_version {
    const float *w, *b, *lo, *hi; // (C, d), (C), (C, d), (C, d)
    size_t c, d;
    int has_bounds;               /* 0: no bounds blob (lo, hi not read) */
    double lambda;
    const json_t *measures, *measures_before, *actions; /* before, actions may be NULL */
    const char *note, *kind;      /* kind: "distill" | "tune" | "restore" */
    int64_t parent_id;            /* 0: none */
    int expect_head;              /* the parent's number: the head must still be it */
} ss_new_version;

/* Store nv as the next version of student_id by user_id (0: nobody): blobs first, then
 * in one transaction under the student's row lock the head check (else ERR_CONFLICT,
 * *head = the head), the version and its provenance row. Out: its id and number. */
int ss_version_add(app *a, int64_t student_id, const ss_new_version *nv, int64_t user_id, int64_t *version_id,
                   int *number, int *head, err *e) WARN_UNUSED;

/* A student to create (the distillation job's result); everything borrowed. */
typedef struct ss_new_student {
    const char *name;
    int64_t dataset_id, teacher_output_id, extraction_id;
    const char *presence_sha, *probs_sha; /* the checksums it is fitted on */
    double lambda;
    char *const *words;   // (d) concept words
    size_t d;
    char *const *classes; // (C) class names
    size_t c;
    int64_t job_id;       /* its author is the job's */
} ss_new_student;

/* Store ns with nv as its version 1 in one transaction. Out: the ids and the number. */
int ss_student_create(app *a, const ss_new_student *ns, const ss_new_version *nv, int64_t *student_id,
                      int64_t *version_id, int *number, err *e) WARN_UNUSED;
/* The student a job created: 1 and *student_id when there is one, 0 when not, -1 on
 * error (a re-run of a job after a crash finds what its first run committed). */
int ss_student_of_job(app *a, int64_t job_id, int64_t *student_id, err *e) WARN_UNUSED;

#endif
