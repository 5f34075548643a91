/* student_actions.c — a tune's actions from the API's JSON into a plan: the new
 * concept list, the weight actions on it, the provenance record (see
 * student_actions.h).
 */
#include "student/student_actions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"

/* Weight actions after expanding "every class": at most this many (action, class). */
#define SS_PLAN_MAX_WEIGHTS 1000000

void ss_plan_free(ss_plan *plan) {
    if (!plan) return;
    for (size_t j = 0; plan->words && j < plan->d; j++) free(plan->words[j]);
    free(plan->words);
    free(plan->from);
    free(plan->added_by);
    free(plan->acts);
    free(plan->act_of);
    json_decref(plan->record);
    memset(plan, 0, sizeof *plan);
}

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

static long find_word(char *const *words, size_t d, const char *w) {
    for (size_t j = 0; w && j < d; j++)
        if (!strcmp(words[j], w)) return (long)j;
    return -1;
}

/* The plan's list while the actions are read: words borrowed from the parent or from
 * the actions (copied at the end). */
typedef struct work_list {
    const char **words; // (d) current
    long *from;         // (d) parent column or -1
    size_t *added_by;   // (d)
    size_t d;
    long *dropped_by;   // (parent d) the action that dropped each parent column, or -1
    char (*norm)[4 * CONCEPT_WORD_MAX + 8]; // (actions) normalised added words
} work_list;

/* "add": the word normalised, not yet a concept; appended. */
static int list_add(work_list *L, const json_t *cv, size_t i, err *e) {
    const char *s = json_string_value(cv);
    if (!s) return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: add needs the concept word as a string", i);
    size_t len = strlen(s);
    int k = len + 1 > sizeof L->norm[i] ? -2 : concept_word_normalize(s, len, L->norm[i], sizeof L->norm[i]);
    if (k <= 0)
        return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: %s", i,
                       k == 0    ? "a blank word"
                       : k == -2 ? "longer than 128 bytes"
                                 : "holds a character a concept word may not ('/', control characters, invalid UTF-8)");
    for (size_t j = 0; j < L->d; j++)
        if (!strcmp(L->words[j], L->norm[i]))
            return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: '%s' is already a concept of this student", i,
                           L->norm[i]);
    L->words[L->d] = L->norm[i], L->from[L->d] = -1, L->added_by[L->d] = i;
    L->d++;
    return 0;
}

/* "drop": a current word (or an index into the parent's list) leaves the list. */
static int list_drop(work_list *L, const json_t *cv, char *const *parent, size_t pd, size_t i, err *e) {
    long at = -1;
    if (json_is_integer(cv)) {
        json_int_t j = json_integer_value(cv);
        if (j < 0 || (size_t)j >= pd)
            return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: a concept word or an index below %zu", i, pd);
        for (size_t t = 0; t < L->d && at < 0; t++)
            if (L->from[t] == (long)j) at = (long)t;
    } else if (json_is_string(cv)) {
        at = find_word((char *const *)L->words, L->d, json_string_value(cv));
    } else {
        return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: a concept word or an index below %zu", i, pd);
    }
    if (at < 0)
        return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: '%s' is not a concept of this student", i,
                       json_is_string(cv) ? json_string_value(cv) : parent[json_integer_value(cv)]);
    if (L->d == 1)
        return err_set(e, ERR_UNPROCESSABLE, "actions[%zu]: a student keeps at least one concept", i);
    if (L->from[at] >= 0) L->dropped_by[L->from[at]] = (long)i;
    memmove(L->words + at, L->words + at + 1, (L->d - (size_t)at - 1) * sizeof *L->words);
    memmove(L->from + at, L->from + at + 1, (L->d - (size_t)at - 1) * sizeof *L->from);
    memmove(L->added_by + at, L->added_by + at + 1, (L->d - (size_t)at - 1) * sizeof *L->added_by);
    L->d--;
    return 0;
}

/* A weight action's concept: its column in the final list. */
static int weight_concept(const work_list *L, const json_t *cv, char *const *parent, size_t pd, size_t i,
                          size_t *out, err *e) {
    long pj = -1; /* the parent's column it names, if any */
    if (json_is_integer(cv)) {
        json_int_t j = json_integer_value(cv);
        if (j < 0 || (size_t)j >= pd)
            return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: a concept word or an index below %zu", i, pd);
        pj = (long)j;
        for (size_t t = 0; t < L->d; t++)
            if (L->from[t] == pj) return *out = t, 0;
    } else if (json_is_string(cv)) {
        long at = find_word((char *const *)L->words, L->d, json_string_value(cv));
        if (at >= 0) return *out = (size_t)at, 0;
        pj = find_word(parent, pd, json_string_value(cv));
        if (pj < 0)
            return err_set(e, ERR_UNPROCESSABLE,
                           "actions[%zu].concept: unknown concept '%s': not a concept of this student (add it first:"
                           " {\"action\": \"add\", \"concept\": \"%s\"})",
                           i, json_string_value(cv), json_string_value(cv));
    } else {
        return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: a concept word or an index below %zu", i, pd);
    }
    return err_set(e, ERR_UNPROCESSABLE, "actions[%zu].concept: '%s' is dropped by actions[%ld]", i, parent[pj],
                   L->dropped_by[pj]);
}

