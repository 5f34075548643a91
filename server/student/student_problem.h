/* student_problem.h — the training problem of a (teacher output, presence extraction)
 * pair: presence X and teacher probabilities P aligned by image id, each image's split
 * and true label, the concept words and class names, and the solver's copy of the
 * train rows (student_data). Everything a distillation, a tune and the analyses read.
 *
 * A problem is built once and kept in a small in-process cache (SS_CACHE_SIZE entries,
 * least recently used goes) keyed by the pair and the two blobs' checksums, so a tune
 * costs one retrain of the named classes plus one SGEMM for the measures, not a reload;
 * a recomputed extraction or teacher output has new checksums and builds a new problem.
 * The student is fitted on the SS_TRAIN_SPLIT rows (on every image when there is no
 * such split). Left out: the rows of students and versions (student_store.h).
 *
 * A student version names its own concept list (a subset of the extraction's words,
 * in its column order): ss_problem_view gives the problem restricted to those columns,
 * cached like the problems it comes from. Every problem carries each column's hash
 * (presence_column_hashes: the column's values and the image ids), which is how a
 * version's data is checked column by column (ss_problem_columns_sha).
 */
#ifndef INFICOND_STUDENT_PROBLEM_H
#define INFICOND_STUDENT_PROBLEM_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"
#include "student/student.h"

#define SS_TRAIN_SPLIT "train"
#define SS_CACHE_SIZE 4 /* a student's problem, a view for an earlier version, and others */

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
    char (*col_sha)[65]; // (d) hash of each column over the extraction's images
    char words_key[65];  /* hash of the word list: which view of the extraction this is */
    int view;            /* 1: a view (ss_problem_view), 0: every column of the extraction */
    int refs;            /* cache-owned; see ss_problem_release */
    int evicted;
} ss_problem;

/* The problem of the pair at the current checksums (built or from the cache). Release
 * with ss_problem_release. ERR_CONFLICT when the extraction is not ready,
 * ERR_UNPROCESSABLE when the two do not belong to one dataset. */
int ss_problem_get(app *a, int64_t extraction_id, int64_t teacher_output_id, ss_problem **out, err *e) WARN_UNUSED;
void ss_problem_release(ss_problem *p); /* NULL-safe */
/* The problem of base restricted to the columns of words (d, in that order), from the
 * cache or built; base itself (one more reference) when words are its own. Release
 * with ss_problem_release. ERR_CONFLICT naming the first word base has no column for. */
int ss_problem_view(ss_problem *base, char *const *words, size_t d, ss_problem **out, err *e) WARN_UNUSED;
/* The hash of the columns of words (d) in p: SHA-256 of their column hashes joined in
 * that order, as concept_columns_sha256 computes it in SQL (migration 008); into
 * out (65). -1 (nothing written to e) and *missing = the first word without a column. */
int ss_problem_columns_sha(const ss_problem *p, char *const *words, size_t d, char *out, const char **missing);
/* Row of image_id, or -1. */
long ss_problem_row(const ss_problem *p, int64_t image_id);
/* Split index by name, or -1. */
int ss_problem_split(const ss_problem *p, const char *name);

#endif
