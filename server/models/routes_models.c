/* routes_models.c — the model registry (register by server path or .tar upload,
 * list, read, delete) and teacher outputs (start the teacher.outputs job, upload a
 * predictions file, list, read with accuracy per split, download probabilities as
 * paged JSON or as the raw float32 matrix).
 *
 * Registration runs the model check in the request (one load, one probe batch per
 * method): the caller gets the field-named 422 at once instead of a failed job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "dataset/dataset_store.h"
#include "db_json.h"
#include "jobs.h"
#include "models/model_registry.h"
#include "models/routes_models.h"
#include "teacher/teacher.h"

#define PROBS_PAGE_MAX 1000

static void reply_model_created(req *r, json_t *model) {
    reply_json_at(r, 201, model, "/api/v1/models/%lld", (long long)json_integer_value(json_object_get(model, "id")));
}

/* ---- models ------------------------------------------------------------------ */

void route_models_list(req *r) {
    const char *kind = req_query(r, "kind");
    if (kind && strcmp(kind, "teacher") && strcmp(kind, "concept")) {
        reply_error(r, 400, "bad_request", "kind must be teacher or concept");
        return;
    }
    req_page pg;
    if (!req_page_or_reply(r, 500, 100, REQ_OFFSET_MAX, &pg)) return;
    const char *p[] = {kind, pg.limit_text, pg.offset_text};
    err e = {0};
    json_t *page = db_json(
        r->app, "no models",
        "SELECT json_build_object('items', COALESCE((SELECT json_agg(x ORDER BY x.id) FROM ("
        "  SELECT m.id, m.name, m.kind, m.encoder, m.manifest->'classes' AS classes,"
        "         m.manifest->'embedding_dim' AS embedding_dim, m.manifest->'input' AS input, m.sha256,"
        "         m.created_by, m.created_at FROM models m WHERE ($1::text IS NULL OR m.kind = $1)"
        "  ORDER BY m.id LIMIT $2::int OFFSET $3::int) x), '[]'::json),"
        " 'total', (SELECT count(*) FROM models WHERE ($1::text IS NULL OR kind = $1)),"
        " 'limit', $2::int, 'offset', $3::int)::text",
        3, p, &e);
    reply_json_or_err(r, 200, page, &e);
}

void route_models_create(req *r) {
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) {
        if (strcmp(key, "name") && strcmp(key, "path")) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return;
        }
    }
    const char *name = json_req_string_or_reply(r, r->json, "name", MODEL_NAME_MAX);
    if (!name) return;
    const char *path = json_req_string_or_reply(r, r->json, "path", 4000);
    if (!path) return;
    err e = {0};
    json_t *model = NULL;
    if (model_registry_register(r->app, name, path, r->user_id, &model, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_model_created(r, model);
}

void route_models_upload(req *r) {
    const char *name = req_query(r, "name");
    if (!name || !name[0]) {
        reply_error(r, 422, "unprocessable", "query parameter 'name' is required");
        return;
    }
    if (!r->body_path || r->body_len == 0) {
        reply_error(r, 422, "unprocessable", "send the model folder as a .tar archive in the body");
        return;
    }
    err e = {0};
    json_t *model = NULL;
    if (model_registry_register_tar(r->app, name, r->body_path, r->user_id, &model, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_model_created(r, model);
}

void route_models_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *m = model_registry_get_json(r->app, id, &e);
    reply_json_or_err(r, 200, m, &e);
}

void route_models_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    if (model_registry_delete(r->app, id, &e)) {
        reply_err(r, &e);
        return;
    }
    reply_no_content(r);
}

/* ---- teacher outputs ------------------------------------------------------------ */

#define TEACHER_OUTPUT_JSON                                                                               \
    "json_build_object('id', t.id, 'dataset_id', t.dataset_id, 'model_id', t.model_id, 'source', t.source," \
    " 'name', t.name, 'classes', t.classes, 'n', t.n, 'probs_sha256', t.probs_sha256,"                      \
    " 'image_ids_sha256', t.image_ids_sha256, 'logit_rows', t.logit_rows, 'job_id', t.job_id,"             \
    " 'created_by', t.created_by, 'created_at', t.created_at)"

static json_t *dataset_exists(req *r, int64_t id, err *e) {
    return db_json_by_id(r->app, "dataset", id,
                         "SELECT json_build_object('name', name, 'classes', classes)::text FROM datasets WHERE id = $1", e);
}

void route_teacher_outputs_create(req *r) {
    int64_t ds = req_id_or_reply(r, 0);
    if (ds < 0) return;
    int64_t model_id;
    if (json_req_int_or_reply(r, r->json, "model_id", 1, INT64_MAX, &model_id)) return;
    err e = {0};
    json_t *d = dataset_exists(r, ds, &e);
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
        teacher_outputs_store(r->app, &d, 0, name, probs, logits, 0, r->user_id, &out_id, &e)) {
        free(probs);
        dataset_images_free(&d);
        reply_err(r, &e);
        return;
    }
    free(probs);
    dataset_images_free(&d);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)out_id);
    const char *p[] = {ids};
    json_t *row = db_json(r->app, "gone", "SELECT " TEACHER_OUTPUT_JSON "::text FROM teacher_outputs t WHERE t.id = $1", 1,
                          p, &e);
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
    json_t *d = dataset_exists(r, ds, &e);
    if (!d) {
        reply_err(r, &e);
        return;
    }
    json_decref(d);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)ds);
    const char *p[] = {ids};
    json_t *items = db_json(r->app, "none",
                            "SELECT COALESCE(json_agg(" TEACHER_OUTPUT_JSON " ORDER BY t.id), '[]'::json)::text"
                            " FROM teacher_outputs t WHERE t.dataset_id = $1",
                            1, p, &e);
    if (!items) {
        reply_err(r, &e);
        return;
    }
    reply_json(r, 200, json_pack("{s:o}", "items", items));
}

