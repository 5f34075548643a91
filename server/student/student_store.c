/* student_store.c — the rows of students, student_versions and student_provenance:
 * loading a student and a whole version, storing a new version under the student's row
 * lock, creating a student with its first version (see student_store.h).
 */
#include "student/student_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore.h"
#include "db.h"
#include "log.h"
#include "student/student_query_row.h"

/* ---- loading ------------------------------------------------------------------ */


int ss_student_load(app *a, int64_t id, ss_student *s, err *e) {
    char ids[24], what[48], row[6][80];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(what, sizeof what, "no student %lld", (long long)id);
    const char *p[] = {ids};
    memset(s, 0, sizeof *s);
    if (ss_query_row(a, what,
                     "SELECT dataset_id, teacher_output_id, extraction_id, presence_sha256, probs_sha256, lambda"
                     " FROM students WHERE id = $1",
                     1, p, 6, row, NULL, e))
        return -1;
    s->id = id;
    s->dataset_id = atoll(row[0]), s->teacher_output_id = atoll(row[1]), s->extraction_id = atoll(row[2]);
    snprintf(s->presence_sha, sizeof s->presence_sha, "%.64s", row[3]);
    snprintf(s->probs_sha, sizeof s->probs_sha, "%.64s", row[4]);
    s->lambda = strtod(row[5], NULL);
    return 0;
}

/* A version from before migration 008 has no column hash: once its student's whole
 * presence matrix is found unchanged, every such version of the student (they share
 * the distillation's concept list) gets the hash of its columns. */
static void legacy_columns_record(app *a, const ss_student *s, const ss_version *v, const char *sha) {
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)s->id);
    char *arr = db_text_array(v->concepts, v->d);
    const char *p[] = {sid, sha, arr};
    err e = {0};
    PGconn *c = arr ? db_acquire(a->db, &e) : NULL;
    if (c && db_run(c, "UPDATE student_versions SET columns_sha256 = $2 WHERE student_id = $1"
                       " AND columns_sha256 IS NULL AND concepts = $3::text[]", 3, p, &e))
        log_warn("student %lld: column hashes not recorded: %s", (long long)s->id, e.msg);
    if (c) db_release(a->db, c);
    free(arr);
}

int ss_student_base(app *a, const ss_student *s, const ss_version *v, ss_problem **out, err *e) {
    *out = NULL;
    ss_problem *base = NULL;
    if (ss_problem_get(a, s->extraction_id, s->teacher_output_id, &base, e)) return -1;
    char sha[65];
    const char *missing = NULL;
    int bad_cols = ss_problem_columns_sha(base, v->concepts, v->d, sha, &missing);
    if (strcmp(base->probs_sha, s->probs_sha)) {
        err_set(e, ERR_CONFLICT, "student %lld is stale: its teacher output was recomputed since it was distilled;"
                " distil a new student", (long long)s->id);
    } else if (bad_cols && missing) {
        err_set(e, ERR_CONFLICT, "student %lld is stale for version %d: its concept '%s' is no longer in extraction"
                " %lld (add the word to the corpus again to use this version)", (long long)s->id, v->number,
                missing, (long long)s->extraction_id);
    } else if (bad_cols) {
        err_set(e, ERR_INTERNAL, "out of memory");
    } else if (v->columns_sha[0] ? strcmp(sha, v->columns_sha) != 0 : strcmp(base->presence_sha, s->presence_sha) != 0) {
        err_set(e, ERR_CONFLICT, "student %lld is stale: the presence of its concepts was recomputed since version %d"
                " was made; distil a new student", (long long)s->id, v->number);
    } else {
        if (!v->columns_sha[0]) legacy_columns_record(a, s, v, sha);
        *out = base;
        return 0;
    }
    ss_problem_release(base);
    return -1;
}

int ss_student_problem(app *a, const ss_student *s, const ss_version *v, ss_problem **out, err *e) {
    ss_problem *base;
    *out = NULL;
    if (ss_student_base(a, s, v, &base, e)) return -1;
    int rc = ss_problem_view(base, v->concepts, v->d, out, e);
    ss_problem_release(base);
    return rc;
}

