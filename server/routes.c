/* routes.c — the one table of API routes: method, path, handler, role, body.
 * docs/openapi.yaml describes the same routes; a test checks they agree. */
#include "router.h"
#include "routes.h"

#define KB 1024

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
    {NULL, NULL, NULL, ROLE_PUBLIC, BODY_NONE, 0, NULL},
};

const route *routes_table(void) { return table; }