static json_t *output_row(req *r, int64_t id, err *e) {
    return db_json_by_id(r->app, "teacher output", id,
                         "SELECT " TEACHER_OUTPUT_JSON "::text FROM teacher_outputs t WHERE t.id = $1", e);
}

/* The two blobs of a row, verified: probs (n, c) and ids (n). */
static int output_blobs(req *r, json_t *row, float **probs, int64_t **ids, size_t *n, size_t *c, err *e) {
    const char *ps = json_string_value(json_object_get(row, "probs_sha256"));
    const char *is = json_string_value(json_object_get(row, "image_ids_sha256"));
    *n = (size_t)json_integer_value(json_object_get(row, "n"));
    *c = (size_t)json_integer_value(json_object_get(row, "classes"));
    uint8_t *pb = NULL, *ib = NULL;
    size_t pl, il;
    if (blobstore_read(r->app->cfg.data_dir, ps, &pb, &pl, e) || blobstore_read(r->app->cfg.data_dir, is, &ib, &il, e)) {
        free(pb);
        return -1;
    }
    if (pl != *n * *c * sizeof(float) || il != *n * sizeof(int64_t)) {
        free(pb);
        free(ib);
        return err_set(e, ERR_INTERNAL, "teacher output blobs do not match their row's shape");
    }
    *probs = (float *)pb;
    *ids = (int64_t *)ib;
    return 0;
}

