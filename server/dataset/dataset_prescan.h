/* dataset_prescan.h — the import's first pass over a folder or tar source: count the
 * entries (so progress has a total) and the images the import would accept (checked
 * against INFICOND_MAX_IMPORT_IMAGES before anything is stored), and collect the
 * class folder names, sorted.
 *
 * Sorted names make a fresh dataset's class indices follow the names' order whatever
 * order splits and archive members come in. Only paths the import would accept count:
 * a .jpg/.jpeg/.png (image_source_is_image_name) at the depth of the first one
 * (2 = <class>/f, 3 = <split>/<class>/f),
 * no hidden or unsafe component; a class whose every file turns out bad still gets
 * its name. Nothing here fails: an unreadable folder or a damaged archive just ends
 * the count, and the import's real pass reports it.
 */
#ifndef INFICOND_DATASET_PRESCAN_H
#define INFICOND_DATASET_PRESCAN_H

#include <jansson.h>
#include <stddef.h>

typedef struct dataset_prescan {
    size_t count;    /* source entries that are not folders                 */
    size_t images;   /* paths the import would accept                       */
    int depth;       /* of the first image: 2 or 3 (0: none seen)           */
    json_t *classes; /* unique names, sorted after dataset_prescan_run; owned */
} dataset_prescan;

/* Scan the folder tree (is_tar 0) or the tar archive (is_tar 1; headers only) at
 * path into *ps, which starts zeroed. Free with dataset_prescan_free. */
void dataset_prescan_run(dataset_prescan *ps, const char *path, int is_tar);
void dataset_prescan_free(dataset_prescan *ps); /* NULL-safe */

#endif
