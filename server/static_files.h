/* static_files.h — serving the web page from INFICOND_STATIC_DIR. */
#ifndef INFICOND_STATIC_FILES_H
#define INFICOND_STATIC_FILES_H

#include "http.h"

/* Answer a GET for r->path from the static folder: "/" is index.html; a path
 * that leaves the folder ("..", encoded or not, or a symlink pointing out) or
 * names a hidden file is a 404. ETag from inode, size and mtime. */
void static_serve(req *r);

/* The MIME type for a file name (by extension), "application/octet-stream" else. */
const char *static_mime_type(const char *name);

/* Resolve url_path inside root into out (a real path). 0 when it stays inside
 * root and names a regular file, -1 otherwise. Exposed for tests. */
int static_resolve(const char *root, const char *url_path, char *out, size_t out_len);

#endif
