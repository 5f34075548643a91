/* main.c — `inficond`: one binary, one subcommand per job (see commands.h). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "commands.h"
#include "config.h"

const command commands[] = {
    {"serve", cmd_serve, "HTTP API, web page and background job workers"},
    {"worker", cmd_worker, "background job workers only (scale out on more machines)"},
    {"migrate", cmd_migrate, "apply pending database migrations and exit"},
    {"routes", cmd_routes, "print the REST API's route table as JSON"},
    {"tokenize", cmd_tokenize, "print the token ids of texts (CLIP BPE vocab or a word list)"},
    {"dataset", cmd_dataset, "dataset import: create a dataset and import idx files, a folder or a tar"},
    {"model", cmd_model, "model check DIR: validate a model folder and probe its methods"},
    {"encode", cmd_encode, "one JPEG through a concept model's image path, written as float32"},
    {"teacher-init", cmd_teacher_init, "start a teacher model folder (random TorchScript CNN + manifest)"},
    {"demo", cmd_demo, "build the demo world (scenes, teacher, concept model) and report its quality"},
    {"gc", cmd_gc, "remove blobs, thumbnails and model folders no database row names"},
    {"bench", cmd_bench, "run a benchmark; prints its figures as JSON on the last line"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out) {
    fprintf(out,
            "inficond — concept-based knowledge distillation with no-code tuning\n\n"
            "Usage: inficond COMMAND [ARGS...]   (inficond COMMAND --help for details)\n\n"
            "Commands:\n");
    for (const command *c = commands; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\n%s", config_help());
}

/* OpenMP (inside libtorch) and OpenBLAS read their settings when the libraries load,
 * before main: a setenv here would be too late, so set them and re-execute once.
 * - Thread counts: their default of spinning threads made training many times
 *   slower on small machines. INFICOND_TORCH_THREADS chooses the count.
 * - OpenBLAS's kernel: Debian's 0.3.21 does not recognise some virtual CPUs and falls
 *   back to its oldest SSE3 kernels (6x slower SGEMM here); name the family the CPU
 *   supports. A value already set by the admin is kept. */
static const char *openblas_core_for_cpu(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

static void pin_math_threads(char **argv) {
    if (getenv("INFICOND_ENV_PINNED")) return;
    const char *n = getenv("INFICOND_TORCH_THREADS");
    setenv("OMP_NUM_THREADS", n && *n ? n : "1", 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    const char *core = openblas_core_for_cpu();
    if (core) setenv("OPENBLAS_CORETYPE", core, 0);
    setenv("INFICOND_ENV_PINNED", "1", 1);
    execv("/proc/self/exe", argv);
    /* If re-executing is impossible, run on with the libraries' defaults. */
}

int main(int argc, char **argv) {
    pin_math_threads(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const command *c = commands; c->name; c++)
        if (!strcmp(c->name, argv[1])) return c->main(argc - 1, argv + 1);
    fprintf(stderr, "inficond: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
