/* test_blobstore.c — put/read/dedupe, corruption detection, hash validation,
 * put_file in both modes, and a write failure (file size limit standing in for a
 * full disk) that must leave no partial or temporary file behind. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <sys/resource.h>

#include "blobstore.h"
#include "tmpdir.h"

#define HELLO_SHA "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

/* Entries in a folder whose name starts with ".tmp-". */
static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, ".tmp-", 5) == 0) n++;
    closedir(d);
    return n;
}

static void test_put_read_dedupe(void **state) {
    (void)state;
    char dir[64], data[128], path[512], sha[65];
    assert_non_null(tmpdir_make(dir));
    snprintf(data, sizeof data, "%s/data", dir); /* created by put */
    err e = {0};
    assert_int_equal(blobstore_put(data, "hello", 5, sha, &e), 0);
    assert_string_equal(sha, HELLO_SHA);
    assert_int_equal(blobstore_path(data, sha, path, sizeof path, &e), 0);
    char want[512];
    snprintf(want, sizeof want, "%s/blobs/2c/%s", data, HELLO_SHA + 2);
    assert_string_equal(path, want);
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st1.st_size, 5);
    assert_int_equal(st1.st_mode & 0777, 0644);
    assert_int_equal(blobstore_exists(data, sha), 1);

    /* same bytes again: not rewritten (same inode) */
    assert_int_equal(blobstore_put(data, "hello", 5, sha, &e), 0);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);

    uint8_t *buf;
    size_t len;
    assert_int_equal(blobstore_read(data, sha, &buf, &len, &e), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    assert_int_equal(blobstore_verify(data, sha, &e), 0);

    /* empty blob */
    char esha[65];
    assert_int_equal(blobstore_put(data, "", 0, esha, &e), 0);
    assert_string_equal(esha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(blobstore_read(data, esha, &buf, &len, &e), 0);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    free(buf);

    char fan[512];
    snprintf(fan, sizeof fan, "%s/blobs/2c", data);
    assert_int_equal(count_temps(fan), 0);
    assert_false(err_is_set(&e));
    tmpdir_remove(dir);
}

static void test_corruption(void **state) {
    (void)state;
    char dir[64], path[512], sha[65];
    assert_non_null(tmpdir_make(dir));
    err e = {0};
    uint8_t payload[1000];
    for (int i = 0; i < 1000; i++) payload[i] = (uint8_t)(i * 7);
    assert_int_equal(blobstore_put(dir, payload, sizeof payload, sha, &e), 0);
    assert_int_equal(blobstore_path(dir, sha, path, sizeof path, &e), 0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 500, SEEK_SET);
    fputc(payload[500] ^ 0x01, f);
    fclose(f);

    uint8_t *buf = (uint8_t *)1;
    size_t len = 1;
    assert_int_equal(blobstore_read(dir, sha, &buf, &len, &e), -1);
    assert_null(buf);
    assert_int_equal(e.code, ERR_CORRUPT);
    char want[160];
    snprintf(want, sizeof want, "blob %s is corrupt (checksum mismatch)", sha);
    assert_string_equal(e.msg, want);
    err_clear(&e);
    assert_int_equal(blobstore_verify(dir, sha, &e), -1);
    assert_string_equal(e.msg, want);
    err_clear(&e);
    assert_int_equal(blobstore_verify_cached(dir, sha, &e), -1);
    assert_int_equal(e.code, ERR_CORRUPT);

    /* Putting the same bytes again rewrites the damaged copy: healed. */
    err_clear(&e);
    char again[65];
    assert_int_equal(blobstore_put(dir, payload, sizeof payload, again, &e), 0);
    assert_string_equal(again, sha);
    assert_int_equal(blobstore_read(dir, sha, &buf, &len, &e), 0);
    assert_memory_equal(buf, payload, sizeof payload);
    free(buf);
    /* Verified once, then remembered until the file changes. */
    assert_int_equal(blobstore_verify_cached(dir, sha, &e), 0);
    assert_int_equal(blobstore_verify_cached(dir, sha, &e), 0);
    f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 10, SEEK_SET);
    fputc(payload[10] ^ 0x80, f);
    fclose(f);
    struct timespec later[2] = {{0, UTIME_OMIT}, {2000000000, 0}}; /* a new mtime, as any rewrite gives */
    assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
    assert_int_equal(blobstore_verify_cached(dir, sha, &e), -1);
    assert_int_equal(e.code, ERR_CORRUPT);
    /* put_file heals too. */
    char src[600], sha2[65];
    snprintf(src, sizeof src, "%s/src.bin", dir);
    f = fopen(src, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(payload, 1, sizeof payload, f), sizeof payload);
    fclose(f);
    err_clear(&e);
    assert_int_equal(blobstore_put_file(dir, src, BLOBSTORE_COPY, sha2, &e), 0);
    assert_int_equal(blobstore_verify(dir, sha, &e), 0);
    buf = (uint8_t *)1;

    /* missing */
    err_clear(&e);
    assert_int_equal(blobstore_read(dir, HELLO_SHA, &buf, &len, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    assert_int_equal(blobstore_exists(dir, HELLO_SHA), 0);
    tmpdir_remove(dir);
}

/* INFICOND_DATA_QUOTA_BYTES: past the quota, new blobs fail like a full disk and
 * leave nothing behind; blobs already stored still dedupe. */
static void test_quota(void **state) {
    (void)state;
    char dir[256], sha[65], sha2[65];
    assert_non_null(tmpdir_make(dir));
    uint8_t a[3000], b[3000];
    memset(a, 1, sizeof a), memset(b, 2, sizeof b);
    err e = {0};
    setenv("INFICOND_DATA_QUOTA_BYTES", "4000", 1);
    assert_int_equal(blobstore_put(dir, a, sizeof a, sha, &e), 0);
    assert_int_equal(blobstore_put(dir, b, sizeof b, sha2, &e), -1);
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "No space left on device"));
    assert_int_equal(blobstore_exists(dir, sha2), 0);
    err_clear(&e);
    assert_int_equal(blobstore_put(dir, a, sizeof a, sha, &e), 0);
    unsetenv("INFICOND_DATA_QUOTA_BYTES");
    assert_int_equal(blobstore_put(dir, b, sizeof b, sha2, &e), 0);
    tmpdir_remove(dir);
}

