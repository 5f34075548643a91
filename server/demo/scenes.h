/* scenes.h — the built-in demo world: deterministic scenes composed from Fashion-MNIST.
 *
 * A scene is a 64x64 RGB picture: one main Fashion-MNIST item (its class is the
 * scene's label), sometimes a smaller second item of another class, each tinted one of
 * six named colours, on one of six procedurally drawn textured backgrounds. In the
 * train/val/test splits five classes mostly (cfg.bias) appear on one background; in the
 * shifted split backgrounds are independent of the class. Every scene carries a caption
 * built only from the fixed vocabulary ("red sneaker, small blue bag, on sand") and its
 * ground-truth parts, kept for measuring and never shown to the student.
 *
 * Determinism: a scene is a pure function of (cfg seed, bias, second_prob, split,
 * index); nothing depends on generation order, so any scene can be regenerated alone
 * and generation can run in parallel or resume. Which Fashion-MNIST image a scene uses
 * is part of that function: train and val draw from disjoint pools of the 60k training
 * images (train: 50k, val: 10k), test and shifted from disjoint halves of the 10k test
 * images. A split larger than its pool reuses images (in new compositions). Parts and
 * captions come from integer arithmetic only; pixels use float math (sinf, rounding), so
 * they are bit-identical for one build, not promised across compilers or libm versions.
 *
 * Ownership: scenes_open returns a world the caller frees with scenes_close; it is
 * read-only afterwards, so threads may share it. Strings returned by the name and
 * vocabulary functions are static.
 */
#ifndef INFICOND_SCENES_H
#define INFICOND_SCENES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SCENES_SIZE 64        /* scenes are SCENES_SIZE x SCENES_SIZE RGB        */
#define SCENES_TRAIN_FILE_ITEMS 60000 /* Fashion-MNIST's training file; the test file holds 10000 */
#define SCENES_CLASSES 10     /* Fashion-MNIST classes, in its label order       */
#define SCENES_COLOURS 6
#define SCENES_BACKGROUNDS 6
#define SCENES_CAPTION_MAX 96

/* The default location of Debian's dataset-fashion-mnist files. */
#define SCENES_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef enum { SCENES_TRAIN, SCENES_VAL, SCENES_TEST, SCENES_SHIFTED, SCENES_SPLITS } scenes_split;

typedef struct scenes_config {
    uint64_t seed;
    int count[SCENES_SPLITS]; /* scenes per split: train, val, test, shifted        */
    double bias;              /* P(biased class on its background), not in shifted  */
    double second_prob;       /* P(a scene has a second item)                       */
    int jpeg_quality;         /* for scenes_write_tree                              */
} scenes_config;

typedef struct scene_item {
    int present;             /* 0: no such item (only the second can be absent)     */
    int cls;                 /* Fashion-MNIST class 0..9                             */
    int colour;              /* 0..SCENES_COLOURS-1                                  */
    int x, y, size;          /* box: top-left corner and side, pixels, inside image  */
    int source;              /* image index in its Fashion-MNIST file                */
} scene_item;

typedef struct scene {
    int split, index;
    int label;               /* == main.cls                                          */
    int background;          /* 0..SCENES_BACKGROUNDS-1                              */
    scene_item main, second;
    char caption[SCENES_CAPTION_MAX];
    uint8_t pixels[SCENES_SIZE * SCENES_SIZE * 3]; // (H, W, 3)
} scene;

/* Layers for scenes_render: scenes_generate draws all of them; the background alone is
 * the reference for measuring how visible the items are. */
enum { SCENES_LAYER_BACKGROUND = 1, SCENES_LAYER_SECOND = 2, SCENES_LAYER_MAIN = 4,
       SCENES_LAYER_ALL = 7 };

typedef struct scenes_world scenes_world;

/* Defaults: seed 1, bias 0.9, second item 0.4, JPEG quality 92; counts 20000/4000/4000/
 * 4000 at full scale, 2000/400/400/400 when `small`. */
void scenes_config_default(scenes_config *cfg, int small);

