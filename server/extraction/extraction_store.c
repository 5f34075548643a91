/* extraction_store.c — every query on `extractions`, `extraction_failures` and
 * `segment_chunks` (what each does: extraction_store.h).
 *
 * Ids travel as decimal text parameters; arrays as PostgreSQL array literals
 * (db_text_array) or JSON text, never spliced into the SQL.
 */
#include "extraction/extraction_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_json.h"

/* An extraction as the API shows it (x joined with its corpus c). */
#define EXTRACTION_JSON                                                                                          \
    "json_build_object('id', x.id, 'dataset_id', x.dataset_id, 'concept_model_id', x.concept_model_id,"          \
    " 'corpus_id', x.corpus_id, 'corpus_version', x.corpus_version, 'current', x.state = 'ready' AND"            \
    " x.corpus_version = c.version, 'state', x.state, 'error', x.error, 'encoder', x.encoder, 'n_images',"       \
    " x.n_images, 'd', x.d, 'embedding_dim', x.embedding_dim, 'words', to_json(x.words), 'presence_sha256',"    \
    " x.presence_sha256, 'image_ids_sha256', x.image_ids_sha256, 'chunks', cardinality(x.chunks), 'n_failed',"  \
    " x.n_failed, 'failures', (SELECT coalesce(json_agg(json_build_object('image_id', f.image_id, 'reason',"     \
    " f.reason) ORDER BY f.image_id), '[]') FROM (SELECT * FROM extraction_failures WHERE extraction_id = x.id"  \
    " ORDER BY image_id LIMIT 100) f), 'job_id', x.job_id, 'created_at', x.created_at, 'updated_at',"           \
    " x.updated_at)"

static void id_text(char buf[24], int64_t id) { snprintf(buf, 24, "%lld", (long long)id); }

/* One statement on a pooled connection. */
static int run(app *a, const char *sql, int n, const char *const *p, err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    int rc = db_run(c, sql, n, p, e);
    db_release(a->db, c);
    return rc;
}

/* One query on a pooled connection; the result or NULL. */
static PGresult *query(app *a, const char *sql, int n, const char *const *p, err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return NULL;
    PGresult *r = db_exec(c, sql, n, p, e);
    db_release(a->db, c);
    return r;
}

