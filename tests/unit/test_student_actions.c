/* test_student_actions.c — the API's tuning actions (student_actions.h): concepts and
 * classes by name or index, factor and value where the kind needs them, each refusal
 * naming actions[i] and its field, and the provenance form (names, not indices) that
 * parses back to the same actions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "student/student_actions.h"

static char w0[] = "fur", w1[] = "grass", w2[] = "sky";
static char *const words[3] = {w0, w1, w2};
static char c0[] = "cat", c1[] = "dog";
static char *const classes[2] = {c0, c1};

/* Parse `text` (a JSON array); returns ss_actions_parse's status, the message in msg. */
static int parse(const char *text, tuning_action **acts, size_t *n, char *msg) {
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    err e = {0};
    int rc = ss_actions_parse(j, words, 3, classes, 2, acts, n, &e);
    json_decref(j);
    strcpy(msg, e.msg);
    if (rc) assert_int_equal(e.code, ERR_UNPROCESSABLE);
    return rc;
}

static void names_and_indices(void **state) {
    (void)state;
    tuning_action *a;
    size_t n;
    char msg[512];
    assert_int_equal(parse("[{\"action\":\"uptune\",\"concept\":\"sky\",\"class\":\"dog\",\"factor\":2.5},"
                           " {\"action\":\"set\",\"concept\":1,\"class\":0,\"value\":-0.5},"
                           " {\"action\":\"remove\",\"concept\":\"fur\",\"class\":1},"
                           " {\"action\":\"release\",\"concept\":0,\"class\":\"cat\"}]",
                           &a, &n, msg),
                     0);
    assert_int_equal(n, 4);
    assert_true(a[0].kind == TUNING_UPTUNE && a[0].concept == 2 && a[0].cls == 1 && a[0].value == 2.5);
    assert_true(a[1].kind == TUNING_SET && a[1].concept == 1 && a[1].cls == 0 && a[1].value == -0.5);
    assert_true(a[2].kind == TUNING_REMOVE && a[2].concept == 0 && a[2].cls == 1);
    assert_true(a[3].kind == TUNING_RELEASE && a[3].concept == 0 && a[3].cls == 0);

    /* provenance: names, factor / value only where the kind has one; it parses back */
    json_t *j = ss_actions_json(a, n, words, classes);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "[{\"action\":\"uptune\",\"concept\":\"sky\",\"class\":\"dog\",\"factor\":2.5},"
                              "{\"action\":\"set\",\"concept\":\"grass\",\"class\":\"cat\",\"value\":-0.5},"
                              "{\"action\":\"remove\",\"concept\":\"fur\",\"class\":\"dog\"},"
                              "{\"action\":\"release\",\"concept\":\"fur\",\"class\":\"cat\"}]");
    tuning_action *b;
    size_t m;
    assert_int_equal(parse(text, &b, &m, msg), 0);
    assert_int_equal(m, n);
    assert_memory_equal(a, b, n * sizeof *a);
    free(text), json_decref(j), free(a), free(b);
}

static void refusals(void **state) {
    (void)state;
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"[]", "field 'actions': a non-empty array of actions"},
        {"{}", "field 'actions': a non-empty array of actions"},
        {"[3]", "actions[0]: must be an object"},
        {"[{\"action\":\"remove\",\"concept\":0,\"class\":0,\"weight\":1}]", "actions[0].weight: unknown field"},
        {"[{\"action\":\"remove\",\"concept\":0,\"class\":0},{\"action\":\"zap\",\"concept\":0,\"class\":0}]",
         "actions[1].action: one of uptune, downtune, remove, release, set"},
        {"[{\"action\":\"remove\",\"concept\":\"tail\",\"class\":0}]", "actions[0].concept: unknown concept 'tail'"},
        {"[{\"action\":\"remove\",\"concept\":3,\"class\":0}]",
         "actions[0].concept: a concept word or an index below 3"},
        {"[{\"action\":\"remove\",\"concept\":0,\"class\":\"cow\"}]", "actions[0].class: unknown class 'cow'"},
        {"[{\"action\":\"remove\",\"concept\":0,\"class\":-1}]", "actions[0].class: a class name or an index below 2"},
        {"[{\"action\":\"uptune\",\"concept\":0,\"class\":0,\"factor\":1}]",
         "actions[0].factor: uptune needs a number > 1"},
        {"[{\"action\":\"downtune\",\"concept\":0,\"class\":0}]", "actions[0].factor: downtune needs a number > 1"},
        {"[{\"action\":\"set\",\"concept\":0,\"class\":0,\"value\":\"1\"}]",
         "actions[0].value: set needs a finite number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tuning_action *a = (tuning_action *)1;
        size_t n = 7;
        char msg[512];
        assert_int_equal(parse(cases[i].json, &a, &n, msg), -1);
        assert_string_equal(msg, cases[i].msg);
        assert_null(a); /* nothing handed out on error */
        assert_int_equal(n, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_indices),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests_name("student_actions", tests, NULL, NULL);
}
