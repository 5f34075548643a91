/* student_measures.c — fidelity, accuracy, confusion, disagreements, influence and
 * contributions (see student_measures.h). Pure functions; only sm_scores uses BLAS. */
#include "student/student_measures.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sm_scores(const float *x, size_t n, size_t d, const float *w, const float *b, size_t c, float *scores) {
    for (size_t i = 0; i < n; i++) memcpy(scores + i * c, b, c * sizeof *scores);
    if (n == 0 || c == 0 || d == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)c, (int)d, 1.0f, x, (int)d, w, (int)d, 1.0f,
                scores, (int)c);
}

void sm_argmax_rows(const float *s, size_t n, size_t c, int32_t *pred) {
    for (size_t i = 0; i < n; i++) {
        const float *row = s + i * c;
        int32_t best = 0;
        float bv = NAN;
        for (size_t k = 0; k < c; k++)
            if (!isnan(row[k]) && (isnan(bv) || row[k] > bv)) bv = row[k], best = (int32_t)k;
        pred[i] = best;
    }
}

double sm_agreement(const int32_t *a, const int32_t *b, size_t n) {
    if (n == 0) return NAN;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += a[i] == b[i];
    return (double)m / (double)n;
}

static double sm_ratio(int64_t num, int64_t den) { return den ? (double)num / (double)den : NAN; }

void sm_summary_free(sm_summary *s) {
    if (!s) return;
    free(s->class_fidelity), free(s->class_precision), free(s->class_student_accuracy);
    free(s->class_teacher_accuracy), free(s->confusion), free(s->disagree);
    memset(s, 0, sizeof *s);
}

int sm_summary_compute(const int32_t *student, const int32_t *teacher, const int32_t *labels, size_t n, size_t c,
                       sm_summary *out, err *e) {
    memset(out, 0, sizeof *out);
    if (c == 0) return err_set(e, ERR_UNPROCESSABLE, "measures: no classes");
    for (size_t i = 0; i < n; i++) {
        if (student[i] < 0 || (size_t)student[i] >= c || teacher[i] < 0 || (size_t)teacher[i] >= c)
            return err_set(e, ERR_UNPROCESSABLE, "measures: row %zu has a class outside [0, %zu)", i, c);
        if (labels && labels[i] >= 0 && (size_t)labels[i] >= c)
            return err_set(e, ERR_UNPROCESSABLE, "measures: label of row %zu is outside [0, %zu)", i, c);
    }
    out->n = n;
    out->c = c;
    out->class_fidelity = malloc(c * sizeof(double));
    out->class_precision = malloc(c * sizeof(double));
    out->class_student_accuracy = malloc(c * sizeof(double));
    out->class_teacher_accuracy = malloc(c * sizeof(double));
    out->confusion = calloc(c * c, sizeof *out->confusion);
    int64_t *cnt = calloc(4 * c, sizeof *cnt); // (4, C): per true class: n, student ok, teacher ok; spare
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) nd += student[i] != teacher[i];
    out->disagree = malloc((nd ? nd : 1) * sizeof *out->disagree);
    if (!out->class_fidelity || !out->class_precision || !out->class_student_accuracy ||
        !out->class_teacher_accuracy || !out->confusion || !cnt || !out->disagree) {
        free(cnt);
        sm_summary_free(out);
        return err_set(e, ERR_INTERNAL, "measures: out of memory");
    }
    int64_t agree = 0, lab = 0, s_ok = 0, t_ok = 0;
    for (size_t i = 0; i < n; i++) {
        out->confusion[(size_t)teacher[i] * c + (size_t)student[i]]++;
        if (student[i] == teacher[i]) agree++;
        else out->disagree[out->n_disagree++] = i;
        if (labels && labels[i] >= 0) {
            size_t y = (size_t)labels[i];
            lab++;
            cnt[y]++;
            if (student[i] == labels[i]) s_ok++, cnt[c + y]++;
            if (teacher[i] == labels[i]) t_ok++, cnt[2 * c + y]++;
        }
    }
    out->fidelity = sm_ratio(agree, (int64_t)n);
    out->student_accuracy = sm_ratio(s_ok, lab);
    out->teacher_accuracy = sm_ratio(t_ok, lab);
    for (size_t k = 0; k < c; k++) {
        int64_t row = 0, col = 0, diag = out->confusion[k * c + k];
        for (size_t q = 0; q < c; q++) row += out->confusion[k * c + q], col += out->confusion[q * c + k];
        out->class_fidelity[k] = sm_ratio(diag, row);
        out->class_precision[k] = sm_ratio(diag, col);
        out->class_student_accuracy[k] = sm_ratio(cnt[c + k], cnt[k]);
        out->class_teacher_accuracy[k] = sm_ratio(cnt[2 * c + k], cnt[k]);
    }
    free(cnt);
    return 0;
}