int ss_plan_parse(const json_t *actions, char *const *words, size_t d, char *const *classes, size_t c,
                  ss_plan *plan, err *e) {
    memset(plan, 0, sizeof *plan);
    if (!json_is_array(actions) || json_array_size(actions) == 0)
        return err_set(e, ERR_UNPROCESSABLE, "field 'actions': a non-empty array of actions");
    size_t n = json_array_size(actions);
    if (n > SS_ACTIONS_MAX) return err_set(e, ERR_UNPROCESSABLE, "field 'actions': at most %d", SS_ACTIONS_MAX);
    work_list L = {0};
    tuning_kind *kinds = calloc(n, sizeof *kinds); // (actions) weight actions' kinds
    unsigned char *is_weight = calloc(n, 1);       // (actions)
    L.words = calloc(d + n, sizeof *L.words);
    L.from = calloc(d + n, sizeof *L.from);
    L.added_by = calloc(d + n, sizeof *L.added_by);
    L.dropped_by = malloc((d + 1) * sizeof *L.dropped_by);
    L.norm = calloc(n, sizeof *L.norm);
    json_t *record = json_array();
    int rc = -1;
    if (!kinds || !is_weight || !L.words || !L.from || !L.added_by || !L.dropped_by || !L.norm || !record) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < d; j++) L.words[j] = words[j], L.from[j] = (long)j, L.dropped_by[j] = -1;
    L.d = d;
    size_t n_weights = 0;
    /* First pass: every action's shape; add and drop change the list in order. */
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(actions, i);
        if (!json_is_object(a)) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu]: must be an object", i);
            goto done;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)a, key, val) {
            if (strcmp(key, "action") && strcmp(key, "concept") && strcmp(key, "class") && strcmp(key, "factor") &&
                strcmp(key, "value")) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].%s: unknown field", i, key);
                goto done;
            }
        }
        const char *kind = json_string_value(json_object_get(a, "action"));
        const json_t *cv = json_object_get(a, "concept"), *kv = json_object_get(a, "class");
        if (kind && (!strcmp(kind, "add") || !strcmp(kind, "drop"))) {
            const char *extra = kv ? "class" : json_object_get(a, "factor") ? "factor"
                                : json_object_get(a, "value")             ? "value"
                                                                          : NULL;
            if (extra) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].%s: %s takes only a concept (it changes every class)", i,
                        extra, kind);
                goto done;
            }
            if (kind[0] == 'a' ? list_add(&L, cv, i, e) : list_drop(&L, cv, words, d, i, e)) goto done;
            json_array_append_new(record, json_pack("{s:s,s:s}", "action", kind, "concept",
                                                    kind[0] == 'a' ? L.norm[i] : json_is_string(cv)
                                                        ? json_string_value(cv) : words[json_integer_value(cv)]));
            continue;
        }
        err ke = {0};
        if (!kind || tuning_kind_parse(kind, &kinds[i], &ke)) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu].action: one of uptune, downtune, remove, release, set, add, drop",
                    i);
            goto done;
        }
        if (kinds[i] == TUNING_UPTUNE || kinds[i] == TUNING_DOWNTUNE) {
            const json_t *f = json_object_get(a, "factor");
            if (!json_is_number(f) || !isfinite(json_number_value(f)) || json_number_value(f) <= 1.0) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].factor: %s needs a number > 1", i, kind);
                goto done;
            }
        } else if (kinds[i] == TUNING_SET) {
            const json_t *f = json_object_get(a, "value");
            if (!json_is_number(f) || !isfinite(json_number_value(f))) {
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].value: set needs a finite number", i);
                goto done;
            }
        }
        size_t k;
        if (kv && !json_is_null(kv) && pick(kv, classes, c, &k)) {
            if (json_is_string(kv))
                err_set(e, ERR_UNPROCESSABLE, "actions[%zu].class: unknown class '%s'", i, json_string_value(kv));
            else err_set(e, ERR_UNPROCESSABLE, "actions[%zu].class: a class name or an index below %zu", i, c);
            goto done;
        }
        n_weights += kv && !json_is_null(kv) ? 1 : c;
        if (n_weights > SS_PLAN_MAX_WEIGHTS) {
            err_set(e, ERR_UNPROCESSABLE, "actions[%zu]: over %d (action, class) pairs in one tune", i,
                    SS_PLAN_MAX_WEIGHTS);
            goto done;
        }
        is_weight[i] = 1;
        json_array_append_new(record, json_null()); /* filled in the second pass, with the final names */
    }
    /* Second pass: weight actions on the final list, one per class they act on. */
    plan->acts = calloc(n_weights + 1, sizeof *plan->acts);
    plan->act_of = malloc((n_weights + 1) * sizeof *plan->act_of);
    if (!plan->acts || !plan->act_of) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_weight[i]) continue;
        const json_t *a = json_array_get(actions, i), *kv = json_object_get(a, "class");
        size_t j = 0, k = 0;
        if (weight_concept(&L, json_object_get(a, "concept"), words, d, i, &j, e)) goto done;
        int all = !kv || json_is_null(kv);
        if (!all) (void)pick(kv, classes, c, &k); /* checked in the first pass */
        double value = kinds[i] == TUNING_SET ? json_number_value(json_object_get(a, "value"))
                       : kinds[i] == TUNING_UPTUNE || kinds[i] == TUNING_DOWNTUNE
                           ? json_number_value(json_object_get(a, "factor"))
                           : 0.0;
        for (size_t kk = all ? 0 : k; kk < (all ? c : k + 1); kk++) {
                    tuning_action *t = &plan->acts[plan->n_acts]; /* fields set one by one: padding stays zero */
            t->kind = kinds[i], t->concept = j, t->cls = kk, t->value = value;
            plan->act_of[plan->n_acts++] = i;
        }
        json_t *r = json_pack("{s:s,s:s}", "action", tuning_kind_name(kinds[i]), "concept", L.words[j]);
        if (all) json_object_set_new(r, "all_classes", json_true());
        else json_object_set_new(r, "class", json_string(classes[k]));
        if (kinds[i] == TUNING_UPTUNE || kinds[i] == TUNING_DOWNTUNE) json_object_set_new(r, "factor", json_real(value));
        if (kinds[i] == TUNING_SET) json_object_set_new(r, "value", json_real(value));
        json_array_set_new(record, i, r);
    }
    /* The final list, owned. */
    plan->words = calloc(L.d + 1, sizeof *plan->words);
    plan->from = malloc((L.d + 1) * sizeof *plan->from);
    plan->added_by = malloc((L.d + 1) * sizeof *plan->added_by);
    if (!plan->words || !plan->from || !plan->added_by) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < L.d; j++, plan->d++) {
        if (!(plan->words[j] = strdup(L.words[j]))) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
        plan->from[j] = L.from[j], plan->added_by[j] = L.added_by[j];
        plan->n_added += L.from[j] < 0;
    }
    plan->n_dropped = d + plan->n_added - L.d;
    plan->record = record, record = NULL;
    rc = 0;
