/* db.c — the libpq connection pool and query helpers.
 *
 * Slots connect lazily and reconnect after a failure, so the process survives
 * PostgreSQL restarts: while the server is down db_acquire fails fast with
 * ERR_UNAVAILABLE (HTTP 503) and the next request after it is back reconnects.
 */
#include "db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct db_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    int size;
    PGconn **conns; /* (size) NULL until first use or after a failure */
    int *busy;      /* (size) */
};

static void notice_silent(void *arg, const char *message) { (void)arg, (void)message; }

static PGconn *db_connect(const char *conninfo, err *e) {
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {conninfo, "5", "inficond", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        const char *m = c ? PQerrorMessage(c) : "out of memory";
        char brief[256];
        snprintf(brief, sizeof brief, "%s", m);
        char *nl = strchr(brief, '\n');
        if (nl) *nl = '\0';
        err_set(e, ERR_UNAVAILABLE, "database unavailable: %s", brief);
        PQfinish(c);
        return NULL;
    }
    /* Notices (e.g. "relation already exists, skipping") are not errors. */
    PQsetNoticeProcessor(c, notice_silent, NULL);
    PGresult *r = PQexec(c, "SET TIME ZONE 'UTC'");
    PQclear(r);
    return c;
}

db_pool *db_pool_open(const char *conninfo, int size, err *e) {
    if (!conninfo || !*conninfo) {
        err_set(e, ERR_UNPROCESSABLE, "DATABASE_URL is not set");
        return NULL;
    }
    if (size < 1) size = 1;
    db_pool *p = calloc(1, sizeof *p);
    if (!p) return err_set(e, ERR_INTERNAL, "out of memory"), NULL;
    p->conninfo = strdup(conninfo);
    p->size = size;
    p->conns = calloc((size_t)size, sizeof *p->conns);
    p->busy = calloc((size_t)size, sizeof *p->busy);
    if (!p->conninfo || !p->conns || !p->busy) {
        db_pool_close(p);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->conns[0] = db_connect(conninfo, e);
    if (!p->conns[0]) {
        db_pool_close(p);
        return NULL;
    }
    return p;
}

void db_pool_close(db_pool *p) {
    if (!p) return;
    if (p->conns)
        for (int i = 0; i < p->size; i++) PQfinish(p->conns[i]);
    free(p->conns);
    free(p->busy);
    free(p->conninfo);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}

PGconn *db_acquire(db_pool *p, err *e) {
    pthread_mutex_lock(&p->lock);
    int slot = -1;
    for (;;) {
        /* Prefer a slot that already has a live connection. */
        for (int i = 0; i < p->size && slot < 0; i++)
            if (!p->busy[i] && p->conns[i]) slot = i;
        for (int i = 0; i < p->size && slot < 0; i++)
            if (!p->busy[i]) slot = i;
        if (slot >= 0) break;
        pthread_cond_wait(&p->freed, &p->lock);
    }
    p->busy[slot] = 1;
    PGconn *c = p->conns[slot];
    pthread_mutex_unlock(&p->lock);

    if (c && PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = NULL;
    }
    if (!c) {
        c = db_connect(p->conninfo, e);
    }
    pthread_mutex_lock(&p->lock);
    p->conns[slot] = c;
    if (!c) {
        p->busy[slot] = 0;
        pthread_cond_signal(&p->freed);
    }
    pthread_mutex_unlock(&p->lock);
    return c;
}

void db_release(db_pool *p, PGconn *c) {
    if (!p || !c) return;
    /* A handler that returned inside a transaction (an error path) must not leak
     * it to the next borrower. */
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c, "ROLLBACK");
        PQclear(r);
    }
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i] == c) {
            if (PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                p->conns[i] = NULL;
            }
            p->busy[i] = 0;
            break;
        }
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

/* Map a failed result to our codes; log the database's own words, which may
 * name tables and values, and keep them out of API answers. */
static void db_fail(PGconn *c, PGresult *r, const char *sql, err *e) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    if (PQstatus(c) != CONNECTION_OK || (state && (!strncmp(state, "08", 2) ||
                                                   !strcmp(state, "57P01") ||
                                                   !strcmp(state, "57P03")))) {
        err_set(e, ERR_UNAVAILABLE, "database unavailable");
    } else if (state && (!strcmp(state, "23505") || !strcmp(state, "23P01") ||
                         !strcmp(state, "40001") || !strcmp(state, "40P01"))) {
        err_set(e, ERR_CONFLICT, "conflicting change: %s",
                PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)
                    ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)
                    : "already exists");
    } else {
        err_set(e, ERR_DB, "database error");
    }
    char first[160];
    snprintf(first, sizeof first, "%s", sql);
    for (char *q = first; *q; q++)
        if (*q == '\n') *q = ' ';
    log_warn("db: %s [%s] in: %.120s", msg ? msg : "?", state ? state : "-", first);
}

PGresult *db_exec_bin(PGconn *c, const char *sql, int nparams, const char *const *values,
                      const int *lengths, const int *formats, err *e) {
    PGresult *r = PQexecParams(c, sql, nparams, NULL, values, lengths, formats, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    db_fail(c, r, sql, e);
    PQclear(r);
    return NULL;
}

PGresult *db_exec(PGconn *c, const char *sql, int nparams, const char *const *params, err *e) {
    return db_exec_bin(c, sql, nparams, params, NULL, NULL, e);
}

int db_run(PGconn *c, const char *sql, int nparams, const char *const *params, err *e) {
    PGresult *r = db_exec(c, sql, nparams, params, e);
    if (!r) return -1;
    PQclear(r);
    return 0;
}

int db_begin(PGconn *c, err *e) { return db_run(c, "BEGIN", 0, NULL, e); }
int db_commit(PGconn *c, err *e) { return db_run(c, "COMMIT", 0, NULL, e); }
void db_rollback(PGconn *c) {
    PGresult *r = PQexec(c, "ROLLBACK");
    PQclear(r);
}

int db_ping(db_pool *p, err *e) {
    PGconn *c = db_acquire(p, e);
    if (!c) return -1;
    int rc = db_run(c, "SELECT 1", 0, NULL, e);
    db_release(p, c);
    return rc;
}

char *db_text_array(char *const *words, size_t n) {
    size_t len = 3;
    for (size_t i = 0; i < n; i++) len += 2 * strlen(words[i]) + 3;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        *p++ = '"';
        for (const char *c = words[i]; *c; c++) {
            if (*c == '"' || *c == '\\') *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = 0;
    return s;
}
