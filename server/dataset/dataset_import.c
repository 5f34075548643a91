/* dataset_import.c — the import loop behind "dataset.import" and the CLI.
 *
 * One pass over an image_source: check or encode each image, put its bytes in the
 * blob store (before its row exists, so a row never names a missing blob), and
 * collect rows into batches of DATASET_IMPORT_BATCH. A batch is one transaction:
 * lock the dataset row and map class names to indices (dataset_store_add_classes
 * appends new names under that lock, so two imports into one dataset cannot lose a
 * class), then add the rows (dataset_store_add_images: the same bytes once per
 * dataset). Progress is the share of source entries seen; the total is counted
 * first (dataset_prescan.h for folders and tars, the label file for idx).
 */
#include "dataset/dataset_import.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "blobstore.h"
#include "db.h"
#include "dataset/dataset_prescan.h"
#include "dataset/dataset_store.h"
#include "dataset/idx.h"
#include "dataset/image_source.h"
#include "dataset/jpeg_io.h"
#include "dataset/png_io.h"
#include "log.h"

/* ---- the import ------------------------------------------------------------ */

typedef struct pending_row {
    char split[DATASET_SPLIT_MAX + 1];
    char *class_name; /* owned; NULL = unlabelled */
    char sha[BLOBSTORE_HEX_LEN + 1];
    int width, height;
    size_t bytes;
    char *source; /* owned */
} pending_row;

typedef struct importer {
    app *a;
    int64_t dataset_id;
    /* split choice for the <class>/<file> layout */
    const char *fixed_split;
    char ratio_names[DATASET_MAX_SPLITS][DATASET_SPLIT_MAX + 1];
    double ratio_cum[DATASET_MAX_SPLITS]; /* cumulative, normalised; last = 1 */
    int n_ratio;
    /* the batch */
    pending_row rows[DATASET_IMPORT_BATCH];
    int n_rows;
    /* counts and report */
    long imported, duplicates, decode_skipped;
    json_t *decode_skips; /* [{name,reason}] */
    json_t *splits;       /* {split: imported} */
    json_t *classes;      /* the dataset's list after the last batch */
} importer;

static void rows_clear(importer *im) {
    for (int i = 0; i < im->n_rows; i++) {
        free(im->rows[i].class_name);
        free(im->rows[i].source);
    }
    im->n_rows = 0;
}

static int cmp_cstr(const void *x, const void *y) {
    return strcmp((const char *)x, (const char *)y);
}

/* Names sorted, weights normalised into cumulative bounds: the same ratio object
 * gives the same assignment whatever its key order (jsonb reorders keys). */
static void setup_ratio(importer *im, const json_t *ratio) {
    static const char *const defaults[] = {"test", "train", "val"};
    static const double default_w[] = {0.1, 0.8, 0.1};
    double w[DATASET_MAX_SPLITS];
    if (!ratio) {
        im->n_ratio = 3;
        for (int i = 0; i < 3; i++) {
            snprintf(im->ratio_names[i], sizeof im->ratio_names[i], "%s", defaults[i]);
            w[i] = default_w[i];
        }
    } else {
        const char *key;
        json_t *v;
        im->n_ratio = 0;
        json_object_foreach((json_t *)ratio, key, v) {
            if (im->n_ratio >= DATASET_MAX_SPLITS) break;
            snprintf(im->ratio_names[im->n_ratio++], DATASET_SPLIT_MAX + 1, "%s", key);
        }
        qsort(im->ratio_names, (size_t)im->n_ratio, sizeof im->ratio_names[0], cmp_cstr);
        for (int i = 0; i < im->n_ratio; i++) w[i] = json_number_value(json_object_get(ratio, im->ratio_names[i]));
    }
    double sum = 0, acc = 0;
    for (int i = 0; i < im->n_ratio; i++) sum += w[i];
    for (int i = 0; i < im->n_ratio; i++) {
        acc += w[i] / sum;
        im->ratio_cum[i] = acc;
    }
    im->ratio_cum[im->n_ratio - 1] = 1.0;
}

/* Decode a member as PNG? The bytes decide (a PNG named .jpg, or a JPEG named
 * .png, is imported as what it is); bytes that are neither take the name's word, so
 * a broken "x.png" is reported as "not a PNG", not as "not a JPEG". */
