/* test_router.c — path matching against a route table: literals, {params},
 * trailing slashes, 405 with the allowed methods, HEAD as GET. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "router.h"

static void h_a(req *r) { (void)r; }
static void h_b(req *r) { (void)r; }
static void h_c(req *r) { (void)r; }

static const route table[] = {
    {"GET", "/api/v1/jobs", h_a, ROLE_VIEWER, BODY_NONE, 0, "list"},
    {"POST", "/api/v1/jobs", h_b, ROLE_EDITOR, BODY_JSON, 0, "create"},
    {"GET", "/api/v1/jobs/{id}", h_c, ROLE_VIEWER, BODY_NONE, 0, "get"},
    {"POST", "/api/v1/students/{id}/versions/{v}/predict", h_a, ROLE_VIEWER, BODY_FILE, 0, "p"},
    {NULL, NULL, NULL, ROLE_PUBLIC, BODY_NONE, 0, NULL},
};

static route_match_result match(const char *method, const char *path, const route **out,
                                const char *params[REQ_MAX_PARAMS], int *np, char *allow) {
    static char scratch[256];
    return router_match(table, method, path, scratch, sizeof scratch, out, params, np, allow, 64);
}

static void literal_and_method(void **state) {
    (void)state;
    const route *r = NULL;
    const char *p[REQ_MAX_PARAMS];
    int np = -1;
    char allow[64];
    assert_int_equal(match("GET", "/api/v1/jobs", &r, p, &np, allow), ROUTE_FOUND);
    assert_ptr_equal(r->handler, h_a);
    assert_int_equal(np, 0);
    assert_int_equal(match("POST", "/api/v1/jobs", &r, p, &np, allow), ROUTE_FOUND);
    assert_ptr_equal(r->handler, h_b);
    assert_int_equal(match("POST", "/api/v1/jobs/", &r, p, &np, allow), ROUTE_FOUND);
    assert_ptr_equal(r->handler, h_b);
}

static void params_are_cut(void **state) {
    (void)state;
    const route *r = NULL;
    const char *p[REQ_MAX_PARAMS];
    int np = 0;
    char allow[64];
    assert_int_equal(match("GET", "/api/v1/jobs/42", &r, p, &np, allow), ROUTE_FOUND);
    assert_ptr_equal(r->handler, h_c);
    assert_int_equal(np, 1);
    assert_string_equal(p[0], "42");
    assert_int_equal(match("POST", "/api/v1/students/7/versions/3/predict", &r, p, &np, allow),
                     ROUTE_FOUND);
    assert_int_equal(np, 2);
    assert_string_equal(p[0], "7");
    assert_string_equal(p[1], "3");
}

static void wrong_method_lists_allowed(void **state) {
    (void)state;
    const route *r = NULL;
    const char *p[REQ_MAX_PARAMS];
    int np = 0;
    char allow[64];
    assert_int_equal(match("DELETE", "/api/v1/jobs", &r, p, &np, allow), ROUTE_NO_METHOD);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(match("POST", "/api/v1/jobs/3", &r, p, &np, allow), ROUTE_NO_METHOD);
    assert_string_equal(allow, "GET");
    assert_int_equal(match("HEAD", "/api/v1/jobs/3", &r, p, &np, allow), ROUTE_FOUND);
}

static void unknown_paths(void **state) {
    (void)state;
    const route *r = NULL;
    const char *p[REQ_MAX_PARAMS];
    int np = 0;
    char allow[64];
    const char *bad[] = {"/api/v1/job", "/api/v1/jobs/1/2", "/api/v1//jobs", "/api/v1/jobs//",
                         "/api/v1/students/1/versions//predict", "", "/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(match("GET", bad[i], &r, p, &np, allow), ROUTE_NO_PATH);
}

static void long_path_is_refused(void **state) {
    (void)state;
    char path[600];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    const route *r = NULL;
    const char *p[REQ_MAX_PARAMS];
    int np = 0;
    char allow[64];
    assert_int_equal(match("GET", path, &r, p, &np, allow), ROUTE_NO_PATH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literal_and_method),       cmocka_unit_test(params_are_cut),
        cmocka_unit_test(wrong_method_lists_allowed), cmocka_unit_test(unknown_paths),
        cmocka_unit_test(long_path_is_refused),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
