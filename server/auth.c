/* auth.c — credentials: token/session lookup with a small in-memory cache,
 * password hashing, the first admin. */
#include "auth.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

int auth_init(void) { return sodium_init() < 0 ? -1 : 0; }

const char *role_name(role r) {
    switch (r) {
    case ROLE_ADMIN: return "admin";
    case ROLE_EDITOR: return "editor";
    case ROLE_VIEWER: return "viewer";
    default: return "public";
    }
}

int role_parse(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "admin")) return ROLE_ADMIN;
    if (!strcmp(name, "editor")) return ROLE_EDITOR;
    if (!strcmp(name, "viewer")) return ROLE_VIEWER;
    return -1;
}

void auth_token_new(char out[AUTH_TOKEN_LEN + 1]) {
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memcpy(out, AUTH_TOKEN_PREFIX, 4);
    memcpy(out + 4, b64, sizeof b64); /* 43 characters and the NUL */
    sodium_memzero(raw, sizeof raw);
}

void auth_token_hash_hex(const char *token, char out[65]) {
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, 65, h, sizeof h);
}

int auth_password_hash(const char *password, char *out, size_t out_len, err *e) {
    if (out_len < crypto_pwhash_STRBYTES) return err_set(e, ERR_INTERNAL, "hash buffer too small");
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory while hashing the password");
    return 0;
}

/* An Argon2id hash of 32 random bytes nobody knows, with the parameters
 * auth_password_hash uses (test_auth checks they still agree): a login for a user
 * without a hash is verified against it, so it costs one Argon2 run like any other
 * and its timing does not tell which usernames exist. */
static const char no_such_user_hash[] =
    "$argon2id$v=19$m=65536,t=2,p=1$CKgpstb31/SqY2tYsbvt1w$rrIoRV4yQbEZPvXjTuuibEa6Weq8/jrQKcfz1cl5uKA";

const char *auth_no_such_user_hash(void) { return no_such_user_hash; }

int auth_password_verify(const char *hash, const char *password) {
    const char *h = hash ? hash : no_such_user_hash;
    int ok = crypto_pwhash_str_verify(h, password, strlen(password)) == 0;
    return hash && ok;
}

/* ---- credential cache: open addressing over the hash hex, small and bounded ---- */

#define CACHE_SLOTS 1024

typedef struct {
    char key[66]; /* 's'/'t' + hash hex */
    auth_identity id;
    time_t until;
} cache_entry;

static cache_entry cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned cache_slot(const char *key) {
    unsigned h = 2166136261u;
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h % CACHE_SLOTS;
}

