/* tuning.c — tuning actions to bounds (see tuning.h). Works on a copy of the touched
 * weights' bounds so an error in any action leaves the caller's arrays untouched. */
#include "student/tuning.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const tuning_names[] = {"uptune", "downtune", "remove", "release", "set"};

const char *tuning_kind_name(tuning_kind k) {
    return (unsigned)k < sizeof tuning_names / sizeof *tuning_names ? tuning_names[k] : "unknown";
}

int tuning_kind_parse(const char *s, tuning_kind *out, err *e) {
    for (size_t i = 0; s && i < sizeof tuning_names / sizeof *tuning_names; i++)
        if (!strcmp(s, tuning_names[i])) {
            *out = (tuning_kind)i;
            return 0;
        }
    return err_set(e, ERR_UNPROCESSABLE,
                   "tuning: unknown action '%s' (one of uptune, downtune, remove, release, set)", s ? s : "(null)");
}

/* The interval an action asks for, from the parent's weight; -1 on a bad parameter. */
static int tuning_interval(const tuning_action *a, const float *w_parent, size_t d, double *lo, double *hi,
                           err *e) {
    double w = w_parent[a->cls * d + a->concept], x = a->value;
    switch (a->kind) {
    case TUNING_UPTUNE:
    case TUNING_DOWNTUNE:
        if (!isfinite(x) || x <= 1)
            return err_set(e, ERR_UNPROCESSABLE, "tuning: %s factor must be a finite number > 1 (got %g)",
                           tuning_kind_name(a->kind), x);
        if (a->kind == TUNING_DOWNTUNE) {
            *lo = w < 0 ? w / x : 0;
            *hi = w > 0 ? w / x : 0;
        } else if (w > 0) {
            *lo = x * w, *hi = INFINITY;
        } else if (w < 0) {
            *lo = -INFINITY, *hi = x * w;
        } else {
            double m = 0;
            for (size_t j = 0; j < d; j++) m = fmax(m, fabs((double)w_parent[a->cls * d + j]));
            *lo = x * TUNING_ZERO_STEP * (m > 0 ? m : 1.0), *hi = INFINITY;
        }
        return 0;
    case TUNING_REMOVE: *lo = *hi = 0; return 0;
    case TUNING_RELEASE: *lo = -INFINITY, *hi = INFINITY; return 0;
    case TUNING_SET:
        if (!isfinite(x)) return err_set(e, ERR_UNPROCESSABLE, "tuning: set needs a finite value (got %g)", x);
        *lo = *hi = x;
        return 0;
    }
    return err_set(e, ERR_UNPROCESSABLE, "tuning: unknown action kind %d", (int)a->kind);
}

/* Round an interval inward to floats so every float inside meets the action exactly
 * (an uptuned weight is at least x |w|, never one rounding below it). */
static float tuning_down(double v) {
    float f = (float)v;
    return (double)f > v ? nextafterf(f, -INFINITY) : f;
}
static float tuning_up(double v) {
    float f = (float)v;
    return (double)f < v ? nextafterf(f, INFINITY) : f;
}

int tuning_apply(const tuning_action *acts, size_t n_acts, const float *w_parent, size_t c, size_t d, float *lo,
                 float *hi, float *w_start, err *e) {
    size_t *idx = malloc((n_acts ? n_acts : 1) * sizeof *idx);    // (n_acts) flat (k, j)
    float *nlo = malloc((n_acts ? n_acts : 1) * sizeof *nlo);      // (n_acts) new bounds per
    float *nhi = malloc((n_acts ? n_acts : 1) * sizeof *nhi);      //   distinct weight touched
    if (!idx || !nlo || !nhi) {
        free(idx), free(nlo), free(nhi);
        return err_set(e, ERR_INTERNAL, "tuning: out of memory");
    }
    size_t m = 0;
    int rc = 0;
    for (size_t a = 0; a < n_acts && !rc; a++) {
        const tuning_action *ac = &acts[a];
        if (ac->concept >= d || ac->cls >= c) {
            rc = err_set(e, ERR_UNPROCESSABLE, "tuning: action %zu names concept %zu of class %zu; there are %zu "
                         "concepts and %zu classes", a, ac->concept, ac->cls, d, c);
            break;
        }
        double alo = 0, ahi = 0;
        if (tuning_interval(ac, w_parent, d, &alo, &ahi, e)) {
            rc = -1;
            break;
        }
        size_t flat = ac->cls * d + ac->concept, s = 0;
        while (s < m && idx[s] != flat) s++;
        if (s == m) idx[m] = flat, nlo[m] = lo[flat], nhi[m] = hi[flat], m++;
        float flo = tuning_up(alo), fhi = tuning_down(ahi);
        if (ac->kind == TUNING_RELEASE) {
            nlo[s] = -INFINITY, nhi[s] = INFINITY;
            continue;
        }
        if (ac->kind == TUNING_SET || ac->kind == TUNING_REMOVE) flo = fhi = (float)alo;
        float l = nlo[s] > flo ? nlo[s] : flo, h = nhi[s] < fhi ? nhi[s] : fhi;
        if (l > h) {
            rc = err_set(e, ERR_UNPROCESSABLE,
                         "tuning: bounds cannot all hold for concept %zu of class %zu: %s asks for [%g, %g] but the "
                         "weight is already held to [%g, %g] (release it first)",
                         ac->concept, ac->cls, tuning_kind_name(ac->kind), (double)flo, (double)fhi,
                         (double)nlo[s], (double)nhi[s]);
            break;
        }
        nlo[s] = l, nhi[s] = h;
    }
    if (!rc) {
        if (w_start != w_parent) memcpy(w_start, w_parent, c * d * sizeof *w_start);
        for (size_t s = 0; s < m; s++) {
            size_t f = idx[s];
            lo[f] = nlo[s], hi[f] = nhi[s];
        }
        for (size_t f = 0; f < c * d; f++) {
            if (w_start[f] < lo[f]) w_start[f] = lo[f];
            if (w_start[f] > hi[f]) w_start[f] = hi[f];
        }
    }
    free(idx), free(nlo), free(nhi);
    return rc;
}
