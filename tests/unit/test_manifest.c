/* test_manifest.c — model manifests (server/model_manifest.c) and model checks
 * (server/model_check.c: model_check_dir and `inficond model`).
 *
 * Manifest cases start from a good manifest, change one field, and expect
 * ERR_UNPROCESSABLE with that field named. Model checks use the CLIP fixture
 * (../shared/fixtures/clip_tiny_openai_style.pt, copied into a temp folder with
 * ../shared/clip's vocab, since files must sit inside the model folder; those tests
 * are skipped without them, naming them: need_file.h) and a teacher CNN made by the
 * shim.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "inficond_shim.h"
#include "models/model_check.h"
#include "models/model_manifest.h"
#include "need_file.h"
#include "tmpdir.h"

#define CLIP_FIXTURE "../shared/fixtures/clip_tiny_openai_style.pt"
#define CLIP_VOCAB "../shared/clip/bpe_simple_vocab_16e6.txt.gz"

static void assert_contains(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle)) fail_msg("expected \"%s\" in \"%s\"", needle, haystack);
}

static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) fail_msg("%s not found: run the tests from the repo root with shared/ beside it", from);
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(tmpdir_write(path, text, strlen(text)), 0);
}

static void write_json(const char *dir, json_t *root) {
    char *text = json_dumps(root, JSON_INDENT(2));
    assert_non_null(text);
    write_text(dir, "manifest.json", text);
    free(text);
}

/* README.md's example manifest ("Models"), shrunk to the fixture. */
static json_t *concept_manifest(void) {
    json_error_t je;
    json_t *j = json_loads("{\"format\": \"inficond-model/1\", \"kind\": \"concept\", \"encoder\": \"global\","
                           " \"file\": \"model.pt\","
                           " \"input\": {\"channels\": 3, \"height\": 64, \"width\": 64,"
                           "   \"mean\": [0.4815, 0.4578, 0.4082], \"std\": [0.2686, 0.2613, 0.2758]},"
                           " \"methods\": {\"image\": \"encode_image\", \"text\": \"encode_text\"},"
                           " \"embedding_dim\": 64,"
                           " \"tokenizer\": {\"type\": \"clip-bpe\", \"vocab\": \"bpe_simple_vocab_16e6.txt.gz\","
                           "   \"context_length\": 77},"
                           " \"patch_openai_jit\": true}",
                           0, &je);
    if (!j) fail_msg("test manifest: %s", je.text);
    return j;
}

static json_t *teacher_manifest(void) {
    json_error_t je;
    json_t *j = json_loads("{\"format\": \"inficond-model/1\", \"kind\": \"teacher\", \"file\": \"model.pt\","
                           " \"input\": {\"channels\": 1, \"height\": 28, \"width\": 28, \"mean\": [0.5], \"std\": [0.25]},"
                           " \"methods\": {\"forward\": \"forward\"},"
                           " \"classes\": [\"t-shirt\", \"trouser\", \"pullover\"]}",
                           0, &je);
    if (!j) fail_msg("test manifest: %s", je.text);
    return j;
}

/* Set (or with v == NULL delete) the member at a dotted path such as "input.mean". Steals v. */
static void set_path(json_t *root, const char *path, json_t *v) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *obj = root;
    char *dot, *key = buf;
    while ((dot = strchr(key, '.'))) {
        *dot = '\0';
        obj = json_object_get(obj, key);
        assert_non_null(obj);
        key = dot + 1;
    }
    if (v) json_object_set_new(obj, key, v);
    else json_object_del(obj, key);
}

/* A folder with placeholder model and tokenizer files (the manifest never opens them). */
static void make_plain_folder(char *dir) {
    assert_non_null(tmpdir_make(dir));
    write_text(dir, "model.pt", "placeholder");
    write_text(dir, "bpe_simple_vocab_16e6.txt.gz", "placeholder");
    write_text(dir, "words.txt", "cat\ndog\n");
}

/* ---- manifests ------------------------------------------------------------ */

