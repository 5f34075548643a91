/* student_tune.c — tune and restore: new versions of a student from its head (see
 * student_tune.h).
 */
#include "student/student_tune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "student/student.h"
#include "student/student_actions.h"
#include "student/student_add_words.h"
#include "student/student_columns.h"
#include "student/student_split_measures.h"
#include "student/student_store.h"
#include "student/tuning.h"

/* Any finite bound among n weights (else the version stores no bounds blob). */
static int any_bound(const float *lo, const float *hi, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isfinite(lo[i]) || isfinite(hi[i])) return 1;
    return 0;
}

/* The answer of a tune or a restore; classes stolen (NULL: none). */
static json_t *version_reply(int64_t id, int number, int parent, const json_t *measures, json_t *classes) {
    return json_pack("{s:I,s:i,s:i,s:O,s:o}", "id", (json_int_t)id, "number", number, "parent", parent, "measures",
                     measures, "retrained", classes ? classes : json_array());
}

/* Which classes the tune retrains (touched (C), set to 1): those a weight action names,
 * those with a non-zero weight on a dropped concept (their scores change), and those
 * for which an added column breaks the KKT conditions at the start (student_columns.h). */
static int classes_to_retrain(const ss_plan *plan, const ss_version *v, const ss_problem *p, const float *start,
                              const float *b, double kkt_tol, unsigned char *touched, err *e) {
    size_t c = p->c, d = plan->d;
    for (size_t t = 0; t < plan->n_acts; t++) touched[plan->acts[t].cls] = 1;
    unsigned char *kept = calloc(v->d + 1, 1); // (parent d)
    size_t *added = malloc((d + 1) * sizeof *added), m = 0;
    double *viol = malloc((c + 1) * sizeof *viol);
    int rc = -1;
    if (!kept || !added || !viol) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < d; j++) {
        if (plan->from[j] >= 0) kept[plan->from[j]] = 1;
        else added[m++] = j;
    }
    for (size_t j = 0; j < v->d; j++)
        for (size_t k = 0; !kept[j] && k < c; k++)
            if (v->w[k * v->d + j] != 0.0f) touched[k] = 1;
    if (ss_columns_violations(p->x_train, p->n_train, d, p->p_train, c, start, b, added, m, v->lambda, viol, e))
        goto done;
    for (size_t k = 0; k < c; k++)
        if (viol[k] > kkt_tol) touched[k] = 1;
    rc = 0;
done:
    free(kept), free(added), free(viol);
    return rc;
}

/* The words a plan adds, and the action adding each. */
static int plan_added(const ss_plan *plan, char ***words, size_t **action_of, size_t *n) {
    *words = malloc((plan->n_added + 1) * sizeof **words);
    *action_of = malloc((plan->n_added + 1) * sizeof **action_of);
    *n = 0;
    if (!*words || !*action_of) return -1;
    for (size_t j = 0; j < plan->d; j++)
        if (plan->from[j] < 0) (*words)[*n] = plan->words[j], (*action_of)[(*n)++] = plan->added_by[j];
    return 0;
}

/* {"added": [words], "dropped": [words]} of a plan against the parent's list. */
static void reply_concepts(json_t *out, const ss_plan *plan, const ss_version *v) {
    json_t *added = json_array(), *dropped = json_array();
    unsigned char *kept = calloc(v->d + 1, 1);
    for (size_t j = 0; j < plan->d; j++) {
        if (plan->from[j] < 0) json_array_append_new(added, json_string(plan->words[j]));
        else if (kept) kept[plan->from[j]] = 1;
    }
    for (size_t j = 0; kept && j < v->d; j++)
        if (!kept[j]) json_array_append_new(dropped, json_string(v->concepts[j]));
    free(kept);
    json_object_set_new(out, "added", added);
    json_object_set_new(out, "dropped", dropped);
}

