/* routes_student_use.h — the route handlers of routes_student_use.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_STUDENT_USE_H
#define INFICOND_ROUTES_STUDENT_USE_H

#include "http.h"

void route_student_export_torchscript(req *r);
void route_student_predict(req *r);

#endif
