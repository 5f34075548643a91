/* jpeg_io.c — JPEG codec glue (TurboJPEG 2.1 tj* API) and the image resampler.
 *
 * TurboJPEG handles are cheap but not thread-safe, so each call makes its own. The
 * encoder writes into a buffer we malloc (TJFLAG_NOREALLOC) so callers can free()
 * it like any other buffer instead of needing tjFree(). The resampler is separable:
 * per axis a list of (first source index, weights) is computed once, then a
 * horizontal pass into a float buffer (src_h, dst_w, 3) and a vertical pass out.
 * image_rects_to_chw runs the same sums per rectangle of an image straight into a
 * model's (3, h, w) input (crops for global concept models), bit-identical to
 * cutting, image_resize and image_to_chw, without their copies and allocations.
 */
#include "dataset/jpeg_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "log.h"

#define THUMB_QUALITY 85
#define THUMB_MAX 4096

static int check_size(int w, int h, const char *what, err *e) {
    if (w <= 0 || h <= 0)
        return err_set(e, ERR_UNPROCESSABLE, "%s has an empty size (%dx%d)", what, w, h);
    if (w > JPEG_MAX_SIDE || h > JPEG_MAX_SIDE)
        return err_set(e, ERR_UNPROCESSABLE, "%s is too large (%dx%d, max side %d)", what, w, h, JPEG_MAX_SIDE);
    if ((size_t)w * (size_t)h > JPEG_MAX_PIXELS)
        return err_set(e, ERR_UNPROCESSABLE, "%s has too many pixels (%dx%d, max %zu)", what, w, h,
                       JPEG_MAX_PIXELS);
    return 0;
}

int image_alloc(image_rgb *img, int w, int h, err *e) {
    memset(img, 0, sizeof *img);
    if (check_size(w, h, "image", e) < 0) return -1;
    img->pixels = malloc((size_t)w * (size_t)h * 3);
    if (!img->pixels) return err_set(e, ERR_INTERNAL, "out of memory for a %dx%d image", w, h);
    img->width = w;
    img->height = h;
    return 0;
}

void image_free(image_rgb *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* Map a TurboJPEG failure to our policy; returns 0 when it is a warning we accept. */
static int decode_failure(tjhandle tj, err *e) {
    const char *msg = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) == TJERR_WARNING) {
        if (strstr(msg, "Premature end of JPEG file") || strstr(msg, "premature end of data segment"))
            return err_set(e, ERR_UNPROCESSABLE, "truncated JPEG");
        if (strstr(msg, "extraneous bytes")) {
            log_debug("jpeg: accepted warning: %s", msg);
            return 0;
        }
        return err_set(e, ERR_UNPROCESSABLE, "corrupt JPEG data: %s", msg);
    }
    return err_set(e, ERR_UNPROCESSABLE, "cannot decode JPEG: %s", msg);
}

/* Does the data end with the EOI marker (ignoring zero padding some writers add)? */
static int ends_with_eoi(const uint8_t *d, size_t n) {
    while (n > 2 && d[n - 1] == 0) n--;
    return n >= 2 && d[n - 2] == 0xFF && d[n - 1] == 0xD9;
}

/* The smallest DCT scale <= 1 whose longer side is still >= min_long. */
static tjscalingfactor pick_scale(int w, int h, int min_long) {
    tjscalingfactor best = {1, 1};
    int n = 0;
    tjscalingfactor *sf = tjGetScalingFactors(&n);
    if (!sf || min_long <= 0) return best;
    int best_long = w > h ? w : h;
    for (int i = 0; i < n; i++) {
        if (sf[i].num > sf[i].denom) continue;
        int sw = TJSCALED(w, sf[i]), sh = TJSCALED(h, sf[i]);
        int l = sw > sh ? sw : sh;
        if (l >= min_long && l < best_long) {
            best = sf[i];
            best_long = l;
        }
    }
    return best;
}

