/* routes_auth.c — login/logout, the caller's identity, users and API tokens. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "db_json.h"
#include "log.h"
#include "login_limit.h"
#include "routes_auth.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256

/* Refuse fields we do not know: a typo ("passwrd") must not silently do nothing. */
static int only_fields_or_reply(req *r, const json_t *obj, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, key)) ok = 1;
        if (!ok) {
            reply_error(r, 422, "unprocessable", "unknown field '%s'", key);
            return 0;
        }
    }
    return 1;
}

static json_t *user_json(int64_t id, const char *username, role ro) {
    return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "username", username, "role",
                     role_name(ro));
}

static void set_session_cookie(req *r, const char *value, int max_age) {
    char cookie[256];
    /* Secure only when the client speaks HTTPS (to us, or to a trusted proxy): over
     * plain HTTP a browser would drop it. */
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
             AUTH_SESSION_COOKIE, value, max_age, req_is_https(r) ? "; Secure" : "");
    reply_add_header(r, "Set-Cookie", cookie);
}

static uint64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* 429 with Retry-After while the account name or the address is locked out (before
 * any password is checked, so a correct one is refused too). Returns 1 if it replied. */
static int locked_out_or_reply(req *r, const char *user, const char *address) {
    int wait = login_limit_wait_s(r->app->logins, user, address, monotonic_ms());
    if (wait <= 0) return 0;
    char s[16];
    snprintf(s, sizeof s, "%d", wait);
    reply_add_header(r, "Retry-After", s);
    reply_error(r, 429, "too_many_requests",
                "too many failed logins for this account or from this address; try again in %d s", wait);
    return 1;
}

static void login_failed(req *r, const char *user, const char *address) {
    if (login_limit_failed(r->app->logins, user, address, monotonic_ms()))
        log_warn("login: %d failures from %s or for one account name: locked for %d s",
                 r->app->cfg.login_max_failures, address, r->app->cfg.login_window_s);
}

void route_login(req *r) {
    static const char *const allowed[] = {"username", "password", "token", NULL};
    if (!only_fields_or_reply(r, r->json, allowed)) return;
    auth_identity id = {0};
    err e = {0};
    char address[64];
    req_client_address(r, address, sizeof address);
    const char *user = NULL;
    json_t *tok = json_object_get(r->json, "token");
    if (tok) {
        if (!json_is_string(tok)) {
            reply_error(r, 422, "unprocessable", "field 'token' must be a string");
            return;
        }
        if (locked_out_or_reply(r, NULL, address)) return;
        if (auth_resolve(r->app, json_string_value(tok), 0, &id, &e)) {
            if (e.code == ERR_UNAUTHORIZED) login_failed(r, NULL, address);
            reply_err(r, &e);
            return;
        }
    } else {
        user = json_req_string_or_reply(r, r->json, "username", 64);
        if (!user) return;
        const char *pw = json_req_string_or_reply(r, r->json, "password", PASSWORD_MAX);
        if (!pw) return;
        if (locked_out_or_reply(r, user, address)) return;
        const char *p[] = {user};
        json_t *row = db_json(r->app, "no such user",
                              "SELECT json_build_object('id', id, 'role', role, 'hash', password_hash,"
                              " 'disabled', disabled)::text FROM users WHERE username = $1",
                              1, p, &e);
        if (!row && e.code != ERR_NOT_FOUND) {
            reply_err(r, &e);
            return;
        }
        const char *hash = row ? json_string_value(json_object_get(row, "hash")) : NULL;
        /* One Argon2 run whether or not the user exists (auth_password_verify). */
        int ok = auth_password_verify(hash, pw) && !json_is_true(json_object_get(row, "disabled"));
        if (!ok) {
            json_decref(row);
            login_failed(r, user, address);
            reply_error(r, 401, "unauthorized", "wrong username or password");
            return;
        }
        id.user_id = (int64_t)json_integer_value(json_object_get(row, "id"));
        int ro = role_parse(json_string_value(json_object_get(row, "role")));
        id.user_role = ro < 0 ? ROLE_PUBLIC : (role)ro;
        snprintf(id.username, sizeof id.username, "%s", user);
        json_decref(row);
    }
    char session[AUTH_TOKEN_MAX + 1];
    if (auth_session_create(r->app, id.user_id, session, &e)) {
        reply_err(r, &e);
        return;
    }
    login_limit_succeeded(r->app->logins, user, address);
    set_session_cookie(r, session, AUTH_SESSION_DAYS * 86400);
    reply_json(r, 200, json_pack("{s:o}", "user", user_json(id.user_id, id.username, id.user_role)));
}

void route_logout(req *r) {
    const char *cookie = NULL;
    if (r->via_cookie) {
        /* The cookie is what authenticated us; end that session. */
        cookie = req_cookie(r, AUTH_SESSION_COOKIE);
        err e = {0};
        if (cookie && auth_session_delete(r->app, cookie, &e)) {
            reply_err(r, &e);
            return;
        }
    }
    set_session_cookie(r, "", 0);
    reply_no_content(r);
}

