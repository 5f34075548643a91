/* test_demo_models.c — the demo teacher and concept model (shim/demo_models.h), on a
 * small synthetic world: coloured shapes on textured backgrounds, with captions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "demo_models.h"

/* ---- Synthetic world ------------------------------------------------------------ */

enum { N_COLOURS = 4, N_SHAPES = 4, N_BACKS = 4 };
/* Vocabulary ids 1..VOCAB: colours, shapes, backgrounds, "small", then 2 unused. */
enum { W_COLOUR = 1, W_SHAPE = W_COLOUR + N_COLOURS, W_BACK = W_SHAPE + N_SHAPES,
       W_SMALL = W_BACK + N_BACKS, VOCAB = W_SMALL + 2 };
static const float colours[N_COLOURS][3] = {
    {0.9f, 0.15f, 0.1f}, {0.1f, 0.75f, 0.2f}, {0.15f, 0.25f, 0.95f}, {0.95f, 0.85f, 0.1f}};

static uint64_t rng_state;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static int irand(int k) { return (int)(urand() * k) % k; }

static int inside(int shape, float dx, float dy, float r) {
    switch (shape) {
    case 0: return dx * dx + dy * dy <= r * r;                         /* circle */
    case 1: return fabsf(dx) <= r * 0.8f && fabsf(dy) <= r * 0.8f;      /* square */
    case 2: return dy <= r * 0.8f && dy >= -r && fabsf(dx) <= (dy + r) * 0.55f; /* triangle */
    default: return (fabsf(dx) <= r * 0.3f || fabsf(dy) <= r * 0.3f) &&
                    fabsf(dx) <= r && fabsf(dy) <= r;                     /* cross */
    }
}

static void draw(float *img, int shape, int colour, float cx, float cy, float r) {
    const int S = DEMO_IMAGE_SIZE;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            if (inside(shape, x - cx, y - cy, r))
                for (int c = 0; c < 3; c++) img[c * S * S + y * S + x] = colours[colour][c];
}

static void background(float *img, int back) {
    const int S = DEMO_IMAGE_SIZE;
    float base = 0.35f + 0.3f * (float)urand();
    int phase = irand(8);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float v;
            switch (back) {
            case 0: v = ((y + phase) / 4) % 2 ? base : base * 0.5f; break;            /* stripes */
            case 1: v = ((x + phase) % 8 < 3 && (y + phase) % 8 < 3) ? base * 0.4f : base; break;
            case 2: v = (((x + phase) / 8 + (y + phase) / 8) % 2) ? base : base * 0.6f; break;
            default: v = base; break;                                              /* plain */
            }
            v += 0.08f * ((float)urand() - 0.5f);
            /* greyish with a slight tint per background, so colour words stay with shapes */
            img[0 * S * S + y * S + x] = v;
            img[1 * S * S + y * S + x] = v * (back == 3 ? 0.9f : 1.0f);
            img[2 * S * S + y * S + x] = v * (back == 1 ? 0.85f : 1.0f);
        }
}

/* n scenes: label = shape of the main item; images normalised; targets (n, VOCAB). */
static void make_world(int n, uint64_t seed, float *imgs, int64_t *labels, float *targets) {
    const int S = DEMO_IMAGE_SIZE, P = 3 * S * S;
    rng_state = seed * 2654435761ULL + 1;
    for (int i = 0; i < n; i++) {
        float *img = imgs + (size_t)i * P;
        float *t = targets ? targets + (size_t)i * VOCAB : NULL;
        int shape = irand(N_SHAPES), colour = irand(N_COLOURS), back = irand(N_BACKS);
        background(img, back);
        float cx = 18 + (float)urand() * 28, cy = 18 + (float)urand() * 28;
        draw(img, shape, colour, cx, cy, 11 + (float)urand() * 4);
        if (t) memset(t, 0, sizeof(float) * VOCAB);
        if (t) {
            t[W_COLOUR + colour - 1] = 1;
            t[W_SHAPE + shape - 1] = 1;
            t[W_BACK + back - 1] = 1;
        }
        if (urand() < 0.3) { /* a small second item in a corner */
            int s2 = irand(N_SHAPES), c2 = irand(N_COLOURS);
            float sx = cx < 32 ? 54 : 10, sy = cy < 32 ? 54 : 10;
            draw(img, s2, c2, sx, sy, 6);
            if (t) {
                t[W_COLOUR + c2 - 1] = 1;
                t[W_SHAPE + s2 - 1] = 1;
                t[W_SMALL - 1] = 1;
            }
        }
        for (int k = 0; k < P; k++) img[k] = (img[k] - DEMO_INPUT_MEAN) / DEMO_INPUT_STD;
        labels[i] = shape;
    }
}

