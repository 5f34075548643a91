/* model_manifest.c — parse and validate a model folder's manifest.json.
 *
 * The manifest is user-written, so every check names the field it is about
 * ("manifest.tokenizer.type: ...") and unknown fields are refused (a typo such as
 * "patch_openai" would otherwise be silently ignored). File names are resolved
 * inside the model folder only: relative, no ".." component, and after resolving
 * symlinks still under the folder. Parsing uses jansson; nothing here touches
 * libtorch.
 */
#include "models/model_manifest.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

/* ---- small helpers -------------------------------------------------------- */

/* Every validation failure goes through here: "manifest.<field>: <what>". */
__attribute__((format(printf, 3, 4))) static int bad(err *e, const char *field, const char *fmt, ...) {
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(e, ERR_UNPROCESSABLE, "manifest.%s: %s", field, what);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

const char *model_kind_name(model_kind k) {
    return k == MODEL_KIND_TEACHER ? "teacher" : k == MODEL_KIND_CONCEPT ? "concept" : "none";
}

const char *model_encoder_name(model_encoder enc) {
    return enc == MODEL_ENCODER_DENSE ? "dense" : enc == MODEL_ENCODER_GLOBAL ? "global" : "none";
}

const char *model_tokenizer_name(model_tokenizer t) {
    return t == MODEL_TOKENIZER_CLIP_BPE ? "clip-bpe" : t == MODEL_TOKENIZER_WORDS ? "words" : "none";
}

/* Refuse keys of obj not in allowed[] (NULL-terminated). */
static int only_keys(json_t *obj, const char *prefix, const char *const *allowed, err *e) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, key)) ok = 1;
        if (!ok) {
            char field[256];
            snprintf(field, sizeof field, "%s%s", prefix, key);
            return bad(e, field, "unknown field");
        }
    }
    return 0;
}

/* A required string without NUL bytes, non-empty. Borrowed from the JSON. */
static const char *req_string(json_t *obj, const char *key, const char *field, err *e) {
    json_t *v = json_object_get(obj, key);
    if (!v) return bad(e, field, "missing"), NULL;
    if (!json_is_string(v)) return bad(e, field, "expected a string"), NULL;
    const char *s = json_string_value(v);
    if (!*s) return bad(e, field, "must not be empty"), NULL;
    if (strlen(s) != json_string_length(v)) return bad(e, field, "contains a NUL byte"), NULL;
    return s;
}

