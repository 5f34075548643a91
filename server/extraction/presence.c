/* presence.c — tiled SGEMM presence, nearest concepts, top-K galleries and the
 * one-column SGEMV for a new concept (see presence.h).
 *
 * The reductions after each SGEMM are written as plain loops over contiguous rows
 * that the compiler vectorises (max without branches); the gallery check costs one
 * compare per (image, concept) against the heap's worst score, and only an image
 * that enters a heap pays for finding its producing segment.
 */
#include "extraction/presence.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"

/* Rows per SGEMV block in presence_add_concept: the (rows) result stays in L2. */
#define PRESENCE_GEMV_ROWS 16384

void presence_free(presence *p) {
    if (!p) return;
    free(p->tile);
    free(p->heap);
    free(p->heap_len);
    free(p->bar);
    memset(p, 0, sizeof *p);
}

void presence_reset(presence *p) {
    if (!p || !p->heap_len) return;
    memset(p->heap_len, 0, (size_t)p->d * sizeof *p->heap_len);
    memset(p->bar, 0, (size_t)p->d * sizeof *p->bar);
}

int presence_init(presence *p, int dim, int d, int top_k, size_t tile_rows, err *e) {
    memset(p, 0, sizeof *p);
    if (dim < 1 || d < 1 || top_k < 0 || top_k > PRESENCE_MAX_TOP_K)
        return err_set(e, ERR_BAD_REQUEST, "presence: bad sizes (dim %d, concepts %d, top_k %d)", dim, d, top_k);
    if (tile_rows == 0) tile_rows = PRESENCE_DEFAULT_TILE;
    p->dim = dim;
    p->d = d;
    p->top_k = top_k;
    p->tile_rows = tile_rows;
    p->tile_cap = tile_rows;
    p->tile = malloc(tile_rows * (size_t)d * sizeof *p->tile);               // (tile_rows, d)
    p->heap = malloc(((size_t)d * (top_k ? top_k : 1)) * sizeof *p->heap); // (d, top_k)
    p->heap_len = calloc((size_t)d, sizeof *p->heap_len);                  // (d)
    p->bar = calloc((size_t)d, sizeof *p->bar);                            // (d)
    if (!p->tile || !p->heap || !p->heap_len || !p->bar) {
        presence_free(p);
        return err_set(e, ERR_INTERNAL, "presence: out of memory");
    }
    return 0;
}

/* a ranks below b: lower score, or equal score and a later image. */
static int hit_worse(const presence_hit *a, const presence_hit *b) {
    return a->score < b->score || (a->score == b->score && a->image > b->image);
}

static void heap_sift_down(presence_hit *h, int len, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < len && hit_worse(&h[l], &h[m])) m = l;
        if (r < len && hit_worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        presence_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_push(presence_hit *h, int32_t *len, int cap, presence_hit x) {
    if (*len < cap) {
        int i = (*len)++;
        h[i] = x;
        while (i > 0) {
            int parent = (i - 1) / 2;
            if (!hit_worse(&h[i], &h[parent])) break;
            presence_hit t = h[i];
            h[i] = h[parent];
            h[parent] = t;
            i = parent;
        }
    } else if (hit_worse(&h[0], &x)) {
        h[0] = x;
        heap_sift_down(h, cap, 0);
    }
}

static int hit_cmp_best_first(const void *a, const void *b) {
    const presence_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->image > y->image) - (x->image < y->image);
}

/* The per-tile reductions, vectorised with SSE (baseline x86-64) and written with
 * several independent accumulators: a scalar max chain costs ~4 cycles an element,
 * which at D=64 was more than the SGEMM itself. Portable scalar versions elsewhere. */
#if defined(__SSE2__)
#include <emmintrin.h>
#define PRESENCE_SSE 1
#endif

