/* test_student_actions.c — a tune's actions into a plan (student_actions.h): concepts
 * and classes by name or index, factor and value where the kind needs them, a weight
 * action without a class expanded to every class, add and drop changing the concept
 * list in order (and what weight actions then name), each refusal naming actions[i]
 * and its field, the provenance record (names, "all_classes"), and ss_plan_apply
 * naming the action, concept and class whose bounds cannot hold. */
#include <math.h>
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

/* Parse `text` (a JSON array); returns ss_plan_parse's status, the message in msg. */
static int parse(const char *text, ss_plan *plan, char *msg) {
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    err e = {0};
    int rc = ss_plan_parse(j, words, 3, classes, 2, plan, &e);
    json_decref(j);
    strcpy(msg, e.msg);
    if (rc) assert_int_equal(e.code, ERR_UNPROCESSABLE);
    return rc;
}

static char *record_text(const ss_plan *p) { return json_dumps(p->record, JSON_COMPACT); }

static void names_and_indices(void **state) {
    (void)state;
    ss_plan p;
    char msg[512];
    assert_int_equal(parse("[{\"action\":\"uptune\",\"concept\":\"sky\",\"class\":\"dog\",\"factor\":2.5},"
                           " {\"action\":\"set\",\"concept\":1,\"class\":0,\"value\":-0.5},"
                           " {\"action\":\"remove\",\"concept\":\"fur\",\"class\":1},"
                           " {\"action\":\"release\",\"concept\":0,\"class\":\"cat\"}]",
                           &p, msg),
                     0);
    assert_int_equal(p.n_acts, 4);
    tuning_action *a = p.acts;
    assert_true(a[0].kind == TUNING_UPTUNE && a[0].concept == 2 && a[0].cls == 1 && a[0].value == 2.5);
    assert_true(a[1].kind == TUNING_SET && a[1].concept == 1 && a[1].cls == 0 && a[1].value == -0.5);
    assert_true(a[2].kind == TUNING_REMOVE && a[2].concept == 0 && a[2].cls == 1);
    assert_true(a[3].kind == TUNING_RELEASE && a[3].concept == 0 && a[3].cls == 0);
    for (size_t t = 0; t < 4; t++) assert_int_equal(p.act_of[t], t);
    /* the list is the parent's */
    assert_int_equal(p.d, 3);
    assert_int_equal(p.n_added, 0);
    assert_int_equal(p.n_dropped, 0);
    for (size_t j = 0; j < 3; j++) assert_string_equal(p.words[j], words[j]), assert_int_equal(p.from[j], (long)j);

    /* provenance: names, factor / value only where the kind has one; it parses back */
    char *text = record_text(&p);
    assert_string_equal(text, "[{\"action\":\"uptune\",\"concept\":\"sky\",\"class\":\"dog\",\"factor\":2.5},"
                              "{\"action\":\"set\",\"concept\":\"grass\",\"class\":\"cat\",\"value\":-0.5},"
                              "{\"action\":\"remove\",\"concept\":\"fur\",\"class\":\"dog\"},"
                              "{\"action\":\"release\",\"concept\":\"fur\",\"class\":\"cat\"}]");
    ss_plan q;
    assert_int_equal(parse(text, &q, msg), 0);
    assert_int_equal(q.n_acts, p.n_acts);
    assert_memory_equal(q.acts, p.acts, p.n_acts * sizeof *p.acts);
    free(text);
    ss_plan_free(&p), ss_plan_free(&q);
    assert_null(p.acts); /* freed and zeroed */
}

