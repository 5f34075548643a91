/* test_segment_cache.c — the cache of parsed segment stores: a hit returns the very
 * store loaded first (same data as a fresh load), LRU eviction under the byte bound,
 * a store held by a request stays valid after it is evicted, a corrupted blob is
 * refused and not cached (and a file changed after it was cached is read and
 * verified again), blobs over the bound and a disabled cache load private copies,
 * and a few threads sharing one small cache (run under ASan in `make asan`). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "extraction/segment_cache.h"
#include "extraction/segment_store.h"
#include "tmpdir.h"

enum { DIM = 8, H = 4, W = 4, IMAGES = 16 };

/* A label-map store of IMAGES images whose embeddings depend on seed, put into the
 * blob store of data; sha receives its name, returns its size in bytes. */
static size_t put_store(const char *data, int seed, char sha[BLOBSTORE_HEX_LEN + 1]) {
    segment_store st;
    err e = {0};
    assert_int_equal(segment_store_init(&st, SEGMENT_STORE_LABELS, DIM, H, W, &e), 0);
    for (int i = 0; i < IMAGES; i++) {
        int k = 1 + i % 3; /* same shape (and size) for every seed */
        float emb[3 * DIM];
        uint8_t lab[H * W];
        for (int j = 0; j < k * DIM; j++) emb[j] = (float)(seed * 1000 + i * 10 + j) / 4096.0f;
        for (int l = 0; l < H * W; l++) lab[l] = (uint8_t)(l % k);
        assert_int_equal(segment_store_add_labels(&st, k, emb, lab, &e), 0);
    }
    size_t size = segment_store_size(&st);
    assert_int_equal(segment_store_put(&st, data, sha, &e), 0);
    segment_store_free(&st);
    return size;
}

static void assert_same_as_disk(const segment_store *a, const char *data, const char *sha) {
    segment_store b;
    err e = {0};
    assert_int_equal(segment_store_load(&b, data, sha, &e), 0);
    assert_int_equal(a->n, b.n);
    assert_int_equal(a->dim, b.dim);
    assert_int_equal(a->s_total, b.s_total);
    assert_memory_equal(a->offsets, b.offsets, ((size_t)a->n + 1) * sizeof(uint64_t));
    assert_memory_equal(a->emb, b.emb, a->s_total * (size_t)a->dim * sizeof(float));
    assert_memory_equal(a->labels, b.labels, (size_t)a->n * a->h * a->w);
    segment_store_free(&b);
}

