/* routes_models.h — the route handlers of routes_models.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_MODELS_H
#define INFICOND_ROUTES_MODELS_H

#include "http.h"

void route_models_list(req *r);
void route_models_create(req *r);
void route_models_upload(req *r);
void route_models_get(req *r);
void route_models_delete(req *r);

#endif
