/* test_blob_gc.c — gc's decisions without a database (blob_gc_sweep): a blob goes only
 * when no row names it and it is older than the cutoff; thumbnails of unnamed hashes
 * and model folders no row names go by the same age rule; temporaries, unknown names,
 * named blobs and young ones stay; a dry run lists the same and removes nothing; a
 * blob stored again is young again (blobstore_put refreshes it); the referenced set
 * sorts, de-duplicates and ignores what is not a hash. Ages: utimensat, with the
 * "young" files dated after the cutoff. */
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

#include "blob_gc.h"
#include "blobstore.h"
#include "tmpdir.h"

#define HOUR 3600

/* Set dir/rel's modification time to now + delta_s. */
static void set_time(const char *dir, const char *rel, long delta_s) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct timespec t[2] = {{time(NULL) + delta_s, 0}, {time(NULL) + delta_s, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void put_file(const char *dir, const char *rel, const char *text, long delta_s) {
    char path[512], parent[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = '\0';
    tmpdir_mkdirs(parent);
    assert_int_equal(tmpdir_write(path, text, strlen(text)), 0);
    set_time(dir, rel, delta_s);
}

static int exists(const char *dir, const char *rel) {
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &sb) == 0;
}

/* Store text as a blob dated now + delta_s; its hash into sha, its path into rel. */
static void put_blob(const char *dir, const char *text, long delta_s, char sha[65], char rel[80]) {
    err e = {0};
    assert_int_equal(blobstore_put(dir, text, strlen(text), sha, &e), 0);
    snprintf(rel, 80, "blobs/%.2s/%s", sha, sha + 2);
    set_time(dir, rel, delta_s);
}

typedef struct seen {
    char names[16][128];
    int n;
    long long bytes;
} seen;

static void note(void *arg, const char *kind, const char *name, long long bytes) {
    seen *s = arg;
    if (s->n < 16) snprintf(s->names[s->n++], sizeof s->names[0], "%.8s:%.100s", kind, name);
    s->bytes += bytes;
}

static int saw(const seen *s, const char *kind, const char *name) {
    char want[sizeof ((seen *)0)->names[0] + 16];
    snprintf(want, sizeof want, "%.8s:%.100s", kind, name);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], want)) return 1;
    return 0;
}

static void refs_sort_dedupe_and_ignore_non_hashes(void **state) {
    (void)state;
    blob_gc_refs r = {0};
    const char *a = "aa00000000000000000000000000000000000000000000000000000000000001";
    const char *b = "0b00000000000000000000000000000000000000000000000000000000000002";
    assert_int_equal(blob_gc_refs_add(&r, a), 0);
    assert_int_equal(blob_gc_refs_add(&r, b), 0);
    assert_int_equal(blob_gc_refs_add(&r, a), 0);
    assert_int_equal(blob_gc_refs_add(&r, NULL), 0);
    assert_int_equal(blob_gc_refs_add(&r, "not a hash"), 0);
    assert_int_equal(blob_gc_refs_add(&r, "AA00000000000000000000000000000000000000000000000000000000000001"), 0);
    blob_gc_refs_seal(&r);
    assert_int_equal(r.n, 2);
    assert_true(blob_gc_refs_has(&r, a));
    assert_true(blob_gc_refs_has(&r, b));
    assert_false(blob_gc_refs_has(&r, "aa00000000000000000000000000000000000000000000000000000000000002"));
    assert_false(blob_gc_refs_has(&r, "aa0000000000000000000000000000000000000000000000000000000000000"));
    blob_gc_refs_free(&r);
    assert_false(blob_gc_refs_has(&r, a));
    /* Many, out of order: every one found, none invented. */
    for (int i = 999; i >= 0; i--) {
        char h[65];
        snprintf(h, sizeof h, "%064x", i * 7);
        assert_int_equal(blob_gc_refs_add(&r, h), 0);
    }
    blob_gc_refs_seal(&r);
    assert_int_equal(r.n, 1000);
    for (int i = 0; i < 7000; i++) {
        char h[65];
        snprintf(h, sizeof h, "%064x", i);
        assert_int_equal(blob_gc_refs_has(&r, h), i % 7 == 0);
    }
    blob_gc_refs_free(&r);
}

