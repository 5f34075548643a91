/* teacher_store.c — every statement that writes `teacher_outputs`, and the reads
 * the teacher-output routes answer with (contract in teacher_store.h).
 *
 * A row is written after both of its blobs (docs/ARCHITECTURE.md, "Faults"), in one
 * upsert statement, so a reader sees the old row or the new one, never half.
 */
#include "teacher/teacher_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "db.h"
#include "db_json.h"

/* One JSON object per row t. */
#define TEACHER_OUTPUT_JSON                                                                               \
    "json_build_object('id', t.id, 'dataset_id', t.dataset_id, 'model_id', t.model_id, 'source', t.source," \
    " 'name', t.name, 'classes', t.classes, 'n', t.n, 'probs_sha256', t.probs_sha256,"                      \
    " 'image_ids_sha256', t.image_ids_sha256, 'logit_rows', t.logit_rows, 'job_id', t.job_id,"             \
    " 'created_by', t.created_by, 'created_at', t.created_at)"

/* ---- writes ------------------------------------------------------------------ */

int teacher_store_put(app *a, const dataset_images *d, int64_t model_id, const char *name, const float *probs,
                      size_t n_logit_rows, int64_t job_id, int64_t user_id, int64_t *out_id, err *e) {
    char probs_sha[BLOBSTORE_HEX_LEN + 1], ids_sha[BLOBSTORE_HEX_LEN + 1];
    /* Little-endian on disk; every host we build for is little-endian already. */
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "blobs are little-endian");
    if (blobstore_put(a->cfg.data_dir, probs, d->n * d->n_classes * sizeof(float), probs_sha, e) ||
        blobstore_put(a->cfg.data_dir, d->ids, d->n * sizeof(int64_t), ids_sha, e))
        return -1;
    char ds[24], mid[24], cls[24], n[24], lr[24], jid[24], uid[24];
    snprintf(ds, sizeof ds, "%lld", (long long)d->id);
    snprintf(mid, sizeof mid, "%lld", (long long)model_id);
    snprintf(cls, sizeof cls, "%zu", d->n_classes);
    snprintf(n, sizeof n, "%zu", d->n);
    snprintf(lr, sizeof lr, "%zu", n_logit_rows);
    snprintf(jid, sizeof jid, "%lld", (long long)job_id);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *p[] = {ds, model_id > 0 ? mid : NULL, model_id > 0 ? "model" : "file", name, cls, n,
                       probs_sha, ids_sha, lr, job_id > 0 ? jid : NULL, user_id > 0 ? uid : NULL};
    /* One statement: a re-run replaces the row in place (same id), atomically. */
    const char *sql =
        model_id > 0
            ? "INSERT INTO teacher_outputs (dataset_id, model_id, source, name, classes, n, probs_sha256,"
              " image_ids_sha256, logit_rows, job_id, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
              " ON CONFLICT (dataset_id, model_id) DO UPDATE SET name = EXCLUDED.name, classes = EXCLUDED.classes,"
              " n = EXCLUDED.n, probs_sha256 = EXCLUDED.probs_sha256, image_ids_sha256 = EXCLUDED.image_ids_sha256,"
              " logit_rows = EXCLUDED.logit_rows, job_id = EXCLUDED.job_id, created_by = EXCLUDED.created_by,"
              " created_at = now() RETURNING id"
            : "INSERT INTO teacher_outputs (dataset_id, model_id, source, name, classes, n, probs_sha256,"
              " image_ids_sha256, logit_rows, job_id, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
              " ON CONFLICT (dataset_id, name) WHERE source = 'file' DO UPDATE SET classes = EXCLUDED.classes,"
              " n = EXCLUDED.n, probs_sha256 = EXCLUDED.probs_sha256, image_ids_sha256 = EXCLUDED.image_ids_sha256,"
              " logit_rows = EXCLUDED.logit_rows, created_by = EXCLUDED.created_by, created_at = now() RETURNING id";
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, sql, 11, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    *out_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}


int teacher_store_delete(app *a, int64_t id, err *e) {
    json_t *gone = db_json_by_id(a, "teacher output", id, "DELETE FROM teacher_outputs WHERE id = $1 RETURNING '1'", e);
    if (!gone) return -1;
    json_decref(gone);
    return 0;
}

/* ---- reads ------------------------------------------------------------------- */

