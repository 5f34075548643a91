/* routes_concepts.c — concept corpora (create, import from a text file, list, show,
 * rename or replace words, add and remove one word) and extractions (start the
 * "concepts.extract" job, show one, read its presence matrix, one image's presence
 * and segments, a concept's gallery).
 *
 * A word change bumps the corpus version and then brings every ready extraction of
 * the corpus up to date from its stored segments (extraction_sync: only new words
 * are embedded and computed), before answering. Words are checked against the
 * tokenizer of every concept model the corpus is extracted with first, so a word a
 * model cannot read is a 422 that changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobstore.h"
#include "concepts/concepts.h"
#include "concepts/corpus_words.h"
#include "db_json.h"
#include "extraction/extraction.h"
#include "jobs.h"
#include "models/model_registry.h"
#include "concepts/routes_concepts.h"
#include "extraction/segment_cache.h"

#define CORPUS_IMPORT_MAX (1024 * 1024)
#define GALLERY_PAGE_MAX 200

/* {id, name, version, words, word_count, created_by, created_at, updated_at} of corpus c. */
#define CORPUS_JSON                                                                                              \
    "json_build_object('id', c.id, 'name', c.name, 'version', c.version, 'words', (SELECT coalesce(json_agg("      \
    "w.word ORDER BY w.position), '[]') FROM corpus_words w WHERE w.corpus_id = c.id), 'word_count', (SELECT "     \
    "count(*) FROM corpus_words w WHERE w.corpus_id = c.id), 'created_by', c.created_by, 'created_at', "          \
    "c.created_at, 'updated_at', c.updated_at)"

static void reply_created_corpus(req *r, int64_t id, json_t *report, unsigned status);

/* ---- corpora ------------------------------------------------------------------ */

/* INFICOND_MAX_CORPUS_CONCEPTS, never above what the parser takes. */
static int corpus_limit(const req *r) { return corpus_words_limit(r->app); }

#define CORPUS_LIMIT_FMT "over the limit of %d concepts per corpus (INFICOND_MAX_CORPUS_CONCEPTS)"

/* Normalise a JSON array of words; replies 422 (and returns NULL) naming a bad or
 * repeated word. Returns a corpus_text with the words. */
static int words_from_json_or_reply(req *r, const json_t *arr, corpus_text *out) {
    memset(out, 0, sizeof *out);
    if (!json_is_array(arr)) {
        reply_error(r, 422, "unprocessable", "field 'words': expected an array of strings");
        return -1;
    }
    if (json_array_size(arr) == 0) {
        reply_error(r, 422, "unprocessable", "field 'words': the corpus is empty; give at least one concept word");
        return -1;
    }
    if (json_array_size(arr) > (size_t)corpus_limit(r)) {
        reply_error(r, 422, "unprocessable", "field 'words': %zu words is " CORPUS_LIMIT_FMT,
                    json_array_size(arr), corpus_limit(r));
        return -1;
    }
    out->words = calloc(json_array_size(arr), sizeof *out->words);
    if (!out->words) {
        reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        char buf[4 * CONCEPT_WORD_MAX + 8];
        size_t L = s ? strlen(s) : 0;
        int k = !s ? -3 : L + 1 > sizeof buf ? -2 : concept_word_normalize(s, L, buf, sizeof buf);
        const char *why = k == -3 ? "is not a string" : k == -2 ? "is longer than 128 bytes" : k == -1 ? "holds a character a concept word may not ('/', control characters, invalid UTF-8)" : k == 0 ? "is blank" : NULL;
        for (size_t j = 0; !why && j < out->n; j++)
            if (!strcmp(out->words[j], buf)) why = "repeats an earlier word";
        if (why) {
            reply_error(r, 422, "unprocessable", "field 'words': item %zu %s", i, why);
            corpus_text_free(out);
            return -1;
        }
        if (!(out->words[out->n] = strdup(buf))) {
            corpus_text_free(out);
            reply_error(r, 500, "internal", "out of memory");
            return -1;
        }
        out->n++;
    }
    return 0;
}

