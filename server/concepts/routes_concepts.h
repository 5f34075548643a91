/* routes_concepts.h — the route handlers of routes_concepts.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_CONCEPTS_H
#define INFICOND_ROUTES_CONCEPTS_H

#include "http.h"

void route_corpora_create(req *r);
void route_corpora_import(req *r);
void route_corpora_list(req *r);
void route_corpora_get(req *r);
void route_corpora_update(req *r);
void route_corpora_word_add(req *r);
void route_corpora_word_delete(req *r);
void route_extractions_create(req *r);
void route_extractions_list(req *r);
void route_extractions_get(req *r);
void route_extractions_presence(req *r);
void route_extraction_image_presence(req *r);
void route_extraction_image_segments(req *r);
void route_extraction_gallery(req *r);

#endif