static void test_good_concept_manifest(void **state) {
    (void)state;
    char dir[64];
    make_plain_folder(dir);
    json_t *j = concept_manifest();
    write_json(dir, j);
    json_decref(j);
    model_manifest m;
    err e = {0};
    if (model_manifest_load(dir, &m, &e)) fail_msg("%s", e.msg);
    assert_int_equal(m.kind, MODEL_KIND_CONCEPT);
    assert_int_equal(m.encoder, MODEL_ENCODER_GLOBAL);
    assert_string_equal(m.file, "model.pt");
    char want[128];
    snprintf(want, sizeof want, "%s/model.pt", dir);
    assert_string_equal(m.file_path, want);
    assert_int_equal(m.channels, 3);
    assert_int_equal(m.height, 64);
    assert_int_equal(m.width, 64);
    assert_float_equal(m.mean[1], 0.4578f, 1e-6);
    assert_float_equal(m.std[2], 0.2758f, 1e-6);
    assert_string_equal(m.method_image, "encode_image");
    assert_string_equal(m.method_text, "encode_text");
    assert_null(m.method_forward);
    assert_int_equal(m.n_classes, 0);
    assert_int_equal(m.embedding_dim, 64);
    assert_int_equal(m.tokenizer, MODEL_TOKENIZER_CLIP_BPE);
    assert_string_equal(m.tokenizer_file, "bpe_simple_vocab_16e6.txt.gz");
    assert_int_equal(m.context_length, 77);
    assert_int_equal(m.patch_openai_jit, 1);
    model_manifest_free(&m);
    assert_null(m.dir);
    model_manifest_free(&m); /* twice is harmless */
    model_manifest_free(NULL);

    /* patch_openai_jit left out: detect; a words tokenizer; a dense encoder. */
    j = concept_manifest();
    set_path(j, "patch_openai_jit", NULL);
    set_path(j, "encoder", json_string("dense"));
    set_path(j, "tokenizer", json_pack("{s:s, s:s, s:i}", "type", "words", "words", "words.txt", "context_length", 8));
    write_json(dir, j);
    json_decref(j);
    if (model_manifest_load(dir, &m, &e)) fail_msg("%s", e.msg);
    assert_int_equal(m.patch_openai_jit, -1);
    assert_int_equal(m.encoder, MODEL_ENCODER_DENSE);
    assert_int_equal(m.tokenizer, MODEL_TOKENIZER_WORDS);
    assert_string_equal(m.tokenizer_file, "words.txt");
    assert_int_equal(m.context_length, 8);
    model_manifest_free(&m);
    tmpdir_remove(dir);
}

static void test_good_teacher_manifest(void **state) {
    (void)state;
    char dir[64];
    make_plain_folder(dir);
    json_t *j = teacher_manifest();
    write_json(dir, j);
    json_decref(j);
    model_manifest m;
    err e = {0};
    if (model_manifest_load(dir, &m, &e)) fail_msg("%s", e.msg);
    assert_int_equal(m.kind, MODEL_KIND_TEACHER);
    assert_int_equal(m.encoder, MODEL_ENCODER_NONE);
    assert_string_equal(m.method_forward, "forward");
    assert_int_equal(m.n_classes, 3);
    assert_string_equal(m.classes[2], "pullover");
    assert_int_equal(m.tokenizer, MODEL_TOKENIZER_NONE);
    assert_int_equal(m.patch_openai_jit, -1);
    model_manifest_free(&m);
    tmpdir_remove(dir);
}

typedef struct {
    int teacher;        /* start from the teacher manifest, else the concept one */
    const char *path;   /* dotted field to change */
    const char *value;  /* JSON text of the new value; NULL deletes the field */
    const char *expect; /* substring of the error */
} bad_case;

