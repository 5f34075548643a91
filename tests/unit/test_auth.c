/* test_auth.c — password checks: a real hash matches only its password, a missing
 * hash never matches, and the stand-in hash used for missing users has the same
 * Argon2 parameters as the hashes auth_password_hash makes (else an unknown user's
 * login would cost a different time than a known one's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "auth.h"

static int setup(void **state) {
    (void)state;
    return auth_init();
}

static void real_hash_matches_only_its_password(void **state) {
    (void)state;
    char hash[crypto_pwhash_STRBYTES];
    err e = {0};
    assert_int_equal(auth_password_hash("correct horse", hash, sizeof hash, &e), 0);
    assert_int_equal(auth_password_verify(hash, "correct horse"), 1);
    assert_int_equal(auth_password_verify(hash, "correct horsE"), 0);
}

static void missing_hash_never_matches(void **state) {
    (void)state;
    assert_int_equal(auth_password_verify(NULL, ""), 0);
    assert_int_equal(auth_password_verify(NULL, "anything"), 0);
}

/* needs_rehash answers 0 only when the string's algorithm, memory and passes are
 * exactly the ones given: those auth_password_hash uses. */
static void stand_in_hash_costs_what_a_real_one_costs(void **state) {
    (void)state;
    const char *h = auth_no_such_user_hash();
    assert_int_equal(crypto_pwhash_str_needs_rehash(h, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                    crypto_pwhash_MEMLIMIT_INTERACTIVE),
                     0);
    char real[crypto_pwhash_STRBYTES];
    err e = {0};
    assert_int_equal(auth_password_hash("x", real, sizeof real, &e), 0);
    /* The same "$argon2id$v=19$m=...,t=...,p=...$" before the salt. */
    const char *h_end = h, *r_end = real;
    for (int i = 0; i < 3; i++) h_end = strchr(h_end + 1, '$'), r_end = strchr(r_end + 1, '$');
    assert_non_null(h_end);
    assert_non_null(r_end);
    assert_int_equal(h_end - h, r_end - real);
    assert_memory_equal(h, real, (size_t)(h_end - h));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_hash_matches_only_its_password),
        cmocka_unit_test(missing_hash_never_matches),
        cmocka_unit_test(stand_in_hash_costs_what_a_real_one_costs),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
