/* jpeg_io.c — JPEG codec glue (TurboJPEG 2.1 tj* API) and the image resampler.
 *
 * TurboJPEG handles are cheap but not thread-safe, so each call makes its own. The
 * encoder writes into a buffer we malloc (TJFLAG_NOREALLOC) so callers can free()
 * it like any other buffer instead of needing tjFree(). The resampler is separable:
 * per axis a list of (first source index, weights) is computed once, then a
 * horizontal pass into a float buffer (src_h, dst_w, 3) and a vertical pass out.
 */
#include "jpeg_io.h"

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
