/* http_reply.c — every answer a handler can give: JSON (plain, with an ETag, with a
 * Location), bytes, files, errors, 204. All go through http_queue, which adds the
 * security headers to every reply. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_conn.h"
#include "log.h"

/* ---------------------------------------------------------------- replies */

static const char *security_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
     "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
     "frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
};

void http_queue(req *r, unsigned status, struct MHD_Response *resp) {
    struct http_conn *hc = r->conn;
    if (hc->replied) {
        log_error("http: second reply for %s %s ignored", hc->method, hc->path);
        MHD_destroy_response(resp);
        return;
    }
    for (size_t i = 0; i < sizeof security_headers / sizeof *security_headers; i++)
        MHD_add_response_header(resp, security_headers[i][0], security_headers[i][1]);
    if (req_is_https(r)) /* browsers keep to HTTPS for this host from now on */
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    for (int i = 0; i < hc->nhdr; i++) MHD_add_response_header(resp, hc->hdr_name[i], hc->hdr_value[i]);
    hc->replied = 1;
    hc->status = status;
    if (MHD_queue_response(hc->mhd, status, resp) != MHD_YES)
        log_warn("http: could not queue a %u reply for %s", status, hc->path);
    MHD_destroy_response(resp);
}

void reply_add_header(req *r, const char *name, const char *value) {
    struct http_conn *hc = r->conn;
    if (hc->nhdr >= MAX_HEADERS) return;
    hc->hdr_name[hc->nhdr] = strdup(name);
    hc->hdr_value[hc->nhdr] = strdup(value);
    hc->nhdr++;
}

void reply_json_or_err(req *r, unsigned status, json_t *body, const err *e) {
    if (body)
        reply_json(r, status, body);
    else
        reply_err(r, e);
}

void reply_json_at(req *r, unsigned status, json_t *body, const char *location_fmt, ...) {
    char loc[256];
    va_list ap;
    va_start(ap, location_fmt);
    vsnprintf(loc, sizeof loc, location_fmt, ap);
    va_end(ap);
    reply_add_header(r, "Location", loc);
    reply_json(r, status, body);
}

void reply_bytes(req *r, unsigned status, const char *content_type, const void *data, size_t len,
                 const char *etag) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp) return;
    MHD_add_response_header(resp, "Content-Type", content_type);
    if (etag) {
        MHD_add_response_header(resp, "ETag", etag);
        MHD_add_response_header(resp, "Cache-Control", "private, no-cache");
    } else {
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    }
    http_queue(r, status, resp);
}

static void reply_owned(req *r, unsigned status, char *buf, size_t len, const char *etag) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(buf);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", etag ? "private, no-cache" : "no-store");
    if (etag) MHD_add_response_header(resp, "ETag", etag);
    http_queue(r, status, resp);
}

void reply_json(req *r, unsigned status, json_t *body) {
    char *buf = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!buf) {
        reply_error(r, 500, "internal", "could not encode the answer");
        return;
    }
    reply_owned(r, status, buf, strlen(buf), NULL);
}

static int etag_matches(req *r, const char *etag) {
    const char *inm = MHD_lookup_connection_value(r->conn->mhd, MHD_HEADER_KIND, "If-None-Match");
    return inm && (strstr(inm, etag) != NULL || !strcmp(inm, "*"));
}

void reply_json_etag(req *r, json_t *body, const char *etag) {
    if (etag_matches(r, etag)) {
        json_decref(body);
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "ETag", etag);
        http_queue(r, 304, resp);
        return;
    }
    char *buf = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!buf) {
        reply_error(r, 500, "internal", "could not encode the answer");
        return;
    }
    reply_owned(r, 200, buf, strlen(buf), etag);
}

void reply_file(req *r, const char *path, const char *content_type, const char *etag) {
    if (etag && etag_matches(r, etag)) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "ETag", etag);
        http_queue(r, 304, resp);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        reply_error(r, 404, "not_found", "no such file");
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        reply_error(r, 500, "internal", "could not open the file");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    /* Chromium asks for the page's icon again on every history.pushState (each
     * selection): let it keep the icon a day. Everything else is revalidated. */
    size_t pl = strlen(path);
    int icon = pl >= 12 && !strcmp(path + pl - 12, "/favicon.svg");
    MHD_add_response_header(resp, "Cache-Control", icon ? "public, max-age=86400" : "no-cache");
    if (etag) MHD_add_response_header(resp, "ETag", etag);
    http_queue(r, 200, resp);
}

void reply_error(req *r, unsigned status, const char *code, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *buf = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!buf) buf = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    if (status == 401) reply_add_header(r, "WWW-Authenticate", "Bearer realm=\"inficond\"");
    reply_owned(r, status, buf, strlen(buf), NULL);
}

void reply_err(req *r, const err *e) {
    err_code code = e ? e->code : ERR_INTERNAL;
    unsigned status = err_http_status(code);
    if (status >= 500 && code != ERR_UNAVAILABLE && code != ERR_CORRUPT) {
        /* The details may name files or tables: they go to the log, not the client. */
        log_error("http: %s %s failed: %s", r->method, r->path, e ? e->msg : "?");
        reply_error(r, status, err_code_name(code),
                    "internal error (see the server log for details)");
        return;
    }
    if (code == ERR_UNAVAILABLE) reply_add_header(r, "Retry-After", "2");
    reply_error(r, status, err_code_name(code), "%s", e && e->msg[0] ? e->msg : "error");
}

void reply_no_content(req *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    http_queue(r, 204, resp);
}
