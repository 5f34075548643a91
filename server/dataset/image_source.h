/* image_source.h — iterate the images of a dataset import source, one at a time.
 *
 * Three kinds of source, one iterator:
 *  - a tar archive (plain or gzipped), read with libarchive and never extracted;
 *  - a folder tree on the server;
 *  - an idx image/label file pair (MNIST, Fashion-MNIST).
 * Tar and folder sources use one of two layouts, told apart by depth:
 *      <split>/<class>/<file>.jpg      (IMAGE_LAYOUT_SPLIT_CLASS, e.g. train/cat/1.jpg)
 *      <class>/<file>.jpg              (IMAGE_LAYOUT_CLASS, split is "")
 * The first image found fixes the layout; later images at the other depth are
 * skipped as not matching it. ".jpg"/".jpeg"/".png" in any case counts as an image
 * (image_source_is_image_name; <file>.jpg below stands for any of them).
 * Silently ignored (not worth a report): directories, and any path with a
 * component starting with '.' (".DS_Store", "._x", ".git/") or named "__MACOSX".
 * Everything else that is not imported is *skipped* with a reason and the import
 * goes on, e.g. "unsafe path in archive" (an absolute path, a ".." component, a
 * symbolic or hard link inside a tar), "symbolic link (not followed)" (folder),
 * "not a .jpg or .png file", "too large (N bytes, limit M)". Only a broken source (corrupt
 * or truncated archive, unreadable folder) makes image_source_next fail.
 *
 * Nothing here decodes images: the caller validates bytes with jpeg_decode or
 * png_decode and encodes idx pixels with jpeg_encode_grey. Streaming: at most one member is held
 * in memory, so any source size works. Not thread-safe: one source, one thread.
 */
#ifndef INFICOND_IMAGE_SOURCE_H
#define INFICOND_IMAGE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Default per-member size limit (image_source_set_max_member changes it). */
#define IMAGE_SOURCE_MAX_MEMBER ((size_t)64 << 20)
/* At most this many skips are kept with their names; all are counted. */
#define IMAGE_SOURCE_MAX_SKIPS_LISTED 1000

typedef enum {
    IMAGE_LAYOUT_UNKNOWN = 0,     /* no image seen yet                 */
    IMAGE_LAYOUT_CLASS = 2,       /* <class>/<file>.jpg                */
    IMAGE_LAYOUT_SPLIT_CLASS = 3, /* <split>/<class>/<file>.jpg; idx   */
} image_layout;

/* One image. Every pointer is borrowed from the source and valid until the next
 * image_source_next or image_source_close. */
typedef struct image_item {
    const char *split;       /* "" in the <class>/<file> layout                     */
    const char *class_name;  /* the folder name; for idx the class name or label    */
    const char *member_name; /* where it came from: "train/cat/1.jpg" (normalised),
                                or "<images file name>#<index>" for idx            */
    const uint8_t *bytes;    /* the file's contents (tar, folder); NULL for idx      */
    size_t len;
    const uint8_t *pixels;   /* idx only: (height, width) 8-bit grey; else NULL      */
    int width, height;       /* idx only                                            */
    int label;               /* idx only: the label value (0..255); else -1          */
} image_item;

/* A member that was not imported, and why. */
typedef struct image_skip {
    char *member; /* as named in the source                                     */
    char *reason;
} image_skip;

typedef struct image_source image_source;

/* Open a tar (or .tar.gz) file. ERR_NOT_FOUND if absent, ERR_IO if unreadable,
 * ERR_UNPROCESSABLE if it is not a tar archive (found here or, for a damaged
 * archive, by a later image_source_next). */
image_source *image_source_open_tar(const char *path, err *e) WARN_UNUSED;
/* Open a folder. Symbolic links below it are never followed (the root itself may
 * be one). Entries are visited in byte order of their names, so runs repeat. */
image_source *image_source_open_dir(const char *root, err *e) WARN_UNUSED;
/* Open an idx pair: images (N, rows, cols), labels (N). Both are checked at once
 * (shape, matching N). Items get `split` (may be NULL = ""), and as class name
 * class_names[label] when class_names is given (a label >= n_classes is skipped),
 * else the label in decimal. */
image_source *image_source_open_idx(const char *images_path, const char *labels_path, const char *split,
                                    const char *const *class_names, size_t n_classes, err *e) WARN_UNUSED;

/* Per-member limit in bytes for tar and folder sources (bigger ones are skipped). */
void image_source_set_max_member(image_source *s, size_t bytes);

/* The next image into *item: 1 = an image, 0 = no more, -1 = the source is broken
 * (the error says why; stop iterating). */
int image_source_next(image_source *s, image_item *item, err *e) WARN_UNUSED;

image_layout image_source_layout(const image_source *s);
/* The skips so far, in order: *n_listed entries (at most
 * IMAGE_SOURCE_MAX_SKIPS_LISTED) are returned; *n_total counts all of them.
 * Borrowed; valid until the next image_source_next or close. Either count may be NULL. */
const image_skip *image_source_skips(const image_source *s, size_t *n_listed, size_t *n_total);

void image_source_close(image_source *s); /* NULL-safe */

/* Does a file name end in .jpg, .jpeg or .png (any case)? The one rule for what a
 * tar or folder member must be named to count as an image (the prescan uses it too). */
int image_source_is_image_name(const char *name);

/* Fashion-MNIST's class names, by label. */
extern const char *const image_source_fashion_mnist_classes[10];

#endif
