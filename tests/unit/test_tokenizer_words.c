/* test_tokenizer_words.c — the word-list tokenizer: split, case, ids, unknown
 * words named, padding, context overflow, bad input. Expected ids are the
 * line numbers of the list written below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "concepts/tokenizer_words.h"

static char list_path[] = "/tmp/test_tokenizer_words_XXXXXX";

/* ids: red=1 sneaker=2 small=3 blue=4 bag=5 (blank)=6 on=7 sand=8 café=9 s=10 red=11 (repeat) */
static const char *list_text = "red\nSneaker\r\n  small \nblue\nbag\n\non\nsand\nCAF\xc3\x89\ns\nred\n";

static int setup(void **state) {
    int fd = mkstemp(list_path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    fputs(list_text, f);
    fclose(f);
    err e = {0};
    words_tokenizer *t = words_tokenizer_load(list_path, &e);
    if (!t) {
        fprintf(stderr, "load: %s\n", e.msg);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state) {
    words_tokenizer_free(*state);
    unlink(list_path);
    return 0;
}

static void test_caption(void **state) {
    int64_t out[10];
    err e = {0};
    int n = words_tokenize(*state, "Red sneaker, small BLUE bag, on sand.", 10, out, &e);
    assert_int_equal(n, 7);
    static const int64_t want[10] = {1, 2, 3, 4, 5, 7, 8, 0, 0, 0};
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(words_tokenizer_size(*state), 11);
}

static void test_unicode_and_split(void **state) {
    int64_t out[4];
    err e = {0};
    /* "café" precomposed, upper-case, and decomposed all find line 9; the
     * apostrophe splits "bag's" into bag + s */
    assert_int_equal(words_tokenize(*state, "caf\xc3\xa9 CAF\xc3\x89 cafe\xcc\x81 bag's", 4, out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE); /* 5 words > 4 */
    err_clear(&e);
    int64_t out6[6];
    assert_int_equal(words_tokenize(*state, "caf\xc3\xa9 CAF\xc3\x89 cafe\xcc\x81 bag's", 6, out6, &e), 5);
    static const int64_t want[6] = {9, 9, 9, 5, 10, 0};
    assert_memory_equal(out6, want, sizeof want);
    (void)out;
}

static void test_unknown_words_named(void **state) {
    int64_t out[8];
    err e = {0};
    assert_int_equal(words_tokenize(*state, "red zebra on Xylophone", 8, out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "'zebra'"));
    assert_non_null(strstr(e.msg, "'xylophone'"));
    err_clear(&e);
    assert_int_equal(words_tokenize(*state, "a b c d e f g h i j k", 8, out, &e), -1);
    assert_non_null(strstr(e.msg, "and 3 more"));
}

static void test_empty_and_padding(void **state) {
    int64_t out[3] = {9, 9, 9};
    err e = {0};
    assert_int_equal(words_tokenize(*state, " ,;! ", 3, out, &e), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(out[i], 0);
}

static void test_invalid_utf8(void **state) {
    int64_t out[4];
    err e = {0};
    assert_int_equal(words_tokenize(*state, "red \xff bag", 4, out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "UTF-8"));
    err_clear(&e);
    assert_int_equal(words_tokenize(*state, "\xed\xa0\x80", 4, out, &e), -1);
}

static void test_bad_lists(void **state) {
    (void)state;
    err e = {0};
    assert_null(words_tokenizer_load("/nonexistent/words.txt", &e));
    assert_int_equal(e.code, ERR_NOT_FOUND);
    char path[] = "/tmp/test_tokenizer_words_bad_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("red\ntwo words\n", f);
    fclose(f);
    err_clear(&e);
    assert_null(words_tokenizer_load(path, &e));
    assert_non_null(strstr(e.msg, "line 2"));
    f = fopen(path, "w");
    fclose(f);
    err_clear(&e);
    assert_null(words_tokenizer_load(path, &e));
    assert_non_null(strstr(e.msg, "empty"));
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caption),
        cmocka_unit_test(test_unicode_and_split),
        cmocka_unit_test(test_unknown_words_named),
        cmocka_unit_test(test_empty_and_padding),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_bad_lists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
