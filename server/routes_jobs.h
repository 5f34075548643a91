/* routes_jobs.h — the route handlers of routes_jobs.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_JOBS_H
#define INFICOND_ROUTES_JOBS_H

#include "http.h"

void route_jobs_list(req *r);
void route_jobs_create(req *r);
void route_jobs_get(req *r);
void route_jobs_cancel(req *r);

#endif