static void flip_middle_byte(const char *data, const char *sha) {
    char path[512];
    err e = {0};
    assert_int_equal(blobstore_path(data, sha, path, sizeof path, &e), 0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long mid = ftell(f) / 2;
    assert_int_equal(fseek(f, mid, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, mid, SEEK_SET), 0);
    assert_int_not_equal(fputc(c ^ 0x5a, f), EOF);
    assert_int_equal(fclose(f), 0);
}

static void set_mtime(const char *data, const char *sha, const struct timespec *t) {
    char path[512];
    err e = {0};
    assert_int_equal(blobstore_path(data, sha, path, sizeof path, &e), 0);
    struct timespec ts[2] = {*t, *t};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void get_mtime(const char *data, const char *sha, struct timespec *t) {
    char path[512];
    err e = {0};
    assert_int_equal(blobstore_path(data, sha, path, sizeof path, &e), 0);
    struct stat s;
    assert_int_equal(stat(path, &s), 0);
    *t = s.st_mtim;
}

static void test_hit_same_store(void **state) {
    (void)state;
    char dir[64], sha[65];
    assert_non_null(tmpdir_make(dir));
    put_store(dir, 1, sha);
    segment_cache *c = segment_cache_new(1 << 20);
    assert_non_null(c);
    const segment_store *a, *b;
    segment_cache_entry *ra, *rb;
    err e = {0};
    assert_int_equal(segment_cache_get(c, dir, sha, &a, &ra, &e), 0);
    assert_int_equal(segment_cache_get(c, dir, sha, &b, &rb, &e), 0);
    assert_ptr_equal(a, b);
    assert_ptr_equal(ra, rb);
    assert_same_as_disk(a, dir, sha);
    segment_cache_stats s;
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.bytes, segment_store_size(a));
    segment_cache_release(ra);
    segment_cache_release(rb);
    /* still cached with no holder */
    assert_int_equal(segment_cache_get(c, dir, sha, &b, &rb, &e), 0);
    assert_ptr_equal(a, b);
    segment_cache_release(rb);

    /* a bad hash and a missing blob are reported as by segment_store_load */
    assert_int_equal(segment_cache_get(c, dir, "../etc/passwd", &a, &ra, &e), -1);
    assert_int_equal(e.code, ERR_BAD_REQUEST);
    assert_null(a);
    assert_null(ra);
    err_clear(&e);
    assert_int_equal(segment_cache_get(c, dir, "0000000000000000000000000000000000000000000000000000000000000000", &a, &ra, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 1);
    segment_cache_free(c);
    tmpdir_remove(dir);
}

static void test_lru_eviction(void **state) {
    (void)state;
    char dir[64], a[65], b[65], d[65];
    assert_non_null(tmpdir_make(dir));
    size_t sa = put_store(dir, 1, a), sb = put_store(dir, 2, b), sd = put_store(dir, 3, d);
    assert_int_equal(sa, sb);
    assert_int_equal(sb, sd);
    segment_cache *c = segment_cache_new(2 * sa + sa / 2); /* room for two */
    const segment_store *st;
    segment_cache_entry *r;
    err e = {0};
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), 0);
    segment_cache_release(r);
    assert_int_equal(segment_cache_get(c, dir, b, &st, &r, &e), 0);
    segment_cache_release(r);
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), 0); /* a is now the most recent */
    segment_cache_release(r);
    assert_int_equal(segment_cache_get(c, dir, d, &st, &r, &e), 0); /* evicts b, the least recent */
    assert_same_as_disk(st, dir, d);
    segment_cache_release(r);
    segment_cache_stats s;
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 2);
    assert_int_equal(s.bytes, 2 * sa);
    assert_true(s.bytes <= s.max_bytes);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.misses, 3);
    assert_int_equal(s.hits, 1);
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), 0); /* still there */
    segment_cache_release(r);
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.hits, 2);
    assert_int_equal(segment_cache_get(c, dir, b, &st, &r, &e), 0); /* gone: read again */
    segment_cache_release(r);
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.misses, 4);
    assert_int_equal(s.entries, 2);
    segment_cache_free(c);
    tmpdir_remove(dir);
}

static void test_held_entry_outlives_eviction(void **state) {
    (void)state;
    char dir[64], a[65], b[65];
    assert_non_null(tmpdir_make(dir));
    size_t sa = put_store(dir, 1, a);
    put_store(dir, 2, b);
    segment_cache *c = segment_cache_new(sa + sa / 2); /* room for one */
    const segment_store *sta, *stb, *again;
    segment_cache_entry *ra, *rb, *r2;
    err e = {0};
    assert_int_equal(segment_cache_get(c, dir, a, &sta, &ra, &e), 0);
    assert_int_equal(segment_cache_get(c, dir, b, &stb, &rb, &e), 0); /* evicts a, which is held */
    segment_cache_stats s;
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.bytes, sa);
    assert_same_as_disk(sta, dir, a); /* still valid (ASan would see a use after free) */
    /* asking for a again reads a new copy (evicting b, which is held too) */
    assert_int_equal(segment_cache_get(c, dir, a, &again, &r2, &e), 0);
    assert_ptr_not_equal(again, sta);
    assert_same_as_disk(stb, dir, b);
    segment_cache_release(ra);
    segment_cache_release(rb);
    assert_same_as_disk(again, dir, a);
    segment_cache_release(r2);
    segment_cache_free(c);
    tmpdir_remove(dir);
}

