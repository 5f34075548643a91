/* scenes.c — the demo world's scene generator: Fashion-MNIST items on textured grounds.
 *
 * A scene is planned first (background kind, items, colours, boxes — all drawn from a
 * counter-based PRNG seeded by (seed, split, index)), then rendered in float RGB:
 * background texture, then the second item, then the main item on top so the label's
 * item is never covered. Each item uses its Fashion-MNIST intensity twice: as alpha
 * (the silhouette) and, normalised by the image's own maximum, as shading of the tint,
 * so seams and folds stay visible. A 1-pixel contrasting outline and a soft drop shadow
 * keep every item recognisable on every background, including green on grass and
 * white on snow. Textures are value noise (hash lattice, no tables), so rendering needs
 * no state beyond the loaded idx arrays.
 *
 * Not here: the dataset import (scenes_write_tree only writes JPEGs and scenes.jsonl),
 * the teacher and the concept model.
 */
#include "demo/scenes.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset/idx.h"
#include "dataset/jpeg_io.h"
#include "demo/scenes_paint.h"

/* ---------------------------------------------------------------- names and vocabulary */

static const char *const split_names[SCENES_SPLITS] = {"train", "val", "test", "shifted"};
static const char *const class_names[SCENES_CLASSES] = {
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot"};
static const char *const class_dirs[SCENES_CLASSES] = {
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot"};

/* Caption words: classes (Fashion-MNIST order), colours, backgrounds, then the two
 * function words. The accessors below index into this one table. */
static const char *const caption_words[] = {
    "tshirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "boot",
    "red", "blue", "green", "yellow", "black", "white",
    "grass", "water", "sand", "wood", "brick", "snow",
    "small", "on"};
#define WORD_CLASS 0
#define WORD_COLOUR (WORD_CLASS + SCENES_CLASSES)
#define WORD_BG (WORD_COLOUR + SCENES_COLOURS)

/* Visual attributes, as Animals-with-Attributes gives them: a table per class written
 * here, not read off the pixels. Only parts that still show at 64 px on a 28 px
 * Fashion-MNIST item (no hood or zip: at this size they are a few grey pixels). */
static const char *const attribute_words[] = {
    "sleeves", "long", "short", "collar", "buttons", "legs", "skirt",
    "strap", "sole", "heel", "laces", "handle", "shaft"};
#define N_ATTRIBUTES ((int)(sizeof attribute_words / sizeof *attribute_words))
/* Per class (Fashion-MNIST order), the attributes its items have; NULL-terminated. */
static const char *const class_attributes[SCENES_CLASSES][SCENES_MAX_ATTRIBUTES + 1] = {
    {"sleeves", "short", NULL},                       /* t-shirt */
    {"legs", "long", NULL},                           /* trouser */
    {"sleeves", "long", NULL},                        /* pullover */
    {"skirt", "long", NULL},                          /* dress */
    {"sleeves", "long", "buttons", "collar", NULL},   /* coat */
    {"strap", "sole", NULL},                          /* sandal */
    {"sleeves", "collar", "buttons", NULL},           /* shirt */
    {"laces", "sole", NULL},                          /* sneaker */
    {"handle", "strap", NULL},                        /* bag */
    {"heel", "sole", "shaft", NULL}};                 /* ankle boot */

static const char *const extra_words[] = {
    "wheel", "cloud", "guitar", "tree", "window", "dog",
    "car", "flower", "stone", "sky", "leaf", "cat"};

/* Class -> the background it mostly appears on outside the shifted split. */
static const int biased_bg[SCENES_CLASSES] = {
    -1, -1, -1, -1, -1, BG_SAND /* sandal */, BG_BRICK /* shirt */,
    BG_GRASS /* sneaker */, BG_WOOD /* bag */, BG_SNOW /* ankle boot */};

const char *scenes_split_name(int split) {
    return split >= 0 && split < SCENES_SPLITS ? split_names[split] : NULL;
}
int scenes_split_parse(const char *name) {
    for (int i = 0; name && i < SCENES_SPLITS; i++)
        if (strcmp(name, split_names[i]) == 0) return i;
    return -1;
}
const char *scenes_class_name(int c) { return c >= 0 && c < SCENES_CLASSES ? class_names[c] : NULL; }
const char *scenes_class_dir(int c) { return c >= 0 && c < SCENES_CLASSES ? class_dirs[c] : NULL; }
const char *scenes_class_word(int c) {
    return c >= 0 && c < SCENES_CLASSES ? caption_words[WORD_CLASS + c] : NULL;
}
const char *scenes_colour_name(int c) {
    return c >= 0 && c < SCENES_COLOURS ? caption_words[WORD_COLOUR + c] : NULL;
}
const char *scenes_background_name(int b) {
    return b >= 0 && b < SCENES_BACKGROUNDS ? caption_words[WORD_BG + b] : NULL;
}
int scenes_biased_background(int c) { return c >= 0 && c < SCENES_CLASSES ? biased_bg[c] : -1; }
const char *const *scenes_caption_words(size_t *n) {
    if (n) *n = sizeof caption_words / sizeof *caption_words;
    return caption_words;
}
const char *const *scenes_attribute_words(size_t *n) {
    if (n) *n = (size_t)N_ATTRIBUTES;
    return attribute_words;
}
const char *const *scenes_class_attributes(int c) {
    return c >= 0 && c < SCENES_CLASSES ? class_attributes[c] : NULL;
}
const char *const *scenes_extra_words(size_t *n) {
    if (n) *n = sizeof extra_words / sizeof *extra_words;
    return extra_words;
}

void scenes_config_default(scenes_config *cfg, int small) {
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    int full[SCENES_SPLITS] = {20000, 4000, 4000, 4000};
    for (int i = 0; i < SCENES_SPLITS; i++) cfg->count[i] = small ? full[i] / 10 : full[i];
    cfg->bias = 0.9;
    cfg->second_prob = 0.4;
    cfg->jpeg_quality = 92;
}

/* ---------------------------------------------------------------- world */

struct scenes_world {
    idx_array images[2]; /* [0] train (60000, 28, 28), [1] test (10000, 28, 28) */
    idx_array labels[2]; /* (60000,), (10000,)                                   */
};

static int load_pair(const char *dir, const char *img_name, const char *lab_name,
                     idx_array *img, idx_array *lab, err *e) {
    char path[4096];
    const char *names[2] = {img_name, lab_name};
    idx_array *arrs[2] = {img, lab};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (access(path, R_OK) != 0)
            return err_set(e, ERR_NOT_FOUND,
                           "Fashion-MNIST file %s not found (install dataset-fashion-mnist)", path);
        if (idx_load(path, arrs[i], e) != 0) return -1;
    }
    if (img->ndims != 3 || img->dims[1] != FM_SIDE || img->dims[2] != FM_SIDE)
        return err_set(e, ERR_UNPROCESSABLE, "%s/%s: expected (N, 28, 28) images", dir, img_name);
    if (lab->ndims != 1 || lab->dims[0] != img->dims[0])
        return err_set(e, ERR_UNPROCESSABLE, "%s/%s: %u labels for %u images", dir, lab_name,
                       lab->dims[0], img->dims[0]);
    for (size_t i = 0; i < lab->count; i++)
        if (lab->data[i] >= SCENES_CLASSES)
            return err_set(e, ERR_UNPROCESSABLE, "%s/%s: label %u out of range", dir, lab_name,
                           lab->data[i]);
    return 0;
}

scenes_world *scenes_open(const char *dir, err *e) {
    if (!dir) dir = SCENES_FMNIST_DIR;
    scenes_world *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (load_pair(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  &w->images[0], &w->labels[0], e) != 0 ||
        load_pair(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                  &w->images[1], &w->labels[1], e) != 0) {
        scenes_close(w);
        return NULL;
    }
    /* The pools below carve fixed ranges out of each file. */
    if (w->images[0].dims[0] < SCENES_TRAIN_FILE_ITEMS || w->images[1].dims[0] < 10000) {
        err_set(e, ERR_UNPROCESSABLE, "%s: expected 60000 train and 10000 test images", dir);
        scenes_close(w);
        return NULL;
    }
    return w;
}

void scenes_close(scenes_world *w) {
    if (!w) return;
    for (int i = 0; i < 2; i++) {
        idx_free(&w->images[i]);
        idx_free(&w->labels[i]);
    }
    free(w);
}

/* ---------------------------------------------------------------- randomness */

/* splitmix64: the state is a counter, so a scene's stream depends only on its seed. */
static uint64_t rng_next(uint64_t *s) { return scenes_hash64(*s += 0x9E3779B97F4A7C15ull); }
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }
static int rng_int(uint64_t *s, int n) { return (int)(rng_unit(s) * n); }
static int rng_range(uint64_t *s, int lo, int hi) { return lo + rng_int(s, hi - lo + 1); }

