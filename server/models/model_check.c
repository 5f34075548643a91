/* model_check.c — `inficond model check DIR` and the checks model registration runs.
 *
 * Order: manifest (field errors, ERR_UNPROCESSABLE), load through the shim
 * (ERR_TORCH), then a probe batch of MODEL_PROBE_BATCH through each method. The
 * probe inputs are zeros for images (already in the model's normalised space) and,
 * for text, a minimal valid sequence: clip-bpe [<|startoftext|>, <|endoftext|>, 0...],
 * words [1, 0...] (id 1 is the first word, 0 the padding). Shapes are compared with
 * the manifest and errors name the field that disagrees with the model.
 */
#include "models/model_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "concepts/tokenizer_clip.h"
#include "config.h"
#include "shim_dense_clip.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static json_t *shape_json(int ndim, const int64_t *shape) {
    json_t *a = json_array();
    for (int d = 0; d < ndim; d++) json_array_append_new(a, json_integer(shape[d]));
    return a;
}

/* "(2, 64, 7, 7)" into buf. */
static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < len) snprintf(buf + at, len - at, ")");
    return buf;
}

/* Dense mode for a CLIP ViT archive ("dense": {"from": "clip-vit"}): the shim reads
 * the tower (a ResNet or a missing parameter fails here) and the input must tile into
 * whole patches. */
static int dense_clip_on(const model_manifest *mf, shim_model *m, err *e) {
    char eb[320];
    if (shim_model_dense_clip(m, mf->method_image, mf->dense_method, mf->dense_gaussian_std, mf->dense_heads, eb,
                              sizeof eb))
        return err_set(e, ERR_UNPROCESSABLE, "manifest.dense: %s", eb);
    shim_clip_vit_info vi;
    shim_model_dense_clip_info(m, &vi);
    const int p = vi.patch, off = mf->height % p ? mf->height : mf->width % p ? mf->width : 0;
    if (!off) return 0;
    const int lo = off / p * p < p ? p : off / p * p;
    return err_set(e, ERR_UNPROCESSABLE,
                   "manifest.input.%s: %d is not a multiple of the ViT's patch size %d; sizes that work are "
                   "multiples of %d, e.g. %d or %d (the archive's own is %d)",
                   mf->height % p ? "height" : "width", off, p, p, lo, lo + p, vi.grid * p);
}

shim_model *model_check_load(const model_manifest *mf, err *e) {
    char eb[320];
    shim_model *m = shim_model_load(mf->file_path, mf->patch_openai_jit, eb, sizeof eb);
    if (!m) {
        err_set(e, ERR_TORCH, "manifest.file: %s: %s", mf->file, eb);
        return NULL;
    }
    if (mf->dense_from == MODEL_DENSE_CLIP_VIT && dense_clip_on(mf, m, e)) {
        shim_model_free(m);
        return NULL;
    }
    return m;
}

/* A dense CLIP's reading of the archive against the archive's own image method (the
 * head count is not stored in an archive: a wrong one is caught here, with the fix). */
static int dense_clip_verify(const model_manifest *mf, shim_model *model, json_t *methods_out, err *e) {
    shim_clip_vit_info vi;
    if (!shim_model_dense_clip_info(model, &vi)) return 0;
    double rel = 0;
    int heads = 0;
    char eb[320];
    if (shim_model_dense_clip_check(model, &rel, &heads, eb, sizeof eb))
        return err_set(e, ERR_TORCH, "manifest.methods.image: %s", eb);
    if (heads)
        return err_set(e, ERR_UNPROCESSABLE,
                       "manifest.dense.heads: the archive's '%s' agrees with %d attention heads, not %d: "
                       "set \"heads\": %d",
                       mf->method_image, heads, vi.heads, heads);
    if (!(rel <= 1e-3))
        return err_set(e, ERR_UNPROCESSABLE,
                       "manifest.dense: the archive's '%s' differs from OpenAI's ViT arithmetic read from its "
                       "parameters (relative gap %.3g at any head count): not a CLIP ViT this mode can run",
                       mf->method_image, rel);
    json_t *image = methods_out ? json_object_get(methods_out, "image") : NULL;
    if (image) json_object_set_new(image, "archive_gap", json_real(rel));
    return 0;
}

