/* dataset_import_check.c — the rules an import's params and a dataset's names follow
 * (declared in dataset_import.h): checked by the routes and the CLI before a job is
 * queued, and again by the import itself, so a bad request is a 422 at once and a
 * job never starts on params it would refuse.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset/dataset_import.h"

int dataset_name_valid(const char *s) {
    if (!s) return 0;
    size_t n = strlen(s);
    if (n < 1 || n > DATASET_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-')) return 0;
    return 1;
}

int dataset_split_valid(const char *s) {
    if (!s) return 0;
    size_t n = strlen(s);
    if (n < 1 || n > DATASET_SPLIT_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int path_field(const json_t *params, const char *field, int want_dir, err *e) {
    json_t *v = json_object_get(params, field);
    if (!v) return err_set(e, ERR_UNPROCESSABLE, "field '%s' is required for this source", field);
    const char *p = json_string_value(v);
    if (!p || !*p || strlen(p) >= PATH_MAX)
        return err_set(e, ERR_UNPROCESSABLE, "field '%s' must be a path", field);
    if (p[0] != '/') return err_set(e, ERR_UNPROCESSABLE, "field '%s' must be an absolute path", field);
    struct stat st;
    if (stat(p, &st) != 0) return err_set(e, ERR_UNPROCESSABLE, "field '%s': no such file %s", field, p);
    if (want_dir && !S_ISDIR(st.st_mode))
        return err_set(e, ERR_UNPROCESSABLE, "field '%s': %s is not a folder", field, p);
    if (!want_dir && !S_ISREG(st.st_mode))
        return err_set(e, ERR_UNPROCESSABLE, "field '%s': %s is not a regular file", field, p);
    if (access(p, R_OK | (want_dir ? X_OK : 0)) != 0)
        return err_set(e, ERR_UNPROCESSABLE, "field '%s': %s is not readable by the server", field, p);
    return 0;
}

const char *dataset_idx_default_split(const char *images_path) {
    const char *base = strrchr(images_path, '/');
    base = base ? base + 1 : images_path;
    if (!strncmp(base, "train", 5)) return "train";
    if (!strncmp(base, "t10k", 4) || !strncmp(base, "test", 4)) return "test";
    return NULL;
}

int dataset_import_check(const json_t *params, err *e) {
    static const char *const allowed[] = {"dataset_id", "source", "images", "labels", "path", "split",
                                          "split_ratio", "classes", "upload", NULL};
    if (!json_is_object(params)) return err_set(e, ERR_UNPROCESSABLE, "the import params must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) ok |= !strcmp(*a, key);
        if (!ok) return err_set(e, ERR_UNPROCESSABLE, "unknown field '%s'", key);
    }
    const char *source = json_string_value(json_object_get(params, "source"));
    if (!source || (strcmp(source, "idx") && strcmp(source, "folder") && strcmp(source, "tar")))
        return err_set(e, ERR_UNPROCESSABLE, "field 'source' must be \"idx\", \"folder\" or \"tar\"");
    int is_idx = !strcmp(source, "idx");
    if (is_idx) {
        if (json_object_get(params, "path"))
            return err_set(e, ERR_UNPROCESSABLE, "field 'path' is for folder and tar sources; idx takes 'images' and 'labels'");
        if (path_field(params, "images", 0, e) || path_field(params, "labels", 0, e)) return -1;
    } else {
        if (json_object_get(params, "images") || json_object_get(params, "labels"))
            return err_set(e, ERR_UNPROCESSABLE, "fields 'images' and 'labels' are for the idx source");
        if (path_field(params, "path", !strcmp(source, "folder"), e)) return -1;
    }
    json_t *split = json_object_get(params, "split");
    if (split && !dataset_split_valid(json_string_value(split)))
        return err_set(e, ERR_UNPROCESSABLE, "field 'split' must be 1 to 32 characters of a-z 0-9 _ -");
    if (is_idx && !split && !dataset_idx_default_split(json_string_value(json_object_get(params, "images"))))
        return err_set(e, ERR_UNPROCESSABLE,
                       "field 'split' is required: the images file name does not start with train or t10k");
    json_t *ratio = json_object_get(params, "split_ratio");
    if (ratio) {
        if (is_idx) return err_set(e, ERR_UNPROCESSABLE, "field 'split_ratio' is for folder and tar sources");
        if (split) return err_set(e, ERR_UNPROCESSABLE, "field 'split_ratio' cannot be given with 'split'");
        if (!json_is_object(ratio) || json_object_size(ratio) < 1 || json_object_size(ratio) > DATASET_MAX_SPLITS)
            return err_set(e, ERR_UNPROCESSABLE, "field 'split_ratio' must be an object of 1 to %d splits", DATASET_MAX_SPLITS);
        double sum = 0;
        json_object_foreach(ratio, key, v) {
            if (!dataset_split_valid(key))
                return err_set(e, ERR_UNPROCESSABLE, "field 'split_ratio': '%s' is not a split name (a-z 0-9 _ -, 1 to 32)", key);
            if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e6)
                return err_set(e, ERR_UNPROCESSABLE, "field 'split_ratio': '%s' must be a number >= 0", key);
            sum += json_number_value(v);
        }
        if (!(sum > 0)) return err_set(e, ERR_UNPROCESSABLE, "field 'split_ratio': the weights add up to 0");
    }
    json_t *classes = json_object_get(params, "classes");
    if (classes) {
        if (!json_is_array(classes) || json_array_size(classes) < 1 || json_array_size(classes) > DATASET_MAX_CLASSES)
            return err_set(e, ERR_UNPROCESSABLE, "field 'classes' must be a non-empty array of names");
        size_t i;
        json_array_foreach(classes, i, v) {
            const char *c = json_string_value(v);
            if (!c || !*c || strlen(c) > DATASET_CLASS_NAME_MAX)
                return err_set(e, ERR_UNPROCESSABLE, "field 'classes': item %zu must be a name of 1 to %d bytes", i,
                               DATASET_CLASS_NAME_MAX);
            for (size_t j = 0; j < i; j++)
                if (!strcmp(c, json_string_value(json_array_get(classes, j))))
                    return err_set(e, ERR_UNPROCESSABLE, "field 'classes': '%s' is listed twice", c);
        }
    }
    json_t *up = json_object_get(params, "upload");
    if (up && !json_is_boolean(up)) return err_set(e, ERR_UNPROCESSABLE, "field 'upload' must be true or false");
    return 0;
}
