/* test_tokenizer_clip.c — CLIP BPE tokenizer against known answers.
 *
 * Needs OpenAI's vocab at ../shared/clip/bpe_simple_vocab_16e6.txt.gz (tests run
 * from the repo root; INFICOND_CLIP_VOCAB overrides): without it every test that
 * needs it is skipped, naming the file (need_file.h).
 *
 * How the expected ids were derived: "a photo of a cat" is the published
 * answer. The others follow the algorithm by hand and were cross-checked with
 * an independent Python re-implementation of simple_tokenizer.py (regex module,
 * html.unescape), which also agreed with this C code on 3,000 random mixed-script
 * strings. Ids of single bytes follow from bytes_to_unicode: printable byte b
 * has id b - 33 ('a' = 64), "+ </w>" adds 256 ('a</w>' = 320, '2</w>' = 273).
 * Merged ids are 512 + the merge's line number - 2 in the vocab file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "concepts/tokenizer_clip.h"
#include "need_file.h"

static const char *vocab_path(void) {
    const char *p = getenv("INFICOND_CLIP_VOCAB");
    return p && *p ? p : "../shared/clip/bpe_simple_vocab_16e6.txt.gz";
}

/* The tokenizer, shared by the tests; NULL when the vocab is absent (each test that
 * needs it then skips). */
static int setup(void **state) {
    *state = NULL;
    if (access(vocab_path(), R_OK) != 0) return 0;
    err e = {0};
    const clip_tokenizer *t = clip_tokenizer_get(vocab_path(), &e);
    if (!t) {
        fprintf(stderr, "test_tokenizer_clip: %s\n", e.msg);
        return -1;
    }
    *state = (void *)t;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    clip_tokenizer_cache_clear();
    return 0;
}

/* SOT first, EOT at n-1, zeros after, every id inside the vocab. */
static void assert_structure(const int64_t *out, int n, int ctx) {
    assert_true(n >= 2 && n <= ctx);
    assert_int_equal(out[0], CLIP_SOT_ID);
    assert_int_equal(out[n - 1], CLIP_EOT_ID);
    for (int i = 1; i < n - 1; i++) assert_true(out[i] >= 0 && out[i] < CLIP_VOCAB_SIZE);
    for (int i = n; i < ctx; i++) assert_int_equal(out[i], 0);
}

static void check(const clip_tokenizer *t, const char *text, const int64_t *want, int nwant) {
    int64_t out[CLIP_CONTEXT_LENGTH];
    err e = {0};
    int n = clip_tokenize(t, text, CLIP_CONTEXT_LENGTH, 0, out, &e);
    if (n != nwant) fprintf(stderr, "text '%s': got %d tokens (%s)\n", text, n, e.msg);
    assert_int_equal(n, nwant);
    assert_structure(out, n, CLIP_CONTEXT_LENGTH);
    for (int i = 0; i < n; i++) {
        if (out[i] != want[i]) fprintf(stderr, "text '%s': token %d\n", text, i);
        assert_int_equal(out[i], want[i]);
    }
}

#define CHECK(t, text, ...)                                                        \
    do {                                                                           \
        static const int64_t want_[] = {__VA_ARGS__};                              \
        check(t, text, want_, (int)(sizeof want_ / sizeof *want_));               \
    } while (0)

static void test_known_answer(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    CHECK(*state, "a photo of a cat", 49406, 320, 1125, 539, 320, 2368, 49407);
}

static void test_empty_and_whitespace(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    CHECK(*state, "", 49406, 49407);
    CHECK(*state, " \t\n ", 49406, 49407);
    /* whitespace runs (any Unicode White_Space: NBSP, ideographic space) collapse */
    CHECK(*state, "a   photo\n of", 49406, 320, 1125, 539, 49407);
    CHECK(*state, "\xc2\xa0" "cat\xe3\x80\x80", 49406, 2368, 49407);
}

static void test_digits_one_per_token(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    /* \p{N} matches one character: "2024" is 2,0,2,4 each as "d</w>" */
    CHECK(*state, "2024 12", 49406, 273, 271, 273, 275, 272, 273, 49407);
}

static void test_contractions_and_case(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    /* "don" + "'t" (the 't alternative), the same after lower-casing */
    CHECK(*state, "don't", 49406, 847, 713, 49407);
    CHECK(*state, "DON'T", 49406, 847, 713, 49407);
    /* a curly apostrophe is straightened first (ftfy's uncurl_quotes) */
    CHECK(*state, "don\xe2\x80\x99t", 49406, 847, 713, 49407);
}

