/* student_tune.h — new versions of a student made by people: a tune (tuning actions
 * on the head, the named classes retrained under the new bounds, tuning.h) and a
 * restore (a new head that copies an earlier version). Both measure the result on
 * every split and store it through student_store.h with its provenance row.
 */
#ifndef INFICOND_STUDENT_TUNE_H
#define INFICOND_STUDENT_TUNE_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

/* A tune: the actions (JSON, student_actions.h) applied to version `parent`, which must
 * be the head (else ERR_CONFLICT and *head = the head's number); the named classes are
 * retrained from the parent's weights under the new bounds. On success *out is
 * {"id", "number", "parent", "measures", "retrained": [class names]}. user_id 0: nobody. */
int ss_tune(app *a, int64_t student_id, int parent, const json_t *actions, const char *note, int64_t user_id,
            json_t **out, int *head, err *e) WARN_UNUSED;
/* A new head that copies version `number` (weights, biases, bounds, lambda); the
 * measures are recomputed (equal to the old ones on the same data). *out as for a
 * tune, "retrained" empty, plus "restored": number. */
int ss_restore(app *a, int64_t student_id, int number, const char *note, int64_t user_id, json_t **out, err *e)
    WARN_UNUSED;

#endif