/* A bijection on [0, n): a 4-round Feistel network on the next even power of two,
 * cycle-walking values >= n back in. Lets split pools be a fixed shuffle of a file
 * without storing one. */
static uint32_t pool_permute(uint64_t key, uint32_t n, uint32_t i) {
    int bits = 2;
    while ((1u << bits) < n) bits++;
    if (bits & 1) bits++;
    int half = bits / 2;
    uint32_t mask = (1u << half) - 1, x = i;
    do {
        uint32_t l = x >> half, r = x & mask;
        for (uint64_t round = 0; round < 4; round++) {
            uint32_t f = (uint32_t)scenes_hash64(key ^ (round << 40) ^ r) & mask;
            uint32_t t = r;
            r = l ^ f;
            l = t;
        }
        x = (l << half) | r;
    } while (x >= n);
    return x;
}

/* Pools: ranges of the permuted file. Train/val share the training file, test/shifted
 * the test file; ranges never overlap, so the item sets are disjoint. */
static const struct {
    int file;
    uint32_t start, size;
} pools[SCENES_SPLITS] = {
    [SCENES_TRAIN] = {0, 0, 50000},
    [SCENES_VAL] = {0, 50000, 10000},
    [SCENES_TEST] = {1, 0, 5000},
    [SCENES_SHIFTED] = {1, 5000, 5000},
};

