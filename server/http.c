/* http.c — the HTTP layer: libmicrohttpd glue, request checks, long-poll parking
 * (replies are in http_reply.c, request accessors in http_request.c).
 *
 * Request life (one http_conn per request, made on the first access-handler
 * call, freed in the request-completed callback):
 *   1st call   headers only: match the route, check auth, role, content type and
 *              declared size. Errors are remembered, not answered yet: answering
 *              on the first call makes libmicrohttpd close the connection.
 *   next calls body chunks: kept in memory (JSON, up to the route's limit) or
 *              streamed to a temp file (uploads); 413 is answered at once.
 *   last call  remembered error, or parse JSON and run the handler.
 * Long-poll: a handler may park the request (req_wait_job); the connection is
 * suspended and resumed by the job-notification thread or its deadline, and the
 * handler runs again.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "http.h"
#include "http_conn.h"
#include "http_internal.h"
#include "http_server.h"
#include "log.h"
#include "router.h"

#define DISCARD_MAX ((size_t)64 << 20) /* refused bodies up to this are read and dropped */

struct http_server {
    app *app;
    const route *routes;  /* the API's table (borrowed, static)                    */
    route_fn serve_page;  /* answers every GET/HEAD outside /api (the web page)    */
    struct MHD_Daemon *daemon;
    char *tls_cert, *tls_key; /* PEM text, kept for the daemon's life (TLS only) */
    pthread_t notifier;
    int notifier_started;
    atomic_int stop;
    pthread_mutex_t wait_lock;
    struct http_conn *waiters; /* parked long-poll requests */
    uint64_t notify_gen;       /* bumped for every job notification seen */
};

/* One server per process; handlers reach it through their connection only. */
static http_server *the_server;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void) { return now_ns() / 1000000ull; }

/* ---------------------------------------------------------------- long-poll */

int req_wait_expired(req *r) {
    struct http_conn *hc = r->conn;
    return hc->wait_deadline_ms && now_ms() >= hc->wait_deadline_ms;
}

uint64_t req_wait_generation(void) {
    http_server *s = the_server;
    if (!s) return 0;
    pthread_mutex_lock(&s->wait_lock);
    uint64_t g = s->notify_gen;
    pthread_mutex_unlock(&s->wait_lock);
    return g;
}

int req_wait_job(req *r, int64_t job_id, double seconds, uint64_t seen_gen) {
    http_server *s = the_server;
    struct http_conn *hc = r->conn;
    if (!s) return 0;
    pthread_mutex_lock(&s->wait_lock);
    if (s->notify_gen != seen_gen) {
        /* A notification arrived since the caller read the job: let it re-read. */
        pthread_mutex_unlock(&s->wait_lock);
        return 0;
    }
    if (!hc->wait_deadline_ms) hc->wait_deadline_ms = now_ms() + (uint64_t)(seconds * 1000.0);
    hc->wait_job = job_id;
    hc->suspended = 1;
    hc->wait_next = s->waiters;
    s->waiters = hc;
    MHD_suspend_connection(hc->mhd);
    pthread_mutex_unlock(&s->wait_lock);
    return 1;
}

/* Resume parked requests for `job_id` (or all whose deadline passed when -1). */
static void resume_waiters(http_server *s, int64_t job_id, int count_notification) {
    uint64_t now = now_ms();
    pthread_mutex_lock(&s->wait_lock);
    if (count_notification) s->notify_gen++;
    struct http_conn **pp = &s->waiters;
    while (*pp) {
        struct http_conn *hc = *pp;
        if ((job_id > 0 && hc->wait_job == job_id) || now >= hc->wait_deadline_ms ||
            atomic_load(&s->stop)) {
            *pp = hc->wait_next;
            hc->wait_next = NULL;
            hc->suspended = 0;
            MHD_resume_connection(hc->mhd);
        } else {
            pp = &hc->wait_next;
        }
    }
    pthread_mutex_unlock(&s->wait_lock);
}

/* LISTEN on the jobs channel with a connection of its own (not from the pool: it
 * stays in LISTEN mode for the life of the process) and wake waiters. */