void ss_version_free(ss_version *v) {
    if (!v) return;
    free(v->w), free(v->b), free(v->lo), free(v->hi);
    for (size_t j = 0; v->concepts && j < v->d; j++) free(v->concepts[j]);
    free(v->concepts);
    json_decref(v->measures);
    memset(v, 0, sizeof *v);
}

int ss_version_load(app *a, int64_t student_id, int number, ss_version *v, err *e) {
    memset(v, 0, sizeof *v);
    char sid[24], num[16];
    snprintf(sid, sizeof sid, "%lld", (long long)student_id);
    snprintf(num, sizeof num, "%d", number);
    const char *p[] = {sid, num};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c,
                          "SELECT id, number, parent_id, weights_sha256, biases::text, bounds_sha256, lambda,"
                          " measures::text, to_json(concepts)::text, columns_sha256"
                          " FROM student_versions WHERE student_id = $1 AND number = CASE"
                          " WHEN $2::int > 0 THEN $2::int"
                          " ELSE (SELECT max(number) FROM student_versions WHERE student_id = $1) END",
                          2, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    int rc = -1;
    uint8_t *buf = NULL;
    size_t len;
    json_t *biases = NULL, *concepts = NULL;
    if (PQntuples(r) == 0) {
        err_set(e, ERR_NOT_FOUND, "no version %d of student %lld", number, (long long)student_id);
        goto done;
    }
    v->id = atoll(PQgetvalue(r, 0, 0));
    v->number = atoi(PQgetvalue(r, 0, 1));
    v->parent_id = PQgetisnull(r, 0, 2) ? 0 : atoll(PQgetvalue(r, 0, 2));
    v->lambda = strtod(PQgetvalue(r, 0, 6), NULL);
    biases = json_loads(PQgetvalue(r, 0, 4), JSON_DECODE_ANY, NULL);
    v->measures = json_loads(PQgetvalue(r, 0, 7), JSON_DECODE_ANY, NULL);
    concepts = json_loads(PQgetvalue(r, 0, 8), JSON_DECODE_ANY, NULL);
    snprintf(v->columns_sha, sizeof v->columns_sha, "%s", PQgetisnull(r, 0, 9) ? "" : PQgetvalue(r, 0, 9));
    v->c = json_array_size(biases);
    if (!biases || !v->measures || v->c == 0 || !json_array_size(concepts)) {
        err_set(e, ERR_INTERNAL, "student version %lld: bad stored JSON", (long long)v->id);
        goto done;
    }
    if (!(v->concepts = calloc(json_array_size(concepts), sizeof *v->concepts))) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (; v->d < json_array_size(concepts); v->d++)
        if (!(v->concepts[v->d] = strdup(json_string_value(json_array_get(concepts, v->d)) ?: ""))) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto done;
        }
    if (blobstore_read(a->cfg.data_dir, PQgetvalue(r, 0, 3), &buf, &len, e)) goto done;
    if (len != v->c * v->d * sizeof(float)) {
        err_set(e, ERR_IO, "student version %lld: weights blob has the wrong size for %zu classes x %zu concepts",
                (long long)v->id, v->c, v->d);
        goto done;
    }
    v->w = (float *)buf, buf = NULL;
    size_t cd = v->c * v->d;
    v->b = malloc(v->c * sizeof *v->b);
    v->lo = malloc((cd + 1) * sizeof *v->lo);
    v->hi = malloc((cd + 1) * sizeof *v->hi);
    if (!v->b || !v->lo || !v->hi) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < v->c; k++) v->b[k] = (float)json_number_value(json_array_get(biases, k));
    if (!PQgetisnull(r, 0, 5)) {
        if (blobstore_read(a->cfg.data_dir, PQgetvalue(r, 0, 5), &buf, &len, e)) goto done;
        if (len != 2 * cd * sizeof(float)) {
            err_set(e, ERR_IO, "student version %lld: bounds blob has the wrong size", (long long)v->id);
            goto done;
        }
        memcpy(v->lo, buf, cd * sizeof(float));
        memcpy(v->hi, (float *)buf + cd, cd * sizeof(float));
        v->has_bounds = 1;
    } else {
        for (size_t i = 0; i < cd; i++) v->lo[i] = -INFINITY, v->hi[i] = INFINITY;
    }
    rc = 0;
done:
    free(buf);
    json_decref(biases);
    json_decref(concepts);
    PQclear(r);
    if (rc) ss_version_free(v);
    return rc;
}

