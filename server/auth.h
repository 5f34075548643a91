/* auth.h — users, API tokens, browser sessions and password hashes.
 *
 * Tokens and session ids are 32 bytes from the system's random source (libsodium
 * randombytes), shown to the user once, and stored only as their SHA-256.
 * Passwords are hashed with Argon2id (libsodium crypto_pwhash_str). Verified
 * credentials are cached in memory for AUTH_CACHE_SECONDS so a read route costs no
 * database round trip; revocation in this process clears the cache at once, in
 * other processes it takes effect within that time.
 */
#ifndef INFICOND_AUTH_H
#define INFICOND_AUTH_H

#include <stdint.h>

#include "app.h"
#include "err.h"
#include "http.h"

#define AUTH_TOKEN_PREFIX "ifc_"
#define AUTH_TOKEN_LEN 47 /* generated: "ifc_" + 43 base64url characters */
#define AUTH_TOKEN_MIN 24 /* given (INFICOND_ADMIN_TOKEN): 24..128 of [A-Za-z0-9_.-] */
#define AUTH_TOKEN_MAX 128
#define AUTH_CACHE_SECONDS 5
#define AUTH_SESSION_COOKIE "inficond_session"
#define AUTH_SESSION_DAYS 7

typedef struct auth_identity {
    int64_t user_id;
    role user_role;
    char username[64];
} auth_identity;

int auth_init(void) WARN_UNUSED; /* sodium_init; call once at start */

const char *role_name(role r);
/* "admin"/"editor"/"viewer" -> role; -1 when unknown. */
int role_parse(const char *name);

/* A fresh token, NUL-terminated, AUTH_TOKEN_LEN chars. */
void auth_token_new(char out[AUTH_TOKEN_LEN + 1]);
/* Hex SHA-256 of a token (what the database stores). */
void auth_token_hash_hex(const char *token, char out[65]);

int auth_password_hash(const char *password, char *out, size_t out_len, err *e) WARN_UNUSED;
/* 1 when `password` matches `hash`. A NULL hash (no such user, or one without a
 * password) is 0 after the same Argon2 work as a real check. */
int auth_password_verify(const char *hash, const char *password);
/* The fixed hash that stands in for a missing one (exposed for tests). Static. */
const char *auth_no_such_user_hash(void);

/* Look up a bearer token (is_session = 0) or session id (1). 0 and *id filled, or
 * -1: ERR_UNAUTHORIZED for unknown/expired/revoked, ERR_UNAVAILABLE when the
 * database cannot be asked. */
int auth_resolve(app *a, const char *secret, int is_session, auth_identity *id, err *e) WARN_UNUSED;
/* Forget every cached credential (after a revoke, a role change, a logout). */
void auth_cache_clear(void);

/* Create a token for user_id. Returns the token id; the token itself in `out`. */
int64_t auth_token_create(app *a, int64_t user_id, const char *name, const char *token_or_null,
                          char out[AUTH_TOKEN_MAX + 1], err *e) WARN_UNUSED;
/* Length and alphabet check shared by every place a secret arrives. */
int auth_token_wellformed(const char *t);
/* New session for a user; the cookie value in `out`. */
int auth_session_create(app *a, int64_t user_id, char out[AUTH_TOKEN_LEN + 1], err *e) WARN_UNUSED;
int auth_session_delete(app *a, const char *session_id, err *e) WARN_UNUSED;

/* At first start: when no admin exists, create user "admin" with a token (given by
 * INFICOND_ADMIN_TOKEN or random) and print it once to stdout. When an admin exists
 * and INFICOND_ADMIN_TOKEN is set but unknown, add it as a token of the first admin
 * so scripts can always start the server with a known token. */
int auth_ensure_admin(app *a, err *e) WARN_UNUSED;

#endif