static void every_class(void **state) {
    (void)state;
    ss_plan p;
    char msg[512];
    assert_int_equal(parse("[{\"action\":\"remove\",\"concept\":\"grass\"},"
                           " {\"action\":\"downtune\",\"concept\":\"sky\",\"class\":null,\"factor\":3}]",
                           &p, msg),
                     0);
    assert_int_equal(p.n_acts, 4); /* two actions x two classes */
    for (size_t k = 0; k < 2; k++) {
        assert_true(p.acts[k].kind == TUNING_REMOVE && p.acts[k].concept == 1 && p.acts[k].cls == k);
        assert_int_equal(p.act_of[k], 0);
        assert_true(p.acts[2 + k].kind == TUNING_DOWNTUNE && p.acts[2 + k].concept == 2 && p.acts[2 + k].cls == k);
        assert_int_equal(p.act_of[2 + k], 1);
    }
    char *text = record_text(&p);
    assert_string_equal(text, "[{\"action\":\"remove\",\"concept\":\"grass\",\"all_classes\":true},"
                              "{\"action\":\"downtune\",\"concept\":\"sky\",\"all_classes\":true,\"factor\":3.0}]");
    free(text);
    ss_plan_free(&p);
}

static void add_and_drop(void **state) {
    (void)state;
    ss_plan p;
    char msg[512];
    /* drop grass, add "Small " (normalised), uptune the new word in dog: names resolve
     * on the final list; an index names the parent's column */
    assert_int_equal(parse("[{\"action\":\"drop\",\"concept\":\"grass\"}, {\"action\":\"add\",\"concept\":\" Small \"},"
                           " {\"action\":\"uptune\",\"concept\":\"small\",\"class\":\"dog\",\"factor\":2},"
                           " {\"action\":\"remove\",\"concept\":2,\"class\":\"cat\"}]",
                           &p, msg),
                     0);
    assert_int_equal(p.d, 3);
    assert_string_equal(p.words[0], "fur"), assert_int_equal(p.from[0], 0);
    assert_string_equal(p.words[1], "sky"), assert_int_equal(p.from[1], 2);
    assert_string_equal(p.words[2], "small"), assert_int_equal(p.from[2], -1), assert_int_equal(p.added_by[2], 1);
    assert_int_equal(p.n_added, 1);
    assert_int_equal(p.n_dropped, 1);
    assert_int_equal(p.n_acts, 2);
    assert_true(p.acts[0].kind == TUNING_UPTUNE && p.acts[0].concept == 2 && p.acts[0].cls == 1);
    assert_true(p.acts[1].kind == TUNING_REMOVE && p.acts[1].concept == 1 && p.acts[1].cls == 0);
    char *text = record_text(&p);
    assert_string_equal(text, "[{\"action\":\"drop\",\"concept\":\"grass\"},{\"action\":\"add\",\"concept\":\"small\"},"
                              "{\"action\":\"uptune\",\"concept\":\"small\",\"class\":\"dog\",\"factor\":2.0},"
                              "{\"action\":\"remove\",\"concept\":\"sky\",\"class\":\"cat\"}]");
    free(text);
    ss_plan_free(&p);
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
         "actions[1].action: one of uptune, downtune, remove, release, set, add, drop"},
        {"[{\"action\":\"remove\",\"concept\":\"tail\",\"class\":0}]",
         "actions[0].concept: unknown concept 'tail': not a concept of this student (add it first: {\"action\":"
         " \"add\", \"concept\": \"tail\"})"},
        {"[{\"action\":\"remove\",\"concept\":3,\"class\":0}]",
         "actions[0].concept: a concept word or an index below 3"},
        {"[{\"action\":\"remove\",\"concept\":0,\"class\":\"cow\"}]", "actions[0].class: unknown class 'cow'"},
        {"[{\"action\":\"remove\",\"concept\":0,\"class\":-1}]", "actions[0].class: a class name or an index below 2"},
        {"[{\"action\":\"uptune\",\"concept\":0,\"class\":0,\"factor\":1}]",
         "actions[0].factor: uptune needs a number > 1"},
        {"[{\"action\":\"downtune\",\"concept\":0,\"class\":0}]", "actions[0].factor: downtune needs a number > 1"},
        {"[{\"action\":\"set\",\"concept\":0,\"class\":0,\"value\":\"1\"}]",
         "actions[0].value: set needs a finite number"},
        {"[{\"action\":\"add\",\"concept\":\"Fur\"}]", "actions[0].concept: 'fur' is already a concept of this student"},
        {"[{\"action\":\"add\",\"concept\":\"a/b\"}]",
         "actions[0].concept: holds a character a concept word may not ('/', control characters, invalid UTF-8)"},
        {"[{\"action\":\"add\",\"concept\":\"  \"}]", "actions[0].concept: a blank word"},
        {"[{\"action\":\"add\",\"concept\":7}]", "actions[0].concept: add needs the concept word as a string"},
        {"[{\"action\":\"add\",\"concept\":\"x\",\"class\":\"cat\"}]",
         "actions[0].class: add takes only a concept (it changes every class)"},
        {"[{\"action\":\"drop\",\"concept\":\"tail\"}]", "actions[0].concept: 'tail' is not a concept of this student"},
        {"[{\"action\":\"drop\",\"concept\":1},{\"action\":\"drop\",\"concept\":\"grass\"}]",
         "actions[1].concept: 'grass' is not a concept of this student"},
        {"[{\"action\":\"drop\",\"concept\":0},{\"action\":\"drop\",\"concept\":1},{\"action\":\"drop\",\"concept\":2}]",
         "actions[2]: a student keeps at least one concept"},
        {"[{\"action\":\"drop\",\"concept\":\"sky\"},{\"action\":\"remove\",\"concept\":\"sky\"}]",
         "actions[1].concept: 'sky' is dropped by actions[0]"},
        {"[{\"action\":\"remove\",\"concept\":2},{\"action\":\"drop\",\"concept\":\"sky\"}]",
         "actions[0].concept: 'sky' is dropped by actions[1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ss_plan p;
        memset(&p, 0x5a, sizeof p);
        char msg[512];
        assert_int_equal(parse(cases[i].json, &p, msg), -1);
        assert_string_equal(msg, cases[i].msg);
        assert_null(p.acts); /* nothing handed out on error */
        assert_null(p.words);
        assert_null(p.record);
    }
}