/* The first column of every row as ids (*ids new, n of them). */
static int ids_of(PGresult *r, int64_t **ids, size_t *n, err *e) {
    *n = (size_t)PQntuples(r);
    *ids = malloc((*n + 1) * sizeof **ids);
    if (!*ids) {
        PQclear(r);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < *n; i++) (*ids)[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* ---- one extraction's row ------------------------------------------------------ */

void extraction_free(extraction *x) {
    if (!x) return;
    for (int i = 0; x->words && i < x->d; i++) free(x->words[i]);
    free(x->words);
    free(x->chunks);
    free(x->chunk_sizes);
    memset(x, 0, sizeof *x);
}

int extraction_load(app *a, int64_t id, extraction *x, err *e) {
    memset(x, 0, sizeof *x);
    char ids[24], what[48];
    id_text(ids, id);
    snprintf(what, sizeof what, "no extraction %lld", (long long)id);
    const char *p[] = {ids};
    json_t *j = db_json(a, what,
                        "SELECT json_build_object('dataset_id', x.dataset_id, 'model_id', x.concept_model_id,"
                        " 'corpus_id', x.corpus_id, 'corpus_version', x.corpus_version, 'current', c.version,"
                        " 'state', x.state, 'encoder', x.encoder, 'n', x.n_images, 'dim', x.embedding_dim,"
                        " 'words', to_json(x.words), 'presence', x.presence_sha256, 'ids', x.image_ids_sha256,"
                        " 'chunks', to_json(x.chunks), 'sizes', to_json(x.chunk_sizes))::text"
                        " FROM extractions x JOIN corpora c ON c.id = x.corpus_id WHERE x.id = $1",
                        1, p, e);
    if (!j) return -1;
    x->id = id;
    x->dataset_id = json_integer_value(json_object_get(j, "dataset_id"));
    x->model_id = json_integer_value(json_object_get(j, "model_id"));
    x->corpus_id = json_integer_value(json_object_get(j, "corpus_id"));
    x->corpus_version = (int)json_integer_value(json_object_get(j, "corpus_version"));
    x->corpus_current_version = (int)json_integer_value(json_object_get(j, "current"));
    x->n = (int)json_integer_value(json_object_get(j, "n"));
    x->dim = (int)json_integer_value(json_object_get(j, "dim"));
    const char *s;
    snprintf(x->state, sizeof x->state, "%s", (s = json_string_value(json_object_get(j, "state"))) ? s : "");
    snprintf(x->encoder, sizeof x->encoder, "%s", (s = json_string_value(json_object_get(j, "encoder"))) ? s : "");
    snprintf(x->presence_sha, sizeof x->presence_sha, "%s", (s = json_string_value(json_object_get(j, "presence"))) ? s : "");
    snprintf(x->ids_sha, sizeof x->ids_sha, "%s", (s = json_string_value(json_object_get(j, "ids"))) ? s : "");
    json_t *w = json_object_get(j, "words"), *ch = json_object_get(j, "chunks"), *sz = json_object_get(j, "sizes");
    x->d = (int)json_array_size(w);
    x->n_chunks = json_array_size(ch);
    x->words = calloc((size_t)x->d + 1, sizeof *x->words);
    x->chunks = calloc(x->n_chunks + 1, sizeof *x->chunks);
    x->chunk_sizes = calloc(x->n_chunks + 1, sizeof *x->chunk_sizes);
    int rc = x->words && x->chunks && x->chunk_sizes ? 0 : -1;
    for (int i = 0; !rc && i < x->d; i++)
        if (!(x->words[i] = strdup(json_string_value(json_array_get(w, i)) ?: ""))) rc = -1;
    for (size_t i = 0; !rc && i < x->n_chunks; i++) {
        snprintf(x->chunks[i], 65, "%s", json_string_value(json_array_get(ch, i)) ?: "");
        x->chunk_sizes[i] = (int)json_integer_value(json_array_get(sz, i));
    }
    json_decref(j);
    if (rc) {
        extraction_free(x);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

int extraction_upsert(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t user_id, int64_t job_id,
                      int64_t *id, err *e) {
    char ds[24], mo[24], co[24], us[24], jb[24];
    id_text(ds, dataset_id), id_text(mo, model_id), id_text(co, corpus_id), id_text(us, user_id), id_text(jb, job_id);
    const char *p[] = {ds, mo, co, user_id > 0 ? us : NULL, job_id > 0 ? jb : NULL};
    PGresult *r = query(a,
                        "INSERT INTO extractions (dataset_id, concept_model_id, corpus_id, created_by, job_id)"
                        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dataset_id, concept_model_id, corpus_id) DO UPDATE"
                        " SET state = 'queued', error = NULL, job_id = EXCLUDED.job_id, updated_at = now() RETURNING id",
                        5, p, e);
    if (!r) return -1;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int extraction_set_job(app *a, int64_t id, int64_t job_id, err *e) {
    char xs[24], js[24];
    id_text(xs, id), id_text(js, job_id);
    const char *p[] = {xs, js};
    return run(a, "UPDATE extractions SET job_id = $2 WHERE id = $1", 2, p, e);
}

int extraction_set_running(app *a, int64_t id, err *e) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids};
    return run(a, "UPDATE extractions SET state = 'running', updated_at = now() WHERE id = $1", 1, p, e);
}

void extraction_set_failed(app *a, int64_t id, const char *reason) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids, reason};
    err e = {0};
    (void)run(a, "UPDATE extractions SET state = 'failed', error = $2, updated_at = now() WHERE id = $1", 2, p, &e);
}

