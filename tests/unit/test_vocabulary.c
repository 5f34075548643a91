/* test_vocabulary.c — a concept model's vocabulary for people typing words
 * (vocabulary.h): a word list's words by prefix in byte order without repeats or
 * blank lines, the nearest words to an unknown one (a typo, a word's start, nothing
 * near), the reason naming each unknown word of a concept with its suggestions, the
 * refusal of concept_check_words carrying that reason, and the answers of
 * GET /models/{id}/vocabulary for a word list and for CLIP (open). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "concepts/concepts.h"
#include "concepts/vocabulary.h"
#include "tmpdir.h"

static char dir[64], path[128];

static int setup(void **state) {
    (void)state;
    if (!tmpdir_make(dir)) return -1;
    snprintf(path, sizeof path, "%s/words.txt", dir);
    const char *list = "small\nsmooth\nsky\n\nshirt\nsmall\nsmell\nbrick\nsand\nstripes\nsleeve\n";
    return tmpdir_write(path, list, strlen(list));
}

static int teardown(void **state) {
    (void)state;
    tmpdir_remove(dir);
    return 0;
}

static void prefix_listing(void **state) {
    (void)state;
    err e = {0};
    words_tokenizer *t = words_tokenizer_load(path, &e);
    assert_non_null(t);
    const char *out[20];
    size_t total;
    assert_int_equal(vocabulary_prefix(t, "sm", out, 20, &total, &e), 0);
    assert_int_equal(total, 3); /* "small" once */
    assert_string_equal(out[0], "small");
    assert_string_equal(out[1], "smell");
    assert_string_equal(out[2], "smooth");
    assert_int_equal(vocabulary_prefix(t, "", out, 2, &total, &e), 0);
    assert_int_equal(total, 9); /* every distinct word, no blank line */
    assert_string_equal(out[0], "brick");
    assert_string_equal(out[1], "sand");
    assert_int_equal(vocabulary_prefix(t, "zz", out, 20, &total, &e), 0);
    assert_int_equal(total, 0);
    words_tokenizer_free(t);
}

static void nearest_words(void **state) {
    (void)state;
    err e = {0};
    words_tokenizer *t = words_tokenizer_load(path, &e);
    assert_non_null(t);
    const char *out[VOCABULARY_NEAREST];
    size_t k = vocabulary_nearest(t, "smal", out, VOCABULARY_NEAREST);
    assert_true(k >= 2);
    assert_string_equal(out[0], "small"); /* one edit (and its start) */
    assert_string_equal(out[1], "smell"); /* two edits */
    k = vocabulary_nearest(t, "stri", out, 1);
    assert_int_equal(k, 1);
    assert_string_equal(out[0], "stripes"); /* typed the start of it */
    assert_int_equal(vocabulary_nearest(t, "xylophone", out, VOCABULARY_NEAREST), 0);
    char why[512];
    assert_int_equal(vocabulary_unknown(t, "red brick", why, sizeof why), 1);
    assert_string_equal(why, "'red' (no word near it)"); /* "sky" is three edits away: too far for three letters */
    assert_int_equal(vocabulary_unknown(t, "bricks", why, sizeof why), 1);
    assert_string_equal(why, "'bricks' (nearest: 'brick')");
    assert_int_equal(vocabulary_unknown(t, "small sky", why, sizeof why), 0);
    assert_int_equal(vocabulary_unknown(t, "xylophone smal", why, sizeof why), 2);
    assert_non_null(strstr(why, "'xylophone' (no word near it), 'smal' (nearest: 'small', 'smell'"));
    words_tokenizer_free(t);
}

static void answers(void **state) {
    (void)state;
    model_manifest mf = {0};
    mf.kind = MODEL_KIND_CONCEPT;
    mf.tokenizer = MODEL_TOKENIZER_WORDS;
    mf.tokenizer_path = path;
    mf.tokenizer_file = (char *)"words.txt";
    mf.context_length = 4;
    err e = {0};
    json_t *j = vocabulary_json(&mf, "s", 2, &e);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"items\":[\"sand\",\"shirt\"],\"open\":false,\"prefix\":\"s\",\"size\":11,"
                              "\"tokenizer\":\"words\",\"total\":8}");
    free(text), json_decref(j);
    /* the refusal a corpus or a student's add gets: each unknown word and what is near */
    char *words[] = {(char *)"sky", (char *)"smal"};
    assert_int_equal(concept_check_words(&mf, words, 2, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "not in the concept model's vocabulary (words.txt"));
    assert_non_null(strstr(e.msg, "'smal' (nearest: 'small'"));
    assert_null(strstr(e.msg, "'sky' (")); /* a known word is not named as unknown */
    mf.tokenizer = MODEL_TOKENIZER_CLIP_BPE;
    mf.context_length = 77;
    j = vocabulary_json(&mf, "sm", 20, &e);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"context_length\":77,\"items\":[],\"open\":true,\"tokenizer\":\"clip-bpe\"}");
    free(text), json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prefix_listing),
        cmocka_unit_test(nearest_words),
        cmocka_unit_test(answers),
    };
    return cmocka_run_group_tests_name("vocabulary", tests, setup, teardown);
}
