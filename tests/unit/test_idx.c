/* test_idx.c — idx reader: good plain/gzip files, every malformed case the reader
 * promises to name (bad magic, wrong type, truncated, trailing data, too large),
 * streaming, and the real Fashion-MNIST test files when the package is installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <zlib.h>

#include "dataset/idx.h"
#include "need_file.h"
#include "tmpdir.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

/* An idx image of ubyte type with the given dims, payload i % 251. Returns length. */
static size_t make_idx(uint8_t *buf, int ndims, const uint32_t *dims, size_t payload) {
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = 0x08;
    buf[n++] = (uint8_t)ndims;
    for (int i = 0; i < ndims; i++) {
        buf[n++] = (uint8_t)(dims[i] >> 24);
        buf[n++] = (uint8_t)(dims[i] >> 16);
        buf[n++] = (uint8_t)(dims[i] >> 8);
        buf[n++] = (uint8_t)dims[i];
    }
    for (size_t i = 0; i < payload; i++) buf[n++] = (uint8_t)(i % 251);
    return n;
}

static size_t gzip_mem(const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    return n;
}

static void expect_fail(const uint8_t *buf, size_t len, const char *needle) {
    idx_array a;
    err e = {0};
    assert_int_equal(idx_parse(buf, len, &a, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
    assert_null(a.data);
}

static void test_parse_plain_and_gzip(void **state) {
    (void)state;
    uint8_t buf[256], gz[512];
    uint32_t dims[3] = {2, 3, 4};
    size_t n = make_idx(buf, 3, dims, 24);
    idx_array a;
    err e = {0};
    assert_int_equal(idx_parse(buf, n, &a, &e), 0);
    assert_int_equal(a.ndims, 3);
    assert_int_equal(a.dims[0], 2);
    assert_int_equal(a.dims[1], 3);
    assert_int_equal(a.dims[2], 4);
    assert_int_equal(a.dims[3], 0);
    assert_int_equal(a.count, 24);
    assert_memory_equal(a.data, buf + 16, 24);
    idx_free(&a);
    assert_null(a.data);

    size_t gn = gzip_mem(buf, n, gz, sizeof gz);
    assert_int_equal(idx_parse(gz, gn, &a, &e), 0);
    assert_int_equal(a.count, 24);
    assert_memory_equal(a.data, buf + 16, 24);
    idx_free(&a);
    idx_free(NULL);
}

static void test_parse_errors(void **state) {
    (void)state;
    uint8_t buf[256], gz[512];
    uint32_t dims[2] = {3, 5};
    size_t n = make_idx(buf, 2, dims, 15);

    expect_fail(buf, n - 1, "truncated");       /* one data byte short   */
    expect_fail(buf, 6, "truncated header");     /* inside the dims       */
    expect_fail(buf, 2, "truncated header");
    uint8_t longer[300];
    memcpy(longer, buf, n);
    longer[n] = 7;
    expect_fail(longer, n + 1, "trailing data");

    buf[2] = 0x0D; /* float */
    expect_fail(buf, n, "unsupported element type 0x0d");
    buf[2] = 0x08;
    buf[0] = 1;
    expect_fail(buf, n, "bad magic");
    buf[0] = 0;
    buf[3] = 5;
    expect_fail(buf, n, "dimensions");
    buf[3] = 0;
    expect_fail(buf, n, "dimensions");
    buf[3] = 2;

    uint32_t zero[2] = {3, 0};
    n = make_idx(buf, 2, zero, 0);
    expect_fail(buf, n, "dimension 1 is zero");

    /* 4096^3 = 64 GiB: refused from the header alone, nothing allocated. */
    uint32_t huge[3] = {4096, 4096, 4096};
    n = make_idx(buf, 3, huge, 10);
    expect_fail(buf, n, "limit");

    /* gzip cut in half */
    n = make_idx(buf, 2, dims, 15);
    size_t gn = gzip_mem(buf, n, gz, sizeof gz);
    expect_fail(gz, gn / 2, "truncated gzip");
    /* corrupt gzip body */
    gz[12] ^= 0xFF;
    gz[13] ^= 0xFF;
    idx_array a;
    err e = {0};
    assert_int_equal(idx_parse(gz, gn, &a, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
}

static void test_load_files_and_stream(void **state) {
    (void)state;
    char dir[64], p[128], pgz[128], ptr[128];
    assert_non_null(tmpdir_make(dir));
    uint8_t buf[512], gz[1024];
    uint32_t dims[3] = {5, 4, 6};
    size_t n = make_idx(buf, 3, dims, 120);
    size_t gn = gzip_mem(buf, n, gz, sizeof gz);
    snprintf(p, sizeof p, "%s/a.idx", dir);
    snprintf(pgz, sizeof pgz, "%s/a.idx.gz", dir);
    snprintf(ptr, sizeof ptr, "%s/trunc.gz", dir);
    assert_int_equal(tmpdir_write(p, buf, n), 0);
    assert_int_equal(tmpdir_write(pgz, gz, gn), 0);
    assert_int_equal(tmpdir_write(ptr, gz, gn - 12), 0);

    const char *paths[2] = {p, pgz};
    for (int k = 0; k < 2; k++) {
        idx_array a;
        err e = {0};
        assert_int_equal(idx_load(paths[k], &a, &e), 0);
        assert_int_equal(a.count, 120);
        assert_memory_equal(a.data, buf + 16, 120);
        idx_free(&a);

        idx_reader *r = idx_open(paths[k], &e);
        assert_non_null(r);
        assert_int_equal(idx_record_size(r), 24);
        assert_int_equal(idx_header(r)->dims[0], 5);
        uint8_t rec[24];
        for (int i = 0; i < 5; i++) {
            assert_int_equal(idx_next(r, rec, &e), 1);
            assert_memory_equal(rec, buf + 16 + 24 * i, 24);
        }
        assert_int_equal(idx_next(r, rec, &e), 0);
        idx_close(r);
    }

    idx_array a;
    err e = {0};
    assert_int_equal(idx_load(ptr, &a, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "truncated"));

    err_clear(&e);
    snprintf(p, sizeof p, "%s/missing.idx", dir);
    assert_int_equal(idx_load(p, &a, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    err_clear(&e);
    assert_null(idx_open(p, &e));
    assert_int_equal(e.code, ERR_NOT_FOUND);

    /* streaming a file whose last record is short fails on that record */
    snprintf(p, sizeof p, "%s/short.idx", dir);
    assert_int_equal(tmpdir_write(p, buf, n - 3), 0);
    err_clear(&e);
    idx_reader *r = idx_open(p, &e);
    assert_non_null(r);
    uint8_t rec[24];
    for (int i = 0; i < 4; i++) assert_int_equal(idx_next(r, rec, &e), 1);
    assert_int_equal(idx_next(r, rec, &e), -1);
    assert_non_null(strstr(e.msg, "truncated"));
    idx_close(r);
    tmpdir_remove(dir);
}

static void test_fashion_mnist(void **state) {
    (void)state;
    need_file(FMNIST "t10k-images-idx3-ubyte.gz", NEED_FMNIST);
    need_file(FMNIST "t10k-labels-idx1-ubyte.gz", NEED_FMNIST);
    idx_array im, lb;
    err e = {0};
    assert_int_equal(idx_load(FMNIST "t10k-images-idx3-ubyte.gz", &im, &e), 0);
    assert_int_equal(idx_load(FMNIST "t10k-labels-idx1-ubyte.gz", &lb, &e), 0);
    assert_int_equal(im.ndims, 3);
    assert_int_equal(im.dims[0], 10000);
    assert_int_equal(im.dims[1], 28);
    assert_int_equal(im.dims[2], 28);
    assert_int_equal(lb.ndims, 1);
    assert_int_equal(lb.dims[0], 10000);
    int per_class[10] = {0};
    for (size_t i = 0; i < lb.count; i++) {
        assert_true(lb.data[i] < 10);
        per_class[lb.data[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(per_class[c], 1000); /* t10k is balanced */

    /* streaming gives the same bytes */
    idx_reader *r = idx_open(FMNIST "t10k-images-idx3-ubyte.gz", &e);
    assert_non_null(r);
    uint8_t rec[784];
    size_t i = 0;
    int got;
    while ((got = idx_next(r, rec, &e)) == 1) {
        if (i % 997 == 0) assert_memory_equal(rec, im.data + i * 784, 784);
        i++;
    }
    assert_int_equal(got, 0);
    assert_int_equal(i, 10000);
    idx_close(r);
    idx_free(&im);
    idx_free(&lb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_plain_and_gzip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_load_files_and_stream),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