static uint32_t pool_item(uint64_t seed, int split, uint32_t pos) {
    int file = pools[split].file;
    uint32_t n = file ? 10000 : SCENES_TRAIN_FILE_ITEMS; /* scenes_open checked the files are at least this big */
    return pool_permute(scenes_hash64(seed ^ 0x706F6F6Cull) ^ (uint64_t)file, n,
                        pools[split].start + pos % pools[split].size);
}

/* ---------------------------------------------------------------- planning */

typedef struct plan {
    uint64_t bg_seed;
    float bright;
} plan;

static uint64_t scene_state(uint64_t seed, int split, int index) {
    return scenes_hash64(scenes_hash64(seed) ^ scenes_hash64(0x5CE7E5ull + (uint64_t)split)) ^
           scenes_hash64(((uint64_t)index << 8) + 0xA11CEull);
}

static int check_config(const scenes_config *cfg, err *e) {
    if (!cfg) return err_set(e, ERR_BAD_REQUEST, "scenes: no config");
    if (!(cfg->bias >= 0 && cfg->bias <= 1) || !(cfg->second_prob >= 0 && cfg->second_prob <= 1))
        return err_set(e, ERR_BAD_REQUEST, "scenes: bias and second_prob must be in [0, 1]");
    for (int i = 0; i < SCENES_SPLITS; i++)
        if (cfg->count[i] < 0 || cfg->count[i] > 1000000)
            return err_set(e, ERR_BAD_REQUEST, "scenes: %s count %d out of range [0, 1000000]",
                           split_names[i], cfg->count[i]);
    return 0;
}

