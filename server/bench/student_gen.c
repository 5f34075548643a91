/* student_gen.c — the synthetic student problems behind `inficond bench student --gen`
 * (see student_gen.h for the two kinds and the files written).
 *
 * Why "embed" is the default: the student's real input is the extraction's presence (presence.h),
 * max over an image's segments of max(0, cos(segment, concept)). Embeddings from one
 * model share a large common direction, so every cosine sits in a narrow band (about
 * 0.1-0.5 here, as with CLIP words), concepts about the same thing are strongly
 * correlated, and no concept is the class: the teacher decides from the image (its
 * object, plus the background it has learnt to lean on), and the concepts only see
 * that through noisy segments. The best sparse linear student therefore spreads over
 * a few dozen correlated concepts per class and cannot match the teacher exactly —
 * the regime the solver meets in the product. "planted" (the earlier generator: base
 * levels plus planted signature concepts, teacher linear in 8 of them per class) is
 * kept for comparison: there the L1 student recovers the teacher's own model.
 *
 * Leaves out: images, segment geometry, and any tie to the demo world's classes.
 */
#include "bench/student_gen.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct sg_rng {
    uint64_t s;
} sg_rng;

static double sg_u(sg_rng *r) {
    r->s ^= r->s << 13, r->s ^= r->s >> 7, r->s ^= r->s << 17;
    return (double)(r->s >> 11) * (1.0 / 9007199254740992.0);
}
static double sg_n(sg_rng *r) { return sqrt(-2 * log(sg_u(r) + 1e-300)) * cos(6.283185307179586 * sg_u(r)); }
static size_t sg_pick(sg_rng *r, size_t m) { return (size_t)(sg_u(r) * (double)m) % m; }

int student_gen_kind_parse(const char *s) {
    if (!strcmp(s, "embed")) return STUDENT_GEN_EMBED;
    if (!strcmp(s, "planted")) return STUDENT_GEN_PLANTED;
    return -1;
}

const char *student_gen_kind_name(student_gen_kind k) { return k == STUDENT_GEN_PLANTED ? "planted" : "embed"; }

/* ---- output files ----------------------------------------------------------------- */

typedef struct sg_out {
    FILE *x, *p, *y;
} sg_out;

static int sg_open(sg_out *o, const char *dir, err *e) {
    char path[4096];
    memset(o, 0, sizeof *o);
    if (mkdir(dir, 0755) && errno != EEXIST) return err_set(e, ERR_IO, "mkdir %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/X.f32", dir), o->x = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/P.f32", dir), o->p = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/y.i32", dir), o->y = fopen(path, "wb");
    if (!o->x || !o->p || !o->y) return err_set(e, ERR_IO, "cannot write to %s: %s", dir, strerror(errno));
    return 0;
}

/* rows: x (m, D), p (m, C), y (m) */
static int sg_write(sg_out *o, const float *x, const float *p, const int32_t *y, size_t m, size_t d, size_t c,
                    err *e) {
    if (fwrite(x, sizeof *x, m * d, o->x) != m * d || fwrite(p, sizeof *p, m * c, o->p) != m * c ||
        fwrite(y, sizeof *y, m, o->y) != m)
        return err_set(e, ERR_IO, "writing the synthetic problem failed: %s", strerror(errno));
    return 0;
}

