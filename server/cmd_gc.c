/* cmd_gc.c — `inficond gc`: remove the blobs no database row names (blob_gc.h), from
 * the command line. One line per item removed (or, with --dry-run, that would be),
 * then the JSON summary last. Needs DATABASE_URL; does not migrate (a collection must
 * not change the schema it reads).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "blob_gc.h"
#include "commands.h"

static const char usage_text[] =
    "Usage: inficond gc [--dry-run] [--min-age SECONDS] [--quiet]\n\n"
    "Removes what no database row names any more: blobs (images, teacher probabilities,\n"
    "segments, presence, student weights and bounds) left by deleted datasets, models,\n"
    "extractions and students; thumbnails of those images; model folders no model row\n"
    "names. Only what was last modified before the cutoff goes: now - SECONDS (default\n"
    "3600), or the start of the oldest running job when earlier. Safe while the service\n"
    "runs (but not during a backup: dump, copy, then collect). Two collections never\n"
    "overlap (the second fails).\n\n"
    "  --dry-run          list what would be removed; remove nothing\n"
    "  --min-age SECONDS  grace period, 0 to 2592000 (default 3600)\n"
    "  --quiet            only the summary\n\n"
    "Prints 'removed KIND NAME BYTES' (dry run: 'would remove …') per item, then one JSON\n"
    "line: {dry_run, min_age_s, cutoff, blobs_scanned, blobs_referenced, kept_referenced,\n"
    "removed, bytes, skipped_young, failed, thumbs_removed, thumbs_bytes, models_removed,\n"
    "models_bytes}. Exit status: 0 done, 1 not run or some file could not be removed,\n"
    "2 bad arguments.\n";

typedef struct print_state {
    int quiet, dry_run;
} print_state;

static void print_item(void *arg, const char *kind, const char *name, long long bytes) {
    const print_state *p = arg;
    if (!p->quiet) printf("%s %s %s %lld\n", p->dry_run ? "would remove" : "removed", kind, name, bytes);
}

int cmd_gc(int argc, char **argv) {
    print_state ps = {0};
    long min_age = BLOB_GC_DEFAULT_MIN_AGE_S;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--dry-run")) {
            ps.dry_run = 1;
        } else if (!strcmp(a, "--quiet")) {
            ps.quiet = 1;
        } else if (!strcmp(a, "--min-age") && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            min_age = strtol(argv[++i], &end, 10);
            if (errno || end == argv[i] || *end || min_age < 0 || min_age > BLOB_GC_MAX_MIN_AGE_S) {
                fprintf(stderr, "inficond gc: --min-age must be 0 to %ld seconds\n", BLOB_GC_MAX_MIN_AGE_S);
                return 2;
            }
        } else {
            fprintf(stderr, "inficond gc: unknown option %s\n\n%s", a, usage_text);
            return 2;
        }
    }
    app a;
    memset(&a, 0, sizeof a);
    err e = {0};
    blob_gc_report rep;
    if (config_from_env(&a.cfg, &e)) goto fail;
    if (!a.cfg.database_url[0]) {
        err_set(&e, ERR_UNAVAILABLE, "DATABASE_URL is not set");
        goto fail;
    }
    snprintf(a.worker_name, sizeof a.worker_name, "cli:gc");
    a.db = db_pool_open(a.cfg.database_url, 1, &e);
    if (!a.db || blob_gc_run(&a, ps.dry_run, min_age, &rep, print_item, &ps, &e)) goto fail;
    db_pool_close(a.db);
    json_t *summary = blob_gc_report_json(&rep);
    char *text = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(summary);
    return rep.failed ? 1 : 0;
fail:
    fprintf(stderr, "inficond gc: %s\n", e.msg);
    db_pool_close(a.db);
    return 1;
}
