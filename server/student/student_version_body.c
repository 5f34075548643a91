/* student_version_body.c — a version's whole JSON body, its cache of serialised
 * bodies, and the JSON export (see student_version_body.h).
 */
#include "student/student_version_body.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_json.h"
#include "student/student_store.h"

static json_t *floats_json(const float *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, isfinite(v[i]) ? json_real((double)v[i]) : json_null());
    return a;
}

static json_t *matrix_json(const float *m, size_t rows, size_t cols) { // m (rows, cols)
    json_t *a = json_array();
    for (size_t r = 0; r < rows; r++) json_array_append_new(a, floats_json(m + r * cols, cols));
    return a;
}

/* The full version JSON: metadata, names, weights, biases, bounds, measures. */
static json_t *version_json(app *a, int64_t sid, int number, const ss_version *v, err *e) {
    char ss[24], ns[16], what[64];
    snprintf(ss, sizeof ss, "%lld", (long long)sid);
    snprintf(ns, sizeof ns, "%d", v->number);
    snprintf(what, sizeof what, "no version %d of student %lld", number, (long long)sid);
    const char *p[] = {ss, ns};
    json_t *j = db_json(a, what,
                        "SELECT json_build_object('id', v.id, 'student_id', s.id, 'number', v.number, 'parent',"
                        " (SELECT number FROM student_versions WHERE id = v.parent_id), 'lambda', v.lambda, 'note',"
                        " v.note, 'author', v.author, 'created_at', v.created_at, 'weights_sha256', v.weights_sha256,"
                        " 'concepts', v.concepts, 'classes', s.classes, 'extraction_id', s.extraction_id,"
                        " 'teacher_output_id', s.teacher_output_id, 'dataset_id', s.dataset_id,"
                        " 'name', s.name)::text FROM student_versions v JOIN students s ON s.id = v.student_id"
                        " WHERE s.id = $1 AND v.number = $2::int",
                        2, p, e);
    if (!j) return NULL;
    json_object_set_new(j, "weights", matrix_json(v->w, v->c, v->d));
    json_object_set_new(j, "biases", floats_json(v->b, v->c));
    json_object_set_new(j, "bounds",
                        v->has_bounds ? json_pack("{s:o,s:o}", "lo", matrix_json(v->lo, v->c, v->d), "hi",
                                                  matrix_json(v->hi, v->c, v->d))
                                      : json_null());
    json_object_set(j, "measures", v->measures);
    return j;
}

/* ---- the cache of serialised bodies ------------------------------------------- */

typedef struct cached_body {
    int64_t student_id;
    int number;
    char *body;
    size_t len;
    char etag[VERSION_BODY_ETAG];
    unsigned long used;
} cached_body;

static pthread_mutex_t vc_mu = PTHREAD_MUTEX_INITIALIZER;
static cached_body vcache[VERSION_BODY_CACHE];
static unsigned long vc_clock;

/* A copy of the cached body of (sid, num) into *body, *len, etag; 0 when absent. */
static int cache_get(int64_t sid, int num, char **body, size_t *len, char *etag) {
    int hit = 0;
    pthread_mutex_lock(&vc_mu);
    for (int i = 0; i < VERSION_BODY_CACHE; i++)
        if (vcache[i].body && vcache[i].student_id == sid && vcache[i].number == num) {
            *body = malloc(vcache[i].len);
            if (*body) memcpy(*body, vcache[i].body, vcache[i].len), *len = vcache[i].len, hit = 1;
            snprintf(etag, VERSION_BODY_ETAG, "%s", vcache[i].etag);
            vcache[i].used = ++vc_clock;
            break;
        }
    pthread_mutex_unlock(&vc_mu);
    return hit;
}

/* Keep a copy of body (len bytes) for (sid, num); the least recently used goes. */
static void cache_put(int64_t sid, int num, const char *body, size_t len, const char *etag) {
    pthread_mutex_lock(&vc_mu);
    int slot = 0;
    for (int i = 0; i < VERSION_BODY_CACHE; i++) {
        if (!vcache[i].body) {
            slot = i;
            break;
        }
        if (vcache[i].used < vcache[slot].used) slot = i;
    }
    char *copy = malloc(len);
    if (copy) {
        memcpy(copy, body, len);
        free(vcache[slot].body);
        vcache[slot] = (cached_body){sid, num, copy, len, "", ++vc_clock};
        snprintf(vcache[slot].etag, sizeof vcache[slot].etag, "%s", etag);
    }
    pthread_mutex_unlock(&vc_mu);
}

int ss_version_body(app *a, int64_t sid, int num, char **body, size_t *len, char *etag, err *e) {
    *body = NULL, *len = 0;
    etag[0] = '\0';
    if (cache_get(sid, num, body, len, etag)) return 0;
    ss_version v;
    if (ss_version_load(a, sid, num, &v, e)) return -1;
    json_t *j = version_json(a, sid, num, &v, e);
    if (j) {
        snprintf(etag, VERSION_BODY_ETAG, "\"sv%lld-%.16s\"", (long long)v.id,
                 json_string_value(json_object_get(j, "weights_sha256")));
        *body = json_dumps(j, JSON_COMPACT);
        *len = *body ? strlen(*body) : 0;
        json_decref(j);
    }
    ss_version_free(&v);
    if (!*body) {
        if (!err_is_set(e)) err_set(e, ERR_INTERNAL, "out of memory");
        return -1;
    }
    cache_put(sid, num, *body, *len, etag);
    return 0;
}

json_t *ss_export_json(app *a, int64_t sid, int num, err *e) {
    ss_version v;
    if (ss_version_load(a, sid, num, &v, e)) return NULL;
    json_t *j = version_json(a, sid, num, &v, e);
    ss_version_free(&v);
    char ss[24];
    snprintf(ss, sizeof ss, "%lld", (long long)sid);
    const char *p[] = {ss};
    json_t *cm = j ? db_json(a, "no concept model",
                             "SELECT json_build_object('id', m.id, 'name', m.name, 'sha256', m.sha256, 'encoder',"
                             " m.encoder, 'corpus_id', x.corpus_id, 'presence_sha256', s.presence_sha256)::text"
                             " FROM students s JOIN extractions x ON x.id = s.extraction_id"
                             " JOIN models m ON m.id = x.concept_model_id WHERE s.id = $1",
                             1, p, e)
                   : NULL;
    if (!cm) {
        json_decref(j);
        return NULL;
    }
    json_object_set_new(j, "format", json_string("inficond-student/1"));
    json_object_set_new(j, "concept_model", cm);
    json_object_set_new(j, "prediction", json_string("argmax over classes of weights . presence + bias"));
    return j;
}