static void plan_scene(const scenes_world *w, const scenes_config *cfg, int split, int index,
                       scene *out, plan *pl) {
    uint64_t st = scene_state(cfg->seed, split, index);
    const idx_array *labels = &w->labels[pools[split].file];
    memset(out, 0, offsetof(scene, pixels));
    out->split = split;
    out->index = index;

    scene_item *m = &out->main;
    m->present = 1;
    m->source = (int)pool_item(cfg->seed, split, (uint32_t)index);
    m->cls = labels->data[m->source];
    m->colour = rng_int(&st, SCENES_COLOURS);
    m->size = rng_range(&st, 30, 44);
    m->x = rng_range(&st, 0, SCENES_SIZE - m->size);
    m->y = rng_range(&st, 0, SCENES_SIZE - m->size);
    out->label = m->cls;

    /* Background: a biased class sits on its background with probability bias, else on
     * one of the others; everything else (and everything in shifted) is uniform. */
    int bb = split == SCENES_SHIFTED ? -1 : biased_bg[m->cls];
    double u = rng_unit(&st);
    if (bb < 0) out->background = rng_int(&st, SCENES_BACKGROUNDS);
    else if (u < cfg->bias) out->background = bb;
    else {
        int k = rng_int(&st, SCENES_BACKGROUNDS - 1);
        out->background = k >= bb ? k + 1 : k;
    }
    pl->bg_seed = rng_next(&st);
    pl->bright = 0.85f + 0.30f * (float)rng_unit(&st);

    /* The second item is always drawn (consumed) so the rest of the stream does not
     * depend on whether it is present. */
    scene_item *s = &out->second;
    int has_second = rng_unit(&st) < cfg->second_prob;
    uint32_t pos = 0;
    int cls = m->cls;
    for (int tries = 0; tries < 64 && cls == m->cls; tries++) {
        pos = (uint32_t)rng_int(&st, (int)pools[split].size);
        cls = labels->data[pool_item(cfg->seed, split, pos)];
    }
    s->colour = rng_int(&st, SCENES_COLOURS);
    s->size = rng_range(&st, 18, 26);
    /* Best of a few positions: the least overlap with the main box, so the second item
     * (drawn behind the main one) mostly shows. */
    int best = -1;
    for (int t = 0; t < 6; t++) {
        int x = rng_range(&st, 0, SCENES_SIZE - s->size), y = rng_range(&st, 0, SCENES_SIZE - s->size);
        int ow = (x + s->size < m->x + m->size ? x + s->size : m->x + m->size) - (x > m->x ? x : m->x);
        int oh = (y + s->size < m->y + m->size ? y + s->size : m->y + m->size) - (y > m->y ? y : m->y);
        int overlap = (ow > 0 && oh > 0) ? ow * oh : 0;
        if (best < 0 || overlap < best) {
            best = overlap;
            s->x = x;
            s->y = y;
        }
    }
    if (has_second && cls != m->cls) {
        s->present = 1;
        s->cls = cls;
        s->source = (int)pool_item(cfg->seed, split, pos);
    } else {
        memset(s, 0, sizeof *s);
    }

    if (s->present)
        snprintf(out->caption, sizeof out->caption, "%s %s, small %s %s, on %s",
                 scenes_colour_name(m->colour), scenes_class_word(m->cls),
                 scenes_colour_name(s->colour), scenes_class_word(s->cls),
                 scenes_background_name(out->background));
    else
        snprintf(out->caption, sizeof out->caption, "%s %s, on %s", scenes_colour_name(m->colour),
                 scenes_class_word(m->cls), scenes_background_name(out->background));
}

