/* dataset_store.c — every statement on `datasets` and `images` that writes, and the
 * reads the routes and the computing stages share (contract in dataset_store.h).
 *
 * The JSON of a dataset is built by PostgreSQL (DATASET_JSON), so the routes, the
 * create's RETURNING and the list answer with one shape.
 */
#include "dataset/dataset_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_json.h"

/* {id, name, description, classes, created_by, created_at, image_count,
 *  splits: {split: n}} for the row aliased d. */
#define DATASET_JSON                                                                                    \
    "json_build_object('id', d.id, 'name', d.name, 'description', d.description,"                     \
    " 'classes', to_json(d.classes), 'created_by', d.created_by, 'created_at', d.created_at,"          \
    " 'image_count', (SELECT count(*) FROM images i WHERE i.dataset_id = d.id),"                       \
    " 'splits', (SELECT coalesce(json_object_agg(s.split, s.n ORDER BY s.split), '{}')"                \
    "   FROM (SELECT split, count(*) AS n FROM images i WHERE i.dataset_id = d.id GROUP BY split) s))"

static void id_text(char *buf, size_t cap, int64_t id) { snprintf(buf, cap, "%lld", (long long)id); }

/* ---- datasets ---------------------------------------------------------------- */

json_t *dataset_store_create(app *a, const char *name, const char *description, int64_t user_id, err *e) {
    char uid[32];
    id_text(uid, sizeof uid, user_id);
    const char *p[] = {name, description ? description : "", user_id > 0 ? uid : NULL};
    json_t *d = db_json(a, NULL,
                        "INSERT INTO datasets AS d (name, description, created_by) VALUES ($1, $2, $3::bigint)"
                        " RETURNING " DATASET_JSON "::text",
                        3, p, e);
    if (!d && e && e->code == ERR_CONFLICT) {
        err_clear(e);
        err_set(e, ERR_CONFLICT, "a dataset named '%s' already exists", name);
    }
    return d;
}

/* A plain INSERT ... ON CONFLICT on every call would burn a sequence value per run,
 * so look first; a creator racing us makes the insert return no row: read again. */
int64_t dataset_store_find_or_create(app *a, const char *name, const char *description, err *e) {
    const char *p[] = {name, description ? description : ""};
    for (int tries = 0; tries < 2; tries++) {
        int64_t id = db_json_id(a, "SELECT id::text FROM datasets WHERE name = $1", 1, p, e);
        if (id) return id;
        id = db_json_id(a,
                      "INSERT INTO datasets(name, description) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
                      " RETURNING id::text",
                      2, p, e);
        if (id) return id;
    }
    return err_set(e, ERR_INTERNAL, "could not create the dataset '%s'", name), -1;
}

json_t *dataset_store_get_json(app *a, int64_t id, err *e) {
    return db_json_by_id(a, "dataset", id, "SELECT " DATASET_JSON "::text FROM datasets d WHERE d.id = $1::bigint", e);
}

json_t *dataset_store_head_json(app *a, int64_t id, err *e) {
    return db_json_by_id(a, "dataset", id,
                         "SELECT json_build_object('name', name, 'classes', classes)::text FROM datasets WHERE id = $1", e);
}

json_t *dataset_store_list_json(app *a, long limit, long offset, err *e) {
    char ls[24], os[24];
    snprintf(ls, sizeof ls, "%ld", limit);
    snprintf(os, sizeof os, "%ld", offset);
    const char *p[] = {ls, os};
    return db_json(a, NULL,
                   "SELECT json_build_object("
                   " 'items', coalesce((SELECT json_agg(" DATASET_JSON " ORDER BY d.id)"
                   "   FROM (SELECT * FROM datasets ORDER BY id LIMIT $1::int OFFSET $2::int) d), '[]'),"
                   " 'total', (SELECT count(*) FROM datasets), 'limit', $1::int, 'offset', $2::int)::text",
                   2, p, e);
}

/* Refused while a job names the dataset: an import would fail half-way, other
 * stages read its images. */
int dataset_store_delete(app *a, int64_t id, err *e) {
    char ids[32];
    id_text(ids, sizeof ids, id);
    const char *p[] = {ids, ids};
    json_t *res = db_json(a, NULL,
                          "WITH busy AS (SELECT id FROM jobs WHERE state IN ('queued', 'running')"
                          "   AND params->>'dataset_id' = $1::text ORDER BY id LIMIT 1),"
                          " gone AS (DELETE FROM datasets WHERE id = $2::bigint AND NOT EXISTS (SELECT 1 FROM busy)"
                          "   RETURNING id)"
                          " SELECT json_build_object('deleted', (SELECT count(*) FROM gone),"
                          "   'exists', EXISTS (SELECT 1 FROM datasets WHERE id = $2::bigint),"
                          "   'busy_job', (SELECT id FROM busy))::text",
                          2, p, e);
    if (!res) return -1;
    int deleted = json_integer_value(json_object_get(res, "deleted")) > 0;
    int exists = json_is_true(json_object_get(res, "exists"));
    json_int_t busy = json_integer_value(json_object_get(res, "busy_job"));
    json_decref(res);
    if (deleted) return 0;
    if (!exists) return err_set(e, ERR_NOT_FOUND, "no dataset %lld", (long long)id);
    return err_set(e, ERR_CONFLICT, "job %lld is working on dataset %lld; cancel it or wait for it to finish",
                   (long long)busy, (long long)id);
}