/* x's chunk blobs and sizes as PostgreSQL array literals ({sha,…} and {n,…}), new. */
static int chunk_arrays(const extraction *x, char **chunks, char **sizes) {
    size_t L = x->n_chunks * 66 + 3, sl = x->n_chunks * 12 + 3;
    *chunks = malloc(L), *sizes = malloc(sl);
    if (!*chunks || !*sizes) {
        free(*chunks), free(*sizes);
        *chunks = *sizes = NULL;
        return -1;
    }
    size_t at = 0, st = 0;
    (*chunks)[at++] = '{', (*sizes)[st++] = '{';
    for (size_t c = 0; c < x->n_chunks; c++) {
        at += (size_t)snprintf(*chunks + at, L - at, "%s%s", c ? "," : "", x->chunks[c]);
        st += (size_t)snprintf(*sizes + st, sl - st, "%s%d", c ? "," : "", x->chunk_sizes[c]);
    }
    snprintf(*chunks + at, L - at, "}");
    snprintf(*sizes + st, sl - st, "}");
    return 0;
}

/* column_hashes (d) as a text[] literal (db_text_array), new; NULL out of memory. */
static char *hashes_array(char (*column_hashes)[65], int d) {
    char **names = malloc(((size_t)d + 1) * sizeof *names);
    if (!names) return NULL;
    for (int j = 0; j < d; j++) names[j] = column_hashes[j];
    char *arr = db_text_array(names, (size_t)d);
    free(names);
    return arr;
}

int extraction_store_ready(app *a, const extraction *x, const char *encoder, const char *ids_sha,
                           const char *presence_sha, const json_t *failures, const json_t *galleries,
                           char (*column_hashes)[65], err *e) {
    char *chunks = NULL, *sizes = NULL, *fj = json_dumps(failures, JSON_COMPACT);
    char *wl = db_text_array(x->words, (size_t)x->d), *gj = json_dumps(galleries, JSON_COMPACT);
    char *cols = hashes_array(column_hashes, x->d);
    if (chunk_arrays(x, &chunks, &sizes) || !fj || !wl || !gj || !cols) {
        free(chunks), free(sizes), free(fj), free(wl), free(gj), free(cols);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    char ids[24], n[16], dim[16], ver[16], dd[16];
    id_text(ids, x->id);
    snprintf(n, sizeof n, "%d", x->n);
    snprintf(dim, sizeof dim, "%d", x->dim);
    snprintf(ver, sizeof ver, "%d", x->corpus_version);
    snprintf(dd, sizeof dd, "%d", x->d);
    const char *p[] = {ids, encoder, n, dim, ids_sha, chunks, sizes, fj, presence_sha, wl, ver, dd, gj, cols};
    const char *pf[] = {ids, fj};
    PGconn *c = db_acquire(a->db, e);
    int bad = !c || db_begin(c, e) ||
              db_run(c, "UPDATE extractions SET state = 'ready', error = NULL, encoder = $2, n_images = $3,"
                        " embedding_dim = $4, image_ids_sha256 = $5, chunks = $6::text[], chunk_sizes = $7::int[],"
                        " n_failed = jsonb_array_length($8::jsonb), presence_sha256 = $9, words = $10::text[],"
                        " corpus_version = $11, d = $12, galleries = $13::jsonb, column_sha256 = $14::text[],"
                        " column_sha256_of = $9, updated_at = now() WHERE id = $1",
                        14, p, e) ||
              db_run(c, "DELETE FROM extraction_failures WHERE extraction_id = $1", 1, p, e) ||
              db_run(c, "INSERT INTO extraction_failures (extraction_id, image_id, reason) SELECT $1,"
                        " (f->>'image_id')::bigint, f->>'reason' FROM jsonb_array_elements($2::jsonb) f"
                        " ON CONFLICT DO NOTHING", 2, pf, e) ||
              db_commit(c, e);
    if (bad && c) db_rollback(c);
    if (c) db_release(a->db, c);
    free(chunks), free(sizes), free(fj), free(wl), free(gj), free(cols);
    return bad ? -1 : 0;
}

int extraction_store_presence(app *a, const extraction *x, const char *presence_sha, const json_t *galleries,
                              char (*column_hashes)[65], const char *expect_sha, int expect_version, err *e) {
    char *words = db_text_array(x->words, (size_t)x->d), *gal = json_dumps(galleries, JSON_COMPACT);
    char *cols = hashes_array(column_hashes, x->d);
    char id[24], ver[16], d[16], ev[16];
    id_text(id, x->id);
    snprintf(ver, sizeof ver, "%d", x->corpus_version);
    snprintf(d, sizeof d, "%d", x->d);
    snprintf(ev, sizeof ev, "%d", expect_version);
    int rc = -1;
    if (!words || !gal || !cols) {
        err_set(e, ERR_INTERNAL, "out of memory");
    } else {
        const char *p[] = {id, presence_sha, words, ver, d, gal, expect_sha, ev, cols};
        PGresult *r = query(a,
                            "UPDATE extractions SET presence_sha256 = $2, words = $3::text[], corpus_version = $4,"
                            " d = $5, galleries = $6::jsonb, column_sha256 = $9::text[], column_sha256_of = $2,"
                            " updated_at = now() WHERE id = $1 AND state = 'ready'"
                            " AND presence_sha256 = $7 AND corpus_version = $8::int",
                            9, p, e);
        if (r) rc = atoi(PQcmdTuples(r)) == 1 ? 0 : 1;
        PQclear(r);
    }
    free(words);
    free(gal);
    free(cols);
    return rc;
}

int extraction_column_hashes_record(app *a, int64_t extraction_id, const char *presence_sha,
                                    char (*column_hashes)[65], int d, err *e) {
    char *arr = hashes_array(column_hashes, d), id[24];
    if (!arr) return err_set(e, ERR_INTERNAL, "out of memory");
    id_text(id, extraction_id);
    const char *p[] = {id, presence_sha, arr};
    int rc = run(a, "UPDATE extractions SET column_sha256 = $3::text[], column_sha256_of = $2 WHERE id = $1"
                    " AND presence_sha256 = $2 AND column_sha256_of IS DISTINCT FROM $2", 3, p, e);
    free(arr);
    return rc;
}

json_t *extraction_galleries_json(app *a, int64_t id, err *e) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids};
    return db_json(a, "extraction gone", "SELECT galleries::text FROM extractions WHERE id = $1", 1, p, e);
}

