/* test_dataset_prescan.c — the import's first pass: which paths count as images (a
 * .jpg/.jpeg at the depth of the first one, no hidden or ".." component, no
 * __MACOSX, class names of at most 255 bytes), the entry count progress divides by,
 * the class names sorted whatever order members come in, and a missing folder or a
 * damaged archive that just ends the count. Inputs are generated in a scratch folder;
 * the bytes are never decoded here, so they need not be JPEGs. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dataset/dataset_prescan.h"
#include "tmpdir.h"

static void put_file(const char *root, const char *rel) {
    char p[512], d[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    snprintf(d, sizeof d, "%s", p);
    *strrchr(d, '/') = '\0';
    tmpdir_mkdirs(d);
    assert_int_equal(tmpdir_write(p, "x", 1), 0);
}

/* Members in this order; a name ending in '/' is a folder. */
static void write_tar(const char *path, const char *const *names, size_t n) {
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        int dir = names[i][strlen(names[i]) - 1] == '/';
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_size(e, dir ? 0 : 1);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (!dir) assert_int_equal(archive_write_data(a, "x", 1), 1);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void assert_classes(const dataset_prescan *ps, const char *const *want, size_t n) {
    assert_int_equal(json_array_size(ps->classes), n);
    for (size_t i = 0; i < n; i++) assert_string_equal(json_string_value(json_array_get(ps->classes, i)), want[i]);
}

static void folder_split_layout(void **state) {
    (void)state;
    char root[64];
    assert_non_null(tmpdir_make(root));
    put_file(root, "train/dog/a.jpg");
    put_file(root, "train/cat/b.JPEG");
    put_file(root, "test/cat/c.jpg");
    put_file(root, "val/bird/d.jpeg");
    put_file(root, "train/cat/notes.txt");        /* not a JPEG name         */
    put_file(root, "train/.cache/x.jpg");         /* hidden component        */
    put_file(root, "__MACOSX/train/cat/._b.jpg"); /* resource fork folder    */
    char slashed[80];
    snprintf(slashed, sizeof slashed, "%s//", root); /* trailing slashes are not part of a name */
    dataset_prescan ps = {0};
    dataset_prescan_run(&ps, slashed, 0);
    assert_int_equal(ps.count, 7);
    assert_int_equal(ps.images, 4);
    assert_int_equal(ps.depth, 3);
    assert_classes(&ps, (const char *const[]){"bird", "cat", "dog"}, 3);
    dataset_prescan_free(&ps);
    tmpdir_remove(root);
}

static void tar_first_depth_wins(void **state) {
    (void)state;
    char root[64], tar[96], long_name[300];
    assert_non_null(tmpdir_make(root));
    snprintf(tar, sizeof tar, "%s/in.tar", root);
    memset(long_name, 'k', 256);
    snprintf(long_name + 256, sizeof long_name - 256, "/7.jpg"); /* a 256-byte class name */
    const char *const names[] = {
        "zebra/",          /* a folder: not an entry          */
        "dog/1.jpg",       /* the first image: depth 2        */
        "cat/2.jpg",
        "train/cat/3.jpg", /* depth 3 after depth 2: not one  */
        "./bird/4.jpg",    /* "." components are skipped      */
        "../ant/5.jpg",    /* ".." is never a class           */
        "bird/6.png",      /* a PNG counts too                */
        "bird/8.txt",      /* not an image name               */
        long_name,
    };
    write_tar(tar, names, sizeof names / sizeof *names);
    dataset_prescan ps = {0};
    dataset_prescan_run(&ps, tar, 1);
    assert_int_equal(ps.count, 8);
    assert_int_equal(ps.images, 4);
    assert_int_equal(ps.depth, 2);
    assert_classes(&ps, (const char *const[]){"bird", "cat", "dog"}, 3);
    dataset_prescan_free(&ps);
    tmpdir_remove(root);
}

static void nothing_to_read(void **state) {
    (void)state;
    char root[64], path[96];
    assert_non_null(tmpdir_make(root));
    snprintf(path, sizeof path, "%s/missing", root);
    dataset_prescan ps = {0};
    dataset_prescan_run(&ps, path, 0);
    assert_int_equal(ps.count, 0);
    assert_int_equal(ps.images, 0);
    assert_classes(&ps, NULL, 0);
    dataset_prescan_free(&ps);

    snprintf(path, sizeof path, "%s/bad.tar", root);
    assert_int_equal(tmpdir_write(path, "this is not a tar archive", 25), 0);
    dataset_prescan bad = {0};
    dataset_prescan_run(&bad, path, 1);
    assert_int_equal(bad.count, 0);
    assert_int_equal(bad.images, 0);
    dataset_prescan_free(&bad);
    dataset_prescan_free(NULL);
    tmpdir_remove(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(folder_split_layout),
        cmocka_unit_test(tar_first_depth_wins),
        cmocka_unit_test(nothing_to_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
