/* cmd_bench.c — `inficond bench NAME ...`: the benchmarks, each printing its
 * figures as one JSON object on its last line of output. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const command benches[] = {
    {"tokenizer", bench_tokenizer, "CLIP vocab load time and prompts tokenized per second"},
    {"teacher", bench_teacher, "teacher inference images/s (JPEG decode + preprocess + forward), C vs Python"},
    {"extract", bench_extract, "concept extraction images/s (decode + encode + segments + presence), C vs Python"},
    {"presence", bench_presence, "concept presence SGEMM GFLOP/s vs OpenBLAS peak, peak RSS, add-one-concept ms"},
    {"student", bench_student, "L1 student fit (all classes) and one-class warm retrain vs a PyTorch Adam peer"},
    {"whatif", bench_whatif, "what-if list: every concept's removal on every split from cached scores, checked exact"},
    {NULL, NULL, NULL},
};

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("Usage: inficond bench NAME [ARGS...]   (inficond bench NAME --help)\n\n"
               "Each benchmark prints a short table, then its figures as one JSON object on\n"
               "the last line.\n\nBenchmarks:\n");
        for (const command *b = benches; b->name; b++) printf("  %-10s %s\n", b->name, b->summary);
        return argc < 2 ? 2 : 0;
    }
    for (const command *b = benches; b->name; b++)
        if (!strcmp(b->name, argv[1])) return b->main(argc - 1, argv + 1);
    fprintf(stderr, "inficond bench: unknown benchmark '%s' (see inficond bench --help)\n", argv[1]);
    return 2;
}
