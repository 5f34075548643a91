/* student_query_row.c — one row of a parameterised query as text cells (see
 * student_query_row.h). */
#include "student/student_query_row.h"

#include <stdio.h>

#include "db.h"

/* One row of strings from a parameterised query, copied into out[0..ncols). */
int ss_query_row(app *a, const char *what, const char *sql, int np, const char *const *params, int ncols,
                 char (*out)[80], int *nulls, err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c, sql, np, params, e);
    db_release(a->db, c);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return err_set(e, ERR_NOT_FOUND, "%s", what);
    }
    for (int i = 0; i < ncols; i++) {
        snprintf(out[i], 80, "%s", PQgetvalue(r, 0, i));
        if (nulls) nulls[i] = PQgetisnull(r, 0, i);
    }
    PQclear(r);
    return 0;
}