static int req_int(json_t *obj, const char *key, const char *field, int lo, int hi, int *out, err *e) {
    json_t *v = json_object_get(obj, key);
    if (!v) return bad(e, field, "missing");
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(e, field, "expected an integer %d..%d", lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

/* TorchScript method names are Python identifiers. */
static int valid_identifier(const char *s) {
    if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return 1;
}

/* Resolve `name` (from the manifest field `field`) inside dir: relative, no ".."
 * component, an existing regular file whose real path stays under dir's real path.
 * Returns the joined path (malloc'd) or NULL with e set. */
static char *resolve_in_dir(const char *dir, const char *name, const char *field, err *e) {
    if (name[0] == '/') return bad(e, field, "must be a path relative to the model folder"), NULL;
    const char *p = name;
    while (*p) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return bad(e, field, "must not leave the model folder (\"..\")"), NULL;
        p += len;
        if (*p == '/') p++;
    }
    char *path = join_path(dir, name);
    if (!path) return err_set(e, ERR_INTERNAL, "out of memory"), NULL;
    char real_dir[PATH_MAX], real_file[PATH_MAX];
    if (!realpath(dir, real_dir)) {
        err_set(e, ERR_UNPROCESSABLE, "model folder %s: %s", dir, strerror(errno));
        free(path);
        return NULL;
    }
    if (!realpath(path, real_file)) {
        int code = errno;
        if (code == ENOENT || code == ENOTDIR)
            bad(e, field, "file '%s' not found in the model folder", name);
        else
            err_set(e, ERR_IO, "manifest.%s: %s: %s", field, name, strerror(code));
        free(path);
        return NULL;
    }
    struct stat st;
    if (stat(real_file, &st) != 0 || !S_ISREG(st.st_mode)) {
        bad(e, field, "'%s' is not a regular file", name);
        free(path);
        return NULL;
    }
    size_t n = strlen(real_dir);
    if (strncmp(real_file, real_dir, n) != 0 || (real_file[n] != '/' && strcmp(real_dir, "/") != 0)) {
        bad(e, field, "'%s' resolves outside the model folder", name);
        free(path);
        return NULL;
    }
    return path;
}

/* ---- the sections --------------------------------------------------------- */

static int parse_channel_numbers(json_t *input, const char *key, int channels, float *out,
                                 int positive, err *e) {
    char field[64];
    snprintf(field, sizeof field, "input.%s", key);
    json_t *a = json_object_get(input, key);
    if (!a) return bad(e, field, "missing (expected %d numbers)", channels);
    if (!json_is_array(a) || (int)json_array_size(a) != channels)
        return bad(e, field, "expected %d numbers", channels);
    for (int c = 0; c < channels; c++) {
        json_t *v = json_array_get(a, (size_t)c);
        if (!json_is_number(v)) return bad(e, field, "expected %d numbers", channels);
        double x = json_number_value(v);
        if (!isfinite(x)) return bad(e, field, "entry %d is not finite", c);
        if (positive && !(x > 0)) return bad(e, field, "entry %d must be > 0, got %g", c, x);
        out[c] = (float)x;
    }
    return 0;
}

static int parse_input(json_t *root, model_manifest *m, err *e) {
    static const char *const keys[] = {"channels", "height", "width", "mean", "std", NULL};
    json_t *in = json_object_get(root, "input");
    if (!in) return bad(e, "input", "missing");
    if (!json_is_object(in)) return bad(e, "input", "expected an object");
    if (only_keys(in, "input.", keys, e)) return -1;
    if (req_int(in, "channels", "input.channels", 1, MODEL_MAX_CHANNELS, &m->channels, e) ||
        req_int(in, "height", "input.height", 1, MODEL_MAX_SIDE, &m->height, e) ||
        req_int(in, "width", "input.width", 1, MODEL_MAX_SIDE, &m->width, e))
        return -1;
    m->mean = calloc((size_t)m->channels, sizeof(float));
    m->std = calloc((size_t)m->channels, sizeof(float));
    if (!m->mean || !m->std) return err_set(e, ERR_INTERNAL, "out of memory");
    if (parse_channel_numbers(in, "mean", m->channels, m->mean, 0, e) ||
        parse_channel_numbers(in, "std", m->channels, m->std, 1, e))
        return -1;
    return 0;
}

static int method_name(json_t *methods, const char *key, char **out, err *e) {
    char field[64];
    snprintf(field, sizeof field, "methods.%s", key);
    const char *s = req_string(methods, key, field, e);
    if (!s) return -1;
    if (!valid_identifier(s)) return bad(e, field, "'%s' is not a method name", s);
    if (!(*out = strdup(s))) return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

static int parse_methods(json_t *root, model_manifest *m, err *e) {
    static const char *const teacher_keys[] = {"forward", NULL};
    static const char *const concept_keys[] = {"image", "text", NULL};
    json_t *mt = json_object_get(root, "methods");
    if (!mt) return bad(e, "methods", "missing");
    if (!json_is_object(mt)) return bad(e, "methods", "expected an object");
    if (m->kind == MODEL_KIND_TEACHER)
        return only_keys(mt, "methods.", teacher_keys, e) ? -1 : method_name(mt, "forward", &m->method_forward, e);
    if (only_keys(mt, "methods.", concept_keys, e)) return -1;
    return method_name(mt, "image", &m->method_image, e) || method_name(mt, "text", &m->method_text, e) ? -1 : 0;
}

static int parse_classes(json_t *root, model_manifest *m, err *e) {
    json_t *a = json_object_get(root, "classes");
    if (m->kind != MODEL_KIND_TEACHER) return a ? bad(e, "classes", "only a teacher has classes") : 0;
    if (!a) return bad(e, "classes", "missing (a teacher names its output classes)");
    if (!json_is_array(a) || json_array_size(a) == 0)
        return bad(e, "classes", "expected a non-empty array of strings");
    size_t n = json_array_size(a);
    if (n > MODEL_MAX_CLASSES) return bad(e, "classes", "more than %d classes", MODEL_MAX_CLASSES);
    m->classes = calloc(n, sizeof(char *));
    if (!m->classes) return err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v) || !*json_string_value(v) ||
            strlen(json_string_value(v)) != json_string_length(v))
            return bad(e, "classes", "entry %zu must be a non-empty string", i);
        /* Quadratic, but done once per registration; 1e5 classes would still be fine. */
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->classes[j], json_string_value(v)))
                return bad(e, "classes", "'%s' appears twice", json_string_value(v));
        if (!(m->classes[i] = strdup(json_string_value(v)))) return err_set(e, ERR_INTERNAL, "out of memory");
        m->n_classes = i + 1;
    }
    return 0;
}