/* Insert the corpus and its words in one transaction; *id on success. */
static int corpus_insert(app *a, const char *name, const corpus_text *w, int64_t user_id, int64_t *id, err *e) {
    char uid[24], cid[24];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    char *arr = db_text_array(w->words, w->n);
    if (!arr) return err_set(e, ERR_INTERNAL, "out of memory");
    PGconn *c = db_acquire(a->db, e);
    int rc = -1;
    if (c && !db_begin(c, e)) {
        const char *p[] = {name, user_id > 0 ? uid : NULL};
        PGresult *r = db_exec(c, "INSERT INTO corpora (name, created_by) VALUES ($1, $2) RETURNING id", 2, p, e);
        if (r) {
            *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            PQclear(r);
            snprintf(cid, sizeof cid, "%lld", (long long)*id);
            const char *q[] = {cid, arr};
            if (!db_run(c, "INSERT INTO corpus_words (corpus_id, position, word) SELECT $1, t.ord, t.w"
                           " FROM unnest($2::text[]) WITH ORDINALITY AS t(w, ord)", 2, q, e) &&
                !db_commit(c, e))
                rc = 0;
        }
        if (rc) db_rollback(c);
    }
    if (c) db_release(a->db, c);
    free(arr);
    if (rc && e->code == ERR_CONFLICT) {
        e->code = ERR_OK;
        err_set(e, ERR_CONFLICT, "a corpus named '%s' already exists", name);
    }
    return rc;
}

static void reply_created_corpus(req *r, int64_t id, json_t *report, unsigned status) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    err e = {0};
    json_t *j = db_json(r->app, "no such corpus", "SELECT " CORPUS_JSON "::text FROM corpora c WHERE c.id = $1", 1, p, &e);
    if (!j) {
        json_decref(report);
        reply_err(r, &e);
        return;
    }
    if (report) json_object_set_new(j, "import", report);
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/corpora/%lld", (long long)id);
    if (status == 201) reply_add_header(r, "Location", loc);
    reply_json(r, status, j);
}

static const char *name_or_reply(req *r, const char *name) {
    if (!name || !name[0] || strlen(name) > 128) {
        reply_error(r, 422, "unprocessable", "field 'name': 1 to 128 characters");
        return NULL;
    }
    return name;
}

void route_corpora_create(req *r) {
    const char *name = name_or_reply(r, json_string_value(json_object_get(r->json, "name")));
    if (!name) return;
    corpus_text w;
    if (words_from_json_or_reply(r, json_object_get(r->json, "words"), &w)) return;
    err e = {0};
    int64_t id;
    int bad = corpus_insert(r->app, name, &w, r->user_id, &id, &e);
    corpus_text_free(&w);
    if (bad) reply_err(r, &e);
    else reply_created_corpus(r, id, NULL, 201);
}

void route_corpora_import(req *r) {
    const char *name = name_or_reply(r, req_query(r, "name"));
    if (!name) return;
    if (!r->body_path || r->body_len == 0) {
        reply_error(r, 422, "unprocessable", "send the corpus as a text body: one concept per line");
        return;
    }
    FILE *f = fopen(r->body_path, "rb");
    char *text = malloc(r->body_len + 1);
    size_t got = f && text ? fread(text, 1, r->body_len, f) : 0;
    if (f) fclose(f);
    if (!text || got != r->body_len) {
        free(text);
        reply_error(r, 500, "internal", "could not read the uploaded corpus");
        return;
    }
    corpus_text w;
    err e = {0};
    if (corpus_text_parse(text, got, &w, &e)) {
        free(text);
        if (e.code == ERR_UNPROCESSABLE) /* its only refusal: too many words */
            reply_error(r, 422, "unprocessable", "the file holds more concept words than allowed: " CORPUS_LIMIT_FMT,
                        corpus_limit(r));
        else
            reply_err(r, &e);
        return;
    }
    free(text);
    if (w.n > (size_t)corpus_limit(r)) {
        reply_error(r, 422, "unprocessable", "the file holds %zu concept words, " CORPUS_LIMIT_FMT, w.n,
                    corpus_limit(r));
        corpus_text_free(&w);
        return;
    }
    if (w.n == 0) {
        corpus_text_free(&w);
        reply_error(r, 422, "unprocessable", "the file holds no concept words: the corpus would be empty");
        return;
    }
    json_t *tl = json_array(), *il = json_array();
    for (size_t i = 0; i < w.too_long && i < CONCEPT_REPORT_LINES; i++) json_array_append_new(tl, json_integer(w.too_long_lines[i]));
    for (size_t i = 0; i < w.invalid && i < CONCEPT_REPORT_LINES; i++) json_array_append_new(il, json_integer(w.invalid_lines[i]));
    json_t *report = json_pack("{s:I,s:I,s:I,s:I,s:o,s:I,s:o,s:i}", "added", (json_int_t)w.n, "dropped_duplicates",
                               (json_int_t)w.dropped_duplicates, "dropped_blank", (json_int_t)w.dropped_blank, "too_long",
                               (json_int_t)w.too_long, "too_long_lines", tl, "invalid", (json_int_t)w.invalid,
                               "invalid_lines", il, "max_word_bytes", CONCEPT_WORD_MAX);
    int64_t id;
    int bad = corpus_insert(r->app, name, &w, r->user_id, &id, &e);
    corpus_text_free(&w);
    if (bad) {
        json_decref(report);
        reply_err(r, &e);
        return;
    }
    reply_created_corpus(r, id, report, 201);
}

