/* test_scenes.c — the demo world's scene generator (server/scenes.c).
 *
 * Needs Debian's dataset-fashion-mnist; every test skips, saying so, when it is absent.
 * Checks determinism, the background bias per split, disjoint item pools, captions
 * against parts, textured (not flat) backgrounds, visible items, and the written tree.
 * Set SCENES_SHEET=/tmp/scenes_sheet.jpg to also save an 8x8 contact sheet of scenes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dataset/jpeg_io.h"
#include "demo/scenes.h"
#include "need_file.h"

static scenes_world *world;
static char fmnist_path[512]; /* the file scenes_open reads first */

static int group_setup(void **state) {
    (void)state;
    snprintf(fmnist_path, sizeof fmnist_path, "%s/train-images-idx3-ubyte.gz", SCENES_FMNIST_DIR);
    if (access(fmnist_path, R_OK) != 0) return 0; /* each test skips, naming it */
    err e = {0};
    world = scenes_open(NULL, &e);
    if (!world) fprintf(stderr, "scenes_open: %s\n", e.msg);
    return world ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    scenes_close(world);
    return 0;
}

#define NEED_WORLD()                                           \
    do {                                                       \
        if (!world) need_file(fmnist_path, NEED_FMNIST);       \
        if (!world) skip();                                    \
    } while (0)

static scene *gen(const scenes_config *cfg, const char *split, int index, unsigned layers) {
    scene *s = malloc(sizeof *s);
    assert_non_null(s);
    err e = {0};
    int rc = scenes_render(world, cfg, split, index, layers, s, &e);
    if (rc != 0) fprintf(stderr, "scenes_render: %s\n", e.msg);
    assert_int_equal(rc, 0);
    return s;
}

static void test_names_and_vocabulary(void **state) {
    (void)state;
    size_t n = 0, m = 0;
    const char *const *words = scenes_caption_words(&n);
    const char *const *extra = scenes_extra_words(&m);
    assert_int_equal(n, SCENES_CLASSES + SCENES_COLOURS + SCENES_BACKGROUNDS + 2);
    assert_true(m >= 6);
    for (size_t i = 0; i < n; i++) {
        for (const char *p = words[i]; *p; p++) assert_true(*p >= 'a' && *p <= 'z');
        for (size_t j = 0; j < m; j++) assert_string_not_equal(words[i], extra[j]);
        for (size_t j = i + 1; j < n; j++) assert_string_not_equal(words[i], words[j]);
    }
    /* Attributes: words of their own, each class with some, no two classes alike
     * (a student could not tell them apart on attributes alone). */
    size_t na = 0;
    const char *const *attrs = scenes_attribute_words(&na);
    assert_true(na >= 8);
    for (size_t a = 0; a < na; a++) {
        for (size_t i = 0; i < n; i++) assert_string_not_equal(attrs[a], words[i]);
        for (size_t j = 0; j < m; j++) assert_string_not_equal(attrs[a], extra[j]);
    }
    unsigned sets[SCENES_CLASSES] = {0};
    for (int c = 0; c < SCENES_CLASSES; c++) {
        const char *const *ca = scenes_class_attributes(c);
        assert_non_null(ca);
        assert_non_null(ca[0]);
        for (int k = 0; ca[k]; k++) {
            size_t a = 0;
            while (a < na && strcmp(attrs[a], ca[k])) a++;
            assert_true(a < na); /* in the attribute list */
            sets[c] |= 1u << a;
        }
        for (int d = 0; d < c; d++) assert_true(sets[c] != sets[d]);
    }
    assert_null(scenes_class_attributes(SCENES_CLASSES));
    assert_string_equal(scenes_class_word(9), "boot");
    assert_string_equal(scenes_class_name(9), "ankle boot");
    assert_string_equal(scenes_class_dir(0), "t-shirt");
    assert_string_equal(scenes_background_name(scenes_biased_background(5)), "sand");
    assert_string_equal(scenes_background_name(scenes_biased_background(9)), "snow");
    assert_string_equal(scenes_background_name(scenes_biased_background(8)), "wood");
    assert_string_equal(scenes_background_name(scenes_biased_background(7)), "grass");
    assert_string_equal(scenes_background_name(scenes_biased_background(6)), "brick");
    assert_int_equal(scenes_biased_background(0), -1);
    assert_int_equal(scenes_split_parse("shifted"), SCENES_SHIFTED);
    assert_int_equal(scenes_split_parse("nope"), -1);
    assert_null(scenes_class_name(10));
}