size_t sm_cell_rows(const int32_t *student, const int32_t *teacher, size_t n, int32_t t, int32_t s, size_t *out,
                    size_t cap) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (teacher[i] == t && student[i] == s) {
            if (m < cap) out[m] = i;
            m++;
        }
    return m;
}

int sm_influence(const float *x, size_t n, size_t d, const float *w, size_t c, const int32_t *teacher,
                 float *influence, err *e) {
    double *sum = calloc(c * d, sizeof *sum); // (C, D) presence sums per teacher class
    size_t *cnt = calloc(c, sizeof *cnt);     // (C)
    if (!sum || !cnt) {
        free(sum), free(cnt);
        return err_set(e, ERR_INTERNAL, "measures: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (teacher[i] < 0 || (size_t)teacher[i] >= c) {
            free(sum), free(cnt);
            return err_set(e, ERR_UNPROCESSABLE, "measures: row %zu has a class outside [0, %zu)", i, c);
        }
        size_t k = (size_t)teacher[i];
        cnt[k]++;
        const float *xi = x + i * d;
        double *sk = sum + k * d;
        for (size_t j = 0; j < d; j++) sk[j] += xi[j];
    }
    for (size_t k = 0; k < c; k++)
        for (size_t j = 0; j < d; j++)
            influence[k * d + j] = cnt[k] ? (float)((double)w[k * d + j] * sum[k * d + j] / (double)cnt[k]) : 0.0f;
    free(sum), free(cnt);
    return 0;
}

void sm_contributions(const float *xi, size_t d, const float *w, size_t c, float *contrib) {
    for (size_t k = 0; k < c; k++)
        for (size_t j = 0; j < d; j++) contrib[k * d + j] = w[k * d + j] * xi[j];
}

static json_t *sm_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *sm_summary_json(const sm_summary *s) {
    json_t *o = json_object(), *classes = json_array(), *conf = json_array();
    if (!o || !classes || !conf) goto fail;
    json_object_set_new(o, "n", json_integer((json_int_t)s->n));
    json_object_set_new(o, "fidelity", sm_num(s->fidelity));
    json_object_set_new(o, "student_accuracy", sm_num(s->student_accuracy));
    json_object_set_new(o, "teacher_accuracy", sm_num(s->teacher_accuracy));
    for (size_t k = 0; k < s->c; k++) {
        json_t *ck = json_object(), *row = json_array();
        if (!ck || !row) {
            json_decref(ck), json_decref(row);
            goto fail;
        }
        json_object_set_new(ck, "fidelity", sm_num(s->class_fidelity[k]));
        json_object_set_new(ck, "precision", sm_num(s->class_precision[k]));
        json_object_set_new(ck, "recall", sm_num(s->class_fidelity[k]));
        json_object_set_new(ck, "student_accuracy", sm_num(s->class_student_accuracy[k]));
        json_object_set_new(ck, "teacher_accuracy", sm_num(s->class_teacher_accuracy[k]));
        json_array_append_new(classes, ck);
        for (size_t q = 0; q < s->c; q++) json_array_append_new(row, json_integer(s->confusion[k * s->c + q]));
        json_array_append_new(conf, row);
    }
    json_object_set_new(o, "classes", classes);
    json_object_set_new(o, "confusion", conf);
    json_object_set_new(o, "disagreements", json_integer((json_int_t)s->n_disagree));
    return o;
fail:
    json_decref(o), json_decref(classes), json_decref(conf);
    return NULL;
}
