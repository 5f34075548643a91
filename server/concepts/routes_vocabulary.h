/* routes_vocabulary.h — the route handler of routes_vocabulary.c (bound in routes.c). */
#ifndef INFICOND_ROUTES_VOCABULARY_H
#define INFICOND_ROUTES_VOCABULARY_H

#include "http.h"

void route_model_vocabulary(req *r);

#endif