/* A data folder with one of each case; returns the hashes of interest. */
typedef struct world {
    char dir[64];
    char named[65], named_rel[80];     /* old, a row names it        */
    char orphan[65], orphan_rel[80];   /* old, unnamed: goes         */
    char orphan2[65], orphan2_rel[80]; /* old, unnamed: goes         */
    char young[65], young_rel[80];     /* unnamed but after cutoff   */
    char thumb_gone[128], thumb_kept[128], thumb_young[128];
} world;

static void make_world(world *w, blob_gc_refs *refs) {
    assert_non_null(tmpdir_make(w->dir));
    put_blob(w->dir, "named by a row", -2 * HOUR, w->named, w->named_rel);
    put_blob(w->dir, "left by a deleted dataset", -2 * HOUR, w->orphan, w->orphan_rel);
    put_blob(w->dir, "left by a deleted student", -2 * HOUR, w->orphan2, w->orphan2_rel);
    put_blob(w->dir, "written just now", +HOUR, w->young, w->young_rel);
    put_file(w->dir, "blobs/.tmp-abcdef", "a streamed put", -2 * HOUR);
    put_file(w->dir, "blobs/ab/.tmp-123456", "a put", -2 * HOUR);
    put_file(w->dir, "blobs/ab/not-a-blob-name", "someone else's", -2 * HOUR);
    put_file(w->dir, "blobs/zz/" "0000000000000000000000000000000000000000000000000000000000", "x", -2 * HOUR);
    snprintf(w->thumb_gone, sizeof w->thumb_gone, "thumbs/%s-96.jpg", w->orphan);
    snprintf(w->thumb_kept, sizeof w->thumb_kept, "thumbs/%s-96.jpg", w->named);
    snprintf(w->thumb_young, sizeof w->thumb_young, "thumbs/%s-128.jpg", w->orphan2);
    put_file(w->dir, w->thumb_gone, "thumb", -2 * HOUR);
    put_file(w->dir, w->thumb_kept, "thumb", -2 * HOUR);
    put_file(w->dir, w->thumb_young, "thumb", +HOUR);
    put_file(w->dir, "thumbs/.tmp-xyz", "thumb being written", -2 * HOUR);
    put_file(w->dir, "models/1-aaaaaaaa/model.pt", "named model", -2 * HOUR);
    put_file(w->dir, "models/2-bbbbbbbb/model.pt", "orphan model", -2 * HOUR);
    put_file(w->dir, "models/2-bbbbbbbb/manifest.json", "{}", -2 * HOUR);
    put_file(w->dir, "models/.staging-busy/model.pt", "being copied", +HOUR);
    put_file(w->dir, "models/.staging-busy/old.txt", "old part", -2 * HOUR);
    assert_int_equal(blob_gc_refs_add(refs, w->named), 0);
    /* Named by rows but missing from this folder: no harm. */
    assert_int_equal(blob_gc_refs_add(refs, "ee00000000000000000000000000000000000000000000000000000000000000"), 0);
    blob_gc_refs_seal(refs);
}

static const char *const model_dirs[] = {"models/1-aaaaaaaa", "models/9-cccccccc"};

