/* proxies.h — INFICOND_TRUSTED_PROXIES: the reverse proxies whose forwarding headers
 * are believed. A request whose TCP peer is one of them may say, with
 * X-Forwarded-Proto, that the client spoke HTTPS (Secure cookie, HSTS) and, with
 * X-Forwarded-For, who the client is (login limits, the log). From any other peer
 * both headers are ignored, so a client cannot forge them. */
#ifndef INFICOND_PROXIES_H
#define INFICOND_PROXIES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PROXIES_MAX 16

typedef struct proxy_net {
    int family;        /* AF_INET or AF_INET6                    */
    uint8_t addr[16];  /* network bytes (4 used for IPv4)        */
    int prefix;        /* bits that must match: 32/128 for a host */
} proxy_net;

typedef struct proxy_list {
    int n;
    proxy_net nets[PROXIES_MAX];
} proxy_list;

/* Parse a comma-separated list of addresses or CIDR ranges ("10.0.0.1,
 * 172.16.0.0/12, ::1"); spaces around items are allowed, empty text is an empty
 * list. -1 with e naming `var` and the bad item. */
int proxies_parse(const char *text, const char *var, proxy_list *out, err *e) WARN_UNUSED;

/* 1 when the textual address `addr` (IPv4 or IPv6, as inet_ntop writes it) lies in
 * one of the list's ranges; an IPv4-mapped IPv6 address counts as its IPv4 form. */
int proxies_contains(const proxy_list *l, const char *addr);

/* The client behind a trusted peer: walk X-Forwarded-For (`xff`, may be NULL) from
 * the right, skipping trusted proxies; the first address that is not one is the
 * client. Writes it into buf (cap bytes) and returns 1; returns 0 (buf untouched)
 * when the header holds no usable address. */
int proxies_client_from_xff(const proxy_list *l, const char *xff, char *buf, size_t cap);

#endif
