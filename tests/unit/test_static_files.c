/* test_static_files.c — the static folder cannot be escaped: "..", hidden
 * names, symlinks pointing out; MIME types by extension. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "static_files.h"

static char root[PATH_MAX], outside[PATH_MAX];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    char tmpl[] = "/tmp/inficond-static-XXXXXX";
    char *base = mkdtemp(tmpl);
    if (!base) return -1;
    snprintf(root, sizeof root, "%s/static", base);
    snprintf(outside, sizeof outside, "%s/secret.txt", base);
    mkdir(root, 0755);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/index.html", root);
    write_file(p, "<html></html>");
    snprintf(p, sizeof p, "%s/views", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/views/a.js", root);
    write_file(p, "export {}");
    snprintf(p, sizeof p, "%s/.env", root);
    write_file(p, "SECRET=1");
    write_file(outside, "secret");
    snprintf(p, sizeof p, "%s/escape.txt", root);
    if (symlink(outside, p)) return -1;
    return 0;
}

static void resolves_inside(void **state) {
    (void)state;
    char out[PATH_MAX];
    assert_int_equal(static_resolve(root, "/", out, sizeof out), 0);
    assert_non_null(strstr(out, "/static/index.html"));
    assert_int_equal(static_resolve(root, "/views/a.js", out, sizeof out), 0);
}

static void refuses_escapes(void **state) {
    (void)state;
    char out[PATH_MAX];
    const char *bad[] = {"/../secret.txt", "/views/../../secret.txt", "/./index.html",
                         "/.env",          "/escape.txt",             "/views",
                         "/missing.js",    "relative.html",           "/views\\..\\x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = static_resolve(root, bad[i], out, sizeof out);
        if (rc != -1) fail_msg("'%s' resolved to %s", bad[i], out);
    }
}

static void mime_types(void **state) {
    (void)state;
    assert_string_equal(static_mime_type("a/b/index.html"), "text/html; charset=utf-8");
    assert_string_equal(static_mime_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(static_mime_type("x.CSS"), "text/css; charset=utf-8");
    assert_string_equal(static_mime_type("noext"), "application/octet-stream");
    assert_string_equal(static_mime_type("dir.d/noext"), "application/octet-stream");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolves_inside),
        cmocka_unit_test(refuses_escapes),
        cmocka_unit_test(mime_types),
    };
    return cmocka_run_group_tests_name("static_files", tests, setup, NULL);
}
