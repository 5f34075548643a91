/* login_limit.c — the fixed-size table of failed-login counters (login_limit.h).
 *
 * Slots are found by a keyed hash (SipHash with a random key per process), so a
 * caller cannot choose names that pile into the neighbourhood of someone else's
 * entry to push it out.
 */
#include "login_limit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char key[LOGIN_LIMIT_KEY_MAX]; /* "n:<name>" or "a:<address>"; "" when free */
    int failures;                  /* within the window that began at window_ms */
    uint64_t window_ms;
    uint64_t locked_until_ms;      /* 0 when not locked                         */
    uint64_t last_ms;              /* last failure, for choosing what to evict  */
} slot;

struct login_limit {
    pthread_mutex_t lock;
    int max_failures;
    uint64_t window_ms;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    slot slots[LOGIN_LIMIT_SLOTS];
};

login_limit *login_limit_new(int max_failures, int window_s) {
    login_limit *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pthread_mutex_init(&l->lock, NULL);
    l->max_failures = max_failures > 0 ? max_failures : 1;
    l->window_ms = (uint64_t)(window_s > 0 ? window_s : 1) * 1000u;
    randombytes_buf(l->hash_key, sizeof l->hash_key);
    return l;
}

void login_limit_free(login_limit *l) {
    if (!l) return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void make_key(char out[LOGIN_LIMIT_KEY_MAX], char kind, const char *value) {
    out[0] = kind;
    out[1] = ':';
    size_t n = strlen(value);
    if (n > LOGIN_LIMIT_KEY_MAX - 3) n = LOGIN_LIMIT_KEY_MAX - 3;
    memcpy(out + 2, value, n);
    out[2 + n] = '\0';
}

static size_t home_of(const login_limit *l, const char *key) {
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, strlen(key), l->hash_key);
    return (size_t)(h % LOGIN_LIMIT_SLOTS);
}

/* An entry that no longer says anything: not locked, last failure a window ago. */
static int is_spent(const login_limit *l, const slot *s, uint64_t now) {
    return !s->key[0] || (s->locked_until_ms <= now && now - s->last_ms >= l->window_ms);
}

static slot *find(login_limit *l, const char *key) {
    size_t h = home_of(l, key);
    for (size_t i = 0; i < LOGIN_LIMIT_PROBE; i++) {
        slot *s = &l->slots[(h + i) % LOGIN_LIMIT_SLOTS];
        if (!strcmp(s->key, key)) return s;
    }
    return NULL;
}

/* The key's slot, or a new one: free or spent first, then the stalest unlocked entry,
 * then the lock that ends first. */
static slot *find_or_take(login_limit *l, const char *key, uint64_t now) {
    slot *s = find(l, key);
    if (s) return s;
    size_t h = home_of(l, key);
    slot *best = NULL;
    int best_rank = 0; /* 3 spent, 2 unlocked, 1 locked */
    for (size_t i = 0; i < LOGIN_LIMIT_PROBE; i++) {
        slot *c = &l->slots[(h + i) % LOGIN_LIMIT_SLOTS];
        int rank = is_spent(l, c, now) ? 3 : c->locked_until_ms <= now ? 2 : 1;
        if (rank > best_rank || (rank == best_rank && rank == 2 && c->last_ms < best->last_ms) ||
            (rank == best_rank && rank == 1 && c->locked_until_ms < best->locked_until_ms)) {
            best = c;
            best_rank = rank;
        }
        if (rank == 3) break;
    }
    memset(best, 0, sizeof *best);
    memcpy(best->key, key, strlen(key) + 1);
    best->window_ms = now;
    return best;
}

static int wait_for(login_limit *l, char kind, const char *value, uint64_t now) {
    if (!value) return 0;
    char key[LOGIN_LIMIT_KEY_MAX];
    make_key(key, kind, value);
    slot *s = find(l, key);
    if (!s || s->locked_until_ms <= now) return 0;
    return (int)((s->locked_until_ms - now + 999) / 1000);
}

int login_limit_wait_s(login_limit *l, const char *name, const char *address, uint64_t now_ms) {
    if (!l) return 0;
    pthread_mutex_lock(&l->lock);
    int a = wait_for(l, 'n', name, now_ms), b = wait_for(l, 'a', address, now_ms);
    pthread_mutex_unlock(&l->lock);
    return a > b ? a : b;
}

static int count_failure(login_limit *l, char kind, const char *value, uint64_t now) {
    if (!value) return 0;
    char key[LOGIN_LIMIT_KEY_MAX];
    make_key(key, kind, value);
    slot *s = find_or_take(l, key, now);
    if (s->locked_until_ms > now) return 0; /* already locked: the lock does not grow */
    if (now - s->window_ms >= l->window_ms) {
        s->window_ms = now;
        s->failures = 0;
    }
    s->last_ms = now;
    if (++s->failures < l->max_failures) return 0;
    s->locked_until_ms = now + l->window_ms;
    s->failures = 0;
    s->window_ms = now;
    return 1;
}

int login_limit_failed(login_limit *l, const char *name, const char *address, uint64_t now_ms) {
    if (!l) return 0;
    pthread_mutex_lock(&l->lock);
    int locked = count_failure(l, 'n', name, now_ms);
    locked |= count_failure(l, 'a', address, now_ms);
    pthread_mutex_unlock(&l->lock);
    return locked;
}

static void clear(login_limit *l, char kind, const char *value) {
    if (!value) return;
    char key[LOGIN_LIMIT_KEY_MAX];
    make_key(key, kind, value);
    slot *s = find(l, key);
    if (s) memset(s, 0, sizeof *s);
}

void login_limit_succeeded(login_limit *l, const char *name, const char *address) {
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    clear(l, 'n', name);
    clear(l, 'a', address);
    pthread_mutex_unlock(&l->lock);
}

int login_limit_used(login_limit *l) {
    if (!l) return 0;
    pthread_mutex_lock(&l->lock);
    int n = 0;
    for (size_t i = 0; i < LOGIN_LIMIT_SLOTS; i++) n += l->slots[i].key[0] != '\0';
    pthread_mutex_unlock(&l->lock);
    return n;
}