void route_corpora_list(req *r) {
    req_page pg;
    if (!req_page_or_reply(r, 1000, 100, 1L << 40, &pg)) return;
    const char *p[] = {pg.limit_text, pg.offset_text};
    err e = {0};
    json_t *j = db_json(r->app, NULL,
                        "SELECT json_build_object('items', (SELECT coalesce(json_agg(json_build_object('id', c.id, 'name',"
                        " c.name, 'version', c.version, 'word_count', (SELECT count(*) FROM corpus_words w WHERE"
                        " w.corpus_id = c.id), 'created_at', c.created_at) ORDER BY c.id), '[]') FROM (SELECT * FROM"
                        " corpora ORDER BY id LIMIT $1 OFFSET $2) c), 'total', (SELECT count(*) FROM corpora), 'limit',"
                        " $1::int, 'offset', $2::bigint)::text",
                        2, p, &e);
    reply_json_or_err(r, 200, j, &e);
}

void route_corpora_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j = db_json_by_id(r->app, "corpus", id, "SELECT " CORPUS_JSON "::text FROM corpora c WHERE c.id = $1", &e);
    reply_json_or_err(r, 200, j, &e);
}

/* After a committed word change: sync extractions and answer with the corpus. */
static void reply_after_change(req *r, int64_t id) {
    err e = {0};
    int updated = 0;
    json_t *sync = NULL;
    if (extraction_sync_corpus(r->app, id, &updated, &e))
        sync = json_pack("{s:s}", "error", e.msg); /* the word change stands; extractions show stale */
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    err e2 = {0};
    json_t *j = db_json(r->app, "no such corpus", "SELECT " CORPUS_JSON "::text FROM corpora c WHERE c.id = $1", 1, p, &e2);
    if (!j) {
        json_decref(sync);
        reply_err(r, &e2);
        return;
    }
    json_object_set_new(j, "extractions_updated", json_integer(updated));
    if (sync) json_object_set_new(j, "sync_error", sync);
    reply_json(r, 200, j);
}

/* Lock the corpus row in an open transaction; ERR_NOT_FOUND when absent. */
static int lock_corpus(PGconn *c, int64_t id, err *e) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    PGresult *res = db_exec(c, "SELECT id FROM corpora WHERE id = $1 FOR UPDATE", 1, p, e);
    if (!res) return -1;
    int found = PQntuples(res) == 1;
    PQclear(res);
    return found ? 0 : err_set(e, ERR_NOT_FOUND, "no corpus %lld", (long long)id);
}

static int corpus_exists(app *a, int64_t id, err *e) {
    json_t *j = db_json_by_id(a, "corpus", id, "SELECT 'true' FROM corpora WHERE id = $1", e);
    json_decref(j);
    return j ? 0 : -1;
}

void route_corpora_update(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    const json_t *jn = json_object_get(r->json, "name"), *jw = json_object_get(r->json, "words");
    const char *key;
    json_t *v;
    json_object_foreach(r->json, key, v) if (strcmp(key, "name") && strcmp(key, "words")) {
        reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
        return;
    }
    const char *name = NULL;
    if (jn && !(name = name_or_reply(r, json_string_value(jn)))) return;
    corpus_text w = {0};
    if (jw && words_from_json_or_reply(r, jw, &w)) return;
    err e = {0};
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    char *arr = jw ? db_text_array(w.words, w.n) : NULL;
    int rc = -1;
    if (corpus_exists(r->app, id, &e) || (jw && corpus_words_check_models(r->app, id, w.words, w.n, &e))) goto out;
    PGconn *c = db_acquire(r->app->db, &e);
    if (!c) goto out;
    if (!db_begin(c, &e) && !lock_corpus(c, id, &e)) {
        const char *p[] = {ids, name, arr};
        rc = 0;
        if (name) rc = db_run(c, "UPDATE corpora SET name = $2, updated_at = now() WHERE id = $1", 2, p, &e);
        /* The version moves only when the list really changes. */
        if (!rc && jw)
            rc = db_run(c, "WITH old AS (SELECT coalesce(array_agg(word ORDER BY position), '{}') a FROM corpus_words"
                           " WHERE corpus_id = $1) UPDATE corpora SET version = version + 1, updated_at = now()"
                           " WHERE id = $1 AND (SELECT a FROM old) IS DISTINCT FROM $2::text[]", 2,
                        (const char *[]){ids, arr}, &e) ||
                 db_run(c, "DELETE FROM corpus_words WHERE corpus_id = $1", 1, p, &e) ||
                 db_run(c, "INSERT INTO corpus_words (corpus_id, position, word) SELECT $1, t.ord, t.w"
                           " FROM unnest($2::text[]) WITH ORDINALITY AS t(w, ord)", 2, (const char *[]){ids, arr}, &e);
        if (!rc) rc = db_commit(c, &e);
        if (rc) db_rollback(c);
    }
    db_release(r->app->db, c);
    if (rc && e.code == ERR_CONFLICT) {
        e.code = ERR_OK;
        err_set(&e, ERR_CONFLICT, "a corpus named '%s' already exists", name ? name : "");
    }
out:
    free(arr);
    corpus_text_free(&w);
    if (rc) reply_err(r, &e);
    else reply_after_change(r, id);
}