/* o = max(o, row) element-wise (o = max(0, row) when first), and return max(row). */
static float row_reduce(const float *restrict row, float *restrict o, int n, int first) {
    int i = 0;
#ifdef PRESENCE_SSE
    __m128 m0 = _mm_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    const __m128 zero = _mm_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        __m128 a = _mm_loadu_ps(row + i), b = _mm_loadu_ps(row + i + 4);
        __m128 c = _mm_loadu_ps(row + i + 8), d = _mm_loadu_ps(row + i + 12);
        m0 = _mm_max_ps(m0, a);
        m1 = _mm_max_ps(m1, b);
        m2 = _mm_max_ps(m2, c);
        m3 = _mm_max_ps(m3, d);
        __m128 oa = first ? zero : _mm_loadu_ps(o + i), ob = first ? zero : _mm_loadu_ps(o + i + 4);
        __m128 oc = first ? zero : _mm_loadu_ps(o + i + 8), od = first ? zero : _mm_loadu_ps(o + i + 12);
        _mm_storeu_ps(o + i, _mm_max_ps(oa, a));
        _mm_storeu_ps(o + i + 4, _mm_max_ps(ob, b));
        _mm_storeu_ps(o + i + 8, _mm_max_ps(oc, c));
        _mm_storeu_ps(o + i + 12, _mm_max_ps(od, d));
    }
    m0 = _mm_max_ps(_mm_max_ps(m0, m1), _mm_max_ps(m2, m3));
    float lanes[4];
    _mm_storeu_ps(lanes, m0);
    float m = lanes[0];
    for (int k = 1; k < 4; k++) m = lanes[k] > m ? lanes[k] : m;
#else
    float m = -INFINITY;
#endif
    for (; i < n; i++) {
        float v = row[i], prev = first ? 0.0f : o[i];
        m = v > m ? v : m;
        o[i] = v > prev ? v : prev;
    }
    return m;
}

/* Index of the first element of x (n) equal to v (v must occur). */
static int find_first(const float *x, int n, float v) {
    int i = 0;
#ifdef PRESENCE_SSE
    const __m128 vv = _mm_set1_ps(v);
    for (; i + 4 <= n; i += 4) {
        int mask = _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i), vv));
        if (mask) return i + __builtin_ctz((unsigned)mask);
    }
#endif
    for (; i < n; i++)
        if (x[i] == v) return i;
    return n - 1; /* not reached for a v taken from x */
}

/* Next c >= start with o[c] > thr[c], or n. */
static int next_above(const float *o, const float *thr, int start, int n) {
    int c = start;
#ifdef PRESENCE_SSE
    for (; c < n && (c & 3); c++)
        if (o[c] > thr[c]) return c;
    for (; c + 4 <= n; c += 4) {
        int mask = _mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(o + c), _mm_loadu_ps(thr + c)));
        if (mask) return c + __builtin_ctz((unsigned)mask);
    }
#endif
    for (; c < n; c++)
        if (o[c] > thr[c]) return c;
    return n;
}

static int presence_check_offsets(const uint64_t *offsets, int n, err *e) {
    for (int i = 0; i < n; i++)
        if (offsets[i + 1] < offsets[i]) return err_set(e, ERR_BAD_REQUEST, "presence: offsets not increasing");
    return 0;
}

