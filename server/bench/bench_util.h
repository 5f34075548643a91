/* bench_util.h — what every `inficond bench …` subcommand needs to time itself. */
#ifndef INFICOND_BENCH_UTIL_H
#define INFICOND_BENCH_UTIL_H

/* The largest input file a benchmark reads whole (file_read_all). */
#define BENCH_FILE_MAX ((size_t)1 << 30)

/* Monotonic wall-clock seconds. */
double bench_now(void);
/* qsort comparator for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);
/* The median of v[0..n) (n >= 1); v is left as it was. */
double bench_median(const double *v, int n);

#endif