static const bad_case bad_cases[] = {
    {0, "kind", NULL, "manifest.kind: missing"},
    {0, "kind", "\"student\"", "manifest.kind: expected \"teacher\" or \"concept\""},
    {0, "format", "\"inficond-model/2\"", "manifest.format"},
    {0, "format", NULL, "manifest.format: missing"},
    {0, "input.mean", "[0.5, 0.5]", "manifest.input.mean: expected 3 numbers"},
    {0, "input.mean", "[0.5, \"x\", 0.5]", "manifest.input.mean: expected 3 numbers"},
    {0, "input.std", "[0.2, 0, 0.2]", "manifest.input.std: entry 1 must be > 0"},
    {0, "input.std", "[0.2, -1, 0.2]", "manifest.input.std"},
    {0, "input.channels", "0", "manifest.input.channels"},
    {0, "input.height", "2.5", "manifest.input.height"},
    {0, "input.depth", "3", "manifest.input.depth: unknown field"},
    {0, "file", "\"../x\"", "manifest.file: must not leave the model folder"},
    {0, "file", "\"sub/../../x\"", "manifest.file: must not leave the model folder"},
    {0, "file", "\"/etc/hostname\"", "manifest.file: must be a path relative"},
    {0, "file", "\"other.pt\"", "manifest.file: file 'other.pt' not found"},
    {0, "file", "\".\"", "manifest.file: '.' is not a regular file"},
    {0, "file", "\"\"", "manifest.file: must not be empty"},
    {0, "file", "7", "manifest.file: expected a string"},
    {0, "encoder", "\"patch\"", "manifest.encoder: expected \"dense\" or \"global\""},
    {0, "encoder", NULL, "manifest.encoder: missing"},
    {0, "methods.text", NULL, "manifest.methods.text: missing"},
    {0, "methods.image", "\"encode image\"", "manifest.methods.image: 'encode image' is not a method name"},
    {0, "methods.forward", "\"forward\"", "manifest.methods.forward: unknown field"},
    {0, "embedding_dim", NULL, "manifest.embedding_dim: missing"},
    {0, "embedding_dim", "0", "manifest.embedding_dim"},
    {0, "tokenizer.type", "\"sentencepiece\"", "manifest.tokenizer.type: unknown tokenizer 'sentencepiece'"},
    {0, "tokenizer.vocab", "\"../vocab.gz\"", "manifest.tokenizer.vocab: must not leave the model folder"},
    {0, "tokenizer.vocab", NULL, "manifest.tokenizer.vocab: missing"},
    {0, "tokenizer.context_length", "1", "manifest.tokenizer.context_length"},
    {0, "tokenizer", NULL, "manifest.tokenizer: missing"},
    {0, "classes", "[\"a\"]", "manifest.classes: only a teacher has classes"},
    {0, "patch_openai_jit", "\"yes\"", "manifest.patch_openai_jit: expected true or false"},
    {0, "patch_openai", "true", "manifest.patch_openai: unknown field"},
    {1, "classes", NULL, "manifest.classes: missing"},
    {1, "classes", "[]", "manifest.classes: expected a non-empty array"},
    {1, "classes", "[\"a\", \"b\", \"a\"]", "manifest.classes: 'a' appears twice"},
    {1, "classes", "[\"a\", \"\"]", "manifest.classes: entry 1 must be a non-empty string"},
    {1, "methods.forward", NULL, "manifest.methods.forward: missing"},
    {1, "methods.image", "\"encode_image\"", "manifest.methods.image: unknown field"},
    {1, "encoder", "\"global\"", "manifest.encoder: only a concept model"},
    {1, "tokenizer", "{}", "manifest.tokenizer: only a concept model"},
    {1, "input.mean", "[0.5, 0.5, 0.5]", "manifest.input.mean: expected 1 numbers"},
    {1, "input", NULL, "manifest.input: missing"},
};

static void test_bad_manifests(void **state) {
    (void)state;
    char dir[64];
    make_plain_folder(dir);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        json_t *j = c->teacher ? teacher_manifest() : concept_manifest();
        json_t *v = NULL;
        if (c->value) {
            json_error_t je;
            v = json_loads(c->value, JSON_DECODE_ANY, &je);
            if (!v) fail_msg("case %zu: bad test value %s", i, c->value);
        }
        set_path(j, c->path, v);
        write_json(dir, j);
        json_decref(j);
        model_manifest m;
        err e = {0};
        if (model_manifest_load(dir, &m, &e) == 0) fail_msg("case %zu (%s) was accepted", i, c->path);
        if (e.code != ERR_UNPROCESSABLE) fail_msg("case %zu (%s): code %d: %s", i, c->path, e.code, e.msg);
        if (!strstr(e.msg, c->expect)) fail_msg("case %zu: expected \"%s\" in \"%s\"", i, c->expect, e.msg);
        assert_null(m.dir); /* nothing left to free */
    }
    tmpdir_remove(dir);
}

