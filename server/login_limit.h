/* login_limit.h — failed-login counters per account name and per client address,
 * so that passwords cannot be guessed at the speed of the network.
 *
 * Each key ("name" or "address") counts failures within a window; at max_failures
 * the key is locked for one window, and every login that names a locked account or
 * comes from a locked address is refused (429 with Retry-After) before any password
 * is checked, even a correct one. A successful login clears both keys.
 *
 * Memory is fixed at creation: LOGIN_LIMIT_SLOTS entries in an open-addressed table
 * probed LOGIN_LIMIT_PROBE slots deep. A new key takes a free or expired slot, else
 * the stalest unlocked one, else the lock that ends first, so a flood of made-up
 * names can push out only the oldest entries. Thread-safe (one mutex). Times are
 * monotonic milliseconds passed in by the caller (tests move the clock).
 */
#ifndef INFICOND_LOGIN_LIMIT_H
#define INFICOND_LOGIN_LIMIT_H

#include <stdint.h>

#define LOGIN_LIMIT_SLOTS 4096
#define LOGIN_LIMIT_PROBE 16
#define LOGIN_LIMIT_KEY_MAX 80 /* a longer name or address is cut (they then share a counter) */

typedef struct login_limit login_limit;

/* A new table; NULL when out of memory. */
login_limit *login_limit_new(int max_failures, int window_s);
void login_limit_free(login_limit *l); /* NULL-safe */

/* Seconds until a login for `name` from `address` may be tried (0: now). Either key
 * may be NULL (a token login has no name). */
int login_limit_wait_s(login_limit *l, const char *name, const char *address, uint64_t now_ms);

/* Count a failed login against both keys. Returns 1 when this failure locked one of
 * them (for logging), else 0. */
int login_limit_failed(login_limit *l, const char *name, const char *address, uint64_t now_ms);

/* A successful login: both keys start again from zero. */
void login_limit_succeeded(login_limit *l, const char *name, const char *address);

/* Entries in use (tests check the table stays bounded). */
int login_limit_used(login_limit *l);

#endif
