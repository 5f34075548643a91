/* router.c — matching a request path against the route table's patterns. */
#include "router.h"

#include <stdio.h>
#include <string.h>

/* Compare pattern segments with path segments; a {name} segment matches any one
 * non-empty path segment. Writes param pointers into the scratch copy. */
static int pattern_match(const char *pattern, char *path, const char *params[REQ_MAX_PARAMS],
                         int *nparams) {
    int np = 0;
    const char *p = pattern;
    char *s = path;
    for (;;) {
        if (*p == '\0' && *s == '\0') break;
        if (*p != '/' || *s != '/') return 0;
        p++, s++;
        const char *pend = strchr(p, '/');
        if (!pend) pend = p + strlen(p);
        char *send = strchr(s, '/');
        if (!send) send = s + strlen(s);
        size_t plen = (size_t)(pend - p), slen = (size_t)(send - s);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || np >= REQ_MAX_PARAMS) return 0;
            params[np++] = s;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p = pend, s = send;
    }
    *nparams = np;
    return 1;
}

route_match_result router_match(const route *table, const char *method, const char *path,
                                char *scratch, size_t scratch_len, const route **out,
                                const char *params[REQ_MAX_PARAMS], int *nparams, char *allow,
                                size_t allow_len) {
    size_t len = strlen(path);
    if (len + 1 > scratch_len || len == 0) return ROUTE_NO_PATH;
    /* A trailing slash is the same resource ("/api/v1/jobs/" == "/api/v1/jobs"). */
    if (len > 1 && path[len - 1] == '/') len--;
    int path_seen = 0;
    if (allow_len) allow[0] = '\0';
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    for (const route *r = table; r->method; r++) {
        memcpy(scratch, path, len);
        scratch[len] = '\0';
        const char *pp[REQ_MAX_PARAMS];
        int np = 0;
        if (!pattern_match(r->pattern, scratch, pp, &np)) continue;
        if (strcmp(r->method, want) == 0) {
            /* Re-run on a fresh copy and cut segment ends so params are C strings. */
            memcpy(scratch, path, len);
            scratch[len] = '\0';
            pattern_match(r->pattern, scratch, params, nparams);
            for (int i = 0; i < *nparams; i++) {
                char *slash = strchr((char *)params[i], '/');
                if (slash) *slash = '\0';
            }
            *out = r;
            return ROUTE_FOUND;
        }
        if (!strstr(allow, r->method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", r->method);
        }
        path_seen = 1;
    }
    return path_seen ? ROUTE_NO_METHOD : ROUTE_NO_PATH;
}
