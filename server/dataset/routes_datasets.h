/* routes_datasets.h — the route handlers of routes_datasets.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_DATASETS_H
#define INFICOND_ROUTES_DATASETS_H

#include "http.h"

void route_datasets_create(req *r);
void route_datasets_list(req *r);
void route_datasets_get(req *r);
void route_datasets_delete(req *r);
void route_datasets_import(req *r);
void route_datasets_upload(req *r);
void route_dataset_images(req *r);

#endif
