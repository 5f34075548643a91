/* cmd_demo.c — `inficond demo`: build the demo project and print the demo world's
 * quality report; `--report` prints the last report again.
 *
 * Without --out this goes through the job system like the first `make run`: it
 * queues a "demo.build" job (or follows one already queued or running, or reuses a
 * succeeded one with the same scale and seed), runs job workers in this process so
 * it works with no server running, follows the job's progress on stderr (then the
 * project's concept extraction job, so the project is ready to distil, then queues
 * and follows the demo.story job that distils and tunes the demo student) and prints
 * the report as JSON on stdout's last line (a short table before it). Needs
 * DATABASE_URL. With --out DIR it only builds the world into DIR (no database),
 * which is what tests use; --evaluate re-measures the models found in DIR.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "commands.h"
#include "config.h"
#include "demo/demo_job.h"
#include "db_json.h"
#include "demo/demo_story.h"
#include "demo/demo_world.h"
#include "inficond_shim.h"
#include "job_kinds.h"
#include "jobs.h"
#include "migrate.h"

static const char usage_text[] =
    "Usage: inficond demo [--scale small|full] [--seed N]\n"
    "       inficond demo --report\n"
    "       inficond demo --out DIR [--scale small|full] [--seed N]\n"
    "       inficond demo --out DIR --report | --evaluate [--scale ...] [--seed N]\n\n"
    "Builds the demo project: scenes composed from Debian's Fashion-MNIST, a teacher CNN\n"
    "and a dense concept model trained here through libtorch, the scenes imported as the\n"
    "dataset \"demo\", the models registered as \"demo-teacher\" and \"demo-concepts\", the\n"
    "teacher's outputs, the corpus \"demo\", the project \"demo\" and its concept\n"
    "extraction (its own job, followed here too). This queues a demo.build job (or\n"
    "follows the one already there) and runs job workers in this process, so no server\n"
    "is needed; it needs DATABASE_URL. Progress goes to stderr; the world's measured\n"
    "quality (teacher accuracy per split, per-word concept AUC on test, time per stage)\n"
    "is printed as a short table and then one JSON object on the last line. --scale\n"
    "small (2k train scenes, about a minute) is for tests; full (20k, the default) is\n"
    "the real demo.\n\n"
    "  --report      print the newest built demo's report (from its job, else from the\n"
    "                data folder) without building\n"
    "  --out DIR     build only the world into DIR (no database)\n"
    "  --evaluate    with --out: measure the models in DIR again (no training) and print\n"
    "                {teacher, concepts} as JSON\n";

static void print_table(const json_t *r) {
    json_t *t = json_object_get(r, "teacher"), *c = json_object_get(r, "concepts");
    printf("teacher accuracy    val %.3f   test %.3f   shifted %.3f\n",
           json_number_value(json_object_get(t, "val")), json_number_value(json_object_get(t, "test")),
           json_number_value(json_object_get(t, "shifted")));
    printf("concept AUC (test)  mean %.3f   min %.3f (%s)\n", json_number_value(json_object_get(c, "mean_auc")),
           json_number_value(json_object_get(c, "min_auc")), json_string_value(json_object_get(c, "min_word")));
    json_t *st = json_object_get(r, "student");
    if (st)
        printf("student             test fidelity %.3f   shifted %.3f;  tuned: test %.3f   shifted %.3f\n",
               json_number_value(json_object_get(st, "test_fidelity")),
               json_number_value(json_object_get(st, "shifted_accuracy")),
               json_number_value(json_object_get(st, "tuned_test_accuracy")),
               json_number_value(json_object_get(st, "tuned_shifted_accuracy")));
    json_t *s = json_object_get(r, "seconds");
    if (s) printf("seconds             total %.1f\n", json_number_value(json_object_get(s, "total")));
}

/* The table, then the JSON on the last line. Steals r. */
static int print_report(json_t *r, int table) {
    if (table) print_table(r);
    char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(r);
    if (!s) return 1;
    puts(s);
    free(s);
    return fflush(stdout) ? 1 : 0;
}

static int print_progress(void *ud, double frac, const char *msg) {
    (void)ud;
    fprintf(stderr, "\rdemo: %5.1f%%  %-60.60s", frac * 100.0, msg);
    if (frac >= 1.0) fputc('\n', stderr);
    return 0;
}

