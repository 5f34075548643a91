/* tuning.h — no-code tuning actions (README.md here, "Tuning") turned into weight
 * bounds for the retraining (student_fit / student_fit_all with lo, hi).
 *
 * An action names a (concept j, class k) weight. With w the parent's weight:
 *   uptune   factor x > 1: keep the sign, size at least x |w|:  w > 0: [x w, +inf);
 *            w < 0: (-inf, x w]; w == 0: [x s, +inf) with s = TUNING_ZERO_STEP times the
 *            class's largest |weight| (TUNING_ZERO_STEP when the class is all zero);
 *   downtune factor x > 1: keep the sign, size at most |w| / x:  w >= 0: [0, w / x];
 *            w < 0: [w / x, 0];
 *   remove:  [0, 0];
 *   release: drop every bound of that weight: (-inf, +inf);
 *   set v:   [v, v] (v finite).
 * Bounds accumulate: each action's interval is intersected with the weight's current
 * bounds (the parent's, after the earlier actions of the batch), so a later action
 * cannot silently undo an earlier one; release is how a bound goes. An empty
 * intersection is ERR_UNPROCESSABLE naming the weight and both intervals, and nothing is
 * written. The start of the retraining is the parent's weights clipped to the new bounds.
 * Left out: the provenance log and the retraining itself (the caller's job).
 */
#ifndef INFICOND_TUNING_H
#define INFICOND_TUNING_H

#include <stddef.h>

#include "err.h"

#define TUNING_ZERO_STEP 0.01

typedef enum { TUNING_UPTUNE, TUNING_DOWNTUNE, TUNING_REMOVE, TUNING_RELEASE, TUNING_SET } tuning_kind;

typedef struct tuning_action {
    tuning_kind kind;
    size_t concept; /* j in [0, D) */
    size_t cls;     /* k in [0, C) */
    double value;   /* the factor (uptune, downtune) or the value (set); else ignored */
} tuning_action;

/* "uptune" | "downtune" | "remove" | "release" | "set"; else ERR_UNPROCESSABLE. */
int tuning_kind_parse(const char *s, tuning_kind *out, err *e) WARN_UNUSED;
const char *tuning_kind_name(tuning_kind k);

/* w_parent (C, D): the parent's weights. lo, hi (C, D): in: the parent's bounds
 * (-INFINITY / INFINITY for none), out: the new bounds. w_start (C, D): out: the
 * retraining's start (may alias w_parent). On error nothing is written. */
int tuning_apply(const tuning_action *acts, size_t n_acts, const float *w_parent, size_t c, size_t d, float *lo,
                 float *hi, float *w_start, err *e) WARN_UNUSED;

#endif