/* ---- images ------------------------------------------------------------------ */

json_t *dataset_store_images_page(app *a, int64_t id, const char *split, long label, long limit, long offset,
                                  err *e) {
    char ids[32], labs[32], ls[24], os[24], what[48];
    id_text(ids, sizeof ids, id);
    snprintf(labs, sizeof labs, "%ld", label);
    snprintf(ls, sizeof ls, "%ld", limit);
    snprintf(os, sizeof os, "%ld", offset);
    snprintf(what, sizeof what, "no dataset %lld", (long long)id);
    const char *p[] = {ids, split, label >= 0 ? labs : NULL, ls, os};
    return db_json(
        a, what,
        "WITH d AS (SELECT id, classes FROM datasets WHERE id = $1::bigint),"
        " f AS (SELECT i.id, i.split, i.label, i.width, i.height, i.sha256 FROM images i, d"
        "   WHERE i.dataset_id = d.id AND ($2::text IS NULL OR i.split = $2) AND ($3::int IS NULL OR i.label = $3::int))"
        " SELECT json_build_object("
        "  'items', coalesce((SELECT json_agg(json_build_object('id', p.id, 'split', p.split, 'label', p.label,"
        "     'class', d.classes[p.label + 1], 'width', p.width, 'height', p.height, 'sha256', p.sha256) ORDER BY p.id)"
        "     FROM (SELECT * FROM f ORDER BY id LIMIT $4::int OFFSET $5::int) p), '[]'),"
        "  'total', (SELECT count(*) FROM f), 'limit', $4::int, 'offset', $5::int)::text FROM d",
        5, p, e);
}

int dataset_store_image_sha(app *a, int64_t image_id, char sha[BLOBSTORE_HEX_LEN + 1], err *e) {
    json_t *row = db_json_by_id(a, "image", image_id, "SELECT to_json(sha256)::text FROM images WHERE id = $1::bigint", e);
    if (!row) return -1;
    snprintf(sha, BLOBSTORE_HEX_LEN + 1, "%s", json_string_value(row) ? json_string_value(row) : "");
    json_decref(row);
    if (!blobstore_valid_hex(sha)) return err_set(e, ERR_INTERNAL, "image %lld has a malformed sha256", (long long)image_id);
    return 0;
}

long dataset_store_image_count(app *a, int64_t id, err *e) {
    char ids[24];
    id_text(ids, sizeof ids, id);
    const char *p[] = {ids};
    json_t *v = db_json(a, NULL, "SELECT count(*)::text FROM images WHERE dataset_id = $1", 1, p, e);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(v);
    return n;
}

int dataset_store_split_ids(app *a, int64_t id, const char *split, int64_t **ids, size_t *n, err *e) {
    *ids = NULL;
    *n = 0;
    char ds[24];
    id_text(ds, sizeof ds, id);
    const char *p[] = {ds, split};
    PGconn *c = db_acquire(a->db, e);
    PGresult *r = c ? db_exec(c, "SELECT id FROM images WHERE dataset_id = $1 AND split = $2 ORDER BY id", 2, p, e) : NULL;
    if (c) db_release(a->db, c);
    if (!r) return -1;
    size_t m = (size_t)PQntuples(r);
    int64_t *out = malloc((m + 1) * sizeof *out); // (m)
    if (!out) {
        PQclear(r);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t k = 0; k < m; k++) out[k] = strtoll(PQgetvalue(r, (int)k, 0), NULL, 10);
    PQclear(r);
    *ids = out;
    *n = m;
    return 0;
}

/* ---- inside an import's transaction --------------------------------------------- */

int dataset_store_add_classes(PGconn *c, int64_t id, const json_t *want, json_t **classes, err *e) {
    *classes = NULL;
    char ids[32];
    id_text(ids, sizeof ids, id);
    const char *p[] = {ids};
    PGresult *r = db_exec(c, "SELECT array_to_json(classes)::text FROM datasets WHERE id = $1::bigint FOR UPDATE",
                          1, p, e);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return err_set(e, ERR_NOT_FOUND, "dataset %s does not exist (deleted during the import?)", ids);
    }
    json_t *have = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    if (!json_is_array(have)) {
        json_decref(have);
        return err_set(e, ERR_INTERNAL, "dataset %s: unreadable class list", ids);
    }
    int changed = 0;
    size_t i, j;
    json_t *w;
    json_array_foreach(want, i, w) {
        int found = 0;
        json_t *h;
        json_array_foreach(have, j, h) if (!strcmp(json_string_value(h), json_string_value(w))) {
            found = 1;
            break;
        }
        if (!found) {
            json_array_append(have, w);
            changed = 1;
        }
    }
    if (changed) {
        char *text = json_dumps(have, JSON_COMPACT);
        const char *q[] = {ids, text};
        int rc = text ? db_run(c,
                               "UPDATE datasets SET classes = (SELECT coalesce(array_agg(v ORDER BY n), '{}')"
                               " FROM json_array_elements_text($2::json) WITH ORDINALITY AS t(v, n))"
                               " WHERE id = $1::bigint",
                               2, q, e)
                      : err_set(e, ERR_INTERNAL, "out of memory");
        free(text);
        if (rc) {
            json_decref(have);
            return -1;
        }
    }
    *classes = have;
    return 0;
}

