/* busy_limit.c — see busy_limit.h. At most max_total places are held at once, so
 * a table of max_total (key, count) slots, searched linearly under one mutex, always
 * has room for every holder's key; the bounds are small (a few HTTP threads). */
#include "busy_limit.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct slot {
    int64_t key;
    int count; /* 0: free */
} slot;

struct busy_limit {
    pthread_mutex_t lock;
    int max_total, max_per_key, total;
    slot *slots; /* (max_total) */
};

busy_limit *busy_limit_new(int max_total, int max_per_key) {
    if (max_total < 1 || max_per_key < 1) return NULL;
    busy_limit *l = calloc(1, sizeof *l);
    if (!l || !(l->slots = calloc((size_t)max_total, sizeof *l->slots))) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->max_total = max_total;
    l->max_per_key = max_per_key;
    return l;
}

void busy_limit_free(busy_limit *l) {
    if (!l) return;
    pthread_mutex_destroy(&l->lock);
    free(l->slots);
    free(l);
}

/* The slot holding key, else a free one (there is one while total < max_total). */
static slot *find(busy_limit *l, int64_t key, int want_free) {
    slot *free_one = NULL;
    for (int i = 0; i < l->max_total; i++) {
        if (l->slots[i].count && l->slots[i].key == key) return &l->slots[i];
        if (!l->slots[i].count && !free_one) free_one = &l->slots[i];
    }
    return want_free ? free_one : NULL;
}

int busy_limit_enter(busy_limit *l, int64_t key) {
    if (!l) return 1;
    pthread_mutex_lock(&l->lock);
    int ok = 0;
    if (l->total < l->max_total) {
        slot *s = find(l, key, 1);
        if (s && s->count < l->max_per_key) {
            s->key = key;
            s->count++;
            l->total++;
            ok = 1;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void busy_limit_leave(busy_limit *l, int64_t key) {
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    slot *s = find(l, key, 0);
    if (s) {
        s->count--;
        l->total--;
    }
    pthread_mutex_unlock(&l->lock);
}
