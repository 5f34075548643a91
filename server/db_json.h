/* db_json.h — run a query whose single cell is JSON text (built by PostgreSQL's
 * json_build_object / json_agg) and parse it. Most read routes are one such query. */
#ifndef INFICOND_DB_JSON_H
#define INFICOND_DB_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "app.h"
#include "err.h"

/* New JSON value, or NULL with e set. No row: ERR_NOT_FOUND with `what` in the
 * message ("no user 7"). A NULL cell is JSON null. */
json_t *db_json(app *a, const char *what, const char *sql, int nparams, const char *const *params,
                err *e);

/* db_json with one parameter, an id ($1); no row: ERR_NOT_FOUND "no <thing> <id>". */
json_t *db_json_by_id(app *a, const char *thing, int64_t id, const char *sql, err *e);

/* A query whose one cell is an id (a JSON number): the id, 0 when there is no row,
 * -1 with e set on an error. */
int64_t db_json_id(app *a, const char *sql, int nparams, const char *const *params, err *e);

#endif
