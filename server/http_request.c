/* http_request.c — what handlers read from a request: query, headers, cookies, the
 * client address, ids and pages, and JSON fields (the `_or_reply` helpers answer
 * the error themselves, so a handler just returns). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn.h"

/* ---------------------------------------------------------------- request accessors */

const char *req_query(req *r, const char *key) {
    return MHD_lookup_connection_value(r->conn->mhd, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn->mhd, MHD_HEADER_KIND, name);
}

const char *req_cookie(req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn->mhd, MHD_COOKIE_KIND, name);
}

int http_parse_long(const char *s, long *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

int64_t req_id_or_reply(req *r, int i) {
    long v;
    if (i >= r->nparams || !http_parse_long(r->params[i], &v) || v <= 0) {
        reply_error(r, 404, "not_found", "no such resource: '%s' is not an id",
                    i < r->nparams ? r->params[i] : "");
        return -1;
    }
    return v;
}

int req_query_int_or_reply(req *r, const char *key, long lo, long hi, long def, long *out) {
    const char *s = req_query(r, key);
    if (!s) {
        *out = def;
        return 1;
    }
    long v;
    if (!http_parse_long(s, &v) || v < lo || v > hi) {
        reply_error(r, 400, "bad_request", "query parameter '%s' must be an integer in [%ld, %ld]",
                    key, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int req_page_or_reply(req *r, long max_limit, long def_limit, long max_offset, req_page *out) {
    if (!req_query_int_or_reply(r, "limit", 1, max_limit, def_limit, &out->limit) ||
        !req_query_int_or_reply(r, "offset", 0, max_offset, 0, &out->offset))
        return 0;
    snprintf(out->limit_text, sizeof out->limit_text, "%ld", out->limit);
    snprintf(out->offset_text, sizeof out->offset_text, "%ld", out->offset);
    return 1;
}

const char *json_req_string_or_reply(req *r, const json_t *obj, const char *field, size_t max_len) {
    json_t *v = json_object_get(obj, field);
    if (!v) {
        reply_error(r, 422, "unprocessable", "field '%s' is required", field);
        return NULL;
    }
    if (!json_is_string(v)) {
        reply_error(r, 422, "unprocessable", "field '%s' must be a string", field);
        return NULL;
    }
    if (json_string_length(v) > max_len) {
        reply_error(r, 422, "unprocessable", "field '%s' is longer than %zu characters", field,
                    max_len);
        return NULL;
    }
    return json_string_value(v);
}

int json_req_int_or_reply(req *r, const json_t *obj, const char *field, int64_t lo, int64_t hi,
                          int64_t *out) {
    json_t *v = json_object_get(obj, field);
    if (!v) {
        reply_error(r, 422, "unprocessable", "field '%s' is required", field);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        reply_error(r, 422, "unprocessable", "field '%s' must be an integer in [%lld, %lld]", field,
                    (long long)lo, (long long)hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}
