/* http_server.h — starting and stopping the HTTP server (libmicrohttpd, epoll
 * internal threads). Route handlers see only http.h. */
#ifndef INFICOND_HTTP_SERVER_H
#define INFICOND_HTTP_SERVER_H

#include "app.h"
#include "err.h"

typedef struct http_server http_server;

/* Listen on cfg.bind:cfg.port with cfg.http_threads threads. New server or NULL. */
http_server *http_server_start(app *a, err *e) WARN_UNUSED;
void http_server_stop(http_server *s); /* NULL-safe */

#endif