/* One method, one probe: check it exists, run it, check finiteness. `field` is the
 * manifest key ("methods.image"). On success *out holds the result (caller frees). */
static int probe_method(shim_model *model, const char *field, const char *method, const shim_input *in,
                        shim_output *out, double *ms, err *e) {
    if (!shim_model_has_method(model, method)) {
        char names[256];
        if (shim_model_method_names(model, names, sizeof names)) snprintf(names, sizeof names, "?");
        return err_set(e, ERR_UNPROCESSABLE, "manifest.%s: the model has no method '%s' (it has: %s)", field,
                       method, names);
    }
    char eb[320];
    double t0 = now_ms();
    if (shim_model_run(model, method, in, 1, out, eb, sizeof eb))
        return err_set(e, ERR_TORCH, "manifest.%s: probe batch failed: %s", field, eb);
    *ms = now_ms() - t0;
    for (size_t i = 0; i < out->count; i++)
        if (!isfinite(out->data[i])) {
            shim_free_output(out);
            return err_set(e, ERR_TORCH, "manifest.%s: method '%s' returned non-finite values on the probe batch",
                           field, method);
        }
    return 0;
}

/* Compare out's shape with want[0..ndim); want[d] < 0 means "any size >= 1". */
static int expect_shape(const shim_output *out, int ndim, const int64_t *want, const char *field,
                        const char *method, err *e) {
    int ok = out->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = want[d] < 0 ? out->shape[d] >= 1 : out->shape[d] == want[d];
    if (ok) return 0;
    char got[160], exp[160];
    shape_str(out->ndim, out->shape, got, sizeof got);
    size_t at = (size_t)snprintf(exp, sizeof exp, "(");
    for (int d = 0; d < ndim && at < sizeof exp; d++) {
        if (want[d] < 0) at += (size_t)snprintf(exp + at, sizeof exp - at, "%s%c", d ? ", " : "", d == 2 ? 'h' : 'w');
        else at += (size_t)snprintf(exp + at, sizeof exp - at, "%s%lld", d ? ", " : "", (long long)want[d]);
    }
    if (at < sizeof exp) snprintf(exp + at, sizeof exp - at, ")");
    return err_set(e, ERR_UNPROCESSABLE, "manifest.%s: method '%s' returned %s, expected %s", field, method, got,
                   exp);
}

static void add_method(json_t *methods_out, const char *key, const char *method, const shim_input *in,
                       const shim_output *out, double ms) {
    if (!methods_out) return;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(method));
    json_object_set_new(o, "input", shape_json(in->ndim, in->shape));
    json_object_set_new(o, "output", shape_json(out->ndim, out->shape));
    json_object_set_new(o, "ms", json_real(round(ms * 10) / 10));
    json_object_set_new(methods_out, key, o);
}

