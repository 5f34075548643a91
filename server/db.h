/* db.h — a small pool of libpq connections; every query is parameterised.
 *
 * Connections are handed out whole (one caller at a time) and given back with
 * db_release. A connection found broken is reset on release, and acquiring one
 * while PostgreSQL is down fails fast with ERR_UNAVAILABLE (HTTP 503) instead of
 * blocking the request.
 */
#ifndef INFICOND_DB_H
#define INFICOND_DB_H

#include <libpq-fe.h>

#include "err.h"

typedef struct db_pool db_pool;

/* Opens `size` lazy slots against `conninfo` (a URL or key=value string).
 * Returns new pool or NULL. The first connection is tried at once so a wrong
 * URL is reported at start. */
db_pool *db_pool_open(const char *conninfo, int size, err *e) WARN_UNUSED;
void db_pool_close(db_pool *pool); /* NULL-safe; waits for nothing: call after threads stop */

/* Borrow a connection (waits while all are busy). NULL + ERR_UNAVAILABLE if down. */
PGconn *db_acquire(db_pool *pool, err *e) WARN_UNUSED;
/* Give it back. NULL-safe. */
void db_release(db_pool *pool, PGconn *conn);

/* Run `sql` with text parameters ($1..$n; a NULL entry is SQL NULL). Returns a new
 * PGresult the caller must PQclear, or NULL with e set: ERR_UNAVAILABLE when the
 * connection is gone, ERR_CONFLICT for unique/exclusion violations, ERR_DB else. */
PGresult *db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  err *e) WARN_UNUSED;

/* Same, with some parameters binary (lengths/formats as in PQexecParams). */
PGresult *db_exec_bin(PGconn *conn, const char *sql, int nparams, const char *const *values,
                      const int *lengths, const int *formats, err *e) WARN_UNUSED;

/* Convenience: run a statement whose rows are not needed. 0 or -1. */
int db_run(PGconn *conn, const char *sql, int nparams, const char *const *params,
           err *e) WARN_UNUSED;

/* BEGIN / COMMIT / ROLLBACK. rollback never fails loudly (used on error paths). */
int db_begin(PGconn *conn, err *e) WARN_UNUSED;
int db_commit(PGconn *conn, err *e) WARN_UNUSED;
void db_rollback(PGconn *conn);

/* Is the database reachable right now? (SELECT 1 on a pooled connection.) */
/* words as a PostgreSQL text[] literal, {"a","b c"} with " and \ escaped, for a
 * $n::text[] parameter; malloc'd (free it), NULL when out of memory. */
char *db_text_array(char *const *words, size_t n);

int db_ping(db_pool *pool, err *e);

#endif
