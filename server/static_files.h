/* static_files.h — serving the web page from INFICOND_STATIC_DIR. */
#ifndef INFICOND_STATIC_FILES_H
#define INFICOND_STATIC_FILES_H

#include "err.h"
#include "http.h"

/* Answer a GET for r->path from the static folder: "/" is index.html; a path
 * that leaves the folder ("..", encoded or not, or a symlink pointing out) or
 * names a hidden file is a 404. ETag from inode, size and mtime. */
void static_serve(req *r);

/* 0 when the page's third-party files (static/vendor/, copied from npm by
 * `make deps`, never committed) are under static_dir; else -1 with e naming the
 * first missing file and `make deps`. Without them the page loads blank. */
int static_check_vendor(const char *static_dir, err *e) WARN_UNUSED;

/* The MIME type for a file name (by extension), "application/octet-stream" else. */
const char *static_mime_type(const char *name);

/* Resolve url_path inside root into out (a real path). 0 when it stays inside
 * root and names a regular file, -1 otherwise. Exposed for tests. */
int static_resolve(const char *root, const char *url_path, char *out, size_t out_len);

#endif