static void test_manifest_files(void **state) {
    (void)state;
    char dir[64], path[128];
    make_plain_folder(dir);
    model_manifest m;
    err e = {0};

    /* No manifest.json at all. */
    assert_int_equal(model_manifest_load(dir, &m, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_contains(e.msg, "no manifest.json");

    /* Broken JSON names the line. */
    err_clear(&e);
    write_text(dir, "manifest.json", "{\n\"format\": \"inficond-model/1\",\n\"kind\": }");
    assert_int_equal(model_manifest_load(dir, &m, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_contains(e.msg, "manifest: invalid JSON at line 3");

    err_clear(&e);
    write_text(dir, "manifest.json", "[1, 2]");
    assert_int_equal(model_manifest_load(dir, &m, &e), -1);
    assert_contains(e.msg, "manifest: expected a JSON object");

    /* A symlink inside the folder that points out of it. */
    snprintf(path, sizeof path, "%s/escape.pt", dir);
    assert_int_equal(symlink("/etc/hostname", path), 0);
    json_t *j = concept_manifest();
    set_path(j, "file", json_string("escape.pt"));
    write_json(dir, j);
    json_decref(j);
    err_clear(&e);
    assert_int_equal(model_manifest_load(dir, &m, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_contains(e.msg, "manifest.file: 'escape.pt' resolves outside the model folder");

    /* A folder that is not there. */
    err_clear(&e);
    assert_int_equal(model_manifest_load("/nonexistent/model", &m, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_contains(e.msg, "/nonexistent/model");

    /* A file in a subfolder is fine. */
    snprintf(path, sizeof path, "%s/weights", dir);
    tmpdir_mkdirs(path);
    write_text(dir, "weights/model.pt", "x");
    j = concept_manifest();
    set_path(j, "file", json_string("weights/./model.pt"));
    write_json(dir, j);
    json_decref(j);
    err_clear(&e);
    if (model_manifest_load(dir, &m, &e)) fail_msg("%s", e.msg);
    model_manifest_free(&m);
    tmpdir_remove(dir);
}

/* ---- model_check_dir ------------------------------------------------------ */

/* A folder holding the CLIP fixture, its vocab and the concept manifest `j` (stolen). */
static void make_clip_folder(char *dir, json_t *j) {
    assert_non_null(tmpdir_make(dir)); /* the caller checked need_clip() first */
    char path[128];
    snprintf(path, sizeof path, "%s/model.pt", dir);
    copy_file(CLIP_FIXTURE, path);
    snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
    copy_file(CLIP_VOCAB, path);
    write_json(dir, j);
    json_decref(j);
}

/* Skips the calling test unless the CLIP fixture and its vocab are there (before it
 * makes anything, so a skip leaks nothing). */
static void need_clip(void) {
    need_file(CLIP_FIXTURE, NEED_SHARED);
    need_file(CLIP_VOCAB, NEED_SHARED);
}

static void test_check_clip_folder(void **state) {
    (void)state;
    need_clip();
    char dir[64];
    json_t *j = concept_manifest();
    set_path(j, "patch_openai_jit", NULL); /* detected */
    make_clip_folder(dir, j);
    json_t *summary = NULL;
    err e = {0};
    if (model_check_dir(dir, &summary, &e)) fail_msg("%s", e.msg);
    char *text = json_dumps(summary, JSON_COMPACT);
    printf("# %s\n", text);
    free(text);
    assert_true(json_is_true(json_object_get(summary, "ok")));
    assert_string_equal(json_string_value(json_object_get(summary, "kind")), "concept");
    assert_true(json_is_true(json_object_get(summary, "patched_openai_jit")));
    json_t *img = json_object_get(json_object_get(summary, "methods"), "image");
    json_t *txt = json_object_get(json_object_get(summary, "methods"), "text");
    assert_non_null(img);
    assert_non_null(txt);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(img, "output"), 1)), 64);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(txt, "input"), 1)), 77);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(txt, "output"), 0)), 2);
    json_decref(summary);

    /* The command: summary on stdout, exit 0. */
    char *argv[] = {"model", "check", dir, NULL};
    assert_int_equal(cmd_model(3, argv), 0);
    tmpdir_remove(dir);
}

