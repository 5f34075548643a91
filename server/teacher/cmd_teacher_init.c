/* cmd_teacher_init.c — `inficond teacher-init DIR --classes a,b,c [--size 64] ...`
 *
 * Starts a teacher model folder: a small randomly initialised TorchScript CNN
 * (shim_create_teacher_cnn; its parameters are registered, so it can be trained
 * elsewhere) as DIR/model.pt and a matching inficond-model/1 manifest.json. Tests
 * and the teacher benchmark use it to get a real model without a download; a user
 * can use it as the starting point of a fine-tuning run outside inficond.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "commands.h"
#include "inficond_shim.h"
#include "models/model_manifest.h"

static void teacher_init_usage(FILE *out) {
    fprintf(out,
            "Usage: inficond teacher-init DIR --classes A,B,C [--size 64] [--channels 3] [--seed 1]\n"
            "                             [--mean 0.5] [--std 0.25]\n\n"
            "Write a randomly initialised TorchScript CNN teacher (forward: (N, C, S, S) -> (N, classes)\n"
            "logits) to DIR/model.pt and its manifest.json. DIR is created when missing; existing\n"
            "files are replaced. The mean/std given apply to every channel.\n");
}

int cmd_teacher_init(int argc, char **argv) {
    const char *dir = NULL, *classes = NULL;
    int size = 64, channels = 3;
    unsigned long long seed = 1;
    double mean = 0.5, std = 0.25;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            teacher_init_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--classes") && v) classes = v, i++;
        else if (!strcmp(a, "--size") && v) size = atoi(v), i++;
        else if (!strcmp(a, "--channels") && v) channels = atoi(v), i++;
        else if (!strcmp(a, "--seed") && v) seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--mean") && v) mean = strtod(v, NULL), i++;
        else if (!strcmp(a, "--std") && v) std = strtod(v, NULL), i++;
        else if (a[0] != '-' && !dir) dir = a;
        else {
            fprintf(stderr, "inficond teacher-init: unexpected argument '%s'\n\n", a);
            teacher_init_usage(stderr);
            return 2;
        }
    }
    /* The CNN pools twice then adapts to 2x2, so 4 pixels is its smallest input. */
    if (!dir || !classes || size < 4 || size > 1024 || channels < 1 || channels > 4 || !(std > 0)) {
        teacher_init_usage(stderr);
        return 2;
    }
    json_t *cls = json_array();
    char *list = strdup(classes);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(cls, json_string(tok));
    free(list);
    int n_classes = (int)json_array_size(cls);
    if (n_classes < 1) {
        fprintf(stderr, "inficond teacher-init: --classes needs at least one name\n");
        json_decref(cls);
        return 2;
    }
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "inficond teacher-init: cannot create %s: %s\n", dir, strerror(errno));
        json_decref(cls);
        return 1;
    }
    char path[4096], eb[320];
    snprintf(path, sizeof path, "%s/model.pt", dir);
    if (shim_create_teacher_cnn(path, channels, size, size, n_classes, (uint64_t)seed, eb, sizeof eb)) {
        fprintf(stderr, "inficond teacher-init: %s\n", eb);
        json_decref(cls);
        return 1;
    }
    json_t *mean_a = json_array(), *std_a = json_array();
    for (int c = 0; c < channels; c++) {
        json_array_append_new(mean_a, json_real(mean));
        json_array_append_new(std_a, json_real(std));
    }
    json_t *mf = json_pack("{s:s,s:s,s:s,s:{s:i,s:i,s:i,s:o,s:o},s:{s:s},s:o}", "format", MODEL_MANIFEST_FORMAT,
                           "kind", "teacher", "file", "model.pt", "input", "channels", channels, "height", size,
                           "width", size, "mean", mean_a, "std", std_a, "methods", "forward", "forward", "classes",
                           cls);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    int rc = mf && json_dump_file(mf, path, JSON_INDENT(2)) == 0 ? 0 : 1;
    json_decref(mf);
    if (rc) fprintf(stderr, "inficond teacher-init: cannot write %s\n", path);
    else printf("%s\n", dir);
    return rc;
}
