/* student_store.h — students as stored things: the only code that writes the tables
 * students, student_versions and student_provenance (migrations/006_students.sql), and
 * the loaders of a student row and of a whole version (weights and bounds from their
 * blobs).
 *
 * A version names its concept list (its weight columns) and the hash of those columns'
 * data (ss_problem_columns_sha); the student remembers the teacher blob it was
 * distilled from. When a column a version uses was recomputed since, or the teacher
 * output was, that version is stale (ss_student_problem: ERR_CONFLICT, "stale") and
 * nothing is stored; a word added to the extraction (a new column) changes nothing
 * for the versions that do not use it. A version made before migration 008 has no
 * column hash yet: it is checked against the whole presence matrix the student was
 * distilled from, as before, and gets its hash the first time that check passes. Versions are
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
    char **concepts;   // (d) its words, in column order
    char columns_sha[65]; /* its columns' hash; "" for a version not checked since migration 008 */
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
/* The problem of version v of student s (its own columns: ss_problem_view), refused
 * (ERR_CONFLICT, "stale") when the data v was fitted on changed. */
int ss_student_problem(app *a, const ss_student *s, const ss_version *v, ss_problem **out, err *e) WARN_UNUSED;
/* The same check, answering the problem of every column of the extraction (for views
 * of other concept lists: a tune that adds or drops concepts). */
int ss_student_base(app *a, const ss_student *s, const ss_version *v, ss_problem **out, err *e) WARN_UNUSED;

/* A version to store, with its provenance row; everything borrowed. */
typedef struct ss_new_version {
    const float *w, *b, *lo, *hi; // (C, d), (C), (C, d), (C, d)
    size_t c, d;
    char *const *concepts;        // (d) the words of the columns
    const char *columns_sha;      /* their hash (ss_problem_columns_sha) */
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
