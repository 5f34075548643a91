/* proxies.c — trusted reverse proxies (see proxies.h). */
#include "proxies.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* addr into family + bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d) comes back as IPv4. */
static int parse_addr(const char *s, int *family, uint8_t out[16]) {
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    uint8_t v6[16];
    if (inet_pton(AF_INET6, s, v6) != 1) return -1;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(v6, mapped, sizeof mapped)) {
        memcpy(out, v6 + 12, 4);
        *family = AF_INET;
    } else {
        memcpy(out, v6, 16);
        *family = AF_INET6;
    }
    return 0;
}

/* Copy one list item, trimmed, into buf; 0 when it fits and is not empty. */
static int trimmed(const char *s, size_t n, char *buf, size_t cap) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n || n >= cap) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

int proxies_parse(const char *text, const char *var, proxy_list *out, err *e) {
    memset(out, 0, sizeof *out);
    if (!text) return 0;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        int blank = 1;
        for (size_t i = 0; i < n; i++) blank &= isspace((unsigned char)p[i]) != 0;
        if (!blank) {
            if (trimmed(p, n, item, sizeof item))
                return err_set(e, ERR_UNPROCESSABLE, "%s: an item is too long", var);
            if (out->n == PROXIES_MAX)
                return err_set(e, ERR_UNPROCESSABLE, "%s: at most %d addresses or ranges", var, PROXIES_MAX);
            proxy_net *net = &out->nets[out->n];
            char *slash = strchr(item, '/');
            if (slash) *slash = '\0';
            if (parse_addr(item, &net->family, net->addr))
                return err_set(e, ERR_UNPROCESSABLE, "%s: '%s' is not an IPv4 or IPv6 address", var, item);
            int max = net->family == AF_INET ? 32 : 128;
            net->prefix = max;
            if (slash) {
                char *rest;
                long bits = strtol(slash + 1, &rest, 10);
                if (!slash[1] || *rest || bits < 0 || bits > max)
                    return err_set(e, ERR_UNPROCESSABLE, "%s: '%s/%s' has a prefix length outside 0..%d", var,
                                   item, slash + 1, max);
                net->prefix = (int)bits;
            }
            out->n++;
        }
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static int net_contains(const proxy_net *net, int family, const uint8_t a[16]) {
    if (net->family != family) return 0;
    int full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr, a, (size_t)full)) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (a[full] & mask);
}

int proxies_contains(const proxy_list *l, const char *addr) {
    uint8_t a[16];
    int family;
    if (!l || !l->n || !addr || parse_addr(addr, &family, a)) return 0;
    for (int i = 0; i < l->n; i++)
        if (net_contains(&l->nets[i], family, a)) return 1;
    return 0;
}

int proxies_client_from_xff(const proxy_list *l, const char *xff, char *buf, size_t cap) {
    if (!xff) return 0;
    size_t len = strlen(xff);
    while (len) {
        const char *comma = NULL;
        for (size_t i = len; i > 0; i--)
            if (xff[i - 1] == ',') {
                comma = xff + i - 1;
                break;
            }
        const char *item = comma ? comma + 1 : xff;
        char addr[64];
        uint8_t bytes[16];
        int family;
        if (trimmed(item, (size_t)(xff + len - item), addr, sizeof addr) || parse_addr(addr, &family, bytes))
            return 0; /* garbage in the chain: believe nothing beyond the peer */
        if (!proxies_contains(l, addr) || !comma) {
            snprintf(buf, cap, "%s", addr);
            return 1;
        }
        len = (size_t)(comma - xff);
    }
    return 0;
}
