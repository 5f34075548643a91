/* routes_student_whatif.h — the route handlers of routes_student_whatif.c (bound in routes.c). */
#ifndef INFICOND_ROUTES_STUDENT_WHATIF_H
#define INFICOND_ROUTES_STUDENT_WHATIF_H

#include "http.h"

void route_student_whatif(req *r);
void route_student_whatif_concepts(req *r);

#endif
