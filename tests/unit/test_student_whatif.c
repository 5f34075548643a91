/* test_student_whatif.c — the what-if answers (student_whatif.h) equal recomputing the
 * student's scores from scratch with the changed weights (sm_scores + sm_argmax_rows,
 * the path the stored measures take) and counting: every concept removed from every
 * class and from each class, on random sparse weights of both signs, on weights and
 * presence of small integers and halves (exact float arithmetic, so scores tie exactly
 * and the tie rule, lowest class first, is what is tested), with more classes than the
 * sparse path takes (C > 64), and one change of several weights at once. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "student/student_measures.h"
#include "student/student_whatif.h"

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static double rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

/* A problem: x (N, d), teacher and labels (N) in [0, C) (labels -1 one time in 7),
 * splits (N) in [0, 3). `grid`: presence and weights on a coarse grid (ties). */
typedef struct prob {
    size_t n, d, c;
    float *x, *w, *b;
    int32_t *teacher, *labels, *split;
} prob;

static void prob_make(prob *p, size_t n, size_t d, size_t c, int grid) {
    p->n = n, p->d = d, p->c = c;
    p->x = malloc(n * d * sizeof *p->x);
    p->w = calloc(c * d, sizeof *p->w);
    p->b = malloc(c * sizeof *p->b);
    p->teacher = malloc(n * sizeof *p->teacher);
    p->labels = malloc(n * sizeof *p->labels);
    p->split = malloc(n * sizeof *p->split);
    for (size_t i = 0; i < n * d; i++) {
        double u = rnd();
        p->x[i] = grid ? (float)(floor(u * 3) / 2) : u < 0.2 ? 0.0f : (float)u; /* some exact zeros */
    }
    for (size_t i = 0; i < c * d; i++) {
        double u = rnd();
        if (u < 0.7) continue; /* sparse, like an L1 student */
        p->w[i] = grid ? (float)(floor(rnd() * 5) - 2) : (float)(4 * rnd() - 1.5);
    }
    for (size_t k = 0; k < c; k++) p->b[k] = grid ? (float)(floor(rnd() * 3) - 1) : (float)(rnd() - 0.5);
    for (size_t i = 0; i < n; i++) {
        p->teacher[i] = (int32_t)(rnd() * (double)c);
        p->labels[i] = rnd() < 1.0 / 7 ? -1 : (int32_t)(rnd() * (double)c);
        p->split[i] = (int32_t)(rnd() * 3);
    }
}

static void prob_free(prob *p) {
    free(p->x), free(p->w), free(p->b), free(p->teacher), free(p->labels), free(p->split);
}

/* The slow way: predictions of w2 from scratch, counted against pred. */
static void reference(const prob *p, const float *w2, const int32_t *pred, int32_t *fid, int32_t *acc) {
    float *s = malloc(p->n * p->c * sizeof *s);
    int32_t *q = malloc(p->n * sizeof *q);
    sm_scores(p->x, p->n, p->d, w2, p->b, p->c, s);
    sm_argmax_rows(s, p->n, p->c, q);
    memset(fid, 0, 3 * sizeof *fid), memset(acc, 0, 3 * sizeof *acc);
    for (size_t i = 0; i < p->n; i++) {
        int32_t sp = p->split[i], t = p->teacher[i], l = p->labels[i];
        fid[sp] += (q[i] == t) - (pred[i] == t);
        if (l >= 0) acc[sp] += (q[i] == l) - (pred[i] == l);
    }
    free(s), free(q);
}

/* Every concept removed (from every class, then from each class): the list's counts
 * equal the reference's; returns how many rows changed class over all cases. */
