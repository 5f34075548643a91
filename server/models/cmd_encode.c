/* cmd_encode.c — `inficond encode`: one image through a concept model's image path,
 * exactly as the extraction job runs it, written out as raw floats: a user's first
 * tool for "what does my model see".
 *
 * The path: read the JPEG, jpeg_decode, teacher_preprocess (resized to the manifest's
 * input only when its size differs, /255, normalised; what the dense extraction uses,
 * and for a global model the same pixels as its whole-image crop), the model loaded
 * as the registry loads it (model_check_load: patched, dense mode when the manifest
 * says so), then the image method on a batch of one. Output: little-endian float32,
 * (D, h, w) channels first for a dense model, (D) for a global one. The last line on
 * stdout is one JSON object: {"encoder", "shape", "input", "ms"}.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "config.h"
#include "dataset/jpeg_io.h"
#include "file_read.h"
#include "models/model_check.h"
#include "teacher/teacher.h"

#define ENCODE_IMAGE_MAX ((size_t)256 << 20)

static void encode_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond encode --model DIR --image FILE.jpg --out FILE.f32 [--input-out FILE.f32]\n\n"
            "Run one JPEG through a concept model's image path as the extraction job does: decode,\n"
            "resize to the manifest's input only when the size differs, normalise, the image method\n"
            "(dense mode for a \"dense\": {\"from\": \"clip-vit\"} manifest). Writes little-endian float32\n"
            "to --out: (D, h, w) channels first for a dense model, (D) for a global one; --input-out\n"
            "also writes the preprocessed input (C, H, W). Prints one JSON line last, e.g.\n"
            "{\"encoder\":\"dense\",\"shape\":[512,14,14],...}. INFICOND_TORCH_THREADS sets the threads.\n");
}

/* Write count floats little-endian (the byte order of the file format, whatever the host's). */
static int write_f32(const char *path, const float *v, size_t count, err *e) {
    FILE *f = fopen(path, "wb");
    if (!f) return err_set(e, ERR_IO, "cannot write %s", path);
    int ok = 1;
    for (size_t i = 0; i < count && ok; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        ok = fwrite(b, 1, 4, f) == 4;
    }
    if (fclose(f) || !ok) return err_set(e, ERR_IO, "cannot write %s", path);
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int cmd_encode(int argc, char **argv) {
    const char *dir = NULL, *image = NULL, *out_path = NULL, *input_out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            encode_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model") && v) dir = v, i++;
        else if (!strcmp(a, "--image") && v) image = v, i++;
        else if (!strcmp(a, "--out") && v) out_path = v, i++;
        else if (!strcmp(a, "--input-out") && v) input_out = v, i++;
        else {
            fprintf(stderr, "inficond encode: unexpected argument '%s'\n\n", a);
            encode_usage(stderr);
            return 2;
        }
    }
    if (!dir || !image || !out_path) {
        encode_usage(stderr);
        return 2;
    }
    config cfg;
    err e = {0};
    if (config_from_env(&cfg, &e)) {
        fprintf(stderr, "inficond encode: %s\n", e.msg);
        return 2;
    }
    shim_set_threads(cfg.torch_threads);

    model_manifest mf;
    shim_model *model = NULL;
    uint8_t *jpeg = NULL;
    image_rgb img = {0};
    float *x = NULL, *scratch = NULL;
    shim_output out = {0};
    int rc = 1;
    if (model_manifest_load(dir, &mf, &e)) {
        fprintf(stderr, "inficond encode: %s\n", e.msg);
        return 1;
    }
    if (mf.kind != MODEL_KIND_CONCEPT) {
        err_set(&e, ERR_BAD_REQUEST, "%s is a teacher: encode runs a concept model's image method", dir);
        goto done;
    }
    size_t len = 0;
    if (!(jpeg = (uint8_t *)file_read_all(image, ENCODE_IMAGE_MAX, &len, &e)) || jpeg_decode(jpeg, len, &img, &e))
        goto done;
    const size_t plane = (size_t)mf.height * mf.width, per = (size_t)mf.channels * plane;
    x = malloc(per * sizeof *x);              // (C, H, W)
    scratch = malloc(3 * plane * sizeof *x);  // (3, H, W) for one-channel models
    if (!x || !scratch) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (teacher_preprocess(&mf, &img, x, scratch, &e)) goto done;
    if (!(model = model_check_load(&mf, &e))) goto done;
    shim_input in = {.dtype = SHIM_FLOAT32, .ndim = 4, .shape = {1, mf.channels, mf.height, mf.width}, .data = x,
                     .count = per};
    char eb[320];
    double t0 = now_ms();
    if (shim_model_run(model, mf.method_image, &in, 1, &out, eb, sizeof eb)) {
        err_set(&e, ERR_TORCH, "image method '%s': %s", mf.method_image, eb);
        goto done;
    }
    double ms = now_ms() - t0;
    const int dense = mf.encoder == MODEL_ENCODER_DENSE;
    if (!(dense ? out.ndim == 4 : out.ndim == 2) || out.shape[0] != 1) {
        err_set(&e, ERR_UNPROCESSABLE, "image method '%s' returned %d dimensions; a %s model gives %s", mf.method_image,
                out.ndim, model_encoder_name(mf.encoder), dense ? "(1, D, h, w)" : "(1, D)");
        goto done;
    }
    if (write_f32(out_path, out.data, out.count, &e) || (input_out && write_f32(input_out, x, per, &e))) goto done;
    if (dense)
        printf("{\"encoder\":\"dense\",\"shape\":[%lld,%lld,%lld],\"input\":[%d,%d,%d],\"ms\":%.1f}\n",
               (long long)out.shape[1], (long long)out.shape[2], (long long)out.shape[3], mf.channels, mf.height,
               mf.width, ms);
    else
        printf("{\"encoder\":\"global\",\"shape\":[%lld],\"input\":[%d,%d,%d],\"ms\":%.1f}\n", (long long)out.shape[1],
               mf.channels, mf.height, mf.width, ms);
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    if (rc) fprintf(stderr, "inficond encode: %s\n", e.msg[0] ? e.msg : "failed");
    shim_free_output(&out);
    shim_model_free(model);
    image_free(&img);
    free(jpeg);
    free(x);
    free(scratch);
    model_manifest_free(&mf);
    return rc;
}
