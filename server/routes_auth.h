/* routes_auth.h — the route handlers of routes_auth.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_AUTH_H
#define INFICOND_ROUTES_AUTH_H

#include "http.h"

void route_login(req *r);
void route_logout(req *r);
void route_me(req *r);
void route_users_list(req *r);
void route_users_create(req *r);
void route_users_update(req *r);
void route_tokens_list(req *r);
void route_tokens_create(req *r);
void route_tokens_revoke(req *r);

#endif