void route_teacher_outputs_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *row = output_row(r, id, &e);
    if (!row) {
        reply_err(r, &e);
        return;
    }
    float *probs = NULL;
    int64_t *ids = NULL;
    size_t n, c;
    dataset_images d;
    if (output_blobs(r, row, &probs, &ids, &n, &c, &e) ||
        dataset_store_load(r->app, json_integer_value(json_object_get(row, "dataset_id")), &d, &e)) {
        free(probs);
        free(ids);
        json_decref(row);
        reply_err(r, &e);
        return;
    }
    /* Accuracy of the teacher's top class against the labels, per split; both id
     * lists are ascending, so one merge pass pairs them. */
    json_t *acc = json_object();
    size_t all_n = 0, all_ok = 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        while (k < d.n && d.ids[k] < ids[i]) k++;
        if (k == d.n || d.ids[k] != ids[i] || d.labels[k] < 0 || c != d.n_classes) continue;
        const float *p = probs + i * c;
        size_t best = 0;
        for (size_t j = 1; j < c; j++) best = p[j] > p[best] ? j : best;
        int ok = best == (size_t)d.labels[k];
        const char *split = d.splits[k][0] ? d.splits[k] : "all";
        json_t *s = json_object_get(acc, split);
        if (!s) json_object_set_new(acc, split, s = json_pack("{s:i,s:i}", "n", 0, "correct", 0));
        json_object_set_new(s, "n", json_integer(json_integer_value(json_object_get(s, "n")) + 1));
        json_object_set_new(s, "correct", json_integer(json_integer_value(json_object_get(s, "correct")) + ok));
        all_n++;
        all_ok += ok;
    }
    const char *key;
    json_t *s;
    json_object_foreach(acc, key, s) {
        json_int_t sn = json_integer_value(json_object_get(s, "n"));
        json_object_set_new(s, "accuracy", json_real(sn ? (double)json_integer_value(json_object_get(s, "correct")) / sn : 0));
    }
    if (!json_object_get(acc, "all"))
        json_object_set_new(acc, "all", json_pack("{s:I,s:I,s:f}", "n", (json_int_t)all_n, "correct", (json_int_t)all_ok,
                                                  "accuracy", all_n ? (double)all_ok / all_n : 0.0));
    json_object_set_new(row, "accuracy", acc);
    json_t *names = json_array();
    for (size_t j = 0; j < d.n_classes; j++) json_array_append_new(names, json_string(d.classes[j]));
    json_object_set_new(row, "class_names", names);
    free(probs);
    free(ids);
    dataset_images_free(&d);
    reply_json(r, 200, row);
}

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
    const long limit = pg.limit, offset = pg.offset;
    err e = {0};
    json_t *row = output_row(r, id, &e);
    if (!row) {
        reply_err(r, &e);
        return;
    }
    if (format && !strcmp(format, "f32")) {
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
        return;
    }
    float *probs = NULL;
    int64_t *ids = NULL;
    size_t n, c;
    if (output_blobs(r, row, &probs, &ids, &n, &c, &e)) {
        json_decref(row);
        reply_err(r, &e);
        return;
    }
    /* Rows in the split: the images of that split, intersected with the stored ids. */
    size_t *rows = malloc((n + 1) * sizeof *rows), nrows = 0;
    const char *split = req_query(r, "split");
    if (rows && split) {
        char ds[24];
        snprintf(ds, sizeof ds, "%lld", (long long)json_integer_value(json_object_get(row, "dataset_id")));
        const char *p[] = {ds, split};
        PGconn *conn = db_acquire(r->app->db, &e);
        PGresult *res = conn ? db_exec(conn, "SELECT id FROM images WHERE dataset_id = $1 AND split = $2 ORDER BY id", 2,
                                       p, &e)
                             : NULL;
        if (conn) db_release(r->app->db, conn);
        if (!res) {
            free(rows), free(probs), free(ids), json_decref(row);
            reply_err(r, &e);
            return;
        }
        for (int k = 0, m = PQntuples(res), i = 0; k < m; k++) {
            int64_t want = strtoll(PQgetvalue(res, k, 0), NULL, 10);
            while ((size_t)i < n && ids[i] < want) i++;
            if ((size_t)i < n && ids[i] == want) rows[nrows++] = (size_t)i;
        }
        PQclear(res);
    } else if (rows) {
        for (size_t i = 0; i < n; i++) rows[nrows++] = i;
    }
    json_t *items = json_array();
    for (size_t k = (size_t)offset; rows && k < nrows && k < (size_t)offset + (size_t)limit; k++) {
        json_t *pr = json_array();
        for (size_t j = 0; j < c; j++) json_array_append_new(pr, json_real(probs[rows[k] * c + j]));
        json_array_append_new(items, json_pack("{s:I,s:o}", "image_id", (json_int_t)ids[rows[k]], "probs", pr));
    }
    json_t *page = json_pack("{s:o,s:I,s:i,s:i,s:I,s:I}", "items", items, "total", (json_int_t)nrows, "limit", (int)limit,
                             "offset", (int)offset, "classes", (json_int_t)c, "teacher_output_id", (json_int_t)id);
    free(rows);
    free(probs);
    free(ids);
    json_decref(row);
    reply_json(r, 200, page);
}

void route_teacher_outputs_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *gone =
        db_json_by_id(r->app, "teacher output", id, "DELETE FROM teacher_outputs WHERE id = $1 RETURNING '1'", &e);
    if (!gone) {
        reply_err(r, &e);
        return;
    }
    json_decref(gone);
    reply_no_content(r);
}