static void *notifier_main(void *arg) {
    http_server *s = arg;
    PGconn *c = NULL;
    uint64_t next_try = 0;
    while (!atomic_load(&s->stop)) {
        if (!c || PQstatus(c) != CONNECTION_OK) {
            if (c) PQfinish(c), c = NULL;
            if (now_ms() >= next_try) {
                const char *keys[] = {"dbname", "connect_timeout", NULL};
                const char *vals[] = {s->app->cfg.database_url, "3", NULL};
                c = PQconnectdbParams(keys, vals, 1);
                if (PQstatus(c) == CONNECTION_OK) {
                    PGresult *res = PQexec(c, "LISTEN inficond_jobs");
                    PQclear(res);
                    /* Anything may have changed while we were not listening. */
                    pthread_mutex_lock(&s->wait_lock);
                    s->notify_gen++;
                    pthread_mutex_unlock(&s->wait_lock);
                } else {
                    PQfinish(c), c = NULL;
                    next_try = now_ms() + 1000;
                }
            }
        }
        if (c) {
            struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
            if (poll(&pfd, 1, 200) > 0) {
                PQconsumeInput(c);
                for (PGnotify *n; (n = PQnotifies(c));) {
                    resume_waiters(s, atoll(n->extra), 1);
                    PQfreemem(n);
                }
            }
        } else {
            usleep(200000);
        }
        resume_waiters(s, -1, 0);
    }
    if (c) PQfinish(c);
    return NULL;
}

/* ---------------------------------------------------------------- request flow */

