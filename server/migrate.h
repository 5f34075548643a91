/* migrate.h — schema migrations (migrations/NNN_name.sql), applied in order. */
#ifndef INFICOND_MIGRATE_H
#define INFICOND_MIGRATE_H

#include "db.h"
#include "err.h"

/* Apply pending migrations from `dir` on `conn`. *applied gets the count. A failed
 * file leaves the database as it was and e names the file and line. */
int migrate_apply(PGconn *conn, const char *dir, int *applied, err *e) WARN_UNUSED;
int migrate_pool(db_pool *pool, const char *dir, int *applied, err *e) WARN_UNUSED;

#endif