int scenes_render(const scenes_world *w, const scenes_config *cfg, const char *split_name,
                  int index, unsigned layers, scene *out, err *e) {
    if (!w || !out) return err_set(e, ERR_INTERNAL, "scenes_render: no world or output");
    if (check_config(cfg, e) != 0) return -1;
    int split = scenes_split_parse(split_name);
    if (split < 0)
        return err_set(e, ERR_BAD_REQUEST, "unknown split '%s' (train, val, test, shifted)",
                       split_name ? split_name : "(null)");
    if (index < 0) return err_set(e, ERR_BAD_REQUEST, "scene index %d is negative", index);

    plan pl;
    plan_scene(w, cfg, split, index, out, &pl);
    _Static_assert(SCENES_SIZE == 64, "rgb buffer below is sized for 64x64");
    float rgb[SCENES_SIZE * SCENES_SIZE * 3]; // (H, W, 3)
    if (layers & SCENES_LAYER_BACKGROUND) scenes_draw_background(out->background, pl.bg_seed, pl.bright, rgb);
    else for (size_t i = 0; i < sizeof rgb / sizeof *rgb; i++) rgb[i] = 0.5f;
    const idx_array *imgs = &w->images[pools[split].file];
    const size_t stride = FM_SIDE * FM_SIDE;
    if ((layers & SCENES_LAYER_SECOND) && out->second.present)
        scenes_draw_item(imgs->data + (size_t)out->second.source * stride, &out->second, rgb);
    if (layers & SCENES_LAYER_MAIN)
        scenes_draw_item(imgs->data + (size_t)out->main.source * stride, &out->main, rgb);
    for (size_t i = 0; i < sizeof rgb / sizeof *rgb; i++)
        out->pixels[i] = (uint8_t)((rgb[i] < 0 ? 0 : rgb[i] > 1 ? 1 : rgb[i]) * 255.0f + 0.5f);
    return 0;
}

int scenes_generate(const scenes_world *w, const scenes_config *cfg, const char *split, int index,
                    scene *out, err *e) {
    return scenes_render(w, cfg, split, index, SCENES_LAYER_ALL, out, e);
}

/* ---------------------------------------------------------------- writing a tree */

static int mkdir_one(const char *path, err *e) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "mkdir %s: %s", path, strerror(errno));
    return 0;
}

/* Write `len` bytes to `path` via `path`.tmp and rename, so a reader never sees half. */
static int write_atomic(const char *path, const void *data, size_t len, int sync, err *e) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(e, ERR_IO, "open %s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int saved = errno;
            close(fd);
            unlink(tmp);
            return err_set(e, ERR_IO, "write %s: %s", tmp, strerror(saved));
        }
        done += (size_t)n;
    }
    if ((sync && fsync(fd) != 0) || close(fd) != 0) {
        int saved = errno;
        unlink(tmp);
        return err_set(e, ERR_IO, "close %s: %s", tmp, strerror(saved));
    }
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return err_set(e, ERR_IO, "rename %s: %s", path, strerror(saved));
    }
    return 0;
}

static json_t *item_json(const scene_item *it) {
    if (!it->present) return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "class", json_string(scenes_class_word(it->cls)));
    json_object_set_new(o, "colour", json_string(scenes_colour_name(it->colour)));
    json_object_set_new(o, "box", json_pack("[iii]", it->x, it->y, it->size));
    return o;
}

/* One scenes.jsonl line (no newline), malloc'd. */
static char *scene_json_line(const scene *s, const char *file) {
    json_t *parts = json_object();
    json_object_set_new(parts, "main", item_json(&s->main));
    json_object_set_new(parts, "second", item_json(&s->second));
    json_object_set_new(parts, "background", json_string(scenes_background_name(s->background)));
    json_t *o = json_object();
    json_object_set_new(o, "split", json_string(split_names[s->split]));
    json_object_set_new(o, "index", json_integer(s->index));
    json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "label", json_string(class_dirs[s->label]));
    json_object_set_new(o, "label_index", json_integer(s->label));
    json_object_set_new(o, "caption", json_string(s->caption));
    json_object_set_new(o, "parts", parts);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return line;
}

