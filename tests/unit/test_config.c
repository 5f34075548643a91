/* test_config.c — environment parsing: defaults, values, and clear refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static const char *vars[] = {"INFICOND_PORT", "INFICOND_WORKERS", "INFICOND_MAX_BODY_MB",
                             "INFICOND_HEARTBEAT_MS", "INFICOND_STALE_AFTER_MS",
                             "INFICOND_LOG_LEVEL", "INFICOND_DB_POOL", "INFICOND_HTTP_THREADS",
                             "INFICOND_MAX_IMPORT_IMAGES", "INFICOND_MAX_CORPUS_CONCEPTS",
                             "INFICOND_LOGIN_MAX_FAILURES", "INFICOND_LOGIN_WINDOW_S",
                             "INFICOND_TLS_CERT", "INFICOND_TLS_KEY", "INFICOND_DATA_DIR",
                             "INFICOND_CHUNK_IMAGES"};

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
    assert_int_equal(c.chunk_images, 2048);
    char cwd[PATH_MAX], want[PATH_MAX + 8];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/var", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(c.data_dir, want); /* ./var, from where the server starts */
    assert_int_equal(c.max_import_images, 1000000);
    assert_int_equal(c.max_corpus_concepts, 10000);
    assert_int_equal(c.login_max_failures, 10);
    assert_int_equal(c.login_window_s, 60);
    assert_string_equal(c.tls_cert, "");
}

/* A relative data folder is taken from the working folder at start, so that paths
 * made from it (a folder import refuses relative ones) are absolute. */
static void data_dir_absolute(void **state) {
    (void)state;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    const char *cases[][2] = {{"/srv/inficond", ""}, {"data", "/data"}, {"./data/", "/data/"},
                              {".//a/../b", "/a/../b"}, {".", ""}, {"./", ""}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        setenv("INFICOND_DATA_DIR", cases[i][0], 1);
        config c;
        err e = {0};
        assert_int_equal(config_from_env(&c, &e), 0);
        char want[2 * PATH_MAX];
        if (cases[i][0][0] == '/') snprintf(want, sizeof want, "%s", cases[i][0]);
        else if (!strcmp(cwd, "/")) snprintf(want, sizeof want, "%s", cases[i][1][0] ? cases[i][1] : "/");
        else snprintf(want, sizeof want, "%s%s", cwd, cases[i][1]);
        assert_string_equal(c.data_dir, want);
    }
    /* Too long once the working folder is in front: refused by name, not cut. */
    char longer[PATH_MAX];
    memset(longer, 'x', sizeof longer - 2);
    longer[sizeof longer - 2] = '\0';
    setenv("INFICOND_DATA_DIR", longer, 1);
    config c;
    err e = {0};
    if (strcmp(cwd, "/")) { /* from "/" it still fits */
        assert_int_equal(config_from_env(&c, &e), -1);
        assert_non_null(strstr(e.msg, "INFICOND_DATA_DIR"));
    }
}

/* TLS is on with both files named, off with neither; one alone is refused. */
static void tls_pair(void **state) {
    (void)state;
    setenv("INFICOND_TLS_CERT", "/etc/x/cert.pem", 1);
    setenv("INFICOND_TLS_KEY", "/etc/x/key.pem", 1);
    config c;
    err e = {0};
    assert_int_equal(config_from_env(&c, &e), 0);
    assert_string_equal(c.tls_cert, "/etc/x/cert.pem");
    assert_string_equal(c.tls_key, "/etc/x/key.pem");
    unsetenv("INFICOND_TLS_KEY");
    err e2 = {0};
    assert_int_equal(config_from_env(&c, &e2), -1);
    assert_non_null(strstr(e2.msg, "INFICOND_TLS_KEY"));
    setenv("INFICOND_TLS_KEY", "/etc/x/key.pem", 1);
    unsetenv("INFICOND_TLS_CERT");
    err e3 = {0};
    assert_int_equal(config_from_env(&c, &e3), -1);
    assert_non_null(strstr(e3.msg, "INFICOND_TLS_CERT is not"));
}

static void values(void **state) {
    (void)state;
    setenv("INFICOND_PORT", "9000", 1);
    setenv("INFICOND_MAX_BODY_MB", "2", 1);
    setenv("INFICOND_CHUNK_IMAGES", "512", 1);
    config c;
    err e = {0};
    assert_int_equal(config_from_env(&c, &e), 0);
    assert_int_equal(c.port, 9000);
    assert_int_equal(c.chunk_images, 512);
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
        {"INFICOND_MAX_IMPORT_IMAGES", "0", "INFICOND_MAX_IMPORT_IMAGES"},
        {"INFICOND_MAX_CORPUS_CONCEPTS", "20001", "[1, 20000]"},
        {"INFICOND_LOGIN_MAX_FAILURES", "ten", "INFICOND_LOGIN_MAX_FAILURES"},
        {"INFICOND_LOGIN_WINDOW_S", "0", "INFICOND_LOGIN_WINDOW_S"},
        {"INFICOND_CHUNK_IMAGES", "0", "INFICOND_CHUNK_IMAGES"},
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
        cmocka_unit_test_setup(tls_pair, clean),
        cmocka_unit_test_setup(data_dir_absolute, clean),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
