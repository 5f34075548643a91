/* test_login_limit.c — failed-login counters: lockout at the threshold, the window,
 * per-name and per-address keys, reset on success, and a bounded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "login_limit.h"

static int setup(void **state) {
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

/* Failures 1..max-1 leave logins open; the max-th locks the name for one window,
 * after which the name is free again with a fresh count. */
static void locks_at_threshold_for_one_window(void **state) {
    (void)state;
    login_limit *l = login_limit_new(3, 60);
    assert_non_null(l);
    uint64_t t = 1000000;
    assert_int_equal(login_limit_failed(l, "alice", "10.0.0.1", t), 0);
    assert_int_equal(login_limit_failed(l, "alice", "10.0.0.2", t + 1), 0);
    assert_int_equal(login_limit_wait_s(l, "alice", "10.0.0.3", t + 2), 0);
    assert_int_equal(login_limit_failed(l, "alice", "10.0.0.3", t + 2000), 1);
    /* Locked by name from any address, for the whole window, rounded up to seconds. */
    assert_int_equal(login_limit_wait_s(l, "alice", "192.168.1.1", t + 2000), 60);
    assert_int_equal(login_limit_wait_s(l, "alice", NULL, t + 2000 + 59001), 1);
    /* Failures during the lockout do not stretch it. */
    assert_int_equal(login_limit_failed(l, "alice", "10.0.0.9", t + 30000), 0);
    assert_int_equal(login_limit_wait_s(l, "alice", NULL, t + 2000 + 60000), 0);
    /* Other names are untouched. */
    assert_int_equal(login_limit_wait_s(l, "bob", "10.0.0.4", t + 2000), 0);
    /* After the lockout the count starts again. */
    assert_int_equal(login_limit_failed(l, "alice", "10.0.1.1", t + 70000), 0);
    assert_int_equal(login_limit_wait_s(l, "alice", NULL, t + 70000), 0);
    login_limit_free(l);
}

/* Failures spread wider than the window never add up to a lockout. */
static void failures_outside_the_window_expire(void **state) {
    (void)state;
    login_limit *l = login_limit_new(3, 10);
    uint64_t t = 5000;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(login_limit_failed(l, "carol", NULL, t), 0);
        assert_int_equal(login_limit_failed(l, "carol", NULL, t + 1000), 0);
        t += 10001; /* the next pair starts a new window */
    }
    assert_int_equal(login_limit_wait_s(l, "carol", NULL, t), 0);
    login_limit_free(l);
}

/* One address guessing many names is locked by its address. */
static void address_key_counts_across_names(void **state) {
    (void)state;
    login_limit *l = login_limit_new(5, 60);
    char name[32];
    int locked = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "user%d", i);
        locked |= login_limit_failed(l, name, "203.0.113.7", 100 + (uint64_t)i);
    }
    assert_int_equal(locked, 1);
    assert_true(login_limit_wait_s(l, "someone-else", "203.0.113.7", 200) > 0);
    assert_int_equal(login_limit_wait_s(l, "someone-else", "203.0.113.8", 200), 0);
    login_limit_free(l);
}

/* A success clears both keys: the next failures count from zero. */
static void success_resets(void **state) {
    (void)state;
    login_limit *l = login_limit_new(3, 60);
    assert_int_equal(login_limit_failed(l, "dave", "10.1.1.1", 1), 0);
    assert_int_equal(login_limit_failed(l, "dave", "10.1.1.1", 2), 0);
    login_limit_succeeded(l, "dave", "10.1.1.1");
    assert_int_equal(login_limit_failed(l, "dave", "10.1.1.1", 3), 0);
    assert_int_equal(login_limit_failed(l, "dave", "10.1.1.1", 4), 0);
    assert_int_equal(login_limit_wait_s(l, "dave", "10.1.1.1", 5), 0);
    assert_int_equal(login_limit_failed(l, "dave", "10.1.1.1", 6), 1);
    assert_true(login_limit_wait_s(l, "dave", "10.1.1.1", 7) > 0);
    login_limit_free(l);
}

/* A flood of made-up names and addresses fills at most the fixed table, and a lock
 * taken before the flood survives it (unlocked entries are evicted first). */
static void table_is_bounded_and_keeps_locks(void **state) {
    (void)state;
    login_limit *l = login_limit_new(2, 60);
    assert_int_equal(login_limit_failed(l, "target", NULL, 10), 0);
    assert_int_equal(login_limit_failed(l, "target", NULL, 11), 1);
    char name[48], addr[48];
    for (int i = 0; i < 4 * LOGIN_LIMIT_SLOTS; i++) {
        snprintf(name, sizeof name, "flood-%d", i);
        snprintf(addr, sizeof addr, "198.51.%d.%d", (i / 256) % 256, i % 256);
        (void)login_limit_failed(l, name, addr, 20 + (uint64_t)i / 1000);
    }
    assert_true(login_limit_used(l) <= LOGIN_LIMIT_SLOTS);
    assert_true(login_limit_used(l) > LOGIN_LIMIT_SLOTS / 2);
    assert_true(login_limit_wait_s(l, "target", NULL, 30) > 0);
    /* A very long name is cut to the key size, not overflowed. */
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    (void)login_limit_failed(l, longname, NULL, 40);
    assert_int_equal(login_limit_failed(l, longname, NULL, 41), 1);
    login_limit_free(l);
}

/* NULL table (the CLI, workers): never limits. */
static void null_table_never_limits(void **state) {
    (void)state;
    assert_int_equal(login_limit_failed(NULL, "x", "y", 1), 0);
    assert_int_equal(login_limit_wait_s(NULL, "x", "y", 1), 0);
    login_limit_succeeded(NULL, "x", "y");
    login_limit_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locks_at_threshold_for_one_window),
        cmocka_unit_test(failures_outside_the_window_expire),
        cmocka_unit_test(address_key_counts_across_names),
        cmocka_unit_test(success_resets),
        cmocka_unit_test(table_is_bounded_and_keeps_locks),
        cmocka_unit_test(null_table_never_limits),
    };
    return cmocka_run_group_tests_name("login_limit", tests, setup, NULL);
}
