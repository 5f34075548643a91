/* test_data_sweep.c — the start-up sweep removes only leftovers of interrupted work
 * (blob temporaries, streamed bodies, unpacked models, orphaned uploads) that nothing
 * has touched for the minimum age; fresh ones, kept uploads, real blobs and other
 * files stay. Ages are set with utimensat. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "blobstore.h"
#include "data_sweep.h"
#include "tmpdir.h"

#define HOUR 3600

/* Set dir/rel's modification time age_s seconds back (a folder's changes when an
 * entry is made in it, so a folder's age is set after its files). */
static void age(const char *dir, const char *rel, long age_s) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct timespec t[2] = {{time(NULL) - age_s, 0}, {time(NULL) - age_s, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* Write text at dir/rel (folders made), last modified age_s seconds ago. */
static void put_aged(const char *dir, const char *rel, const char *text, long age_s) {
    char path[512], parent[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = '\0';
    tmpdir_mkdirs(parent);
    assert_int_equal(tmpdir_write(path, text, strlen(text)), 0);
    age(dir, rel, age_s);
}

static int exists(const char *dir, const char *rel) {
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &sb) == 0;
}

static void removes_only_old_leftovers(void **state) {
    (void)state;
    char dir[64];
    assert_non_null(tmpdir_make(dir));
    err e = {0};
    char sha[65];
    assert_int_equal(blobstore_put(dir, "a real blob", 11, sha, &e), 0);
    char blob_rel[80];
    snprintf(blob_rel, sizeof blob_rel, "blobs/%.2s/%s", sha, sha + 2);
    age(dir, blob_rel, 9 * HOUR); /* old, but a real blob */

    put_aged(dir, "blobs/.tmp-old1", "partial", 2 * HOUR);
    put_aged(dir, "blobs/ab/.tmp-old2", "partial!", 2 * HOUR);
    put_aged(dir, "blobs/ab/.tmp-new", "being written", 10);
    put_aged(dir, "tmp/upload-old", "body", 2 * HOUR);
    put_aged(dir, "tmp/upload-new", "body", 5);
    put_aged(dir, "tmp/model-old/x/manifest.json", "{}", 3 * HOUR);
    age(dir, "tmp/model-old/x", 3 * HOUR);
    age(dir, "tmp/model-old", 3 * HOUR);
    put_aged(dir, "tmp/model-busy/old.pt", "old part", 3 * HOUR);
    put_aged(dir, "tmp/model-busy/new.pt", "new part", 1); /* a folder counts by its newest file */
    put_aged(dir, "tmp/something-else", "not ours", 5 * HOUR);
    put_aged(dir, "uploads/orphan.tar", "tar", 2 * HOUR);
    put_aged(dir, "uploads/queued.tar", "tar", 2 * HOUR);
    put_aged(dir, "uploads/fresh.tar", "tar", 60);
    put_aged(dir, "models/1/manifest.json", "{}", 9 * HOUR);

    char keep[512];
    snprintf(keep, sizeof keep, "%s/uploads/queued.tar", dir);
    const char *keeps[] = {keep};
    data_sweep_report r;
    assert_int_equal(data_sweep(dir, HOUR, keeps, 1, &r, &e), 0);
    assert_int_equal(r.removed, 5);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.bytes, 7 + 8 + 4 + 2 + 3);

    const char *gone[] = {"blobs/.tmp-old1", "blobs/ab/.tmp-old2", "tmp/upload-old", "tmp/model-old",
                          "uploads/orphan.tar"};
    const char *kept[] = {"blobs/ab/.tmp-new",  "tmp/upload-new",    "tmp/model-busy/old.pt",
                          "tmp/something-else", "uploads/queued.tar", "uploads/fresh.tar",
                          "models/1/manifest.json"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        if (exists(dir, gone[i])) fail_msg("%s was left", gone[i]);
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        if (!exists(dir, kept[i])) fail_msg("%s was removed", kept[i]);
    /* The real blob is still there and still reads back intact. */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(blobstore_read(dir, sha, &buf, &len, &e), 0);
    assert_memory_equal(buf, "a real blob", 11);
    free(buf);

    /* A second sweep finds nothing more. */
    assert_int_equal(data_sweep(dir, HOUR, keeps, 1, &r, &e), 0);
    assert_int_equal(r.removed, 0);
    tmpdir_remove(dir);
}

static void missing_folder_is_an_error_and_empty_folder_is_fine(void **state) {
    (void)state;
    err e = {0};
    data_sweep_report r;
    assert_int_equal(data_sweep("/nonexistent/inficond-sweep", HOUR, NULL, 0, &r, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/inficond-sweep"));
    char dir[64];
    assert_non_null(tmpdir_make(dir));
    err e2 = {0};
    assert_int_equal(data_sweep(dir, HOUR, NULL, 0, &r, &e2), 0);
    assert_int_equal(r.removed, 0);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(removes_only_old_leftovers),
        cmocka_unit_test(missing_folder_is_an_error_and_empty_folder_is_fine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