void route_corpora_word_add(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    const char *s = json_req_string_or_reply(r, r->json, "word", 4 * CONCEPT_WORD_MAX);
    if (!s) return;
    char word[4 * CONCEPT_WORD_MAX + 8];
    int k = concept_word_normalize(s, strlen(s), word, sizeof word);
    if (k <= 0 || k > CONCEPT_WORD_MAX) {
        reply_error(r, 422, "unprocessable", "field 'word': %s", k == 0 ? "blank" : k == -2 ? "longer than 128 bytes" : "holds a character a concept word may not ('/', control characters, invalid UTF-8)");
        return;
    }
    err e = {0};
    char *words[] = {word};
    if (corpus_words_add(r->app, id, words, 1, 0, NULL, &e)) reply_err(r, &e);
    else reply_after_change(r, id);
}

void route_corpora_word_delete(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    const char *s = r->params[1];
    char word[4 * CONCEPT_WORD_MAX + 8];
    size_t L = strlen(s);
    int k = L + 1 > sizeof word ? -2 : concept_word_normalize(s, L, word, sizeof word);
    if (k <= 0) {
        reply_error(r, 404, "not_found", "no such word in corpus %lld", (long long)id);
        return;
    }
    err e = {0};
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids, word};
    PGconn *c = db_acquire(r->app->db, &e);
    if (!c) {
        reply_err(r, &e);
        return;
    }
    int rc = db_begin(c, &e) || lock_corpus(c, id, &e);
    PGresult *res = rc ? NULL
                       : db_exec(c, "SELECT (SELECT count(*) FROM corpus_words WHERE corpus_id = $1),"
                                    " EXISTS (SELECT 1 FROM corpus_words WHERE corpus_id = $1 AND word = $2)", 2, p, &e);
    if (!rc && !res) rc = -1;
    if (!rc && strcmp(PQgetvalue(res, 0, 1), "t")) rc = err_set(&e, ERR_NOT_FOUND, "'%s' is not in corpus %lld", word, (long long)id);
    if (!rc && atol(PQgetvalue(res, 0, 0)) <= 1)
        rc = err_set(&e, ERR_UNPROCESSABLE, "'%s' is the corpus's last word: a corpus cannot be empty", word);
    PQclear(res);
    if (!rc)
        rc = db_run(c, "DELETE FROM corpus_words WHERE corpus_id = $1 AND word = $2", 2, p, &e) ||
             db_run(c, "UPDATE corpora SET version = version + 1, updated_at = now() WHERE id = $1", 1, p, &e) ||
             db_commit(c, &e);
    if (rc) db_rollback(c);
    db_release(r->app->db, c);
    if (rc) reply_err(r, &e);
    else reply_after_change(r, id);
}

/* ---- extractions ------------------------------------------------------------- */

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