/* Bounds that cannot hold: the refusal names the API action, the word and the class. */
static void apply_names_the_weight(void **state) {
    (void)state;
    ss_plan p;
    char msg[512];
    /* uptune sky in every class, then downtune it in dog: dog's weight cannot be both */
    assert_int_equal(parse("[{\"action\":\"uptune\",\"concept\":\"sky\",\"factor\":2},"
                           " {\"action\":\"downtune\",\"concept\":\"sky\",\"class\":\"dog\",\"factor\":2}]",
                           &p, msg),
                     0);
    float w[6] = {0.5f, 0, 1, -1, 0, 2}; // (C=2, d=3)
    float lo[6], hi[6], start[6], lo0[6], hi0[6];
    for (int i = 0; i < 6; i++) lo[i] = lo0[i] = -INFINITY, hi[i] = hi0[i] = INFINITY;
    err e = {0};
    assert_int_equal(ss_plan_apply(&p, w, 2, 3, classes, lo, hi, start, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "actions[1]: 'sky' in class 'dog': bounds cannot all hold"));
    assert_memory_equal(lo, lo0, sizeof lo); /* nothing written */
    assert_memory_equal(hi, hi0, sizeof hi);
    ss_plan_free(&p);

    /* the same uptune alone holds in both classes: at least twice the weight */
    assert_int_equal(parse("[{\"action\":\"uptune\",\"concept\":\"sky\",\"factor\":2}]", &p, msg), 0);
    assert_int_equal(ss_plan_apply(&p, w, 2, 3, classes, lo, hi, start, &e), 0);
    assert_true(start[2] >= 2.0f && start[5] >= 4.0f);
    assert_true(start[0] == 0.5f && start[3] == -1.0f); /* other weights start where they were */
    ss_plan_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_indices),
        cmocka_unit_test(every_class),
        cmocka_unit_test(add_and_drop),
        cmocka_unit_test(refusals),
        cmocka_unit_test(apply_names_the_weight),
    };
    return cmocka_run_group_tests_name("student_actions", tests, NULL, NULL);
}