static int is_png_member(const image_item *it) {
    if (png_has_signature(it->bytes, it->len)) return 1;
    if (it->len >= 2 && it->bytes[0] == 0xFF && it->bytes[1] == 0xD8) return 0;
    const char *dot = strrchr(it->member_name, '.');
    return dot && strcasecmp(dot, ".png") == 0;
}

/* A uniform number in [0,1) from the first 52 bits of the hash. */
static const char *ratio_split(const importer *im, const char *sha) {
    char head[14];
    memcpy(head, sha, 13);
    head[13] = '\0';
    double u = (double)strtoull(head, NULL, 16) / (double)(1ULL << 52);
    for (int i = 0; i < im->n_ratio; i++)
        if (u < im->ratio_cum[i] && im->ratio_cum[i] > (i ? im->ratio_cum[i - 1] : 0)) return im->ratio_names[i];
    for (int i = im->n_ratio - 1; i >= 0; i--) /* u at the top edge after zero weights */
        if (im->ratio_cum[i] > (i ? im->ratio_cum[i - 1] : 0)) return im->ratio_names[i];
    return im->ratio_names[0];
}

static void note_skip(importer *im, const char *name, const char *reason, size_t source_listed) {
    im->decode_skipped++;
    log_debug("import: skipped %s: %s", name, reason);
    if (json_array_size(im->decode_skips) + source_listed < IMAGE_SOURCE_MAX_SKIPS_LISTED)
        json_array_append_new(im->decode_skips, json_pack("{s:s,s:s}", "name", name, "reason", reason));
}

/* Within the open transaction: the dataset's classes, with the names in `want`
 * (may be NULL) appended, into im->classes. */
static int sync_classes(importer *im, PGconn *c, const json_t *want, err *e) {
    json_t *classes = NULL;
    if (dataset_store_add_classes(c, im->dataset_id, want, &classes, e)) return -1;
    json_decref(im->classes);
    im->classes = classes;
    return 0;
}

static int class_index(const json_t *classes, const char *name) {
    size_t i;
    json_t *h;
    json_array_foreach(classes, i, h) if (!strcmp(json_string_value(h), name)) return (int)i;
    return -1;
}

/* Run fn(im, conn, arg) in one transaction. */
static int in_tx(importer *im, int (*fn)(importer *, PGconn *, const void *, err *), const void *arg, err *e) {
    PGconn *c = db_acquire(im->a->db, e);
    if (!c) return -1;
    int rc = db_begin(c, e);
    if (!rc) rc = fn(im, c, arg, e);
    if (!rc) rc = db_commit(c, e);
    if (rc) db_rollback(c);
    db_release(im->a->db, c);
    return rc;
}

static int tx_seed_classes(importer *im, PGconn *c, const void *arg, err *e) {
    return sync_classes(im, c, (const json_t *)arg, e);
}

static int tx_flush(importer *im, PGconn *c, const void *arg, err *e) {
    (void)arg;
    /* This batch's class names, first-seen order, then lock + append. */
    json_t *names = json_array();
    for (int i = 0; i < im->n_rows; i++) {
        const char *cn = im->rows[i].class_name;
        if (!cn) continue;
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = im->rows[k].class_name && !strcmp(im->rows[k].class_name, cn);
        if (!seen) json_array_append_new(names, json_string(cn));
    }
    int rc = sync_classes(im, c, names, e);
    json_decref(names);
    if (rc) return -1;
    json_t *rows = json_array();
    for (int i = 0; i < im->n_rows; i++) {
        pending_row *pr = &im->rows[i];
        int label = pr->class_name ? class_index(im->classes, pr->class_name) : -1;
        json_array_append_new(rows, json_pack("{s:s,s:o,s:s,s:i,s:i,s:I,s:s}", "split", pr->split, "label",
                                              label >= 0 ? json_integer(label) : json_null(), "sha256", pr->sha,
                                              "width", pr->width, "height", pr->height, "bytes",
                                              (json_int_t)pr->bytes, "source_name", pr->source));
    }
    long n = 0;
    rc = dataset_store_add_images(c, im->dataset_id, rows, im->splits, &n, e);
    json_decref(rows);
    if (rc) return -1;
    im->imported += n;
    im->duplicates += im->n_rows - n;
    return 0;
}

