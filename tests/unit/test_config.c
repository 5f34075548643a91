/* test_config.c — environment parsing: defaults, values, and clear refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static const char *vars[] = {"INFICOND_PORT", "INFICOND_WORKERS", "INFICOND_MAX_BODY_MB",
                             "INFICOND_HEARTBEAT_MS", "INFICOND_STALE_AFTER_MS",
                             "INFICOND_LOG_LEVEL", "INFICOND_DB_POOL", "INFICOND_HTTP_THREADS"};

static int clean(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
    return 0;
}

static void defaults(void **state) {
    (void)state;
    config c;
    err e = {0};
    assert_int_equal(config_from_env(&c, &e), 0);
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.http_threads, 4);
    assert_int_equal(c.db_pool_size, 8);
    assert_int_equal(c.max_body_bytes, 16u << 20);
    assert_string_equal(c.data_dir, "./var");
}

static void values(void **state) {
    (void)state;
    setenv("INFICOND_PORT", "9000", 1);
    setenv("INFICOND_MAX_BODY_MB", "2", 1);
    config c;
    err e = {0};
    assert_int_equal(config_from_env(&c, &e), 0);
    assert_int_equal(c.port, 9000);
    assert_int_equal(c.max_body_bytes, 2u << 20);
}

static void refusals(void **state) {
    (void)state;
    struct {
        const char *name, *value, *expect;
    } cases[] = {
        {"INFICOND_PORT", "80x", "INFICOND_PORT"},
        {"INFICOND_PORT", "70000", "[1, 65535]"},
        {"INFICOND_WORKERS", "-1", "INFICOND_WORKERS"},
        {"INFICOND_LOG_LEVEL", "loud", "INFICOND_LOG_LEVEL"},
        {"INFICOND_STALE_AFTER_MS", "1000", "twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        clean(NULL);
        setenv(cases[i].name, cases[i].value, 1);
        config c;
        err e = {0};
        assert_int_equal(config_from_env(&c, &e), -1);
        assert_int_equal(e.code, ERR_UNPROCESSABLE);
        if (!strstr(e.msg, cases[i].expect)) fail_msg("%s=%s gave '%s'", cases[i].name, cases[i].value, e.msg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults, clean),
        cmocka_unit_test_setup(values, clean),
        cmocka_unit_test_setup(refusals, clean),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
