/* segment_cache.c — parsed segment stores shared by the read routes (see the header).
 *
 * One mutex guards the table (a doubly linked list, most recently used first: the
 * entries are few, one per chunk held) and every entry's fields; loads run outside
 * it. An entry's refs counts its holders plus one while it is in the table; it is
 * freed when that reaches 0. A loading entry is in the table with no bytes counted,
 * so a second request for it waits on the condition variable instead of reading the
 * blob again. */
#include "extraction/segment_cache.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blobstore.h"
#include "log.h"

typedef struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id;

struct segment_cache_entry {
    segment_cache *cache;
    char sha[BLOBSTORE_HEX_LEN + 1];
    segment_store st;
    size_t bytes; /* counted against the bound (0 until counted)              */
    file_id id;   /* the file's identity when it was read and verified        */
    int refs;     /* holders + 1 while in the table                          */
    int in_table, loading, failed;
    err load_err; /* a failed load's error, for the requests that waited on it */
    segment_cache_entry *prev, *next;
};

struct segment_cache {
    pthread_mutex_t mu;
    pthread_cond_t loaded;
    size_t max_bytes, bytes, entries;
    segment_cache_entry *head, *tail; /* most recently used first */
    unsigned long hits, misses, evictions, failures;
};

segment_cache *segment_cache_new(size_t max_bytes) {
    segment_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        return NULL;
    }
    if (pthread_cond_init(&c->loaded, NULL)) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    return c;
}

static void entry_free(segment_cache_entry *x) {
    segment_store_free(&x->st);
    free(x);
}

/* Under the lock. */
static void unlink_entry(segment_cache *c, segment_cache_entry *x) {
    if (x->prev) x->prev->next = x->next;
    else c->head = x->next;
    if (x->next) x->next->prev = x->prev;
    else c->tail = x->prev;
    x->prev = x->next = NULL;
}

static void push_front(segment_cache *c, segment_cache_entry *x) {
    x->prev = NULL;
    x->next = c->head;
    if (c->head) c->head->prev = x;
    c->head = x;
    if (!c->tail) c->tail = x;
}

/* Take x out of the table (under the lock); frees it when no holder is left. */
static void drop_from_table(segment_cache *c, segment_cache_entry *x) {
    if (!x->in_table) return;
    unlink_entry(c, x);
    x->in_table = 0;
    c->entries--;
    c->bytes -= x->bytes;
    if (--x->refs == 0) entry_free(x);
}

