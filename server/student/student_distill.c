/* student_distill.c — the job "student.distill": problem -> cold-start fit of every
 * class -> measures -> the student and its version 1 (see student_distill.h).
 */
#include "student/student_distill.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_json.h"
#include "student/student.h"
#include "student/student_problem.h"
#include "student/student_split_measures.h"
#include "student/student_store.h"

int ss_distill_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    app *a = job_app(ctx);
    json_t *xv = json_object_get(params, "extraction_id"), *tv = json_object_get(params, "teacher_output_id");
    json_t *lv = json_object_get(params, "lambda");
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!json_is_integer(xv) || !json_is_integer(tv))
        return err_set(e, ERR_UNPROCESSABLE, "params need extraction_id and teacher_output_id");
    double lambda = lv ? json_number_value(lv) : STUDENT_LAMBDA_DEFAULT;
    if (lv && (!json_is_number(lv) || !isfinite(lambda) || lambda < 0))
        return err_set(e, ERR_UNPROCESSABLE, "lambda must be a finite number >= 0");
    int64_t xid = json_integer_value(xv), tid = json_integer_value(tv);
    /* A re-run after a crash finds the student its first run committed. */
    int64_t done_id;
    int found = ss_student_of_job(a, job_id(ctx), &done_id, e);
    if (found < 0) return -1;
    if (found) {
        *result = json_pack("{s:I,s:i}", "student_id", (json_int_t)done_id, "version", 1);
        return 0;
    }
    if (job_progress(ctx, 0.05, e, "loading presence and teacher outputs")) return -1;
    ss_problem *p = NULL;
    if (ss_problem_get(a, xid, tid, &p, e)) return -1;
    int rc = -1;
    size_t cd = p->c * p->d;
    float *w = calloc(cd + 1, sizeof *w), *b = calloc(p->c, sizeof *b); // (C, d), (C)
    float *lo = malloc((cd + 1) * sizeof *lo), *hi = malloc((cd + 1) * sizeof *hi); // (C, d) each
    student_result *res = calloc(p->c, sizeof *res);                                 // (C)
    json_t *meas = NULL, *fits = NULL;
    if (!w || !b || !lo || !hi || !res) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < cd; i++) lo[i] = -INFINITY, hi[i] = INFINITY;
    if (job_progress(ctx, 0.2, e, "fitting %zu classes on %zu images x %zu concepts", p->c, p->n_train, p->d))
        goto done;
    student_cold_start(p->p_train, p->n_train, p->c, p->d, w, b);
    student_opts o;
    student_opts_default(&o);
    o.lambda = lambda;
    if (student_fit_all(&p->sd, p->p_train, p->c, NULL, NULL, &o, w, b, res, e)) goto done;
    if (job_progress(ctx, 0.8, e, "measuring")) goto done;
    if (!(meas = ss_measures(p, w, b, e))) goto done;
    fits = json_array();
    for (size_t k = 0; k < p->c; k++)
        json_array_append_new(fits, json_pack("{s:f,s:f,s:i,s:b}", "objective", res[k].objective, "kkt", res[k].kkt,
                                              "nonzeros", res[k].nonzeros, "converged", res[k].converged));
    char default_name[64];
    snprintf(default_name, sizeof default_name, "student of extraction %lld", (long long)xid);
    ss_new_student ns = {.name = name && name[0] ? name : default_name, .dataset_id = p->dataset_id,
                         .teacher_output_id = tid, .extraction_id = xid, .presence_sha = p->presence_sha,
                         .probs_sha = p->probs_sha, .lambda = lambda, .words = p->words, .d = p->d,
                         .classes = p->classes, .c = p->c, .job_id = job_id(ctx)};
    char cols[65];
    const char *missing;
    if (ss_problem_columns_sha(p, p->words, p->d, cols, &missing)) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    ss_new_version nv = {.w = w, .b = b, .lo = lo, .hi = hi, .c = p->c, .d = p->d, .concepts = p->words,
                         .columns_sha = cols, .has_bounds = 0, .lambda = lambda,
                         .measures = meas, .measures_before = NULL, .actions = NULL, .note = "distilled",
                         .kind = "distill", .parent_id = 0, .expect_head = 0};
    int64_t student_id, vid;
    int number;
    if (ss_student_create(a, &ns, &nv, &student_id, &vid, &number, e)) goto done;
    json_t *splits = json_object_get(meas, "splits");
    json_t *fid = json_object();
    const char *sk;
    json_t *sv;
    json_object_foreach(splits, sk, sv) json_object_set(fid, sk, json_object_get(sv, "fidelity"));
    *result = json_pack("{s:I,s:i,s:I,s:o,s:o}", "student_id", (json_int_t)student_id, "version", number,
                        "version_id", (json_int_t)vid, "fidelity", fid, "fits", fits);
    fits = NULL;
    rc = 0;
done:
    ss_problem_release(p);
    free(w), free(b), free(lo), free(hi), free(res);
    json_decref(meas), json_decref(fits);
    return rc;
}

int ss_distill_check(app *a, int64_t xid, int64_t tid, err *e) {
    char xs[24], ts[24];
    snprintf(xs, sizeof xs, "%lld", (long long)xid);
    snprintf(ts, sizeof ts, "%lld", (long long)tid);
    const char *p[] = {xs, ts};
    json_t *chk = db_json(a, "none",
                          "SELECT json_build_object("
                          " 'x', (SELECT json_build_object('state', state, 'dataset_id', dataset_id)"
                          "       FROM extractions WHERE id = $1),"
                          " 't', (SELECT json_build_object('dataset_id', dataset_id) FROM teacher_outputs"
                          "       WHERE id = $2))::text",
                          2, p, e);
    if (!chk) return -1;
    json_t *x = json_object_get(chk, "x"), *t = json_object_get(chk, "t");
    int rc = -1;
    if (!json_is_object(x))
        err_set(e, ERR_UNPROCESSABLE, "field 'extraction_id': no extraction %lld", (long long)xid);
    else if (!json_is_object(t))
        err_set(e, ERR_UNPROCESSABLE, "field 'teacher_output_id': no teacher output %lld", (long long)tid);
    else if (strcmp(json_string_value(json_object_get(x, "state")), "ready"))
        err_set(e, ERR_CONFLICT, "extraction %lld is %s, not ready", (long long)xid,
                json_string_value(json_object_get(x, "state")));
    else if (json_integer_value(json_object_get(x, "dataset_id")) !=
             json_integer_value(json_object_get(t, "dataset_id")))
        err_set(e, ERR_UNPROCESSABLE,
                "field 'teacher_output_id': teacher output %lld is of another dataset than extraction %lld",
                (long long)tid, (long long)xid);
    else
        rc = 0;
    json_decref(chk);
    return rc;
}