static void test_corrupt_refused_not_cached(void **state) {
    (void)state;
    char dir[64], a[65];
    assert_non_null(tmpdir_make(dir));
    put_store(dir, 1, a);
    segment_cache *c = segment_cache_new(1 << 20);
    const segment_store *st;
    segment_cache_entry *r;
    err e = {0};
    flip_middle_byte(dir, a);
    for (int i = 0; i < 2; i++) { /* refused each time: the failure is not cached */
        err_clear(&e);
        assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), -1);
        assert_int_equal(e.code, ERR_CORRUPT);
        assert_non_null(strstr(e.msg, a));
        assert_null(st);
        assert_null(r);
    }
    segment_cache_stats s;
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.failures, 2);
    /* healed on disk: served */
    flip_middle_byte(dir, a);
    err_clear(&e);
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), 0);
    assert_same_as_disk(st, dir, a);
    segment_cache_release(r);

    /* Damaged again after it was cached, through the file system (its modification
     * time changes): the cached copy is dropped and the file verified again. */
    struct timespec t;
    get_mtime(dir, a, &t);
    t.tv_sec -= 10;
    set_mtime(dir, a, &t); /* a known identity, so the next change is surely seen */
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), 0);
    segment_cache_release(r);
    flip_middle_byte(dir, a);
    err_clear(&e);
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), -1);
    assert_int_equal(e.code, ERR_CORRUPT);
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 0);
    flip_middle_byte(dir, a);
    set_mtime(dir, a, &t);
    err_clear(&e);
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), 0);
    const segment_store *verified = st;
    segment_cache_release(r);
    /* Damage that keeps the file's identity (bit rot): the verified copy in memory,
     * which is the blob's true content, keeps being served while it is cached. */
    flip_middle_byte(dir, a);
    set_mtime(dir, a, &t);
    assert_int_equal(segment_cache_get(c, dir, a, &st, &r, &e), 0);
    assert_ptr_equal(st, verified);
    segment_cache_release(r);
    segment_cache_free(c);
    tmpdir_remove(dir);
}

static void test_private_copies(void **state) {
    (void)state;
    char dir[64], a[65];
    assert_non_null(tmpdir_make(dir));
    size_t sa = put_store(dir, 1, a);
    segment_cache *small = segment_cache_new(sa - 1), *off = segment_cache_new(0);
    segment_cache *caches[3] = {small, off, NULL};
    for (int k = 0; k < 3; k++) {
        const segment_store *x, *y;
        segment_cache_entry *rx, *ry;
        err e = {0};
        assert_int_equal(segment_cache_get(caches[k], dir, a, &x, &rx, &e), 0);
        assert_int_equal(segment_cache_get(caches[k], dir, a, &y, &ry, &e), 0);
        assert_ptr_not_equal(x, y);
        assert_same_as_disk(x, dir, a);
        segment_cache_release(rx);
        assert_same_as_disk(y, dir, a);
        segment_cache_release(ry);
        segment_cache_stats s;
        segment_cache_get_stats(caches[k], &s);
        assert_int_equal(s.entries, 0);
        assert_int_equal(s.bytes, 0);
    }
    segment_cache_free(small);
    segment_cache_free(off);
    tmpdir_remove(dir);
}

enum { THREADS = 4, ROUNDS = 150, BLOBS = 5 };
static char mt_dir[64], mt_sha[BLOBS][65];
static float mt_first[BLOBS]; /* each blob's first embedding value */

static void *worker(void *arg) {
    segment_cache *c = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    long bad = 0;
    for (int i = 0; i < ROUNDS; i++) {
        int k = (int)(rand_r(&seed) % BLOBS);
        const segment_store *st;
        segment_cache_entry *r;
        err e = {0};
        if (segment_cache_get(c, mt_dir, mt_sha[k], &st, &r, &e)) {
            bad++;
            continue;
        }
        float sum = 0;
        for (size_t j = 0; j < st->s_total * (size_t)st->dim; j++) sum += st->emb[j];
        if (st->n != IMAGES || st->emb[0] != mt_first[k] || !(sum > 0)) bad++;
        segment_cache_release(r);
    }
    return (void *)bad;
}

static void test_threads(void **state) {
    (void)state;
    assert_non_null(tmpdir_make(mt_dir));
    size_t size = 0;
    for (int k = 0; k < BLOBS; k++) {
        size = put_store(mt_dir, k + 1, mt_sha[k]);
        mt_first[k] = (float)((k + 1) * 1000) / 4096.0f;
    }
    segment_cache *c = segment_cache_new(2 * size + size / 2); /* fewer than the blobs: evictions */
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, worker, c), 0);
    long bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *rv;
        assert_int_equal(pthread_join(t[i], &rv), 0);
        bad += (long)rv;
    }
    assert_int_equal(bad, 0);
    segment_cache_stats s;
    segment_cache_get_stats(c, &s);
    assert_int_equal(s.hits + s.misses, THREADS * ROUNDS);
    assert_true(s.entries <= 2);
    assert_true(s.bytes <= s.max_bytes);
    assert_int_equal(s.failures, 0);
    segment_cache_free(c);
    tmpdir_remove(mt_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_same_store),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_held_entry_outlives_eviction),
        cmocka_unit_test(test_corrupt_refused_not_cached),
        cmocka_unit_test(test_private_copies),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
