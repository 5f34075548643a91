/* routes_images.h — the route handlers of routes_images.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_IMAGES_H
#define INFICOND_ROUTES_IMAGES_H

#include "http.h"

void route_image_get(req *r);
void route_image_thumb(req *r);

#endif
