/* http_client.c — who the client is and how it reached us: its address and whether
 * it spoke HTTPS, believing X-Forwarded-* only from INFICOND_TRUSTED_PROXIES
 * (proxies.h). Used by replies (HSTS), the session cookie and login limits. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "http_conn.h"
#include "proxies.h"

static const char *header(req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn->mhd, MHD_HEADER_KIND, name);
}

/* The TCP peer's address (behind a proxy: the proxy). */
static const char *peer_address(req *r, char *buf, size_t cap) {
    snprintf(buf, cap, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn->mhd, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)cap);
    return buf;
}

static int peer_is_trusted(req *r, char *peer, size_t cap) {
    const proxy_list *l = &r->app->cfg.trusted_proxies;
    return l->n && proxies_contains(l, peer_address(r, peer, cap));
}

const char *req_client_address(req *r, char *buf, size_t cap) {
    char peer[64];
    if (peer_is_trusted(r, peer, sizeof peer) &&
        proxies_client_from_xff(&r->app->cfg.trusted_proxies, header(r, "X-Forwarded-For"), buf, cap))
        return buf;
    return peer_address(r, buf, cap);
}

int req_is_https(req *r) {
    if (r->app->cfg.tls_cert[0]) return 1;
    char peer[64];
    const char *proto = header(r, "X-Forwarded-Proto");
    return proto && !strcasecmp(proto, "https") && peer_is_trusted(r, peer, sizeof peer);
}