done:
    if (rc) ss_plan_free(plan);
    json_decref(record);
    free(kinds), free(is_weight);
    free(L.words), free(L.from), free(L.added_by), free(L.dropped_by), free(L.norm);
    return rc;
}

/* A refusal is found again one weight at a time, on copies, to name it (the same
 * result as the batch: bounds accumulate in order). */
int ss_plan_apply(const ss_plan *plan, const float *w, size_t c, size_t d, char *const *classes, float *lo,
                  float *hi, float *start, err *e) {
    err te = {0};
    if (!tuning_apply(plan->acts, plan->n_acts, w, c, d, lo, hi, start, &te)) return 0;
    if (te.code != ERR_UNPROCESSABLE) return err_set(e, te.code, "%s", te.msg);
    size_t cd = c * d;
    float *l = malloc(cd * sizeof *l), *h = malloc(cd * sizeof *h), *s = malloc(cd * sizeof *s); // (C, d) each
    int rc = -1;
    if (!l || !h || !s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    memcpy(l, lo, cd * sizeof *l), memcpy(h, hi, cd * sizeof *h);
    for (size_t t = 0; t < plan->n_acts; t++) {
        err one = {0};
        if (!tuning_apply(&plan->acts[t], 1, w, c, d, l, h, s, &one)) continue;
        const char *why = strncmp(one.msg, "tuning: ", 8) ? one.msg : one.msg + 8;
        err_set(e, ERR_UNPROCESSABLE, "actions[%zu]: '%s' in class '%s': %s", plan->act_of[t],
                plan->words[plan->acts[t].concept], classes[plan->acts[t].cls], why);
        goto done;
    }
    err_set(e, ERR_UNPROCESSABLE, "%s", te.msg); /* not found one by one: report the batch's reason */
done:
    free(l), free(h), free(s);
    return rc;
}

