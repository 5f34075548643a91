/* err.c — error recording and the code -> HTTP status table. */
#include "err.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned status;
} err_table[ERR__COUNT] = {
    [ERR_OK] = {"ok", 200},
    [ERR_BAD_REQUEST] = {"bad_request", 400},
    [ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [ERR_FORBIDDEN] = {"forbidden", 403},
    [ERR_NOT_FOUND] = {"not_found", 404},
    [ERR_CONFLICT] = {"conflict", 409},
    [ERR_TOO_LARGE] = {"payload_too_large", 413},
    [ERR_UNPROCESSABLE] = {"unprocessable", 422},
    [ERR_TOO_MANY] = {"too_many_requests", 429},
    [ERR_UNAVAILABLE] = {"unavailable", 503},
    [ERR_INTERNAL] = {"internal", 500},
    [ERR_IO] = {"io_error", 500},
    [ERR_DB] = {"database_error", 500},
    [ERR_TORCH] = {"model_error", 500},
    [ERR_CANCELLED] = {"cancelled", 409},
    [ERR_CORRUPT] = {"data_corrupt", 500},
};

int err_setv(err *e, err_code code, const char *fmt, va_list ap) {
    if (!e || e->code != ERR_OK) return -1;
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int err_set(err *e, err_code code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err_setv(e, code, fmt, ap);
    va_end(ap);
    return -1;
}

void err_clear(err *e) {
    if (!e) return;
    e->code = ERR_OK;
    e->msg[0] = '\0';
}

int err_is_set(const err *e) { return e && e->code != ERR_OK; }

const char *err_code_name(err_code code) {
    if ((unsigned)code >= ERR__COUNT) return "internal";
    return err_table[code].name;
}

unsigned err_http_status(err_code code) {
    if ((unsigned)code >= ERR__COUNT) return 500;
    return err_table[code].status;
}
