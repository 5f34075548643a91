/* routes.h — every route handler, grouped by file (routes_*.c). The table that
 * binds them to paths, roles and body rules is in routes.c. */
#ifndef INFICOND_ROUTES_H
#define INFICOND_ROUTES_H

#include "http.h"

/* routes_system.c */
void route_health(req *r);

/* routes_auth.c */
void route_login(req *r);
void route_logout(req *r);
void route_me(req *r);
void route_users_list(req *r);
void route_users_create(req *r);
void route_users_update(req *r);
void route_tokens_list(req *r);
void route_tokens_create(req *r);
void route_tokens_revoke(req *r);

/* routes_jobs.c */
void route_jobs_list(req *r);
void route_jobs_create(req *r);
void route_jobs_get(req *r);
void route_jobs_cancel(req *r);

#endif
