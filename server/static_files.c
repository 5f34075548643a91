/* static_files.c — the web page's files, safely. */
#include "static_files.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".yaml", "application/yaml"},
    {".map", "application/json"},
    {".woff2", "font/woff2"},
};

const char *static_mime_type(const char *name) {
    const char *dot = strrchr(name, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof mime_types / sizeof *mime_types; i++)
            if (!strcasecmp(dot, mime_types[i].ext)) return mime_types[i].type;
    return "application/octet-stream";
}

int static_resolve(const char *root, const char *url_path, char *out, size_t out_len) {
    if (!url_path || url_path[0] != '/') return -1;
    /* Refuse any dot-segment or hidden name before touching the file system: the
     * URL arrives decoded, so %2e%2e is already ".." here. */
    for (const char *p = url_path; *p; p++)
        if (p[0] == '/' && p[1] == '.') return -1;
    if (strchr(url_path, '\\')) return -1;
    char real_root[PATH_MAX];
    if (!realpath(root, real_root)) return -1;
    char joined[PATH_MAX * 2];
    const char *rel = strcmp(url_path, "/") == 0 ? "/index.html" : url_path;
    snprintf(joined, sizeof joined, "%s%s", real_root, rel);
    char real[PATH_MAX];
    if (!realpath(joined, real)) return -1;
    /* A symlink inside the folder may point outside it: check the resolved path. */
    size_t n = strlen(real_root);
    if (strncmp(real, real_root, n) != 0 || real[n] != '/') return -1;
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    if (strlen(real) + 1 > out_len) return -1;
    memcpy(out, real, strlen(real) + 1);
    return 0;
}

/* The files index.html loads from vendor/ (scripts/deps.sh puts them there). */
static const char *const vendor_files[] = {"vendor/d3.min.js"};

int static_check_vendor(const char *static_dir, err *e) {
    for (size_t i = 0; i < sizeof vendor_files / sizeof *vendor_files; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", static_dir, vendor_files[i]);
        if (access(path, R_OK) != 0)
            return err_set(e, ERR_NOT_FOUND,
                           "the web page's file %s is missing (%s): run `make deps`, which copies it "
                           "from npm, or set INFICOND_STATIC_DIR to a folder that has it",
                           path, strerror(errno));
    }
    return 0;
}

void static_serve(req *r) {
    char path[PATH_MAX];
    if (static_resolve(r->app->cfg.static_dir, r->path, path, sizeof path)) {
        reply_error(r, 404, "not_found", "no such page: %s", r->path);
        return;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        reply_error(r, 404, "not_found", "no such page: %s", r->path);
        return;
    }
    char etag[96];
    snprintf(etag, sizeof etag, "\"%lx-%lx-%lx\"", (unsigned long)st.st_ino,
             (unsigned long)st.st_size, (unsigned long)st.st_mtim.tv_sec * 1000000000ul + (unsigned long)st.st_mtim.tv_nsec);
    reply_file(r, path, static_mime_type(path), etag);
}