static int sg_close(sg_out *o, const char *dir, student_gen_kind kind, size_t n, size_t d, size_t c, uint64_t seed,
                    err *e) {
    int bad = 0;
    if (o->x) bad |= fclose(o->x);
    if (o->p) bad |= fclose(o->p);
    if (o->y) bad |= fclose(o->y);
    memset(o, 0, sizeof *o);
    if (bad) return err_set(e, ERR_IO, "closing files in %s failed", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *fm = fopen(path, "w");
    if (!fm) return err_set(e, ERR_IO, "cannot write %s", path);
    fprintf(fm, "{\"kind\":\"%s\",\"n\":%zu,\"d\":%zu,\"c\":%zu,\"seed\":%llu}\n", student_gen_kind_name(kind), n, d, c,
            (unsigned long long)seed);
    if (fclose(fm)) return err_set(e, ERR_IO, "closing %s failed", path);
    return 0;
}

static void sg_softmax(double *z, size_t c, float *p) {
    double mx = -1e300, sum = 0;
    for (size_t k = 0; k < c; k++)
        if (z[k] > mx) mx = z[k];
    for (size_t k = 0; k < c; k++) sum += (z[k] = exp(z[k] - mx));
    for (size_t k = 0; k < c; k++) p[k] = (float)(z[k] / sum);
}

/* ---- planted (the earlier generator) ------------------------------------------------ */

/* Every concept has a base level in 0.1-0.3 with per-image noise; each class has 4
 * signature concepts (0.45-0.9, in 70% of its images), one preferred background among
 * 8 (60% of its images; others draw one at random), and every image has 3 random
 * distractor concepts (0.35-0.7). The teacher: a sparse linear model on X (signatures
 * +5, preferred background +1.5, 3 negative concepts -2 per class) plus N(0, 0.8) logit
 * noise, softmax. Labels: the scene's class. */
static int sg_planted(sg_out *o, size_t n, size_t d, size_t c, sg_rng *r, err *e) {
    double *base = malloc(d * sizeof *base);    // (D)
    size_t *sig = malloc(c * 4 * sizeof *sig);  // (C, 4)
    size_t bgc[8];                              // the background concepts
    double *beta = calloc(c * d, sizeof *beta); // (C, D)
    float *x = malloc(d * sizeof *x), *p = malloc(c * sizeof *p);
    double *z = malloc(c * sizeof *z);
    size_t *perm = malloc(d * sizeof *perm);
    int rc = 0;
    if (!base || !sig || !beta || !x || !p || !z || !perm) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < d; j++) base[j] = 0.1 + 0.2 * sg_u(r), perm[j] = j;
    for (size_t j = d - 1; j > 0; j--) {
        size_t q = sg_pick(r, j + 1), t = perm[j];
        perm[j] = perm[q], perm[q] = t;
    }
    for (size_t k = 0; k < c; k++)
        for (size_t s = 0; s < 4; s++) sig[k * 4 + s] = perm[k * 4 + s];
    for (size_t s = 0; s < 8; s++) bgc[s] = perm[4 * c + s];
    for (size_t k = 0; k < c; k++) {
        for (size_t s = 0; s < 4; s++) beta[k * d + sig[k * 4 + s]] = 5.0;
        beta[k * d + bgc[k % 8]] += 1.5;
        for (int s = 0; s < 3; s++) beta[k * d + perm[sg_pick(r, d)]] -= 2.0;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t y = (int32_t)sg_pick(r, c);
        for (size_t j = 0; j < d; j++) x[j] = (float)fmin(1, fmax(0, base[j] + 0.05 * sg_n(r)));
        for (size_t s = 0; s < 4; s++)
            if (sg_u(r) < 0.7) x[sig[(size_t)y * 4 + s]] = (float)(0.45 + 0.45 * sg_u(r));
        size_t bg = sg_u(r) < 0.6 ? bgc[(size_t)y % 8] : bgc[sg_pick(r, 8)];
        x[bg] = (float)(0.4 + 0.4 * sg_u(r));
        for (int s = 0; s < 3; s++) x[sg_pick(r, d)] = (float)(0.35 + 0.35 * sg_u(r));
        for (size_t k = 0; k < c; k++) {
            double v = 0.8 * sg_n(r);
            for (size_t j = 0; j < d; j++)
                if (beta[k * d + j] != 0) v += beta[k * d + j] * x[j];
            z[k] = v;
        }
        sg_softmax(z, c, p);
        rc = sg_write(o, x, p, &y, 1, d, c, e);
    }
out:
    free(base), free(sig), free(beta), free(x), free(p), free(z), free(perm);
    return rc;
}

/* ---- embed (the default) ------------------------------------------------------------ */

enum {
    SG_R = 64,     /* embedding dimension                                   */
    SG_S = 4,      /* segments per image: object, part, background, clutter */
    SG_BG = 8,     /* backgrounds                                           */
    SG_PARTS = 5,  /* concepts about each class (parts, attributes)         */
    SG_BGC = 4,    /* concepts about each background                        */
    SG_BLOCK = 512 /* images per SGEMM                                      */
};