static long check_concepts(const prob *p) {
    ss_scores sc = {0};
    err e = {0};
    assert_int_equal(ss_scores_compute(p->x, p->n, p->d, p->w, p->b, p->c, &sc, &e), 0);
    /* the cached predictions are the measures' own */
    float *s = malloc(p->n * p->c * sizeof *s);
    int32_t *pred = malloc(p->n * sizeof *pred);
    sm_scores(p->x, p->n, p->d, p->w, p->b, p->c, s);
    sm_argmax_rows(s, p->n, p->c, pred);
    assert_memory_equal(pred, sc.pred, p->n * sizeof *pred);
    ss_rows rows = {p->teacher, p->labels, p->split, 3};
    int32_t *dfid = malloc(p->d * 3 * sizeof *dfid), *dacc = malloc(p->d * 3 * sizeof *dacc);
    float *w2 = malloc(p->c * p->d * sizeof *w2);
    long moved = 0;
    for (long cls = -1; cls < (long)p->c; cls++) {
        assert_int_equal(ss_whatif_concepts(p->x, p->n, p->d, &sc, &rows, p->w, p->c, cls, dfid, dacc, &e), 0);
        for (size_t j = 0; j < p->d; j++) {
            memcpy(w2, p->w, p->c * p->d * sizeof *w2);
            for (size_t k = 0; k < p->c; k++)
                if (cls < 0 || (long)k == cls) w2[k * p->d + j] = 0;
            int32_t rf[3], ra[3];
            reference(p, w2, pred, rf, ra);
            for (int sp = 0; sp < 3; sp++) {
                if (rf[sp] != dfid[j * 3 + sp] || ra[sp] != dacc[j * 3 + sp])
                    fail_msg("concept %zu, class %ld, split %d: fidelity %d vs %d, accuracy %d vs %d", j, cls, sp,
                             dfid[j * 3 + sp], rf[sp], dacc[j * 3 + sp], ra[sp]);
                moved += labs((long)rf[sp]) + labs((long)ra[sp]);
            }
        }
    }
    free(s), free(pred), free(dfid), free(dacc), free(w2);
    ss_scores_free(&sc);
    return moved;
}

static void random_weights(void **state) {
    (void)state;
    prob p;
    prob_make(&p, 600, 17, 6, 0);
    assert_true(check_concepts(&p) > 0); /* removals do change classes: the test can fail */
    prob_free(&p);
}

static void exact_ties(void **state) {
    (void)state;
    prob p;
    prob_make(&p, 500, 9, 5, 1);
    /* the grid makes exact ties among the scores: count them to be sure */
    float *s = malloc(p.n * p.c * sizeof *s);
    sm_scores(p.x, p.n, p.d, p.w, p.b, p.c, s);
    long ties = 0;
    for (size_t i = 0; i < p.n; i++)
        for (size_t k = 1; k < p.c; k++) ties += s[i * p.c + k] == s[i * p.c];
    free(s);
    assert_true(ties > 20);
    assert_true(check_concepts(&p) > 0);
    prob_free(&p);
}

static void many_classes(void **state) {
    (void)state;
    prob p;
    prob_make(&p, 300, 5, 70, 0); /* C > 64: every row rescored over all classes */
    assert_true(check_concepts(&p) > 0);
    prob_free(&p);
}

static void several_weights(void **state) {
    (void)state;
    prob p;
    prob_make(&p, 500, 11, 4, 0);
    ss_scores sc = {0};
    err e = {0};
    assert_int_equal(ss_scores_compute(p.x, p.n, p.d, p.w, p.b, p.c, &sc, &e), 0);
    ss_rows rows = {p.teacher, p.labels, p.split, 3};
    float *w2 = malloc(p.c * p.d * sizeof *w2);
    memcpy(w2, p.w, p.c * p.d * sizeof *w2);
    for (size_t k = 0; k < p.c; k++) w2[k * p.d + 3] *= 0.25f; /* a downtune of one column everywhere */
    w2[1 * p.d + 7] = 2.5f;                                      /* a set */
    w2[2 * p.d + 0] = 0;                                         /* a remove */
    int32_t fid[3], acc[3], rf[3], ra[3];
    assert_int_equal(ss_whatif_weights(p.x, p.n, p.d, &sc, &rows, p.w, w2, p.c, fid, acc, &e), 0);
    reference(&p, w2, sc.pred, rf, ra);
    assert_memory_equal(fid, rf, sizeof fid);
    assert_memory_equal(acc, ra, sizeof acc);
    assert_true(labs((long)rf[0]) + labs((long)rf[1]) + labs((long)rf[2]) > 0);
    /* no change: nothing moves */
    assert_int_equal(ss_whatif_weights(p.x, p.n, p.d, &sc, &rows, p.w, p.w, p.c, fid, acc, &e), 0);
    for (int sp = 0; sp < 3; sp++) assert_true(fid[sp] == 0 && acc[sp] == 0);
    free(w2);
    ss_scores_free(&sc);
    prob_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_weights),
        cmocka_unit_test(exact_ties),
        cmocka_unit_test(many_classes),
        cmocka_unit_test(several_weights),
    };
    return cmocka_run_group_tests_name("student_whatif", tests, NULL, NULL);
}