int jpeg_decode_scaled(const uint8_t *data, size_t len, int min_long_side, image_rgb *out, err *e) {
    memset(out, 0, sizeof *out);
    if (!data || len < 4 || data[0] != 0xFF || data[1] != 0xD8)
        return err_set(e, ERR_UNPROCESSABLE, "not a JPEG (no SOI marker)");
    tjhandle tj = tjInitDecompress();
    if (!tj) return err_set(e, ERR_INTERNAL, "tjInitDecompress: %s", tjGetErrorStr2(NULL));
    int rc = -1, w = 0, h = 0, subsamp = 0, cs = 0;
    uint8_t *cmyk = NULL;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        /* A file cut inside its headers fails here with a structural message
         * ("missing SOS marker"); without an EOI at the end, call it what it is. */
        if (!ends_with_eoi(data, len)) err_set(e, ERR_UNPROCESSABLE, "truncated JPEG");
        else err_set(e, ERR_UNPROCESSABLE, "invalid JPEG header: %s", tjGetErrorStr2(tj));
        goto done;
    }
    if (check_size(w, h, "JPEG", e) < 0) goto done;
    tjscalingfactor sf = pick_scale(w, h, min_long_side);
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    if (image_alloc(out, sw, sh, e) < 0) goto done;
    int is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    uint8_t *dst = out->pixels;
    if (is_cmyk) {
        /* libjpeg cannot convert CMYK to RGB itself: decode to CMYK, convert below. */
        cmyk = malloc((size_t)sw * sh * 4);
        if (!cmyk) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
        dst = cmyk;
    }
    if (tjDecompress2(tj, data, (unsigned long)len, dst, sw, 0, sh, is_cmyk ? TJPF_CMYK : TJPF_RGB,
                      TJFLAG_LIMITSCANS) != 0 &&
        decode_failure(tj, e) < 0)
        goto done;
    if (is_cmyk) {
        /* Adobe writes inverted CMYK, so the stored value is already 255-C. */
        size_t n = (size_t)sw * sh;
        for (size_t i = 0; i < n; i++) {
            unsigned k = cmyk[4 * i + 3];
            for (int c = 0; c < 3; c++) out->pixels[3 * i + c] = (uint8_t)((cmyk[4 * i + c] * k + 127) / 255);
        }
    }
    rc = 0;
done:
    free(cmyk);
    if (rc < 0) image_free(out);
    tjDestroy(tj);
    return rc;
}

int jpeg_decode(const uint8_t *data, size_t len, image_rgb *out, err *e) {
    return jpeg_decode_scaled(data, len, 0, out, e);
}

static int encode_raw(const uint8_t *pixels, int w, int h, int pf, int samp, int quality, uint8_t **out,
                      size_t *out_len, err *e) {
    *out = NULL;
    *out_len = 0;
    if (!pixels) return err_set(e, ERR_INTERNAL, "jpeg_encode: no pixels");
    if (check_size(w, h, "image", e) < 0) return -1;
    if (quality < 1 || quality > 100) return err_set(e, ERR_INTERNAL, "jpeg_encode: quality %d not in 1..100", quality);
    unsigned long cap = tjBufSize(w, h, samp);
    if (cap == (unsigned long)-1) return err_set(e, ERR_INTERNAL, "tjBufSize: %s", tjGetErrorStr2(NULL));
    uint8_t *buf = malloc(cap);
    if (!buf) return err_set(e, ERR_INTERNAL, "out of memory for a JPEG of %lu bytes", cap);
    tjhandle tj = tjInitCompress();
    if (!tj) {
        free(buf);
        return err_set(e, ERR_INTERNAL, "tjInitCompress: %s", tjGetErrorStr2(NULL));
    }
    unsigned long size = cap;
    int rc = tjCompress2(tj, pixels, w, 0, h, pf, &buf, &size, samp, quality, TJFLAG_NOREALLOC);
    if (rc != 0) {
        err_set(e, ERR_INTERNAL, "JPEG encode failed: %s", tjGetErrorStr2(tj));
        free(buf);
    } else {
        uint8_t *shrunk = realloc(buf, size); /* tjBufSize is a generous worst case */
        *out = shrunk ? shrunk : buf;
        *out_len = size;
    }
    tjDestroy(tj);
    return rc == 0 ? 0 : -1;
}

