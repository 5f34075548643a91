/* config.c — environment variables -> struct config, with defaults and checks. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The parser's own ceiling (CONCEPT_CORPUS_MAX in concepts.h): a corpus is checked
 * for repeats word by word, so far larger ones would be slow to accept. */
#define CORPUS_CONCEPTS_CEILING 20000

static const char help_text[] =
    "Environment:\n"
    "  DATABASE_URL             PostgreSQL connection (URL or key=value); required by\n"
    "                           serve, worker and migrate (make run starts a private one)\n"
    "  INFICOND_PORT            HTTP port (8080)\n"
    "  INFICOND_BIND            address to listen on (127.0.0.1; 0.0.0.0 in Docker)\n"
    "  INFICOND_DATA_DIR        images, blobs, models, uploads (./var; a relative\n"
    "                           folder is taken from where the server starts)\n"
    "  INFICOND_STATIC_DIR      the web page's files (./static)\n"
    "  INFICOND_MIGRATIONS_DIR  SQL migrations (./migrations)\n"
    "  INFICOND_ADMIN_TOKEN     token of the first admin, created when none exists\n"
    "                           (otherwise a random one is printed once)\n"
    "  INFICOND_WORKERS         job worker threads in serve / worker (2)\n"
    "  INFICOND_HTTP_THREADS    HTTP threads (4)\n"
    "  INFICOND_DB_POOL         database connections (HTTP threads + workers + 2)\n"
    "  INFICOND_MAX_BODY_MB     largest JSON request body (16)\n"
    "  INFICOND_MAX_UPLOAD_MB   largest upload, e.g. a .tar of images (2048)\n"
    "  INFICOND_TORCH_THREADS   libtorch intra-op threads (1)\n"
    "  INFICOND_HEARTBEAT_MS    how often a running job proves its worker alive (2000)\n"
    "  INFICOND_STALE_AFTER_MS  silence after which a running job's worker counts as dead\n"
    "                           and the job is re-queued or failed (15000)\n"
    "  INFICOND_JOB_MAX_ATTEMPTS  runs a job gets before it is failed (2)\n"
    "  INFICOND_CHUNK_IMAGES      images per chunk task of an extraction or teacher\n"
    "                             outputs, the unit workers share (2048)\n"
    "  INFICOND_LOG_LEVEL       debug | info | warn | error (info)\n"
    "  INFICOND_MAX_IMPORT_IMAGES  images one import may hold; a larger one fails\n"
    "                           before storing anything (1000000)\n"
    "  INFICOND_MAX_CORPUS_CONCEPTS  concept words per corpus (10000, at most 20000)\n"
    "  INFICOND_LOGIN_MAX_FAILURES  failed logins per account name or client address\n"
    "                           within the window before logins are refused (10)\n"
    "  INFICOND_LOGIN_WINDOW_S  that window, and the lockout after it, in seconds (60)\n"
    "  INFICOND_TLS_CERT        PEM certificate (chain) file: serve HTTPS; needs\n"
    "  INFICOND_TLS_KEY         the PEM private key file too (both or neither)\n"
    "  INFICOND_TRUSTED_PROXIES  reverse proxies (addresses or CIDR ranges, comma-\n"
    "                           separated) whose X-Forwarded-Proto / X-Forwarded-For are\n"
    "                           believed: Secure cookie and HSTS when the client spoke\n"
    "                           HTTPS, login limits per real client (unset: none)\n"
    "  INFICOND_PREDICT_MAX     predictions (POST .../predict) running at once, all\n"
    "                           users together; more get 429 (half the HTTP threads)\n"
    "  INFICOND_PREDICT_PER_USER  predictions one user may run at once (1)\n"
    "  INFICOND_DEMO            off | small | full (full): build the demo world on the\n"
    "                           first start, when no demo project exists\n"
    "  INFICOND_SEGMENT_CACHE_MB  memory for parsed segment chunks of the read\n"
    "                           routes (256; 0: off)\n"
    "  INFICOND_DATA_QUOTA_BYTES  test/admin knob: bytes of new blobs this process may\n"
    "                           write before writes fail as on a full disk (unset)\n";

const char *config_help(void) { return help_text; }

/* A relative folder made absolute against the working directory at start: paths
 * built from it are stored (model copies) and checked (folder imports refuse
 * relative paths), and must mean the same folder whatever the process does later. */
