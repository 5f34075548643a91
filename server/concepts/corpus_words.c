/* corpus_words.c — words added to a corpus: checked against its concept models,
 * inserted under the corpus row lock (see corpus_words.h).
 */
#include "concepts/corpus_words.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"
#include "db.h"
#include "models/model_registry.h"

int corpus_words_limit(const app *a) {
    int n = a->cfg.max_corpus_concepts;
    return n > 0 && n < CONCEPT_CORPUS_MAX ? n : CONCEPT_CORPUS_MAX;
}

int corpus_words_check_models(app *a, int64_t corpus_id, char *const *words, size_t n, err *e) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)corpus_id);
    const char *p[] = {ids};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *res = db_exec(c, "SELECT DISTINCT concept_model_id FROM extractions WHERE corpus_id = $1", 1, p, e);
    db_release(a->db, c);
    if (!res) return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && !rc; i++) {
        model_ref *m = model_registry_acquire(a, strtoll(PQgetvalue(res, i, 0), NULL, 10), e);
        float *emb = NULL;
        int D;
        rc = !m || concept_embed_words(a, m, words, n, &emb, &D, e) ? -1 : 0;
        free(emb);
        model_registry_release(m);
    }
    PQclear(res);
    return rc;
}

/* Under the corpus row lock (open transaction): the corpus exists and has room for
 * `more` words. */
static int lock_with_room(app *a, PGconn *c, int64_t id, size_t more, err *e) {
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    PGresult *res = db_exec(c, "SELECT (SELECT count(*) FROM corpus_words WHERE corpus_id = $1) FROM corpora"
                               " WHERE id = $1 FOR UPDATE", 1, p, e);
    if (!res) return -1;
    int found = PQntuples(res) == 1;
    long have = found ? atol(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    if (!found) return err_set(e, ERR_NOT_FOUND, "no corpus %lld", (long long)id);
    int limit = corpus_words_limit(a);
    if ((size_t)have + more <= (size_t)limit) return 0;
    return err_set(e, ERR_UNPROCESSABLE,
                   "corpus %lld holds %ld words: %zu more is over the limit of %d concepts per corpus"
                   " (INFICOND_MAX_CORPUS_CONCEPTS)", (long long)id, have, more, limit);
}

int corpus_words_add(app *a, int64_t corpus_id, char *const *words, size_t n, int present_ok, size_t *added,
                     err *e) {
    if (added) *added = 0;
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)corpus_id);
    char *arr = db_text_array(words, n);
    if (!arr) return err_set(e, ERR_INTERNAL, "out of memory");
    const char *p[] = {ids, arr};
    /* Fail fast, before any model runs: the corpus, its room, words already there. */
    PGconn *c = db_acquire(a->db, e);
    PGresult *res = NULL;
    int rc = -1;
    if (!c || db_begin(c, e) || lock_with_room(a, c, corpus_id, 0, e)) goto done;
    res = db_exec(c, "SELECT w FROM unnest($2::text[]) w WHERE EXISTS (SELECT 1 FROM corpus_words"
                     " WHERE corpus_id = $1 AND word = w)", 2, p, e);
    if (!res) goto done;
    size_t present = (size_t)PQntuples(res);
    if (present && !present_ok) {
        err_set(e, ERR_CONFLICT, "'%s' is already in the corpus", PQgetvalue(res, 0, 0));
        goto done;
    }
    PQclear(res), res = NULL;
    if (lock_with_room(a, c, corpus_id, n - present, e)) goto done;
    db_rollback(c); /* no lock held while the models embed the words */
    db_release(a->db, c), c = NULL;
    if (present == n) {
        rc = 0;
        goto done;
    }
    if (corpus_words_check_models(a, corpus_id, words, n, e)) goto done;
    if (!(c = db_acquire(a->db, e)) || db_begin(c, e) || lock_with_room(a, c, corpus_id, 0, e)) goto done;
    res = db_exec(c, "INSERT INTO corpus_words (corpus_id, position, word) SELECT $1,"
                     " (SELECT coalesce(max(position), 0) FROM corpus_words WHERE corpus_id = $1) + t.ord, t.w"
                     " FROM unnest($2::text[]) WITH ORDINALITY AS t(w, ord)"
                     " WHERE NOT EXISTS (SELECT 1 FROM corpus_words WHERE corpus_id = $1 AND word = t.w)", 2, p, e);
    if (!res) goto done;
    size_t inserted = (size_t)atol(PQcmdTuples(res));
    PQclear(res), res = NULL;
    /* Checked again under the lock: another request may have added words meanwhile. */
    if (lock_with_room(a, c, corpus_id, 0, e) ||
        (inserted && db_run(c, "UPDATE corpora SET version = version + 1, updated_at = now() WHERE id = $1", 1, p, e)) ||
        db_commit(c, e))
        goto done;
    if (added) *added = inserted;
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
