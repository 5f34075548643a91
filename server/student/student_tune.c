/* student_tune.c — tune and restore: new versions of a student from its head (see
 * student_tune.h).
 */
#include "student/student_tune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "student/student.h"
#include "student/student_actions.h"
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

int ss_tune(app *a, int64_t student_id, int parent, const json_t *actions, const char *note, int64_t user_id,
            json_t **out, int *head, err *e) {
    *out = NULL, *head = 0;
    ss_student s;
    ss_problem *p = NULL;
    ss_version v = {0};
    tuning_action *acts = NULL;
    size_t n_acts = 0;
    float *w = NULL, *b = NULL;
    json_t *meas = NULL, *aj = NULL, *retrained = NULL;
    unsigned char *touched = NULL;
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
    if (ss_student_problem(a, &s, &p, e)) goto done;
    if (v.c != p->c || v.d != p->d) {
        err_set(e, ERR_CONFLICT, "student %lld is stale: its version has shape (%zu, %zu), the data (%zu, %zu)",
                (long long)student_id, v.c, v.d, p->c, p->d);
        goto done;
    }
    if (ss_actions_parse(actions, p->words, p->d, p->classes, p->c, &acts, &n_acts, e)) goto done;
    size_t cd = p->c * p->d;
    w = malloc(cd * sizeof *w); // (C, d)
    b = malloc(p->c * sizeof *b);
    touched = calloc(p->c, 1);
    if (!w || !b || !touched) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    memcpy(b, v.b, p->c * sizeof *b);
    /* tuning_apply writes the new bounds into v.lo / v.hi and the start into w. */
    if (tuning_apply(acts, n_acts, v.w, p->c, p->d, v.lo, v.hi, w, e)) goto done;
    for (size_t i = 0; i < n_acts; i++) touched[acts[i].cls] = 1;
    student_opts o;
    student_opts_default(&o);
    o.lambda = v.lambda;
    retrained = json_array();
    for (size_t k = 0; k < p->c; k++) {
        if (!touched[k]) continue;
        if (student_fit(&p->sd, p->p_train + k, p->c, v.lo + k * p->d, v.hi + k * p->d, &o, w + k * p->d, &b[k],
                        NULL, e))
            goto done;
        json_array_append_new(retrained, json_string(p->classes[k]));
    }
    if (!(meas = ss_measures(p, w, b, e))) goto done;
    aj = ss_actions_json(acts, n_acts, p->words, p->classes);
    ss_new_version nv = {.w = w, .b = b, .lo = v.lo, .hi = v.hi, .c = p->c, .d = p->d,
                         .has_bounds = any_bound(v.lo, v.hi, cd), .lambda = v.lambda, .measures = meas,
                         .measures_before = v.measures, .actions = aj, .note = note, .kind = "tune",
                         .parent_id = v.id, .expect_head = parent};
    int64_t vid;
    int number;
    if (ss_version_add(a, student_id, &nv, user_id, &vid, &number, head, e)) goto done;
    *out = version_reply(vid, number, parent, meas, retrained);
    retrained = NULL;
    rc = 0;
done:
    ss_problem_release(p);
    ss_version_free(&v);
    free(acts), free(w), free(b), free(touched);
    json_decref(meas), json_decref(aj), json_decref(retrained);
    return rc;
}

int ss_restore(app *a, int64_t student_id, int number, const char *note, int64_t user_id, json_t **out, err *e) {
    *out = NULL;
    ss_student s;
    ss_problem *p = NULL;
    ss_version old = {0}, head = {0};
    json_t *meas = NULL, *aj = NULL;
    int rc = -1;
    if (ss_student_load(a, student_id, &s, e) || ss_version_load(a, student_id, number, &old, e) ||
        ss_version_load(a, student_id, 0, &head, e) || ss_student_problem(a, &s, &p, e))
        goto done;
    if (old.c != p->c || old.d != p->d) {
        err_set(e, ERR_CONFLICT, "student %lld is stale", (long long)student_id);
        goto done;
    }
    if (!(meas = ss_measures(p, old.w, old.b, e))) goto done;
    aj = json_pack("[{s:s,s:i}]", "action", "restore", "version", number);
    ss_new_version nv = {.w = old.w, .b = old.b, .lo = old.lo, .hi = old.hi, .c = old.c, .d = old.d,
                         .has_bounds = old.has_bounds, .lambda = old.lambda, .measures = meas,
                         .measures_before = head.measures, .actions = aj, .note = note, .kind = "restore",
                         .parent_id = head.id, .expect_head = head.number};
    int64_t vid;
    int num, h;
    if (ss_version_add(a, student_id, &nv, user_id, &vid, &num, &h, e)) goto done;
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
