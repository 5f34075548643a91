/* corpus.c — the rows of `corpora` and `corpus_words`: create, find, rename, replace,
 * add and remove words, read back (rules in corpus.h).
 *
 * Every change that touches the word list runs in one transaction that first locks
 * the corpus row, so two editors adding words cannot both pass the size limit and
 * the version moves once per change.
 */
#include "concepts/corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"
#include "db.h"
#include "db_json.h"

/* {id, name, version, words, word_count, created_by, created_at, updated_at} of corpus c. */
#define CORPUS_JSON                                                                                              \
    "json_build_object('id', c.id, 'name', c.name, 'version', c.version, 'words', (SELECT coalesce(json_agg("      \
    "w.word ORDER BY w.position), '[]') FROM corpus_words w WHERE w.corpus_id = c.id), 'word_count', (SELECT "     \
    "count(*) FROM corpus_words w WHERE w.corpus_id = c.id), 'created_by', c.created_by, 'created_at', "          \
    "c.created_at, 'updated_at', c.updated_at)"

static void id_text(char buf[24], int64_t id) { snprintf(buf, 24, "%lld", (long long)id); }

int corpus_word_limit(const app *a) {
    int n = a->cfg.max_corpus_concepts;
    return n > 0 && n < CONCEPT_CORPUS_MAX ? n : CONCEPT_CORPUS_MAX;
}

/* A unique-name violation as the message the API gives; other errors stay. */
static int name_taken(err *e, const char *name) {
    if (e->code == ERR_CONFLICT) {
        err_clear(e);
        err_set(e, ERR_CONFLICT, "a corpus named '%s' already exists", name);
    }
    return -1;
}

/* ---- create and find ---------------------------------------------------------- */

int corpus_create(app *a, const char *name, char *const *words, size_t n, int64_t user_id, int64_t *id, err *e) {
    char uid[24], cid[24];
    id_text(uid, user_id);
    char *arr = db_text_array(words, n);
    if (!arr) return err_set(e, ERR_INTERNAL, "out of memory");
    PGconn *c = db_acquire(a->db, e);
    int rc = -1;
    if (c && !db_begin(c, e)) {
        const char *p[] = {name, user_id > 0 ? uid : NULL};
        PGresult *r = db_exec(c, "INSERT INTO corpora (name, created_by) VALUES ($1, $2)"
                                 " ON CONFLICT (name) DO NOTHING RETURNING id", 2, p, e);
        if (r && PQntuples(r) == 0) err_set(e, ERR_CONFLICT, "a corpus named '%s' already exists", name);
        if (r && PQntuples(r) == 1) {
            *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            id_text(cid, *id);
            const char *q[] = {cid, arr};
            if (!db_run(c, "INSERT INTO corpus_words (corpus_id, position, word) SELECT $1, t.ord, t.w"
                           " FROM unnest($2::text[]) WITH ORDINALITY AS t(w, ord)", 2, q, e) &&
                !db_commit(c, e))
                rc = 0;
        }
        PQclear(r);
        if (rc) db_rollback(c);
    }
    if (c) db_release(a->db, c);
    free(arr);
    return rc ? name_taken(e, name) : 0;
}

int corpus_find(app *a, const char *name, int64_t *id, err *e) {
    const char *p[] = {name};
    *id = 0;
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, "SELECT id FROM corpora WHERE name = $1", 1, p, e);
    db_release(a->db, c);
    if (!r) return -1;
    if (PQntuples(r) == 1) *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int corpus_exists(app *a, int64_t id, err *e) {
    json_t *j = db_json_by_id(a, "corpus", id, "SELECT 'true' FROM corpora WHERE id = $1", e);
    json_decref(j);
    return j ? 0 : -1;
}

/* ---- word changes under the row lock -------------------------------------------- */

/* Lock the corpus row in an open transaction; ERR_NOT_FOUND when absent. */
static int lock_corpus(PGconn *c, int64_t id, err *e) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids};
    PGresult *res = db_exec(c, "SELECT id FROM corpora WHERE id = $1 FOR UPDATE", 1, p, e);
    if (!res) return -1;
    int found = PQntuples(res) == 1;
    PQclear(res);
    return found ? 0 : err_set(e, ERR_NOT_FOUND, "no corpus %lld", (long long)id);
}

