/* serve.c — `inficond serve` (HTTP + job workers) and `inficond worker` (workers
 * only). Both migrate the database first, then run until SIGINT/SIGTERM, when
 * running jobs are interrupted and re-queued so nothing is lost. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "busy_limit.h"
#include "commands.h"
#include "data_sweep.h"
#include "db_json.h"
#include "demo/demo_job.h"
#include "http_server.h"
#include "inficond_shim.h"
#include "job_kinds.h"
#include "jobs.h"
#include "log.h"
#include "login_limit.h"
#include "migrate.h"
#include "routes.h"
#include "static_files.h"
#include "version.h"

static int mkdir_p(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

static void set_log_level(const char *name) {
    log_set_level(!strcmp(name, "debug") ? LOG_DEBUG
                  : !strcmp(name, "warn") ? LOG_WARN
                  : !strcmp(name, "error") ? LOG_ERROR
                                           : LOG_INFO);
}

/* Shared start-up: config, data folder, database, migrations. */
static int app_open(app *a, const char *who, err *e) {
    memset(a, 0, sizeof *a);
    if (config_from_env(&a->cfg, e)) return -1;
    set_log_level(a->cfg.log_level);
    /* OpenMP and OpenBLAS spin extra threads unless told: on a small machine that
     * made training many times slower. Must be set before libtorch starts them. */
    char n[16];
    snprintf(n, sizeof n, "%d", a->cfg.torch_threads);
    setenv("OMP_NUM_THREADS", n, 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    shim_set_threads(a->cfg.torch_threads);
    if (auth_init()) return err_set(e, ERR_INTERNAL, "libsodium failed to initialise");
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s/tmp", a->cfg.data_dir);
    if (mkdir_p(a->cfg.data_dir) || mkdir_p(tmp))
        return err_set(e, ERR_IO, "cannot create the data folder %s: %s", a->cfg.data_dir,
                       strerror(errno));
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(a->worker_name, sizeof a->worker_name, "%s:%d:%s", host, (int)getpid(), who);
    job_kinds_install(a);
    a->db = db_pool_open(a->cfg.database_url, a->cfg.db_pool_size, e);
    if (!a->db) return -1;
    int applied = 0;
    if (migrate_pool(a->db, a->cfg.migrations_dir, &applied, e)) return -1;
    if (applied) log_info("migrate: %d migration(s) applied", applied);
    return 0;
}

/* Block the stop signals in every thread (they inherit the mask) and wait for one
 * here, so no worker is interrupted mid-syscall. */
static void block_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Leftovers of killed work in the data folder (data_sweep.h), once at start; the
 * uploads of import jobs still queued or running are kept. A failure only warns. */
#define SWEEP_MIN_AGE_S 3600
static void sweep_leftovers(app *a) {
    err e = {0};
    json_t *keep = db_json(a, NULL,
                           "SELECT coalesce(json_agg(params->>'path'), '[]')::text FROM jobs"
                           " WHERE state IN ('queued', 'running') AND params->>'upload' = 'true'",
                           0, NULL, &e);
    if (!keep) {
        log_warn("sweep: skipped: %s", e.msg);
        return;
    }
    size_t n = json_array_size(keep);
    const char **paths = calloc(n + 1, sizeof *paths);
    for (size_t i = 0; paths && i < n; i++) paths[i] = json_string_value(json_array_get(keep, i));
    data_sweep_report r;
    if (!paths)
        log_warn("sweep: skipped: out of memory");
    else if (data_sweep(a->cfg.data_dir, SWEEP_MIN_AGE_S, paths, n, &r, &e))
        log_warn("sweep: %s", e.msg);
    else if (r.removed || r.failed)
        log_info("sweep: %ld leftover(s) of interrupted work removed (%lld bytes), %ld could not be", r.removed,
                 r.bytes, r.failed);
    free(paths);
    json_decref(keep);
}

static int wants_help(int argc, char **argv, const char *text) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("%s\n%s", text, config_help());
        return 1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv) {
    if (wants_help(argc, argv,
                   "Usage: inficond serve\n\n"
                   "Serves the web page and the REST API (/api/v1) and runs INFICOND_WORKERS job\n"
                   "workers. Migrates the database at start. On first start creates the user\n"
                   "'admin' and prints its token (or uses INFICOND_ADMIN_TOKEN).\n"))
        return 0;
    sigset_t set;
    block_signals(&set);
    app a;
    err e = {0};
    if (app_open(&a, "serve", &e) || static_check_vendor(a.cfg.static_dir, &e) ||
        auth_ensure_admin(&a, &e)) {
        fprintf(stderr, "inficond serve: %s\n", e.msg);
        db_pool_close(a.db);
        return 1;
    }
    sweep_leftovers(&a);
    a.logins = login_limit_new(a.cfg.login_max_failures, a.cfg.login_window_s);
    a.predictions = busy_limit_new(a.cfg.predict_max, a.cfg.predict_per_user);
    int made = a.logins && a.predictions;
    http_server *http = made ? http_server_start(&a, routes_table(), static_serve, &e) : NULL;
    if (!http) {
        fprintf(stderr, "inficond serve: %s\n", made ? e.msg : "out of memory");
        login_limit_free(a.logins);
        busy_limit_free(a.predictions);
        db_pool_close(a.db);
        return 1;
    }
    job_workers *workers = a.cfg.workers > 0 ? job_workers_start(&a, a.cfg.workers, &e) : NULL;
    int64_t demo_job = 0; /* first start: queue the demo build (INFICOND_DEMO, demo_job.h) */
    if (demo_autostart(&a, &demo_job, &e)) log_warn("demo: not queued: %s", e.msg);
    log_info("inficond %s serving on %s://%s:%d/ (libtorch %s, %s)", INFICOND_VERSION,
             a.cfg.tls_cert[0] ? "https" : "http",
             strcmp(a.cfg.bind, "0.0.0.0") ? a.cfg.bind : "localhost", a.cfg.port,
             shim_torch_version(), shim_device_name());
    int sig = 0;
    sigwait(&set, &sig);
    log_info("inficond: %s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&a.stopping, 1);
    job_workers_stop(workers);
    http_server_stop(http);
    login_limit_free(a.logins);
    busy_limit_free(a.predictions);
    db_pool_close(a.db);
    log_info("inficond: stopped");
    return 0;
}

int cmd_worker(int argc, char **argv) {
    if (wants_help(argc, argv,
                   "Usage: inficond worker\n\n"
                   "Runs INFICOND_WORKERS job workers against DATABASE_URL without serving HTTP:\n"
                   "start more of them, on more machines, to scale out. They take whole jobs and\n"
                   "the chunk tasks of an extraction or a teacher-outputs run (INFICOND_CHUNK_IMAGES\n"
                   "images each). Every process must share the database and the data folder\n"
                   "(INFICOND_DATA_DIR: one Docker volume, or a network file system mounted at the\n"
                   "same path) and run the same version.\n"))
        return 0;
    sigset_t set;
    block_signals(&set);
    app a;
    err e = {0};
    if (app_open(&a, "worker", &e)) {
        fprintf(stderr, "inficond worker: %s\n", e.msg);
        db_pool_close(a.db);
        return 1;
    }
    int n = a.cfg.workers > 0 ? a.cfg.workers : 1;
    job_workers *workers = job_workers_start(&a, n, &e);
    if (!workers) {
        fprintf(stderr, "inficond worker: %s\n", e.msg);
        db_pool_close(a.db);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    log_info("inficond worker: stopping");
    atomic_store(&a.stopping, 1);
    job_workers_stop(workers);
    db_pool_close(a.db);
    return 0;
}
