/* test_file_read.c — file_read_all: the whole file NUL-terminated, its size limit,
 * and clear errors for a folder and a missing file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "file_read.h"
#include "tmpdir.h"

static void file_read_all_limits_and_errors(void **state) {
    (void)state;
    char dir[64], path[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(path, sizeof path, "%s/f.txt", dir);
    assert_int_equal(tmpdir_write(path, "hello", 5), 0);
    size_t len = 0;
    err e = {0};
    char *s = file_read_all(path, 5, &len, &e);
    assert_non_null(s);
    assert_int_equal(len, 5);
    assert_string_equal(s, "hello"); /* NUL-terminated */
    free(s);
    assert_null(file_read_all(path, 4, &len, &e));
    assert_int_equal(e.code, ERR_TOO_LARGE);
    err e2 = {0};
    assert_null(file_read_all(dir, 1 << 20, &len, &e2)); /* a folder */
    assert_int_equal(e2.code, ERR_IO);
    err e3 = {0};
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_null(file_read_all(path, 1 << 20, NULL, &e3));
    assert_int_equal(e3.code, ERR_IO);
    assert_non_null(strstr(e3.msg, "missing"));
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_read_all_limits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
