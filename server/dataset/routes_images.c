/* routes_images.c — one image's original JPEG and its thumbnails.
 *
 * The original comes from the blob store with a checksum-verified read, so a
 * corrupted file is reported, never served. Thumbnails (longer side N, made with
 * libjpeg-turbo by jpeg_thumbnail) are cached as <data_dir>/thumbs/<sha>-<N>.jpg,
 * written to a temp file and renamed, so a reader never sees half a thumbnail.
 * Both are immutable for a given URL's content: the ETag is the content hash
 * ("<sha>" / "<sha>-<N>"), and a matching If-None-Match is answered 304 before
 * any file is touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore.h"
#include "dataset/dataset_store.h"
#include "dataset/jpeg_io.h"
#include "dataset/routes_images.h"
#include "log.h"

#define THUMB_MIN 16
#define THUMB_MAX 512
#define THUMB_DEFAULT 128

/* The image's sha256 into sha, or 0 after replying (404 / error). */
static int image_sha_or_reply(req *r, int64_t id, char sha[BLOBSTORE_HEX_LEN + 1]) {
    err e = {0};
    if (dataset_store_image_sha(r->app, id, sha, &e)) {
        reply_err(r, &e);
        return 0;
    }
    return 1;
}

static int not_modified(req *r, const char *etag) {
    const char *inm = req_header(r, "If-None-Match");
    if (!inm || !(strstr(inm, etag) || !strcmp(inm, "*"))) return 0;
    reply_bytes(r, 304, "image/jpeg", "", 0, etag);
    return 1;
}

void route_image_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    char sha[BLOBSTORE_HEX_LEN + 1], etag[BLOBSTORE_HEX_LEN + 4];
    if (!image_sha_or_reply(r, id, sha)) return;
    snprintf(etag, sizeof etag, "\"%s\"", sha);
    if (not_modified(r, etag)) return;
    uint8_t *buf = NULL;
    size_t len = 0;
    err e = {0};
    if (blobstore_read(r->app->cfg.data_dir, sha, &buf, &len, &e)) {
        if (e.code == ERR_NOT_FOUND) e.code = ERR_IO; /* the row exists: a missing blob is our fault */
        reply_err(r, &e);
        return;
    }
    reply_bytes(r, 200, "image/jpeg", buf, len, etag);
    free(buf);
}

/* Write the thumbnail into the cache: temp file, fsync, rename. Failure only
 * costs the cache, so it is logged, not reported. */
static void thumb_cache_put(const char *dir, const char *path, const uint8_t *data, size_t len) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        log_warn("thumbs: cannot create %s: %s", dir, strerror(errno));
        return;
    }
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        log_warn("thumbs: cannot create a temp file in %s: %s", dir, strerror(errno));
        return;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += (size_t)n;
    }
    int ok = off == len && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        log_warn("thumbs: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

void route_image_thumb(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    long size;
    if (!req_query_int_or_reply(r, "size", THUMB_MIN, THUMB_MAX, THUMB_DEFAULT, &size)) return;
    char sha[BLOBSTORE_HEX_LEN + 1], etag[BLOBSTORE_HEX_LEN + 16];
    if (!image_sha_or_reply(r, id, sha)) return;
    snprintf(etag, sizeof etag, "\"%s-%ld\"", sha, size);
    if (not_modified(r, etag)) return;
    char dir[PATH_MAX + 16], path[PATH_MAX + 96];
    snprintf(dir, sizeof dir, "%s/thumbs", r->app->cfg.data_dir);
    snprintf(path, sizeof path, "%s/%s-%ld.jpg", dir, sha, size);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        reply_file(r, path, "image/jpeg", etag);
        return;
    }
    uint8_t *orig = NULL, *thumb = NULL;
    size_t orig_len = 0, thumb_len = 0;
    err e = {0};
    if (blobstore_read(r->app->cfg.data_dir, sha, &orig, &orig_len, &e)) {
        if (e.code == ERR_NOT_FOUND) e.code = ERR_IO;
        reply_err(r, &e);
        return;
    }
    int rc = jpeg_thumbnail(orig, orig_len, (int)size, &thumb, &thumb_len, &e);
    free(orig);
    if (rc) {
        if (e.code == ERR_UNPROCESSABLE) e.code = ERR_INTERNAL; /* it was checked at import */
        reply_err(r, &e);
        return;
    }
    thumb_cache_put(dir, path, thumb, thumb_len);
    reply_bytes(r, 200, "image/jpeg", thumb, thumb_len, etag);
    free(thumb);
}
