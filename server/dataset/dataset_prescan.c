/* dataset_prescan.c — the import's first pass (dataset_prescan.h): a directory walk
 * or a header-only pass over a tar (data blocks are skipped, by seeking when the
 * archive is not compressed).
 */
#include "dataset/dataset_prescan.h"

#include <archive.h>
#include <archive_entry.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset/dataset_import.h"
#include "dataset/image_source.h"

static void prescan_path(dataset_prescan *ps, const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    char *comps[8], *save = NULL;
    int n = 0;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        if (n == 8 || c[0] == '.' || !strcmp(c, "__MACOSX")) return;
        comps[n++] = c;
    }
    if (path[0] == '/' || n < 2 || n > 3) return;
    if (!image_source_is_image_name(comps[n - 1])) return;
    if (!ps->depth) ps->depth = n;
    if (n != ps->depth || strlen(comps[n - 2]) > DATASET_CLASS_NAME_MAX) return;
    ps->images++;
    size_t i;
    json_t *v;
    json_array_foreach(ps->classes, i, v) if (!strcmp(json_string_value(v), comps[n - 2])) return;
    json_array_append_new(ps->classes, json_string(comps[n - 2]));
}

static int cmp_json_str(const void *x, const void *y) {
    return strcmp(json_string_value(*(json_t *const *)x), json_string_value(*(json_t *const *)y));
}

/* Sort the collected names (byte order, like the folder walker). */
static void prescan_sort(dataset_prescan *ps) {
    size_t n = json_array_size(ps->classes);
    json_t **items = calloc(n ? n : 1, sizeof *items);
    if (!items) return;
    for (size_t i = 0; i < n; i++) items[i] = json_incref(json_array_get(ps->classes, i));
    qsort(items, n, sizeof *items, cmp_json_str);
    json_array_clear(ps->classes);
    for (size_t i = 0; i < n; i++) json_array_append_new(ps->classes, items[i]);
    free(items);
}

static dataset_prescan *walk_scan;
static size_t walk_root_len;
static int walk_file(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)f;
    if (flag != FTW_F) return 0;
    walk_scan->count++;
    if (strlen(p) > walk_root_len) prescan_path(walk_scan, p + walk_root_len + 1);
    return 0;
}

/* nftw's callback has no user pointer, so its state is a static behind a lock. */
static void prescan_folder(dataset_prescan *ps, const char *root) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    walk_scan = ps;
    walk_root_len = strlen(root);
    while (walk_root_len > 1 && root[walk_root_len - 1] == '/') walk_root_len--;
    nftw(root, walk_file, 16, FTW_PHYS);
    walk_scan = NULL;
    pthread_mutex_unlock(&mu);
}

static void prescan_tar(dataset_prescan *ps, const char *path) {
    struct archive *ar = archive_read_new();
    if (!ar) return;
    archive_read_support_filter_all(ar);
    archive_read_support_format_tar(ar);
    if (archive_read_open_filename(ar, path, 1 << 16) == ARCHIVE_OK) {
        struct archive_entry *en;
        while (archive_read_next_header(ar, &en) == ARCHIVE_OK) {
            if (archive_entry_filetype(en) != AE_IFDIR) {
                ps->count++;
                if (archive_entry_filetype(en) == AE_IFREG && archive_entry_pathname(en))
                    prescan_path(ps, archive_entry_pathname(en));
            }
            if (archive_read_data_skip(ar) != ARCHIVE_OK) break;
        }
    }
    archive_read_free(ar);
}

void dataset_prescan_run(dataset_prescan *ps, const char *path, int is_tar) {
    if (!ps->classes) ps->classes = json_array();
    if (is_tar)
        prescan_tar(ps, path);
    else
        prescan_folder(ps, path);
    prescan_sort(ps);
}

void dataset_prescan_free(dataset_prescan *ps) {
    if (!ps) return;
    json_decref(ps->classes);
    ps->classes = NULL;
}
