/* routes_projects.h — the route handlers of routes_projects.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_PROJECTS_H
#define INFICOND_ROUTES_PROJECTS_H

#include "http.h"

void route_projects_list(req *r);
void route_projects_get(req *r);
void route_projects_create(req *r);
void route_projects_delete(req *r);

#endif
