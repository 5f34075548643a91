/* test_dataset_import.c — name and split rules, and import params checks that
 * name the offending field (what the API answers as 422). The import itself needs
 * PostgreSQL and is tested end to end in tests/api/datasets.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dataset/dataset_import.h"

static void names_and_splits(void **state) {
    (void)state;
    assert_true(dataset_name_valid("fashion-mnist_v1.2"));
    assert_false(dataset_name_valid(""));
    assert_false(dataset_name_valid("has space"));
    assert_false(dataset_name_valid("../x/y"));
    assert_false(dataset_name_valid(NULL));
    char longname[102];
    memset(longname, 'a', 101);
    longname[101] = '\0';
    assert_false(dataset_name_valid(longname));
    longname[100] = '\0';
    assert_true(dataset_name_valid(longname));

    assert_true(dataset_split_valid("train"));
    assert_true(dataset_split_valid("shifted_2-b"));
    assert_false(dataset_split_valid("Train"));
    assert_false(dataset_split_valid(""));
    assert_false(dataset_split_valid("a/b"));
    assert_false(dataset_split_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
    assert_false(dataset_split_valid(NULL));
}

/* Expect dataset_import_check to refuse `json` with a message naming `field`. */
static void refuses(const char *json, const char *field) {
    json_error_t je;
    json_t *p = json_loads(json, 0, &je);
    assert_non_null(p);
    err e = {0};
    assert_int_equal(dataset_import_check(p, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", field);
    if (!strstr(e.msg, quoted)) fail_msg("%s: message '%s' does not name %s", json, e.msg, quoted);
    json_decref(p);
}

static void accepts(const char *json) {
    json_t *p = json_loads(json, 0, NULL);
    assert_non_null(p);
    err e = {0};
    if (dataset_import_check(p, &e)) fail_msg("%s refused: %s", json, e.msg);
    json_decref(p);
}

static void params_checks(void **state) {
    (void)state;
    refuses("{\"source\":\"zip\",\"path\":\"/tmp\"}", "source");
    refuses("{\"path\":\"/tmp\"}", "source");
    refuses("{\"source\":\"folder\"}", "path");
    refuses("{\"source\":\"folder\",\"path\":\"tmp\"}", "path");
    refuses("{\"source\":\"folder\",\"path\":\"/no/such/dir\"}", "path");
    refuses("{\"source\":\"folder\",\"path\":\"/etc/passwd\"}", "path");
    refuses("{\"source\":\"tar\",\"path\":\"/tmp\"}", "path");
    refuses("{\"source\":\"idx\",\"images\":\"/no/such\",\"labels\":\"/etc/passwd\"}", "images");
    refuses("{\"source\":\"idx\",\"images\":\"/etc/passwd\",\"labels\":\"/no/such\"}", "labels");
    refuses("{\"source\":\"idx\",\"images\":\"/etc/passwd\",\"labels\":\"/etc/passwd\"}", "split");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"split\":\"Bad\"}", "split");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"split_ratio\":{}}", "split_ratio");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"split_ratio\":{\"train\":0}}", "split_ratio");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"split_ratio\":{\"train\":\"x\"}}", "split_ratio");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"split\":\"a\",\"split_ratio\":{\"train\":1}}", "split_ratio");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"classes\":[\"a\",\"a\"]}", "classes");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"classes\":[]}", "classes");
    refuses("{\"source\":\"folder\",\"path\":\"/tmp\",\"colour\":1}", "colour");
    accepts("{\"source\":\"folder\",\"path\":\"/tmp\"}");
    accepts("{\"source\":\"folder\",\"path\":\"/tmp\",\"split\":\"shifted\"}");
    accepts("{\"source\":\"folder\",\"path\":\"/tmp\",\"split_ratio\":{\"train\":8,\"val\":1,\"test\":1}}");
    accepts("{\"source\":\"idx\",\"images\":\"/etc/passwd\",\"labels\":\"/etc/passwd\",\"split\":\"extra\","
            "\"classes\":[\"a\",\"b\"]}");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(names_and_splits), cmocka_unit_test(params_checks)};
    return cmocka_run_group_tests_name("dataset_import", tests, NULL, NULL);
}
