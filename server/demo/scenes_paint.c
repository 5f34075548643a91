/* scenes_paint.c — painting a planned scene: value-noise textures for the
 * backgrounds and the tinted, outlined, shadowed Fashion-MNIST items (the rules are
 * in scenes.c's opening comment). Pure functions of their inputs. */
#include "demo/scenes_paint.h"

#include <math.h>
#include <stdint.h>

/* Tints, linear 0..1 RGB, same order as the colour words (scenes.c). */
static const float tints[SCENES_COLOURS][3] = {
    {0.92f, 0.10f, 0.10f}, {0.15f, 0.35f, 1.00f}, {0.30f, 0.95f, 0.30f},
    {0.98f, 0.86f, 0.10f}, {0.08f, 0.08f, 0.08f}, {0.97f, 0.97f, 0.97f}};

uint64_t scenes_hash64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- noise */

static float lattice(uint64_t seed, int ix, int iy) {
    uint64_t h = scenes_hash64(seed ^ ((uint64_t)(uint32_t)ix << 32 | (uint32_t)iy));
    return (float)(h >> 40) * (1.0f / 16777216.0f);
}
static float fade(float t) { return t * t * (3.0f - 2.0f * t); }
/* The four corners of the last lattice cell one noise call site used: pixels are
 * visited row by row and cells span several pixels, so most lookups hit. */
typedef struct cell_memo {
    int ix, iy;
    float a, b, c, d;
} cell_memo;
#define MEMO_EMPTY {INT32_MIN, INT32_MIN, 0, 0, 0, 0}

/* Smooth value noise in [0, 1], one lattice cell per unit. One memo per (call site,
 * seed): the memo does not remember the seed. */
static float vnoise(cell_memo *m, uint64_t seed, float x, float y) {
    /* floorf is a libm call on baseline x86-64; truncate and fix up negatives. */
    int ix = (int)x, iy = (int)y;
    ix -= x < (float)ix;
    iy -= y < (float)iy;
    if (ix != m->ix || iy != m->iy) {
        m->ix = ix;
        m->iy = iy;
        m->a = lattice(seed, ix, iy);
        m->b = lattice(seed, ix + 1, iy);
        m->c = lattice(seed, ix, iy + 1);
        m->d = lattice(seed, ix + 1, iy + 1);
    }
    float tx = fade(x - (float)ix), ty = fade(y - (float)iy);
    float top = m->a + (m->b - m->a) * tx, bottom = m->c + (m->d - m->c) * tx;
    return top + (bottom - top) * ty;
}
/* Three octaves, normalised back to [0, 1]; memo holds one cell per octave. */
static float fbm(cell_memo memo[3], uint64_t seed, float x, float y) {
    float sum = 0, amp = 1, norm = 0;
    for (int o = 0; o < 3; o++) {
        sum += amp * vnoise(&memo[o], seed + (uint64_t)o * 0x51ED27ull, x, y);
        norm += amp;
        amp *= 0.5f;
        x *= 2.03f;
        y *= 2.03f;
    }
    return sum / norm;
}
static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
static float smooth(float e0, float e1, float v) { return fade(clampf((v - e0) / (e1 - e0), 0, 1)); }

/* ---------------------------------------------------------------- backgrounds */

/* Draw background `kind` into rgb (H, W, 3), values roughly 0..1. `bright` scales the
 * whole texture so the same kind is not one fixed brightness (a trivial cue). */
