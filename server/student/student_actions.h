/* student_actions.h — the tuning actions of the API (POST …/students/{id}/versions,
 * "actions") parsed against a problem's concept words and class names into
 * tuning_action values (tuning.h turns those into bounds), and written back with
 * names for the provenance log.
 */
#ifndef INFICOND_STUDENT_ACTIONS_H
#define INFICOND_STUDENT_ACTIONS_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "student/tuning.h"

/* Parse the API's actions against words (d) and classes (C): each
 * {"action": "uptune"|"downtune"|"remove"|"release"|"set", "concept": word or index,
 * "class": name or index, "factor": x (uptune, downtune), "value": v (set)}.
 * ERR_UNPROCESSABLE naming "actions[i].field". *acts is malloc'd (n_acts >= 1). */
int ss_actions_parse(const json_t *actions, char *const *words, size_t d, char *const *classes, size_t c,
                     tuning_action **acts, size_t *n_acts, err *e) WARN_UNUSED;

/* The actions as stored in provenance: [{"action", "concept", "class", "factor"? |
 * "value"?}] with names, not indices. New. */
json_t *ss_actions_json(const tuning_action *acts, size_t n_acts, char *const *words, char *const *classes);

#endif
