/* need_file.h — a unit test's input that is not in the repository: the OpenAI-style
 * CLIP fixture and vocab (in ../shared, beside the clone) or Debian's Fashion-MNIST.
 * need_file(path, how) returns when the file is readable; otherwise it prints
 * "# SKIP needs PATH (HOW)" and skips the calling test with cmocka's skip(), which
 * tests/run.sh counts, lists with that reason and, under CI=true (where everything is
 * present), fails on. Call it in the test itself, before making anything: a skip in a
 * setup function is an error to cmocka. Include after <cmocka.h>. */
#ifndef INFICOND_TEST_NEED_FILE_H
#define INFICOND_TEST_NEED_FILE_H

#include <unistd.h>

#define NEED_SHARED "the shared fixtures beside the clone, absent here"
#define NEED_FMNIST "apt-get install dataset-fashion-mnist; scripts/deps.sh does"

static inline void need_file(const char *path, const char *how) {
    if (access(path, R_OK) == 0) return;
    print_message("# SKIP needs %s (%s)\n", path, how);
    skip();
}

#endif
