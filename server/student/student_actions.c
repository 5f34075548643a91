/* student_actions.c — tuning actions from the API's JSON and back (see
 * student_actions.h).
 */
#include "student/student_actions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A name or an index into names[0..n). */
static int pick(const json_t *v, char *const *names, size_t n, size_t *out) {
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || (size_t)i >= n) return -1;
        *out = (size_t)i;
        return 0;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(names[i], s)) {
            *out = i;
            return 0;
        }
    return -1;
}

int ss_actions_parse(const json_t *actions, char *const *words, size_t d, char *const *classes, size_t c,
                     tuning_action **acts, size_t *n_acts, err *e) {
    *acts = NULL, *n_acts = 0;
    if (!json_is_array(actions) || json_array_size(actions) == 0)
        return err_set(e, ERR_UNPROCESSABLE, "field 'actions': a non-empty array of actions");
    if (json_array_size(actions) > 10000) return err_set(e, ERR_UNPROCESSABLE, "field 'actions': at most 10000");
    size_t n = json_array_size(actions);
    tuning_action *t = calloc(n, sizeof *t);
    if (!t) return err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(actions, i);
        if (!json_is_object(a)) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu]: must be an object", i);
            goto bad;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)a, key, val) {
            if (strcmp(key, "action") && strcmp(key, "concept") && strcmp(key, "class") && strcmp(key, "factor") &&
                strcmp(key, "value")) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].%s: unknown field", i, key);
                goto bad;
            }
        }
        const char *kind = json_string_value(json_object_get(a, "action"));
        err ke = {0};
        if (!kind || tuning_kind_parse(kind, &t[i].kind, &ke)) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu].action: one of uptune, downtune, remove, release, set", i);
            goto bad;
        }
        const json_t *cv = json_object_get(a, "concept"), *kv = json_object_get(a, "class");
        if (pick(cv, words, d, &t[i].concept)) {
            if (json_is_string(cv))
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: unknown concept '%s'", i, json_string_value(cv));
            else err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: a concept word or an index below %zu", i, d);
            goto bad;
        }
        if (pick(kv, classes, c, &t[i].cls)) {
            if (json_is_string(kv))
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].class: unknown class '%s'", i, json_string_value(kv));
            else err_set(e, ERR_UNPROCESSABLE, "actions[%zu].class: a class name or an index below %zu", i, c);
            goto bad;
        }
        if (t[i].kind == TUNING_UPTUNE || t[i].kind == TUNING_DOWNTUNE) {
            const json_t *f = json_object_get(a, "factor");
            if (!json_is_number(f) || !isfinite(json_number_value(f)) || json_number_value(f) <= 1.0) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].factor: %s needs a number > 1", i, kind);
                goto bad;
            }
            t[i].value = json_number_value(f);
        } else if (t[i].kind == TUNING_SET) {
            const json_t *f = json_object_get(a, "value");
            if (!json_is_number(f) || !isfinite(json_number_value(f))) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].value: set needs a finite number", i);
                goto bad;
            }
            t[i].value = json_number_value(f);
        }
    }
    *acts = t, *n_acts = n;
    return 0;
bad:
    free(t);
    return -1;
}

json_t *ss_actions_json(const tuning_action *t, size_t n, char *const *words, char *const *classes) {
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_pack("{s:s,s:s,s:s}", "action", tuning_kind_name(t[i].kind), "concept", words[t[i].concept],
                              "class", classes[t[i].cls]);
        if (t[i].kind == TUNING_UPTUNE || t[i].kind == TUNING_DOWNTUNE)
            json_object_set_new(a, "factor", json_real(t[i].value));
        if (t[i].kind == TUNING_SET) json_object_set_new(a, "value", json_real(t[i].value));
        json_array_append_new(out, a);
    }
    return out;
}