int model_check_probe(const model_manifest *mf, shim_model *model, json_t *methods_out, err *e) {
    const int64_t N = MODEL_PROBE_BATCH;
    size_t img_count = (size_t)N * (size_t)mf->channels * (size_t)mf->height * (size_t)mf->width;
    float *img = calloc(img_count, sizeof(float)); // (N, C, H, W) zeros
    if (!img) return err_set(e, ERR_INTERNAL, "out of memory");
    shim_input img_in = {.dtype = SHIM_FLOAT32, .ndim = 4, .shape = {N, mf->channels, mf->height, mf->width},
                         .data = img, .count = img_count};
    shim_output out = {0};
    double ms = 0;
    int rc = -1;

    if (mf->kind == MODEL_KIND_TEACHER) {
        const int64_t want[2] = {N, (int64_t)mf->n_classes};
        if (probe_method(model, "methods.forward", mf->method_forward, &img_in, &out, &ms, e)) goto done;
        if (out.ndim == 2 && out.shape[0] == N && out.shape[1] != (int64_t)mf->n_classes) {
            char got[160];
            err_set(e, ERR_UNPROCESSABLE, "manifest.classes: %zu classes but method '%s' returned %s", mf->n_classes,
                    mf->method_forward, shape_str(out.ndim, out.shape, got, sizeof got));
            goto done;
        }
        if (expect_shape(&out, 2, want, "methods.forward", mf->method_forward, e)) goto done;
        add_method(methods_out, "forward", mf->method_forward, &img_in, &out, ms);
        rc = 0;
        goto done;
    }

    /* Concept model: the image side. */
    const int64_t D = mf->embedding_dim;
    if (probe_method(model, "methods.image", mf->method_image, &img_in, &out, &ms, e)) goto done;
    int want_ndim = mf->encoder == MODEL_ENCODER_DENSE ? 4 : 2;
    const int64_t want_img[4] = {N, D, -1, -1};
    if (out.ndim == want_ndim && out.shape[0] == N && out.shape[1] != D) {
        char got[160];
        err_set(e, ERR_UNPROCESSABLE, "manifest.embedding_dim: %lld, but method '%s' returned %s", (long long)D,
                mf->method_image, shape_str(out.ndim, out.shape, got, sizeof got));
        goto done;
    }
    if (out.ndim != want_ndim && (out.ndim == 2 || out.ndim == 4)) {
        char got[160];
        err_set(e, ERR_UNPROCESSABLE, "manifest.encoder: \"%s\", but method '%s' returned %s (a %s encoder's shape)",
                model_encoder_name(mf->encoder), mf->method_image, shape_str(out.ndim, out.shape, got, sizeof got),
                out.ndim == 4 ? "dense" : "global");
        goto done;
    }
    if (expect_shape(&out, want_ndim, want_img, "methods.image", mf->method_image, e)) goto done;
    add_method(methods_out, "image", mf->method_image, &img_in, &out, ms);
    shim_free_output(&out);
    if (dense_clip_verify(mf, model, methods_out, e)) goto done;

    /* The text side. */
    {
        const int64_t L = mf->context_length;
        int64_t *tok = calloc((size_t)(N * L), sizeof(int64_t)); // (N, L) token ids, 0 = padding
        if (!tok) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < N; i++) {
            if (mf->tokenizer == MODEL_TOKENIZER_CLIP_BPE) {
                tok[i * L] = CLIP_SOT_ID;
                tok[i * L + 1] = CLIP_EOT_ID; /* context_length >= 2 by the manifest check */
            } else {
                tok[i * L] = 1;
            }
        }
        shim_input txt_in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {N, L}, .data = tok, .count = (size_t)(N * L)};
        const int64_t want_txt[2] = {N, D};
        int bad = probe_method(model, "methods.text", mf->method_text, &txt_in, &out, &ms, e);
        if (!bad && out.ndim == 2 && out.shape[0] == N && out.shape[1] != D) {
            char got[160];
            bad = err_set(e, ERR_UNPROCESSABLE, "manifest.embedding_dim: %lld, but method '%s' returned %s",
                          (long long)D, mf->method_text, shape_str(out.ndim, out.shape, got, sizeof got));
        }
        if (!bad) bad = expect_shape(&out, 2, want_txt, "methods.text", mf->method_text, e);
        if (!bad) add_method(methods_out, "text", mf->method_text, &txt_in, &out, ms);
        free(tok);
        if (bad) goto done;
    }
    rc = 0;
done:
    shim_free_output(&out);
    free(img);
    return rc;
}

