/* test_image_source.c — the import iterators: tar archives (both layouts, gzip,
 * unsafe members, links, hidden files, size limit, corrupt archives), folder trees
 * (sorted walk, symlinks not followed) and idx pairs. All inputs are generated in
 * a scratch folder: JPEGs with jpeg_encode, tars with libarchive's writer. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dataset/image_source.h"
#include "dataset/jpeg_io.h"
#include "need_file.h"
#include "tmpdir.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static uint8_t *g_jpg;
static size_t g_jpg_len;

static int setup(void **state) {
    (void)state;
    image_rgb img;
    if (image_alloc(&img, 8, 8, NULL) < 0) return -1;
    for (int i = 0; i < 8 * 8 * 3; i++) img.pixels[i] = (uint8_t)(i * 5);
    int rc = jpeg_encode(&img, 90, &g_jpg, &g_jpg_len, NULL);
    image_free(&img);
    return rc;
}

static int teardown(void **state) {
    (void)state;
    free(g_jpg);
    return 0;
}

typedef struct tar_member {
    const char *name;
    char type;          /* 'f' file (g_jpg unless data), 'd' dir, 'l' symlink, 'h' hardlink */
    const char *data;   /* text content instead of the JPEG                              */
    const char *link;
} tar_member;

static void write_tar(const char *path, const tar_member *m, size_t n, int gzip) {
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip) archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_perm(e, 0644);
        const void *body = m[i].data ? (const void *)m[i].data : (const void *)g_jpg;
        size_t len = m[i].data ? strlen(m[i].data) : g_jpg_len;
        switch (m[i].type) {
        case 'd': archive_entry_set_filetype(e, AE_IFDIR); len = 0; break;
        case 'l': archive_entry_set_filetype(e, AE_IFLNK); archive_entry_set_symlink(e, m[i].link); len = 0; break;
        case 'h': archive_entry_set_filetype(e, AE_IFREG); archive_entry_set_hardlink(e, m[i].link); len = 0; break;
        default: archive_entry_set_filetype(e, AE_IFREG); break;
        }
        archive_entry_set_size(e, (la_int64_t)len);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (len) assert_int_equal(archive_write_data(a, body, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* Is there a skip for `member` whose reason contains `reason`? */
static int has_skip(image_source *s, const char *member, const char *reason) {
    size_t n;
    const image_skip *k = image_source_skips(s, &n, NULL);
    for (size_t i = 0; i < n; i++)
        if (strcmp(k[i].member, member) == 0 && strstr(k[i].reason, reason)) return 1;
    return 0;
}

static void test_tar_split_layout_and_unsafe(void **state) {
    (void)state;
    char dir[64], tar[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(tar, sizeof tar, "%s/set.tar", dir);
    const tar_member m[] = {
        {"train/", 'd', NULL, NULL},
        {"train/cat/", 'd', NULL, NULL},
        {"train/cat/1.jpg", 'f', NULL, NULL},
        {"../evil.jpg", 'f', NULL, NULL},
        {"/etc/x.jpg", 'f', NULL, NULL},
        {"train/../../up.jpg", 'f', NULL, NULL},
        {"train/cat/._1.jpg", 'f', "appledouble", NULL},
        {".DS_Store", 'f', "junk", NULL},
        {"__MACOSX/train/cat/1.jpg", 'f', NULL, NULL},
        {"train/cat/link.jpg", 'l', NULL, "/etc/passwd"},
        {"train/cat/hard.jpg", 'h', NULL, "train/cat/1.jpg"},
        {"./train/dog/2.JPG", 'f', NULL, NULL},
        {"train/dog/notes.txt", 'f', "hello", NULL},
        {"cat/4.jpg", 'f', NULL, NULL},
        {"a/b/c/d.jpg", 'f', NULL, NULL},
        {"top.jpg", 'f', NULL, NULL},
        {"test/cat/3.jpeg", 'f', NULL, NULL},
    };
    write_tar(tar, m, sizeof m / sizeof *m, 0);

    err e = {0};
    image_source *s = image_source_open_tar(tar, &e);
    assert_non_null(s);
    image_item it;
    const char *want[][3] = {{"train", "cat", "train/cat/1.jpg"},
                             {"train", "dog", "train/dog/2.JPG"},
                             {"test", "cat", "test/cat/3.jpeg"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(image_source_next(s, &it, &e), 1);
        assert_string_equal(it.split, want[i][0]);
        assert_string_equal(it.class_name, want[i][1]);
        assert_string_equal(it.member_name, want[i][2]);
        assert_int_equal(it.len, g_jpg_len);
        assert_memory_equal(it.bytes, g_jpg, g_jpg_len);
        assert_null(it.pixels);
        assert_int_equal(it.label, -1);
        image_rgb img;
        assert_int_equal(jpeg_decode(it.bytes, it.len, &img, &e), 0);
        image_free(&img);
    }
    assert_int_equal(image_source_next(s, &it, &e), 0);
    assert_false(err_is_set(&e));
    assert_int_equal(image_source_layout(s), IMAGE_LAYOUT_SPLIT_CLASS);

    assert_true(has_skip(s, "../evil.jpg", "unsafe path in archive"));
    assert_true(has_skip(s, "/etc/x.jpg", "unsafe path in archive"));
    assert_true(has_skip(s, "train/../../up.jpg", "unsafe path in archive"));
    assert_true(has_skip(s, "train/cat/link.jpg", "unsafe path in archive"));
    assert_true(has_skip(s, "train/cat/hard.jpg", "unsafe path in archive"));
    assert_true(has_skip(s, "train/dog/notes.txt", "not a .jpg or .png file"));
    assert_true(has_skip(s, "cat/4.jpg", "does not match the layout"));
    assert_true(has_skip(s, "a/b/c/d.jpg", "nested too deeply"));
    assert_true(has_skip(s, "top.jpg", "not inside a class folder"));
    size_t listed, total;
    image_source_skips(s, &listed, &total);
    assert_int_equal(listed, 9); /* hidden files and __MACOSX are ignored, not reported */
    assert_int_equal(total, 9);
    image_source_close(s);
    tmpdir_remove(dir);
}

static void test_tar_gz_class_layout_and_limit(void **state) {
    (void)state;
    char dir[64], tar[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(tar, sizeof tar, "%s/set.tar.gz", dir);
    const tar_member m[] = {
        {"cat/a.jpg", 'f', NULL, NULL},
        {"dog/b.jpg", 'f', NULL, NULL},
        {"train/dog/c.jpg", 'f', NULL, NULL}, /* depth 3 after a depth-2 start */
    };
    write_tar(tar, m, 3, 1);
    err e = {0};
    image_source *s = image_source_open_tar(tar, &e);
    assert_non_null(s);
    image_item it;
    assert_int_equal(image_source_next(s, &it, &e), 1);
    assert_string_equal(it.split, "");
    assert_string_equal(it.class_name, "cat");
    assert_int_equal(image_source_layout(s), IMAGE_LAYOUT_CLASS);
    image_source_set_max_member(s, g_jpg_len - 1); /* from now on, too big */
    assert_int_equal(image_source_next(s, &it, &e), 0);
    assert_true(has_skip(s, "dog/b.jpg", "too large"));
    assert_true(has_skip(s, "train/dog/c.jpg", "does not match the layout"));
    image_source_close(s);

    /* a truncated archive is an error, not a silent end */
    uint8_t buf[1 << 16];
    snprintf(tar, sizeof tar, "%s/cut.tar", dir);
    const tar_member one[] = {{"cat/a.jpg", 'f', NULL, NULL}, {"cat/b.jpg", 'f', NULL, NULL}};
    write_tar(tar, one, 2, 0);
    FILE *f = fopen(tar, "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 1024 + g_jpg_len);
    assert_int_equal(tmpdir_write(tar, buf, 512 + g_jpg_len / 2), 0); /* mid first member */
    s = image_source_open_tar(tar, &e);
    assert_non_null(s);
    assert_int_equal(image_source_next(s, &it, &e), -1);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    image_source_close(s);

    /* not an archive at all */
    snprintf(tar, sizeof tar, "%s/junk.tar", dir);
    memset(buf, 'x', 4096);
    assert_int_equal(tmpdir_write(tar, buf, 4096), 0);
    err_clear(&e);
    s = image_source_open_tar(tar, &e);
    assert_null(s);
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    assert_non_null(strstr(e.msg, "not a tar archive"));

    err_clear(&e);
    snprintf(tar, sizeof tar, "%s/missing.tar", dir);
    assert_null(image_source_open_tar(tar, &e));
    assert_int_equal(e.code, ERR_NOT_FOUND);
    tmpdir_remove(dir);
}

static void put_file(const char *root, const char *rel, const void *data, size_t len) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char d[512];
    snprintf(d, sizeof d, "%s", p);
    *strrchr(d, '/') = '\0';
    tmpdir_mkdirs(d);
    assert_int_equal(tmpdir_write(p, data, len), 0);
}

static void test_dir_split_layout(void **state) {
    (void)state;
    char dir[64], root[128], p[512], outside[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(root, sizeof root, "%s/root", dir);
    snprintf(outside, sizeof outside, "%s/outside", dir);
    put_file(outside, "secret.jpg", g_jpg, g_jpg_len);
    put_file(root, "train/dog/2.jpg", g_jpg, g_jpg_len);
    put_file(root, "train/cat/1.jpg", g_jpg, g_jpg_len);
    put_file(root, "test/cat/3.jpg", g_jpg, g_jpg_len);
    put_file(root, "train/cat/.DS_Store", "x", 1);
    put_file(root, ".hidden/cat/x.jpg", g_jpg, g_jpg_len);
    put_file(root, "train/cat/deep/x.jpg", g_jpg, g_jpg_len);
    put_file(root, "train/cat/readme.md", "hi", 2);
    snprintf(p, sizeof p, "%s/train/cat/evil.jpg", root);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof p, "%s/train/escape", root);
    assert_int_equal(symlink(outside, p), 0);

    err e = {0};
    image_source *s = image_source_open_dir(root, &e);
    assert_non_null(s);
    image_item it;
    const char *want[][3] = {{"test", "cat", "test/cat/3.jpg"},
                             {"train", "cat", "train/cat/1.jpg"},
                             {"train", "dog", "train/dog/2.jpg"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(image_source_next(s, &it, &e), 1);
        assert_string_equal(it.split, want[i][0]);
        assert_string_equal(it.class_name, want[i][1]);
        assert_string_equal(it.member_name, want[i][2]);
        assert_int_equal(it.len, g_jpg_len);
        assert_memory_equal(it.bytes, g_jpg, g_jpg_len);
    }
    assert_int_equal(image_source_next(s, &it, &e), 0);
    assert_int_equal(image_source_layout(s), IMAGE_LAYOUT_SPLIT_CLASS);
    assert_true(has_skip(s, "train/cat/evil.jpg", "symbolic link"));
    assert_true(has_skip(s, "train/escape", "symbolic link"));
    assert_true(has_skip(s, "train/cat/deep", "nested too deeply"));
    assert_true(has_skip(s, "train/cat/readme.md", "not a .jpg or .png file"));
    size_t total;
    image_source_skips(s, NULL, &total);
    assert_int_equal(total, 4);
    image_source_close(s);
    tmpdir_remove(dir);
}

static void test_dir_class_layout(void **state) {
    (void)state;
    char dir[64];
    assert_non_null(tmpdir_make(dir));
    put_file(dir, "b/2.jpg", g_jpg, g_jpg_len);
    put_file(dir, "a/1.jpg", g_jpg, g_jpg_len);
    put_file(dir, "a/big.jpg", g_jpg, g_jpg_len);
    put_file(dir, "loose.jpg", g_jpg, g_jpg_len);
    put_file(dir, "c/s/3.jpg", g_jpg, g_jpg_len); /* depth 3 after depth 2 */
    err e = {0};
    image_source *s = image_source_open_dir(dir, &e);
    assert_non_null(s);
    image_item it;
    assert_int_equal(image_source_next(s, &it, &e), 1);
    assert_string_equal(it.member_name, "a/1.jpg");
    assert_string_equal(it.split, "");
    assert_string_equal(it.class_name, "a");
    assert_int_equal(image_source_layout(s), IMAGE_LAYOUT_CLASS);
    image_source_set_max_member(s, 10);
    assert_int_equal(image_source_next(s, &it, &e), 0);
    assert_true(has_skip(s, "a/big.jpg", "too large"));
    assert_true(has_skip(s, "b/2.jpg", "too large"));
    assert_true(has_skip(s, "c/s/3.jpg", "does not match the layout"));
    assert_true(has_skip(s, "loose.jpg", "not inside a class folder"));
    image_source_close(s);

    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    assert_null(image_source_open_dir(missing, &e));
    assert_int_equal(e.code, ERR_NOT_FOUND);
    tmpdir_remove(dir);
}

static void write_idx(const char *path, int ndims, const uint32_t *dims, const uint8_t *data, size_t n) {
    uint8_t hdr[20] = {0, 0, 8, (uint8_t)ndims};
    for (int i = 0; i < ndims; i++) {
        hdr[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        hdr[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        hdr[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        hdr[7 + 4 * i] = (uint8_t)dims[i];
    }
    FILE *f = fopen(path, "wb");
    fwrite(hdr, 1, 4 + 4 * (size_t)ndims, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_idx_source(void **state) {
    (void)state;
    char dir[64], im[128], lb[128], lb2[128];
    assert_non_null(tmpdir_make(dir));
    snprintf(im, sizeof im, "%s/imgs-idx3-ubyte", dir);
    snprintf(lb, sizeof lb, "%s/labels", dir);
    snprintf(lb2, sizeof lb2, "%s/labels2", dir);
    uint8_t px[3 * 2 * 3];
    for (int i = 0; i < 18; i++) px[i] = (uint8_t)(i * 10);
    uint32_t idims[3] = {3, 2, 3}, ldims[1] = {3}, l2dims[1] = {2};
    write_idx(im, 3, idims, px, sizeof px);
    write_idx(lb, 1, ldims, (const uint8_t[]){0, 9, 12}, 3);
    write_idx(lb2, 1, l2dims, (const uint8_t[]){0, 1}, 2);

    err e = {0};
    image_source *s = image_source_open_idx(im, lb, "test", image_source_fashion_mnist_classes, 10, &e);
    assert_non_null(s);
    image_item it;
    assert_int_equal(image_source_next(s, &it, &e), 1);
    assert_string_equal(it.split, "test");
    assert_string_equal(it.class_name, "T-shirt/top");
    assert_string_equal(it.member_name, "imgs-idx3-ubyte#0");
    assert_int_equal(it.width, 3);
    assert_int_equal(it.height, 2);
    assert_int_equal(it.label, 0);
    assert_memory_equal(it.pixels, px, 6);
    assert_null(it.bytes);
    assert_int_equal(image_source_next(s, &it, &e), 1);
    assert_string_equal(it.class_name, "Ankle boot");
    assert_memory_equal(it.pixels, px + 6, 6);
    assert_int_equal(image_source_next(s, &it, &e), 0); /* label 12 has no name */
    assert_true(has_skip(s, "imgs-idx3-ubyte#2", "no class name"));
    image_source_close(s);

    s = image_source_open_idx(im, lb, NULL, NULL, 0, &e);
    assert_non_null(s);
    for (int i = 0; i < 3; i++) assert_int_equal(image_source_next(s, &it, &e), 1);
    assert_string_equal(it.class_name, "12");
    assert_string_equal(it.split, "");
    assert_int_equal(image_source_next(s, &it, &e), 0);
    image_source_close(s);

    assert_null(image_source_open_idx(im, lb2, NULL, NULL, 0, &e));
    assert_non_null(strstr(e.msg, "3 images but 2 labels"));
    err_clear(&e);
    assert_null(image_source_open_idx(lb, lb, NULL, NULL, 0, &e)); /* labels as images */
    assert_int_equal(e.code, ERR_UNPROCESSABLE);
    tmpdir_remove(dir);
}

static void test_fashion_mnist_source(void **state) {
    (void)state;
    need_file(FMNIST "t10k-images-idx3-ubyte.gz", NEED_FMNIST);
    need_file(FMNIST "t10k-labels-idx1-ubyte.gz", NEED_FMNIST);
    err e = {0};
    image_source *s = image_source_open_idx(FMNIST "t10k-images-idx3-ubyte.gz", FMNIST "t10k-labels-idx1-ubyte.gz",
                                            "test", image_source_fashion_mnist_classes, 10, &e);
    assert_non_null(s);
    image_item it;
    int n = 0, r;
    while ((r = image_source_next(s, &it, &e)) == 1) {
        assert_int_equal(it.width, 28);
        assert_true(it.label >= 0 && it.label < 10);
        if (n == 0) {
            /* the first one encodes as a JPEG and decodes back to 28x28 */
            uint8_t *jpg;
            size_t len;
            image_rgb img;
            assert_int_equal(jpeg_encode_grey(it.pixels, 28, 28, 95, &jpg, &len, &e), 0);
            assert_int_equal(jpeg_decode(jpg, len, &img, &e), 0);
            assert_int_equal(img.width, 28);
            image_free(&img);
            free(jpg);
        }
        n++;
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, 10000);
    image_source_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tar_split_layout_and_unsafe),
        cmocka_unit_test(test_tar_gz_class_layout_and_limit),
        cmocka_unit_test(test_dir_split_layout),
        cmocka_unit_test(test_dir_class_layout),
        cmocka_unit_test(test_idx_source),
        cmocka_unit_test(test_fashion_mnist_source),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