/* The rows go to PostgreSQL as one JSON array (json_to_recordset), which needs no
 * array quoting. */
int dataset_store_add_images(PGconn *c, int64_t id, const json_t *rows, json_t *split_counts, long *inserted,
                             err *e) {
    *inserted = 0;
    char *text = json_dumps(rows, JSON_COMPACT);
    if (!text) return err_set(e, ERR_INTERNAL, "out of memory");
    char ids[32];
    id_text(ids, sizeof ids, id);
    const char *p[] = {ids, text};
    PGresult *r = db_exec(c,
                          "INSERT INTO images(dataset_id, split, label, sha256, width, height, bytes, source_name)"
                          " SELECT $1::bigint, split, label, sha256, width, height, bytes, source_name"
                          " FROM json_to_recordset($2::json) AS t(split text, label int, sha256 text, width int,"
                          "   height int, bytes bigint, source_name text)"
                          " ON CONFLICT (dataset_id, sha256) DO NOTHING RETURNING split",
                          2, p, e);
    free(text);
    if (!r) return -1;
    int n = PQntuples(r);
    for (int i = 0; i < n && split_counts; i++) {
        const char *s = PQgetvalue(r, i, 0);
        json_t *cur = json_object_get(split_counts, s);
        json_object_set_new(split_counts, s, json_integer((cur ? json_integer_value(cur) : 0) + 1));
    }
    PQclear(r);
    *inserted = n;
    return 0;
}

/* ---- a whole dataset ------------------------------------------------------------- */

void dataset_images_free(dataset_images *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n_classes; i++) free(d->classes[i]);
    for (size_t i = 0; i < d->n; i++) {
        if (d->shas) free(d->shas[i]);
        if (d->splits) free(d->splits[i]);
    }
    free(d->classes);
    free(d->shas);
    free(d->splits);
    free(d->ids);
    free(d->labels);
    free(d->name);
    memset(d, 0, sizeof *d);
}

int dataset_store_load(app *a, int64_t id, dataset_images *d, err *e) {
    memset(d, 0, sizeof *d);
    d->id = id;
    char ids[24], what[48];
    id_text(ids, sizeof ids, id);
    snprintf(what, sizeof what, "no dataset %lld", (long long)id);
    const char *p[] = {ids};
    json_t *ds = db_json(a, what, "SELECT json_build_object('name', d.name, 'classes', d.classes)::text"
                                  " FROM datasets d WHERE d.id = $1", 1, p, e);
    if (!ds) return -1;
    json_t *cls = json_object_get(ds, "classes");
    d->name = strdup(json_string_value(json_object_get(ds, "name")) ? json_string_value(json_object_get(ds, "name")) : "");
    d->n_classes = json_array_size(cls);
    d->classes = calloc(d->n_classes + 1, sizeof(char *));
    for (size_t i = 0; d->classes && i < d->n_classes; i++) {
        const char *s = json_string_value(json_array_get(cls, i));
        d->classes[i] = strdup(s ? s : "");
    }
    json_decref(ds);
    if (!d->classes || !d->name) goto oom;

    PGconn *c = db_acquire(a->db, e);
    if (!c) goto fail;
    PGresult *r = db_exec(c, "SELECT id, sha256, COALESCE(split, ''), label FROM images"
                             " WHERE dataset_id = $1 ORDER BY id", 1, p, e);
    db_release(a->db, c);
    if (!r) goto fail;
    d->n = (size_t)PQntuples(r);
    d->ids = malloc((d->n + 1) * sizeof *d->ids);
    d->shas = calloc(d->n + 1, sizeof *d->shas);
    d->splits = calloc(d->n + 1, sizeof *d->splits);
    d->labels = malloc((d->n + 1) * sizeof *d->labels);
    if (!d->ids || !d->shas || !d->splits || !d->labels) {
        d->n = 0;
        PQclear(r);
        goto oom;
    }
    for (size_t i = 0; i < d->n; i++) {
        d->ids[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
        d->shas[i] = strdup(PQgetvalue(r, (int)i, 1));
        d->splits[i] = strdup(PQgetvalue(r, (int)i, 2));
        d->labels[i] = PQgetisnull(r, (int)i, 3) ? -1 : atoi(PQgetvalue(r, (int)i, 3));
        if (d->labels[i] >= (int)d->n_classes) d->labels[i] = -1;
    }
    PQclear(r);
    return 0;
oom:
    err_set(e, ERR_INTERNAL, "out of memory");
fail:
    dataset_images_free(d);
    return -1;
}