static int parse_tokenizer(json_t *root, model_manifest *m, err *e) {
    static const char *const bpe_keys[] = {"type", "vocab", "context_length", NULL};
    static const char *const words_keys[] = {"type", "words", "context_length", NULL};
    json_t *t = json_object_get(root, "tokenizer");
    if (!t) return bad(e, "tokenizer", "missing");
    if (!json_is_object(t)) return bad(e, "tokenizer", "expected an object");
    const char *type = req_string(t, "type", "tokenizer.type", e);
    if (!type) return -1;
    const char *file_key;
    int min_context;
    if (!strcmp(type, "clip-bpe")) {
        m->tokenizer = MODEL_TOKENIZER_CLIP_BPE;
        file_key = "vocab";
        min_context = 2; /* <|startoftext|> and <|endoftext|> */
        if (only_keys(t, "tokenizer.", bpe_keys, e)) return -1;
    } else if (!strcmp(type, "words")) {
        m->tokenizer = MODEL_TOKENIZER_WORDS;
        file_key = "words";
        min_context = 1;
        if (only_keys(t, "tokenizer.", words_keys, e)) return -1;
    } else {
        return bad(e, "tokenizer.type", "unknown tokenizer '%s' (expected \"clip-bpe\" or \"words\")", type);
    }
    char field[64];
    snprintf(field, sizeof field, "tokenizer.%s", file_key);
    const char *file = req_string(t, file_key, field, e);
    if (!file) return -1;
    if (!(m->tokenizer_file = strdup(file))) return err_set(e, ERR_INTERNAL, "out of memory");
    if (!(m->tokenizer_path = resolve_in_dir(m->dir, file, field, e))) return -1;
    return req_int(t, "context_length", "tokenizer.context_length", min_context, MODEL_MAX_CONTEXT,
                   &m->context_length, e);
}

/* "dense": a CLIP ViT archive the shim runs densely. Needs the RGB input CLIP has. */
static int parse_dense(json_t *root, model_manifest *m, err *e) {
    static const char *const keys[] = {"from", "method", "gaussian_std", "heads", NULL};
    json_t *d = json_object_get(root, "dense");
    if (!d) return 0;
    if (m->encoder != MODEL_ENCODER_DENSE) return bad(e, "dense", "only a dense encoder has it (\"encoder\": \"dense\")");
    if (!json_is_object(d)) return bad(e, "dense", "expected an object");
    if (only_keys(d, "dense.", keys, e)) return -1;
    const char *from = req_string(d, "from", "dense.from", e);
    if (!from) return -1;
    if (strcmp(from, "clip-vit")) return bad(e, "dense.from", "unknown '%s' (expected \"clip-vit\")", from);
    m->dense_from = MODEL_DENSE_CLIP_VIT;
    const char *method = "naclip";
    if (json_object_get(d, "method") && !(method = req_string(d, "method", "dense.method", e))) return -1;
    if (strcmp(method, "naclip") && strcmp(method, "maskclip"))
        return bad(e, "dense.method", "unknown method '%s' (expected \"naclip\" or \"maskclip\")", method);
    snprintf(m->dense_method, sizeof m->dense_method, "%s", method);
    m->dense_gaussian_std = MODEL_DENSE_DEFAULT_STD;
    json_t *std = json_object_get(d, "gaussian_std");
    if (std) {
        if (strcmp(method, "naclip")) return bad(e, "dense.gaussian_std", "only the naclip method has a Gaussian prior");
        if (!json_is_number(std)) return bad(e, "dense.gaussian_std", "expected a number (patches)");
        double v = json_number_value(std);
        if (!(v > 0) || !isfinite(v)) return bad(e, "dense.gaussian_std", "must be > 0 (patches), got %g", v);
        m->dense_gaussian_std = v;
    }
    if (json_object_get(d, "heads") &&
        req_int(d, "heads", "dense.heads", 1, MODEL_DENSE_MAX_HEADS, &m->dense_heads, e))
        return -1;
    if (m->channels != 3) return bad(e, "input.channels", "%d, but a CLIP ViT run densely takes 3 (RGB)", m->channels);
    return 0;
}

