/* router.h — the route table and path matching.
 *
 * Every API route lives in one table (routes.c, handed to the HTTP server by
 * serve.c) with its properties beside it:
 * method, path pattern ("/api/v1/jobs/{id}"), handler, the role it needs, what
 * body it takes and how large. The HTTP layer checks all of that before a
 * handler runs, so handlers only deal with their own logic.
 */
#ifndef INFICOND_ROUTER_H
#define INFICOND_ROUTER_H

#include <stddef.h>

#include "http.h"

typedef void (*route_fn)(req *r);

typedef struct route {
    const char *method;   /* "GET", "POST", "PATCH", "PUT", "DELETE"              */
    const char *pattern;  /* literal segments and {name} placeholders            */
    route_fn handler;
    role min_role;
    body_kind body;
    size_t max_body;      /* bytes; 0 = the configured default for the body kind   */
    const char *summary;  /* one line, also checked against docs/openapi.yaml      */
} route;

typedef enum { ROUTE_FOUND, ROUTE_NO_PATH, ROUTE_NO_METHOD } route_match_result;

/* Match `path` (decoded, no query) for `method` against `table`. On ROUTE_FOUND
 * sets *out and fills params (pointers into `scratch`, a copy of the path the
 * caller provides, size at least strlen(path)+1). On ROUTE_NO_METHOD writes the
 * allowed methods, comma-separated, into `allow`. HEAD matches GET routes. */
route_match_result router_match(const route *table, const char *method, const char *path,
                                char *scratch, size_t scratch_len, const route **out,
                                const char *params[REQ_MAX_PARAMS], int *nparams, char *allow,
                                size_t allow_len);

#endif