void route_extractions_create(req *r) {
    int64_t ds, mid, cid;
    if (json_req_int_or_reply(r, r->json, "dataset_id", 1, INT64_MAX, &ds) ||
        json_req_int_or_reply(r, r->json, "concept_model_id", 1, INT64_MAX, &mid) ||
        json_req_int_or_reply(r, r->json, "corpus_id", 1, INT64_MAX, &cid))
        return;
    char p1[24], p2[24], p3[24];
    snprintf(p1, sizeof p1, "%lld", (long long)ds);
    snprintf(p2, sizeof p2, "%lld", (long long)mid);
    snprintf(p3, sizeof p3, "%lld", (long long)cid);
    const char *p[] = {p1, p2, p3};
    err e = {0};
    json_t *chk = db_json(r->app, NULL,
                          "SELECT json_build_object('ds', (SELECT count(*) FROM images WHERE dataset_id = $1),"
                          " 'ds_exists', EXISTS (SELECT 1 FROM datasets WHERE id = $1), 'kind', (SELECT kind FROM models"
                          " WHERE id = $2), 'corpus', EXISTS (SELECT 1 FROM corpora WHERE id = $3), 'words', (SELECT"
                          " coalesce(json_agg(word ORDER BY position), '[]') FROM corpus_words WHERE corpus_id = $3),"
                          " 'busy', EXISTS (SELECT 1 FROM extractions x JOIN jobs j ON j.id = x.job_id WHERE"
                          " x.dataset_id = $1 AND x.concept_model_id = $2 AND x.corpus_id = $3 AND j.state IN"
                          " ('queued', 'running')))::text",
                          3, p, &e);
    if (!chk) {
        reply_err(r, &e);
        return;
    }
    const char *kind = json_string_value(json_object_get(chk, "kind"));
    json_t *jw = json_object_get(chk, "words");
    if (!json_is_true(json_object_get(chk, "ds_exists")))
        reply_error(r, 422, "unprocessable", "field 'dataset_id': no dataset %lld", (long long)ds);
    else if (!json_integer_value(json_object_get(chk, "ds")))
        reply_error(r, 422, "unprocessable", "field 'dataset_id': dataset %lld has no images", (long long)ds);
    else if (!kind)
        reply_error(r, 422, "unprocessable", "field 'concept_model_id': no model %lld", (long long)mid);
    else if (strcmp(kind, "concept"))
        reply_error(r, 422, "unprocessable", "field 'concept_model_id': model %lld is a %s, not a concept model", (long long)mid, kind);
    else if (!json_is_true(json_object_get(chk, "corpus")))
        reply_error(r, 422, "unprocessable", "field 'corpus_id': no corpus %lld", (long long)cid);
    else if (json_array_size(jw) == 0)
        reply_error(r, 422, "unprocessable", "field 'corpus_id': the corpus is empty; add at least one concept word");
    else if (json_is_true(json_object_get(chk, "busy")))
        reply_error(r, 409, "conflict", "an extraction of this dataset, model and corpus is already queued or running");
    else {
        /* Fail fast on words the model cannot tokenize (the job checks again). */
        size_t n = json_array_size(jw);
        char **words = calloc(n, sizeof *words);
        for (size_t i = 0; words && i < n; i++) words[i] = (char *)json_string_value(json_array_get(jw, i));
        model_ref *m = words ? model_registry_acquire(r->app, mid, &e) : NULL;
        int bad = !m || concept_check_words(&m->mf, words, n, &e);
        model_registry_release(m);
        free(words);
        int64_t xid = 0, job = -1;
        json_t *params = json_pack("{s:I,s:I,s:I}", "dataset_id", (json_int_t)ds, "concept_model_id", (json_int_t)mid,
                                   "corpus_id", (json_int_t)cid);
        if (!bad) bad = extraction_upsert(r->app, ds, mid, cid, r->user_id, 0, &xid, &e);
        if (!bad) bad = (job = jobs_enqueue(r->app, "concepts.extract", params, r->user_id, &e)) < 0;
        json_decref(params);
        if (!bad) {
            char xs[24], js[24];
            snprintf(xs, sizeof xs, "%lld", (long long)xid);
            snprintf(js, sizeof js, "%lld", (long long)job);
            const char *q[] = {xs, js};
            PGconn *c = db_acquire(r->app->db, &e);
            bad = !c || db_run(c, "UPDATE extractions SET job_id = $2 WHERE id = $1", 2, q, &e);
            if (c) db_release(r->app->db, c);
        }
        json_t *jj = bad ? NULL : jobs_get_json(r->app, job, &e);
        if (!jj) {
            reply_err(r, &e);
        } else {
            json_object_set_new(jj, "extraction_id", json_integer(xid));
            reply_json_at(r, 202, jj, "/api/v1/jobs/%lld", (long long)job);
        }
    }
    json_decref(chk);
}

void route_extractions_list(req *r) {
    const char *corpus = req_query(r, "corpus_id"), *ds = req_query(r, "dataset_id");
    const char *p[] = {corpus, ds};
    if ((corpus && !strtoll(corpus, NULL, 10)) || (ds && !strtoll(ds, NULL, 10))) {
        reply_error(r, 400, "bad_request", "corpus_id and dataset_id must be positive integers");
        return;
    }
    err e = {0};
    json_t *j = db_json(r->app, NULL,
                        "SELECT json_build_object('items', coalesce(json_agg(" EXTRACTION_JSON " ORDER BY x.id), '[]'))::text"
                        " FROM extractions x JOIN corpora c ON c.id = x.corpus_id WHERE ($1::bigint IS NULL OR"
                        " x.corpus_id = $1::bigint) AND ($2::bigint IS NULL OR x.dataset_id = $2::bigint)",
                        2, p, &e);
    reply_json_or_err(r, 200, j, &e);
}

