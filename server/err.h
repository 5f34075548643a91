/* err.h — the error type every fallible function in the server shares.
 *
 * A function that can fail takes a nullable `err *` as its last parameter and
 * returns a status (0 / -1, or NULL). The first error wins: err_set() does not
 * overwrite an error already recorded, so the deepest, most specific message
 * survives to the HTTP layer. Codes map to HTTP statuses in one table
 * (err_http_status) so every route answers the same way for the same failure.
 */
#ifndef INFICOND_ERR_H
#define INFICOND_ERR_H

#include <stdarg.h>

#define WARN_UNUSED __attribute__((warn_unused_result))

typedef enum {
    ERR_OK = 0,
    ERR_BAD_REQUEST,      /* 400: malformed input (JSON syntax, bad query)      */
    ERR_UNAUTHORIZED,     /* 401: no or invalid credentials                      */
    ERR_FORBIDDEN,        /* 403: authenticated but role too weak                */
    ERR_NOT_FOUND,        /* 404                                                 */
    ERR_CONFLICT,         /* 409: stale parent, duplicate name, state conflict   */
    ERR_TOO_LARGE,        /* 413                                                 */
    ERR_UNPROCESSABLE,    /* 422: well-formed but invalid fields                 */
    ERR_TOO_MANY,         /* 429                                                 */
    ERR_UNAVAILABLE,      /* 503: database down, shutting down                   */
    ERR_INTERNAL,         /* 500: a bug or an I/O failure; message is generic    */
    ERR_IO,               /* 500: file system failure (disk full, permissions)   */
    ERR_DB,               /* 500: a query failed for a reason other than outage  */
    ERR_TORCH,            /* 422 at model registration, 500 elsewhere            */
    ERR_CANCELLED,        /* a job saw its cancel flag                           */
    ERR_CORRUPT,          /* 500: stored data failed its checksum; the message
                             names only the blob's hash, so clients see it      */
    ERR__COUNT
} err_code;

typedef struct err {
    err_code code;
    char msg[512];
} err;

/* Record an error unless one is already recorded. NULL-safe. Returns -1 so
 * callers can `return err_set(e, ...)`. */
int err_set(err *e, err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int err_setv(err *e, err_code code, const char *fmt, va_list ap);
void err_clear(err *e);
int err_is_set(const err *e);

/* "bad_request", "not_found", ... : the machine-readable code in error bodies. */
const char *err_code_name(err_code code);
/* The HTTP status for a code (500 for unknown). */
unsigned err_http_status(err_code code);

#endif
