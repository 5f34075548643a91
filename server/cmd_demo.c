/* cmd_demo.c — `inficond demo`: build the demo world (scenes, teacher, concept
 * model) into the data folder and print its quality report; `--report` prints the
 * last report again. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "config.h"
#include "demo_world.h"

static int print_progress(void *ud, double frac, const char *msg) {
    (void)ud;
    fprintf(stderr, "\rdemo: %5.1f%%  %-60s", frac * 100.0, msg);
    if (frac >= 1.0) fputc('\n', stderr);
    return 0;
}

static void print_table(const json_t *r) {
    json_t *t = json_object_get(r, "teacher"), *c = json_object_get(r, "concepts");
    printf("teacher accuracy    val %.3f   test %.3f   shifted %.3f\n",
           json_real_value(json_object_get(t, "val")), json_real_value(json_object_get(t, "test")),
           json_real_value(json_object_get(t, "shifted")));
    printf("concept AUC (test)  mean %.3f   min %.3f (%s)\n",
           json_real_value(json_object_get(c, "mean_auc")),
           json_real_value(json_object_get(c, "min_auc")),
           json_string_value(json_object_get(c, "min_word")));
    printf("seconds             total %.1f\n",
           json_real_value(json_object_get(json_object_get(r, "seconds"), "total")));
}

int cmd_demo(int argc, char **argv) {
    int small = 0, report_only = 0;
    unsigned long long seed = 1;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: inficond demo [--scale small|full] [--seed N] [--out DIR]\n"
                   "       inficond demo --report [--out DIR]\n\n"
                   "Builds the demo world: scenes composed from Debian's Fashion-MNIST, a teacher\n"
                   "CNN and a dense concept model trained here through libtorch, and a report of\n"
                   "their measured quality (teacher accuracy per split, per-word concept AUC on\n"
                   "test, time per stage), printed as one JSON object on the last line.\n"
                   "DIR defaults to $INFICOND_DATA_DIR/demo. --scale small (2k train scenes,\n"
                   "about a minute) is for tests; full (20k) is the real demo.\n");
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
            seed = strtoull(argv[++i], &end, 10);
            if (*end) {
                fprintf(stderr, "inficond demo: --seed must be a number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--report")) {
            report_only = 1;
        } else {
            fprintf(stderr, "inficond demo: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    char dir[PATH_MAX + 8];
    if (!out) {
        config cfg;
        err e = {0};
        if (config_from_env(&cfg, &e)) {
            fprintf(stderr, "inficond demo: %s\n", e.msg);
            return 2;
        }
        mkdir(cfg.data_dir, 0755);
        snprintf(dir, sizeof dir, "%s/demo", cfg.data_dir);
        out = dir;
    }
    json_t *report = NULL;
    if (report_only) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/report.json", out);
        json_error_t je;
        report = json_load_file(path, 0, &je);
        if (!report) {
            fprintf(stderr, "inficond demo: no report in %s (build the demo first): %s\n", out, je.text);
            return 1;
        }
    } else {
        demo_world_opts opts = {.small = small, .seed = seed, .out_dir = out};
        err e = {0};
        if (demo_world_build(&opts, print_progress, NULL, &report, &e)) {
            fprintf(stderr, "\ninficond demo: %s\n", e.msg);
            return 1;
        }
    }
    print_table(report);
    char *s = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(report);
    if (!s) return 1;
    puts(s);
    free(s);
    return 0;
}
