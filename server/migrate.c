/* migrate.c — applies migrations/NNN_name.sql in order, each in its own
 * transaction, recorded in schema_migrations. An advisory lock keeps two
 * processes (serve and a worker starting together) from racing. A failing file
 * is rolled back whole and reported with its name and line. */
#include "migrate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "file_read.h"
#include "log.h"

#define MIGRATE_LOCK_KEY "7350113"
#define MIGRATION_FILE_MAX ((size_t)16 << 20)

static int is_migration_name(const char *n) {
    size_t len = strlen(n);
    return len > 8 && n[0] >= '0' && n[0] <= '9' && n[1] >= '0' && n[1] <= '9' && n[2] >= '0' &&
           n[2] <= '9' && n[3] == '_' && !strcmp(n + len - 4, ".sql");
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int line_of(const char *sql, long pos) {
    int line = 1;
    for (long i = 0; i < pos - 1 && sql[i]; i++)
        if (sql[i] == '\n') line++;
    return line;
}

/* Apply one file inside a transaction. The SQL runs through the simple-query
 * protocol because a migration holds many statements. */
static int apply_one(PGconn *c, const char *dir, const char *name, err *e) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *sql = file_read_all(path, MIGRATION_FILE_MAX, NULL, e);
    if (!sql) return -1;
    PGresult *r = PQexec(c, "BEGIN");
    PQclear(r);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        int line = pos ? line_of(sql, atol(pos)) : 0;
        if (line)
            err_set(e, ERR_DB, "migration %s failed at line %d: %s", name, line, msg ? msg : "?");
        else
            err_set(e, ERR_DB, "migration %s failed: %s", name, msg ? msg : PQerrorMessage(c));
        PQclear(r);
        db_rollback(c);
        free(sql);
        return -1;
    }
    PQclear(r);
    free(sql);
    const char *params[] = {name};
    if (db_run(c, "INSERT INTO schema_migrations(version) VALUES ($1)", 1, params, e) ||
        db_commit(c, e)) {
        db_rollback(c);
        return -1;
    }
    return 0;
}

int migrate_apply(PGconn *c, const char *dir, int *applied, err *e) {
    if (applied) *applied = 0;
    if (db_run(c,
               "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
               0, NULL, e) ||
        db_run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, e))
        return -1;
    int rc = -1, n = 0, cap = 0;
    char **names = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        err_set(e, ERR_IO, "cannot open migrations folder %s", dir);
        goto out;
    }
    for (struct dirent *ent; (ent = readdir(d));) {
        if (!is_migration_name(ent->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        const char *params[] = {names[i]};
        PGresult *r = db_exec(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params, e);
        if (!r) goto out;
        int done = PQntuples(r) > 0;
        PQclear(r);
        if (done) continue;
        if (apply_one(c, dir, names[i], e)) goto out;
        log_info("migrate: applied %s", names[i]);
        if (applied) (*applied)++;
    }
    rc = 0;
out:
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    PGresult *r = PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");
    PQclear(r);
    return rc;
}

int migrate_pool(db_pool *pool, const char *dir, int *applied, err *e) {
    PGconn *c = db_acquire(pool, e);
    if (!c) return -1;
    int rc = migrate_apply(c, dir, applied, e);
    db_release(pool, c);
    return rc;
}

int cmd_migrate(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: inficond migrate\n\n"
               "Applies the pending migrations in INFICOND_MIGRATIONS_DIR (./migrations) to\n"
               "DATABASE_URL, in order, each in its own transaction. Running it twice changes\n"
               "nothing. A failing migration is rolled back whole and named with its line.\n");
        return 0;
    }
    config cfg;
    err e = {0};
    if (config_from_env(&cfg, &e)) {
        fprintf(stderr, "inficond migrate: %s\n", e.msg);
        return 2;
    }
    db_pool *pool = db_pool_open(cfg.database_url, 1, &e);
    int applied = 0;
    if (!pool || migrate_pool(pool, cfg.migrations_dir, &applied, &e)) {
        fprintf(stderr, "inficond migrate: %s\n", e.msg);
        db_pool_close(pool);
        return 1;
    }
    printf("migrations applied: %d\n", applied);
    db_pool_close(pool);
    return 0;
}