/* ---- Helpers ----------------------------------------------------------------------- */

static char tmpdir[256];
static char path_buf[512];
static const char *tmp_path(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", tmpdir, name);
    return path_buf;
}

static int group_setup(void **state) {
    (void)state;
    setenv("OMP_NUM_THREADS", "1", 0);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_demo_models.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    const char *names[] = {"t.pt", "t2.pt", "t3.pt", "c.pt", "x.pt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(tmp_path(names[i]));
    rmdir(tmpdir);
    return 0;
}

static double auc(const float *score, const float *label, int n, int stride) {
    /* Mann-Whitney U by pairs (n is small). */
    double pos = 0, neg = 0, wins = 0;
    for (int i = 0; i < n; i++) {
        if (label[(size_t)i * stride] > 0.5f) pos++; else neg++;
    }
    if (pos == 0 || neg == 0) return -1;
    for (int i = 0; i < n; i++) {
        if (label[(size_t)i * stride] <= 0.5f) continue;
        for (int j = 0; j < n; j++) {
            if (label[(size_t)j * stride] > 0.5f) continue;
            wins += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
        }
    }
    return wins / (pos * neg);
}

static int progress_calls;
static int count_progress(void *ud, int epoch, int epochs, double loss, double frac) {
    (void)ud;
    assert_true(epoch >= 0 && epoch < epochs);
    assert_true(frac > 0 && frac <= 1.0 + 1e-9);
    assert_true(isfinite(loss));
    progress_calls++;
    return 0;
}
static int cancel_progress(void *ud, int epoch, int epochs, double loss, double frac) {
    (void)epoch; (void)epochs; (void)loss; (void)frac;
    return ++*(int *)ud >= 2;
}

#define PIX (3 * DEMO_IMAGE_SIZE * DEMO_IMAGE_SIZE)

/* Sizes of the two training runs (small: the suite runs them in a few seconds). */
#ifndef TRAIN_N
#define TRAIN_N 2048
#endif
#ifndef CONCEPT_EPOCHS
#define CONCEPT_EPOCHS 8
#endif
#ifndef TRAIN_WIDTH
#define TRAIN_WIDTH 16
#endif

/* ---- Tests --------------------------------------------------------------------------- */

static void test_teacher_learns_and_reloads(void **state) {
    (void)state;
    const int ntr = TRAIN_N, nte = 400;
    float *xtr = malloc(sizeof(float) * PIX * ntr), *xte = malloc(sizeof(float) * PIX * nte);
    int64_t *ytr = malloc(sizeof(int64_t) * ntr), *yte = malloc(sizeof(int64_t) * nte);
    assert_non_null(xtr); assert_non_null(xte); assert_non_null(ytr); assert_non_null(yte);
    make_world(ntr, 1, xtr, ytr, NULL);
    make_world(nte, 2, xte, yte, NULL);
    char err[256] = "";
    demo_train_opts o = {.epochs = 3, .batch = 64, .lr = 3e-3, .seed = 7, .width = TRAIN_WIDTH};
    progress_calls = 0;
    int rc = demo_train_teacher(xtr, (size_t)ntr * PIX, ytr, ntr, N_SHAPES, &o, count_progress,
                                NULL, tmp_path("t.pt"), err, sizeof err);
    if (rc) printf("demo_train_teacher: %s\n", err);
    assert_int_equal(rc, DEMO_OK);
    assert_true(progress_calls >= 3);

    float *l1 = malloc(sizeof(float) * nte * N_SHAPES), *l2 = malloc(sizeof(float) * nte * N_SHAPES);
    demo_model *m = demo_model_load(tmp_path("t.pt"), err, sizeof err);
    assert_non_null(m);
    assert_int_equal(demo_model_forward(m, xte, (size_t)nte * PIX, nte, l1, (size_t)nte * N_SHAPES,
                                        err, sizeof err), DEMO_OK);
    /* Wrong output size is refused with a message. */
    assert_int_not_equal(demo_model_forward(m, xte, (size_t)nte * PIX, nte, l2, (size_t)nte * 3,
                                            err, sizeof err), DEMO_OK);
    assert_true(strlen(err) > 0);
    demo_model_free(m);
    int correct = 0;
    for (int i = 0; i < nte; i++) {
        int best = 0;
        for (int k = 1; k < N_SHAPES; k++)
            if (l1[i * N_SHAPES + k] > l1[i * N_SHAPES + best]) best = k;
        correct += best == yte[i];
    }
    double acc = (double)correct / nte;
    printf("teacher held-out accuracy %.3f (chance 0.25)\n", acc);
    assert_true(acc > 0.7);

    /* A fresh load gives identical logits. */
    m = demo_model_load(tmp_path("t.pt"), err, sizeof err);
    assert_non_null(m);
    assert_int_equal(demo_model_forward(m, xte, (size_t)nte * PIX, nte, l2, (size_t)nte * N_SHAPES,
                                        err, sizeof err), DEMO_OK);
    demo_model_free(m);
    assert_memory_equal(l1, l2, sizeof(float) * nte * N_SHAPES);

    /* Same seed, same model (small run, twice). */
    demo_train_opts q = {.epochs = 1, .batch = 64, .seed = 3, .width = 8};
    assert_int_equal(demo_train_teacher(xtr, (size_t)256 * PIX, ytr, 256, N_SHAPES, &q, NULL, NULL,
                                        tmp_path("t2.pt"), err, sizeof err), DEMO_OK);
    assert_int_equal(demo_train_teacher(xtr, (size_t)256 * PIX, ytr, 256, N_SHAPES, &q, NULL, NULL,
                                        tmp_path("t3.pt"), err, sizeof err), DEMO_OK);
    demo_model *a = demo_model_load(tmp_path("t2.pt"), err, sizeof err);
    demo_model *b = demo_model_load(tmp_path("t3.pt"), err, sizeof err);
    assert_non_null(a); assert_non_null(b);
    assert_int_equal(demo_model_forward(a, xte, (size_t)64 * PIX, 64, l1, 64 * N_SHAPES, err, sizeof err), 0);
    assert_int_equal(demo_model_forward(b, xte, (size_t)64 * PIX, 64, l2, 64 * N_SHAPES, err, sizeof err), 0);
    assert_memory_equal(l1, l2, sizeof(float) * 64 * N_SHAPES);
    demo_model_free(a);
    demo_model_free(b);

    free(l1); free(l2); free(xtr); free(xte); free(ytr); free(yte);
}

/* Same seed, same concept model (context layer included): identical grids. */
static void test_concepts_deterministic(void **state) {
    (void)state;
    const int n = 128;
    float *x = malloc(sizeof(float) * n * PIX), *t = malloc(sizeof(float) * n * VOCAB);
    int64_t *y = malloc(sizeof(int64_t) * n);
    const size_t g = (size_t)16 * DEMO_EMBED_DIM * DEMO_GRID * DEMO_GRID;
    float *g1 = malloc(sizeof(float) * g), *g2 = malloc(sizeof(float) * g);
    assert_true(x && t && y && g1 && g2);
    make_world(n, 11, x, y, t);
    char err[512];
    demo_train_opts o = {.epochs = 1, .batch = 32, .seed = 9, .width = 8};
    const char *names[2] = {"c2.pt", "c3.pt"};
    float *out[2] = {g1, g2};
    for (int k = 0; k < 2; k++) {
        char path[600];
        snprintf(path, sizeof path, "%s", tmp_path(names[k]));
        assert_int_equal(demo_train_concepts(x, (size_t)n * PIX, t, (size_t)n * VOCAB, n, VOCAB, &o, NULL,
                                             NULL, path, err, sizeof err), DEMO_OK);
        demo_model *m = demo_model_load(path, err, sizeof err);
        assert_non_null(m);
        assert_int_equal(demo_model_encode_image(m, x, (size_t)16 * PIX, 16, out[k], g, err, sizeof err), DEMO_OK);
        demo_model_free(m);
        unlink(path);
    }
    assert_memory_equal(g1, g2, sizeof(float) * g);
    free(x), free(t), free(y), free(g1), free(g2);
}

static void test_concepts_align_words(void **state) {
    (void)state;
    const int ntr = TRAIN_N, nte = 400;
    const int G = DEMO_GRID * DEMO_GRID, D = DEMO_EMBED_DIM;
    float *xtr = malloc(sizeof(float) * PIX * ntr), *xte = malloc(sizeof(float) * PIX * nte);
    int64_t *ytr = malloc(sizeof(int64_t) * ntr), *yte = malloc(sizeof(int64_t) * nte);
    float *ttr = malloc(sizeof(float) * VOCAB * ntr), *tte = malloc(sizeof(float) * VOCAB * nte);
    assert_non_null(xtr); assert_non_null(xte); assert_non_null(ttr); assert_non_null(tte);
    make_world(ntr, 11, xtr, ytr, ttr);
    make_world(nte, 12, xte, yte, tte);
    char err[256] = "";
    demo_train_opts o = {.epochs = CONCEPT_EPOCHS, .batch = 64, .lr = 3e-3, .seed = 5, .width = TRAIN_WIDTH};
    int rc = demo_train_concepts(xtr, (size_t)ntr * PIX, ttr, (size_t)ntr * VOCAB, ntr, VOCAB,
                                 &o, NULL, NULL, tmp_path("c.pt"), err, sizeof err);
    if (rc) printf("demo_train_concepts: %s\n", err);
    assert_int_equal(rc, DEMO_OK);

    demo_model *m = demo_model_load(tmp_path("c.pt"), err, sizeof err);
    assert_non_null(m);
    float *grid = malloc(sizeof(float) * (size_t)nte * D * G);
    assert_non_null(grid);
    assert_int_equal(demo_model_encode_image(m, xte, (size_t)nte * PIX, nte, grid,
                                             (size_t)nte * D * G, err, sizeof err), DEMO_OK);
    for (int i = 0; i < nte; i += 37)
        for (int l = 0; l < G; l++) {
            double s = 0;
            for (int d = 0; d < D; d++) {
                double v = grid[((size_t)i * D + d) * G + l];
                s += v * v;
            }
            assert_true(fabs(s - 1.0) < 1e-4);
        }

    /* One row per word, one two-word row, one padding-only row. */
    const int L = 3, R = VOCAB + 2;
    int64_t tok[(VOCAB + 2) * 3];
    memset(tok, 0, sizeof tok);
    for (int w = 1; w <= VOCAB; w++) tok[(w - 1) * L + 1] = w;
    tok[VOCAB * L + 0] = W_COLOUR;
    tok[VOCAB * L + 2] = W_SHAPE;
    float *text = malloc(sizeof(float) * R * D);
    assert_int_equal(demo_model_encode_text(m, tok, R, L, text, (size_t)R * D, err, sizeof err),
                     DEMO_OK);
    for (int r = 0; r < VOCAB + 1; r++) {
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)text[r * D + d] * text[r * D + d];
        assert_true(fabs(s - 1.0) < 1e-4);
    }
    for (int d = 0; d < D; d++) assert_true(text[(VOCAB + 1) * D + d] == 0.0f);
    { /* two words = normalised mean of the two */
        double s = 0, dot = 0;
        float mean[DEMO_EMBED_DIM];
        for (int d = 0; d < D; d++) {
            mean[d] = text[(W_COLOUR - 1) * D + d] + text[(W_SHAPE - 1) * D + d];
            s += (double)mean[d] * mean[d];
        }
        for (int d = 0; d < D; d++) dot += mean[d] / sqrt(s) * text[VOCAB * D + d];
        assert_true(dot > 0.9999);
    }
    assert_int_not_equal(demo_model_encode_text(m, tok, R, L, text, (size_t)R * D - 1, err,
                                                sizeof err), DEMO_OK);
    demo_model_free(m);

    /* Per word: max over locations of the cosine, AUC against "word in caption". */
    float *score = malloc(sizeof(float) * nte);
    double sum = 0, lo = 1;
    int words = 0;
    for (int w = 1; w <= VOCAB; w++) {
        const float *e = text + (w - 1) * D;
        for (int i = 0; i < nte; i++) {
            float best = -2;
            for (int l = 0; l < G; l++) {
                float c = 0;
                for (int d = 0; d < D; d++) c += grid[((size_t)i * D + d) * G + l] * e[d];
                if (c > best) best = c;
            }
            score[i] = best;
        }
        double a = auc(score, tte + (w - 1), nte, VOCAB);
        if (a < 0) continue; /* a word never (or always) in the held-out captions */
        printf("word %2d AUC %.3f\n", w, a);
        sum += a;
        words++;
        if (a < lo) lo = a;
    }
    printf("concept model: mean AUC %.3f, lowest %.3f over %d words\n", sum / words, lo, words);
    assert_true(words == VOCAB - 2);
    /* 2048 scenes, 8 epochs, width 16 gave mean 0.965 (triangle lowest, 0.62); at
     * 4096 scenes, 8 epochs, width 32 every word reaches 1.000. */
    assert_true(sum / words > 0.9);
    assert_true(lo > 0.55);

    free(score); free(text); free(grid);
    free(xtr); free(xte); free(ytr); free(yte); free(ttr); free(tte);
}

