/* test_job_tasks.c — the pure part of chunk tasks: how N rows are cut into chunks
 * (every row in exactly one chunk, in order, the last one shorter). The queue itself
 * is tested against PostgreSQL in tests/api/workers.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "job_tasks.h"

static void counts(void **state) {
    (void)state;
    assert_int_equal(job_chunk_count(0, 512), 0);
    assert_int_equal(job_chunk_count(1, 512), 1);
    assert_int_equal(job_chunk_count(512, 512), 1);
    assert_int_equal(job_chunk_count(513, 512), 2);
    assert_int_equal(job_chunk_count(32000, 2048), 16);
    assert_int_equal(job_chunk_count(10, 0), 0); /* no chunk size: nothing to cut */
}

/* Every row lands in exactly one chunk, chunks are contiguous and in order. */
static void ranges_cover_rows_once(void **state) {
    (void)state;
    const size_t sizes[] = {1, 3, 64, 100, 1000, 10000};
    const size_t chunks[] = {1, 7, 64, 512, 2048};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
            size_t n = sizes[i], ch = chunks[k], next = 0;
            for (size_t c = 0; c < job_chunk_count(n, ch); c++) {
                size_t lo, count;
                job_chunk_range(n, ch, c, &lo, &count);
                assert_int_equal(lo, next);
                assert_true(count >= 1 && count <= ch);
                if (c + 1 < job_chunk_count(n, ch)) assert_int_equal(count, ch);
                next = lo + count;
            }
            assert_int_equal(next, n);
        }
}

static void past_the_end_is_empty(void **state) {
    (void)state;
    size_t lo, count;
    job_chunk_range(100, 64, 2, &lo, &count);
    assert_int_equal(lo, 100);
    assert_int_equal(count, 0);
    job_chunk_range(100, 64, 1, &lo, &count);
    assert_int_equal(lo, 64);
    assert_int_equal(count, 36);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts),
        cmocka_unit_test(ranges_cover_rows_once),
        cmocka_unit_test(past_the_end_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