void route_me(req *r) {
    reply_json(r, 200, user_json(r->user_id, r->username, r->user_role));
}

#define USER_JSON                                                                            \
    "json_build_object('id', id, 'username', username, 'role', role, 'disabled', disabled,"  \
    " 'has_password', password_hash IS NOT NULL, 'created_at', created_at)"

void route_users_list(req *r) {
    err e = {0};
    json_t *items = db_json(r->app, NULL,
                            "SELECT coalesce(json_agg(" USER_JSON " ORDER BY id), '[]')::text FROM users",
                            0, NULL, &e);
    if (!items) { reply_err(r, &e); return; }
    reply_json(r, 200, json_pack("{s:o}", "items", items));
}

static int password_ok_or_reply(req *r, const json_t *obj, char hash[crypto_pwhash_STRBYTES],
                                int *present) {
    json_t *pw = json_object_get(obj, "password");
    *present = pw != NULL;
    if (!pw) return 1;
    if (!json_is_string(pw) || json_string_length(pw) < PASSWORD_MIN ||
        json_string_length(pw) > PASSWORD_MAX) {
        reply_error(r, 422, "unprocessable", "field 'password' must be a string of %d to %d characters",
                    PASSWORD_MIN, PASSWORD_MAX);
        return 0;
    }
    err e = {0};
    if (auth_password_hash(json_string_value(pw), hash, crypto_pwhash_STRBYTES, &e)) {
        reply_err(r, &e);
        return 0;
    }
    return 1;
}

static int username_ok(const char *u) {
    size_t n = strlen(u);
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

void route_users_create(req *r) {
    static const char *const allowed[] = {"username", "role", "password", NULL};
    if (!only_fields_or_reply(r, r->json, allowed)) return;
    const char *user = json_req_string_or_reply(r, r->json, "username", 64);
    if (!user) return;
    if (!username_ok(user)) {
        reply_error(r, 422, "unprocessable",
                    "field 'username' must be 1 to 64 characters of A-Z a-z 0-9 _ . -");
        return;
    }
    const char *ro = json_req_string_or_reply(r, r->json, "role", 16);
    if (!ro) return;
    if (role_parse(ro) < 0) {
        reply_error(r, 422, "unprocessable", "field 'role' must be admin, editor or viewer");
        return;
    }
    char hash[crypto_pwhash_STRBYTES];
    int has_pw;
    if (!password_ok_or_reply(r, r->json, hash, &has_pw)) return;
    const char *p[] = {user, ro, has_pw ? hash : NULL};
    err e = {0};
    json_t *u = db_json(r->app, NULL,
                        "INSERT INTO users(username, role, password_hash) VALUES ($1, $2, $3)"
                        " RETURNING " USER_JSON "::text",
                        3, p, &e);
    if (!u) {
        if (e.code == ERR_CONFLICT) {
            reply_error(r, 409, "conflict", "user '%s' already exists", user);
            return;
        }
        { reply_err(r, &e); return; }
    }
    reply_json(r, 201, u);
}

void route_users_update(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    static const char *const allowed[] = {"role", "password", "disabled", NULL};
    if (!only_fields_or_reply(r, r->json, allowed)) return;
    json_t *ro = json_object_get(r->json, "role");
    if (ro && (!json_is_string(ro) || role_parse(json_string_value(ro)) < 0)) {
        reply_error(r, 422, "unprocessable", "field 'role' must be admin, editor or viewer");
        return;
    }
    json_t *dis = json_object_get(r->json, "disabled");
    if (dis && !json_is_boolean(dis)) {
        reply_error(r, 422, "unprocessable", "field 'disabled' must be true or false");
        return;
    }
    char hash[crypto_pwhash_STRBYTES];
    int has_pw;
    if (!password_ok_or_reply(r, r->json, hash, &has_pw)) return;
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids, ro ? json_string_value(ro) : NULL, has_pw ? hash : NULL,
                       dis ? (json_is_true(dis) ? "true" : "false") : NULL};
    err e = {0};
    /* The last active admin cannot be demoted or disabled: nobody could undo it. */
    json_t *u = db_json(
        r->app, "no such user",
        "WITH target AS (SELECT id FROM users WHERE id = $1::bigint),"
        " guard AS (SELECT count(*) AS others FROM users WHERE role = 'admin' AND NOT disabled"
        "   AND id <> $1::bigint)"
        " UPDATE users SET role = coalesce($2, role), password_hash = coalesce($3, password_hash),"
        "   disabled = coalesce($4::boolean, disabled)"
        " FROM target, guard WHERE users.id = target.id AND (guard.others > 0 OR"
        "   (coalesce($2, users.role) = 'admin' AND NOT coalesce($4::boolean, users.disabled))"
        "   OR users.role <> 'admin')"
        " RETURNING json_build_object('id', users.id, 'username', username, 'role', role,"
        "   'disabled', disabled, 'has_password', password_hash IS NOT NULL,"
        "   'created_at', created_at)::text",
        4, p, &e);
    if (!u) {
        if (e.code == ERR_NOT_FOUND) {
            /* Either no such user, or the guard refused: tell which. */
            err e2 = {0};
            json_t *exists = db_json(r->app, "no such user", "SELECT 'true' FROM users WHERE id = $1::bigint",
                                     1, p, &e2);
            if (exists) {
                json_decref(exists);
                reply_error(r, 409, "conflict", "this is the last active admin; make another admin first");
                return;
            }
            reply_error(r, 404, "not_found", "no user %lld", (long long)id);
            return;
        }
        { reply_err(r, &e); return; }
    }
    auth_cache_clear();
    reply_json(r, 200, u);
}

