/* http.h — what a route handler sees: the parsed request and the reply helpers.
 *
 * The HTTP layer (http.c) has already matched the route, checked method, role,
 * content type and body size, and parsed a JSON body, before a handler runs.
 * A handler calls exactly one reply_* function; every non-2xx body goes through
 * reply_error / reply_err, so errors are always {"error":{"code","message"}}.
 */
#ifndef INFICOND_HTTP_H
#define INFICOND_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

typedef enum { ROLE_PUBLIC = 0, ROLE_VIEWER = 1, ROLE_EDITOR = 2, ROLE_ADMIN = 3 } role;

typedef enum {
    BODY_NONE = 0, /* no body expected (a body is ignored)                              */
    BODY_JSON,     /* application/json, parsed into req.json                            */
    BODY_FILE,     /* streamed to a temp file under data_dir/tmp (req.body_path); removed
                      after the handler returns unless the handler renamed it           */
} body_kind;

#define REQ_MAX_PARAMS 4

typedef struct req {
    app *app;
    const char *method;
    const char *path;                           /* decoded path, without query     */
    const char *params[REQ_MAX_PARAMS];         /* {name} segments, in order       */
    int nparams;
    json_t *json;                               /* BODY_JSON: parsed body (borrowed) */
    const char *body_path;                      /* BODY_FILE: temp file            */
    size_t body_len;
    const char *content_type;                   /* as sent, may be NULL            */
    /* who is calling (ROLE_PUBLIC and user_id 0 when nobody) */
    int64_t user_id;
    role user_role;
    char username[64];
    int via_cookie;                             /* authenticated by session cookie */
    struct http_conn *conn;                     /* private to http.c               */
} req;

/* Query-string value or NULL. */
const char *req_query(req *r, const char *key);
/* Request header value or NULL (case-insensitive name). */
const char *req_header(req *r, const char *name);
/* Cookie value or NULL. */
const char *req_cookie(req *r, const char *name);
/* The client's IP address as text into buf ("?" when unknown). Returns buf. The
 * TCP peer, unless the peer is a trusted proxy (INFICOND_TRUSTED_PROXIES, proxies.h)
 * that names the client in X-Forwarded-For. */
const char *req_client_address(req *r, char *buf, size_t cap);
/* 1 when the client spoke HTTPS: we serve TLS ourselves, or a trusted proxy says
 * so with X-Forwarded-Proto: https. Decides the Secure cookie and HSTS. */
int req_is_https(req *r);
/* Path parameter i as a positive integer id; on failure replies 404 and returns -1
 * (so the handler just returns). */
int64_t req_id_or_reply(req *r, int i);
/* Integer query parameter within [lo, hi], default `def` when absent; replies 400
 * and returns 0 on a bad value. Returns 1 when *out is valid. */
int req_query_int_or_reply(req *r, const char *key, long lo, long hi, long def, long *out);
/* A list route's page: ?limit in [1, max_limit] (default def_limit) and ?offset in
 * [0, max_offset] (default 0), also as decimal text for SQL parameters. Replies 400
 * and returns 0 on a bad value. */
#define REQ_OFFSET_MAX 1000000000L
typedef struct {
    long limit, offset;
    char limit_text[24], offset_text[24];
} req_page;
int req_page_or_reply(req *r, long max_limit, long def_limit, long max_offset, req_page *out);

/* Replies. `body` is stolen. */
void reply_json(req *r, unsigned status, json_t *body);
/* Same, with a strong ETag (If-None-Match answered 304) and Cache-Control. */
void reply_json_etag(req *r, json_t *body, const char *etag);
/* Raw bytes (copied). */
void reply_bytes(req *r, unsigned status, const char *content_type, const void *data,
                 size_t len, const char *etag);
/* A file from disk (streamed by the HTTP library; fd owned by the response). */
void reply_file(req *r, const char *path, const char *content_type, const char *etag);
void reply_error(req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Status and code from e's code table. 500s are logged and answered generically
 * unless the message is safe to show (ERR_UNAVAILABLE etc.). */
void reply_err(req *r, const err *e);
void reply_no_content(req *r);
/* reply_json(status, body) when body is not NULL, else reply_err(e): the end of a
 * handler whose last step made the body or failed. */
void reply_json_or_err(req *r, unsigned status, json_t *body, const err *e);
/* Add a response header to the reply about to be made (e.g. Set-Cookie, Location). */
void reply_add_header(req *r, const char *name, const char *value);
/* reply_json with a Location header (printf-style path of what was made or queued). */
void reply_json_at(req *r, unsigned status, json_t *body, const char *location_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* JSON body helpers for validation: each replies 422 naming the field and returns
 * NULL/-1 when the field is missing or of the wrong type. */
const char *json_req_string_or_reply(req *r, const json_t *obj, const char *field,
                                     size_t max_len);
int json_req_int_or_reply(req *r, const json_t *obj, const char *field, int64_t lo,
                          int64_t hi, int64_t *out);

#endif