typedef struct {
    const char *path;
    const char *value; /* JSON; NULL deletes */
    err_code code;
    const char *expect;
} check_case;

static const check_case check_cases[] = {
    {"methods.text", "\"encode_texts\"", ERR_UNPROCESSABLE,
     "manifest.methods.text: the model has no method 'encode_texts' (it has: forward, encode_image, encode_text)"},
    {"methods.image", "\"visual\"", ERR_UNPROCESSABLE, "manifest.methods.image: the model has no method 'visual'"},
    {"embedding_dim", "32", ERR_UNPROCESSABLE, "manifest.embedding_dim: 32, but method 'encode_image' returned (2, 64)"},
    {"encoder", "\"dense\"", ERR_UNPROCESSABLE, "manifest.encoder: \"dense\", but method 'encode_image' returned (2, 64)"},
    {"input.height", "48", ERR_TORCH, "manifest.methods.image: probe batch failed: method 'encode_image'"},
    {"patch_openai_jit", "false", ERR_TORCH, "manifest.file: model.pt: the model's graph pins CUDA devices"},
};

static void test_check_clip_mismatches(void **state) {
    (void)state;
    need_clip();
    char dir[64];
    make_clip_folder(dir, concept_manifest());
    for (size_t i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
        const check_case *c = &check_cases[i];
        json_t *j = concept_manifest();
        json_error_t je;
        set_path(j, c->path, c->value ? json_loads(c->value, JSON_DECODE_ANY, &je) : NULL);
        write_json(dir, j);
        json_decref(j);
        json_t *summary = NULL;
        err e = {0};
        if (model_check_dir(dir, &summary, &e) == 0) fail_msg("case %zu (%s) passed", i, c->path);
        assert_null(summary);
        printf("# %s\n", e.msg);
        if (e.code != c->code) fail_msg("case %zu: code %d, want %d: %s", i, e.code, c->code, e.msg);
        if (!strstr(e.msg, c->expect)) fail_msg("case %zu: expected \"%s\" in \"%s\"", i, c->expect, e.msg);
        assert_null(strchr(e.msg, '\n'));
    }
    /* The command: one line on stderr, exit 1. */
    char *argv[] = {"model", "check", dir, NULL};
    assert_int_equal(cmd_model(3, argv), 1);
    tmpdir_remove(dir);
}

