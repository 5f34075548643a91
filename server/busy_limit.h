/* busy_limit.h — how many of one kind of expensive request (a prediction: a JPEG
 * decode and a concept model forward pass on an HTTP thread) may run at once, in
 * all and per user, so a few callers cannot hold every HTTP thread. Past either
 * bound the caller is refused at once (the route answers 429 with Retry-After),
 * never queued. Thread-safe; one per process. */
#ifndef INFICOND_BUSY_LIMIT_H
#define INFICOND_BUSY_LIMIT_H

#include <stdint.h>

typedef struct busy_limit busy_limit;

/* New limiter: at most max_total holders at once, at most max_per_key with the same
 * key. NULL when out of memory or a bound is < 1. */
busy_limit *busy_limit_new(int max_total, int max_per_key);
void busy_limit_free(busy_limit *l); /* NULL-safe */

/* Take a place for `key` (e.g. a user id): 1 when taken (call busy_limit_leave
 * with the same key when done), 0 when a bound is reached. A NULL limiter always
 * admits. */
int busy_limit_enter(busy_limit *l, int64_t key);
void busy_limit_leave(busy_limit *l, int64_t key);

#endif
