/* commands.h — the subcommands of the `inficond` binary. Each takes the arguments
 * after its name (argv[0] is the subcommand) and returns the process exit code. */
#ifndef INFICOND_COMMANDS_H
#define INFICOND_COMMANDS_H

typedef struct command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} command;

int cmd_serve(int argc, char **argv);   /* serve.c   */
int cmd_worker(int argc, char **argv);  /* serve.c   */
int cmd_migrate(int argc, char **argv); /* migrate.c */
int cmd_routes(int argc, char **argv);  /* cmd_routes.c */
int cmd_tokenize(int argc, char **argv); /* cmd_tokenize.c */
int cmd_bench(int argc, char **argv);    /* cmd_bench.c */
int cmd_model(int argc, char **argv);    /* model_check.c */
int cmd_encode(int argc, char **argv);   /* cmd_encode.c */
int cmd_dataset(int argc, char **argv);  /* cmd_dataset.c */
int cmd_demo(int argc, char **argv);     /* cmd_demo.c */
int cmd_teacher_init(int argc, char **argv); /* cmd_teacher_init.c */
int cmd_gc(int argc, char **argv);        /* cmd_gc.c */

/* benchmarks, run as `inficond bench NAME` */
int bench_tokenizer(int argc, char **argv); /* bench_tokenizer.c */
int bench_teacher(int argc, char **argv);   /* bench_teacher.c */
int bench_presence(int argc, char **argv);  /* bench_presence.c */
int bench_student(int argc, char **argv);   /* bench_student.c */
int bench_extract(int argc, char **argv);   /* bench_extract.c */
int bench_whatif(int argc, char **argv);    /* bench_whatif.c */

/* The table, in main.c. */
extern const command commands[];

#endif