int presence_run(presence *p, const float *concepts, const float *seg, const uint64_t *offsets, int n,
                 int image_base, float *out, int32_t *nearest, float *nearest_cos, err *e) {
    if (!p || !p->tile) return err_set(e, ERR_BAD_REQUEST, "presence: not initialised");
    if (n < 0 || (n > 0 && (!concepts || !offsets || !out)) || (!nearest) != (!nearest_cos))
        return err_set(e, ERR_BAD_REQUEST, "presence: bad arguments");
    if (n == 0) return 0;
    if (presence_check_offsets(offsets, n, e) < 0) return -1;
    if (offsets[n] > offsets[0] && !seg) return err_set(e, ERR_BAD_REQUEST, "presence: no segments");
    const int d = p->d, dim = p->dim, K = p->top_k;
    const uint64_t row0 = offsets[0];

    int i = 0;
    while (i < n) {
        /* the tile: whole images [i, j) with at most tile_rows segments (or one image) */
        const uint64_t r0 = offsets[i];
        int j = i + 1;
        while (j < n && offsets[j + 1] - r0 <= p->tile_rows) j++;
        const size_t rows = (size_t)(offsets[j] - r0);
        if (rows > p->tile_cap) {
            float *t = realloc(p->tile, rows * (size_t)d * sizeof *t);
            if (!t) return err_set(e, ERR_INTERNAL, "presence: out of memory");
            p->tile = t;
            p->tile_cap = rows;
        }
        if (rows > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, d, dim, 1.0f, seg + r0 * (size_t)dim,
                        dim, concepts, dim, 0.0f, p->tile, d);

        for (int ii = i; ii < j; ii++) {
            float *o = out + (size_t)ii * d; // (d)
            const int cnt = (int)(offsets[ii + 1] - offsets[ii]);
            if (cnt == 0) {
                memset(o, 0, (size_t)d * sizeof *o);
                continue;
            }
            const size_t lr = (size_t)(offsets[ii] - r0);  /* first row in the tile */
            const float *base = p->tile + lr * d;           // (cnt, d)
            for (int s = 0; s < cnt; s++) {
                const float *row = base + (size_t)s * d;
                float m = row_reduce(row, o, d, s == 0);
                if (nearest) {
                    const size_t gr = (size_t)(r0 - row0) + lr + (size_t)s;
                    nearest[gr] = find_first(row, d, m);
                    nearest_cos[gr] = m;
                }
            }
            if (K == 0) continue;
            /* gallery: only concepts whose score beats the heap's entry bar */
            const int32_t img = image_base + ii;
            for (int c = next_above(o, p->bar, 0, d); c < d; c = next_above(o, p->bar, c + 1, d)) {
                const float v = o[c];
                presence_hit *h = p->heap + (size_t)c * K;
                int s = 0;
                while (base[(size_t)s * d + c] != v) s++;
                heap_push(h, &p->heap_len[c], K, (presence_hit){img, s, v});
                /* full heap: equal scores never displace (earlier images rank first) */
                if (p->heap_len[c] == K) p->bar[c] = h[0].score;
            }
        }
        i = j;
    }
    return 0;
}

int presence_gallery(const presence *p, int concept, presence_hit *out, int *count, err *e) {
    *count = 0;
    if (!p || !p->heap_len || concept < 0 || concept >= p->d)
        return err_set(e, ERR_BAD_REQUEST, "presence: no concept %d", concept);
    int len = p->heap_len[concept];
    memcpy(out, p->heap + (size_t)concept * p->top_k, (size_t)len * sizeof *out);
    qsort(out, (size_t)len, sizeof *out, hit_cmp_best_first);
    *count = len;
    return 0;
}