static void test_punctuation_runs(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    /* [^\s\p{L}\p{N}]+ takes "!!!" as one piece; the merges make "!!!</w>" = 995 */
    CHECK(*state, "!!!", 49406, 995, 49407);
    CHECK(*state, "wow!!!", 49406, 2781, 995, 49407);
}

static void test_accents(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    /* é lower-cased from É (UTF-8 aware), and the decomposed e + U+0301 made NFC:
     * all three are the bytes of "café" -> "cafÃ©</w>" = 15304 */
    CHECK(*state, "caf\xc3\xa9", 49406, 15304, 49407);
    CHECK(*state, "CAF\xc3\x89", 49406, 15304, 49407);
    CHECK(*state, "cafe\xcc\x81", 49406, 15304, 49407);
    /* Python's lower(): ΟΔΟΣ -> οδος with a final sigma (CF 82; byte 0x82 -> 'Ĥ') */
    CHECK(*state, "\xce\x9f\xce\x94\xce\x9f\xce\xa3", 49406, 138, 123, 138, 112, 138, 123, 139, 480, 49407);
    /* canonical reordering: a + diaeresis (230) + dot below (220) -> ạ + diaeresis */
    CHECK(*state, "a\xcc\x88\xcc\xa3", 49406, 157, 118, 350, 136, 486, 49407);
}

static void test_emoji(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    /* an emoji is a run of "other" symbols: its 4 UTF-8 bytes as byte symbols, merged */
    CHECK(*state, "\xf0\x9f\x90\xb1", 49406, 22979, 49407);
    CHECK(*state, "cat \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 49406, 2368, 43722, 49407);
}

static void test_html_entities(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    CHECK(*state, "fish &amp; chips", 49406, 2759, 261, 8855, 49407);
    CHECK(*state, "&lt;3", 49406, 283, 274, 49407);
    /* unescaped twice, as CLIP does */
    CHECK(*state, "&amp;lt;3", 49406, 283, 274, 49407);
    /* numeric references, decimal and hex: two apostrophes = "''</w>" */
    CHECK(*state, "&#x27;&#39;", 49406, 8445, 49407);
    /* unknown names stay as text: "&bogus;" = & + bogus + ; */
    int64_t a[CLIP_CONTEXT_LENGTH], b[CLIP_CONTEXT_LENGTH];
    err e = {0};
    int na = clip_tokenize(*state, "&bogus;", CLIP_CONTEXT_LENGTH, 0, a, &e);
    int nb = clip_tokenize(*state, "& bogus ;", CLIP_CONTEXT_LENGTH, 0, b, &e);
    assert_true(na == nb && na > 2);
    assert_memory_equal(a, b, sizeof a);
}

static void test_ligatures_and_width(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    CHECK(*state, "\xef\xac\x81sh", 49406, 2759, 49407);                   /* ﬁsh -> fish */
    CHECK(*state, "\xef\xbc\xa3\xef\xbc\xa1\xef\xbc\xb4", 49406, 2368, 49407); /* ＣＡＴ */
}

static void test_special_token_text(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    /* CLIP's pattern and BPE cache turn the special tokens' text into the ids */
    CHECK(*state, "<|endoftext|>", 49406, 49407, 49407);
    CHECK(*state, "a<|endoftext|>b", 49406, 320, 49407, 321, 49407);
}

static void test_too_long(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    char text[401];
    for (int i = 0; i < 200; i++) text[2 * i] = 'a', text[2 * i + 1] = ' ';
    text[400] = '\0'; /* 200 x "a</w>" */
    int64_t out[CLIP_CONTEXT_LENGTH];
    err e = {0};
    assert_int_equal(clip_tokenize(*state, text, CLIP_CONTEXT_LENGTH, 0, out, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "202 tokens"));
    assert_non_null(strstr(e.msg, "77"));

    err_clear(&e);
    assert_int_equal(clip_tokenize(*state, text, CLIP_CONTEXT_LENGTH, 1, out, &e), 77);
    assert_int_equal(out[0], CLIP_SOT_ID);
    for (int i = 1; i < 76; i++) assert_int_equal(out[i], 320);
    assert_int_equal(out[76], CLIP_EOT_ID);

    /* exactly 75 ids fit without truncation */
    text[150] = '\0';
    err_clear(&e);
    assert_int_equal(clip_tokenize(*state, text, CLIP_CONTEXT_LENGTH, 0, out, &e), 77);
    assert_int_equal(out[76], CLIP_EOT_ID);
    text[152] = '\0';
    text[150] = 'a';
    assert_int_equal(clip_tokenize(*state, text, CLIP_CONTEXT_LENGTH, 0, out, &e), -1);

    /* other context lengths, and bad ones */
    int64_t small[4];
    err_clear(&e);
    assert_int_equal(clip_tokenize(*state, "a photo of a cat", 4, 1, small, &e), 4);
    assert_int_equal(small[1], 320);
    assert_int_equal(small[2], 1125);
    assert_int_equal(small[3], CLIP_EOT_ID);
    assert_int_equal(clip_tokenize(*state, "a", 1, 1, small, &e), -1);

    /* huge input is refused up front */
    char *big = malloc(CLIP_MAX_TEXT_BYTES + 2);
    memset(big, 'a', CLIP_MAX_TEXT_BYTES + 1);
    big[CLIP_MAX_TEXT_BYTES + 1] = '\0';
    err_clear(&e);
    assert_int_equal(clip_tokenize(*state, big, CLIP_CONTEXT_LENGTH, 1, out, &e), -1);
    assert_int_equal(e.code, ERR_TOO_LARGE);
    /* a long single word just under the cap is fine (and fast) with truncation */
    big[CLIP_MAX_TEXT_BYTES] = '\0';
    err_clear(&e);
    assert_int_equal(clip_tokenize(*state, big, CLIP_CONTEXT_LENGTH, 1, out, &e), 77);
    free(big);
}

static void test_invalid_utf8(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    static const char *bad[] = {"\xff", "caf\xc3", "\xc0\xaf", "\xed\xa0\x80", "a\x80" "b",
                                "\xf4\x90\x80\x80", "\xe2\x82"};
    int64_t out[CLIP_CONTEXT_LENGTH];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err e = {0};
        assert_int_equal(clip_tokenize(*state, bad[i], CLIP_CONTEXT_LENGTH, 0, out, &e), -1);
        assert_int_equal(e.code, ERR_UNPROCESSABLE);
        assert_non_null(strstr(e.msg, "UTF-8"));
    }
}

