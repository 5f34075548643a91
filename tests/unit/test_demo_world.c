/* test_demo_world.c — the AUC used by the demo report, against hand-computed
 * cases (perfect, inverted, ties, one class missing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "demo_world.h"

static void perfect_and_inverted(void **state) {
    (void)state;
    float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
    uint8_t t[] = {0, 1, 0, 1};
    assert_true(demo_auc(s, t, 4) == 1.0);
    uint8_t inv[] = {1, 0, 1, 0};
    assert_true(demo_auc(s, inv, 4) == 0.0);
}

static void hand_computed(void **state) {
    (void)state;
    /* positives {0.8, 0.35}, negatives {0.4, 0.1}: pairs (0.8>0.4, 0.8>0.1, 0.35<0.4,
     * 0.35>0.1) -> 3 of 4 = 0.75 */
    float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
    uint8_t t[] = {0, 0, 1, 1};
    assert_float_equal(demo_auc(s, t, 4), 0.75, 1e-12);
    /* a tie between a positive and a negative counts half: {0.5 vs 0.5} -> 0.5 */
    float tie[] = {0.5f, 0.5f};
    uint8_t tt[] = {1, 0};
    assert_float_equal(demo_auc(tie, tt, 2), 0.5, 1e-12);
}

static void one_class_missing(void **state) {
    (void)state;
    float s[] = {0.1f, 0.2f};
    uint8_t all[] = {1, 1};
    assert_true(demo_auc(s, all, 2) < 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(perfect_and_inverted),
        cmocka_unit_test(hand_computed),
        cmocka_unit_test(one_class_missing),
    };
    return cmocka_run_group_tests_name("demo_world", tests, NULL, NULL);
}