json_t *extraction_gallery_json(app *a, int64_t id, const char *word, err *e) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids, word};
    return db_json(a, "extraction gone", "SELECT coalesce(galleries -> $2, '[]')::text FROM extractions WHERE id = $1",
                   2, p, e);
}

/* ---- segment chunks ------------------------------------------------------------ */

int extraction_chunk_find(app *a, int64_t dataset_id, int64_t model_id, int64_t first, int64_t last, int n,
                          char sha_out[65], json_t **failures, err *e) {
    char p1[24], p2[24], p3[24], p4[24], p5[16];
    id_text(p1, dataset_id), id_text(p2, model_id), id_text(p3, first), id_text(p4, last);
    snprintf(p5, sizeof p5, "%d", n);
    const char *p[] = {p1, p2, p3, p4, p5};
    *failures = NULL;
    PGresult *r = query(a, "SELECT sha256, failures::text FROM segment_chunks WHERE dataset_id = $1 AND model_id = $2"
                           " AND first_image_id = $3 AND last_image_id = $4 AND n = $5", 5, p, e);
    if (!r) return -1;
    if (PQntuples(r) == 1) {
        snprintf(sha_out, 65, "%s", PQgetvalue(r, 0, 0));
        *failures = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
    }
    PQclear(r);
    return *failures != NULL;
}

int extraction_chunk_save(app *a, int64_t dataset_id, int64_t model_id, int64_t first, int64_t last, int n,
                          size_t segs, const char *sha, const json_t *failures, err *e) {
    char p1[24], p2[24], p3[24], p4[24], p5[16], p6[24];
    id_text(p1, dataset_id), id_text(p2, model_id), id_text(p3, first), id_text(p4, last);
    snprintf(p5, sizeof p5, "%d", n);
    snprintf(p6, sizeof p6, "%zu", segs);
    char *f = json_dumps(failures, JSON_COMPACT);
    if (!f) return err_set(e, ERR_INTERNAL, "out of memory");
    const char *p[] = {p1, p2, p3, p4, p5, p6, sha, f};
    int rc = run(a,
                 "INSERT INTO segment_chunks (dataset_id, model_id, first_image_id, last_image_id, n, segments,"
                 " sha256, failures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)"
                 " ON CONFLICT (dataset_id, model_id, first_image_id, last_image_id, n) DO UPDATE"
                 " SET segments = EXCLUDED.segments, sha256 = EXCLUDED.sha256, failures = EXCLUDED.failures",
                 8, p, e);
    free(f);
    return rc;
}