/* v (SG_R) += a * (a random direction of unit length) */
static void sg_add_noise(sg_rng *r, float *v, double a) {
    double t[SG_R], s = 0;
    for (int q = 0; q < SG_R; q++) t[q] = sg_n(r), s += t[q] * t[q];
    s = a / sqrt(s);
    for (int q = 0; q < SG_R; q++) v[q] += (float)(s * t[q]);
}

static void sg_axpy(float *v, const float *u, double a) {
    for (int q = 0; q < SG_R; q++) v[q] += (float)(a * u[q]);
}

static void sg_normalise(float *v) {
    double s = 0;
    for (int q = 0; q < SG_R; q++) s += (double)v[q] * v[q];
    s = s > 0 ? 1.0 / sqrt(s) : 0;
    for (int q = 0; q < SG_R; q++) v[q] = (float)(v[q] * s);
}

/* Directions: g (shared by every embedding), one prototype u_k per class, one v_b per
 * background. Concepts (unit, D x R): SG_PARTS per class (g + 0.5 u_k + noise; the
 * first also carries a neighbour class: a shared part), SG_BGC per background, the
 * rest generic (g + noise, half with a faint tie to a random class: the long tail of
 * loosely related words). An image of class y: object o = u_y, mixed with a fixed
 * confusable class by a random amount (ambiguous images), plus noise; background the
 * class's preferred one with probability 0.6. Segments: g + object, g + weaker object
 * (a part), g + background, g + a faint random object (clutter), each with noise;
 * presence = max(0, max over segments of the cosine). The teacher: logits 8 <o, u_k>
 * + 1.5 when the background is class k's preferred one + N(0, 0.7), softmax. */
static int sg_embed(sg_out *o, size_t n, size_t d, size_t c, sg_rng *r, err *e) {
    const size_t spec = SG_PARTS * c + SG_BGC * SG_BG;
    float g[SG_R] = {0};
    float *u = calloc(c * SG_R, sizeof *u);                    // (C, R)
    float *v = calloc(SG_BG * SG_R, sizeof *v);                // (BG, R)
    float *E = calloc(d * SG_R, sizeof *E);                    // (D, R) concepts
    float *seg = malloc(SG_BLOCK * SG_S * SG_R * sizeof *seg); // (B S, R)
    float *cs = malloc(SG_BLOCK * SG_S * d * sizeof *cs);      // (B S, D) cosines
    float *x = malloc(SG_BLOCK * d * sizeof *x);               // (B, D)
    float *p = malloc(SG_BLOCK * c * sizeof *p);               // (B, C)
    int32_t y[SG_BLOCK];
    double *z = malloc(c * sizeof *z);
    size_t *pref = malloc(c * sizeof *pref), *conf = malloc(c * sizeof *conf);
    int rc = 0;
    if (!u || !v || !E || !seg || !cs || !x || !p || !z || !pref || !conf) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    sg_add_noise(r, g, 1.0);
    for (size_t k = 0; k < c; k++) {
        sg_add_noise(r, u + k * SG_R, 1.0);
        pref[k] = k % SG_BG;
        conf[k] = (k + 1 + sg_pick(r, c - 1)) % c;
    }
    for (size_t b = 0; b < SG_BG; b++) sg_add_noise(r, v + b * SG_R, 1.0);
    for (size_t j = 0; j < d; j++) {
        float *ej = E + j * SG_R;
        sg_axpy(ej, g, 0.6);
        if (j < SG_PARTS * c) {
            size_t k = j / SG_PARTS;
            sg_axpy(ej, u + k * SG_R, 0.5);
            if (j % SG_PARTS == 0) sg_axpy(ej, u + ((k + 1) % c) * SG_R, 0.35);
            sg_add_noise(r, ej, 0.8);
        } else if (j < spec) {
            sg_axpy(ej, v + ((j - SG_PARTS * c) / SG_BGC) * SG_R, 0.5);
            sg_add_noise(r, ej, 0.8);
        } else {
            if (sg_u(r) < 0.5) sg_axpy(ej, u + sg_pick(r, c) * SG_R, 0.25);
            sg_add_noise(r, ej, 1.0);
        }
        sg_normalise(ej);
    }
    /* shuffle the concepts' order so that no block structure is left in X's columns */
    for (size_t j = d - 1; j > 0; j--) {
        size_t q = sg_pick(r, j + 1);
        float t[SG_R];
        memcpy(t, E + j * SG_R, sizeof t);
        memcpy(E + j * SG_R, E + q * SG_R, sizeof t);
        memcpy(E + q * SG_R, t, sizeof t);
    }
    for (size_t i0 = 0; i0 < n && !rc; i0 += SG_BLOCK) {
        size_t m = n - i0 < SG_BLOCK ? n - i0 : SG_BLOCK;
        for (size_t i = 0; i < m; i++) {
            size_t yi = sg_pick(r, c), bg = sg_u(r) < 0.6 ? pref[yi] : sg_pick(r, SG_BG);
            float ob[SG_R] = {0};
            sg_axpy(ob, u + yi * SG_R, 1.0);
            double mix = sg_u(r);
            sg_axpy(ob, u + conf[yi] * SG_R, 0.9 * mix);
            sg_add_noise(r, ob, 0.7);
            sg_normalise(ob);
            float *s = seg + i * SG_S * SG_R;
            memset(s, 0, SG_S * SG_R * sizeof *s);
            for (int q = 0; q < SG_S; q++) sg_axpy(s + q * SG_R, g, 0.45);
            sg_axpy(s, ob, 0.8), sg_add_noise(r, s, 0.7);
            sg_axpy(s + SG_R, ob, 0.5), sg_add_noise(r, s + SG_R, 0.9);
            sg_axpy(s + 2 * SG_R, v + bg * SG_R, 0.8), sg_add_noise(r, s + 2 * SG_R, 0.7);
            sg_axpy(s + 3 * SG_R, u + sg_pick(r, c) * SG_R, 0.3), sg_add_noise(r, s + 3 * SG_R, 0.9);
            for (int q = 0; q < SG_S; q++) sg_normalise(s + q * SG_R);
            for (size_t k = 0; k < c; k++) {
                double dot = 0;
                for (int q = 0; q < SG_R; q++) dot += (double)ob[q] * u[k * SG_R + q];
                z[k] = 6.0 * dot + (bg == pref[k] ? 1.5 : 0.0) + 1.0 * sg_n(r);
            }
            sg_softmax(z, c, p + i * c);
            y[i] = (int32_t)yi;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(m * SG_S), (int)d, SG_R, 1.0f, seg, SG_R, E, SG_R,
                    0.0f, cs, (int)d);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < d; j++) {
                float best = 0.0f;
                for (int q = 0; q < SG_S; q++) {
                    float t = cs[(i * SG_S + (size_t)q) * d + j];
                    if (t > best) best = t;
                }
                x[i * d + j] = best;
            }
        rc = sg_write(o, x, p, y, m, d, c, e);
    }
