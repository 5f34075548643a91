/* cmd_dataset.c — `inficond dataset import`: create a dataset if needed and import
 * an idx pair, a folder tree or a tar into it, in this process, with the same code
 * the "dataset.import" job runs (dataset_import_run). Progress goes to stderr, the
 * import's JSON summary to stdout. Needs DATABASE_URL; migrates first, like serve.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "app.h"
#include "auth.h"
#include "commands.h"
#include "dataset/dataset_import.h"
#include "dataset/dataset_store.h"
#include "db.h"
#include "log.h"
#include "migrate.h"

static const char usage_text[] =
    "Usage: inficond dataset import --name NAME SOURCE [OPTIONS]\n\n"
    "Creates the dataset NAME if it does not exist and imports images into it, in this\n"
    "process (no server needed). Images already in the dataset (same bytes) are not added\n"
    "again; bad files are skipped and listed. Progress on stderr, a JSON summary on stdout.\n\n"
    "SOURCE, one of:\n"
    "  --idx IMAGES LABELS    an idx pair (e.g. /usr/share/datasets/fashion-mnist/\n"
    "                         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)\n"
    "  --folder DIR           DIR/<split>/<class>/*.jpg|png or DIR/<class>/*.jpg|png\n"
    "  --tar FILE             the same layouts inside a tar (or .tar.gz)\n\n"
    "Options:\n"
    "  --split NAME           idx: the split (default: train for train-*, test for t10k-*);\n"
    "                         folder/tar <class>/ layout: put every image in NAME\n"
    "  --split-ratio R        folder/tar <class>/ layout: e.g. train=0.8,val=0.1,test=0.1\n"
    "                         (the default); chosen per image from its sha256\n"
    "  --classes A,B,...      class names in label order (idx; default Fashion-MNIST's\n"
    "                         names for a Fashion-MNIST file, else the label numbers)\n"
    "  --description TEXT     when the dataset is created\n"
    "  --quiet                no progress on stderr\n\n"
    "Exit status: 0 imported (even with skipped files), 1 failed, 2 bad arguments.\n";

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct cli_progress {
    int quiet;
    time_t last;
} cli_progress;

static int print_progress(void *arg, double fraction, const char *message, err *e) {
    cli_progress *p = arg;
    if (interrupted) return err_set(e, ERR_CANCELLED, "interrupted");
    time_t now = time(NULL);
    if (!p->quiet && (now != p->last || fraction >= 1.0)) {
        p->last = now;
        fprintf(stderr, "import: %5.1f%%  %s\n", fraction * 100.0, message);
    }
    return 0;
}

static int bad_args(const char *fmt, const char *arg) {
    fprintf(stderr, "inficond dataset: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(inficond dataset import --help for usage)\n");
    return 2;
}

/* "train=0.8,val=0.1" -> {"train":0.8,"val":0.1}; NULL when malformed. */
static json_t *parse_ratio(const char *s) {
    json_t *o = json_object();
    char *copy = strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        char *end = NULL;
        if (!eq) goto bad;
        *eq = '\0';
        double w = strtod(eq + 1, &end);
        if (end == eq + 1 || *end) goto bad;
        json_object_set_new(o, tok, json_real(w));
    }
    free(copy);
    return o;
bad:
    free(copy);
    json_decref(o);
    return NULL;
}

static json_t *parse_list(const char *s) {
    json_t *a = json_array();
    char *copy = strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(tok));
    free(copy);
    return a;
}

/* Absolute form of a path the user typed (the import wants absolute paths). */
static json_t *abs_path(const char *p) {
    char buf[PATH_MAX];
    if (realpath(p, buf)) return json_string(buf);
    return json_string(p); /* missing: the check names the field */
}