int jpeg_encode(const image_rgb *img, int quality, uint8_t **out, size_t *out_len, err *e) {
    return encode_raw(img->pixels, img->width, img->height, TJPF_RGB, TJSAMP_420, quality, out, out_len, e);
}

int jpeg_encode_grey(const uint8_t *pixels, int w, int h, int quality, uint8_t **out, size_t *out_len,
                     err *e) {
    return encode_raw(pixels, w, h, TJPF_GRAY, TJSAMP_GRAY, quality, out, out_len, e);
}

/* Resampling weights for one axis: output i reads source [first[i], first[i]+span)
 * with weights w[i*span .. i*span+span) (unused tail weights are 0). */
typedef struct axis_weights {
    int span;
    int *first; /* (dst) */
    float *w;   /* (dst, span) */
} axis_weights;

static void axis_free(axis_weights *a) {
    free(a->first);
    free(a->w);
    a->first = NULL; /* axis_build frees on failure and its callers free again */
    a->w = NULL;
}

static int axis_build(int src, int dst, axis_weights *a, err *e) {
    double scale = (double)src / dst;
    a->span = dst < src ? (int)ceil(scale) + 1 : 2;
    a->first = calloc((size_t)dst, sizeof *a->first);
    a->w = calloc((size_t)dst * a->span, sizeof *a->w);
    if (!a->first || !a->w) {
        axis_free(a);
        return err_set(e, ERR_INTERNAL, "out of memory (resize weights)");
    }
    for (int i = 0; i < dst; i++) {
        float *w = a->w + (size_t)i * a->span;
        if (dst < src) {
            /* Area: output pixel i covers source interval [i*scale, (i+1)*scale). */
            double lo = i * scale, hi = (i + 1) * scale;
            int j0 = (int)floor(lo);
            a->first[i] = j0;
            for (int k = 0; k < a->span; k++) {
                int j = j0 + k;
                if (j >= src) break;
                double ov = fmin(hi, j + 1.0) - fmax(lo, (double)j);
                if (ov > 0) w[k] = (float)(ov / scale);
            }
        } else {
            /* Bilinear between the two nearest source centres (clamped at edges). */
            double x = (i + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            int j0 = (int)floor(x);
            if (j0 >= src - 1) {
                a->first[i] = src - 1;
                w[0] = 1.0f;
            } else {
                double f = x - j0;
                a->first[i] = j0;
                w[0] = (float)(1.0 - f);
                w[1] = (float)f;
            }
        }
    }
    return 0;
}

int image_resize(const image_rgb *src, int w, int h, image_rgb *out, err *e) {
    memset(out, 0, sizeof *out);
    if (!src || !src->pixels || check_size(src->width, src->height, "source image", e) < 0)
        return err_set(e, ERR_INTERNAL, "image_resize: no source image");
    if (image_alloc(out, w, h, e) < 0) return -1;
    int sw = src->width, sh = src->height;
    if (sw == w && sh == h) {
        memcpy(out->pixels, src->pixels, (size_t)w * h * 3);
        return 0;
    }
    axis_weights ax = {0}, ay = {0};
    float *tmp = NULL; /* (sh, w, 3) after the horizontal pass */
    if (axis_build(sw, w, &ax, e) < 0 || axis_build(sh, h, &ay, e) < 0) goto fail;
    tmp = malloc((size_t)sh * w * 3 * sizeof *tmp);
    if (!tmp) {
        err_set(e, ERR_INTERNAL, "out of memory (resize buffer)");
        goto fail;
    }
    for (int y = 0; y < sh; y++) {
        const uint8_t *row = src->pixels + (size_t)y * sw * 3;
        float *trow = tmp + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            const float *wt = ax.w + (size_t)x * ax.span;
            int j0 = ax.first[x];
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < ax.span && j0 + k < sw; k++)
                for (int c = 0; c < 3; c++) acc[c] += wt[k] * row[(size_t)(j0 + k) * 3 + c];
            for (int c = 0; c < 3; c++) trow[(size_t)x * 3 + c] = acc[c];
        }
    }
    for (int y = 0; y < h; y++) {
        const float *wt = ay.w + (size_t)y * ay.span;
        int j0 = ay.first[y];
        uint8_t *orow = out->pixels + (size_t)y * w * 3;
        for (int x = 0; x < w * 3; x++) {
            float acc = 0;
            for (int k = 0; k < ay.span && j0 + k < sh; k++) acc += wt[k] * tmp[(size_t)(j0 + k) * w * 3 + x];
            long v = lrintf(acc);
            orow[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return 0;
fail:
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    image_free(out);
    return -1;
}

int jpeg_thumbnail(const uint8_t *data, size_t len, int size, uint8_t **out, size_t *out_len, err *e) {
    *out = NULL;
    *out_len = 0;
    if (size < 1 || size > THUMB_MAX)
        return err_set(e, ERR_UNPROCESSABLE, "thumbnail size %d not in 1..%d", size, THUMB_MAX);
    image_rgb img, small;
    if (jpeg_decode_scaled(data, len, size, &img, e) < 0) return -1;
    int tw, th;
    if (img.width >= img.height) {
        tw = size;
        th = (int)lround((double)img.height * size / img.width);
    } else {
        th = size;
        tw = (int)lround((double)img.width * size / img.height);
    }
    if (tw < 1) tw = 1;
    if (th < 1) th = 1;
    int rc = image_resize(&img, tw, th, &small, e);
    image_free(&img);
    if (rc < 0) return -1;
    rc = jpeg_encode(&small, THUMB_QUALITY, out, out_len, e);
    image_free(&small);
    return rc;
}

int image_to_chw(const image_rgb *img, int w, int h, const float mean[3], const float std[3], float *out,
                 size_t out_count, err *e) {
    if (w <= 0 || h <= 0 || (size_t)w * h * 3 > out_count)
        return err_set(e, ERR_INTERNAL, "image_to_chw: output of %zu floats cannot hold (3, %d, %d)", out_count, h,
                       w);
    for (int c = 0; c < 3; c++)
        if (!(std[c] != 0.0f) || !isfinite(std[c]) || !isfinite(mean[c]))
            return err_set(e, ERR_UNPROCESSABLE, "normalisation std[%d] = %g is not a usable divisor", c,
                           (double)std[c]);
    image_rgb tmp = {0};
    const image_rgb *src = img;
    if (img->width != w || img->height != h) {
        if (image_resize(img, w, h, &tmp, e) < 0) return -1;
        src = &tmp;
    }
    size_t plane = (size_t)w * h;
    for (int c = 0; c < 3; c++) {
        /* Same arithmetic order as torchvision: ToTensor (x/255), then Normalize. */
        float m = mean[c], s = std[c];
        float *o = out + c * plane;
        const uint8_t *p = src->pixels + c;
        for (size_t i = 0; i < plane; i++) o[i] = ((float)p[3 * i] / 255.0f - m) / s;
    }
    image_free(&tmp);
    return 0;
}

/* lrintf (to nearest, ties to even) clamped to 0..255, without the libm call: adding
 * 1.5 * 2^23 leaves no fraction bits, so the addition itself rounds, and the integer
 * sits in the low mantissa bits. Exact for |v| < 2^22; v is a resampled byte here. */
static inline int round_u8(float v) {
    float r = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &r, sizeof bits);
    bits -= 0x4B400000;
    return bits < 0 ? 0 : bits > 255 ? 255 : bits;
}

/* image_resize's taps for one axis, padded to `span` per output: a tap past the end
 * of the source reads the last sample with weight 0, which adds exactly +0 to a sum
 * of non-negative terms, so the sums stay those of image_resize, without the bound
 * test in the inner loop. */
typedef struct axis_taps {
    int src, span;
    int *idx;   /* (dst, span) source index */
    float *w;   /* (dst, span)              */
} axis_taps;

static void taps_free(axis_taps *t) {
    free(t->idx);
    free(t->w);
    memset(t, 0, sizeof *t);
}

static int taps_build(int src, int dst, axis_taps *t, err *e) {
    taps_free(t);
    axis_weights a = {0};
    if (axis_build(src, dst, &a, e) < 0) return -1;
    t->idx = malloc((size_t)dst * a.span * sizeof *t->idx);
    t->w = malloc((size_t)dst * a.span * sizeof *t->w);
    if (!t->idx || !t->w) {
        axis_free(&a);
        taps_free(t);
        return err_set(e, ERR_INTERNAL, "out of memory (resize weights)");
    }
    t->src = src;
    t->span = a.span;
    for (int i = 0; i < dst; i++)
        for (int k = 0; k < a.span; k++) {
            int j = a.first[i] + k;
            t->idx[(size_t)i * a.span + k] = j < src ? j : src - 1;
            t->w[(size_t)i * a.span + k] = j < src ? a.w[(size_t)i * a.span + k] : 0.0f;
        }
    axis_free(&a);
    return 0;
}

/* Horizontal pass of one rectangle: rows [y0, y0 + rows) of the source, columns from
 * x0, into tmp (rows, w, 3). */
static void rect_rows(const image_rgb *img, int x0, int y0, int rows, const axis_taps *tx, int w, float *tmp) {
    const int span = tx->span;
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = img->pixels + ((size_t)(y0 + y) * img->width + x0) * 3;
        float *t = tmp + (size_t)y * w * 3;
        if (span == 2) { /* growing: two taps */
            for (int x = 0; x < w; x++) {
                const uint8_t *p = row + (size_t)tx->idx[2 * x] * 3, *q = row + (size_t)tx->idx[2 * x + 1] * 3;
                const float w0 = tx->w[2 * x], w1 = tx->w[2 * x + 1];
                for (int c = 0; c < 3; c++) t[3 * x + c] = (0.0f + w0 * p[c]) + w1 * q[c];
            }
            continue;
        }
        for (int x = 0; x < w; x++) {
            const int *ix = tx->idx + (size_t)x * span;
            const float *wt = tx->w + (size_t)x * span;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f;
            for (int k = 0; k < span; k++) {
                const uint8_t *p = row + (size_t)ix[k] * 3;
                a0 += wt[k] * p[0];
                a1 += wt[k] * p[1];
                a2 += wt[k] * p[2];
            }
            t[3 * x] = a0, t[3 * x + 1] = a1, t[3 * x + 2] = a2;
        }
    }
}