static void test_invalid_hex(void **state) {
    (void)state;
    const char *bad[] = {
        "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824", /* upper case */
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982",  /* 63 */
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240", /* 65 */
        "../../../../etc/passwd",
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98/.",
        "",
    };
    char path[512];
    uint8_t *buf;
    size_t len;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(blobstore_valid_hex(bad[i]), 0);
        err e = {0};
        assert_int_equal(blobstore_path("/tmp", bad[i], path, sizeof path, &e), -1);
        assert_int_equal(e.code, ERR_BAD_REQUEST);
        err_clear(&e);
        assert_int_equal(blobstore_read("/tmp", bad[i], &buf, &len, &e), -1);
        assert_int_equal(e.code, ERR_BAD_REQUEST);
        err_clear(&e);
        assert_int_equal(blobstore_verify("/tmp", bad[i], &e), -1);
        assert_int_equal(e.code, ERR_BAD_REQUEST);
        assert_int_equal(blobstore_exists("/tmp", bad[i]), 0);
    }
    assert_int_equal(blobstore_valid_hex(NULL), 0);
    assert_int_equal(blobstore_valid_hex(HELLO_SHA), 1);
    err e = {0};
    char tiny[10];
    assert_int_equal(blobstore_path("/tmp", HELLO_SHA, tiny, sizeof tiny, &e), -1);
}