void route_extractions_get(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    err e = {0};
    json_t *j = db_json_by_id(r->app, "extraction", id,
                              "SELECT " EXTRACTION_JSON "::text FROM extractions x JOIN corpora c ON c.id = x.corpus_id"
                              " WHERE x.id = $1",
                              &e);
    reply_json_or_err(r, 200, j, &e);
}

/* The extraction, ready, or reply (404 / 409). */
static int ready_or_reply(req *r, extraction *x) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return -1;
    err e = {0};
    if (extraction_load(r->app, id, x, &e)) {
        reply_err(r, &e);
        return -1;
    }
    if (strcmp(x->state, "ready")) {
        reply_error(r, 409, "conflict", "extraction %lld is %s, not ready", (long long)id, x->state);
        extraction_free(x);
        return -1;
    }
    return 0;
}

void route_extractions_presence(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    const char *format = req_query(r, "format");
    long limit, offset;
    err e = {0};
    if (format && strcmp(format, "json") && strcmp(format, "f32") && strcmp(format, "ids")) {
        reply_error(r, 400, "bad_request", "format must be json, f32 or ids");
    } else if (format && strcmp(format, "json")) {
        const char *sha = !strcmp(format, "f32") ? x.presence_sha : x.ids_sha;
        char path[4096], etag[80], shape[64];
        if (blobstore_verify_cached(r->app->cfg.data_dir, sha, &e) || blobstore_path(r->app->cfg.data_dir, sha, path, sizeof path, &e)) {
            reply_err(r, &e);
        } else {
            snprintf(etag, sizeof etag, "\"%s\"", sha);
            if (!strcmp(format, "f32")) snprintf(shape, sizeof shape, "%d,%d", x.n, x.d);
            else snprintf(shape, sizeof shape, "%d", x.n);
            reply_add_header(r, "X-Shape", shape);
            reply_add_header(r, "X-Image-Ids-Sha256", x.ids_sha);
            reply_file(r, path, "application/octet-stream", etag);
        }
    } else if (req_query_int_or_reply(r, "limit", 1, 1000, 100, &limit) &&
               req_query_int_or_reply(r, "offset", 0, 1L << 40, 0, &offset)) {
        float *X;
        int64_t *ids;
        int n, d;
        char **words;
        if (extraction_presence_load(r->app, x.id, &X, &ids, &n, &d, &words, NULL, NULL, &e)) {
            reply_err(r, &e);
        } else {
            json_t *items = json_array(), *jw = json_array();
            for (int j = 0; j < d; j++) json_array_append_new(jw, json_string(words[j]));
            for (long i = offset; i < n && i < offset + limit; i++) {
                json_t *row = json_array();
                for (int j = 0; j < d; j++) json_array_append_new(row, json_real(X[(size_t)i * d + j]));
                json_array_append_new(items, json_pack("{s:I,s:o}", "image_id", (json_int_t)ids[i], "presence", row));
            }
            extraction_presence_free(X, ids, words, d);
            reply_json(r, 200, json_pack("{s:o,s:o,s:i,s:i,s:i}", "words", jw, "items", items, "total", n, "limit",
                                         (int)limit, "offset", (int)offset));
        }
    }
    extraction_free(&x);
}

/* Image row of path parameter 1 (an image id) or reply 404. */
static long image_row_or_reply(req *r, const extraction *x, int64_t **ids) {
    char *end;
    long long image_id = strtoll(r->params[1], &end, 10);
    err e = {0};
    if (*end || image_id < 1) {
        reply_error(r, 404, "not_found", "no image '%s'", r->params[1]);
        return -1;
    }
    if (extraction_image_ids(r->app, x, ids, &e)) {
        reply_err(r, &e);
        return -1;
    }
    long row = extraction_image_index(*ids, x->n, image_id);
    if (row < 0) {
        free(*ids), *ids = NULL;
        reply_error(r, 404, "not_found", "image %lld is not in extraction %lld", image_id, (long long)x->id);
    }
    return row;
}