static void remember_error(struct http_conn *hc, unsigned status, const char *code,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void remember_error(struct http_conn *hc, unsigned status, const char *code,
                           const char *fmt, ...) {
    if (hc->early_status) return;
    hc->early_status = status;
    snprintf(hc->early_code, sizeof hc->early_code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hc->early_msg, sizeof hc->early_msg, fmt, ap);
    va_end(ap);
}

static const char *cookie_value(struct MHD_Connection *mhd, const char *name) {
    return MHD_lookup_connection_value(mhd, MHD_COOKIE_KIND, name);
}

/* Who is calling: bearer token first, then the session cookie. */
static void authenticate(struct http_conn *hc) {
    req *r = &hc->r;
    const char *authz = req_header(r, "Authorization");
    const char *secret = NULL;
    int is_session = 0;
    if (authz) {
        if (strncasecmp(authz, "Bearer ", 7) != 0) {
            remember_error(hc, 401, "unauthorized", "Authorization must be 'Bearer <token>'");
            return;
        }
        secret = authz + 7;
        while (*secret == ' ') secret++;
    } else if ((secret = cookie_value(hc->mhd, AUTH_SESSION_COOKIE))) {
        is_session = 1;
    }
    if (!secret) {
        if (hc->route && hc->route->min_role > ROLE_PUBLIC)
            remember_error(hc, 401, "unauthorized",
                           "authentication required: send 'Authorization: Bearer <token>' or log in");
        return;
    }
    auth_identity id;
    err e = {0};
    if (auth_resolve(hc->app, secret, is_session, &id, &e)) {
        if (hc->route && hc->route->min_role == ROLE_PUBLIC && e.code == ERR_UNAUTHORIZED)
            return; /* a stale cookie must not lock anyone out of the public routes */
        remember_error(hc, err_http_status(e.code), err_code_name(e.code), "%s", e.msg);
        return;
    }
    r->user_id = id.user_id;
    r->user_role = id.user_role;
    r->via_cookie = is_session;
    snprintf(r->username, sizeof r->username, "%s", id.username);
}

/* Cookie-authenticated writes must come from our own page (CSRF defence in depth
 * beside SameSite=Strict). */
static int same_origin(struct http_conn *hc) {
    const char *origin = req_header(&hc->r, "Origin");
    const char *host = req_header(&hc->r, "Host");
    if (!origin) return 1;
    const char *p = strstr(origin, "://");
    if (!p || !host) return 0;
    return strcmp(p + 3, host) == 0;
}

static int content_type_is(const char *ct, const char *want) {
    if (!ct) return 0;
    size_t n = strlen(want);
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void first_call(struct http_conn *hc, const char *url, const char *method) {
    req *r = &hc->r;
    snprintf(hc->method, sizeof hc->method, "%s", method);
    hc->path = strdup(url);
    size_t plen = strlen(url) + 2;
    hc->scratch = malloc(plen);
    r->app = hc->app;
    r->method = hc->method;
    r->path = hc->path ? hc->path : "";
    r->conn = hc;
    r->content_type = req_header(r, "Content-Type");
    hc->body_fd = -1;
    if (!hc->path || !hc->scratch) {
        remember_error(hc, 500, "internal", "out of memory");
        return;
    }
    if (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/api") != 0) {
        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
            snprintf(hc->allow, sizeof hc->allow, "GET, HEAD");
            remember_error(hc, 405, "method_not_allowed", "only GET and HEAD are allowed here");
        }
        hc->is_static = 1;
        return;
    }
    route_match_result m =
        router_match(the_server->routes, method, url, hc->scratch, plen, &hc->route, r->params,
                     &r->nparams, hc->allow, sizeof hc->allow);
    if (m == ROUTE_NO_PATH) {
        remember_error(hc, 404, "not_found", "no such route: %s", url);
        return;
    }
    if (m == ROUTE_NO_METHOD) {
        remember_error(hc, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                       method, url, hc->allow);
        return;
    }
    authenticate(hc);
    if (hc->early_status) return;
    if (hc->route->min_role > ROLE_PUBLIC && r->user_role < hc->route->min_role) {
        remember_error(hc, 403, "forbidden", "this needs the %s role; you are %s",
                       role_name(hc->route->min_role), role_name(r->user_role));
        return;
    }
    if (r->via_cookie && strcmp(method, "GET") && strcmp(method, "HEAD") && !same_origin(hc)) {
        remember_error(hc, 403, "forbidden", "cross-origin request refused");
        return;
    }
    const route *rt = hc->route;
    const char *cl = req_header(r, "Content-Length");
    const char *te = req_header(r, "Transfer-Encoding");
    long declared = 0;
    int has_body = (cl && http_parse_long(cl, &declared) && declared > 0) || te;
    if (rt->body == BODY_JSON) {
        hc->body_max = rt->max_body ? rt->max_body : hc->app->cfg.max_body_bytes;
        if (has_body && !content_type_is(r->content_type, "application/json")) {
            remember_error(hc, 415, "unsupported_media_type",
                           "send the body as application/json (got %s)",
                           r->content_type ? r->content_type : "no Content-Type");
            return;
        }
    } else if (rt->body == BODY_FILE) {
        hc->body_max = rt->max_body ? rt->max_body : hc->app->cfg.max_upload_bytes;
    } else {
        hc->body_max = 0;
    }
    hc->declared = declared > 0 ? (size_t)declared : 0;
    if (declared > 0 && rt->body != BODY_NONE && (size_t)declared > hc->body_max)
        remember_error(hc, 413, "payload_too_large", "the body is larger than the %zu-byte limit",
                       hc->body_max);
}

static int open_body_file(struct http_conn *hc) {
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/tmp", hc->app->cfg.data_dir);
    mkdir(dir, 0700);
    snprintf(hc->body_path, sizeof hc->body_path, "%s/upload-XXXXXX", dir);
    hc->body_fd = mkostemp(hc->body_path, O_CLOEXEC);
    if (hc->body_fd < 0) {
        hc->body_path[0] = '\0';
        return -1;
    }
    return 0;
}

static void take_body(struct http_conn *hc, const char *data, size_t n) {
    if (hc->early_status || !hc->route || hc->route->body == BODY_NONE) return;
    if (hc->body_len + n > hc->body_max) {
        remember_error(hc, 413, "payload_too_large", "the body is larger than the %zu-byte limit",
                       hc->body_max);
        return;
    }
    if (hc->route->body == BODY_FILE) {
        if (hc->body_fd < 0 && open_body_file(hc)) {
            remember_error(hc, 500, "io_error", "cannot store the upload");
            return;
        }
        for (size_t done = 0; done < n;) {
            ssize_t w = write(hc->body_fd, data + done, n - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                remember_error(hc, errno == ENOSPC ? 507 : 500, "io_error",
                               "cannot store the upload: %s", strerror(errno));
                return;
            }
            done += (size_t)w;
        }
        hc->body_len += n;
        return;
    }
    if (hc->body_len + n + 1 > hc->body_cap) {
        size_t cap = hc->body_cap ? hc->body_cap : 1024;
        while (cap < hc->body_len + n + 1) cap *= 2;
        char *grown = realloc(hc->body, cap);
        if (!grown) {
            remember_error(hc, 500, "internal", "out of memory");
            return;
        }
        hc->body = grown;
        hc->body_cap = cap;
    }
    memcpy(hc->body + hc->body_len, data, n);
    hc->body_len += n;
    hc->body[hc->body_len] = '\0';
}

static void dispatch(struct http_conn *hc) {
    req *r = &hc->r;
    if (hc->early_status) {
        if (hc->allow[0] && hc->early_status == 405) reply_add_header(r, "Allow", hc->allow);
        if (hc->early_status == 503) reply_add_header(r, "Retry-After", "2"); /* e.g. auth while the database is down */
        reply_error(r, hc->early_status, hc->early_code, "%s", hc->early_msg);
        return;
    }
    if (hc->is_static) {
        the_server->serve_page(r);
        return;
    }
    const route *rt = hc->route;
    if (rt->body == BODY_JSON && !r->json) {
        if (hc->body_len == 0) {
            reply_error(r, 400, "bad_request", "this request needs a JSON object body");
            return;
        }
        json_error_t je;
        r->json = json_loadb(hc->body, hc->body_len, JSON_REJECT_DUPLICATES, &je);
        if (!r->json) {
            reply_error(r, 400, "bad_request", "malformed JSON at line %d column %d: %s", je.line,
                        je.column, je.text);
            return;
        }
        if (!json_is_object(r->json)) {
            reply_error(r, 400, "bad_request", "the JSON body must be an object");
            return;
        }
    }
    if (rt->body == BODY_FILE) {
        if (hc->body_fd < 0) {
            reply_error(r, 400, "bad_request", "this request needs a body (the file to upload)");
            return;
        }
        if (fsync(hc->body_fd) != 0) {
            reply_error(r, 500, "io_error", "cannot store the upload: %s", strerror(errno));
            return;
        }
        r->body_path = hc->body_path;
    }
    r->body_len = hc->body_len;
    rt->handler(r);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *mhd, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
    (void)version;
    http_server *s = cls;
    struct http_conn *hc = *con_cls;
    if (!hc) {
        hc = calloc(1, sizeof *hc);
        if (!hc) return MHD_NO;
        hc->app = s->app;
        hc->mhd = mhd;
        hc->start_ns = now_ns();
        *con_cls = hc;
        first_call(hc, url, method);
        /* A refused body of modest size is read and dropped so the 413 reaches a client
         * that writes its whole body before reading (most do); past DISCARD_MAX we
         * answer at once and the connection closes. */
        if (hc->early_status == 413 && hc->declared > DISCARD_MAX) dispatch(hc);
        return MHD_YES;
    }
    if (hc->replied) {
        *upload_data_size = 0; /* discard the rest of a refused body */
        return MHD_YES;
    }
    if (*upload_data_size) {
        hc->received += *upload_data_size;
        take_body(hc, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (hc->early_status == 507 || (hc->early_status == 413 && hc->received > DISCARD_MAX))
            dispatch(hc);
        return MHD_YES;
    }
    hc->dispatched = 1;
    dispatch(hc);
    if (!hc->replied && !hc->suspended) {
        log_error("http: handler for %s %s gave no reply", hc->method, hc->path);
        reply_error(&hc->r, 500, "internal", "internal error (no reply)");
    }
    return MHD_YES;
}

static void request_completed(void *cls, struct MHD_Connection *mhd, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)mhd;
    struct http_conn *hc = *con_cls;
    if (!hc) return;
    double ms = (double)(now_ns() - hc->start_ns) / 1e6;
    if (hc->replied)
        log_info("%s %s %u %.2fms%s", hc->method, hc->path ? hc->path : "?", hc->status, ms,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (client gone)");
    else
        log_info("%s %s - %.2fms (closed before a reply)", hc->method, hc->path ? hc->path : "?", ms);
    if (hc->body_fd >= 0) close(hc->body_fd);
    if (hc->body_path[0]) unlink(hc->body_path); /* no-op when the handler moved it */
    json_decref(hc->r.json);
    for (int i = 0; i < hc->nhdr; i++) free(hc->hdr_name[i]), free(hc->hdr_value[i]);
    free(hc->body);
    free(hc->path);
    free(hc->scratch);
    free(hc);
    *con_cls = NULL;
}

/* Percent-decoding for paths and query values, like libmicrohttpd's own except
 * that %00 stays literal: a NUL would silently cut "/index.html%00.js" short. */
static size_t unescape_no_nul(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    char *out = s;
    for (char *in = s; *in;) {
        if (in[0] == '%' && isxdigit((unsigned char)in[1]) && isxdigit((unsigned char)in[2])) {
            char hex[3] = {in[1], in[2], 0};
            char v = (char)strtol(hex, NULL, 16);
            if (v != 0) {
                *out++ = v;
                in += 3;
                continue;
            }
        }
        *out++ = *in++;
    }
    *out = '\0';
    return (size_t)(out - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    log_warn("libmicrohttpd: %s", buf);
}

static void free_pem(char *pem) {
    if (!pem) return;
    sodium_memzero(pem, strlen(pem));
    free(pem);
}

/* A PEM file as a string, checked for the block it must hold, so that a wrong or
 * unreadable file is named at start-up rather than failing every handshake. */
static char *read_pem(const char *path, const char *var, const char *what, const char *marker,
                      err *e) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, ERR_IO, "%s: cannot read %s: %s", var, path, strerror(errno)), NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    if (buf) n = fread(buf, 1, cap, f);
    int more = buf && n == cap && fgetc(f) != EOF;
    int bad_read = ferror(f);
    fclose(f);
    if (!buf) return err_set(e, ERR_INTERNAL, "out of memory"), NULL;
    buf[n] = '\0';
    const char *why = NULL;
    if (bad_read) why = "could not be read";
    else if (more) why = "is larger than 1 MiB";
    else if (strlen(buf) != n || !strstr(buf, "-----BEGIN ") || !strstr(buf, marker)) why = what;
    if (why) {
        free_pem(buf);
        return err_set(e, ERR_UNPROCESSABLE, "%s: %s %s%s", var, path, why == what ? "is not a PEM " : "",
                       why),
               NULL;
    }
    return buf;
}

static void server_free(http_server *s) {
    the_server = NULL;
    pthread_mutex_destroy(&s->wait_lock);
    free_pem(s->tls_cert);
    free_pem(s->tls_key);
    free(s);
}

http_server *http_server_start(app *a, const route *routes, route_fn serve_page, err *e) {
    http_server *s = calloc(1, sizeof *s);
    if (!s) return err_set(e, ERR_INTERNAL, "out of memory"), NULL;
    s->app = a;
    s->routes = routes;
    s->serve_page = serve_page;
    pthread_mutex_init(&s->wait_lock, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->cfg.port)};
    if (inet_pton(AF_INET, a->cfg.bind, &addr.sin_addr) != 1) {
        server_free(s);
        return err_set(e, ERR_UNPROCESSABLE, "INFICOND_BIND '%s' is not an IPv4 address",
                       a->cfg.bind),
               NULL;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    int tls = a->cfg.tls_cert[0] != '\0';
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            server_free(s);
            return err_set(e, ERR_UNPROCESSABLE, "INFICOND_TLS_CERT is set but this libmicrohttpd "
                           "was built without TLS"),
                   NULL;
        }
        if (!(s->tls_cert = read_pem(a->cfg.tls_cert, "INFICOND_TLS_CERT", "certificate",
                                     "-----BEGIN CERTIFICATE-----", e)) ||
            !(s->tls_key = read_pem(a->cfg.tls_key, "INFICOND_TLS_KEY", "private key",
                                    "PRIVATE KEY-----", e))) {
            server_free(s);
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    the_server = s;
    /* Without TLS the two TLS options are skipped: MHD_OPTION_END ends the list first. */
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)a->cfg.port, NULL, NULL, &access_handler, s, MHD_OPTION_EXTERNAL_LOGGER,
        &mhd_log, NULL, MHD_OPTION_UNESCAPE_CALLBACK, &unescape_no_nul, NULL,
        MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)a->cfg.http_threads, MHD_OPTION_NOTIFY_COMPLETED, &request_completed, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)2000,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, s->tls_key, MHD_OPTION_END);
    if (!s->daemon) {
        server_free(s);
        if (tls)
            return err_set(e, ERR_UNPROCESSABLE,
                           "cannot serve HTTPS on %s:%d with INFICOND_TLS_CERT %s and INFICOND_TLS_KEY "
                           "%s: the port is in use, or the key does not match the certificate or is "
                           "encrypted (see the libmicrohttpd message above)",
                           a->cfg.bind, a->cfg.port, a->cfg.tls_cert, a->cfg.tls_key),
                   NULL;
        return err_set(e, ERR_IO, "cannot listen on %s:%d (in use?)", a->cfg.bind, a->cfg.port),
               NULL;
    }
    if (pthread_create(&s->notifier, NULL, notifier_main, s) == 0) s->notifier_started = 1;
    return s;
}

void http_server_stop(http_server *s) {
    if (!s) return;
    atomic_store(&s->stop, 1);
    if (s->notifier_started) pthread_join(s->notifier, NULL);
    resume_waiters(s, -1, 0);
    MHD_stop_daemon(s->daemon);
    server_free(s);
}
