/* config.h — settings read once from the environment at start (see `inficond --help`). */
#ifndef INFICOND_CONFIG_H
#define INFICOND_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "err.h"
#include "proxies.h"

typedef struct config {
    int port;                      /* INFICOND_PORT, 8080                              */
    char bind[64];                 /* INFICOND_BIND, 127.0.0.1 ("0.0.0.0" in Docker)    */
    char data_dir[PATH_MAX];       /* INFICOND_DATA_DIR, ./var; made absolute at start  */
    char static_dir[PATH_MAX];     /* INFICOND_STATIC_DIR, ./static                     */
    char migrations_dir[PATH_MAX]; /* INFICOND_MIGRATIONS_DIR, ./migrations             */
    char database_url[2048];       /* DATABASE_URL (required by serve/worker/migrate)   */
    char admin_token[256];         /* INFICOND_ADMIN_TOKEN: first admin's token if set  */
    int workers;                   /* INFICOND_WORKERS, 2: job threads in serve/worker  */
    int http_threads;              /* INFICOND_HTTP_THREADS, 4                          */
    int db_pool_size;              /* INFICOND_DB_POOL, http_threads + workers + 2      */
    size_t max_body_bytes;         /* INFICOND_MAX_BODY_MB, 16                          */
    size_t max_upload_bytes;       /* INFICOND_MAX_UPLOAD_MB, 2048                      */
    int torch_threads;             /* INFICOND_TORCH_THREADS, 1                         */
    int heartbeat_ms;              /* INFICOND_HEARTBEAT_MS, 2000                       */
    int stale_after_ms;            /* INFICOND_STALE_AFTER_MS, 15000                    */
    int job_max_attempts;          /* INFICOND_JOB_MAX_ATTEMPTS, 2                      */
    int chunk_images;              /* INFICOND_CHUNK_IMAGES, 2048: images per chunk task */
    char log_level[16];            /* INFICOND_LOG_LEVEL, info                          */
    long max_import_images;        /* INFICOND_MAX_IMPORT_IMAGES, 1000000: per import   */
    int max_corpus_concepts;       /* INFICOND_MAX_CORPUS_CONCEPTS, 10000 (<= CONCEPT_CORPUS_MAX) */
    int login_max_failures;        /* INFICOND_LOGIN_MAX_FAILURES, 10: per name/address  */
    int login_window_s;            /* INFICOND_LOGIN_WINDOW_S, 60: failure window = lockout */
    char tls_cert[PATH_MAX];       /* INFICOND_TLS_CERT: PEM file; with tls_key, HTTPS  */
    char tls_key[PATH_MAX];        /* INFICOND_TLS_KEY: PEM file; both or neither       */
    proxy_list trusted_proxies;    /* INFICOND_TRUSTED_PROXIES: believed X-Forwarded-*  */
    int predict_max;               /* INFICOND_PREDICT_MAX: predictions at once, all users */
    int predict_per_user;          /* INFICOND_PREDICT_PER_USER: at once, per user      */
} config;

/* Fill `c` from the environment. Returns -1 with e set on an unparsable value. */
int config_from_env(config *c, err *e) WARN_UNUSED;

/* The help text listing every variable, its default and meaning. Static storage. */
const char *config_help(void);

#endif