#define TOKEN_JSON                                                                           \
    "json_build_object('id', t.id, 'user_id', t.user_id, 'username', u.username, 'name', t.name," \
    " 'prefix', t.prefix, 'created_at', t.created_at, 'last_used_at', t.last_used_at,"       \
    " 'expires_at', t.expires_at, 'revoked_at', t.revoked_at)"

void route_tokens_list(req *r) {
    err e = {0};
    json_t *items = db_json(r->app, NULL,
                            "SELECT coalesce(json_agg(" TOKEN_JSON " ORDER BY t.id), '[]')::text"
                            " FROM api_tokens t JOIN users u ON u.id = t.user_id",
                            0, NULL, &e);
    if (!items) { reply_err(r, &e); return; }
    reply_json(r, 200, json_pack("{s:o}", "items", items));
}

void route_tokens_create(req *r) {
    static const char *const allowed[] = {"name", "user_id", "expires_in_days", NULL};
    if (!only_fields_or_reply(r, r->json, allowed)) return;
    const char *name = json_req_string_or_reply(r, r->json, "name", 100);
    if (!name) return;
    if (!*name) {
        reply_error(r, 422, "unprocessable", "field 'name' must not be empty");
        return;
    }
    int64_t uid = r->user_id, days = 0;
    if (json_object_get(r->json, "user_id") &&
        json_req_int_or_reply(r, r->json, "user_id", 1, INT64_MAX, &uid))
        return;
    if (json_object_get(r->json, "expires_in_days") &&
        json_req_int_or_reply(r, r->json, "expires_in_days", 1, 3650, &days))
        return;
    char uids[32];
    snprintf(uids, sizeof uids, "%lld", (long long)uid);
    const char *p[] = {uids};
    err e = {0};
    json_t *exists = db_json(r->app, "no such user", "SELECT 'true' FROM users WHERE id = $1::bigint", 1, p, &e);
    if (!exists) {
        if (e.code == ERR_NOT_FOUND) {
            reply_error(r, 422, "unprocessable", "field 'user_id': no user %lld", (long long)uid);
            return;
        }
        { reply_err(r, &e); return; }
    }
    json_decref(exists);
    char token[AUTH_TOKEN_MAX + 1];
    int64_t tid = auth_token_create(r->app, uid, name, NULL, token, &e);
    if (tid < 0) { reply_err(r, &e); return; }
    if (days > 0) {
        char tids[32], ds[16];
        snprintf(tids, sizeof tids, "%lld", (long long)tid);
        snprintf(ds, sizeof ds, "%lld", (long long)days);
        const char *q[] = {tids, ds};
        json_t *ok = db_json(r->app, NULL,
                             "UPDATE api_tokens SET expires_at = now() + make_interval(days => $2::int)"
                             " WHERE id = $1::bigint RETURNING 'true'",
                             2, q, &e);
        if (!ok) { reply_err(r, &e); return; }
        json_decref(ok);
    }
    json_t *body = json_pack("{s:I,s:s,s:s,s:I,s:s}", "id", (json_int_t)tid, "token", token, "name",
                             name, "user_id", (json_int_t)uid, "note",
                             "store this token now: it is not shown again");
    sodium_memzero(token, sizeof token);
    reply_json(r, 201, body);
}

void route_tokens_revoke(req *r) {
    int64_t id = req_id_or_reply(r, 0);
    if (id < 0) return;
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    err e = {0};
    json_t *ok = db_json(r->app, "no such token",
                         "UPDATE api_tokens SET revoked_at = now() WHERE id = $1::bigint"
                         " AND revoked_at IS NULL RETURNING 'true'",
                         1, p, &e);
    if (!ok) {
        if (e.code == ERR_NOT_FOUND) {
            reply_error(r, 404, "not_found", "no active token %lld", (long long)id);
            return;
        }
        { reply_err(r, &e); return; }
    }
    json_decref(ok);
    auth_cache_clear();
    reply_no_content(r);
}
