/* routes_extractions.h — the route handlers of routes_extractions.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_EXTRACTIONS_H
#define INFICOND_ROUTES_EXTRACTIONS_H

#include "http.h"

void route_extractions_create(req *r);
void route_extractions_list(req *r);
void route_extractions_get(req *r);
void route_extractions_presence(req *r);
void route_extraction_image_presence(req *r);
void route_extraction_image_segments(req *r);
void route_extraction_gallery(req *r);

#endif
