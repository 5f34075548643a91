/* test_shim.c — the libtorch shim (shim/ C++ files) through its C API.
 *
 * Needs ../shared/fixtures/clip_tiny_openai_style.pt (relative to the repo root, where
 * tests run): an OpenAI-style traced CLIP with CUDA devices and fp16 casts baked in;
 * the tests that load it are skipped without it, naming it (need_file.h).
 * Checks the known answer after patching, detection, the refusal to run unpatched on
 * the CPU, input size checks, error messages (unknown method, corrupt file, archives
 * from a newer PyTorch: tests/fixtures/models/newer_*.pt), the teacher CNN made with
 * Module::define, that two threads on one model agree with a serial run,
 * shim_tensor inputs (run without a copy), and dense mode for the fixture (a ViT:
 * shim_dense_clip.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inficond_shim.h"
#include "need_file.h"
#include "shim_dense_clip.h"
#include "tmpdir.h"

#define CLIP_FIXTURE "../shared/fixtures/clip_tiny_openai_style.pt"
#define CLIP_CONTEXT 77
#define CLIP_DIM 64
#define CLIP_SIDE 64
/* encode_text([49406, 320, 49407, 0...])[0][0], from the fixture's README. */
#define CLIP_KNOWN_FIRST 0.305934f

/* What tests/lsan.supp lists (libtorch leaks its zip reader when an archive's format
 * is too new), so this program also passes under ASan without LSAN_OPTIONS. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libtorch_cpu.so\n"; }

static char errbuf[512];

/* The fixture's path; skips the calling test when it is absent. */
static const char *clip_fixture(void) {
    need_file(CLIP_FIXTURE, NEED_SHARED);
    return CLIP_FIXTURE;
}

static shim_model *load_clip(int patch) {
    shim_model *m = shim_model_load(clip_fixture(), patch, errbuf, sizeof errbuf);
    if (!m) fail_msg("loading the CLIP fixture (patch %d): %s", patch, errbuf);
    return m;
}

/* (1, 77) tokens: SOT, word, EOT, zero padding. */
static void known_tokens(int64_t tok[CLIP_CONTEXT]) {
    memset(tok, 0, CLIP_CONTEXT * sizeof *tok);
    tok[0] = 49406;
    tok[1] = 320;
    tok[2] = 49407;
}

static void assert_contains(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle)) fail_msg("expected \"%s\" in \"%s\"", needle, haystack);
}

/* ---- the OpenAI-style fixture --------------------------------------------- */

