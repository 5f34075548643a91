/* http_conn.h — one request's state inside the HTTP layer (http.c, http_reply.c,
 * http_request.c share it; handlers see only http.h's req). Made on the first
 * access-handler call, freed in the request-completed callback. */
#ifndef INFICOND_HTTP_CONN_H
#define INFICOND_HTTP_CONN_H

#include <limits.h>
#include <microhttpd.h>
#include <stdint.h>

#include "http.h"
#include "router.h"

#define MAX_HEADERS 8

struct http_conn {
    app *app;
    struct MHD_Connection *mhd;
    uint64_t start_ns;
    char method[16];
    char *path;
    char *scratch;
    const route *route;
    int is_static;
    /* a remembered error, answered on the last call */
    unsigned early_status;
    char early_code[32];
    char early_msg[256];
    char allow[64];
    /* body */
    size_t declared; /* Content-Length, 0 when absent                              */
    size_t received; /* bytes of body seen, kept or dropped                        */
    char *body;
    size_t body_len, body_cap, body_max;
    int body_fd;
    char body_path[PATH_MAX + 32];
    /* reply */
    int replied;
    unsigned status;
    char *hdr_name[MAX_HEADERS];
    char *hdr_value[MAX_HEADERS];
    int nhdr;
    int dispatched;
    /* long-poll */
    int suspended;
    int64_t wait_job;
    uint64_t wait_deadline_ms;
    uint64_t wait_gen;
    struct http_conn *wait_next;
    req r;
};

/* Queue `resp` as the reply (adds the security headers and the handler's extra
 * headers; a second reply is logged and dropped). Destroys resp. http_reply.c. */
void http_queue(req *r, unsigned status, struct MHD_Response *resp);

/* Base-10 long with nothing after it; 1 and *out on success, else 0. http_request.c. */
int http_parse_long(const char *s, long *out);

#endif