void scenes_draw_background(int kind, uint64_t seed, float bright, float *rgb) {
    const int S = SCENES_SIZE;
    uint64_t s1 = scenes_hash64(seed ^ 1), s2 = scenes_hash64(seed ^ 2), s3 = scenes_hash64(seed ^ 3);
    /* Offsets move the pattern grid so textures of one kind do not line up. */
    int ox = (int)(scenes_hash64(seed ^ 4) % 16), oy = (int)(scenes_hash64(seed ^ 5) % 16);
    float phase = (float)(scenes_hash64(seed ^ 6) % 1000) * 0.00628f;
    cell_memo m1[3] = {MEMO_EMPTY, MEMO_EMPTY, MEMO_EMPTY}, m2 = MEMO_EMPTY;
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            float *p = rgb + ((size_t)y * S + x) * 3, r, g, b;
            float grain = lattice(s3, x, y) - 0.5f; /* per-pixel, uncorrelated */
            switch (kind) {
            case BG_GRASS: {
                float patch = fbm(m1, s1, x / 14.0f, y / 14.0f);
                float blade = vnoise(&m2, s2, x / 1.3f, y / 5.0f) - 0.5f; /* vertical streaks */
                float k = 0.70f + 0.55f * patch + 0.55f * blade;
                r = 0.22f * k + 0.05f * grain;
                g = 0.42f * k + 0.08f * grain;
                b = 0.10f * k;
                break;
            }
            case BG_WATER: {
                float d = fbm(m1, s1, x / 18.0f, y / 18.0f);
                float wave = sinf(y * 0.55f + x * 0.12f + d * 6.0f + phase);
                float hi = smooth(0.75f, 1.0f, wave) * 0.30f;
                float k = 0.80f + 0.40f * d;
                r = 0.10f * k + 0.04f * wave + hi;
                g = 0.33f * k + 0.07f * wave + hi;
                b = 0.62f * k + 0.09f * wave + hi;
                break;
            }
            case BG_SAND: {
                float d = fbm(m1, s1, x / 20.0f, y / 20.0f);
                float rip = sinf(x * 0.35f + y * 0.90f + d * 5.0f + phase);
                float k = 0.86f + 0.20f * d + 0.06f * rip + 0.16f * grain;
                r = 0.86f * k;
                g = 0.73f * k;
                b = 0.50f * k;
                break;
            }
            case BG_WOOD: {
                const int plank_h = 16;
                int yy = y + oy, plank = yy / plank_h;
                float tone = 0.80f + 0.35f * lattice(s2, plank, 7);
                float ring = fbm(m1, s1, x / 24.0f + (float)plank * 7.3f, yy / 4.0f);
                float grainline = sinf(yy * 1.4f + ring * 9.0f + (float)plank);
                float k = tone * (0.82f + 0.12f * grainline + 0.10f * grain);
                int joint = (int)(lattice(s2, plank, 11) * S);
                if (yy % plank_h == 0) k *= 0.45f;                  /* seam between planks */
                else if (x == joint || x == joint + 1) k *= 0.60f;  /* butt joint         */
                r = 0.58f * k;
                g = 0.36f * k;
                b = 0.18f * k;
                break;
            }
            case BG_BRICK: {
                const int bw = 16, bh = 8;
                int yy = y + oy, row = yy / bh;
                int xx = x + ox + (row & 1) * (bw / 2), col = xx / bw;
                int lx = xx % bw, ly = yy % bh;
                if (lx == 0 || ly == 0) { /* mortar */
                    float k = 0.88f + 0.15f * grain;
                    r = 0.74f * k;
                    g = 0.71f * k;
                    b = 0.64f * k;
                } else {
                    float tone = 0.78f + 0.40f * lattice(s2, col, row);
                    float k = tone * (0.85f + 0.25f * (fbm(m1, s1, x / 6.0f, y / 6.0f) - 0.5f) +
                                      0.18f * grain);
                    r = 0.64f * k;
                    g = 0.26f * k;
                    b = 0.17f * k;
                }
                break;
            }
            default: { /* BG_SNOW */
                float d = fbm(m1, s1, x / 22.0f, y / 22.0f);
                float t = smooth(0.30f, 0.70f, d);
                r = 0.74f + 0.23f * t + 0.05f * grain;
                g = 0.81f + 0.17f * t + 0.05f * grain;
                b = 0.93f + 0.07f * t + 0.03f * grain;
                if (grain > 0.49f) r = g = b = 1.05f; /* sparkle */
                break;
            }
            }
            p[0] = r * bright;
            p[1] = g * bright;
            p[2] = b * bright;
        }
    }
}