static void test_clip_known_answer(void **state) {
    (void)state;
    shim_model *m = load_clip(1);
    assert_int_equal(shim_model_patched(m), 1);
    int64_t tok[CLIP_CONTEXT];
    known_tokens(tok);
    shim_input in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {1, CLIP_CONTEXT}, .data = tok, .count = CLIP_CONTEXT};
    shim_output out;
    if (shim_model_run(m, "encode_text", &in, 1, &out, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.shape[0], 1);
    assert_int_equal(out.shape[1], CLIP_DIM);
    assert_int_equal(out.count, CLIP_DIM);
    float diff = fabsf(out.data[0] - CLIP_KNOWN_FIRST);
    printf("# encode_text first value %.6f, known %.6f, diff %.2e\n", out.data[0], CLIP_KNOWN_FIRST, diff);
    assert_true(diff < 1e-3f);
    shim_free_output(&out);
    assert_null(out.data);

    /* Images too: (2, 3, 64, 64) -> (2, 64). */
    size_t n = 2 * 3 * CLIP_SIDE * CLIP_SIDE;
    float *img = calloc(n, sizeof(float));
    shim_input ii = {.dtype = SHIM_FLOAT32, .ndim = 4, .shape = {2, 3, CLIP_SIDE, CLIP_SIDE}, .data = img, .count = n};
    if (shim_model_run(m, "encode_image", &ii, 1, &out, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.shape[0], 2);
    assert_int_equal(out.shape[1], CLIP_DIM);
    shim_free_output(&out);

    /* forward returns a tuple: the first tensor is logits_per_image (2 images, 1 text). */
    int64_t tok1[CLIP_CONTEXT];
    known_tokens(tok1);
    shim_input both[2] = {ii, {.dtype = SHIM_INT64, .ndim = 2, .shape = {1, CLIP_CONTEXT}, .data = tok1, .count = CLIP_CONTEXT}};
    if (shim_model_run(m, "forward", both, 2, &out, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.shape[0], 2);
    assert_int_equal(out.shape[1], 1);
    shim_free_output(&out);
    free(img);
    shim_model_free(m);
}

static void test_clip_detects_patch(void **state) {
    (void)state;
    shim_model *m = load_clip(SHIM_PATCH_DETECT);
    assert_int_equal(shim_model_patched(m), 1);
    assert_true(shim_model_has_method(m, "encode_text"));
    assert_true(shim_model_has_method(m, "encode_image"));
    assert_false(shim_model_has_method(m, "encode_video"));
    char names[256];
    assert_int_equal(shim_model_method_names(m, names, sizeof names), 0);
    assert_contains(names, "encode_image");
    shim_model_free(m);
}

static void test_clip_unpatched_refused_on_cpu(void **state) {
    (void)state;
    if (!strcmp(shim_device_name(), "cuda")) skip();
    shim_model *m = shim_model_load(clip_fixture(), 0, errbuf, sizeof errbuf);
    assert_null(m);
    printf("# %s\n", errbuf);
    assert_contains(errbuf, "CUDA");
    assert_contains(errbuf, "patch_openai_jit");
    assert_true(strlen(errbuf) < 300);
}

static void test_count_must_match_shape(void **state) {
    (void)state;
    shim_model *m = load_clip(1);
    int64_t tok[CLIP_CONTEXT];
    known_tokens(tok);
    shim_output out;
    shim_input in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {1, CLIP_CONTEXT}, .data = tok, .count = CLIP_CONTEXT - 1};
    assert_int_not_equal(shim_model_run(m, "encode_text", &in, 1, &out, errbuf, sizeof errbuf), 0);
    assert_null(out.data);
    assert_contains(errbuf, "77 elements but 76");

    in.count = CLIP_CONTEXT;
    in.shape[1] = -77;
    in.shape[0] = -1;
    assert_int_not_equal(shim_model_run(m, "encode_text", &in, 1, &out, errbuf, sizeof errbuf), 0);
    assert_contains(errbuf, "negative");

    in.shape[0] = 1;
    in.shape[1] = CLIP_CONTEXT;
    in.ndim = 9;
    assert_int_not_equal(shim_model_run(m, "encode_text", &in, 1, &out, errbuf, sizeof errbuf), 0);
    assert_contains(errbuf, "ndim");

    /* Overflowing shape: the product must not wrap around to the count. */
    in.ndim = 4;
    in.shape[0] = in.shape[1] = in.shape[2] = in.shape[3] = INT64_C(1) << 20;
    assert_int_not_equal(shim_model_run(m, "encode_text", &in, 1, &out, errbuf, sizeof errbuf), 0);
    assert_contains(errbuf, "too large");

    /* Wrong dtype for the model: a short libtorch message, not a traceback. */
    float f[CLIP_CONTEXT] = {0};
    shim_input fin = {.dtype = SHIM_FLOAT32, .ndim = 2, .shape = {1, CLIP_CONTEXT}, .data = f, .count = CLIP_CONTEXT};
    assert_int_not_equal(shim_model_run(m, "encode_text", &fin, 1, &out, errbuf, sizeof errbuf), 0);
    printf("# float tokens: %s\n", errbuf);
    assert_null(strchr(errbuf, '\n'));
    assert_true(strlen(errbuf) < 300);
    shim_model_free(m);
}

static void test_unknown_method(void **state) {
    (void)state;
    shim_model *m = load_clip(1);
    int64_t tok[CLIP_CONTEXT];
    known_tokens(tok);
    shim_input in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {1, CLIP_CONTEXT}, .data = tok, .count = CLIP_CONTEXT};
    shim_output out;
    assert_int_not_equal(shim_model_run(m, "encode_txt", &in, 1, &out, errbuf, sizeof errbuf), 0);
    printf("# %s\n", errbuf);
    assert_contains(errbuf, "method 'encode_txt'");
    assert_contains(errbuf, "no such method");
    assert_contains(errbuf, "encode_text");
    shim_model_free(m);
}

