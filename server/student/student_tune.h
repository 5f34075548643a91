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
 * be the head (else ERR_CONFLICT and *head = the head's number). The new version's
 * concept list is the parent's less the dropped words plus the added ones (made
 * presence columns first: student_add_words.h); its weights start from the parent's
 * (an added column at 0), and the classes that change are retrained from there under
 * the bounds in force: those a weight action names, those with a weight on a dropped
 * concept, those an added concept makes non-optimal (student_columns.h). One version,
 * one provenance row, whatever the number of classes. On success *out is {"id",
 * "number", "parent", "measures", "retrained": [class names], "added": [words],
 * "dropped": [words]}. user_id 0: nobody. */
int ss_tune(app *a, int64_t student_id, int parent, const json_t *actions, const char *note, int64_t user_id,
            json_t **out, int *head, err *e) WARN_UNUSED;
/* A new head that copies version `number` (concept list, weights, biases, bounds,
 * lambda); the measures are recomputed on its own columns (equal to the old ones on
 * the same data). ERR_CONFLICT when a column it uses was recomputed or is gone, and,
 * when `parent` > 0 (the head the caller saw), when the head is another version
 * (then *head = the head's number, as for a tune; parent 0: restore on any head).
 * *out as for a tune, "retrained" empty, plus "restored": number. */
int ss_restore(app *a, int64_t student_id, int number, int parent, const char *note, int64_t user_id, json_t **out,
               int *head, err *e) WARN_UNUSED;

#endif
