/* routes.h — every route handler, grouped by file (routes_*.c). The table that
 * binds them to paths, roles and body rules is in routes.c. */
#ifndef INFICOND_ROUTES_H
#define INFICOND_ROUTES_H

#include "http.h"

/* routes_system.c */
void route_health(req *r);

/* routes_auth.c */
void route_login(req *r);
void route_logout(req *r);
void route_me(req *r);
void route_users_list(req *r);
void route_users_create(req *r);
void route_users_update(req *r);
void route_tokens_list(req *r);
void route_tokens_create(req *r);
void route_tokens_revoke(req *r);

/* routes_jobs.c */
void route_jobs_list(req *r);
void route_jobs_create(req *r);
void route_jobs_get(req *r);
void route_jobs_cancel(req *r);

/* routes_models.c */
void route_models_list(req *r);
void route_models_create(req *r);
void route_models_upload(req *r);
void route_models_get(req *r);
void route_models_delete(req *r);
void route_teacher_outputs_create(req *r);
void route_predictions_upload(req *r);
void route_teacher_outputs_list(req *r);
void route_teacher_outputs_get(req *r);
void route_teacher_outputs_probs(req *r);
void route_teacher_outputs_delete(req *r);

/* routes_datasets.c */
void route_datasets_create(req *r);
void route_datasets_list(req *r);
void route_datasets_get(req *r);
void route_datasets_delete(req *r);
void route_datasets_import(req *r);
void route_datasets_upload(req *r);
void route_dataset_images(req *r);

/* routes_images.c */
void route_image_get(req *r);
void route_image_thumb(req *r);

/* routes_concepts.c */
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

/* routes_projects.c */
void route_projects_list(req *r);
void route_projects_get(req *r);
void route_projects_create(req *r);
void route_projects_delete(req *r);

/* routes_students.c */
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

/* routes_student_use.c */
void route_student_export_torchscript(req *r);
void route_student_predict(req *r);

#endif