/* ---- storing ------------------------------------------------------------------ */

/* Blobs first (content-addressed, harmless if unused), then under the student's row
 * lock: the head check, the version and its provenance. own_tx: in a transaction of
 * its own (else inside the caller's, which commits). */
static int version_insert(app *a, PGconn *conn, int own_tx, int64_t student_id, const ss_new_version *nv,
                          int64_t user_id, int64_t *version_id, int *number, int *head, err *e) {
    char wsha[65], bsha[65] = "";
    size_t cd = nv->c * nv->d;
    if (blobstore_put(a->cfg.data_dir, nv->w, cd * sizeof(float), wsha, e)) return -1;
    if (nv->has_bounds) {
        float *lh = malloc(2 * cd * sizeof *lh); // (2, C, d)
        if (!lh) return err_set(e, ERR_INTERNAL, "out of memory");
        memcpy(lh, nv->lo, cd * sizeof(float));
        memcpy(lh + cd, nv->hi, cd * sizeof(float));
        int bad = blobstore_put(a->cfg.data_dir, lh, 2 * cd * sizeof(float), bsha, e);
        free(lh);
        if (bad) return -1;
    }
    json_t *bj = json_array();
    for (size_t k = 0; k < nv->c; k++) json_array_append_new(bj, json_real((double)nv->b[k]));
    char *biases = json_dumps(bj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char *meas = json_dumps(nv->measures, JSON_COMPACT);
    char *before = nv->measures_before ? json_dumps(nv->measures_before, JSON_COMPACT) : NULL;
    char *acts = nv->actions ? json_dumps(nv->actions, JSON_COMPACT) : strdup("[]"); /* no actions: an empty list */
    char *concepts = db_text_array(nv->concepts, nv->d);
    json_decref(bj);
    int rc = -1, began = 0;
    PGresult *r = NULL;
    if (!biases || !meas || !acts || !concepts || (nv->measures_before && !before)) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    char sid[24], uid[24], pid[24], lam[40], num[16];
    snprintf(sid, sizeof sid, "%lld", (long long)student_id);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(pid, sizeof pid, "%lld", (long long)nv->parent_id);
    snprintf(lam, sizeof lam, "%.17g", nv->lambda);
    if (own_tx && db_begin(conn, e)) goto done;
    began = own_tx;
    const char *p1[] = {sid};
    r = db_exec(conn, "SELECT 1 FROM students WHERE id = $1 FOR UPDATE", 1, p1, e);
    if (!r) goto done;
    if (PQntuples(r) == 0) {
        err_set(e, ERR_NOT_FOUND, "no student %lld", (long long)student_id);
        goto done;
    }
    PQclear(r), r = NULL;
    /* The head is read by its own statement, after the lock: under READ COMMITTED a
     * statement sees the snapshot it started with, so reading it in the locking
     * statement would miss a version committed while we waited for the lock. */
    r = db_exec(conn, "SELECT COALESCE(max(number), 0) FROM student_versions WHERE student_id = $1", 1, p1, e);
    if (!r) goto done;
    *head = atoi(PQgetvalue(r, 0, 0));
    PQclear(r), r = NULL;
    if (nv->expect_head >= 0 && *head != nv->expect_head) {
        err_set(e, ERR_CONFLICT, "version %d is not the head of student %lld; the head is %d", nv->expect_head,
                (long long)student_id, *head);
        goto done;
    }
    *number = *head + 1;
    snprintf(num, sizeof num, "%d", *number);
    const char *p2[] = {sid, num, nv->parent_id > 0 ? pid : NULL, wsha, biases, nv->has_bounds ? bsha : NULL, lam,
                        meas, nv->note ? nv->note : "", user_id > 0 ? uid : NULL, concepts, nv->columns_sha};
    r = db_exec(conn,
                "INSERT INTO student_versions (student_id, number, parent_id, weights_sha256, biases, bounds_sha256,"
                " lambda, measures, note, author, concepts, columns_sha256) VALUES ($1, $2, $3, $4, $5::jsonb, $6,"
                " $7, $8::jsonb, $9, $10, $11::text[], $12) RETURNING id",
                12, p2, e);
    if (!r) goto done;
    *version_id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r), r = NULL;
    char vid[24];
    snprintf(vid, sizeof vid, "%lld", (long long)*version_id);
    const char *p3[] = {sid, vid, nv->parent_id > 0 ? pid : NULL, nv->kind, acts, user_id > 0 ? uid : NULL, before,
                        meas};
    if (db_run(conn,
               "INSERT INTO student_provenance (student_id, version_id, parent_version_id, kind, actions, author,"
               " measures_before, measures_after) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8::jsonb)",
               8, p3, e))
        goto done;
    if (own_tx && db_commit(conn, e)) goto done;
    began = 0;
    rc = 0;
done:
    PQclear(r);
    if (began) db_rollback(conn);
    free(biases), free(meas), free(before), free(acts), free(concepts);
    return rc;
}

