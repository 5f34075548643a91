/* routes_admin.h — the route handlers of routes_admin.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_ADMIN_H
#define INFICOND_ROUTES_ADMIN_H

#include "http.h"

void route_admin_gc(req *r);

#endif
