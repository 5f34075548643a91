/* routes_corpora.h — the route handlers of routes_corpora.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_CORPORA_H
#define INFICOND_ROUTES_CORPORA_H

#include "http.h"

void route_corpora_create(req *r);
void route_corpora_import(req *r);
void route_corpora_list(req *r);
void route_corpora_get(req *r);
void route_corpora_update(req *r);
void route_corpora_word_add(req *r);
void route_corpora_word_delete(req *r);

#endif
