/* routes_students.h — the route handlers of routes_students.c (bound to paths in routes.c). */
#ifndef INFICOND_ROUTES_STUDENTS_H
#define INFICOND_ROUTES_STUDENTS_H

#include "http.h"

void route_students_create(req *r);
void route_students_list(req *r);
void route_students_get(req *r);
void route_student_versions_list(req *r);
void route_student_version_get(req *r);
void route_student_versions_create(req *r);
void route_student_version_restore(req *r);
void route_student_provenance(req *r);
void route_student_influence(req *r);
void route_student_disagreements(req *r);
void route_student_contributions(req *r);
void route_student_export(req *r);

#endif