static void test_bad_vocab_files(void **state) {
    (void)state;
    err e = {0};
    assert_null(clip_tokenizer_load("/nonexistent/vocab.txt.gz", &e));
    assert_int_equal(e.code, ERR_NOT_FOUND);

    char path[] = "/tmp/test_tokenizer_clip_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    for (int i = 0; i < 5000; i++) fputc((i * 7919 + 13) & 0xFF, f); /* binary garbage */
    fclose(f);
    err_clear(&e);
    assert_null(clip_tokenizer_load(path, &e));
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, path));

    /* plain text with a malformed merge line */
    f = fopen(path, "wb");
    fputs("#version: 0.2\ni n\nthree fields here\n", f);
    fclose(f);
    err_clear(&e);
    assert_null(clip_tokenizer_load(path, &e));
    assert_non_null(strstr(e.msg, "line 3"));
    unlink(path);
}

/* The first 80 KB of the real vocab: a truncated gzip archive. */
static void test_truncated_vocab(void **state) {
    (void)state;
    need_file(vocab_path(), NEED_SHARED);
    char path[] = "/tmp/test_tokenizer_clip_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *src = fopen(vocab_path(), "rb");
    assert_non_null(src);
    FILE *f = fdopen(fd, "wb");
    char buf[4096];
    for (int i = 0; i < 20; i++) {
        size_t n = fread(buf, 1, sizeof buf, src);
        fwrite(buf, 1, n, f);
    }
    fclose(src), fclose(f);
    err e = {0};
    assert_null(clip_tokenizer_load(path, &e));
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    unlink(path);
}

static void test_cache_returns_same(void **state) {
    need_file(vocab_path(), NEED_SHARED);
    err e = {0};
    const clip_tokenizer *t = clip_tokenizer_get(vocab_path(), &e);
    assert_ptr_equal(t, *state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_empty_and_whitespace),
        cmocka_unit_test(test_digits_one_per_token),
        cmocka_unit_test(test_contractions_and_case),
        cmocka_unit_test(test_punctuation_runs),
        cmocka_unit_test(test_accents),
        cmocka_unit_test(test_emoji),
        cmocka_unit_test(test_html_entities),
        cmocka_unit_test(test_ligatures_and_width),
        cmocka_unit_test(test_special_token_text),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_bad_vocab_files),
        cmocka_unit_test(test_truncated_vocab),
        cmocka_unit_test(test_cache_returns_same),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
