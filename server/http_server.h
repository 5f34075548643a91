/* http_server.h — starting and stopping the HTTP server (libmicrohttpd, epoll
 * internal threads). Route handlers see only http.h. */
#ifndef INFICOND_HTTP_SERVER_H
#define INFICOND_HTTP_SERVER_H

#include "app.h"
#include "err.h"
#include "router.h"

typedef struct http_server http_server;

/* Listen on cfg.bind:cfg.port with cfg.http_threads threads. Requests under /api go
 * through `routes` (borrowed; static storage), every other GET/HEAD to `serve_page`.
 * The caller (serve.c) owns both, so the HTTP layer depends on no route. New server
 * or NULL. */
http_server *http_server_start(app *a, const route *routes, route_fn serve_page,
                               err *e) WARN_UNUSED;
void http_server_stop(http_server *s); /* NULL-safe */

#endif
