/* student_version_body.h — a version as the API shows it whole: metadata, concept and
 * class names, weights (C, d), biases (C), bounds, measures (GET …/versions/{v}), and
 * the JSON export (the same plus the concept model that presence must be computed
 * with). A version never changes, so its serialised body is kept in a small
 * in-process cache (VERSION_BODY_CACHE entries, least recently used goes) with a
 * strong ETag ("sv<id>-<weights checksum>").
 */
#ifndef INFICOND_STUDENT_VERSION_BODY_H
#define INFICOND_STUDENT_VERSION_BODY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

#define VERSION_BODY_CACHE 16
#define VERSION_BODY_ETAG 96 /* bytes of an ETag with its NUL */

/* Version `number` of student_id serialised (compact JSON): *body malloc'd (the
 * caller's), *len, etag (VERSION_BODY_ETAG). ERR_NOT_FOUND for a missing version. */
int ss_version_body(app *a, int64_t student_id, int number, char **body, size_t *len, char *etag,
                    err *e) WARN_UNUSED;

/* The export of version `number`: its body plus "format" ("inficond-student/1"),
 * "concept_model" {id, name, sha256, encoder, corpus_id, presence_sha256} and
 * "prediction" (how to use it). New, or NULL with e set. */
json_t *ss_export_json(app *a, int64_t student_id, int number, err *e);

#endif