void route_extraction_image_presence(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    int64_t *ids = NULL;
    long row = image_row_or_reply(r, &x, &ids);
    if (row >= 0) {
        /* One row of a possibly large matrix: read just it, once the whole file has
         * verified (remembered while the file is unchanged, so this stays cheap). */
        char path[4096];
        err e = {0};
        float *v = malloc((size_t)x.d * sizeof *v + 1);
        FILE *f = NULL;
        if (v && blobstore_verify_cached(r->app->cfg.data_dir, x.presence_sha, &e)) {
            reply_err(r, &e);
        } else if (!v || blobstore_path(r->app->cfg.data_dir, x.presence_sha, path, sizeof path, &e) || !(f = fopen(path, "rb")) ||
            fseeko(f, (off_t)row * x.d * (off_t)sizeof(float), SEEK_SET) || fread(v, sizeof(float), (size_t)x.d, f) != (size_t)x.d) {
            reply_error(r, 500, "io", "cannot read the presence matrix of extraction %lld", (long long)x.id);
        } else {
            int *order = malloc((size_t)x.d * sizeof *order + 1);
            for (int j = 0; order && j < x.d; j++) order[j] = j;
            /* insertion sort by presence, descending (d is small) — stable: ties keep corpus order */
            for (int i = 1; order && i < x.d; i++)
                for (int k = i; k > 0 && v[order[k]] > v[order[k - 1]]; k--) {
                    int t = order[k];
                    order[k] = order[k - 1], order[k - 1] = t;
                }
            json_t *cs = json_array();
            for (int j = 0; order && j < x.d; j++)
                json_array_append_new(cs, json_pack("{s:s,s:f}", "word", x.words[order[j]], "presence", (double)v[order[j]]));
            free(order);
            reply_json(r, 200, json_pack("{s:I,s:I,s:o}", "extraction_id", (json_int_t)x.id, "image_id", (json_int_t)ids[row],
                                         "concepts", cs));
        }
        if (f) fclose(f);
        free(v);
    }
    free(ids);
    extraction_free(&x);
}

/* Segment s of image i in a store, as JSON: box or mask bits. */
static json_t *segment_shape(const segment_store *st, int i, int s) {
    if (st->kind == SEGMENT_STORE_BOXES) {
        const float *b = st->boxes + (st->offsets[i] + (size_t)s) * 4;
        return json_pack("{s:[f,f,f,f]}", "box", b[0], b[1], b[2], b[3]);
    }
    const size_t hw = (size_t)st->h * st->w;
    const uint8_t *lab = st->labels + (size_t)i * hw;
    char *bits = malloc(hw + 1);
    if (!bits) return json_object();
    for (size_t k = 0; k < hw; k++) bits[k] = lab[k] == s ? '1' : '0';
    bits[hw] = 0;
    json_t *j = json_pack("{s:{s:i,s:i,s:s}}", "mask", "h", st->h, "w", st->w, "bits", bits);
    free(bits);
    return j;
}

void route_extraction_image_segments(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    int64_t *ids = NULL;
    long row = image_row_or_reply(r, &x, &ids);
    if (row >= 0) {
        err e = {0};
        long first;
        int c = extraction_chunk_of(&x, row, &first);
        const segment_store *st = NULL; /* shared, read-only: from the segment cache */
        segment_cache_entry *held = NULL;
        float *concepts = NULL;
        if (c < 0 || segment_cache_get(segment_cache_shared(), r->app->cfg.data_dir, x.chunks[c], &st, &held, &e) ||
            concept_embeddings_load(r->app, x.model_id, x.dim, x.words, (size_t)x.d, &concepts, &e)) {
            if (c < 0) err_set(&e, ERR_IO, "extraction %lld has no chunk for row %ld", (long long)x.id, row);
            reply_err(r, &e);
        } else {
            int i = (int)(row - first), k;
            const float *seg = segment_store_image(st, i, &k); // (k, D)
            json_t *segs = json_array();
            for (int s = 0; s < k; s++) {
                /* nearest concept: a (d, D) x (D) product per segment, small enough here */
                int best = -1;
                float bc = -2;
                for (int j = 0; j < x.d; j++) {
                    float dot = 0;
                    for (int t = 0; t < x.dim; t++) dot += seg[(size_t)s * x.dim + t] * concepts[(size_t)j * x.dim + t];
                    if (dot > bc) bc = dot, best = j;
                }
                json_t *js = json_pack("{s:i,s:{s:s,s:f}}", "segment", s, "nearest", "word", x.words[best], "cos", (double)bc);
                json_t *shape = segment_shape(st, i, s);
                json_object_update(js, shape);
                json_decref(shape);
                if (st->kind == SEGMENT_STORE_LABELS) {
                    int area = 0;
                    for (int t = 0; t < st->h * st->w; t++) area += st->labels[(size_t)i * st->h * st->w + t] == s;
                    json_object_set_new(js, "area", json_real((double)area / (st->h * st->w)));
                }
                json_array_append_new(segs, js);
            }
            json_t *out = json_pack("{s:I,s:I,s:s,s:o}", "extraction_id", (json_int_t)x.id, "image_id", (json_int_t)ids[row],
                                    "encoder", x.encoder, "segments", segs);
            if (st->kind == SEGMENT_STORE_LABELS) {
                json_t *lab = json_array();
                for (int t = 0; t < st->h * st->w; t++) json_array_append_new(lab, json_integer(st->labels[(size_t)i * st->h * st->w + t]));
                json_object_set_new(out, "label_map", json_pack("{s:i,s:i,s:o}", "h", st->h, "w", st->w, "labels", lab));
            }
            reply_json(r, 200, out);
        }
        free(concepts);
        segment_cache_release(held);
    }
    free(ids);
    extraction_free(&x);
}