static int parse_root(json_t *root, model_manifest *m, err *e) {
    static const char *const keys[] = {"format", "kind", "encoder", "file", "input", "methods",
                                       "classes", "embedding_dim", "tokenizer", "patch_openai_jit",
                                       "dense", "name", "description", "license", "source", NULL};
    if (!json_is_object(root)) return err_set(e, ERR_UNPROCESSABLE, "manifest: expected a JSON object");
    if (only_keys(root, "", keys, e)) return -1;

    const char *format = req_string(root, "format", "format", e);
    if (!format) return -1;
    if (strcmp(format, MODEL_MANIFEST_FORMAT))
        return bad(e, "format", "expected \"%s\", got \"%s\"", MODEL_MANIFEST_FORMAT, format);

    const char *kind = req_string(root, "kind", "kind", e);
    if (!kind) return -1;
    if (!strcmp(kind, "teacher")) m->kind = MODEL_KIND_TEACHER;
    else if (!strcmp(kind, "concept")) m->kind = MODEL_KIND_CONCEPT;
    else return bad(e, "kind", "expected \"teacher\" or \"concept\", got \"%s\"", kind);

    json_t *enc = json_object_get(root, "encoder");
    if (m->kind == MODEL_KIND_CONCEPT) {
        const char *s = req_string(root, "encoder", "encoder", e);
        if (!s) return -1;
        if (!strcmp(s, "dense")) m->encoder = MODEL_ENCODER_DENSE;
        else if (!strcmp(s, "global")) m->encoder = MODEL_ENCODER_GLOBAL;
        else return bad(e, "encoder", "expected \"dense\" or \"global\", got \"%s\"", s);
    } else if (enc) {
        return bad(e, "encoder", "only a concept model has an encoder");
    }

    const char *file = req_string(root, "file", "file", e);
    if (!file) return -1;
    if (!(m->file = strdup(file))) return err_set(e, ERR_INTERNAL, "out of memory");
    if (!(m->file_path = resolve_in_dir(m->dir, file, "file", e))) return -1;

    if (parse_input(root, m, e) || parse_methods(root, m, e) || parse_classes(root, m, e)) return -1;

    if (m->kind == MODEL_KIND_CONCEPT) {
        if (req_int(root, "embedding_dim", "embedding_dim", 1, MODEL_MAX_EMBEDDING, &m->embedding_dim, e) ||
            parse_tokenizer(root, m, e))
            return -1;
    } else {
        if (json_object_get(root, "embedding_dim"))
            return bad(e, "embedding_dim", "only a concept model has an embedding_dim");
        if (json_object_get(root, "tokenizer")) return bad(e, "tokenizer", "only a concept model has a tokenizer");
    }

    json_t *patch = json_object_get(root, "patch_openai_jit");
    if (!patch) m->patch_openai_jit = -1;
    else if (json_is_boolean(patch)) m->patch_openai_jit = json_is_true(patch) ? 1 : 0;
    else return bad(e, "patch_openai_jit", "expected true or false");
    return parse_dense(root, m, e);
}

/* ---- public --------------------------------------------------------------- */

int model_manifest_parse(const char *dir, const char *json_text, model_manifest *m, err *e) {
    memset(m, 0, sizeof *m);
    if (!dir || !json_text) return err_set(e, ERR_INTERNAL, "model_manifest_parse: NULL argument");
    json_error_t jerr;
    json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(e, ERR_UNPROCESSABLE, "manifest: invalid JSON at line %d column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    int rc = (m->dir = dup_or_null(dir)) ? parse_root(root, m, e) : err_set(e, ERR_INTERNAL, "out of memory");
    json_decref(root);
    if (rc) model_manifest_free(m);
    return rc;
}

int model_manifest_load(const char *dir, model_manifest *m, err *e) {
    memset(m, 0, sizeof *m);
    if (!dir || !*dir) return err_set(e, ERR_UNPROCESSABLE, "model folder: empty path");
    struct stat st;
    if (stat(dir, &st) != 0)
        return err_set(e, ERR_UNPROCESSABLE, "model folder %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return err_set(e, ERR_UNPROCESSABLE, "model folder %s: not a folder", dir);
    char *path = join_path(dir, "manifest.json");
    if (!path) return err_set(e, ERR_INTERNAL, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int code = errno;
        free(path);
        if (code == ENOENT) return err_set(e, ERR_UNPROCESSABLE, "manifest: %s has no manifest.json", dir);
        return err_set(e, ERR_IO, "manifest: cannot open manifest.json in %s: %s", dir, strerror(code));
    }
    free(path);
    /* Manifests are small; a huge one is a mistake, not a model. */
    enum { MANIFEST_MAX = 4 << 20 };
    char *text = malloc(MANIFEST_MAX + 1);
    if (!text) {
        fclose(f);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    size_t n = fread(text, 1, MANIFEST_MAX + 1, f);
    int read_err = ferror(f);
    fclose(f);
    if (read_err) {
        free(text);
        return err_set(e, ERR_IO, "manifest: cannot read manifest.json in %s", dir);
    }
    if (n > MANIFEST_MAX) {
        free(text);
        return err_set(e, ERR_UNPROCESSABLE, "manifest: manifest.json is larger than 4 MiB");
    }
    text[n] = '\0';
    if (strlen(text) != n) {
        free(text);
        return err_set(e, ERR_UNPROCESSABLE, "manifest: manifest.json contains a NUL byte");
    }
    int rc = model_manifest_parse(dir, text, m, e);
    free(text);
    return rc;
}

void model_manifest_free(model_manifest *m) {
    if (!m) return;
    free(m->dir);
    free(m->file);
    free(m->file_path);
    free(m->mean);
    free(m->std);
    free(m->method_forward);
    free(m->method_image);
    free(m->method_text);
    for (size_t i = 0; i < m->n_classes; i++) free(m->classes[i]);
    free(m->classes);
    free(m->tokenizer_file);
    free(m->tokenizer_path);
    memset(m, 0, sizeof *m);
}