int ss_tune(app *a, int64_t student_id, int parent, const json_t *actions, const char *note, int64_t user_id,
            json_t **out, int *head, err *e) {
    *out = NULL, *head = 0;
    ss_student s;
    ss_problem *base = NULL, *p = NULL;
    ss_version v = {0};
    ss_plan plan = {0};
    float *w = NULL, *lo = NULL, *hi = NULL, *start = NULL, *b = NULL;
    json_t *meas = NULL, *retrained = NULL;
    unsigned char *touched = NULL;
    char **add_words = NULL;
    size_t *add_of = NULL, n_add = 0;
    int rc = -1;
    if (ss_student_load(a, student_id, &s, e)) return -1;
    /* Reject a stale parent early, before any work (checked again under the lock). */
    if (ss_version_load(a, student_id, 0, &v, e)) goto done;
    if (v.number != parent) {
        *head = v.number;
        err_set(e, ERR_CONFLICT, "version %d is not the head of student %lld; the head is %d", parent,
                (long long)student_id, v.number);
        goto done;
    }
    if (ss_student_base(a, &s, &v, &base, e) ||
        ss_plan_parse(actions, v.concepts, v.d, base->classes, base->c, &plan, e))
        goto done;
    if (v.c != base->c) {
        err_set(e, ERR_CONFLICT, "student %lld is stale: its version has %zu classes, the data %zu",
                (long long)student_id, v.c, base->c);
        goto done;
    }
    if (plan.n_added) {
        /* New words become presence columns first (a new presence matrix whose other
         * columns are copies), then the parent is checked again on it. */
        int changed = 0;
        if (plan_added(&plan, &add_words, &add_of, &n_add)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
        if (ss_add_words_ensure(a, s.extraction_id, add_words, add_of, n_add, &changed, e)) goto done;
        if (changed) {
            ss_problem_release(base), base = NULL;
            if (ss_student_base(a, &s, &v, &base, e)) goto done;
        }
    }
    if (ss_problem_view(base, plan.words, plan.d, &p, e)) goto done;
    size_t c = p->c, d = plan.d, cd = c * d;
    w = malloc((cd + 1) * sizeof *w);         // (C, d) the parent's weights on the new list
    lo = malloc((cd + 1) * sizeof *lo);       // (C, d)
    hi = malloc((cd + 1) * sizeof *hi);       // (C, d)
    start = malloc((cd + 1) * sizeof *start); // (C, d) the retraining's start, then the result
    b = malloc(c * sizeof *b);
    touched = calloc(c, 1);
    if (!w || !lo || !hi || !start || !b || !touched) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    memcpy(b, v.b, c * sizeof *b);
    ss_columns_map(v.w, v.lo, v.hi, c, v.d, plan.from, d, w, lo, hi);
    student_opts o;
    student_opts_default(&o);
    o.lambda = v.lambda;
    if (ss_plan_apply(&plan, w, c, d, p->classes, lo, hi, start, e) ||
        classes_to_retrain(&plan, &v, p, start, b, o.kkt_tol, touched, e))
        goto done;
    retrained = json_array();
    for (size_t k = 0; k < c; k++) {
        if (!touched[k]) continue;
        if (student_fit(&p->sd, p->p_train + k, c, lo + k * d, hi + k * d, &o, start + k * d, &b[k], NULL, e))
            goto done;
        json_array_append_new(retrained, json_string(p->classes[k]));
    }
    if (!(meas = ss_measures(p, start, b, e))) goto done;
    char cols[65];
    const char *missing;
    if (ss_problem_columns_sha(p, plan.words, d, cols, &missing)) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    ss_new_version nv = {.w = start, .b = b, .lo = lo, .hi = hi, .c = c, .d = d, .concepts = plan.words,
                         .columns_sha = cols, .has_bounds = any_bound(lo, hi, cd), .lambda = v.lambda,
                         .measures = meas, .measures_before = v.measures, .actions = plan.record, .note = note,
                         .kind = "tune", .parent_id = v.id, .expect_head = parent};
    int64_t vid;
    int number;
    if (ss_version_add(a, student_id, &nv, user_id, &vid, &number, head, e)) goto done;
    *out = version_reply(vid, number, parent, meas, retrained);
    retrained = NULL;
    reply_concepts(*out, &plan, &v);
    rc = 0;
done:
    ss_problem_release(p);
    ss_problem_release(base);
    ss_version_free(&v);
    ss_plan_free(&plan);
    free(w), free(lo), free(hi), free(start), free(b), free(touched), free(add_words), free(add_of);
    json_decref(meas), json_decref(retrained);
    return rc;
}

int ss_restore(app *a, int64_t student_id, int number, int parent, const char *note, int64_t user_id, json_t **out,
               int *head_number, err *e) {
    *out = NULL, *head_number = 0;
    ss_student s;
    ss_problem *p = NULL;
    ss_version old = {0}, head = {0};
    json_t *meas = NULL, *aj = NULL;
    int rc = -1;
    /* The restored version's own concept list and columns, checked like any use of it. */
    if (ss_student_load(a, student_id, &s, e) || ss_version_load(a, student_id, number, &old, e) ||
        ss_version_load(a, student_id, 0, &head, e))
        goto done;
    /* The caller restored from what it saw: someone else's newer head is not undone. */
    if (parent > 0 && head.number != parent) {
        *head_number = head.number;
        err_set(e, ERR_CONFLICT, "version %d is not the head of student %lld; the head is %d", parent,
                (long long)student_id, head.number);
        goto done;
    }
    if (ss_student_problem(a, &s, &old, &p, e)) goto done;
    if (old.c != p->c || old.d != p->d) {
        err_set(e, ERR_CONFLICT, "student %lld is stale", (long long)student_id);
        goto done;
    }
    char cols[65];
    const char *missing;
    if (ss_problem_columns_sha(p, old.concepts, old.d, cols, &missing)) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (!(meas = ss_measures(p, old.w, old.b, e))) goto done;
    aj = json_pack("[{s:s,s:i}]", "action", "restore", "version", number);
    ss_new_version nv = {.w = old.w, .b = old.b, .lo = old.lo, .hi = old.hi, .c = old.c, .d = old.d,
                         .concepts = old.concepts, .columns_sha = cols, .has_bounds = old.has_bounds,
                         .lambda = old.lambda, .measures = meas, .measures_before = head.measures, .actions = aj,
                         .note = note, .kind = "restore", .parent_id = head.id, .expect_head = head.number};
    int64_t vid;
    int num;
    if (ss_version_add(a, student_id, &nv, user_id, &vid, &num, head_number, e)) goto done;
    *out = version_reply(vid, num, head.number, meas, NULL);
    json_object_set_new(*out, "restored", json_integer(number));
    rc = 0;
done:
    ss_problem_release(p);
    ss_version_free(&old);
    ss_version_free(&head);
    json_decref(meas), json_decref(aj);
    return rc;
}
