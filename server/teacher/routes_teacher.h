/* routes_teacher.h — the route handlers of routes_teacher.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_TEACHER_H
#define INFICOND_ROUTES_TEACHER_H

#include "http.h"

void route_teacher_outputs_create(req *r);
void route_predictions_upload(req *r);
void route_teacher_outputs_list(req *r);
void route_teacher_outputs_get(req *r);
void route_teacher_outputs_probs(req *r);
void route_teacher_outputs_delete(req *r);

#endif
