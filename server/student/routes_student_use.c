/* routes_student_use.c — using a fitted student outside the service: the version as
 * a TorchScript module over presence vectors (export.pt, built by the shim), and
 * the prediction of one uploaded JPEG (student_predict.h).
 *
 * The JSON export (routes_students.c) is the readable twin of export.pt; the
 * module's `meta` attribute carries the same identification (student, version,
 * concept model and its checksum), so a presence vector can be computed for it with
 * the right model and word list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "busy_limit.h"
#include "db_json.h"
#include "inficond_shim.h"
#include "student/routes_student_use.h"
#include "student/student_predict.h"
#include "student/student_store.h"

/* Names of a student and what the exported module's `meta` says about it. */
static json_t *export_info(req *r, int64_t sid, int number, err *e) {
    char ss[24], num[16], what[48];
    snprintf(ss, sizeof ss, "%lld", (long long)sid);
    snprintf(num, sizeof num, "%d", number);
    snprintf(what, sizeof what, "no student %lld", (long long)sid);
    const char *p[] = {ss, num};
    return db_json(r->app, what,
                   "SELECT json_build_object('concepts', (SELECT concepts FROM student_versions WHERE student_id = s.id"
                   " AND number = $2::int), 'classes', s.classes, 'meta', json_build_object("
                   " 'format', 'inficond-student-torchscript/1', 'student_id', s.id, 'name', s.name, 'dataset_id',"
                   " s.dataset_id, 'extraction_id', s.extraction_id, 'teacher_output_id', s.teacher_output_id,"
                   " 'presence_sha256', s.presence_sha256, 'concept_model', json_build_object('id', m.id, 'name',"
                   " m.name, 'sha256', m.sha256, 'encoder', m.encoder), 'corpus_id', x.corpus_id,"
                   " 'input', 'float32 (B, d) presence in the order of `concepts`: max(0, max over segments of"
                   " cos(segment, concept))', 'output', 'float32 (B, C) scores x W^T + b in the order of `classes`'))::text"
                   " FROM students s JOIN extractions x ON x.id = s.extraction_id"
                   " JOIN models m ON m.id = x.concept_model_id WHERE s.id = $1",
                   2, p, e);
}

void route_student_export_torchscript(req *r) {
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return;
    err e = {0};
    ss_version v;
    if (ss_version_load(r->app, sid, (int)num, &v, &e)) {
        reply_err(r, &e);
        return;
    }
    json_t *info = export_info(r, sid, v.number, &e);
    if (!info) {
        ss_version_free(&v);
        reply_err(r, &e);
        return;
    }
    json_t *jc = json_object_get(info, "concepts"), *jk = json_object_get(info, "classes");
    size_t d = json_array_size(jc), c = json_array_size(jk);
    const char **names = calloc(d + c + 1, sizeof *names);
    char *meta = NULL;
    if (d != v.d || c != v.c) {
        reply_error(r, 409, "conflict", "student %lld: version %lld has %zu x %zu weights for %zu classes and %zu concepts",
                    (long long)sid, (long long)num, v.c, v.d, c, d);
    } else if (!names || !(meta = json_dumps(json_object_get(info, "meta"), JSON_COMPACT))) {
        reply_error(r, 500, "internal", "out of memory");
    } else {
        for (size_t j = 0; j < d; j++) names[j] = json_string_value(json_array_get(jc, j));
        for (size_t k = 0; k < c; k++) names[d + k] = json_string_value(json_array_get(jk, k));
        void *buf = NULL;
        size_t len = 0;
        char eb[320];
        if (shim_student_export(v.w, v.b, (int)c, (int)d, names, names + d, meta, &buf, &len, eb, sizeof eb)) {
            err_set(&e, ERR_TORCH, "%s", eb);
            reply_err(r, &e);
        } else {
            char disp[96];
            snprintf(disp, sizeof disp, "attachment; filename=\"student-%lld-v%d.pt\"", (long long)sid, v.number);
            reply_add_header(r, "Content-Disposition", disp);
            reply_bytes(r, 200, "application/octet-stream", buf, len, NULL);
            free(buf);
        }
    }
    free(meta);
    free(names);
    json_decref(info);
    ss_version_free(&v);
}

static int is_jpeg_type(const char *ct) {
    static const char want[] = "image/jpeg";
    const size_t n = sizeof want - 1;
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

void route_student_predict(req *r) {
    if (!is_jpeg_type(r->content_type)) {
        reply_error(r, 415, "unsupported_media_type", "send the image as image/jpeg (got %s)",
                    r->content_type ? r->content_type : "no Content-Type");
        return;
    }
    int64_t sid = req_id_or_reply(r, 0);
    if (sid < 0) return;
    int64_t num = req_id_or_reply(r, 1);
    if (num < 0) return;
    long top;
    if (!req_query_int_or_reply(r, "top", 1, 100000, SP_TOP_DEFAULT, &top)) return;
    /* A prediction holds its HTTP thread for a decode and a forward pass: bound how
     * many run at once, per user and in all (INFICOND_PREDICT_*). */
    if (!busy_limit_enter(r->app->predictions, r->user_id)) {
        reply_add_header(r, "Retry-After", "1");
        reply_error(r, 429, "too_many_requests",
                    "too many predictions are running (at most %d at once, %d per user); try again shortly",
                    r->app->cfg.predict_max, r->app->cfg.predict_per_user);
        return;
    }
    uint8_t *jpeg = malloc(r->body_len + 1);
    FILE *f = jpeg ? fopen(r->body_path, "rb") : NULL;
    size_t got = f ? fread(jpeg, 1, r->body_len, f) : 0;
    if (f) fclose(f);
    err e = {0};
    json_t *out = NULL;
    if (!f || got != r->body_len)
        reply_error(r, 500, "io_error", "cannot read the uploaded image");
    else if (student_predict(r->app, sid, (int)num, jpeg, got, (int)top, &out, &e))
        reply_err(r, &e);
    else
        reply_json(r, 200, out);
    free(jpeg);
    busy_limit_leave(r->app->predictions, r->user_id);
}