/* ---------------------------------------------------------------- items */

/* Composite one Fashion-MNIST image, tinted, into rgb (H, W, 3) over box (x, y, size). */
void scenes_draw_item(const uint8_t *img /* (28, 28) */, const scene_item *it, float *rgb) {
    const int S = SCENES_SIZE;
    float alpha[SCENES_SIZE * SCENES_SIZE] = {0}; // (H, W)
    float shade[SCENES_SIZE * SCENES_SIZE] = {0}; // (H, W)
    int vmax = 1;
    for (int i = 0; i < FM_SIDE * FM_SIDE; i++)
        if (img[i] > vmax) vmax = img[i];
    /* Silhouette from raw intensity (dark garments are still opaque); shading from
     * intensity relative to the image's brightest pixel, so a dark boot keeps its
     * highlights and a pale shirt its folds. */
    float step = (float)FM_SIDE / (float)it->size;
    for (int py = it->y; py < it->y + it->size; py++) {
        if (py < 0 || py >= S) continue;
        for (int px = it->x; px < it->x + it->size; px++) {
            if (px < 0 || px >= S) continue;
            float u = (px - it->x + 0.5f) * step - 0.5f, v = (py - it->y + 0.5f) * step - 0.5f;
            int u0 = (int)floorf(u), v0 = (int)floorf(v);
            float fu = u - u0, fv = v - v0, val = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    int uu = u0 + dx, vv = v0 + dy;
                    if (uu < 0 || vv < 0 || uu >= FM_SIDE || vv >= FM_SIDE) continue;
                    float wgt = (dx ? fu : 1 - fu) * (dy ? fv : 1 - fv);
                    val += wgt * img[vv * FM_SIDE + uu];
                }
            size_t k = (size_t)py * S + px;
            alpha[k] = clampf((val - 6.0f) / 22.0f, 0, 1);
            shade[k] = val / (float)vmax;
        }
    }
    const float *tint = tints[it->colour];
    int dark = it->colour == COL_BLACK;
    /* Outline contrasts with the tint: light around black items, dark around the rest. */
    float line = dark ? 0.92f : 0.04f;
    int x0 = it->x - 3 > 0 ? it->x - 3 : 0, y0 = it->y - 3 > 0 ? it->y - 3 : 0;
    int x1 = it->x + it->size + 3 < S ? it->x + it->size + 3 : S;
    int y1 = it->y + it->size + 3 < S ? it->y + it->size + 3 : S;
    for (int py = y0; py < y1; py++) {
        for (int px = x0; px < x1; px++) {
            size_t k = (size_t)py * S + px;
            float *p = rgb + k * 3;
            /* Soft drop shadow: the silhouette shifted down-right by 2 px. */
            float sh = (py >= 2 && px >= 2) ? alpha[(size_t)(py - 2) * S + px - 2] : 0;
            for (int c = 0; c < 3; c++) p[c] *= 1.0f - 0.35f * sh;
            float nb = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qy = py + dy, qx = px + dx;
                    if (qy < 0 || qx < 0 || qy >= S || qx >= S) continue;
                    if (alpha[(size_t)qy * S + qx] > nb) nb = alpha[(size_t)qy * S + qx];
                }
            float a = alpha[k], o = clampf(nb - a, 0, 1);
            for (int c = 0; c < 3; c++) p[c] += (line - p[c]) * o;
            if (a <= 0) continue;
            float s = shade[k];
            for (int c = 0; c < 3; c++) {
                float col = dark ? 0.03f + 0.25f * s : tint[c] * (0.52f + 0.48f * s);
                p[c] += (col - p[c]) * a;
            }
        }
    }
}