/* ERR_UNPROCESSABLE when `more` words would take the corpus over the limit. */
static int room_for(app *a, PGconn *c, int64_t id, size_t more, err *e) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids};
    PGresult *res = db_exec(c, "SELECT count(*) FROM corpus_words WHERE corpus_id = $1", 1, p, e);
    if (!res) return -1;
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    if ((size_t)n + more <= (size_t)corpus_word_limit(a)) return 0;
    if (more == 1)
        return err_set(e, ERR_UNPROCESSABLE, "corpus %lld holds %ld words: one more is " CORPUS_LIMIT_FMT,
                       (long long)id, n, corpus_word_limit(a));
    return err_set(e, ERR_UNPROCESSABLE, "corpus %lld holds %ld words: %zu more is " CORPUS_LIMIT_FMT,
                   (long long)id, n, more, corpus_word_limit(a));
}

static int room_for_a_word(app *a, PGconn *c, int64_t id, err *e) { return room_for(a, c, id, 1, e); }

int corpus_check_room(app *a, int64_t id, err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    int rc = room_for_a_word(a, c, id, e);
    db_release(a->db, c);
    return rc;
}

int corpus_update(app *a, int64_t id, const char *name, char *const *words, size_t n, err *e) {
    char ids[24];
    id_text(ids, id);
    char *arr = words ? db_text_array(words, n) : NULL;
    if (words && !arr) return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = -1;
    PGconn *c = db_acquire(a->db, e);
    if (c && !db_begin(c, e) && !lock_corpus(c, id, e)) {
        const char *p[] = {ids, name};
        const char *pw[] = {ids, arr};
        rc = 0;
        if (name) rc = db_run(c, "UPDATE corpora SET name = $2, updated_at = now() WHERE id = $1", 2, p, e);
        /* The version moves only when the list really changes. */
        if (!rc && words)
            rc = db_run(c, "WITH old AS (SELECT coalesce(array_agg(word ORDER BY position), '{}') a FROM corpus_words"
                           " WHERE corpus_id = $1) UPDATE corpora SET version = version + 1, updated_at = now()"
                           " WHERE id = $1 AND (SELECT a FROM old) IS DISTINCT FROM $2::text[]", 2, pw, e) ||
                 db_run(c, "DELETE FROM corpus_words WHERE corpus_id = $1", 1, p, e) ||
                 db_run(c, "INSERT INTO corpus_words (corpus_id, position, word) SELECT $1, t.ord, t.w"
                           " FROM unnest($2::text[]) WITH ORDINALITY AS t(w, ord)", 2, pw, e);
        if (!rc) rc = db_commit(c, e);
        if (rc) db_rollback(c);
    }
    if (c) db_release(a->db, c);
    free(arr);
    return rc ? name_taken(e, name ? name : "") : 0;
}

int corpus_word_add(app *a, int64_t id, const char *word, err *e) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids, word};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    int rc = db_begin(c, e) || lock_corpus(c, id, e) || room_for_a_word(a, c, id, e) ||
             db_run(c, "INSERT INTO corpus_words (corpus_id, position, word) SELECT $1, coalesce(max(position), 0) + 1,"
                       " $2 FROM corpus_words WHERE corpus_id = $1", 2, p, e) ||
             db_run(c, "UPDATE corpora SET version = version + 1, updated_at = now() WHERE id = $1", 1, p, e) ||
             db_commit(c, e);
    if (rc) db_rollback(c);
    db_release(a->db, c);
    if (rc && e->code == ERR_CONFLICT) {
        err_clear(e);
        err_set(e, ERR_CONFLICT, "'%s' is already in the corpus", word);
    }
    return rc ? -1 : 0;
}

int corpus_words_append(app *a, int64_t id, char *const *words, size_t n, size_t *added, err *e) {
    *added = 0;
    char ids[24];
    id_text(ids, id);
    char *arr = db_text_array(words, n);
    if (!arr) return err_set(e, ERR_INTERNAL, "out of memory");
    const char *p[] = {ids, arr};
    PGconn *c = db_acquire(a->db, e);
    PGresult *res = NULL;
    int rc = -1;
    if (!c || db_begin(c, e) || lock_corpus(c, id, e)) goto done;
    res = db_exec(c, "SELECT count(*) FROM unnest($2::text[]) w WHERE NOT EXISTS (SELECT 1 FROM corpus_words"
                     " WHERE corpus_id = $1 AND word = w)", 2, p, e);
    if (!res) goto done;
    size_t fresh = (size_t)atol(PQgetvalue(res, 0, 0));
    PQclear(res), res = NULL;
    if (fresh && room_for(a, c, id, fresh, e)) goto done;
    res = fresh ? db_exec(c, "INSERT INTO corpus_words (corpus_id, position, word) SELECT $1,"
                             " (SELECT coalesce(max(position), 0) FROM corpus_words WHERE corpus_id = $1) + t.ord, t.w"
                             " FROM unnest($2::text[]) WITH ORDINALITY AS t(w, ord)"
                             " WHERE NOT EXISTS (SELECT 1 FROM corpus_words WHERE corpus_id = $1 AND word = t.w)",
                          2, p, e)
                : NULL;
    if (fresh && !res) goto done;
    if ((fresh && db_run(c, "UPDATE corpora SET version = version + 1, updated_at = now() WHERE id = $1", 1, p, e)) ||
        db_commit(c, e))
        goto done;
    *added = fresh;
    rc = 0;
done:
    PQclear(res);
    if (c) {
        if (rc) db_rollback(c);
        db_release(a->db, c);
    }
    free(arr);
    return rc;
}

