/* student_query_row.h — one row of a parameterised query as short text cells: how the
 * student modules read the few scalars they need from students, extractions and
 * teacher_outputs (ids, states, checksums, sizes: each under 80 characters). */
#ifndef INFICOND_STUDENT_QUERY_ROW_H
#define INFICOND_STUDENT_QUERY_ROW_H

#include "app.h"
#include "err.h"

/* Cells 0 .. ncols-1 of the first row copied into out (truncated to 79 characters);
 * nulls (ncols) or NULL: 1 where the cell is SQL NULL. No row: ERR_NOT_FOUND with the
 * message `what` ("no student 7"). */
int ss_query_row(app *a, const char *what, const char *sql, int np, const char *const *params, int ncols,
                 char (*out)[80], int *nulls, err *e) WARN_UNUSED;

#endif