static int cache_get(const char *key, auth_identity *out) {
    time_t now = time(NULL);
    int hit = 0;
    pthread_mutex_lock(&cache_lock);
    cache_entry *c = &cache[cache_slot(key)];
    if (c->until > now && !strcmp(c->key, key)) {
        *out = c->id;
        hit = 1;
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

static void cache_put(const char *key, const auth_identity *id) {
    pthread_mutex_lock(&cache_lock);
    cache_entry *c = &cache[cache_slot(key)];
    snprintf(c->key, sizeof c->key, "%s", key);
    c->id = *id;
    c->until = time(NULL) + AUTH_CACHE_SECONDS;
    pthread_mutex_unlock(&cache_lock);
}

void auth_cache_clear(void) {
    pthread_mutex_lock(&cache_lock);
    memset(cache, 0, sizeof cache);
    pthread_mutex_unlock(&cache_lock);
}

int auth_token_wellformed(const char *t) {
    size_t n = t ? strlen(t) : 0;
    if (n < AUTH_TOKEN_MIN || n > AUTH_TOKEN_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

int auth_resolve(app *a, const char *secret, int is_session, auth_identity *id, err *e) {
    if (!auth_token_wellformed(secret))
        return err_set(e, ERR_UNAUTHORIZED, is_session ? "session expired or invalid; log in again"
                                                       : "invalid token");
    char key[66];
    key[0] = is_session ? 's' : 't';
    auth_token_hash_hex(secret, key + 1);
    if (cache_get(key, id)) return 0;

    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    const char *params[] = {key + 1};
    const char *sql =
        is_session
            ? "SELECT u.id, u.role, u.username FROM sessions s JOIN users u ON u.id = s.user_id"
              " WHERE s.id_hash = $1 AND s.expires_at > now() AND NOT u.disabled"
            : "UPDATE api_tokens t SET last_used_at = now() FROM users u"
              " WHERE t.token_hash = $1 AND u.id = t.user_id AND t.revoked_at IS NULL"
              " AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT u.disabled"
              " RETURNING u.id, u.role, u.username";
    PGresult *r = db_exec(c, sql, 1, params, e);
    db_release(a->db, c);
    if (!r) return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return err_set(e, ERR_UNAUTHORIZED, is_session ? "session expired or invalid; log in again"
                                                       : "invalid or revoked token");
    }
    id->user_id = atoll(PQgetvalue(r, 0, 0));
    int ro = role_parse(PQgetvalue(r, 0, 1));
    id->user_role = ro < 0 ? ROLE_PUBLIC : (role)ro;
    snprintf(id->username, sizeof id->username, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    cache_put(key, id);
    return 0;
}

int64_t auth_token_create(app *a, int64_t user_id, const char *name, const char *token_or_null,
                          char out[AUTH_TOKEN_MAX + 1], err *e) {
    if (token_or_null) {
        if (!auth_token_wellformed(token_or_null))
            return err_set(e, ERR_UNPROCESSABLE,
                           "a token must be %d to %d characters of A-Z a-z 0-9 _ - .",
                           AUTH_TOKEN_MIN, AUTH_TOKEN_MAX),
                   -1;
        snprintf(out, AUTH_TOKEN_MAX + 1, "%s", token_or_null);
    } else {
        auth_token_new(out);
    }
    char hash[65], uid[32], prefix[16];
    auth_token_hash_hex(out, hash);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(prefix, sizeof prefix, "%.10s", out);
    const char *params[] = {uid, name, hash, prefix};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c,
                          "INSERT INTO api_tokens(user_id, name, token_hash, prefix)"
                          " VALUES ($1, $2, $3, $4) RETURNING id",
                          4, params, e);
    db_release(a->db, c);
    if (!r) return -1;
    int64_t id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return id;
}

int auth_session_create(app *a, int64_t user_id, char out[AUTH_TOKEN_LEN + 1], err *e) {
    auth_token_new(out);
    char hash[65], uid[32];
    auth_token_hash_hex(out, hash);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *params[] = {hash, uid};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    int rc = db_run(c,
                    "INSERT INTO sessions(id_hash, user_id, expires_at)"
                    " VALUES ($1, $2, now() + interval '" "7 days')",
                    2, params, e);
    /* Expired sessions are swept here rather than by a timer: logins are rare. */
    if (rc == 0) rc = db_run(c, "DELETE FROM sessions WHERE expires_at < now()", 0, NULL, e);
    db_release(a->db, c);
    return rc;
}

int auth_session_delete(app *a, const char *session_id, err *e) {
    char hash[65];
    auth_token_hash_hex(session_id, hash);
    const char *params[] = {hash};
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    int rc = db_run(c, "DELETE FROM sessions WHERE id_hash = $1", 1, params, e);
    db_release(a->db, c);
    auth_cache_clear();
    return rc;
}

int auth_ensure_admin(app *a, err *e) {
    PGconn *c = db_acquire(a->db, e);
    if (!c) return -1;
    PGresult *r = db_exec(c,
                          "SELECT id FROM users WHERE role = 'admin' AND NOT disabled"
                          " ORDER BY id LIMIT 1",
                          0, NULL, e);
    if (!r) {
        db_release(a->db, c);
        return -1;
    }
    int64_t admin_id = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    const char *given = a->cfg.admin_token[0] ? a->cfg.admin_token : NULL;
    if (!admin_id) {
        r = db_exec(c,
                    "INSERT INTO users(username, role) VALUES ('admin', 'admin')"
                    " ON CONFLICT (username) DO UPDATE SET role = 'admin', disabled = false"
                    " RETURNING id",
                    0, NULL, e);
        if (!r) {
            db_release(a->db, c);
            return -1;
        }
        admin_id = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        db_release(a->db, c);
        char token[AUTH_TOKEN_MAX + 1];
        if (auth_token_create(a, admin_id, "first admin", given, token, e) < 0) return -1;
        if (given) {
            printf("inficond: created user 'admin' with the token from INFICOND_ADMIN_TOKEN\n");
        } else {
            printf("\n  First start: created user 'admin'. Its API token (shown only now):\n\n"
                   "      %s\n\n"
                   "  Log in on the web page with it, or send 'Authorization: Bearer <token>'.\n\n",
                   token);
        }
        fflush(stdout);
        log_info("auth: created the first admin");
        return 0;
    }
    if (given) {
        char hash[65];
        auth_token_hash_hex(given, hash);
        const char *params[] = {hash};
        r = db_exec(c, "SELECT 1 FROM api_tokens WHERE token_hash = $1", 1, params, e);
        if (!r) {
            db_release(a->db, c);
            return -1;
        }
        int known = PQntuples(r) > 0;
        PQclear(r);
        db_release(a->db, c);
        if (!known) {
            char token[AUTH_TOKEN_MAX + 1];
            if (auth_token_create(a, admin_id, "INFICOND_ADMIN_TOKEN", given, token, e) < 0)
                return -1;
            log_info("auth: INFICOND_ADMIN_TOKEN added as an admin token");
        }
        return 0;
    }
    db_release(a->db, c);
    return 0;
}