void route_extraction_gallery(req *r) {
    extraction x;
    if (ready_or_reply(r, &x)) return;
    long limit, offset;
    char word[4 * CONCEPT_WORD_MAX + 8];
    size_t L = strlen(r->params[1]);
    int k = L + 1 > sizeof word ? -2 : concept_word_normalize(r->params[1], L, word, sizeof word);
    int col = -1;
    for (int j = 0; k > 0 && j < x.d && col < 0; j++)
        if (!strcmp(x.words[j], word)) col = j;
    if (col < 0) {
        reply_error(r, 404, "not_found", "'%s' is not a concept of extraction %lld", r->params[1], (long long)x.id);
        extraction_free(&x);
        return;
    }
    if (!req_query_int_or_reply(r, "limit", 1, GALLERY_PAGE_MAX, 24, &limit) ||
        !req_query_int_or_reply(r, "offset", 0, EXTRACTION_TOP_K, 0, &offset)) {
        extraction_free(&x);
        return;
    }
    char ids_s[24];
    snprintf(ids_s, sizeof ids_s, "%lld", (long long)x.id);
    const char *p[] = {ids_s, word};
    err e = {0};
    int64_t *ids = NULL;
    json_t *g = db_json(r->app, "extraction gone", "SELECT coalesce(galleries -> $2, '[]')::text FROM extractions WHERE id = $1",
                        2, p, &e);
    if (!g || extraction_image_ids(r->app, &x, &ids, &e)) {
        json_decref(g);
        reply_err(r, &e);
        extraction_free(&x);
        return;
    }
    /* Each page entry needs its chunk's masks: each chunk taken once from the segment
     * cache (read and verified once per process, then shared by every request). */
    const segment_store **stores = calloc(x.n_chunks + 1, sizeof *stores);
    segment_cache_entry **held = calloc(x.n_chunks + 1, sizeof *held);
    json_t *items = json_array();
    int bad = !stores || !held;
    if (bad) err_set(&e, ERR_INTERNAL, "out of memory");
    for (long i = offset; !bad && i < (long)json_array_size(g) && i < offset + limit; i++) {
        json_t *h = json_array_get(g, (size_t)i);
        int64_t image_id = json_integer_value(json_array_get(h, 0));
        int seg = (int)json_integer_value(json_array_get(h, 1));
        long row = extraction_image_index(ids, x.n, image_id), first;
        int c = row < 0 ? -1 : extraction_chunk_of(&x, row, &first);
        if (c < 0) continue;
        if (!stores[c] &&
            segment_cache_get(segment_cache_shared(), r->app->cfg.data_dir, x.chunks[c], &stores[c], &held[c], &e)) {
            bad = 1;
            break;
        }
        json_t *it = json_pack("{s:I,s:f,s:i}", "image_id", (json_int_t)image_id, "presence",
                               json_number_value(json_array_get(h, 2)), "segment", seg);
        json_t *shape = segment_shape(stores[c], (int)(row - first), seg);
        json_object_update(it, shape);
        json_decref(shape);
        json_array_append_new(items, it);
    }
    for (size_t c = 0; held && c < x.n_chunks; c++) segment_cache_release(held[c]);
    free(held);
    free((void *)stores);
    if (bad) {
        json_decref(items);
        reply_err(r, &e);
    } else {
        reply_json(r, 200, json_pack("{s:I,s:s,s:o,s:I,s:i,s:i}", "extraction_id", (json_int_t)x.id, "word", x.words[col],
                                     "items", items, "total", (json_int_t)json_array_size(g), "limit", (int)limit, "offset",
                                     (int)offset));
    }
    json_decref(g);
    free(ids);
    extraction_free(&x);
}