out:
    free(u), free(v), free(E), free(seg), free(cs), free(x), free(p), free(z), free(pref), free(conf);
    return rc;
}

int student_gen_write(const char *dir, student_gen_kind kind, size_t n, size_t d, size_t c, uint64_t seed,
                      err *e) {
    if (n == 0 || c < 2) return err_set(e, ERR_UNPROCESSABLE, "--gen needs N >= 1 and C >= 2");
    if (kind == STUDENT_GEN_PLANTED && d < 4 * c + 8)
        return err_set(e, ERR_UNPROCESSABLE, "--gen-kind planted needs D >= 4 C + 8 = %zu", 4 * c + 8);
    if (kind == STUDENT_GEN_EMBED && d < SG_PARTS * c + SG_BGC * SG_BG + 8)
        return err_set(e, ERR_UNPROCESSABLE, "--gen-kind embed needs D >= %d C + %d = %zu", SG_PARTS,
                       SG_BGC * SG_BG + 8, SG_PARTS * c + SG_BGC * SG_BG + 8);
    sg_rng r = {seed * 0x9E3779B97F4A7C15ULL + 88172645463325252ULL};
    sg_out o;
    int rc = sg_open(&o, dir, e);
    if (!rc) rc = kind == STUDENT_GEN_PLANTED ? sg_planted(&o, n, d, c, &r, e) : sg_embed(&o, n, d, c, &r, e);
    if (rc) {
        if (o.x) fclose(o.x);
        if (o.p) fclose(o.p);
        if (o.y) fclose(o.y);
        return rc;
    }
    return sg_close(&o, dir, kind, n, d, c, seed, e);
}