static void test_bad_input(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config cfg;
    scenes_config_default(&cfg, 1);
    scene *s = malloc(sizeof *s);
    err e = {0};
    assert_int_equal(scenes_generate(world, &cfg, "holdout", 0, s, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    err_clear(&e);
    assert_int_equal(scenes_generate(world, &cfg, "train", -1, s, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    err_clear(&e);
    cfg.bias = 1.5;
    assert_int_equal(scenes_generate(world, &cfg, "train", 0, s, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    free(s);

    err_clear(&e);
    assert_null(scenes_open("/nonexistent-fmnist", &e));
    assert_int_equal(e.code, ERR_NOT_FOUND);
}

static void test_determinism(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config a, b;
    scenes_config_default(&a, 1);
    scenes_config_default(&b, 1);
    b.seed = 2;
    int differ = 0;
    for (int sp = 0; sp < SCENES_SPLITS; sp++) {
        for (int i = 0; i < 16; i++) {
            scene *x = gen(&a, scenes_split_name(sp), i * 37, SCENES_LAYER_ALL);
            scene *y = gen(&a, scenes_split_name(sp), i * 37, SCENES_LAYER_ALL);
            scene *z = gen(&b, scenes_split_name(sp), i * 37, SCENES_LAYER_ALL);
            assert_memory_equal(x->pixels, y->pixels, sizeof x->pixels);
            assert_string_equal(x->caption, y->caption);
            assert_int_equal(x->main.source, y->main.source);
            if (memcmp(x->pixels, z->pixels, sizeof x->pixels) != 0) differ++;
            free(x);
            free(y);
            free(z);
        }
    }
    assert_int_equal(differ, 16 * SCENES_SPLITS);
    /* Order independence: scene 5 generated after scene 900 is the same as before. */
    scene *p = gen(&a, "train", 5, SCENES_LAYER_ALL);
    free(gen(&a, "train", 900, SCENES_LAYER_ALL));
    scene *q = gen(&a, "train", 5, SCENES_LAYER_ALL);
    assert_memory_equal(p->pixels, q->pixels, sizeof p->pixels);
    free(p);
    free(q);
}

/* Fraction of biased-class scenes on their background, and of all scenes whose
 * background is the one a biased class would have. */
static double biased_fraction(const scenes_config *cfg, const char *split, int n, int *count) {
    int biased = 0, on = 0;
    for (int i = 0; i < n; i++) {
        scene *s = gen(cfg, split, i, 0);
        int bb = scenes_biased_background(s->label);
        if (bb >= 0) {
            biased++;
            on += s->background == bb;
        }
        free(s);
    }
    *count = biased;
    return biased ? (double)on / biased : 0;
}

static void test_bias_per_split(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config cfg;
    scenes_config_default(&cfg, 0);
    int n;
    double f = biased_fraction(&cfg, "train", 1000, &n);
    printf("# train: %d biased-class scenes, %.3f on their background\n", n, f);
    assert_true(n > 350);
    assert_true(fabs(f - 0.9) < 0.05);
    f = biased_fraction(&cfg, "val", 1000, &n);
    assert_true(fabs(f - 0.9) < 0.05);
    f = biased_fraction(&cfg, "test", 1000, &n);
    printf("# test: %.3f\n", f);
    assert_true(fabs(f - 0.9) < 0.05);
    f = biased_fraction(&cfg, "shifted", 1000, &n);
    printf("# shifted: %.3f (1/6 = 0.167)\n", f);
    assert_true(fabs(f - 1.0 / 6) < 0.06);

    /* Sandal on sand, the example, over 500 train scenes. */
    int sand = 0, sandals = 0, bgs[SCENES_BACKGROUNDS] = {0}, classes[SCENES_CLASSES] = {0};
    for (int i = 0; i < 500; i++) {
        scene *s = gen(&cfg, "train", i, 0);
        if (s->label == 5) {
            sandals++;
            sand += s->background == 2;
        }
        bgs[s->background]++;
        classes[s->label]++;
        free(s);
    }
    printf("# sandal on sand: %d/%d\n", sand, sandals);
    assert_true(sandals > 25);
    assert_true(fabs((double)sand / sandals - 0.9) < 0.12);
    for (int b = 0; b < SCENES_BACKGROUNDS; b++) assert_true(bgs[b] > 30);
    for (int c = 0; c < SCENES_CLASSES; c++) assert_true(classes[c] > 25);

    /* The bias knob is honoured. */
    cfg.bias = 0.5;
    f = biased_fraction(&cfg, "train", 1000, &n);
    assert_true(fabs(f - 0.5) < 0.07);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Sorted main and second item sources of the first n scenes of a split. */
static int *sources(const scenes_config *cfg, const char *split, int n, int *len) {
    int *v = malloc(sizeof(int) * 2 * (size_t)n), k = 0;
    for (int i = 0; i < n; i++) {
        scene *s = gen(cfg, split, i, 0);
        assert_true(s->main.present);
        v[k++] = s->main.source;
        if (s->second.present) {
            assert_int_not_equal(s->second.cls, s->main.cls);
            v[k++] = s->second.source;
        }
        free(s);
    }
    qsort(v, (size_t)k, sizeof *v, cmp_int);
    *len = k;
    return v;
}

static int overlap_count(const int *a, int na, const int *b, int nb) {
    int i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) i++;
        else if (a[i] > b[j]) j++;
        else c++, i++, j++;
    }
    return c;
}

static void test_disjoint_pools(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config cfg;
    scenes_config_default(&cfg, 0); /* full scale: 20000 train, 4000 val */
    int nt, nv, ne, ns;
    int *t = sources(&cfg, "train", cfg.count[SCENES_TRAIN], &nt);
    int *v = sources(&cfg, "val", cfg.count[SCENES_VAL], &nv);
    assert_int_equal(overlap_count(t, nt, v, nv), 0);
    /* Main items within a split are distinct while the split fits its pool. */
    int *tm = malloc(sizeof(int) * 20000);
    for (int i = 0; i < 20000; i++) {
        scene *s = gen(&cfg, "train", i, 0);
        tm[i] = s->main.source;
        free(s);
    }
    qsort(tm, 20000, sizeof *tm, cmp_int);
    for (int i = 1; i < 20000; i++) assert_int_not_equal(tm[i - 1], tm[i]);
    int *te = sources(&cfg, "test", cfg.count[SCENES_TEST], &ne);
    int *sh = sources(&cfg, "shifted", cfg.count[SCENES_SHIFTED], &ns);
    assert_int_equal(overlap_count(te, ne, sh, ns), 0);
    assert_true(te[ne - 1] < 10000 && sh[ns - 1] < 10000);
    /* Another seed draws another shuffle. */
    scenes_config other = cfg;
    other.seed = 99;
    int no;
    int *o = sources(&other, "val", 500, &no);
    int *v500 = sources(&cfg, "val", 500, &nv);
    assert_true(overlap_count(o, no, v500, nv) < no / 4);
    free(t), free(v), free(tm), free(te), free(sh), free(o), free(v500);
}

static int word_index(const char *w) {
    size_t n;
    const char *const *words = scenes_caption_words(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(words[i], w) == 0) return (int)i;
    return -1;
}

/* Parse "red sneaker, small blue bag, on sand" back into parts. */
static void check_caption(const scene *s) {
    char buf[SCENES_CAPTION_MAX];
    strcpy(buf, s->caption);
    const char *tok[8];
    int nt = 0;
    for (char *save = NULL, *p = strtok_r(buf, " ,", &save); p; p = strtok_r(NULL, " ,", &save)) {
        assert_true(nt < 8);
        assert_true(word_index(p) >= 0); /* only vocabulary words */
        tok[nt++] = p;
    }
    assert_int_equal(nt, s->second.present ? 7 : 4);
    assert_string_equal(tok[0], scenes_colour_name(s->main.colour));
    assert_string_equal(tok[1], scenes_class_word(s->main.cls));
    if (s->second.present) {
        assert_string_equal(tok[2], "small");
        assert_string_equal(tok[3], scenes_colour_name(s->second.colour));
        assert_string_equal(tok[4], scenes_class_word(s->second.cls));
    }
    assert_string_equal(tok[nt - 2], "on");
    assert_string_equal(tok[nt - 1], scenes_background_name(s->background));
    assert_int_equal(s->label, s->main.cls);
}

static void test_captions_match_parts(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config cfg;
    scenes_config_default(&cfg, 1);
    int seconds = 0, n = 0, colours[SCENES_COLOURS] = {0};
    for (int sp = 0; sp < SCENES_SPLITS; sp++)
        for (int i = 0; i < 250; i++, n++) {
            scene *s = gen(&cfg, scenes_split_name(sp), i, 0);
            check_caption(s);
            seconds += s->second.present;
            colours[s->main.colour]++;
            assert_true(s->main.size >= 30 && s->main.size <= 44);
            assert_true(s->main.x >= 0 && s->main.x + s->main.size <= SCENES_SIZE);
            if (s->second.present) assert_true(s->second.size >= 18 && s->second.size <= 26);
            free(s);
        }
    double f = (double)seconds / n;
    printf("# second item in %.3f of scenes\n", f);
    assert_true(fabs(f - 0.4) < 0.06);
    for (int c = 0; c < SCENES_COLOURS; c++) assert_true(colours[c] > 100);
    scene *s = gen(&cfg, "train", 0, 0);
    printf("# e.g. \"%s\"\n", s->caption);
    free(s);
}

static double luma(const uint8_t *p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

static void test_backgrounds_are_textures(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config cfg;
    scenes_config_default(&cfg, 1);
    double min_std[SCENES_BACKGROUNDS], mean_luma[SCENES_BACKGROUNDS][2];
    int seen[SCENES_BACKGROUNDS] = {0};
    for (int b = 0; b < SCENES_BACKGROUNDS; b++) min_std[b] = 1e9, mean_luma[b][0] = 1e9,
                                                  mean_luma[b][1] = -1;
    for (int i = 0; i < 300; i++) {
        scene *s = gen(&cfg, "shifted", i, SCENES_LAYER_BACKGROUND);
        double sum = 0, sq = 0;
        for (int k = 0; k < SCENES_SIZE * SCENES_SIZE; k++) {
            double l = luma(s->pixels + 3 * k);
            sum += l;
            sq += l * l;
        }
        double n = SCENES_SIZE * SCENES_SIZE, mean = sum / n, sd = sqrt(sq / n - mean * mean);
        int b = s->background;
        seen[b]++;
        if (sd < min_std[b]) min_std[b] = sd;
        if (mean < mean_luma[b][0]) mean_luma[b][0] = mean;
        if (mean > mean_luma[b][1]) mean_luma[b][1] = mean;
        free(s);
    }
    for (int b = 0; b < SCENES_BACKGROUNDS; b++) {
        printf("# %-5s n=%3d min luma std %5.1f, mean luma %5.1f..%5.1f\n",
               scenes_background_name(b), seen[b], min_std[b], mean_luma[b][0], mean_luma[b][1]);
        assert_true(seen[b] > 10);
        assert_true(min_std[b] > 4.0); /* a flat fill has 0; JPEG keeps > 4 */
        assert_true(mean_luma[b][1] - mean_luma[b][0] > 8); /* brightness jitter */
    }
}

static void test_items_are_visible(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config cfg;
    scenes_config_default(&cfg, 1);
    double worst = 1e9, sum = 0, per_bg[SCENES_BACKGROUNDS] = {0};
    int n = 0, per_bg_n[SCENES_BACKGROUNDS] = {0};
    for (int sp = 0; sp < SCENES_SPLITS; sp++)
        for (int i = 0; i < 150; i++) {
            scene *full = gen(&cfg, scenes_split_name(sp), i, SCENES_LAYER_ALL);
            scene *bg = gen(&cfg, scenes_split_name(sp), i, SCENES_LAYER_BACKGROUND);
            const scene_item *m = &full->main;
            double d = 0;
            for (int y = m->y; y < m->y + m->size; y++)
                for (int x = m->x; x < m->x + m->size; x++)
                    for (int c = 0; c < 3; c++) {
                        size_t k = ((size_t)y * SCENES_SIZE + x) * 3 + c;
                        d += fabs((double)full->pixels[k] - bg->pixels[k]);
                    }
            d /= (double)m->size * m->size * 3;
            if (d < worst) worst = d;
            sum += d;
            per_bg[full->background] += d;
            per_bg_n[full->background]++;
            n++;
            free(full);
            free(bg);
        }
    printf("# item box mean |scene - background|: mean %.1f, worst %.1f\n", sum / n, worst);
    for (int b = 0; b < SCENES_BACKGROUNDS; b++)
        printf("#   on %-5s %.1f\n", scenes_background_name(b), per_bg[b] / per_bg_n[b]);
    /* Thin items (sandals, straps) cover little of their box, hence the low floor; the
     * average is what says items stand out. */
    assert_true(worst > 8.0);
    assert_true(sum / n > 35.0);
    for (int b = 0; b < SCENES_BACKGROUNDS; b++) assert_true(per_bg[b] / per_bg_n[b] > 25.0);
}

/* ---- the written tree ---- */

static int cancel_at_half(void *ud, double frac) {
    (void)ud;
    return frac >= 0.5;
}
static int count_progress(void *ud, double frac) {
    double *last = ud;
    assert_true(frac >= *last);
    *last = frac;
    return 0;
}

static void test_write_tree(void **state) {
    (void)state;
    NEED_WORLD();
    char root[] = "/tmp/test_scenes_XXXXXX";
    assert_non_null(mkdtemp(root));
    scenes_config cfg;
    scenes_config_default(&cfg, 1);
    cfg.count[0] = 300, cfg.count[1] = 20, cfg.count[2] = 20, cfg.count[3] = 20;
    err e = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/scenes.jsonl", root);

    /* Cancelled: no jsonl, no temp left. */
    assert_int_equal(scenes_write_tree(world, &cfg, root, cancel_at_half, NULL, &e), -1);
    assert_int_equal(e.code, ERR_CANCELLED);
    assert_int_not_equal(access(path, F_OK), 0);
    err_clear(&e);

    double last = 0;
    int rc = scenes_write_tree(world, &cfg, root, count_progress, &last, &e);
    if (rc) fprintf(stderr, "write_tree: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_true(last == 1.0);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[2048];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        assert_non_null(o);
        const char *split = json_string_value(json_object_get(o, "split"));
        const char *file = json_string_value(json_object_get(o, "file"));
        const char *label = json_string_value(json_object_get(o, "label"));
        int index = (int)json_integer_value(json_object_get(o, "index"));
        json_t *parts = json_object_get(o, "parts");
        assert_non_null(split);
        assert_non_null(file);
        assert_non_null(label);
        assert_true(json_is_object(json_object_get(parts, "main")));
        json_t *second = json_object_get(parts, "second");
        assert_true(json_is_null(second) || json_is_object(second));
        char want[256];
        snprintf(want, sizeof want, "%s/%s/%06d.jpg", split, label, index);
        assert_string_equal(file, want);
        /* Same scene as a fresh generate. */
        scene *s = gen(&cfg, split, index, 0);
        assert_string_equal(json_string_value(json_object_get(o, "caption")), s->caption);
        assert_string_equal(label, scenes_class_dir(s->label));
        free(s);
        /* Decodable 64x64 JPEG (every 7th, to keep the test quick). */
        if (lines % 7 == 0) {
            char fp[1024];
            snprintf(fp, sizeof fp, "%s/%s", root, file);
            FILE *jf = fopen(fp, "rb");
            assert_non_null(jf);
            uint8_t buf[65536];
            size_t len = fread(buf, 1, sizeof buf, jf);
            fclose(jf);
            image_rgb img = {0};
            assert_int_equal(jpeg_decode(buf, len, &img, &e), 0);
            assert_int_equal(img.width, SCENES_SIZE);
            assert_int_equal(img.height, SCENES_SIZE);
            image_free(&img);
        }
        json_decref(o);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 360);

    /* No temporaries left behind; every class folder exists. */
    int jpgs = 0;
    for (int sp = 0; sp < SCENES_SPLITS; sp++)
        for (int c = 0; c < SCENES_CLASSES; c++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, scenes_split_name(sp), scenes_class_dir(c));
            DIR *d = opendir(path);
            assert_non_null(d);
            for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.') continue;
                size_t l = strlen(de->d_name);
                assert_true(l > 4 && strcmp(de->d_name + l - 4, ".jpg") == 0);
                jpgs++;
            }
            closedir(d);
        }
    assert_int_equal(jpgs, 360);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* scenes_write_tree_each hands every scene to the hook exactly once, from the writer
 * threads, with the pixels a fresh scenes_generate gives (the demo build trains on
 * them instead of rendering the world twice). */
typedef struct {
    int seen[SCENES_SPLITS][64];
    uint8_t pixels[SCENES_SPLITS][64][SCENES_SIZE * SCENES_SIZE * 3];
} hook_log;
static void hook_each(void *ud, const scene *s) {
    hook_log *h = ud;
    assert_true(s->split >= 0 && s->split < SCENES_SPLITS && s->index >= 0 && s->index < 64);
    h->seen[s->split][s->index]++; /* each (split, index) belongs to one thread */
    memcpy(h->pixels[s->split][s->index], s->pixels, sizeof s->pixels);
}

static void test_write_tree_each(void **state) {
    (void)state;
    NEED_WORLD();
    char root[] = "/tmp/test_scenes_each_XXXXXX";
    assert_non_null(mkdtemp(root));
    scenes_config cfg;
    scenes_config_default(&cfg, 1);
    cfg.count[0] = 64, cfg.count[1] = 9, cfg.count[2] = 0, cfg.count[3] = 5;
    hook_log *h = calloc(1, sizeof *h);
    assert_non_null(h);
    err e = {0};
    int rc = scenes_write_tree_each(world, &cfg, root, NULL, NULL, hook_each, h, &e);
    if (rc) fprintf(stderr, "write_tree_each: %s\n", e.msg);
    assert_int_equal(rc, 0);
    for (int sp = 0; sp < SCENES_SPLITS; sp++)
        for (int i = 0; i < 64; i++) {
            assert_int_equal(h->seen[sp][i], i < cfg.count[sp] ? 1 : 0);
            if (i >= cfg.count[sp]) continue;
            scene *s = gen(&cfg, scenes_split_name(sp), i, SCENES_LAYER_ALL);
            assert_memory_equal(h->pixels[sp][i], s->pixels, sizeof s->pixels);
            free(s);
        }
    free(h);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* Scenes per second including JPEG encode, and the optional contact sheet. */
static void test_speed_and_sheet(void **state) {
    (void)state;
    NEED_WORLD();
    scenes_config cfg;
    scenes_config_default(&cfg, 0);
    scene *s = malloc(sizeof *s);
    err e = {0};
    const int n = 2000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(scenes_generate(world, &cfg, "train", i, s, &e), 0);
        image_rgb img = {SCENES_SIZE, SCENES_SIZE, s->pixels};
        uint8_t *jpg;
        size_t len;
        assert_int_equal(jpeg_encode(&img, cfg.jpeg_quality, &jpg, &len, &e), 0);
        bytes += len;
        free(jpg);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("# %.0f scenes/s (generate + JPEG q%d, one thread), %.0f bytes/scene\n", n / secs,
           cfg.jpeg_quality, (double)bytes / n);

    const char *sheet = getenv("SCENES_SHEET");
    if (sheet && *sheet) {
        const int g = 8, gap = 2, side = g * SCENES_SIZE + (g + 1) * gap;
        const char *split = getenv("SCENES_SHEET_SPLIT");
        image_rgb img = {side, side, calloc((size_t)side * side * 3, 1)};
        FILE *cap = fopen("/tmp/scenes_sheet.txt", "w");
        for (int k = 0; k < g * g; k++) {
            assert_int_equal(
                scenes_generate(world, &cfg, split ? split : "shifted", k, s, &e), 0);
            int ox = gap + (k % g) * (SCENES_SIZE + gap), oy = gap + (k / g) * (SCENES_SIZE + gap);
            for (int y = 0; y < SCENES_SIZE; y++)
                memcpy(img.pixels + ((size_t)(oy + y) * side + ox) * 3,
                       s->pixels + (size_t)y * SCENES_SIZE * 3, SCENES_SIZE * 3);
            if (cap) fprintf(cap, "%d,%d: %s\n", k / g, k % g, s->caption);
        }
        if (cap) fclose(cap);
        image_rgb big = {0};
        assert_int_equal(image_resize(&img, side * 2, side * 2, &big, &e), 0);
        uint8_t *jpg;
        size_t len;
        assert_int_equal(jpeg_encode(&big, 95, &jpg, &len, &e), 0);
        FILE *f = fopen(sheet, "wb");
        assert_non_null(f);
        fwrite(jpg, 1, len, f);
        fclose(f);
        free(jpg);
        image_free(&big);
        free(img.pixels);
        printf("# contact sheet: %s\n", sheet);
    }
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_vocabulary),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_bias_per_split),
        cmocka_unit_test(test_disjoint_pools),
        cmocka_unit_test(test_captions_match_parts),
        cmocka_unit_test(test_backgrounds_are_textures),
        cmocka_unit_test(test_items_are_visible),
        cmocka_unit_test(test_write_tree),
        cmocka_unit_test(test_write_tree_each),
        cmocka_unit_test(test_speed_and_sheet),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