void segment_cache_free(segment_cache *c) {
    if (!c) return;
    while (c->head) drop_from_table(c, c->head);
    pthread_cond_destroy(&c->loaded);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static segment_cache_entry *find(segment_cache *c, const char *sha_hex) {
    for (segment_cache_entry *x = c->head; x; x = x->next)
        if (!strcmp(x->sha, sha_hex)) return x;
    return NULL;
}

static int file_id_of(const char *path, file_id *id) {
    struct stat s;
    if (stat(path, &s) < 0) return -1;
    id->dev = s.st_dev, id->ino = s.st_ino, id->size = s.st_size, id->mtime = s.st_mtim;
    return 0;
}

static int same_id(const file_id *a, const file_id *b) {
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* A loaded store nobody else shares (caching off, or a blob over the bound). */
static int load_private(segment_cache *c, const char *data_dir, const char *sha_hex, const segment_store **st,
                        segment_cache_entry **ref, err *e) {
    segment_cache_entry *x = calloc(1, sizeof *x);
    if (!x) return err_set(e, ERR_INTERNAL, "segment cache: out of memory");
    if (segment_store_load(&x->st, data_dir, sha_hex, e)) {
        free(x);
        return -1;
    }
    x->cache = c;
    x->refs = 1;
    snprintf(x->sha, sizeof x->sha, "%s", sha_hex);
    *st = &x->st;
    *ref = x;
    return 0;
}

int segment_cache_get(segment_cache *c, const char *data_dir, const char *sha_hex, const segment_store **st,
                      segment_cache_entry **ref, err *e) {
    *st = NULL;
    *ref = NULL;
    char path[4096];
    if (blobstore_path(data_dir, sha_hex, path, sizeof path, e)) return -1;
    if (!c || !c->max_bytes) return load_private(c, data_dir, sha_hex, st, ref, e);
    file_id now;
    int have_id = file_id_of(path, &now) == 0; /* a missing file: the load reports it */

    pthread_mutex_lock(&c->mu);
    segment_cache_entry *x = find(c, sha_hex);
    if (x && x->loading) {
        /* Another request is reading it: wait for that one load and share its
         * outcome (just verified, so no identity check). */
        x->refs++;
        while (x->loading) pthread_cond_wait(&c->loaded, &c->mu);
        if (x->failed) {
            err le = x->load_err;
            if (--x->refs == 0) entry_free(x);
            pthread_mutex_unlock(&c->mu);
            return err_set(e, le.code, "%s", le.msg);
        }
        c->hits++;
        pthread_mutex_unlock(&c->mu);
        *st = &x->st;
        *ref = x;
        return 0;
    }
    if (x && have_id && same_id(&x->id, &now)) {
        x->refs++;
        unlink_entry(c, x);
        push_front(c, x);
        c->hits++;
        pthread_mutex_unlock(&c->mu);
        *st = &x->st;
        *ref = x;
        return 0;
    }
    /* Changed on disk since it was verified (rewritten, healed, damaged, removed):
     * forget the copy and read the file again, which verifies it. */
    if (x) drop_from_table(c, x);
    x = calloc(1, sizeof *x);
    if (!x) {
        pthread_mutex_unlock(&c->mu);
        return err_set(e, ERR_INTERNAL, "segment cache: out of memory");
    }
    x->cache = c;
    snprintf(x->sha, sizeof x->sha, "%s", sha_hex);
    x->loading = 1;
    x->in_table = 1;
    x->refs = 2; /* the table and this request */
    push_front(c, x);
    c->entries++;
    c->misses++;
    pthread_mutex_unlock(&c->mu);

    err le = {0};
    int rc = segment_store_load(&x->st, data_dir, sha_hex, &le);
    file_id after;
    /* Cache only a copy known to be the file that was verified: same identity before
     * and after the read. */
    int keep = rc == 0 && have_id && file_id_of(path, &after) == 0 && same_id(&now, &after);

    pthread_mutex_lock(&c->mu);
    x->loading = 0;
    if (rc) {
        x->failed = 1;
        x->load_err = le;
        c->failures++;
        drop_from_table(c, x); /* never cached: the next request reads the file again */
        if (--x->refs == 0) entry_free(x);
        pthread_cond_broadcast(&c->loaded);
        pthread_mutex_unlock(&c->mu);
        return err_set(e, le.code, "%s", le.msg);
    }
    size_t sz = segment_store_size(&x->st);
    x->id = now;
    if (!keep || sz > c->max_bytes) {
        drop_from_table(c, x); /* still ours (refs 1), and shared with any waiter */
    } else {
        x->bytes = sz;
        c->bytes += sz;
        /* Least recently used out until under the bound; a holder keeps its store. */
        for (segment_cache_entry *v = c->tail, *p; v && c->bytes > c->max_bytes; v = p) {
            p = v->prev;
            if (v == x || v->loading) continue;
            drop_from_table(c, v);
            c->evictions++;
        }
    }
    pthread_cond_broadcast(&c->loaded);
    pthread_mutex_unlock(&c->mu);
    *st = &x->st;
    *ref = x;
    return 0;
}

void segment_cache_release(segment_cache_entry *ref) {
    if (!ref) return;
    segment_cache *c = ref->cache;
    if (!c) { /* a private copy of a NULL cache */
        entry_free(ref);
        return;
    }
    pthread_mutex_lock(&c->mu);
    int last = --ref->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last) entry_free(ref);
}

void segment_cache_get_stats(segment_cache *c, segment_cache_stats *out) {
    memset(out, 0, sizeof *out);
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    out->entries = c->entries;
    out->bytes = c->bytes;
    out->max_bytes = c->max_bytes;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->failures = c->failures;
    pthread_mutex_unlock(&c->mu);
}

static segment_cache *shared;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void shared_init(void) {
    long mb = SEGMENT_CACHE_DEFAULT_MB;
    const char *v = getenv("INFICOND_SEGMENT_CACHE_MB");
    if (v && *v) {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || *end || x < 0 || x > (1L << 20))
            log_warn("INFICOND_SEGMENT_CACHE_MB must be an integer in [0, %ld], got '%s': using %ld", 1L << 20, v, mb);
        else mb = x;
    }
    shared = segment_cache_new((size_t)mb << 20);
    if (!shared) shared = segment_cache_new(0);
}

segment_cache *segment_cache_shared(void) {
    pthread_once(&shared_once, shared_init);
    return shared;
}