static void test_put_file(void **state) {
    (void)state;
    char dir[64], src[128], sha[65], sha2[65];
    assert_non_null(tmpdir_make(dir));
    snprintf(src, sizeof src, "%s/upload.bin", dir);
    size_t n = 300000; /* several read chunks */
    uint8_t *payload = malloc(n);
    for (size_t i = 0; i < n; i++) payload[i] = (uint8_t)(i * 31 + (i >> 9));
    assert_int_equal(tmpdir_write(src, payload, n), 0);
    char want[65];
    blobstore_hash(payload, n, want);

    err e = {0};
    assert_int_equal(blobstore_put_file(dir, src, BLOBSTORE_COPY, sha, &e), 0);
    assert_string_equal(sha, want);
    assert_int_equal(access(src, F_OK), 0); /* copy keeps the source */
    uint8_t *buf;
    size_t len;
    assert_int_equal(blobstore_read(dir, sha, &buf, &len, &e), 0);
    assert_int_equal(len, n);
    assert_memory_equal(buf, payload, n);
    free(buf);

    /* move of the same content: blob already there, source removed */
    assert_int_equal(blobstore_put_file(dir, src, BLOBSTORE_MOVE, sha2, &e), 0);
    assert_string_equal(sha2, want);
    assert_int_equal(access(src, F_OK), -1);

    /* move of new content: renamed into place */
    payload[0] ^= 0xFF;
    assert_int_equal(tmpdir_write(src, payload, n), 0);
    blobstore_hash(payload, n, want);
    assert_int_equal(blobstore_put_file(dir, src, BLOBSTORE_MOVE, sha, &e), 0);
    assert_string_equal(sha, want);
    assert_int_equal(access(src, F_OK), -1);
    assert_int_equal(blobstore_verify(dir, sha, &e), 0);

    assert_int_equal(blobstore_put_file(dir, src, BLOBSTORE_COPY, sha, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);

    /* move across file systems (/dev/shm is a tmpfs): copied, then removed */
    char shm[128];
    snprintf(shm, sizeof shm, "/dev/shm/inficond-test-%d.bin", (int)getpid());
    payload[1] ^= 0xFF;
    if (tmpdir_write(shm, payload, n) == 0) {
        blobstore_hash(payload, n, want);
        assert_int_equal(blobstore_put_file(dir, shm, BLOBSTORE_MOVE, sha, &e), 0);
        assert_string_equal(sha, want);
        assert_int_equal(access(shm, F_OK), -1);
        assert_int_equal(blobstore_verify(dir, sha, &e), 0);
    }

    char top[128];
    snprintf(top, sizeof top, "%s/blobs", dir);
    assert_int_equal(count_temps(top), 0);
    free(payload);
    tmpdir_remove(dir);
}

/* RLIMIT_FSIZE makes write() fail with EFBIG exactly like a full disk fails with
 * ENOSPC, without needing a tiny file system. */
static void test_write_failure_leaves_nothing(void **state) {
    (void)state;
    char dir[64], src[128], sha[65], fan[256], path[512];
    assert_non_null(tmpdir_make(dir));
    size_t n = 200000;
    uint8_t *payload = calloc(1, n);
    payload[0] = 42;
    snprintf(src, sizeof src, "%s/big.bin", dir);
    assert_int_equal(tmpdir_write(src, payload, n), 0);

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    err e = {0};
    int rc = blobstore_put(dir, payload, n, sha, &e);
    err e2 = {0};
    char sha2[65];
    int rc2 = blobstore_put_file(dir, src, BLOBSTORE_COPY, sha2, &e2);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);

    assert_int_equal(rc, -1);
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "File too large"));
    assert_int_equal(rc2, -1);
    assert_int_equal(e2.code, ERR_IO);
    assert_int_equal(blobstore_exists(dir, sha), 0);
    assert_int_equal(blobstore_path(dir, sha, path, sizeof path, NULL), 0);
    snprintf(fan, sizeof fan, "%s/blobs/%.2s", dir, sha);
    assert_int_equal(count_temps(fan), 0);
    snprintf(fan, sizeof fan, "%s/blobs", dir);
    assert_int_equal(count_temps(fan), 0);
    free(payload);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_read_dedupe),
        cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_invalid_hex),
        cmocka_unit_test(test_put_file),
        cmocka_unit_test(test_write_failure_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