/* The newest <data_dir>/demo-*\/report.json (or the legacy <data_dir>/demo/). */
static json_t *report_from_folder(const char *data_dir) {
    DIR *d = opendir(data_dir);
    if (!d) return NULL;
    char best[PATH_MAX + 300] = "";
    time_t best_t = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "demo", 4) || (de->d_name[4] && de->d_name[4] != '-')) continue;
        char p[PATH_MAX + 300];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s/report.json", data_dir, de->d_name);
        if (stat(p, &st) == 0 && (!*best || st.st_mtime > best_t)) {
            snprintf(best, sizeof best, "%s", p);
            best_t = st.st_mtime;
        }
    }
    closedir(d);
    return *best ? json_load_file(best, 0, NULL) : NULL;
}

/* config, data folder, thread settings, database, migrations — as serve does. */
static int open_app(app *a, err *e) {
    memset(a, 0, sizeof *a);
    if (config_from_env(&a->cfg, e)) return -1;
    if (!a->cfg.database_url[0])
        return err_set(e, ERR_UNAVAILABLE,
                       "DATABASE_URL is not set (it is needed to register the demo; --out DIR builds the world alone)");
    char n[16];
    snprintf(n, sizeof n, "%d", a->cfg.torch_threads);
    setenv("OMP_NUM_THREADS", n, 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    shim_set_threads(a->cfg.torch_threads);
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s/tmp", a->cfg.data_dir);
    if ((mkdir(a->cfg.data_dir, 0755) && errno != EEXIST) || (mkdir(tmp, 0755) && errno != EEXIST))
        return err_set(e, ERR_IO, "cannot create the data folder %s: %s", a->cfg.data_dir, strerror(errno));
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(a->worker_name, sizeof a->worker_name, "%s:%d:demo", host, (int)getpid());
    job_kinds_install(a);
    int workers = a->cfg.workers > 0 ? a->cfg.workers : 1;
    a->db = db_pool_open(a->cfg.database_url, workers + 3, e);
    if (!a->db) return -1;
    int applied = 0;
    return migrate_pool(a->db, a->cfg.migrations_dir, &applied, e);
}

/* The succeeded demo.story job of demo.build job build_id (its JSON, new), or NULL. */
static json_t *demo_find_story(app *a, json_int_t build_id, err *e) {
    char bs[24];
    snprintf(bs, sizeof bs, "%lld", (long long)build_id);
    const char *p[] = {bs};
    int64_t id = db_json_id(a,
                            "SELECT id::text FROM jobs WHERE kind = 'demo.story' AND state = 'succeeded'"
                            " AND params->>'build_job_id' = $1 ORDER BY id DESC LIMIT 1",
                            1, p, e);
    return id > 0 ? jobs_get_json(a, id, e) : NULL;
}

static int report_main(void) {
    config cfg;
    err e = {0};
    if (config_from_env(&cfg, &e)) {
        fprintf(stderr, "inficond demo: %s\n", e.msg);
        return 2;
    }
    json_t *report = NULL;
    if (cfg.database_url[0]) {
        app a;
        if (open_app(&a, &e) == 0) {
            json_t *job = demo_find_job(&a, "{succeeded}", NULL, 0, &e);
            report = json_incref(json_object_get(json_object_get(job, "result"), "report"));
            /* With the student's fields when its demo.story job succeeded. */
            json_t *sj = job ? demo_find_story(&a, json_integer_value(json_object_get(job, "id")), &e) : NULL;
            const char *st = sj ? json_string_value(json_object_get(sj, "state")) : NULL;
            json_t *full = st && !strcmp(st, "succeeded") ? json_object_get(json_object_get(sj, "result"), "report") : NULL;
            if (full) {
                json_decref(report);
                report = json_incref(full);
            }
            json_decref(sj);
            json_decref(job);
        }
        db_pool_close(a.db);
    }
    if (!report) report = report_from_folder(cfg.data_dir);
    if (!report) {
        fprintf(stderr, "inficond demo: no demo has been built yet (run `inficond demo`)\n");
        return 1;
    }
    return print_report(report, 1);
}

/* Print a job's progress until it ends; returns its final JSON (new), NULL with e set
 * when it cannot be read or on Ctrl-C (*interrupted: the job goes back to the queue).
 * Steals job, the first reading. */
static json_t *follow(app *a, int64_t id, json_t *job, sigset_t *set, int *interrupted, err *e) {
    time_t shown = 0;
    char last[256] = "";
    *interrupted = 0;
    while (job) {
        const char *state = json_string_value(json_object_get(job, "state"));
        int done = !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled");
        const char *msg = json_string_value(json_object_get(job, "message"));
        /* A line at most every 2 s (the workers' log lines interleave with these). */
        if ((time(NULL) - shown >= 2 || done) && strcmp(last, msg ? msg : "")) {
            fprintf(stderr, "demo: %5.1f%%  %s\n", json_number_value(json_object_get(job, "progress")) * 100.0,
                    msg ? msg : "");
            shown = time(NULL);
            snprintf(last, sizeof last, "%s", msg ? msg : "");
        }
        if (done) return job;
        struct timespec ts = {0, 250 * 1000 * 1000};
        if (sigtimedwait(set, NULL, &ts) > 0) {
            err_set(e, ERR_CANCELLED, "interrupted; job %lld goes back to the queue", (long long)id);
            json_decref(job);
            *interrupted = 1;
            return NULL;
        }
        json_decref(job);
        job = jobs_get_json(a, id, e);
    }
    return NULL;
}

/* Queue (or find) the demo.build job, run workers here and follow it. */
static int build_main(const char *scale, unsigned long long seed) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit it; we sigtimedwait */
    app a;
    err e = {0};
    job_workers *w = NULL;
    int rc = 1;
    if (open_app(&a, &e)) goto fail;
    json_t *job = demo_find_job(&a, "{queued,running}", scale, (int64_t)seed, &e);
    if (!job && e.code == ERR_NOT_FOUND) {
        err_clear(&e);
        job = demo_find_job(&a, "{succeeded}", scale, (int64_t)seed, &e);
    }
    if (!job && e.code == ERR_NOT_FOUND) {
        err_clear(&e);
        json_t *params = json_pack("{s:s,s:I}", "scale", scale, "seed", (json_int_t)seed);
        int64_t id = jobs_enqueue(&a, "demo.build", params, 0, &e);
        json_decref(params);
        if (id > 0) {
            fprintf(stderr, "demo: queued job %lld (demo.build, scale %s, seed %llu)\n", (long long)id, scale, seed);
            job = jobs_get_json(&a, id, &e);
        }
    }
    if (!job) goto fail;
    int64_t id = (int64_t)json_integer_value(json_object_get(job, "id"));
    const char *state = json_string_value(json_object_get(job, "state"));
    if (strcmp(state, "succeeded")) {
        if (!(w = job_workers_start(&a, a.cfg.workers > 0 ? a.cfg.workers : 1, &e))) goto fail;
        fprintf(stderr, "demo: following job %lld (Ctrl-C stops here; the job is re-queued)\n", (long long)id);
    }
    int interrupted = 0;
    job = follow(&a, id, job, &set, &interrupted, &e);
    if (interrupted) {
        rc = 130;
        goto fail;
    }
    if (job) state = json_string_value(json_object_get(job, "state"));
    if (!job) goto fail;
    if (strcmp(state, "succeeded")) {
        err_set(&e, ERR_INTERNAL, "job %lld %s: %s", (long long)id, state,
                json_string_value(json_object_get(job, "error")) ? json_string_value(json_object_get(job, "error"))
                                                                  : "(no reason given)");
        json_decref(job);
        goto fail;
    }
    json_t *result = json_object_get(job, "result");
    json_int_t xjob = json_integer_value(json_object_get(result, "extraction_job_id"));
    long long project = (long long)json_integer_value(json_object_get(result, "project_id"));
    /* The workers here would otherwise claim the queued extraction and drop it on exit:
     * see it through, so the project is ready to distil when this returns. */
    json_t *xj = xjob > 0 && w ? jobs_get_json(&a, xjob, &e) : NULL;
    if (xj) {
        fprintf(stderr, "demo: following the project's concept extraction, job %lld\n", (long long)xjob);
        int interrupted = 0;
        xj = follow(&a, xjob, xj, &set, &interrupted, &e);
        if (interrupted) {
            json_decref(job);
            rc = 130;
            goto fail;
        }
    }
    const char *xstate = xj ? json_string_value(json_object_get(xj, "state")) : NULL;
    if (xstate && !strcmp(xstate, "succeeded"))
        fprintf(stderr, "demo: project '%s' (id %lld) is ready, concepts extracted\n", DEMO_PROJECT_NAME, project);
    else if (xjob > 0)
        fprintf(stderr, "demo: project '%s' (id %lld) is built; its concept extraction is job %lld (%s)\n",
                DEMO_PROJECT_NAME, project, (long long)xjob, xstate ? xstate : "serve or worker runs it");
    else
        fprintf(stderr, "demo: project '%s' (id %lld) is ready\n", DEMO_PROJECT_NAME, project);
    json_decref(xj);
    err_clear(&e);
    json_t *report = json_incref(json_object_get(result, "report"));
    /* The student's story (demo.story) follows the extraction: its report is the full one. */
    int64_t sjob = demo_story_queue(&a, id, &e);
    if (sjob > 0 && !w && !(w = job_workers_start(&a, a.cfg.workers > 0 ? a.cfg.workers : 1, &e))) sjob = -1;
    json_t *sj = sjob > 0 ? jobs_get_json(&a, sjob, &e) : NULL;
    if (sj) {
        fprintf(stderr, "demo: following the student's story (distil on val, tune), job %lld\n", (long long)sjob);
        int interrupted = 0;
        sj = follow(&a, sjob, sj, &set, &interrupted, &e);
        if (interrupted) {
            json_decref(job), json_decref(report);
            rc = 130;
            goto fail;
        }
    }
    const char *sstate = sj ? json_string_value(json_object_get(sj, "state")) : NULL;
    json_t *full = sstate && !strcmp(sstate, "succeeded") ? json_object_get(json_object_get(sj, "result"), "report") : NULL;
    if (full) {
        json_decref(report);
        report = json_incref(full);
    } else {
        fprintf(stderr, "demo: the student's story (job %lld) is %s%s%s\n", (long long)sjob, sstate ? sstate : "not run",
                sj && json_string_value(json_object_get(sj, "error")) ? ": " : "",
                sj && json_string_value(json_object_get(sj, "error")) ? json_string_value(json_object_get(sj, "error")) : "");
    }
    json_decref(sj);
    err_clear(&e);
    json_decref(job);
    atomic_store(&a.stopping, 1);
    job_workers_stop(w);
    db_pool_close(a.db);
    return report ? print_report(report, 1) : 1;
fail:
    fprintf(stderr, "\ninficond demo: %s\n", e.msg);
    atomic_store(&a.stopping, 1);
    job_workers_stop(w);
    db_pool_close(a.db);
    return rc;
}