/* Load the four idx files from `fmnist_dir` (NULL: SCENES_FMNIST_DIR). NULL with
 * ERR_NOT_FOUND when a file is missing, ERR_UNPROCESSABLE when one is malformed. */
scenes_world *scenes_open(const char *fmnist_dir, err *e) WARN_UNUSED;
void scenes_close(scenes_world *w); /* NULL-safe */

/* Compose scene `index` of `split` ("train", "val", "test", "shifted") into *out.
 * ERR_BAD_REQUEST for an unknown split, a negative index or a bad config. */
int scenes_generate(const scenes_world *w, const scenes_config *cfg, const char *split,
                    int index, scene *out, err *e) WARN_UNUSED;
/* Same scene, same parts and caption, but only the given layers drawn (without the
 * background layer the ground is flat mid-grey; layers 0 just plans the scene, cheaply). */
int scenes_render(const scenes_world *w, const scenes_config *cfg, const char *split,
                  int index, unsigned layers, scene *out, err *e) WARN_UNUSED;

/* Write <out_root>/<split>/<class dir>/<NNNNNN>.jpg for every scene of every split and
 * <out_root>/scenes.jsonl, one object per scene in split then index order:
 *   {"split","index","file","label","label_index","caption",
 *    "parts":{"main":{"class","colour","box":[x,y,size]},"second":{...}|null,
 *             "background"}}
 * "file" is relative to out_root, "label" is the class dir name, part names are caption
 * words. Every file is written to a temporary name and renamed, and scenes.jsonl is
 * renamed into place last, so its presence means the tree is complete. `progress`
 * (may be NULL) gets the fraction done every few hundred scenes; nonzero from it stops
 * the work with ERR_CANCELLED and no scenes.jsonl. Scenes are rendered and encoded by up
 * to 8 threads (one per CPU); progress is called from the calling thread only. */
int scenes_write_tree(const scenes_world *w, const scenes_config *cfg, const char *out_root,
                      int (*progress)(void *ud, double frac), void *ud, err *e) WARN_UNUSED;
/* The same, and each(each_ud, scene) for every scene once it is rendered, so a caller
 * that also needs the pixels does not render the world twice. `each` runs on the
 * writer threads, concurrently for different scenes: it must only write state that
 * belongs to that (split, index). */
typedef void (*scenes_each_fn)(void *each_ud, const scene *s);
int scenes_write_tree_each(const scenes_world *w, const scenes_config *cfg, const char *out_root,
                           int (*progress)(void *ud, double frac), void *ud, scenes_each_fn each,
                           void *each_ud, err *e) WARN_UNUSED;

/* ---- names and vocabulary (static strings) ---- */
const char *scenes_split_name(int split);          /* "train" ... ; NULL if out of range */
int scenes_split_parse(const char *name);          /* -1 if unknown                      */
const char *scenes_class_name(int cls);            /* display: "t-shirt", "ankle boot"   */
const char *scenes_class_word(int cls);            /* caption token: "tshirt", "boot"    */
const char *scenes_class_dir(int cls);             /* folder: "t-shirt", "ankle_boot"    */
const char *scenes_colour_name(int colour);        /* "red", ...                         */
const char *scenes_background_name(int bg);        /* "grass", ...                       */
/* The background class `cls` is biased to, or -1 for an unbiased class. */
int scenes_biased_background(int cls);
/* Every word a caption can contain (items, colours, backgrounds, "small", "on"). */
const char *const *scenes_caption_words(size_t *n);
/* Visual attributes of the items (sleeves, collar, sole, ...): a table per class, as
 * Animals-with-Attributes; not in captions. */
#define SCENES_MAX_ATTRIBUTES 4
const char *const *scenes_attribute_words(size_t *n);
/* The attributes of class cls, NULL-terminated (NULL when out of range). */
const char *const *scenes_class_attributes(int cls);
/* Words that never occur in the world, for the concept corpus ("wheel", "cloud", ...). */
const char *const *scenes_extra_words(size_t *n);

#endif