int corpus_word_remove(app *a, int64_t id, const char *word, err *e) {
    char ids[24];
    id_text(ids, id);
    const char *p[] = {ids, word};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    int rc = db_begin(c, e) || lock_corpus(c, id, e);
    PGresult *res = rc ? NULL
                       : db_exec(c, "SELECT (SELECT count(*) FROM corpus_words WHERE corpus_id = $1),"
                                    " EXISTS (SELECT 1 FROM corpus_words WHERE corpus_id = $1 AND word = $2)", 2, p, e);
    if (!rc && !res) rc = -1;
    if (!rc && strcmp(PQgetvalue(res, 0, 1), "t"))
        rc = err_set(e, ERR_NOT_FOUND, "'%s' is not in corpus %lld", word, (long long)id);
    if (!rc && atol(PQgetvalue(res, 0, 0)) <= 1)
        rc = err_set(e, ERR_UNPROCESSABLE, "'%s' is the corpus's last word: a corpus cannot be empty", word);
    PQclear(res);
    if (!rc)
        rc = db_run(c, "DELETE FROM corpus_words WHERE corpus_id = $1 AND word = $2", 2, p, e) ||
             db_run(c, "UPDATE corpora SET version = version + 1, updated_at = now() WHERE id = $1", 1, p, e) ||
             db_commit(c, e);
    if (rc) db_rollback(c);
    db_release(a->db, c);
    return rc ? -1 : 0;
}

/* ---- reading ---------------------------------------------------------------- */

void corpus_words_free(char **words, size_t n) {
    for (size_t i = 0; words && i < n; i++) free(words[i]);
    free(words);
}

int corpus_words(app *a, int64_t id, char ***words, size_t *n, int *version, err *e) {
    char ids[24], what[40];
    id_text(ids, id);
    snprintf(what, sizeof what, "no corpus %lld", (long long)id);
    const char *p[] = {ids};
    json_t *j = db_json(a, what,
                        "SELECT json_build_object('v', c.version, 'w', (SELECT coalesce(json_agg(word ORDER BY position),"
                        " '[]') FROM corpus_words WHERE corpus_id = c.id))::text FROM corpora c WHERE c.id = $1",
                        1, p, e);
    if (!j) return -1;
    json_t *w = json_object_get(j, "w");
    *version = (int)json_integer_value(json_object_get(j, "v"));
    *n = json_array_size(w);
    *words = calloc(*n + 1, sizeof **words);
    int rc = *words ? 0 : -1;
    for (size_t i = 0; !rc && i < *n; i++)
        if (!((*words)[i] = strdup(json_string_value(json_array_get(w, i)) ?: ""))) rc = -1;
    json_decref(j);
    if (rc) {
        corpus_words_free(*words, *n);
        *words = NULL;
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

json_t *corpus_json(app *a, int64_t id, err *e) {
    return db_json_by_id(a, "corpus", id, "SELECT " CORPUS_JSON "::text FROM corpora c WHERE c.id = $1", e);
}

json_t *corpus_list_json(app *a, const char *limit, const char *offset, err *e) {
    const char *p[] = {limit, offset};
    return db_json(a, NULL,
                   "SELECT json_build_object('items', (SELECT coalesce(json_agg(json_build_object('id', c.id, 'name',"
                   " c.name, 'version', c.version, 'word_count', (SELECT count(*) FROM corpus_words w WHERE"
                   " w.corpus_id = c.id), 'created_at', c.created_at) ORDER BY c.id), '[]') FROM (SELECT * FROM"
                   " corpora ORDER BY id LIMIT $1 OFFSET $2) c), 'total', (SELECT count(*) FROM corpora), 'limit',"
                   " $1::int, 'offset', $2::bigint)::text",
                   2, p, e);
}