static void test_cancel(void **state) {
    (void)state;
    const int n = 256;
    float *x = malloc(sizeof(float) * PIX * n), *t = malloc(sizeof(float) * VOCAB * n);
    int64_t *y = malloc(sizeof(int64_t) * n);
    make_world(n, 3, x, y, t);
    char err[256] = "";
    demo_train_opts o = {.epochs = 5, .batch = 32, .width = 8};
    int calls = 0;
    unlink(tmp_path("x.pt"));
    assert_int_equal(demo_train_teacher(x, (size_t)n * PIX, y, n, N_SHAPES, &o, cancel_progress,
                                        &calls, tmp_path("x.pt"), err, sizeof err),
                     DEMO_ECANCELLED);
    assert_int_equal(calls, 2);
    assert_int_not_equal(access(tmp_path("x.pt"), F_OK), 0);
    calls = 0;
    assert_int_equal(demo_train_concepts(x, (size_t)n * PIX, t, (size_t)n * VOCAB, n, VOCAB, &o,
                                         cancel_progress, &calls, tmp_path("x.pt"), err,
                                         sizeof err),
                     DEMO_ECANCELLED);
    assert_int_not_equal(access(tmp_path("x.pt"), F_OK), 0);
    free(x); free(t); free(y);
}

static void test_bad_arguments(void **state) {
    (void)state;
    const int n = 8;
    float *x = calloc((size_t)PIX * n, sizeof(float)), t[8 * VOCAB] = {0};
    int64_t y[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    char err[256];
    const char *out = tmp_path("x.pt");
    err[0] = 0;
    assert_int_equal(demo_train_teacher(x, (size_t)n * PIX - 1, y, n, 4, NULL, NULL, NULL, out, err,
                                        sizeof err), DEMO_EARGS);
    assert_true(strlen(err) > 0);
    y[3] = 4;
    assert_int_equal(demo_train_teacher(x, (size_t)n * PIX, y, n, 4, NULL, NULL, NULL, out, err,
                                        sizeof err), DEMO_EARGS);
    y[3] = 3;
    assert_int_equal(demo_train_teacher(x, (size_t)n * PIX, y, n, 1, NULL, NULL, NULL, out, err,
                                        sizeof err), DEMO_EARGS);
    assert_int_equal(demo_train_teacher(NULL, 0, y, 0, 4, NULL, NULL, NULL, out, err, sizeof err),
                     DEMO_EARGS);
    assert_int_equal(demo_train_concepts(x, (size_t)n * PIX, t, (size_t)n * VOCAB + 1, n, VOCAB,
                                         NULL, NULL, NULL, out, err, sizeof err), DEMO_EARGS);
    assert_int_equal(demo_train_concepts(x, (size_t)n * PIX * 2, t, (size_t)n * VOCAB, n, VOCAB,
                                         NULL, NULL, NULL, out, err, sizeof err), DEMO_EARGS);
    /* An unwritable output is an error, not a crash. */
    demo_train_opts o = {.epochs = 1, .batch = 8, .width = 4};
    err[0] = 0;
    assert_int_equal(demo_train_teacher(x, (size_t)n * PIX, y, n, 4, &o, NULL, NULL,
                                        "/nonexistent-dir/t.pt", err, sizeof err), DEMO_EFAIL);
    assert_true(strlen(err) > 0 && strchr(err, '\n') == NULL);
    /* Loading garbage fails with a message. */
    err[0] = 0;
    assert_null(demo_model_load("/nonexistent-dir/t.pt", err, sizeof err));
    assert_true(strlen(err) > 0);
    demo_model_free(NULL);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_teacher_learns_and_reloads),
        cmocka_unit_test(test_concepts_align_words),
        cmocka_unit_test(test_concepts_deterministic),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