/* The JSON summary of a checked model. */
static json_t *summary_json(const model_manifest *mf, shim_model *model, json_t *methods) {
    json_t *s = json_object();
    json_object_set_new(s, "ok", json_true());
    json_object_set_new(s, "dir", json_string(mf->dir));
    json_object_set_new(s, "format", json_string(MODEL_MANIFEST_FORMAT));
    json_object_set_new(s, "kind", json_string(model_kind_name(mf->kind)));
    if (mf->kind == MODEL_KIND_CONCEPT) json_object_set_new(s, "encoder", json_string(model_encoder_name(mf->encoder)));
    json_object_set_new(s, "file", json_string(mf->file));
    json_object_set_new(s, "torch", json_string(shim_torch_version()));
    json_object_set_new(s, "device", json_string("cpu"));
    json_object_set_new(s, "patched_openai_jit", json_boolean(shim_model_patched(model)));
    json_t *in = json_object();
    json_object_set_new(in, "channels", json_integer(mf->channels));
    json_object_set_new(in, "height", json_integer(mf->height));
    json_object_set_new(in, "width", json_integer(mf->width));
    json_object_set_new(s, "input", in);
    if (mf->kind == MODEL_KIND_TEACHER) {
        json_t *cls = json_array();
        for (size_t i = 0; i < mf->n_classes; i++) json_array_append_new(cls, json_string(mf->classes[i]));
        json_object_set_new(s, "classes", cls);
    } else {
        json_object_set_new(s, "embedding_dim", json_integer(mf->embedding_dim));
        json_t *tk = json_object();
        json_object_set_new(tk, "type", json_string(model_tokenizer_name(mf->tokenizer)));
        json_object_set_new(tk, "file", json_string(mf->tokenizer_file));
        json_object_set_new(tk, "context_length", json_integer(mf->context_length));
        json_object_set_new(s, "tokenizer", tk);
        shim_clip_vit_info vi;
        if (shim_model_dense_clip_info(model, &vi)) {
            json_t *d = json_object();
            json_object_set_new(d, "from", json_string("clip-vit"));
            json_object_set_new(d, "method", json_string(mf->dense_method));
            if (!strcmp(mf->dense_method, "naclip"))
                json_object_set_new(d, "gaussian_std", json_real(mf->dense_gaussian_std));
            json_object_set_new(d, "patch", json_integer(vi.patch));
            json_object_set_new(d, "layers", json_integer(vi.layers));
            json_object_set_new(d, "heads", json_integer(vi.heads));
            json_object_set_new(d, "archive_input", json_integer(vi.grid * vi.patch));
            json_t *grid = json_array();
            json_array_append_new(grid, json_integer(mf->height / vi.patch));
            json_array_append_new(grid, json_integer(mf->width / vi.patch));
            json_object_set_new(d, "grid", grid);
            json_object_set_new(s, "dense", d);
        }
    }
    json_object_set_new(s, "probe_batch", json_integer(MODEL_PROBE_BATCH));
    json_object_set(s, "methods", methods);
    return s;
}

int model_check_dir(const char *dir, json_t **summary, err *e) {
    if (summary) *summary = NULL;
    model_manifest mf;
    if (model_manifest_load(dir, &mf, e)) return -1;
    int rc = -1;
    json_t *methods = json_object();
    shim_model *model = model_check_load(&mf, e);
    if (!model || !methods) goto done;
    if (model_check_probe(&mf, model, methods, e)) goto done;
    if (summary) *summary = summary_json(&mf, model, methods);
    rc = 0;
done:
    json_decref(methods);
    shim_model_free(model);
    model_manifest_free(&mf);
    return rc;
}

/* ---- the command ---------------------------------------------------------- */

static void model_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond model check DIR\n\n"
            "Validate a model folder: read DIR/manifest.json (format \"" MODEL_MANIFEST_FORMAT "\"),\n"
            "load the TorchScript file it names (patching OpenAI-style CUDA/fp16 archives for\n"
            "the CPU when the manifest says so or when detected), run a probe batch of %d\n"
            "through every method and check the output shapes against the manifest.\n\n"
            "Prints a JSON summary on stdout and exits 0, or prints one error line on stderr\n"
            "and exits 1 (2 for bad usage). INFICOND_TORCH_THREADS sets libtorch's threads.\n",
            MODEL_PROBE_BATCH);
}

static int is_help(const char *s) { return !strcmp(s, "--help") || !strcmp(s, "-h") || !strcmp(s, "help"); }

int cmd_model(int argc, char **argv) {
    if (argc >= 2 && is_help(argv[1])) {
        model_usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        if (argc >= 2) fprintf(stderr, "inficond model: unknown subcommand '%s'\n\n", argv[1]);
        model_usage(stderr);
        return 2;
    }
    if (argc >= 3 && is_help(argv[2])) {
        model_usage(stdout);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "inficond model check: expected exactly one folder\n\n");
        model_usage(stderr);
        return 2;
    }
    config cfg;
    err e = {0};
    if (config_from_env(&cfg, &e)) {
        fprintf(stderr, "inficond model check: %s\n", e.msg);
        return 2;
    }
    shim_set_threads(cfg.torch_threads);

    json_t *summary = NULL;
    if (model_check_dir(argv[2], &summary, &e)) {
        fprintf(stderr, "inficond model check: %s\n", e.msg);
        return 1;
    }
    char *text = json_dumps(summary, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(summary);
    if (!text) {
        fprintf(stderr, "inficond model check: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}
