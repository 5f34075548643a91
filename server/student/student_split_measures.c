/* student_split_measures.c — predictions and the stored measures JSON of a student's
 * weights on every split of a problem; deltas between two (see student_split_measures.h).
 */
#include "student/student_split_measures.h"

#include <stdlib.h>
#include <string.h>

#include "student/student_measures.h"

int ss_predict(const ss_problem *p, const float *W, const float *b, int32_t *pred, err *e) {
    float *scores = malloc((p->n * p->c + 1) * sizeof *scores); // (N, C)
    if (!scores) return err_set(e, ERR_INTERNAL, "out of memory");
    sm_scores(p->x, p->n, p->d, W, b, p->c, scores);
    sm_argmax_rows(scores, p->n, p->c, pred);
    free(scores);
    return 0;
}

json_t *ss_measures(const ss_problem *p, const float *W, const float *b, err *e) {
    int32_t *pred = malloc((p->n + 1) * sizeof *pred);
    int32_t *ss = malloc((p->n + 1) * sizeof *ss), *tt = malloc((p->n + 1) * sizeof *tt),
            *ll = malloc((p->n + 1) * sizeof *ll);
    json_t *splits = json_object(), *nz = json_array(), *out = NULL;
    if (!pred || !ss || !tt || !ll || !splits || !nz) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (ss_predict(p, W, b, pred, e)) goto done;
    for (size_t s = 0; s < p->n_splits; s++) {
        size_t m = p->split_n[s];
        for (size_t r = 0; r < m; r++) {
            size_t i = p->split_rows[s][r];
            ss[r] = pred[i], tt[r] = p->teacher[i], ll[r] = p->labels[i];
        }
        sm_summary sum;
        if (sm_summary_compute(ss, tt, ll, m, p->c, &sum, e)) goto done;
        json_t *j = sm_summary_json(&sum);
        sm_summary_free(&sum);
        if (!j || json_object_set_new(splits, p->splits[s], j)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
    }
    for (size_t k = 0; k < p->c; k++) {
        json_int_t cnt = 0;
        for (size_t j = 0; j < p->d; j++) cnt += W[k * p->d + j] != 0.0f;
        json_array_append_new(nz, json_integer(cnt));
    }
    out = json_pack("{s:O,s:O}", "splits", splits, "nonzeros", nz);
    if (!out) err_set(e, ERR_INTERNAL, "out of memory");
done:
    json_decref(splits);
    json_decref(nz);
    free(pred), free(ss), free(tt), free(ll);
    return out;
}

json_t *ss_measure_deltas(const json_t *before, const json_t *after) {
    if (json_is_number(before) && json_is_number(after))
        return json_real(json_number_value(after) - json_number_value(before));
    if (json_is_object(before) && json_is_object(after)) {
        json_t *out = json_object();
        const char *k;
        json_t *va;
        json_object_foreach((json_t *)after, k, va) {
            if (!strcmp(k, "confusion")) continue;
            json_t *d = ss_measure_deltas(json_object_get(before, k), va);
            if (d) json_object_set_new(out, k, d);
        }
        return out;
    }
    if (json_is_array(before) && json_is_array(after) && json_array_size(before) == json_array_size(after)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(after); i++) {
            json_t *d = ss_measure_deltas(json_array_get(before, i), json_array_get(after, i));
            json_array_append_new(out, d ? d : json_null());
        }
        return out;
    }
    return NULL;
}
