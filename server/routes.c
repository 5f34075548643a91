/* routes.c — the one table of API routes: method, path, handler, role, body.
 * docs/openapi.yaml describes the same routes; a test checks they agree. */
#include "router.h"
#include "routes.h"

#define KB 1024

static const route table[] = {
    /* method  path                          handler               role          body       limit  summary */
    {"GET",    "/api/v1/health",             route_health,         ROLE_PUBLIC,  BODY_NONE, 0,      "service and database health"},
    {"POST",   "/api/v1/auth/login",         route_login,          ROLE_PUBLIC,  BODY_JSON, 16 * KB, "log in; sets the session cookie"},
    {"POST",   "/api/v1/auth/logout",        route_logout,         ROLE_VIEWER,  BODY_NONE, 0,      "end the browser session"},
    {"GET",    "/api/v1/me",                 route_me,             ROLE_VIEWER,  BODY_NONE, 0,      "who is calling"},
    {"GET",    "/api/v1/users",              route_users_list,     ROLE_ADMIN,   BODY_NONE, 0,      "list users"},
    {"POST",   "/api/v1/users",              route_users_create,   ROLE_ADMIN,   BODY_JSON, 16 * KB, "create a user"},
    {"PATCH",  "/api/v1/users/{id}",         route_users_update,   ROLE_ADMIN,   BODY_JSON, 16 * KB, "change a user's role, password or status"},
    {"GET",    "/api/v1/tokens",             route_tokens_list,    ROLE_ADMIN,   BODY_NONE, 0,      "list API tokens"},
    {"POST",   "/api/v1/tokens",             route_tokens_create,  ROLE_ADMIN,   BODY_JSON, 16 * KB, "create an API token"},
    {"DELETE", "/api/v1/tokens/{id}",        route_tokens_revoke,  ROLE_ADMIN,   BODY_NONE, 0,      "revoke an API token"},
    {"GET",    "/api/v1/jobs",               route_jobs_list,      ROLE_VIEWER,  BODY_NONE, 0,      "list jobs"},
    {"POST",   "/api/v1/jobs",               route_jobs_create,    ROLE_EDITOR,  BODY_JSON, 64 * KB, "start a job"},
    {"GET",    "/api/v1/jobs/{id}",          route_jobs_get,       ROLE_VIEWER,  BODY_NONE, 0,      "a job; long-polls with ?wait=S&after=SEQ"},
    {"POST",   "/api/v1/jobs/{id}/cancel",   route_jobs_cancel,    ROLE_EDITOR,  BODY_NONE, 0,      "cancel a job"},
    {NULL, NULL, NULL, ROLE_PUBLIC, BODY_NONE, 0, NULL},
};

const route *routes_table(void) { return table; }