int image_rects_to_chw(const image_rgb *img, const image_rect *rects, int n, int w, int h, const float mean[3],
                       const float std[3], float *out, size_t out_count, err *e) {
    if (!img || !img->pixels || check_size(img->width, img->height, "source image", e) < 0 || !rects || n < 0)
        return err_set(e, ERR_INTERNAL, "image_rects_to_chw: no source image");
    if (w <= 0 || h <= 0 || check_size(w, h, "output", e) < 0 || !out || (size_t)n * 3 * w * h > out_count)
        return err_set(e, ERR_INTERNAL, "image_rects_to_chw: output of %zu floats cannot hold %d x (3, %d, %d)",
                       out_count, n, h, w);
    float lut[3][256]; /* the value image_to_chw computes for each byte */
    for (int c = 0; c < 3; c++) {
        if (!(std[c] != 0.0f) || !isfinite(std[c]) || !isfinite(mean[c]))
            return err_set(e, ERR_UNPROCESSABLE, "normalisation std[%d] = %g is not a usable divisor", c,
                           (double)std[c]);
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - mean[c]) / std[c];
    }
    int max_h = 0;
    for (int k = 0; k < n; k++) {
        const image_rect *r = &rects[k];
        if (r->x0 < 0 || r->y0 < 0 || r->x1 > img->width || r->y1 > img->height || r->x0 >= r->x1 || r->y0 >= r->y1)
            return err_set(e, ERR_INTERNAL, "image_rects_to_chw: rectangle %d is empty or outside the image", k);
        if (r->y1 - r->y0 > max_h) max_h = r->y1 - r->y0;
    }
    const size_t plane = (size_t)w * h, row3 = (size_t)w * 3;
    float *tmp = malloc(((size_t)max_h + 1) * row3 * sizeof *tmp); // (max_h, w, 3) horizontal pass
    if (!tmp) return err_set(e, ERR_INTERNAL, "out of memory (resize buffer)");
    float *acc = tmp + (size_t)max_h * row3; // (w, 3) one output row
    axis_taps tx = {0}, ty = {0};            /* rebuilt only when a rectangle's size changes */
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        const image_rect *r = &rects[k];
        const int sw = r->x1 - r->x0, sh = r->y1 - r->y0;
        float *o0 = out + (size_t)k * 3 * plane, *o1 = o0 + plane, *o2 = o1 + plane; // (3, h, w)
        if (sw == w && sh == h) { /* image_resize copies: only the normalisation */
            for (int y = 0; y < h; y++) {
                const uint8_t *p = img->pixels + ((size_t)(r->y0 + y) * img->width + r->x0) * 3;
                for (int x = 0; x < w; x++) {
                    size_t at = (size_t)y * w + x;
                    o0[at] = lut[0][p[3 * x]], o1[at] = lut[1][p[3 * x + 1]], o2[at] = lut[2][p[3 * x + 2]];
                }
            }
            continue;
        }
        if ((tx.src != sw && (rc = taps_build(sw, w, &tx, e)) < 0) ||
            (ty.src != sh && (rc = taps_build(sh, h, &ty, e)) < 0))
            break;
        rect_rows(img, r->x0, r->y0, sh, &tx, w, tmp);
        /* vertical pass, rounding to bytes as image_resize does, then the table */
        for (int y = 0; y < h; y++) {
            const int *iy = ty.idx + (size_t)y * ty.span;
            const float *wt = ty.w + (size_t)y * ty.span;
            const float *src = acc;
            float *restrict dst = acc;
            if (ty.span == 2) {
                const float *restrict a = tmp + (size_t)iy[0] * row3, *restrict b = tmp + (size_t)iy[1] * row3;
                const float w0 = wt[0], w1 = wt[1];
                for (size_t i = 0; i < row3; i++) dst[i] = (0.0f + w0 * a[i]) + w1 * b[i];
            } else {
                for (size_t i = 0; i < row3; i++) dst[i] = 0.0f;
                for (int t = 0; t < ty.span; t++) {
                    const float *restrict a = tmp + (size_t)iy[t] * row3, wv = wt[t];
                    for (size_t i = 0; i < row3; i++) dst[i] += wv * a[i];
                }
            }
            float *p0 = o0 + (size_t)y * w, *p1 = o1 + (size_t)y * w, *p2 = o2 + (size_t)y * w;
            for (int x = 0; x < w; x++) {
                p0[x] = lut[0][round_u8(src[3 * x])];
                p1[x] = lut[1][round_u8(src[3 * x + 1])];
                p2[x] = lut[2][round_u8(src[3 * x + 2])];
            }
        }
    }
    taps_free(&tx);
    taps_free(&ty);
    free(tmp);
    return rc < 0 ? -1 : 0;
}
