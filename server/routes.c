/* routes.c — the one table of API routes: method, path, handler, role, body.
 * docs/openapi.yaml describes the same routes; a test checks they agree. */
#include "routes.h"
#include "concepts/routes_corpora.h"
#include "concepts/routes_vocabulary.h"
#include "dataset/routes_datasets.h"
#include "dataset/routes_images.h"
#include "extraction/routes_extractions.h"
#include "models/routes_models.h"
#include "projects/routes_projects.h"
#include "routes_admin.h"
#include "routes_auth.h"
#include "routes_jobs.h"
#include "routes_system.h"
#include "student/routes_student_use.h"
#include "student/routes_student_whatif.h"
#include "student/routes_students.h"
#include "teacher/routes_teacher.h"

#define KB 1024
/* One JPEG: a large phone photo is a few MB; the decoder refuses huge dimensions. */
#define PREDICT_MAX_BODY (8 * 1024 * KB)

static const route table[] = {
    /* method  path                          handler               role          body       limit  summary */
    {"GET",    "/api/v1/health",             route_health,         ROLE_PUBLIC,  BODY_NONE, 0,      "service and database health"},
    {"POST",   "/api/v1/auth/login",         route_login,          ROLE_PUBLIC,  BODY_JSON, 16 * KB, "log in; sets the session cookie"},
    {"POST",   "/api/v1/auth/logout",        route_logout,         ROLE_VIEWER,  BODY_NONE, 0,      "end the browser session"},
    {"GET",    "/api/v1/me",                 route_me,             ROLE_VIEWER,  BODY_NONE, 0,      "who is calling"},
    {"GET",    "/api/v1/users",              route_users_list,     ROLE_ADMIN,   BODY_NONE, 0,      "list users"},
    {"POST",   "/api/v1/users",              route_users_create,   ROLE_ADMIN,   BODY_JSON, 16 * KB, "create a user"},
    {"PATCH",  "/api/v1/users/{id}",         route_users_update,   ROLE_ADMIN,   BODY_JSON, 16 * KB, "change a user's role, password or status"},
    {"GET",    "/api/v1/tokens",             route_tokens_list,    ROLE_ADMIN,   BODY_NONE, 0,      "list API tokens"},
    {"POST",   "/api/v1/tokens",             route_tokens_create,  ROLE_ADMIN,   BODY_JSON, 16 * KB, "create an API token"},
    {"DELETE", "/api/v1/tokens/{id}",        route_tokens_revoke,  ROLE_ADMIN,   BODY_NONE, 0,      "revoke an API token"},
    {"GET",    "/api/v1/jobs",               route_jobs_list,      ROLE_VIEWER,  BODY_NONE, 0,      "list jobs"},
    {"POST",   "/api/v1/jobs",               route_jobs_create,    ROLE_EDITOR,  BODY_JSON, 64 * KB, "start a job"},
    {"GET",    "/api/v1/jobs/{id}",          route_jobs_get,       ROLE_VIEWER,  BODY_NONE, 0,      "a job; long-polls with ?wait=S&after=SEQ"},
    {"POST",   "/api/v1/jobs/{id}/cancel",   route_jobs_cancel,    ROLE_EDITOR,  BODY_NONE, 0,      "cancel a job"},
    {"GET",    "/api/v1/models",             route_models_list,    ROLE_VIEWER,  BODY_NONE, 0,      "list registered models"},
    {"POST",   "/api/v1/models",             route_models_create,  ROLE_ADMIN,   BODY_JSON, 16 * KB, "register a model folder on the server"},
    {"POST",   "/api/v1/models/upload",      route_models_upload,  ROLE_ADMIN,   BODY_FILE, 0,      "register a model uploaded as a .tar of its folder"},
    {"GET",    "/api/v1/models/{id}",        route_models_get,     ROLE_VIEWER,  BODY_NONE, 0,      "a model, its manifest and check summary"},
    {"DELETE", "/api/v1/models/{id}",        route_models_delete,  ROLE_ADMIN,   BODY_NONE, 0,      "delete a model and its teacher outputs"},
    {"GET",    "/api/v1/models/{id}/vocabulary", route_model_vocabulary, ROLE_VIEWER, BODY_NONE, 0,     "a concept model's words by prefix (word lists), or open (CLIP)"},
    {"GET",    "/api/v1/datasets/{id}/teacher-outputs", route_teacher_outputs_list, ROLE_VIEWER, BODY_NONE, 0, "a dataset's teacher outputs"},
    {"POST",   "/api/v1/datasets/{id}/teacher-outputs", route_teacher_outputs_create, ROLE_EDITOR, BODY_JSON, 16 * KB, "run a teacher over a dataset (job)"},
    {"POST",   "/api/v1/datasets/{id}/predictions", route_predictions_upload, ROLE_EDITOR, BODY_FILE, 0, "upload a teacher's predictions (CSV or JSON)"},
    {"GET",    "/api/v1/teacher-outputs/{id}", route_teacher_outputs_get, ROLE_VIEWER, BODY_NONE, 0,    "a teacher output with accuracy per split"},
    {"DELETE", "/api/v1/teacher-outputs/{id}", route_teacher_outputs_delete, ROLE_EDITOR, BODY_NONE, 0, "delete a teacher output"},
    {"GET",    "/api/v1/teacher-outputs/{id}/probabilities", route_teacher_outputs_probs, ROLE_VIEWER, BODY_NONE, 0, "probabilities: paged JSON or the float32 matrix"},
    {"POST",   "/api/v1/datasets",           route_datasets_create, ROLE_EDITOR, BODY_JSON, 16 * KB, "create a dataset"},
    {"GET",    "/api/v1/datasets",           route_datasets_list,  ROLE_VIEWER,  BODY_NONE, 0,      "list datasets with image counts per split"},
    {"GET",    "/api/v1/datasets/{id}",      route_datasets_get,   ROLE_VIEWER,  BODY_NONE, 0,      "a dataset with its classes and image counts"},
    {"DELETE", "/api/v1/datasets/{id}",      route_datasets_delete, ROLE_ADMIN,  BODY_NONE, 0,      "delete a dataset and its image records"},
    {"POST",   "/api/v1/datasets/{id}/imports", route_datasets_import, ROLE_ADMIN, BODY_JSON, 64 * KB, "import images from server-side idx files, a folder or a tar"},
    {"POST",   "/api/v1/datasets/{id}/upload", route_datasets_upload, ROLE_EDITOR, BODY_FILE, 0,    "upload a tar of JPEGs and import it"},
    {"GET",    "/api/v1/datasets/{id}/images", route_dataset_images, ROLE_VIEWER, BODY_NONE, 0,     "page through a dataset's images, by split and label"},
    {"GET",    "/api/v1/images/{id}",        route_image_get,      ROLE_VIEWER,  BODY_NONE, 0,      "an image's original JPEG"},
    {"GET",    "/api/v1/images/{id}/thumb",  route_image_thumb,    ROLE_VIEWER,  BODY_NONE, 0,      "an image's JPEG thumbnail (?size=16..512)"},
    {"POST",   "/api/v1/corpora",            route_corpora_create, ROLE_EDITOR,  BODY_JSON, 1024 * KB, "create a concept corpus"},
    {"GET",    "/api/v1/corpora",            route_corpora_list,   ROLE_VIEWER,  BODY_NONE, 0,      "list concept corpora"},
    {"POST",   "/api/v1/corpora/import",     route_corpora_import, ROLE_EDITOR,  BODY_FILE, 1024 * KB, "create a corpus from a text file, one concept per line"},
    {"GET",    "/api/v1/corpora/{id}",       route_corpora_get,    ROLE_VIEWER,  BODY_NONE, 0,      "a corpus with its words"},
    {"PATCH",  "/api/v1/corpora/{id}",       route_corpora_update, ROLE_EDITOR,  BODY_JSON, 1024 * KB, "rename a corpus or replace its words"},
    {"POST",   "/api/v1/corpora/{id}/words", route_corpora_word_add, ROLE_EDITOR, BODY_JSON, 16 * KB, "add a concept word (presence computed from stored segments)"},
    {"DELETE", "/api/v1/corpora/{id}/words/{word}", route_corpora_word_delete, ROLE_EDITOR, BODY_NONE, 0, "remove a concept word"},
    {"POST",   "/api/v1/extractions",        route_extractions_create, ROLE_EDITOR, BODY_JSON, 16 * KB, "extract segments and concept presence (job)"},
    {"GET",    "/api/v1/extractions",        route_extractions_list, ROLE_VIEWER, BODY_NONE, 0,     "list extractions"},
    {"GET",    "/api/v1/extractions/{id}",   route_extractions_get, ROLE_VIEWER, BODY_NONE, 0,      "an extraction"},
    {"GET",    "/api/v1/extractions/{id}/presence", route_extractions_presence, ROLE_VIEWER, BODY_NONE, 0, "presence: paged JSON, the float32 matrix or the image ids"},
    {"GET",    "/api/v1/extractions/{id}/images/{image_id}/presence", route_extraction_image_presence, ROLE_VIEWER, BODY_NONE, 0, "an image's concept presence, highest first"},
    {"GET",    "/api/v1/extractions/{id}/images/{image_id}/segments", route_extraction_image_segments, ROLE_VIEWER, BODY_NONE, 0, "an image's segments with nearest concepts and masks"},
    {"GET",    "/api/v1/extractions/{id}/concepts/{word}/gallery", route_extraction_gallery, ROLE_VIEWER, BODY_NONE, 0, "a concept's top images with their segments"},
    {"GET",    "/api/v1/projects",           route_projects_list,  ROLE_VIEWER,  BODY_NONE, 0,      "list projects with their parts and each part's readiness"},
    {"POST",   "/api/v1/projects",           route_projects_create, ROLE_EDITOR, BODY_JSON, 16 * KB, "create a project from a dataset, teacher, concept model and corpus"},
    {"GET",    "/api/v1/projects/{id}",      route_projects_get,   ROLE_VIEWER,  BODY_NONE, 0,      "a project with its parts and their readiness"},
    {"DELETE", "/api/v1/projects/{id}",      route_projects_delete, ROLE_ADMIN,  BODY_NONE, 0,      "delete a project (its parts stay)"},
    {"POST",   "/api/v1/students",           route_students_create, ROLE_EDITOR, BODY_JSON, 16 * KB, "distil a student from a teacher output and a presence extraction (job)"},
    {"GET",    "/api/v1/students",           route_students_list,  ROLE_VIEWER,  BODY_NONE, 0,      "list students with their heads"},
    {"GET",    "/api/v1/students/{id}",      route_students_get,   ROLE_VIEWER,  BODY_NONE, 0,      "a student with its head version"},
    {"GET",    "/api/v1/students/{id}/versions", route_student_versions_list, ROLE_VIEWER, BODY_NONE, 0, "a student's versions, newest first"},
    {"POST",   "/api/v1/students/{id}/versions", route_student_versions_create, ROLE_EDITOR, BODY_JSON, 1024 * KB, "tune: a new version from actions on the head (409 with the head when parent is not it)"},
    {"GET",    "/api/v1/students/{id}/versions/{v}", route_student_version_get, ROLE_VIEWER, BODY_NONE, 0, "a version: weights, biases, bounds, measures"},
    {"POST",   "/api/v1/students/{id}/versions/{v}/restore", route_student_version_restore, ROLE_EDITOR, BODY_JSON, 16 * KB, "restore: a new head that copies an earlier version"},
    {"GET",    "/api/v1/students/{id}/provenance", route_student_provenance, ROLE_VIEWER, BODY_NONE, 0, "the provenance log, newest first, with measure deltas"},
    {"GET",    "/api/v1/students/{id}/versions/{v}/classes/{k}/influence", route_student_influence, ROLE_VIEWER, BODY_NONE, 0, "a class's concepts ranked by influence (weight x mean presence)"},
    {"GET",    "/api/v1/students/{id}/versions/{v}/disagreements", route_student_disagreements, ROLE_VIEWER, BODY_NONE, 0, "images where student and teacher disagree, paged and filtered"},
    {"GET",    "/api/v1/students/{id}/versions/{v}/images/{image_id}/contributions", route_student_contributions, ROLE_VIEWER, BODY_NONE, 0, "an image's concept contributions to each class score"},
    {"GET",    "/api/v1/students/{id}/versions/{v}/whatif", route_student_whatif, ROLE_VIEWER, BODY_NONE, 0, "one action's effect on every split before retraining"},
    {"GET",    "/api/v1/students/{id}/versions/{v}/whatif/concepts", route_student_whatif_concepts, ROLE_VIEWER, BODY_NONE, 0, "every concept's removal ranked by its effect on a split"},
    {"GET",    "/api/v1/students/{id}/versions/{v}/export", route_student_export, ROLE_VIEWER, BODY_NONE, 0, "the fitted student as JSON"},
    {"GET",    "/api/v1/students/{id}/versions/{v}/export.pt", route_student_export_torchscript, ROLE_VIEWER, BODY_NONE, 0, "the fitted student as a TorchScript module over presence vectors"},
    {"POST",   "/api/v1/students/{id}/versions/{v}/predict", route_student_predict, ROLE_VIEWER, BODY_FILE, PREDICT_MAX_BODY, "predict one JPEG: class, scores, top concepts with their segments"},
    {"POST",   "/api/v1/admin/gc",           route_admin_gc,       ROLE_ADMIN,   BODY_JSON, 16 * KB, "remove blobs no row names (or list them: dry_run)"},
    {NULL, NULL, NULL, ROLE_PUBLIC, BODY_NONE, 0, NULL},
};

const route *routes_table(void) { return table; }
