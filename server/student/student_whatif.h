/* student_whatif.h — what a tuning action would do to a version before any
 * retraining, exactly, on every split: the "what if" the page shows before apply.
 *
 * A linear student's scores are S = X W^T + b (N, C). Changing column j of W by
 * delta_j (C) changes row i's scores by x_ij delta_j, so a removed (zeroed), scaled or
 * set weight, or a dropped concept, gives the new predictions without a fit. Two
 * questions are answered from S:
 *   - one action (ss_whatif_weights): fidelity and accuracy per split, before and
 *     after the weights change;
 *   - every concept (ss_whatif_concepts): the change in fidelity and accuracy on every
 *     split if the concept's weights were zeroed in every class (or in one), which
 *     ranks where a shortcut lives ("removing brick helps shifted").
 * The second must be fast (all d concepts at N = 50,000, C = 20): a row can change its
 * class under column j only if x_ij * A[t][j] exceeds its margin (top score minus the
 * second), where t is the row's class and A[t][j] = max over k != t of (delta_kj -
 * delta_tj) is the most another class can gain on t per unit of presence. One pass
 * over X tests that bound (presence is >= 0; a negative entry is always checked), and
 * only the rows that pass are rescored, in double: the classes column j moves (few:
 * the weights are sparse) against the best class it leaves alone (from each row's
 * SS_WHATIF_TOP best, kept with the scores; all C classes when those are not enough or
 * C > 64). With float
 * scores and a bound loosened by 1e-6 relative, no row that changes is skipped; the
 * rescoring is exact up to float rounding of S, which is the same S the stored
 * measures come from (sm_scores + sm_argmax_rows).
 *
 * ss_whatif_get keeps S, the predictions and the margins of a version in a small cache
 * (SS_WHATIF_CACHE entries, keyed by the version, a hash of its weights and its
 * problem's checksums): one SGEMM per version, then each question is a pass over X.
 */
#ifndef INFICOND_STUDENT_WHATIF_H
#define INFICOND_STUDENT_WHATIF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "student/student_problem.h"
#include "student/student_store.h"

#define SS_WHATIF_CACHE 4
#define SS_WHATIF_TOP 4 /* classes per row kept in score order */

/* A version's scores on a problem, shared read-only (cached). */
typedef struct ss_scores {
    size_t n, c;
    float *s;        // (N, C) X W^T + b
    int32_t *pred;   // (N) argmax, ties to the lowest class
    float *margin;   // (N) s[pred] - the second highest score (+inf when C == 1)
    int32_t *top;    // (N, SS_WHATIF_TOP) the classes of the highest scores, best first (ties: lower class)
    /* the cache's */
    int64_t version_id;
    uint64_t weights_hash;
    char key[200];
    int refs, evicted;
} ss_scores;

/* S, predictions and margins of w (C, d), b (C) on x (N, d). */
int ss_scores_compute(const float *x, size_t n, size_t d, const float *w, const float *b, size_t c, ss_scores *out,
                      err *e) WARN_UNUSED;
void ss_scores_free(ss_scores *s); /* NULL-safe; frees the arrays, not s */

/* The rows' labels and splits the measures count. */
typedef struct ss_rows {
    const int32_t *teacher; // (N)
    const int32_t *labels;  // (N) -1 unknown
    const int32_t *split;   // (N) index < n_splits
    size_t n_splits;
} ss_rows;

/* Zeroing column j of w (C, d) in every class (cls < 0) or in class cls only, for
 * every j: dfid, dacc (d, n_splits) receive the change in the number of rows of each
 * split whose class agrees with the teacher / with the label. */
int ss_whatif_concepts(const float *x, size_t n, size_t d, const ss_scores *sc, const ss_rows *rows, const float *w,
                       size_t c, long cls, int32_t *dfid, int32_t *dacc, err *e) WARN_UNUSED;

/* w_old -> w_new (C, d): dfid, dacc (n_splits) as above. */
int ss_whatif_weights(const float *x, size_t n, size_t d, const ss_scores *sc, const ss_rows *rows,
                      const float *w_old, const float *w_new, size_t c, int32_t *dfid, int32_t *dacc,
                      err *e) WARN_UNUSED;

/* The cached scores of version v on its problem p (computed on first use); release
 * with ss_whatif_release. */
int ss_whatif_get(const ss_problem *p, const ss_version *v, ss_scores **out, err *e) WARN_UNUSED;
void ss_whatif_release(ss_scores *s); /* NULL-safe */

/* GET …/whatif: action is one API action (student_actions.h), applied to v as a tune
 * would before retraining (tuning_apply's start; a dropped concept zeroed; an added
 * one is 0 until the retraining): {"version", "action", "splits": {name: {"n",
 * "fidelity": {"before", "after", "delta"}, "accuracy": {...} | null}}, "changed":
 * [{"concept", "class", "before", "after"}] (the weights that move)}. New or NULL. */
json_t *ss_whatif_action_json(const ss_problem *p, const ss_version *v, const json_t *action, err *e);

/* GET …/whatif/concepts: every concept with a weight in the considered classes (cls
 * < 0: all), ranked by the change of `by` ("accuracy" | "fidelity"; NULL: accuracy
 * when the split has true labels, else fidelity) on split index
 * `split`, best first, at most limit: {"version", "split", "class", "by", "baseline":
 * {name: {"n", "fidelity", "accuracy"}}, "total", "items": [{"concept", "index",
 * "effect": "helps" | "hurts" | "none", "fidelity", "accuracy", "splits": {name:
 * {"fidelity", "accuracy"}}}]} (deltas as fractions of the split). New or NULL. */
json_t *ss_whatif_concepts_json(const ss_problem *p, const ss_version *v, int split, long cls, const char *by,
                                long limit, err *e);

#endif