static int flush(importer *im, err *e) {
    if (im->n_rows == 0) return 0;
    int rc = in_tx(im, tx_flush, NULL, e);
    rows_clear(im);
    return rc;
}

/* Store one image's bytes and queue its row. 0, or -1 on a fatal (I/O, DB) error. */
static int add_row(importer *im, const char *split, const char *class_name, const uint8_t *bytes, size_t len,
                   int w, int h, const char *source, err *e) {
    /* Backstop should the count taken first have missed some: never past the limit. */
    if (im->imported + im->duplicates + im->n_rows >= im->a->cfg.max_import_images)
        return err_set(e, ERR_UNPROCESSABLE, "more images than counted at the start, over the limit of %ld per "
                       "import (INFICOND_MAX_IMPORT_IMAGES)", im->a->cfg.max_import_images);
    pending_row *pr = &im->rows[im->n_rows];
    memset(pr, 0, sizeof *pr);
    if (blobstore_put(im->a->cfg.data_dir, bytes, len, pr->sha, e)) return -1;
    if (!split) split = im->fixed_split ? im->fixed_split : ratio_split(im, pr->sha);
    snprintf(pr->split, sizeof pr->split, "%s", split);
    pr->class_name = class_name && *class_name ? strdup(class_name) : NULL;
    pr->source = strdup(source ? source : "");
    pr->width = w;
    pr->height = h;
    pr->bytes = len;
    im->n_rows++;
    if (!pr->source || (class_name && *class_name && !pr->class_name)) return err_set(e, ERR_INTERNAL, "out of memory");
    return im->n_rows == DATASET_IMPORT_BATCH ? flush(im, e) : 0;
}

/* INFICOND_MAX_IMPORT_IMAGES, checked on the count taken before anything is stored. */
static int within_import_limit(const app *a, size_t n, err *e) {
    if ((long)n <= a->cfg.max_import_images) return 0;
    return err_set(e, ERR_UNPROCESSABLE,
                   "the source holds %zu images, over the limit of %ld per import "
                   "(INFICOND_MAX_IMPORT_IMAGES); nothing was imported: split it into smaller imports",
                   n, a->cfg.max_import_images);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Delete an upload the import has consumed — only ever a file directly in
 * <data_dir>/uploads, whatever the params say. */
static void remove_upload(app *a, const char *path) {
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/uploads/", a->cfg.data_dir);
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) || strchr(path + n, '/') || path[n] == '.' || !path[n]) {
        log_warn("import: not deleting %s: not an upload", path);
        return;
    }
    if (unlink(path) != 0) log_warn("import: cannot delete the upload %s", path);
}