/* One batch of scenes written by a few threads; lines come back in index order. */
#define TREE_BATCH 512
#define TREE_THREADS_MAX 8

typedef struct tree_job {
    const scenes_world *w;
    const scenes_config *cfg;
    const char *root;
    int split, first, count; /* scenes first .. first+count-1 of split              */
    int stride, offset;      /* this thread takes batch positions offset, +stride ... */
    char **lines;            /* (count,) jsonl lines, malloc'd, shared by the batch   */
    scenes_each_fn each;     /* may be NULL                                           */
    void *each_ud;
    int failed_at;           /* batch position of this thread's first error, or -1    */
    err e;
} tree_job;

static int write_one(const tree_job *j, int i, scene *s, char **line, err *e) {
    if (scenes_generate(j->w, j->cfg, split_names[j->split], i, s, e) != 0) return -1;
    if (j->each) j->each(j->each_ud, s);
    char file[256], path[4096];
    snprintf(file, sizeof file, "%s/%s/%06d.jpg", split_names[j->split], class_dirs[s->label], i);
    snprintf(path, sizeof path, "%s/%s", j->root, file);
    image_rgb img = {.width = SCENES_SIZE, .height = SCENES_SIZE, .pixels = s->pixels};
    uint8_t *jpg = NULL;
    size_t jpg_len = 0;
    if (jpeg_encode(&img, j->cfg->jpeg_quality, &jpg, &jpg_len, e) != 0) return -1;
    int rc = write_atomic(path, jpg, jpg_len, 0, e);
    free(jpg);
    if (rc != 0) return -1;
    *line = scene_json_line(s, file);
    return *line ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}

static void *tree_worker(void *arg) {
    tree_job *j = arg;
    scene *s = malloc(sizeof *s);
    if (!s) {
        err_set(&j->e, ERR_INTERNAL, "out of memory");
        j->failed_at = j->offset;
        return NULL;
    }
    for (int k = j->offset; k < j->count; k += j->stride)
        if (write_one(j, j->first + k, s, &j->lines[k], &j->e) != 0) {
            j->failed_at = k;
            break;
        }
    free(s);
    return NULL;
}

/* Write scenes first .. first+count-1 of split with up to `threads` threads, then
 * their lines to jl in order. */
static int write_batch(const scenes_world *w, const scenes_config *cfg, const char *root,
                       int split, int first, int count, int threads, FILE *jl, scenes_each_fn each,
                       void *each_ud, err *e) {
    char *lines[TREE_BATCH] = {0};
    tree_job jobs[TREE_THREADS_MAX];
    pthread_t tids[TREE_THREADS_MAX];
    int started[TREE_THREADS_MAX] = {0};
    if (threads > count) threads = count;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (tree_job){.w = w, .cfg = cfg, .root = root, .split = split, .first = first,
                             .count = count, .stride = threads, .offset = t, .lines = lines,
                             .each = each, .each_ud = each_ud, .failed_at = -1};
        /* Thread 0 runs here; if a thread cannot start, run its share here too. */
        started[t] = t > 0 && pthread_create(&tids[t], NULL, tree_worker, &jobs[t]) == 0;
    }
    for (int t = 0; t < threads; t++)
        if (!started[t]) tree_worker(&jobs[t]);
    for (int t = 0; t < threads; t++)
        if (started[t]) pthread_join(tids[t], NULL);
    /* Report the error of the earliest failing scene, so the message is stable. */
    int rc = 0, first_bad = -1;
    for (int t = 0; t < threads; t++)
        if (jobs[t].failed_at >= 0 && (first_bad < 0 || jobs[t].failed_at < jobs[first_bad].failed_at))
            first_bad = t;
    if (first_bad >= 0) rc = err_set(e, jobs[first_bad].e.code, "%s", jobs[first_bad].e.msg);
    for (int k = 0; k < count; k++) {
        if (rc == 0 && (fputs(lines[k], jl) < 0 || fputc('\n', jl) < 0))
            rc = err_set(e, ERR_IO, "write scenes.jsonl: %s", strerror(errno));
        free(lines[k]);
    }
    return rc;
}