int cmd_demo(int argc, char **argv) {
    int small = 0, report_only = 0, evaluate = 0;
    unsigned long long seed = DEMO_DEFAULT_SEED;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            const char *s = argv[++i];
            if (strcmp(s, "small") && strcmp(s, "full")) {
                fprintf(stderr, "inficond demo: --scale must be small or full\n");
                return 2;
            }
            small = !strcmp(s, "small");
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;
            const char *s = argv[++i];
            seed = strtoull(s, &end, 10);
            if (!*s || *end || *s == '-') {
                fprintf(stderr, "inficond demo: --seed must be a number >= 0\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--report")) {
            report_only = 1;
        } else if (!strcmp(argv[i], "--evaluate")) {
            evaluate = 1;
        } else {
            fprintf(stderr, "inficond demo: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (evaluate && !out) {
        fprintf(stderr, "inficond demo: --evaluate needs --out DIR\n");
        return 2;
    }
    if (!out) return report_only ? report_main() : build_main(small ? "small" : "full", seed);

    json_t *report = NULL;
    err e = {0};
    demo_world_opts opts = {.small = small, .seed = seed, .out_dir = out};
    if (report_only) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/report.json", out);
        json_error_t je;
        report = json_load_file(path, 0, &je);
        if (!report) {
            fprintf(stderr, "inficond demo: no report in %s (build the demo first): %s\n", out, je.text);
            return 1;
        }
    } else if (evaluate) {
        if (!(report = demo_world_evaluate(&opts, &e))) {
            fprintf(stderr, "inficond demo: %s\n", e.msg);
            return 1;
        }
    } else if (demo_world_build(&opts, print_progress, NULL, &report, &e)) {
        fprintf(stderr, "\ninficond demo: %s\n", e.msg);
        return 1;
    }
    return print_report(report, 1);
}