static int dataset_import_main(int argc, char **argv) {
    const char *name = NULL, *desc = NULL, *split = NULL, *ratio = NULL, *classes = NULL;
    const char *idx_images = NULL, *idx_labels = NULL, *folder = NULL, *tar = NULL;
    cli_progress prog = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            prog.quiet = 1;
        } else if (!strcmp(a, "--idx")) {
            if (i + 2 >= argc) return bad_args("%s needs IMAGES and LABELS", a);
            idx_images = argv[++i];
            idx_labels = argv[++i];
        } else if (!more) {
            return bad_args("%s needs a value, or is unknown", a);
        } else if (!strcmp(a, "--name")) {
            name = argv[++i];
        } else if (!strcmp(a, "--description")) {
            desc = argv[++i];
        } else if (!strcmp(a, "--split")) {
            split = argv[++i];
        } else if (!strcmp(a, "--split-ratio")) {
            ratio = argv[++i];
        } else if (!strcmp(a, "--classes")) {
            classes = argv[++i];
        } else if (!strcmp(a, "--folder")) {
            folder = argv[++i];
        } else if (!strcmp(a, "--tar")) {
            tar = argv[++i];
        } else {
            return bad_args("unknown option %s", a);
        }
    }
    if (!name) return bad_args("%s", "--name is required");
    if (!dataset_name_valid(name)) return bad_args("--name '%s' must be 1 to 100 characters of A-Z a-z 0-9 _ . -", name);
    if (!!idx_images + !!folder + !!tar != 1) return bad_args("%s", "give exactly one of --idx, --folder, --tar");

    json_t *params = json_object();
    if (idx_images) {
        json_object_set_new(params, "source", json_string("idx"));
        json_object_set_new(params, "images", abs_path(idx_images));
        json_object_set_new(params, "labels", abs_path(idx_labels));
    } else {
        json_object_set_new(params, "source", json_string(folder ? "folder" : "tar"));
        json_object_set_new(params, "path", abs_path(folder ? folder : tar));
    }
    if (split) json_object_set_new(params, "split", json_string(split));
    if (ratio) {
        json_t *r = parse_ratio(ratio);
        if (!r) {
            json_decref(params);
            return bad_args("--split-ratio '%s' must look like train=0.8,val=0.1,test=0.1", ratio);
        }
        json_object_set_new(params, "split_ratio", r);
    }
    if (classes) json_object_set_new(params, "classes", parse_list(classes));
    err e = {0};
    if (dataset_import_check(params, &e)) {
        json_decref(params);
        return bad_args("%s", e.msg);
    }

    app a;
    memset(&a, 0, sizeof a);
    if (config_from_env(&a.cfg, &e)) goto fail;
    if (!a.cfg.database_url[0]) {
        err_set(&e, ERR_UNAVAILABLE, "DATABASE_URL is not set");
        goto fail;
    }
    if (auth_init()) {
        err_set(&e, ERR_INTERNAL, "libsodium failed to initialise");
        goto fail;
    }
    if (mkdir(a.cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        err_set(&e, ERR_IO, "cannot create the data folder %s: %s", a.cfg.data_dir, strerror(errno));
        goto fail;
    }
    snprintf(a.worker_name, sizeof a.worker_name, "cli:dataset");
    a.db = db_pool_open(a.cfg.database_url, 2, &e);
    if (!a.db) goto fail;
    int applied = 0;
    if (migrate_pool(a.db, a.cfg.migrations_dir, &applied, &e)) goto fail;
    int64_t id = dataset_store_find_or_create(&a, name, desc, &e);
    if (id < 0) goto fail;
    json_object_set_new(params, "dataset_id", json_integer(id));
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    json_t *result = NULL;
    if (dataset_import_run(&a, params, print_progress, &prog, &result, &e)) goto fail;
    json_object_set_new(result, "dataset_id", json_integer(id));
    json_object_set_new(result, "dataset", json_string(name));
    char *text = json_dumps(result, JSON_COMPACT);
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(result);
    json_decref(params);
    db_pool_close(a.db);
    return 0;
fail:
    fprintf(stderr, "inficond dataset import: %s\n", e.msg);
    json_decref(params);
    db_pool_close(a.db);
    return 1;
}

int cmd_dataset(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "import")) return dataset_import_main(argc - 1, argv + 1);
    fprintf(stderr, "inficond dataset: unknown subcommand '%s'\n\n%s", argv[1], usage_text);
    return 2;
}