int presence_add_concept(const float *seg, const uint64_t *offsets, int n, int dim, const float *concept,
                         int32_t concept_index, float *col, int32_t *best_seg, int32_t *nearest,
                         float *nearest_cos, err *e) {
    if (n < 0 || dim < 1 || (n > 0 && (!offsets || !concept || !col)) || (!nearest) != (!nearest_cos))
        return err_set(e, ERR_BAD_REQUEST, "presence: bad arguments");
    if (n == 0) return 0;
    if (presence_check_offsets(offsets, n, e) < 0) return -1;
    if (offsets[n] > offsets[0] && !seg) return err_set(e, ERR_BAD_REQUEST, "presence: no segments");
    const uint64_t row0 = offsets[0];
    size_t cap = PRESENCE_GEMV_ROWS;
    float *y = malloc(cap * sizeof *y); // (cap) cosines of one block of segments
    if (!y) return err_set(e, ERR_INTERNAL, "presence: out of memory");

    int i = 0;
    while (i < n) {
        const uint64_t r0 = offsets[i];
        int j = i + 1;
        while (j < n && offsets[j + 1] - r0 <= PRESENCE_GEMV_ROWS) j++;
        const size_t rows = (size_t)(offsets[j] - r0);
        if (rows > cap) {
            float *t = realloc(y, rows * sizeof *t);
            if (!t) {
                free(y);
                return err_set(e, ERR_INTERNAL, "presence: out of memory");
            }
            y = t;
            cap = rows;
        }
        if (rows > 0)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, dim, 1.0f, seg + r0 * (size_t)dim, dim, concept, 1,
                        0.0f, y, 1);
        for (int ii = i; ii < j; ii++) {
            const int cnt = (int)(offsets[ii + 1] - offsets[ii]);
            const float *v = y + (offsets[ii] - r0); // (cnt)
            float m = 0.0f;
            int best = -1;
            for (int s = 0; s < cnt; s++)
                if (v[s] > m) {
                    m = v[s];
                    best = s;
                }
            col[ii] = m;
            if (best_seg) best_seg[ii] = best;
        }
        if (nearest) {
            for (size_t r = 0; r < rows; r++) {
                const size_t gr = (size_t)(r0 - row0) + r;
                if (y[r] > nearest_cos[gr]) {
                    nearest_cos[gr] = y[r];
                    nearest[gr] = concept_index;
                }
            }
        }
        i = j;
    }
    free(y);
    return 0;
}

int presence_top_k(const float *col, const int32_t *best_seg, int n, int image_base, int k, presence_hit *out,
                   int *count, err *e) {
    *count = 0;
    if (n < 0 || k < 0 || k > PRESENCE_MAX_TOP_K || (n > 0 && !col) || (k > 0 && !out))
        return err_set(e, ERR_BAD_REQUEST, "presence: bad arguments");
    if (k == 0) return 0;
    int32_t len = 0;
    for (int i = 0; i < n; i++) {
        if (!(col[i] > 0.0f)) continue;
        if (len == k && !(col[i] > out[0].score)) continue;
        heap_push(out, &len, k, (presence_hit){image_base + i, best_seg ? best_seg[i] : -1, col[i]});
    }
    qsort(out, (size_t)len, sizeof *out, hit_cmp_best_first);
    *count = len;
    return 0;
}

/* Columns are gathered PRESENCE_HASH_BLOCK at a time in one pass over the rows, so the
 * row-major matrix is read once per block instead of once per column. */
#define PRESENCE_HASH_BLOCK 32

int presence_column_hashes(const float *x, size_t n, size_t d, const char *ids_sha, char (*out)[65], err *e) {
    if (!blobstore_valid_hex(ids_sha) || (n && d && !x))
        return err_set(e, ERR_BAD_REQUEST, "presence: bad arguments to presence_column_hashes");
    const size_t stride = BLOBSTORE_HEX_LEN + n * sizeof(float);                // bytes of one column's message
    unsigned char *buf = malloc(PRESENCE_HASH_BLOCK * stride + 1);             // (block, stride)
    if (!buf) return err_set(e, ERR_INTERNAL, "out of memory hashing %zu presence columns", d);
    for (size_t j0 = 0; j0 < d; j0 += PRESENCE_HASH_BLOCK) {
        size_t m = d - j0 < PRESENCE_HASH_BLOCK ? d - j0 : PRESENCE_HASH_BLOCK;
        for (size_t t = 0; t < m; t++) memcpy(buf + t * stride, ids_sha, BLOBSTORE_HEX_LEN);
        for (size_t i = 0; i < n; i++) {
            const float *row = x + i * d + j0;
            for (size_t t = 0; t < m; t++)
                memcpy(buf + t * stride + BLOBSTORE_HEX_LEN + i * sizeof(float), row + t, sizeof(float));
        }
        for (size_t t = 0; t < m; t++) blobstore_hash(buf + t * stride, stride, out[j0 + t]);
    }
    free(buf);
    return 0;
}