json_t *teacher_store_get_json(app *a, int64_t id, err *e) {
    return db_json_by_id(a, "teacher output", id,
                         "SELECT " TEACHER_OUTPUT_JSON "::text FROM teacher_outputs t WHERE t.id = $1", e);
}

json_t *teacher_store_list_json(app *a, int64_t dataset_id, err *e) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)dataset_id);
    const char *p[] = {ids};
    return db_json(a, "none",
                   "SELECT COALESCE(json_agg(" TEACHER_OUTPUT_JSON " ORDER BY t.id), '[]'::json)::text"
                   " FROM teacher_outputs t WHERE t.dataset_id = $1",
                   1, p, e);
}

/* The two blobs of a row, verified: probs (n, c) and ids (n). */
static int read_arrays(app *a, const json_t *row, float **probs, int64_t **ids, size_t *n, size_t *c, err *e) {
    const char *ps = json_string_value(json_object_get(row, "probs_sha256"));
    const char *is = json_string_value(json_object_get(row, "image_ids_sha256"));
    *n = (size_t)json_integer_value(json_object_get(row, "n"));
    *c = (size_t)json_integer_value(json_object_get(row, "classes"));
    uint8_t *pb = NULL, *ib = NULL;
    size_t pl, il;
    if (blobstore_read(a->cfg.data_dir, ps, &pb, &pl, e) || blobstore_read(a->cfg.data_dir, is, &ib, &il, e)) {
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

/* {split | "all": {n, correct, accuracy}} of the top class of probs (n, c) against
 * d's labels. Both id lists are ascending, so one merge pass pairs them. */
static json_t *accuracy_per_split(const float *probs, const int64_t *ids, size_t n, size_t c, const dataset_images *d) {
    json_t *acc = json_object();
    size_t all_n = 0, all_ok = 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        while (k < d->n && d->ids[k] < ids[i]) k++;
        if (k == d->n || d->ids[k] != ids[i] || d->labels[k] < 0 || c != d->n_classes) continue;
        const float *p = probs + i * c;
        size_t best = 0;
        for (size_t j = 1; j < c; j++) best = p[j] > p[best] ? j : best;
        int ok = best == (size_t)d->labels[k];
        const char *split = d->splits[k][0] ? d->splits[k] : "all";
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
    return acc;
}

json_t *teacher_store_describe(app *a, int64_t id, err *e) {
    json_t *row = teacher_store_get_json(a, id, e);
    if (!row) return NULL;
    float *probs = NULL;
    int64_t *ids = NULL;
    size_t n, c;
    dataset_images d;
    if (read_arrays(a, row, &probs, &ids, &n, &c, e) ||
        dataset_store_load(a, json_integer_value(json_object_get(row, "dataset_id")), &d, e)) {
        free(probs);
        free(ids);
        json_decref(row);
        return NULL;
    }
    json_object_set_new(row, "accuracy", accuracy_per_split(probs, ids, n, c, &d));
    json_t *names = json_array();
    for (size_t j = 0; j < d.n_classes; j++) json_array_append_new(names, json_string(d.classes[j]));
    json_object_set_new(row, "class_names", names);
    free(probs);
    free(ids);
    dataset_images_free(&d);
    return row;
}

json_t *teacher_store_probs_page(app *a, int64_t id, const char *split, long limit, long offset, err *e) {
    json_t *row = teacher_store_get_json(a, id, e);
    if (!row) return NULL;
    float *probs = NULL;
    int64_t *ids = NULL;
    size_t n, c;
    if (read_arrays(a, row, &probs, &ids, &n, &c, e)) {
        json_decref(row);
        return NULL;
    }
    /* Rows in the split: the images of that split, intersected with the stored ids. */
    size_t *rows = malloc((n + 1) * sizeof *rows), nrows = 0;
    if (rows && split) {
        int64_t *want = NULL;
        size_t m = 0;
        if (dataset_store_split_ids(a, json_integer_value(json_object_get(row, "dataset_id")), split, &want, &m, e)) {
            free(rows), free(probs), free(ids), json_decref(row);
            return NULL;
        }
        for (size_t k = 0, i = 0; k < m; k++) {
            while (i < n && ids[i] < want[k]) i++;
            if (i < n && ids[i] == want[k]) rows[nrows++] = i;
        }
        free(want);
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
    return page;
}