/* ---- questions about several rows -------------------------------------------------- */

int extraction_find_live(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, int64_t *id, err *e) {
    char p1[24], p2[24], p3[24];
    id_text(p1, dataset_id), id_text(p2, model_id), id_text(p3, corpus_id);
    const char *p[] = {p1, p2, p3};
    *id = 0;
    PGresult *r = query(a,
                        "SELECT x.id FROM extractions x LEFT JOIN jobs j ON j.id = x.job_id"
                        " WHERE x.dataset_id = $1 AND x.concept_model_id = $2 AND x.corpus_id = $3"
                        " AND (x.state = 'ready' OR j.state IN ('queued', 'running'))",
                        3, p, e);
    if (!r) return -1;
    if (PQntuples(r) > 0) *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int extraction_ready_of_corpus(app *a, int64_t corpus_id, int64_t **ids, size_t *n, err *e) {
    char cs[24];
    id_text(cs, corpus_id);
    const char *p[] = {cs};
    PGresult *r = query(a, "SELECT id FROM extractions WHERE corpus_id = $1 AND state = 'ready' ORDER BY id", 1, p, e);
    return r ? ids_of(r, ids, n, e) : -1;
}

int extraction_models_of_corpus(app *a, int64_t corpus_id, int64_t **ids, size_t *n, err *e) {
    char cs[24];
    id_text(cs, corpus_id);
    const char *p[] = {cs};
    PGresult *r = query(a, "SELECT DISTINCT concept_model_id FROM extractions WHERE corpus_id = $1", 1, p, e);
    return r ? ids_of(r, ids, n, e) : -1;
}

json_t *extraction_preflight_json(app *a, int64_t dataset_id, int64_t model_id, int64_t corpus_id, err *e) {
    char p1[24], p2[24], p3[24];
    id_text(p1, dataset_id), id_text(p2, model_id), id_text(p3, corpus_id);
    const char *p[] = {p1, p2, p3};
    return db_json(a, NULL,
                   "SELECT json_build_object('ds', (SELECT count(*) FROM images WHERE dataset_id = $1),"
                   " 'ds_exists', EXISTS (SELECT 1 FROM datasets WHERE id = $1), 'kind', (SELECT kind FROM models"
                   " WHERE id = $2), 'busy', EXISTS (SELECT 1 FROM extractions x JOIN jobs j ON j.id = x.job_id WHERE"
                   " x.dataset_id = $1 AND x.concept_model_id = $2 AND x.corpus_id = $3 AND j.state IN"
                   " ('queued', 'running')))::text",
                   3, p, e);
}

json_t *extraction_json(app *a, int64_t id, err *e) {
    return db_json_by_id(a, "extraction", id,
                         "SELECT " EXTRACTION_JSON "::text FROM extractions x JOIN corpora c ON c.id = x.corpus_id"
                         " WHERE x.id = $1",
                         e);
}

json_t *extraction_list_json(app *a, const char *corpus_id, const char *dataset_id, err *e) {
    const char *p[] = {corpus_id, dataset_id};
    return db_json(a, NULL,
                   "SELECT json_build_object('items', coalesce(json_agg(" EXTRACTION_JSON " ORDER BY x.id), '[]'))::text"
                   " FROM extractions x JOIN corpora c ON c.id = x.corpus_id WHERE ($1::bigint IS NULL OR"
                   " x.corpus_id = $1::bigint) AND ($2::bigint IS NULL OR x.dataset_id = $2::bigint)",
                   2, p, e);
}