int ss_version_add(app *a, int64_t student_id, const ss_new_version *nv, int64_t user_id, int64_t *version_id,
                   int *number, int *head, err *e) {
    PGconn *conn = db_acquire(a->db, e);
    if (!conn) return -1;
    int bad = version_insert(a, conn, 1, student_id, nv, user_id, version_id, number, head, e);
    db_release(a->db, conn);
    return bad;
}

static json_t *names_json(char *const *names, size_t n) {
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(out, json_string(names[i]));
    return out;
}

int ss_student_create(app *a, const ss_new_student *ns, const ss_new_version *nv, int64_t *student_id,
                      int64_t *version_id, int *number, err *e) {
    json_t *wj = names_json(ns->words, ns->d), *cj = names_json(ns->classes, ns->c);
    char *words = json_dumps(wj, JSON_COMPACT), *classes = json_dumps(cj, JSON_COMPACT);
    json_decref(wj), json_decref(cj);
    char xs[24], ts[24], ds[24], lam[40], jid[24];
    snprintf(xs, sizeof xs, "%lld", (long long)ns->extraction_id);
    snprintf(ts, sizeof ts, "%lld", (long long)ns->teacher_output_id);
    snprintf(ds, sizeof ds, "%lld", (long long)ns->dataset_id);
    snprintf(lam, sizeof lam, "%.17g", ns->lambda);
    snprintf(jid, sizeof jid, "%lld", (long long)ns->job_id);
    PGconn *conn = NULL;
    int rc = -1, began = 0;
    if (!(conn = db_acquire(a->db, e)) || db_begin(conn, e)) goto done;
    began = 1;
    const char *ps[] = {ns->name, ds, ts, xs, ns->presence_sha, ns->probs_sha, lam, words, classes, jid};
    PGresult *r = db_exec(conn,
                          "INSERT INTO students (name, dataset_id, teacher_output_id, extraction_id, presence_sha256,"
                          " probs_sha256, lambda, concepts, classes, job_id, created_by) VALUES ($1, $2, $3, $4, $5,"
                          " $6, $7, ARRAY(SELECT json_array_elements_text($8::json)),"
                          " ARRAY(SELECT json_array_elements_text($9::json)), $10,"
                          " (SELECT created_by FROM jobs WHERE id = $10)) RETURNING id, created_by",
                          10, ps, e);
    if (!r) goto done;
    *student_id = atoll(PQgetvalue(r, 0, 0));
    int64_t user_id = PQgetisnull(r, 0, 1) ? 0 : atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
    int head;
    /* One transaction: no student without its first version. */
    if (version_insert(a, conn, 0, *student_id, nv, user_id, version_id, number, &head, e) || db_commit(conn, e))
        goto done;
    began = 0;
    rc = 0;
done:
    if (began) db_rollback(conn);
    if (conn) db_release(a->db, conn);
    free(words), free(classes);
    return rc;
}

int ss_student_of_job(app *a, int64_t job_id, int64_t *student_id, err *e) {
    char jid[24], row[1][80];
    snprintf(jid, sizeof jid, "%lld", (long long)job_id);
    const char *p[] = {jid};
    err ne = {0};
    if (!ss_query_row(a, "none", "SELECT id FROM students WHERE job_id = $1", 1, p, 1, row, NULL, &ne)) {
        *student_id = atoll(row[0]);
        return 1;
    }
    if (ne.code != ERR_NOT_FOUND) return err_set(e, ne.code, "%s", ne.msg);
    return 0;
}
