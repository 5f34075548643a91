/* test_busy_limit.c — the per-user and overall bounds on concurrent predictions:
 * refusal at either bound, places given back, keys kept apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "busy_limit.h"

static void per_key_bound(void **state) {
    (void)state;
    busy_limit *l = busy_limit_new(4, 2);
    assert_non_null(l);
    assert_int_equal(busy_limit_enter(l, 7), 1);
    assert_int_equal(busy_limit_enter(l, 7), 1);
    assert_int_equal(busy_limit_enter(l, 7), 0); /* user 7 holds its two */
    assert_int_equal(busy_limit_enter(l, 8), 1); /* another user is not held up */
    busy_limit_leave(l, 7);
    assert_int_equal(busy_limit_enter(l, 7), 1); /* a place given back is free again */
    busy_limit_free(l);
}

static void overall_bound(void **state) {
    (void)state;
    busy_limit *l = busy_limit_new(3, 2);
    assert_int_equal(busy_limit_enter(l, 1), 1);
    assert_int_equal(busy_limit_enter(l, 2), 1);
    assert_int_equal(busy_limit_enter(l, 3), 1);
    assert_int_equal(busy_limit_enter(l, 4), 0); /* three at once in all */
    assert_int_equal(busy_limit_enter(l, 1), 0);
    busy_limit_leave(l, 2);
    assert_int_equal(busy_limit_enter(l, 4), 1);
    busy_limit_leave(l, 1);
    busy_limit_leave(l, 3);
    busy_limit_leave(l, 4);
    for (int k = 10; k < 13; k++) assert_int_equal(busy_limit_enter(l, k), 1); /* all free */
    busy_limit_free(l);
}

static void bad_bounds_and_null(void **state) {
    (void)state;
    assert_null(busy_limit_new(0, 1));
    assert_null(busy_limit_new(1, 0));
    assert_int_equal(busy_limit_enter(NULL, 1), 1);
    busy_limit_leave(NULL, 1);
    busy_limit_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_key_bound),
        cmocka_unit_test(overall_bound),
        cmocka_unit_test(bad_bounds_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