int dataset_import_run(app *a, const json_t *params, dataset_progress_fn progress, void *arg, json_t **result,
                       err *e) {
    if (dataset_import_check(params, e)) return -1;
    json_t *idv = json_object_get(params, "dataset_id");
    if (!json_is_integer(idv) || json_integer_value(idv) < 1)
        return err_set(e, ERR_UNPROCESSABLE, "field 'dataset_id' must be a positive integer");
    const char *source = json_string_value(json_object_get(params, "source"));
    const char *split = json_string_value(json_object_get(params, "split"));
    const json_t *want_classes = json_object_get(params, "classes");
    int is_idx = !strcmp(source, "idx");

    importer *im = calloc(1, sizeof *im);
    if (!im) return err_set(e, ERR_INTERNAL, "out of memory");
    im->a = a;
    im->dataset_id = (int64_t)json_integer_value(idv);
    im->fixed_split = split;
    setup_ratio(im, json_object_get(params, "split_ratio"));
    im->decode_skips = json_array();
    im->splits = json_object();
    image_source *src = NULL;
    json_t *seed = NULL;
    char **digit_names = NULL;
    size_t n_names = 0, total = 0;
    int rc = -1;
    double t0 = now_s();

    if (is_idx) {
        const char *images = json_string_value(json_object_get(params, "images"));
        const char *labels = json_string_value(json_object_get(params, "labels"));
        if (!split) split = im->fixed_split = dataset_idx_default_split(images);
        /* The class list is fixed before any row so that label i is class i. */
        idx_array lab = {0};
        if (idx_load(labels, &lab, e)) goto out;
        total = lab.count;
        int max_label = -1;
        for (size_t i = 0; i < lab.count; i++) max_label = lab.data[i] > max_label ? lab.data[i] : max_label;
        idx_free(&lab);
        if (within_import_limit(a, total, e)) goto out;
        seed = json_array();
        if (want_classes) {
            json_array_extend(seed, (json_t *)want_classes);
        } else if (strcasestr(images, "fashion") && max_label < 10) {
            for (int i = 0; i < 10; i++) json_array_append_new(seed, json_string(image_source_fashion_mnist_classes[i]));
        } else {
            for (int i = 0; i <= max_label; i++) json_array_append_new(seed, json_sprintf("%d", i));
        }
        n_names = json_array_size(seed);
        digit_names = calloc(n_names ? n_names : 1, sizeof *digit_names);
        if (!digit_names) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n_names; i++) digit_names[i] = (char *)json_string_value(json_array_get(seed, i));
        if (in_tx(im, tx_seed_classes, seed, e)) goto out;
        src = image_source_open_idx(images, labels, split, (const char *const *)digit_names, n_names, e);
    } else {
        const char *path = json_string_value(json_object_get(params, "path"));
        dataset_prescan ps = {0};
        dataset_prescan_run(&ps, path, !strcmp(source, "tar"));
        total = ps.count;
        if (within_import_limit(a, ps.images, e)) {
            dataset_prescan_free(&ps);
            /* Too big as it is: keeping the upload would only hold disk space. */
            if (json_is_true(json_object_get(params, "upload"))) remove_upload(a, path);
            goto out;
        }
        /* Given names first (their order), then the folders' names, sorted. */
        seed = json_array();
        if (want_classes) json_array_extend(seed, (json_t *)want_classes);
        json_array_extend(seed, ps.classes);
        dataset_prescan_free(&ps);
        if (in_tx(im, tx_seed_classes, seed, e)) goto out;
        src = !strcmp(source, "tar") ? image_source_open_tar(path, e) : image_source_open_dir(path, e);
    }
    if (!src) goto out;
    /* The dataset must exist before we spend time on blobs. */
    if (in_tx(im, tx_seed_classes, NULL, e)) goto out;

    size_t seen = 0;
    image_item it;
    uint8_t *jpeg = NULL;
    size_t jpeg_len = 0;
    char msg[200];
    for (;;) {
        err se = {0};
        int got = image_source_next(src, &it, &se);
        if (got < 0) {
            err_set(e, se.code ? se.code : ERR_UNPROCESSABLE, "%s", se.msg);
            goto out;
        }
        size_t src_listed = 0, src_total = 0;
        image_source_skips(src, &src_listed, &src_total);
        if (got == 0) break;
        seen = (size_t)(im->imported + im->duplicates + im->n_rows) + im->decode_skipped + src_total + 1;
        char item_split[DATASET_SPLIT_MAX + 1];
        const char *use_split = NULL;
        if (!is_idx && it.split && *it.split) {
            /* <split>/<class>/<file>: the folder names the split. */
            size_t n = strlen(it.split);
            for (size_t i = 0; i < n && i < DATASET_SPLIT_MAX; i++) item_split[i] = (char)tolower((unsigned char)it.split[i]);
            item_split[n < DATASET_SPLIT_MAX ? n : DATASET_SPLIT_MAX] = '\0';
            if (n > DATASET_SPLIT_MAX || !dataset_split_valid(item_split)) {
                note_skip(im, it.member_name, "the split folder's name is not a split name (a-z 0-9 _ -, 1 to 32)",
                          src_listed);
                continue;
            }
            use_split = item_split;
        } else if (is_idx) {
            use_split = split;
        }
        if (it.class_name && strlen(it.class_name) > DATASET_CLASS_NAME_MAX) {
            note_skip(im, it.member_name, "class name too long", src_listed);
            continue;
        }
        err de = {0};
        if (it.pixels) {
            if (jpeg_encode_grey(it.pixels, it.width, it.height, DATASET_IDX_JPEG_QUALITY, &jpeg, &jpeg_len, &de)) {
                note_skip(im, it.member_name, de.msg, src_listed);
                continue;
            }
            int arc = add_row(im, use_split, it.class_name, jpeg, jpeg_len, it.width, it.height, it.member_name, e);
            free(jpeg);
            jpeg = NULL;
            if (arc) goto out;
        } else if (is_png_member(&it)) {
            image_rgb img = {0};
            if (png_decode(it.bytes, it.len, &img, &de) ||
                jpeg_encode(&img, DATASET_PNG_JPEG_QUALITY, &jpeg, &jpeg_len, &de)) {
                image_free(&img);
                note_skip(im, it.member_name, de.msg, src_listed);
                continue;
            }
            int w = img.width, h = img.height;
            image_free(&img);
            int arc = add_row(im, use_split, it.class_name, jpeg, jpeg_len, w, h, it.member_name, e);
            free(jpeg);
            jpeg = NULL;
            if (arc) goto out;
        } else {
            image_rgb img = {0};
            if (jpeg_decode(it.bytes, it.len, &img, &de)) {
                note_skip(im, it.member_name, de.msg, src_listed);
                continue;
            }
            int w = img.width, h = img.height;
            image_free(&img);
            if (add_row(im, use_split, it.class_name, it.bytes, it.len, w, h, it.member_name, e)) goto out;
        }
        if (progress && (seen % 64 == 0 || im->n_rows == 0)) {
            snprintf(msg, sizeof msg, "%ld imported, %ld already present, %zu skipped", im->imported,
                     im->duplicates, (size_t)im->decode_skipped + src_total);
            double f = total ? (double)seen / (double)total : 0.0;
            if (progress(arg, f > 0.99 ? 0.99 : f, msg, e)) goto out;
        }
    }
    if (flush(im, e)) goto out;

    /* The report: the source's skips (bad names, not .jpg) then ours (bad data). */
    size_t src_listed = 0, src_total = 0;
    const image_skip *sk = image_source_skips(src, &src_listed, &src_total);
    json_t *skipped = json_array();
    for (size_t i = 0; i < src_listed; i++)
        json_array_append_new(skipped, json_pack("{s:s,s:s}", "name", sk[i].member, "reason", sk[i].reason));
    json_array_extend(skipped, im->decode_skips);
    double secs = now_s() - t0;
    long processed = im->imported + im->duplicates;
    if (!im->classes && in_tx(im, tx_seed_classes, NULL, e)) {
        json_decref(skipped);
        goto out;
    }
    *result = json_pack("{s:I,s:I,s:o,s:I,s:O,s:O,s:f,s:f}", "imported", (json_int_t)im->imported, "duplicates",
                        (json_int_t)im->duplicates, "skipped", skipped, "skipped_total",
                        (json_int_t)(src_total + (size_t)im->decode_skipped), "classes", im->classes, "splits",
                        im->splits, "seconds", secs, "images_per_second", secs > 0 ? processed / secs : 0.0);
    if (progress) {
        snprintf(msg, sizeof msg, "done: %ld imported, %ld already present, %zu skipped", im->imported,
                 im->duplicates, (size_t)im->decode_skipped + src_total);
        if (progress(arg, 1.0, msg, e)) {
            json_decref(*result);
            *result = NULL;
            goto out;
        }
    }
    if (json_is_true(json_object_get(params, "upload")))
        remove_upload(a, json_string_value(json_object_get(params, "path")));
    log_info("import into dataset %lld: %ld imported, %ld duplicates, %zu skipped in %.1f s", (long long)im->dataset_id,
             im->imported, im->duplicates, (size_t)im->decode_skipped + src_total, secs);
    rc = 0;
out:
    image_source_close(src);
    rows_clear(im);
    free(digit_names);
    json_decref(seed);
    json_decref(im->decode_skips);
    json_decref(im->splits);
    json_decref(im->classes);
    free(im);
    return rc;
}

/* ---- the job kind ---------------------------------------------------------- */

static int job_sink(void *arg, double fraction, const char *message, err *e) {
    return job_progress((job_ctx *)arg, fraction, e, "%s", message);
}

int dataset_import_job(job_ctx *ctx, const json_t *params, json_t **result, err *e) {
    return dataset_import_run(job_app(ctx), params, job_sink, ctx, result, e);
}