static void dry_run_lists_and_removes_nothing(void **state) {
    (void)state;
    world w;
    blob_gc_refs refs = {0};
    make_world(&w, &refs);
    blob_gc_report rep = {.dry_run = 1};
    seen s = {0};
    err e = {0};
    /* The cutoff a minute ahead: the "young" files are dated an hour ahead, and a
     * folder's change time (now, set when its files were made) counts as old. */
    assert_int_equal(blob_gc_sweep(w.dir, &refs, model_dirs, 2, time(NULL) + 60, &rep, note, &s, &e), 0);
    assert_int_equal(rep.blobs_scanned, 4);
    assert_int_equal(rep.kept_referenced, 1);
    assert_int_equal(rep.removed, 2);
    assert_int_equal(rep.bytes, (long long)(strlen("left by a deleted dataset") + strlen("left by a deleted student")));
    assert_int_equal(rep.skipped_young, 1);
    assert_int_equal(rep.thumbs_removed, 1);
    assert_int_equal(rep.models_removed, 1);
    assert_int_equal(rep.models_bytes, (long long)(strlen("orphan model") + 2));
    assert_int_equal(rep.failed, 0);
    assert_true(saw(&s, "blob", w.orphan));
    assert_true(saw(&s, "blob", w.orphan2));
    assert_true(saw(&s, "thumb", w.thumb_gone + strlen("thumbs/")));
    assert_true(saw(&s, "model", "2-bbbbbbbb"));
    assert_int_equal(s.n, 4);
    assert_true(exists(w.dir, w.orphan_rel));
    assert_true(exists(w.dir, w.orphan2_rel));
    assert_true(exists(w.dir, w.thumb_gone));
    assert_true(exists(w.dir, "models/2-bbbbbbbb/model.pt"));
    blob_gc_refs_free(&refs);
    tmpdir_remove(w.dir);
}

