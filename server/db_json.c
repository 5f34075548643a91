/* db_json.c — single-cell JSON queries. */
#include "db_json.h"

#include <stdio.h>

json_t *db_json(app *a, const char *what, const char *sql, int nparams, const char *const *params,
                err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return NULL;
    PGresult *r = db_exec(c, sql, nparams, params, e);
    db_release(a->db, c);
    if (!r) return NULL;
    if (PQntuples(r) == 0) {
        PQclear(r);
        err_set(e, ERR_NOT_FOUND, "%s", what ? what : "not found");
        return NULL;
    }
    if (PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return json_null();
    }
    json_error_t je;
    json_t *j = json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, &je);
    PQclear(r);
    if (!j) err_set(e, ERR_INTERNAL, "bad JSON from the database: %s", je.text);
    return j;
}

json_t *db_json_by_id(app *a, const char *thing, int64_t id, const char *sql, err *e) {
    char ids[24], what[96];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(what, sizeof what, "no %s %lld", thing, (long long)id);
    const char *p[] = {ids};
    return db_json(a, what, sql, 1, p, e);
}

int64_t db_json_id(app *a, const char *sql, int nparams, const char *const *params, err *e) {
    json_t *v = db_json(a, "none", sql, nparams, params, e);
    if (!v) {
        if (e->code != ERR_NOT_FOUND) return -1;
        err_clear(e);
        return 0;
    }
    int64_t id = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    json_decref(v);
    return id;
}
