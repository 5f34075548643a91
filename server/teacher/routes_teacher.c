/* routes_teacher.c — teacher outputs: start the teacher.outputs job, upload a
 * predictions file, list a dataset's outputs, read one with accuracy per split,
 * download its probabilities as paged JSON or as the raw float32 matrix, delete one.
 *
 * The job runs the teacher (teacher.c); the rows are read and written through
 * teacher_store.h. Creating checks what the job would refuse (a concept model, a
 * class count that differs) so the caller gets a 422 at once, not a failed job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "dataset/dataset_store.h"
#include "jobs.h"
#include "models/model_registry.h"
#include "teacher/routes_teacher.h"
#include "teacher/teacher_predictions.h"
#include "teacher/teacher_store.h"

#define PROBS_PAGE_MAX 1000

void route_teacher_outputs_create(req *r) {
    int64_t ds = req_id_or_reply(r, 0);
    if (ds < 0) return;
    int64_t model_id;
    if (json_req_int_or_reply(r, r->json, "model_id", 1, INT64_MAX, &model_id)) return;
    err e = {0};
    json_t *d = dataset_store_head_json(r->app, ds, &e);
    if (!d) {
        reply_err(r, &e);
        return;
    }
    json_t *m = model_registry_get_json(r->app, model_id, &e);
    if (!m) {
        json_decref(d);
        if (e.code == ERR_NOT_FOUND) reply_error(r, 422, "unprocessable", "field 'model_id': no model %lld", (long long)model_id);
        else reply_err(r, &e);
        return;
    }
    /* The job checks the same again; answering here saves a failed job. */
    size_t dc = json_array_size(json_object_get(d, "classes"));
    size_t mc = json_array_size(json_object_get(m, "classes"));
    const char *kind = json_string_value(json_object_get(m, "kind"));
    if (!kind || strcmp(kind, "teacher")) {
        reply_error(r, 422, "unprocessable", "field 'model_id': model %lld is not a teacher", (long long)model_id);
    } else if (dc != mc) {
        reply_error(r, 422, "unprocessable", "field 'model_id': the teacher '%s' has %zu classes but dataset '%s' has %zu",
                    json_string_value(json_object_get(m, "name")), mc, json_string_value(json_object_get(d, "name")), dc);
    } else {
        json_t *params = json_pack("{s:I,s:I}", "dataset_id", (json_int_t)ds, "model_id", (json_int_t)model_id);
        int64_t job = jobs_enqueue(r->app, "teacher.outputs", params, r->user_id, &e);
        json_decref(params);
        json_t *jj = job < 0 ? NULL : jobs_get_json(r->app, job, &e);
        if (!jj) {
            reply_err(r, &e);
        } else {
            reply_json_at(r, 202, jj, "/api/v1/jobs/%lld", (long long)job);
        }
    }
    json_decref(d);
    json_decref(m);
}

void route_predictions_upload(req *r) {
    int64_t ds = req_id_or_reply(r, 0);
    if (ds < 0) return;
    const char *name = req_query(r, "name");
    if (!name || !name[0]) name = "predictions";
    if (strlen(name) > 128) {
        reply_error(r, 422, "unprocessable", "query parameter 'name': at most 128 characters");
        return;
    }
    if (!r->body_path || r->body_len == 0) {
        reply_error(r, 422, "unprocessable", "send the predictions (CSV or JSON) as the body");
        return;
    }
    err e = {0};
    dataset_images d;
    if (dataset_store_load(r->app, ds, &d, &e)) {
        reply_err(r, &e);
        return;
    }
    float *probs = NULL;
    size_t logits = 0;
    int64_t out_id = 0;
    if (teacher_parse_predictions(r->body_path, d.ids, d.shas, d.n, d.classes, d.n_classes, &probs, &logits, &e) ||
        teacher_store_put(r->app, &d, 0, name, probs, logits, 0, r->user_id, &out_id, &e)) {
        free(probs);
        dataset_images_free(&d);
        reply_err(r, &e);
        return;
    }
    free(probs);
    dataset_images_free(&d);
    json_t *row = teacher_store_get_json(r->app, out_id, &e);
    if (!row) {
        reply_err(r, &e);
        return;
    }
    reply_json_at(r, 201, row, "/api/v1/teacher-outputs/%lld", (long long)out_id);
}

void route_teacher_outputs_list(req *r) {
    int64_t ds = req_id_or_reply(r, 0);
    if (ds < 0) return;
    err e = {0};
    json_t *d = dataset_store_head_json(r->app, ds, &e);
    if (!d) {
        reply_err(r, &e);
        return;
    }
    json_decref(d);
    json_t *items = teacher_store_list_json(r->app, ds, &e);
    if (!items) {
        reply_err(r, &e);
        return;
    }
    reply_json(r, 200, json_pack("{s:o}", "items", items));
}

void route_teacher_outputs_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *row = teacher_store_describe(r->app, id, &e);
    reply_json_or_err(r, 200, row, &e);
}

/* ?format=f32 streams the verified blob itself (ETag: its sha256; X-Shape: N,C);
 * otherwise a JSON page, of one split when ?split= is given. */
void route_teacher_outputs_probs(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    const char *format = req_query(r, "format");
    if (format && strcmp(format, "json") && strcmp(format, "f32")) {
        reply_error(r, 400, "bad_request", "format must be json or f32");
        return;
    }
    req_page pg;
    if (!req_page_or_reply(r, PROBS_PAGE_MAX, 100, 1L << 40, &pg)) return;
    err e = {0};
    if (!format || strcmp(format, "f32")) {
        json_t *page = teacher_store_probs_page(r->app, id, req_query(r, "split"), pg.limit, pg.offset, &e);
        reply_json_or_err(r, 200, page, &e);
        return;
    }
    json_t *row = teacher_store_get_json(r->app, id, &e);
    if (!row) {
        reply_err(r, &e);
        return;
    }
    const char *ps = json_string_value(json_object_get(row, "probs_sha256"));
    char path[4096], etag[80], shape[64];
    if (blobstore_verify_cached(r->app->cfg.data_dir, ps, &e) || blobstore_path(r->app->cfg.data_dir, ps, path, sizeof path, &e)) {
        json_decref(row);
        reply_err(r, &e);
        return;
    }
    snprintf(etag, sizeof etag, "\"%s\"", ps);
    snprintf(shape, sizeof shape, "%lld,%lld", (long long)json_integer_value(json_object_get(row, "n")),
             (long long)json_integer_value(json_object_get(row, "classes")));
    reply_add_header(r, "X-Shape", shape);
    reply_add_header(r, "X-Image-Ids-Sha256", json_string_value(json_object_get(row, "image_ids_sha256")));
    json_decref(row);
    reply_file(r, path, "application/octet-stream", etag);
}

void route_teacher_outputs_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    if (teacher_store_delete(r->app, id, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_no_content(r);
}
