/* student_actions.h — the actions of a tune (POST …/students/{id}/versions,
 * "actions") parsed against the parent version's concept list and the class names
 * into a plan: the new version's concept list, and the weight actions on it as
 * tuning_action values (tuning.h turns those into bounds), with the form the
 * provenance log keeps.
 *
 * An action is one of
 *   {"action": "uptune"|"downtune", "concept": c, "class"?: k, "factor": x > 1}
 *   {"action": "remove"|"release", "concept": c, "class"?: k}
 *   {"action": "set", "concept": c, "class"?: k, "value": v}
 *   {"action": "add", "concept": word}    a concept the student lacks, appended as a
 *                                         new column (weight 0 in every class)
 *   {"action": "drop", "concept": c}      the concept leaves the student: its column
 *                                         is gone from the new version
 * A weight action without "class" (or with null) acts on every class. "remove" keeps
 * the column and holds its weight at 0 (a bound later tunes keep); "drop" takes the
 * column out. c is a word or an index into the parent's list; add and drop apply in
 * order, and a weight action's word names a column of the resulting list (an added
 * word included). Refusals are ERR_UNPROCESSABLE naming "actions[i].field".
 */
#ifndef INFICOND_STUDENT_ACTIONS_H
#define INFICOND_STUDENT_ACTIONS_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "student/tuning.h"

#define SS_ACTIONS_MAX 10000

/* What a tune does, resolved. */
typedef struct ss_plan {
    char **words;          // (d) the new concept list, owned: kept words in the parent's order, added ones after
    size_t d;
    long *from;            // (d) the parent's column of each word, -1 for an added word
    size_t *added_by;      // (d) for an added word the index of the action that added it
    size_t n_added, n_dropped;
    tuning_action *acts;   // (n_acts) weight actions on the new list, one per class they act on
    size_t n_acts;
    size_t *act_of;        // (n_acts) the index in "actions" each comes from
    json_t *record;        // the actions with names, as provenance keeps them (owned)
} ss_plan;

/* Parse the API's actions against the parent's words (d) and the classes (C). The
 * provenance record: [{"action", "concept": word, "class": name | "all_classes": true,
 * "factor"? | "value"?}], add and drop as {"action", "concept"}. On error *plan is
 * empty. */
int ss_plan_parse(const json_t *actions, char *const *words, size_t d, char *const *classes, size_t c,
                  ss_plan *plan, err *e) WARN_UNUSED;
void ss_plan_free(ss_plan *plan); /* NULL-safe, leaves it zeroed */

/* The plan's weight actions on w (C, d: the new list's columns) with bounds lo, hi
 * (C, d): tuning_apply's new bounds in lo, hi and the retraining's start in start
 * (C, d). A bound that cannot hold is ERR_UNPROCESSABLE "actions[i]: 'word' in class
 * 'k': ..."; nothing is written then. classes (C) name the classes. */
int ss_plan_apply(const ss_plan *plan, const float *w, size_t c, size_t d, char *const *classes, float *lo,
                  float *hi, float *start, err *e) WARN_UNUSED;

#endif