/* ---- archives that do not load -------------------------------------------- */

static void test_corrupt_archive(void **state) {
    (void)state;
    char dir[64], path[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(path, sizeof path, "%s/random.pt", dir);
    unsigned char junk[4096];
    srand(42);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)rand();
    assert_int_equal(tmpdir_write(path, junk, sizeof junk), 0);
    assert_null(shim_model_load(path, -1, errbuf, sizeof errbuf));
    assert_contains(errbuf, "not a TorchScript archive");

    /* A zip header followed by junk gets past our magic check to libtorch's reader. */
    memcpy(junk, "PK\x03\x04", 4);
    assert_int_equal(tmpdir_write(path, junk, sizeof junk), 0);
    assert_null(shim_model_load(path, -1, errbuf, sizeof errbuf));
    printf("# %s\n", errbuf);
    assert_contains(errbuf, "not a TorchScript archive");
    assert_true(strlen(errbuf) < 300);

    snprintf(path, sizeof path, "%s/missing.pt", dir);
    assert_null(shim_model_load(path, -1, errbuf, sizeof errbuf));
    assert_contains(errbuf, "cannot open model file");
    tmpdir_remove(dir);
}

static void test_newer_pytorch_archives(void **state) {
    (void)state;
    const char *files[] = {"tests/fixtures/models/newer_format_version.pt", "tests/fixtures/models/newer_operator.pt"};
    for (size_t i = 0; i < 2; i++) {
        if (access(files[i], R_OK) != 0) fail_msg("fixture %s missing (run from the repo root)", files[i]);
        assert_null(shim_model_load(files[i], -1, errbuf, sizeof errbuf));
        printf("# %s\n", errbuf);
        assert_contains(errbuf, "model was exported by a newer PyTorch than libtorch 1.13 can read: ");
        assert_true(strlen(errbuf) < 300);
        assert_null(strchr(errbuf, '\n'));
    }
    assert_contains(errbuf, "scaled_dot_product_attention");
}

static void test_trim_traceback(void **state) {
    (void)state;
    const char *tb =
        "The following operation failed in the TorchScript interpreter.\n"
        "Traceback of TorchScript, serialized code (most recent call last):\n"
        "  File \"code/__torch__/clip_model.py\", line 40, in encode_text\n"
        "    x = torch.to((token_embedding).forward1(text, ), torch.device(\"cuda\"), 5)\n"
        "        ~~~~~~~~ <--- HERE\n"
        "Traceback of TorchScript, original code (most recent call last):\n"
        "RuntimeError: Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int\n";
    char out[300];
    shim_trim_error(tb, out, sizeof out);
    assert_string_equal(out, "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int");
    shim_trim_error("\nUnknown builtin op: aten::foo.\nHere are some suggestions:\n\taten::bar\n", out, sizeof out);
    assert_string_equal(out, "Unknown builtin op: aten::foo.");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    shim_trim_error(big, out, sizeof out);
    assert_true(strlen(out) < 300);
    shim_trim_error(big, out, 10); /* a short buffer is cut, still terminated */
    assert_int_equal(strlen(out), 9);
}

/* ---- the teacher CNN made in C++ ----------------------------------------- */