static void test_check_teacher_folder(void **state) {
    (void)state;
    char dir[64], path[128], eb[300];
    assert_non_null(tmpdir_make(dir));
    snprintf(path, sizeof path, "%s/model.pt", dir);
    if (shim_create_teacher_cnn(path, 1, 28, 28, 3, 5, eb, sizeof eb)) fail_msg("%s", eb);
    json_t *j = teacher_manifest();
    write_json(dir, j);
    json_decref(j);
    json_t *summary = NULL;
    err e = {0};
    if (model_check_dir(dir, &summary, &e)) fail_msg("%s", e.msg);
    assert_false(json_is_true(json_object_get(summary, "patched_openai_jit")));
    json_t *fw = json_object_get(json_object_get(summary, "methods"), "forward");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(fw, "output"), 1)), 3);
    assert_int_equal(json_array_size(json_object_get(summary, "classes")), 3);
    json_decref(summary);

    /* Four classes named, three logits returned. */
    j = teacher_manifest();
    json_array_append_new(json_object_get(j, "classes"), json_string("dress"));
    write_json(dir, j);
    json_decref(j);
    assert_int_equal(model_check_dir(dir, NULL, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_contains(e.msg, "manifest.classes: 4 classes but method 'forward' returned (2, 3)");
    tmpdir_remove(dir);
}

/* tests/fixtures/models/tiny_dense.pt: a dense encoder (N,1,8,8) -> (N,16,4,4) and a
 * words text side (N,L) -> (N,16). */
static void test_check_dense_words_folder(void **state) {
    (void)state;
    char dir[64], path[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(path, sizeof path, "%s/model.pt", dir);
    copy_file("tests/fixtures/models/tiny_dense.pt", path);
    write_text(dir, "words.txt", "cat\ndog\n");
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:[f], s:[f]}, s:{s:s, s:s}, s:i,"
                          " s:{s:s, s:s, s:i}}",
                          "format", "inficond-model/1", "kind", "concept", "encoder", "dense", "file", "model.pt",
                          "input", "channels", 1, "height", 8, "width", 8, "mean", 0.5, "std", 0.5,
                          "methods", "image", "encode_dense", "text", "encode_words", "embedding_dim", 16,
                          "tokenizer", "type", "words", "words", "words.txt", "context_length", 5);
    assert_non_null(j);
    write_json(dir, j);
    json_t *summary = NULL;
    err e = {0};
    if (model_check_dir(dir, &summary, &e)) fail_msg("%s", e.msg);
    assert_false(json_is_true(json_object_get(summary, "patched_openai_jit")));
    json_t *img = json_object_get(json_object_get(summary, "methods"), "image");
    json_t *shape = json_object_get(img, "output");
    assert_int_equal(json_array_size(shape), 4);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), 16);
    assert_int_equal(json_integer_value(json_array_get(shape, 2)), 4);
    json_decref(summary);

    /* Declared global, returns a grid. */
    set_path(j, "encoder", json_string("global"));
    write_json(dir, j);
    assert_int_equal(model_check_dir(dir, NULL, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_contains(e.msg, "manifest.encoder: \"global\", but method 'encode_dense' returned (2, 16, 4, 4)");
    json_decref(j);
    tmpdir_remove(dir);
}

/* ---- dense CLIP ("dense": {"from": "clip-vit"}) ----------------------------- */

/* The concept manifest made dense by the shim: the fixture is a ViT (64x64, patch 16). */
static json_t *dense_clip_manifest(void) {
    json_t *j = concept_manifest();
    set_path(j, "encoder", json_string("dense"));
    set_path(j, "dense", json_pack("{s:s}", "from", "clip-vit"));
    return j;
}

static void test_dense_clip_manifest(void **state) {
    (void)state;
    char dir[64];
    make_plain_folder(dir);
    json_t *j = dense_clip_manifest();
    write_json(dir, j);
    json_decref(j);
    model_manifest m;
    err e = {0};
    if (model_manifest_load(dir, &m, &e)) fail_msg("%s", e.msg);
    assert_int_equal(m.dense_from, MODEL_DENSE_CLIP_VIT);
    assert_string_equal(m.dense_method, "naclip"); /* the defaults */
    assert_float_equal(m.dense_gaussian_std, 5.0, 0);
    assert_int_equal(m.dense_heads, 0);
    model_manifest_free(&m);

    j = dense_clip_manifest();
    set_path(j, "dense", json_pack("{s:s, s:s, s:i}", "from", "clip-vit", "method", "maskclip", "heads", 12));
    write_json(dir, j);
    json_decref(j);
    if (model_manifest_load(dir, &m, &e)) fail_msg("%s", e.msg);
    assert_string_equal(m.dense_method, "maskclip");
    assert_int_equal(m.dense_heads, 12);
    model_manifest_free(&m);

    /* a dense model without "dense" is dense by itself */
    j = dense_clip_manifest();
    set_path(j, "dense", NULL);
    write_json(dir, j);
    json_decref(j);
    if (model_manifest_load(dir, &m, &e)) fail_msg("%s", e.msg);
    assert_int_equal(m.dense_from, MODEL_DENSE_NATIVE);
    model_manifest_free(&m);

    static const bad_case cases[] = {
        {0, "dense.from", "\"clip-resnet\"", "manifest.dense.from: unknown 'clip-resnet' (expected \"clip-vit\")"},
        {0, "dense.from", NULL, "manifest.dense.from: missing"},
        {0, "dense.method", "\"sclip\"", "manifest.dense.method: unknown method 'sclip'"},
        {0, "dense.gaussian_std", "0", "manifest.dense.gaussian_std: must be > 0"},
        {0, "dense.gaussian_std", "-2.5", "manifest.dense.gaussian_std: must be > 0"},
        {0, "dense.gaussian_std", "\"5\"", "manifest.dense.gaussian_std: expected a number"},
        {0, "dense.heads", "0", "manifest.dense.heads: expected an integer 1..4096"},
        {0, "dense.sigma", "5", "manifest.dense.sigma: unknown field"},
        {0, "dense", "\"clip-vit\"", "manifest.dense: expected an object"},
        {0, "encoder", "\"global\"", "manifest.dense: only a dense encoder has it"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        j = dense_clip_manifest();
        json_error_t je;
        set_path(j, cases[i].path, cases[i].value ? json_loads(cases[i].value, JSON_DECODE_ANY, &je) : NULL);
        write_json(dir, j);
        json_decref(j);
        err_clear(&e);
        if (model_manifest_load(dir, &m, &e) == 0) fail_msg("case %zu (%s) was accepted", i, cases[i].path);
        assert_int_equal(e.code, ERR_UNPROCESSABLE);
        if (!strstr(e.msg, cases[i].expect)) fail_msg("case %zu: expected \"%s\" in \"%s\"", i, cases[i].expect, e.msg);
    }
    /* gaussian_std belongs to naclip; a one-channel input cannot feed a CLIP */
    j = dense_clip_manifest();
    set_path(j, "dense", json_pack("{s:s, s:s, s:f}", "from", "clip-vit", "method", "maskclip", "gaussian_std", 3.0));
    write_json(dir, j);
    json_decref(j);
    err_clear(&e);
    assert_int_equal(model_manifest_load(dir, &m, &e), -1);
    assert_contains(e.msg, "manifest.dense.gaussian_std: only the naclip method");
    j = dense_clip_manifest();
    set_path(j, "input", json_pack("{s:i, s:i, s:i, s:[f], s:[f]}", "channels", 1, "height", 64, "width", 64, "mean",
                                   0.5, "std", 0.5));
    write_json(dir, j);
    json_decref(j);
    err_clear(&e);
    assert_int_equal(model_manifest_load(dir, &m, &e), -1);
    assert_contains(e.msg, "manifest.input.channels: 1, but a CLIP ViT run densely takes 3");
    tmpdir_remove(dir);
}

/* The OpenAI-style fixture (CUDA/fp16 baked in) in dense mode: checked, the grid from
 * the manifest's input (positions interpolated away from 64x64), and the refusals. */
static void test_check_dense_clip(void **state) {
    (void)state;
    char dir[64];
    make_clip_folder(dir, dense_clip_manifest());
    json_t *summary = NULL;
    err e = {0};
    if (model_check_dir(dir, &summary, &e)) fail_msg("%s", e.msg);
    char *text = json_dumps(summary, JSON_COMPACT);
    printf("# %s\n", text);
    free(text);
    json_t *img = json_object_get(json_object_get(summary, "methods"), "image");
    json_t *shape = json_object_get(img, "output"); /* (2, 64, 4, 4) */
    assert_int_equal(json_array_size(shape), 4);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), 64);
    assert_int_equal(json_integer_value(json_array_get(shape, 2)), 4);
    assert_true(json_real_value(json_object_get(img, "archive_gap")) < 1e-4);
    json_t *dense = json_object_get(summary, "dense");
    assert_int_equal(json_integer_value(json_object_get(dense, "patch")), 16);
    assert_int_equal(json_integer_value(json_object_get(dense, "heads")), 1);
    assert_true(json_is_true(json_object_get(summary, "patched_openai_jit")));
    json_decref(summary);

    /* 96x128: a 6x8 grid */
    json_t *j = dense_clip_manifest();
    set_path(j, "input.height", json_integer(96));
    set_path(j, "input.width", json_integer(128));
    write_json(dir, j);
    json_decref(j);
    if (model_check_dir(dir, &summary, &e)) fail_msg("%s", e.msg);
    shape = json_object_get(json_object_get(json_object_get(summary, "methods"), "image"), "output");
    assert_int_equal(json_integer_value(json_array_get(shape, 2)), 6);
    assert_int_equal(json_integer_value(json_array_get(shape, 3)), 8);
    json_decref(summary);

    static const check_case cases[] = {
        {"input.height", "72", ERR_UNPROCESSABLE,
         "manifest.input.height: 72 is not a multiple of the ViT's patch size 16; sizes that work are multiples of 16, "
         "e.g. 64 or 80 (the archive's own is 64)"},
        {"input.width", "8", ERR_UNPROCESSABLE, "manifest.input.width: 8 is not a multiple of the ViT's patch size 16"},
        {"dense.heads", "2", ERR_UNPROCESSABLE,
         "manifest.dense.heads: the archive's 'encode_image' agrees with 1 attention heads, not 2: set \"heads\": 1"},
        {"dense.heads", "3", ERR_UNPROCESSABLE, "manifest.dense: width 64 is not divisible by 3 heads"},
        {"dense.method", "\"maskclip\"", ERR_OK, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const check_case *c = &cases[i];
        j = dense_clip_manifest();
        json_error_t je;
        set_path(j, c->path, json_loads(c->value, JSON_DECODE_ANY, &je));
        write_json(dir, j);
        json_decref(j);
        err_clear(&e);
        int rc = model_check_dir(dir, NULL, &e);
        printf("# %s: %s\n", c->path, rc ? e.msg : "ok");
        if (!c->expect) {
            if (rc) fail_msg("case %zu (%s): %s", i, c->path, e.msg);
            continue;
        }
        if (rc == 0) fail_msg("case %zu (%s) passed", i, c->path);
        if (e.code != c->code) fail_msg("case %zu: code %d, want %d: %s", i, e.code, c->code, e.msg);
        if (!strstr(e.msg, c->expect)) fail_msg("case %zu: expected \"%s\" in \"%s\"", i, c->expect, e.msg);
    }
    tmpdir_remove(dir);
}

static void test_cmd_usage(void **state) {
    (void)state;
    char *help[] = {"model", "--help", NULL};
    assert_int_equal(cmd_model(2, help), 0);
    char *check_help[] = {"model", "check", "--help", NULL};
    assert_int_equal(cmd_model(3, check_help), 0);
    char *none[] = {"model", NULL};
    assert_int_equal(cmd_model(1, none), 2);
    char *unknown[] = {"model", "inspect", "x", NULL};
    assert_int_equal(cmd_model(3, unknown), 2);
    char *two[] = {"model", "check", "a", "b", NULL};
    assert_int_equal(cmd_model(4, two), 2);
    char *missing[] = {"model", "check", "/nonexistent/model", NULL};
    assert_int_equal(cmd_model(3, missing), 1);
}

int main(void) {
    setenv("OMP_NUM_THREADS", "1", 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    setenv("INFICOND_TORCH_THREADS", "1", 0);
    shim_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_concept_manifest),
        cmocka_unit_test(test_good_teacher_manifest),
        cmocka_unit_test(test_bad_manifests),
        cmocka_unit_test(test_manifest_files),
        cmocka_unit_test(test_check_clip_folder),
        cmocka_unit_test(test_check_clip_mismatches),
        cmocka_unit_test(test_check_teacher_folder),
        cmocka_unit_test(test_check_dense_words_folder),
        cmocka_unit_test(test_dense_clip_manifest),
        cmocka_unit_test(test_check_dense_clip),
        cmocka_unit_test(test_cmd_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
