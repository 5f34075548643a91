/* test_err.c — first error wins; codes map to statuses and names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"

static void first_error_wins(void **state) {
    (void)state;
    err e = {0};
    assert_int_equal(err_set(&e, ERR_NOT_FOUND, "no job %d", 7), -1);
    err_set(&e, ERR_INTERNAL, "later");
    assert_int_equal(e.code, ERR_NOT_FOUND);
    assert_string_equal(e.msg, "no job 7");
    err_clear(&e);
    assert_false(err_is_set(&e));
    assert_int_equal(err_set(NULL, ERR_IO, "ignored"), -1);
}

static void statuses(void **state) {
    (void)state;
    assert_int_equal(err_http_status(ERR_UNPROCESSABLE), 422);
    assert_int_equal(err_http_status(ERR_CONFLICT), 409);
    assert_int_equal(err_http_status(ERR_UNAVAILABLE), 503);
    assert_int_equal(err_http_status((err_code)999), 500);
    assert_string_equal(err_code_name(ERR_TOO_LARGE), "payload_too_large");
    for (int c = 0; c < ERR__COUNT; c++) assert_non_null(err_code_name((err_code)c));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(first_error_wins), cmocka_unit_test(statuses)};
    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
