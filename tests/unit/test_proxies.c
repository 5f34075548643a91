/* test_proxies.c — INFICOND_TRUSTED_PROXIES: parsing (addresses, ranges, errors
 * naming the item), membership (IPv4, IPv6, IPv4-mapped), and picking the client
 * out of X-Forwarded-For without believing what an untrusted hop wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxies.h"

static void parses_addresses_and_ranges(void **state) {
    (void)state;
    proxy_list l;
    err e = {0};
    assert_int_equal(proxies_parse(" 10.0.0.1, 172.16.0.0/12 ,::1,, fd00::/8 ", "V", &l, &e), 0);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.nets[0].prefix, 32);
    assert_int_equal(l.nets[1].prefix, 12);
    assert_int_equal(l.nets[2].prefix, 128);
    assert_int_equal(proxies_parse("", "V", &l, &e), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(proxies_parse(NULL, "V", &l, &e), 0);
    assert_int_equal(l.n, 0);
}

static void refuses_bad_items_by_name(void **state) {
    (void)state;
    proxy_list l;
    err e = {0};
    assert_int_equal(proxies_parse("10.0.0.1,proxy.example", "INFICOND_TRUSTED_PROXIES", &l, &e), -1);
    assert_non_null(strstr(e.msg, "INFICOND_TRUSTED_PROXIES"));
    assert_non_null(strstr(e.msg, "proxy.example"));
    err_clear(&e);
    assert_int_equal(proxies_parse("10.0.0.0/33", "V", &l, &e), -1);
    assert_non_null(strstr(e.msg, "10.0.0.0/33"));
    err_clear(&e);
    assert_int_equal(proxies_parse("10.0.0.0/", "V", &l, &e), -1);
}

static void membership(void **state) {
    (void)state;
    proxy_list l;
    err e = {0};
    assert_int_equal(proxies_parse("172.16.0.0/12,::1,192.168.1.7", "V", &l, &e), 0);
    assert_true(proxies_contains(&l, "172.31.255.254"));
    assert_false(proxies_contains(&l, "172.32.0.1"));
    assert_true(proxies_contains(&l, "::1"));
    assert_false(proxies_contains(&l, "::2"));
    assert_true(proxies_contains(&l, "::ffff:192.168.1.7")); /* IPv4-mapped */
    assert_false(proxies_contains(&l, "192.168.1.8"));
    assert_false(proxies_contains(&l, "not an address"));
    assert_false(proxies_contains(NULL, "192.168.1.7"));
}

/* The rightmost address that is not a trusted proxy is the client: anything left of
 * it was written by the client itself and cannot be believed. */
static void client_from_forwarded_for(void **state) {
    (void)state;
    proxy_list l;
    err e = {0};
    assert_int_equal(proxies_parse("10.0.0.0/8", "V", &l, &e), 0);
    char buf[64] = "unchanged";
    assert_int_equal(proxies_client_from_xff(&l, "203.0.113.5", buf, sizeof buf), 1);
    assert_string_equal(buf, "203.0.113.5");
    assert_int_equal(proxies_client_from_xff(&l, "1.2.3.4, 203.0.113.5, 10.0.0.3", buf, sizeof buf), 1);
    assert_string_equal(buf, "203.0.113.5");
    assert_int_equal(proxies_client_from_xff(&l, "10.0.0.9,10.0.0.3", buf, sizeof buf), 1);
    assert_string_equal(buf, "10.0.0.9"); /* only proxies: the first hop */
    strcpy(buf, "unchanged");
    assert_int_equal(proxies_client_from_xff(&l, "evil, 10.0.0.3", buf, sizeof buf), 0);
    assert_int_equal(proxies_client_from_xff(&l, "", buf, sizeof buf), 0);
    assert_int_equal(proxies_client_from_xff(&l, NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "unchanged");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_addresses_and_ranges),
        cmocka_unit_test(refuses_bad_items_by_name),
        cmocka_unit_test(membership),
        cmocka_unit_test(client_from_forwarded_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