static void removes_only_old_unnamed_things(void **state) {
    (void)state;
    world w;
    blob_gc_refs refs = {0};
    make_world(&w, &refs);
    blob_gc_report rep = {0};
    seen s = {0};
    err e = {0};
    assert_int_equal(blob_gc_sweep(w.dir, &refs, model_dirs, 2, time(NULL) + 60, &rep, note, &s, &e), 0);
    assert_int_equal(rep.removed, 2);
    assert_int_equal(rep.bytes, s.bytes - rep.thumbs_bytes - rep.models_bytes);
    assert_int_equal(rep.failed, 0);
    const char *gone[] = {w.orphan_rel, w.orphan2_rel, w.thumb_gone, "models/2-bbbbbbbb"};
    const char *kept[] = {w.named_rel,         w.young_rel,          "blobs/.tmp-abcdef",
                          "blobs/ab/.tmp-123456", "blobs/ab/not-a-blob-name", w.thumb_kept,
                          w.thumb_young,       "thumbs/.tmp-xyz",    "models/1-aaaaaaaa/model.pt",
                          "models/.staging-busy/old.txt"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        if (exists(w.dir, gone[i])) fail_msg("%s was left", gone[i]);
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        if (!exists(w.dir, kept[i])) fail_msg("%s was removed", kept[i]);
    /* Nothing left aside by the rename-then-check removal. */
    char aside[128];
    snprintf(aside, sizeof aside, "blobs/%.2s/.tmp-gc-%.62s", w.orphan, w.orphan + 2);
    assert_false(exists(w.dir, aside));
    /* What stays still reads back intact; a second pass finds nothing. */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(blobstore_read(w.dir, w.named, &buf, &len, &e), 0);
    free(buf);
    blob_gc_report again = {0};
    assert_int_equal(blob_gc_sweep(w.dir, &refs, model_dirs, 2, time(NULL) + 60, &again, NULL, NULL, &e), 0);
    assert_int_equal(again.removed + again.thumbs_removed + again.models_removed, 0);
    assert_int_equal(again.blobs_scanned, 2);
    blob_gc_refs_free(&refs);
    tmpdir_remove(w.dir);
}

/* A row about to name bytes already stored: blobstore_put marks the old copy as used
 * now, so a collection running meanwhile sees it young and keeps it. */
static void storing_again_makes_an_old_blob_young(void **state) {
    (void)state;
    char dir[64], sha[65], rel[80], again[65];
    assert_non_null(tmpdir_make(dir));
    put_blob(dir, "imported again", -2 * HOUR, sha, rel);
    err e = {0};
    assert_int_equal(blobstore_put(dir, "imported again", 14, again, &e), 0);
    assert_string_equal(sha, again);
    blob_gc_refs none = {0};
    blob_gc_report rep = {0};
    assert_int_equal(blob_gc_sweep(dir, &none, NULL, 0, time(NULL) - HOUR, &rep, NULL, NULL, &e), 0);
    assert_int_equal(rep.removed, 0);
    assert_int_equal(rep.skipped_young, 1);
    assert_true(exists(dir, rel));
    /* The same through a streamed put of a file. */
    set_time(dir, rel, -2 * HOUR);
    put_file(dir, "src.bin", "imported again", 0);
    char src[80];
    snprintf(src, sizeof src, "%.60s/src.bin", dir);
    assert_int_equal(blobstore_put_file(dir, src, BLOBSTORE_COPY, again, &e), 0);
    memset(&rep, 0, sizeof rep);
    assert_int_equal(blob_gc_sweep(dir, &none, NULL, 0, time(NULL) - HOUR, &rep, NULL, NULL, &e), 0);
    assert_int_equal(rep.skipped_young, 1);
    /* Left old, it goes; then a put of the same bytes stores them afresh. */
    set_time(dir, rel, -2 * HOUR);
    memset(&rep, 0, sizeof rep);
    assert_int_equal(blob_gc_sweep(dir, &none, NULL, 0, time(NULL) - HOUR, &rep, NULL, NULL, &e), 0);
    assert_int_equal(rep.removed, 1);
    assert_false(exists(dir, rel));
    assert_int_equal(blobstore_put(dir, "imported again", 14, again, &e), 0);
    assert_true(exists(dir, rel));
    tmpdir_remove(dir);
}

static void missing_data_folder_is_an_error_and_empty_is_fine(void **state) {
    (void)state;
    blob_gc_refs none = {0};
    blob_gc_report rep = {0};
    err e = {0};
    assert_int_equal(blob_gc_sweep("/nonexistent/inficond-gc", &none, NULL, 0, time(NULL), &rep, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/inficond-gc"));
    char dir[64];
    assert_non_null(tmpdir_make(dir));
    err e2 = {0};
    assert_int_equal(blob_gc_sweep(dir, &none, NULL, 0, time(NULL), &rep, NULL, NULL, &e2), 0);
    assert_int_equal(rep.blobs_scanned, 0);
    tmpdir_remove(dir);
}

static void every_blob_column_is_read(void **state) {
    (void)state;
    /* The columns migrations 002-006 declare as blob hashes (the schema check at run
     * time refuses to collect when a new one appears; this pins the list itself). */
    const char *want[] = {"images.sha256",
                          "teacher_outputs.probs_sha256",
                          "teacher_outputs.image_ids_sha256",
                          "segment_chunks.sha256",
                          "extractions.presence_sha256",
                          "extractions.image_ids_sha256",
                          "extractions.chunks",
                          "students.presence_sha256",
                          "students.probs_sha256",
                          "student_versions.weights_sha256",
                          "student_versions.bounds_sha256"};
    size_t n = 0;
    for (const blob_gc_column *c = blob_gc_columns(); c->table; c++, n++) {
        char q[128];
        snprintf(q, sizeof q, "%s.%s", c->table, c->column);
        assert_true(n < sizeof want / sizeof *want);
        assert_string_equal(q, want[n]);
        assert_int_equal(c->is_array, !strcmp(c->column, "chunks"));
    }
    assert_int_equal(n, sizeof want / sizeof *want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refs_sort_dedupe_and_ignore_non_hashes),
        cmocka_unit_test(dry_run_lists_and_removes_nothing),
        cmocka_unit_test(removes_only_old_unnamed_things),
        cmocka_unit_test(storing_again_makes_an_old_blob_young),
        cmocka_unit_test(missing_data_folder_is_an_error_and_empty_is_fine),
        cmocka_unit_test(every_blob_column_is_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