static void run_teacher(const char *path, int n, int c, int h, int w, int k, shim_output *out) {
    shim_model *m = shim_model_load(path, SHIM_PATCH_DETECT, errbuf, sizeof errbuf);
    if (!m) fail_msg("%s", errbuf);
    assert_int_equal(shim_model_patched(m), 0);
    size_t count = (size_t)n * c * h * w;
    float *x = malloc(count * sizeof(float)); // (N, C, H, W)
    for (size_t i = 0; i < count; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    shim_input in = {.dtype = SHIM_FLOAT32, .ndim = 4, .shape = {n, c, h, w}, .data = x, .count = count};
    if (shim_model_run(m, "forward", &in, 1, out, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(out->ndim, 2);
    assert_int_equal(out->shape[0], n);
    assert_int_equal(out->shape[1], k);
    free(x);
    shim_model_free(m);
}

static void test_teacher_cnn(void **state) {
    (void)state;
    char dir[64], a[128], b[128], c[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(a, sizeof a, "%s/a.pt", dir);
    snprintf(b, sizeof b, "%s/b.pt", dir);
    snprintf(c, sizeof c, "%s/c.pt", dir);
    if (shim_create_teacher_cnn(a, 3, 32, 32, 10, 7, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    if (shim_create_teacher_cnn(b, 3, 32, 32, 10, 7, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    if (shim_create_teacher_cnn(c, 3, 32, 32, 10, 8, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    shim_output oa, ob, oc;
    run_teacher(a, 3, 3, 32, 32, 10, &oa);
    run_teacher(b, 3, 3, 32, 32, 10, &ob);
    run_teacher(c, 3, 3, 32, 32, 10, &oc);
    assert_memory_equal(oa.data, ob.data, oa.count * sizeof(float)); /* same seed, same model */
    assert_memory_not_equal(oa.data, oc.data, oa.count * sizeof(float));
    shim_free_output(&oa);
    shim_free_output(&ob);
    shim_free_output(&oc);

    /* Any size >= 4x4 works (adaptive pooling), grey images too. */
    if (shim_create_teacher_cnn(a, 1, 28, 20, 2, 1, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    run_teacher(a, 1, 1, 28, 20, 2, &oa);
    shim_free_output(&oa);

    assert_int_not_equal(shim_create_teacher_cnn(a, 0, 32, 32, 10, 7, errbuf, sizeof errbuf), 0);
    assert_contains(errbuf, "channels");
    snprintf(a, sizeof a, "%s/no/such/dir/a.pt", dir);
    assert_int_not_equal(shim_create_teacher_cnn(a, 3, 32, 32, 10, 7, errbuf, sizeof errbuf), 0);
    assert_null(strchr(errbuf, '\n'));
    tmpdir_remove(dir);
}

/* ---- threads -------------------------------------------------------------- */

#define THREAD_ROUNDS 6
#define THREAD_TEXTS 4

typedef struct {
    shim_model *m;
    float out[THREAD_ROUNDS][THREAD_TEXTS * CLIP_DIM]; // (rounds, texts * D)
    char err[300];
    int rc;
} thread_job;

/* (THREAD_TEXTS, 77) tokens, a different word in each row. */
static void thread_tokens(int64_t *tok) {
    memset(tok, 0, THREAD_TEXTS * CLIP_CONTEXT * sizeof *tok);
    for (int i = 0; i < THREAD_TEXTS; i++) {
        tok[i * CLIP_CONTEXT] = 49406;
        tok[i * CLIP_CONTEXT + 1] = 320 + i * 1000;
        tok[i * CLIP_CONTEXT + 2] = 49407;
    }
}

static void *thread_main(void *arg) {
    thread_job *job = arg;
    int64_t tok[THREAD_TEXTS * CLIP_CONTEXT];
    thread_tokens(tok);
    shim_input in = {.dtype = SHIM_INT64, .ndim = 2, .shape = {THREAD_TEXTS, CLIP_CONTEXT}, .data = tok,
                     .count = THREAD_TEXTS * CLIP_CONTEXT};
    for (int r = 0; r < THREAD_ROUNDS; r++) {
        shim_output out;
        job->rc = shim_model_run(job->m, "encode_text", &in, 1, &out, job->err, sizeof job->err);
        if (job->rc) return NULL;
        if (out.count != THREAD_TEXTS * CLIP_DIM) {
            job->rc = -1;
            snprintf(job->err, sizeof job->err, "got %zu values", out.count);
            shim_free_output(&out);
            return NULL;
        }
        memcpy(job->out[r], out.data, sizeof job->out[r]);
        shim_free_output(&out);
    }
    return NULL;
}

static void test_two_threads_agree(void **state) {
    (void)state;
    shim_model *m = load_clip(SHIM_PATCH_DETECT);
    static thread_job serial, t1, t2;
    serial.m = t1.m = t2.m = m;
    thread_main(&serial);
    if (serial.rc) fail_msg("serial: %s", serial.err);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, thread_main, &t1), 0);
    assert_int_equal(pthread_create(&b, NULL, thread_main, &t2), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (t1.rc) fail_msg("thread 1: %s", t1.err);
    if (t2.rc) fail_msg("thread 2: %s", t2.err);
    float maxdiff = 0;
    for (int r = 0; r < THREAD_ROUNDS; r++)
        for (int i = 0; i < THREAD_TEXTS * CLIP_DIM; i++) {
            maxdiff = fmaxf(maxdiff, fabsf(t1.out[r][i] - serial.out[0][i]));
            maxdiff = fmaxf(maxdiff, fabsf(t2.out[r][i] - serial.out[0][i]));
        }
    printf("# two threads x %d rounds: max diff vs serial %.3g\n", THREAD_ROUNDS, maxdiff);
    assert_true(maxdiff == 0.0f);
    shim_model_free(m);
}

static void test_misc_api(void **state) {
    (void)state;
    const char *dev = shim_device_name();
    assert_true(!strcmp(dev, "cpu") || !strcmp(dev, "cuda"));
    assert_int_equal(shim_cuda_available(), !strcmp(dev, "cuda"));
    assert_non_null(shim_torch_version());
    assert_int_equal(strncmp(shim_torch_version(), "1.", 2), 0);
    shim_model_free(NULL);
    shim_free_output(NULL);
    assert_int_equal(shim_model_has_method(NULL, "forward"), 0);
    assert_int_equal(shim_model_patched(NULL), 0);
    assert_null(shim_model_load(NULL, -1, errbuf, sizeof errbuf));
    shim_output out;
    assert_int_not_equal(shim_model_run(NULL, "forward", NULL, 0, &out, errbuf, sizeof errbuf), 0);
    assert_null(out.data);
}

/* A real archive with a patch mode or a device that does not exist. */
static void test_bad_patch_and_device(void **state) {
    (void)state;
    assert_null(shim_model_load(clip_fixture(), 2, errbuf, sizeof errbuf));
    assert_contains(errbuf, "patch_openai");
    assert_null(shim_model_load_on(clip_fixture(), 1, "tpu", errbuf, sizeof errbuf));
    assert_contains(errbuf, "unknown device");
}

/* A shim_tensor input runs where C wrote it: the same answer as the copying
 * shim_model_run, the same memory on the next run (nothing kept it, so no copy and
 * no reallocation), and shapes that do not fit the buffer refused. */
static void test_tensor_input(void **state) {
    (void)state;
    shim_model *m = load_clip(1);
    const size_t per = 3 * CLIP_SIDE * CLIP_SIDE, cap = 3 * per;
    shim_tensor *t = shim_tensor_new(cap, errbuf, sizeof errbuf);
    if (!t) fail_msg("%s", errbuf);
    float *x = shim_tensor_data(t);
    assert_non_null(x);
    for (size_t i = 0; i < cap; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    float *copy = malloc(2 * per * sizeof *copy);
    memcpy(copy, x, 2 * per * sizeof *copy);
    shim_input in = {.dtype = SHIM_FLOAT32, .ndim = 4, .shape = {2, 3, CLIP_SIDE, CLIP_SIDE}, .data = copy, .count = 2 * per};
    shim_output want, got;
    if (shim_model_run(m, "encode_image", &in, 1, &want, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    const int64_t shape[4] = {2, 3, CLIP_SIDE, CLIP_SIDE}; /* the first 2 of 3 images */
    if (shim_model_run_tensor(m, "encode_image", t, 4, shape, &got, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(got.ndim, 2);
    assert_int_equal(got.shape[0], 2);
    assert_int_equal(got.shape[1], CLIP_DIM);
    assert_memory_equal(got.data, want.data, want.count * sizeof(float));
    assert_ptr_equal(shim_tensor_data(t), x);
    shim_free_output(&got);
    if (shim_model_run_tensor(m, "encode_image", t, 4, shape, &got, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_memory_equal(got.data, want.data, want.count * sizeof(float));
    shim_free_output(&got);

    const int64_t too_big[4] = {4, 3, CLIP_SIDE, CLIP_SIDE}, empty[4] = {0, 3, CLIP_SIDE, CLIP_SIDE};
    assert_int_equal(shim_model_run_tensor(m, "encode_image", t, 4, too_big, &got, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "does not fit");
    assert_null(got.data);
    assert_int_equal(shim_model_run_tensor(m, "encode_image", t, 4, empty, &got, errbuf, sizeof errbuf), -1);
    assert_int_equal(shim_model_run_tensor(m, "encode_image", t, 0, shape, &got, errbuf, sizeof errbuf), -1);
    assert_int_equal(shim_model_run_tensor(m, "encode_image", NULL, 4, shape, &got, errbuf, sizeof errbuf), -1);
    assert_int_equal(shim_model_run_tensor(m, "no_such_method", t, 4, shape, &got, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "no such method");
    assert_non_null(shim_tensor_data(t)); /* still usable after failures */
    assert_null(shim_tensor_new(0, errbuf, sizeof errbuf));
    assert_contains(errbuf, "count");
    assert_null(shim_tensor_data(NULL));
    shim_tensor_free(NULL);
    shim_tensor_free(t);
    shim_free_output(&want);
    free(copy);
    shim_model_free(m);
}

/* Dense mode on the fixture (an OpenAI-layout ViT: 64x64, patch 16, width 64, 2 blocks):
 * the tower's shape, FLOP counts, (N, E, h, w) from shim_model_run and a shim_tensor
 * alike, another input size, and the refusals (not a ViT, bad arguments, not whole
 * patches). The numbers themselves are checked against tests/clip_vit's reference by
 * tests/api/dense_clip.test.mjs. */
static void test_dense_clip(void **state) {
    (void)state;
    shim_model *m = load_clip(1);
    shim_clip_vit_info vi;
    if (shim_clip_vit_info_of(m, 0, &vi, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(vi.patch, 16);
    assert_int_equal(vi.width, 64);
    assert_int_equal(vi.layers, 2);
    assert_int_equal(vi.mlp, 256);
    assert_int_equal(vi.heads, 1);
    assert_int_equal(vi.embed, CLIP_DIM);
    assert_int_equal(vi.grid, 4);
    const double plain = shim_clip_vit_flops(&vi, 64, 64, "plain"), nac = shim_clip_vit_flops(&vi, 64, 64, "naclip"),
                 mask = shim_clip_vit_flops(&vi, 64, 64, "maskclip");
    printf("# FLOPs at 64x64: plain %.0f, naclip %.0f, maskclip %.0f\n", plain, nac, mask);
    assert_true(plain > 0 && nac > 0 && mask > 0 && mask < nac && nac < plain); /* the last block loses its MLP */
    assert_true(shim_clip_vit_flops(&vi, 128, 128, "naclip") > 4 * nac); /* attention grows faster than the grid */
    assert_true(shim_clip_vit_flops(&vi, 64, 64, "sclip") < 0);
    assert_int_equal(shim_model_dense_clip_info(m, NULL), 0);

    assert_int_equal(shim_model_dense_clip(m, "encode_image", "sclip", 5, 0, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "unknown method 'sclip'");
    assert_int_equal(shim_model_dense_clip(m, "encode_image", "naclip", 0, 0, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "gaussian_std");
    assert_int_equal(shim_model_dense_clip(m, "encode_image", "naclip", 5, 3, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "width 64 is not divisible by 3 heads");
    if (shim_model_dense_clip(m, "encode_image", "naclip", 5, 0, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(shim_model_dense_clip_info(m, &vi), 1);
    assert_int_equal(shim_model_has_method(m, "encode_image"), 1);

    const size_t per = 3 * CLIP_SIDE * CLIP_SIDE;
    shim_tensor *t = shim_tensor_new(2 * per, errbuf, sizeof errbuf);
    if (!t) fail_msg("%s", errbuf);
    float *x = shim_tensor_data(t);
    for (size_t i = 0; i < 2 * per; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    shim_input in = {.dtype = SHIM_FLOAT32, .ndim = 4, .shape = {2, 3, CLIP_SIDE, CLIP_SIDE}, .data = x, .count = 2 * per};
    shim_output want, got;
    if (shim_model_run(m, "encode_image", &in, 1, &want, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(want.ndim, 4);
    assert_int_equal(want.shape[0], 2);
    assert_int_equal(want.shape[1], CLIP_DIM);
    assert_int_equal(want.shape[2], 4);
    assert_int_equal(want.shape[3], 4);
    int varied = 0; /* the patches differ from one another */
    for (int d = 0; d < CLIP_DIM; d++) varied |= fabsf(want.data[d * 16] - want.data[d * 16 + 5]) > 1e-4f;
    assert_true(varied);
    const int64_t shape[4] = {2, 3, CLIP_SIDE, CLIP_SIDE};
    if (shim_model_run_tensor(m, "encode_image", t, 4, shape, &got, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_memory_equal(got.data, want.data, want.count * sizeof(float));
    shim_free_output(&got);
    /* one image at a time gives the same grid as in a batch of two */
    const int64_t one[4] = {1, 3, CLIP_SIDE, CLIP_SIDE};
    if (shim_model_run_tensor(m, "encode_image", t, 4, one, &got, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    for (size_t i = 0; i < got.count; i++) assert_true(fabsf(got.data[i] - want.data[i]) < 1e-4f);
    shim_free_output(&got);

    /* 32 x 48: a 2 x 3 grid from interpolated positions; 40 x 48 is not whole patches */
    const int64_t small[4] = {1, 3, 32, 48}, odd[4] = {1, 3, 40, 48};
    if (shim_model_run_tensor(m, "encode_image", t, 4, small, &got, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    assert_int_equal(got.shape[2], 2);
    assert_int_equal(got.shape[3], 3);
    shim_free_output(&got);
    assert_int_equal(shim_model_run_tensor(m, "encode_image", t, 4, odd, &got, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "image 40x48 is not a multiple of the patch size 16");

    double rel = 1;
    int heads = -1;
    if (shim_model_dense_clip_check(m, &rel, &heads, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    printf("# dense CLIP reading vs the archive's encode_image: relative gap %.2e\n", rel);
    assert_true(rel < 1e-5);
    assert_int_equal(heads, 0);
    shim_free_output(&want);
    shim_tensor_free(t);
    shim_model_free(m);

    /* a model with no ViT: the teacher CNN */
    char dir[64], path[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(path, sizeof path, "%s/cnn.pt", dir);
    if (shim_create_teacher_cnn(path, 3, 16, 16, 2, 1, errbuf, sizeof errbuf)) fail_msg("%s", errbuf);
    m = shim_model_load(path, 0, errbuf, sizeof errbuf);
    assert_non_null(m);
    assert_int_equal(shim_model_dense_clip(m, "forward", "naclip", 5, 0, errbuf, sizeof errbuf), -1);
    assert_contains(errbuf, "dense mode needs a ViT image encoder");
    assert_int_equal(shim_model_dense_clip_info(m, NULL), 0);
    shim_model_free(m);
    tmpdir_remove(dir);
}

int main(void) {
    setenv("OMP_NUM_THREADS", "1", 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    shim_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_known_answer),
        cmocka_unit_test(test_clip_detects_patch),
        cmocka_unit_test(test_clip_unpatched_refused_on_cpu),
        cmocka_unit_test(test_count_must_match_shape),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_corrupt_archive),
        cmocka_unit_test(test_newer_pytorch_archives),
        cmocka_unit_test(test_trim_traceback),
        cmocka_unit_test(test_teacher_cnn),
        cmocka_unit_test(test_two_threads_agree),
        cmocka_unit_test(test_misc_api),
        cmocka_unit_test(test_bad_patch_and_device),
        cmocka_unit_test(test_tensor_input),
        cmocka_unit_test(test_dense_clip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
