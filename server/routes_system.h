/* routes_system.h — the route handlers of routes_system.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_SYSTEM_H
#define INFICOND_ROUTES_SYSTEM_H

#include "http.h"

void route_health(req *r);

#endif