static int absolute_dir(const char *name, char *path, size_t cap, err *e) {
    if (path[0] == '/') return 0;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return err_set(e, ERR_INTERNAL, "%s (%s) is relative and the working folder is unknown: %s", name, path,
                       strerror(errno));
    const char *rel = path;
    while (rel[0] == '.' && rel[1] == '/') rel += 2 + strspn(rel + 2, "/");
    if (!strcmp(rel, ".")) rel = "";
    char joined[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s%s%s", cwd, *rel && strcmp(cwd, "/") ? "/" : "", rel);
    if (n < 0 || (size_t)n >= sizeof joined || (size_t)n >= cap)
        return err_set(e, ERR_UNPROCESSABLE, "%s (%s) is too long once made absolute", name, path);
    memcpy(path, joined, (size_t)n + 1);
    return 0;
}

static int env_str(const char *name, const char *def, char *out, size_t cap, err *e) {
    const char *v = getenv(name);
    if (!v || !*v) v = def;
    if (strlen(v) >= cap) return err_set(e, ERR_UNPROCESSABLE, "%s is too long", name);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int env_long(const char *name, long def, long lo, long hi, long *out, err *e) {
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi)
        return err_set(e, ERR_UNPROCESSABLE, "%s must be an integer in [%ld, %ld], got '%s'",
                       name, lo, hi, v);
    *out = x;
    return 0;
}

int config_from_env(config *c, err *e) {
    memset(c, 0, sizeof *c);
    long port, workers, http_threads, pool, body_mb, upload_mb, torch, hb, stale, attempts, chunk;
    if (env_long("INFICOND_PORT", 8080, 1, 65535, &port, e) ||
        env_long("INFICOND_WORKERS", 2, 0, 64, &workers, e) ||
        env_long("INFICOND_HTTP_THREADS", 4, 1, 64, &http_threads, e) ||
        env_long("INFICOND_DB_POOL", 0, 0, 256, &pool, e) ||
        env_long("INFICOND_MAX_BODY_MB", 16, 1, 4096, &body_mb, e) ||
        env_long("INFICOND_MAX_UPLOAD_MB", 2048, 1, 1 << 20, &upload_mb, e) ||
        env_long("INFICOND_TORCH_THREADS", 1, 1, 256, &torch, e) ||
        env_long("INFICOND_HEARTBEAT_MS", 2000, 50, 600000, &hb, e) ||
        env_long("INFICOND_STALE_AFTER_MS", 15000, 200, 86400000, &stale, e) ||
        env_long("INFICOND_JOB_MAX_ATTEMPTS", 2, 1, 100, &attempts, e) ||
        env_long("INFICOND_CHUNK_IMAGES", 2048, 1, 1 << 20, &chunk, e))
        return -1;
    if (stale <= 2 * hb)
        return err_set(e, ERR_UNPROCESSABLE,
                       "INFICOND_STALE_AFTER_MS (%ld) must exceed twice INFICOND_HEARTBEAT_MS (%ld)",
                       stale, hb);
    c->port = (int)port;
    c->workers = (int)workers;
    c->http_threads = (int)http_threads;
    c->db_pool_size = pool ? (int)pool : (int)(http_threads + workers + 2);
    c->max_body_bytes = (size_t)body_mb << 20;
    c->max_upload_bytes = (size_t)upload_mb << 20;
    c->torch_threads = (int)torch;
    c->heartbeat_ms = (int)hb;
    c->stale_after_ms = (int)stale;
    c->job_max_attempts = (int)attempts;
    c->chunk_images = (int)chunk;
    if (env_str("INFICOND_BIND", "127.0.0.1", c->bind, sizeof c->bind, e) ||
        env_str("INFICOND_DATA_DIR", "./var", c->data_dir, sizeof c->data_dir, e) ||
        env_str("INFICOND_STATIC_DIR", "./static", c->static_dir, sizeof c->static_dir, e) ||
        env_str("INFICOND_MIGRATIONS_DIR", "./migrations", c->migrations_dir,
                sizeof c->migrations_dir, e) ||
        env_str("DATABASE_URL", "", c->database_url, sizeof c->database_url, e) ||
        env_str("INFICOND_ADMIN_TOKEN", "", c->admin_token, sizeof c->admin_token, e) ||
        env_str("INFICOND_LOG_LEVEL", "info", c->log_level, sizeof c->log_level, e) ||
        absolute_dir("INFICOND_DATA_DIR", c->data_dir, sizeof c->data_dir, e))
        return -1;
    long max_import, max_concepts, login_failures, login_window;
    if (env_long("INFICOND_MAX_IMPORT_IMAGES", 1000000, 1, 1000000000L, &max_import, e) ||
        env_long("INFICOND_MAX_CORPUS_CONCEPTS", 10000, 1, CORPUS_CONCEPTS_CEILING, &max_concepts, e) ||
        env_long("INFICOND_LOGIN_MAX_FAILURES", 10, 1, 100000, &login_failures, e) ||
        env_long("INFICOND_LOGIN_WINDOW_S", 60, 1, 86400, &login_window, e) ||
        env_str("INFICOND_TLS_CERT", "", c->tls_cert, sizeof c->tls_cert, e) ||
        env_str("INFICOND_TLS_KEY", "", c->tls_key, sizeof c->tls_key, e))
        return -1;
    c->max_import_images = max_import;
    c->max_corpus_concepts = (int)max_concepts;
    c->login_max_failures = (int)login_failures;
    c->login_window_s = (int)login_window;
    long predict_max, predict_per_user;
    long predict_default = c->http_threads / 2 > 0 ? c->http_threads / 2 : 1;
    if (env_long("INFICOND_PREDICT_MAX", predict_default, 1, 1024, &predict_max, e) ||
        env_long("INFICOND_PREDICT_PER_USER", 1, 1, 1024, &predict_per_user, e) ||
        proxies_parse(getenv("INFICOND_TRUSTED_PROXIES"), "INFICOND_TRUSTED_PROXIES", &c->trusted_proxies, e))
        return -1;
    c->predict_max = (int)predict_max;
    c->predict_per_user = (int)predict_per_user;
    if (!c->tls_cert[0] != !c->tls_key[0])
        return err_set(e, ERR_UNPROCESSABLE, "%s is set but %s is not: HTTPS needs both the certificate and "
                       "the key (or neither, for plain HTTP)",
                       c->tls_cert[0] ? "INFICOND_TLS_CERT" : "INFICOND_TLS_KEY",
                       c->tls_cert[0] ? "INFICOND_TLS_KEY" : "INFICOND_TLS_CERT");
    if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
        strcmp(c->log_level, "warn") && strcmp(c->log_level, "error"))
        return err_set(e, ERR_UNPROCESSABLE, "INFICOND_LOG_LEVEL must be debug, info, warn or error");
    return 0;
}