int scenes_write_tree(const scenes_world *w, const scenes_config *cfg, const char *root,
                      int (*progress)(void *ud, double frac), void *ud, err *e) {
    return scenes_write_tree_each(w, cfg, root, progress, ud, NULL, NULL, e);
}

int scenes_write_tree_each(const scenes_world *w, const scenes_config *cfg, const char *root,
                           int (*progress)(void *ud, double frac), void *ud, scenes_each_fn each,
                           void *each_ud, err *e) {
    if (!w || !root) return err_set(e, ERR_INTERNAL, "scenes_write_tree: no world or root");
    if (check_config(cfg, e) != 0) return -1;
    if (cfg->jpeg_quality < 1 || cfg->jpeg_quality > 100)
        return err_set(e, ERR_BAD_REQUEST, "scenes: jpeg quality %d not in [1, 100]",
                       cfg->jpeg_quality);
    if (strlen(root) > 3000) return err_set(e, ERR_BAD_REQUEST, "scenes: output path too long");

    char path[4096], tmp_jsonl[4096], final_jsonl[4096];
    if (mkdir_one(root, e) != 0) return -1;
    snprintf(final_jsonl, sizeof final_jsonl, "%s/scenes.jsonl", root);
    snprintf(tmp_jsonl, sizeof tmp_jsonl, "%s/scenes.jsonl.tmp", root);
    /* An old complete marker must not vouch for a tree being rewritten. */
    if (unlink(final_jsonl) != 0 && errno != ENOENT)
        return err_set(e, ERR_IO, "unlink %s: %s", final_jsonl, strerror(errno));
    for (int sp = 0; sp < SCENES_SPLITS; sp++) {
        if (cfg->count[sp] == 0) continue;
        snprintf(path, sizeof path, "%s/%s", root, split_names[sp]);
        if (mkdir_one(path, e) != 0) return -1;
        for (int c = 0; c < SCENES_CLASSES; c++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, split_names[sp], class_dirs[c]);
            if (mkdir_one(path, e) != 0) return -1;
        }
    }
    FILE *jl = fopen(tmp_jsonl, "we");
    if (!jl) return err_set(e, ERR_IO, "open %s: %s", tmp_jsonl, strerror(errno));

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cpus < 1 ? 1 : cpus > TREE_THREADS_MAX ? TREE_THREADS_MAX : (int)cpus;
    long total = 0, done = 0;
    for (int sp = 0; sp < SCENES_SPLITS; sp++) total += cfg->count[sp];
    int rc = 0;
    for (int sp = 0; sp < SCENES_SPLITS && rc == 0; sp++) {
        for (int i = 0; i < cfg->count[sp] && rc == 0; i += TREE_BATCH) {
            if (progress && progress(ud, total ? (double)done / total : 0) != 0) {
                rc = err_set(e, ERR_CANCELLED, "scene generation cancelled");
                break;
            }
            int n = cfg->count[sp] - i < TREE_BATCH ? cfg->count[sp] - i : TREE_BATCH;
            rc = write_batch(w, cfg, root, sp, i, n, threads, jl, each, each_ud, e);
            done += n;
        }
    }
    if (rc == 0 && (fflush(jl) != 0 || fsync(fileno(jl)) != 0))
        rc = err_set(e, ERR_IO, "flush %s: %s", tmp_jsonl, strerror(errno));
    if (fclose(jl) != 0 && rc == 0) rc = err_set(e, ERR_IO, "close %s: %s", tmp_jsonl, strerror(errno));
    if (rc == 0 && rename(tmp_jsonl, final_jsonl) != 0)
        rc = err_set(e, ERR_IO, "rename %s: %s", final_jsonl, strerror(errno));
    if (rc != 0) {
        unlink(tmp_jsonl);
        return -1;
    }
    if (progress) progress(ud, 1.0);
    return 0;
}
