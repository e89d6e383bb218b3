/* test_common.c: the leaf utilities (hex codec, error strings, log
 * dispatch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw/err.h"
#include "gw/hex.h"
#include "gw/imei.h"
#include "gw/log.h"
#include "gw/mask.h"
#include "gw/parse.h"

static void hex_roundtrip(void **state)
{
    const uint8_t bytes[] = {0x00, 0x7f, 0x80, 0xff, 0xc7, 0xac};
    char text[13];
    uint8_t back[6];

    (void)state;
    assert_int_equal(gw_hex_encode(bytes, sizeof bytes, text, sizeof text), 12);
    assert_string_equal(text, "007F80FFC7AC");
    assert_int_equal(gw_hex_decode("007f80FFc7Ac", 12, back, sizeof back, NULL),
                     6);
    assert_memory_equal(back, bytes, sizeof bytes);
}

static void hex_rejects(void **state)
{
    uint8_t out[4];
    size_t bad = 99;

    (void)state;
    assert_int_equal(gw_hex_decode("0G", 2, out, sizeof out, &bad), GW_E_INVAL);
    assert_int_equal(bad, 1);
    assert_int_equal(gw_hex_decode("ABC", 3, out, sizeof out, &bad),
                     GW_E_INVAL);
    assert_int_equal(bad, 3);
    assert_int_equal(gw_hex_decode("0 12", 4, out, sizeof out, NULL),
                     GW_E_INVAL);
    assert_int_equal(gw_hex_decode("0011223344", 10, out, sizeof out, NULL),
                     GW_E_NOSPACE);
    assert_int_equal(gw_hex_decode("", 0, out, sizeof out, NULL), 0);
    /* a NUL inside the counted text is not a digit */
    assert_int_equal(gw_hex_decode("0\0", 2, out, sizeof out, NULL),
                     GW_E_INVAL);
    assert_int_equal(gw_hex_encode(out, 4, (char *)out, 8), GW_E_NOSPACE);
}

static void err_strings(void **state)
{
    (void)state;
    assert_string_equal(gw_strerror(GW_OK), "ok");
    assert_string_equal(gw_strerror(GW_E_TOOLONG), "input too long");
    assert_string_equal(gw_strerror(-2), "No such file or directory");
    assert_string_equal(gw_strerror(-5000), "unknown error");
    for (int rc = GW_E_INVAL; rc > GW_E_LAST; rc--)
        assert_string_not_equal(gw_strerror(rc), "unknown error");
}

static void mask_ids(void **state)
{
    char out[24];

    (void)state;
    gw_mask_id("860000000001239", out, sizeof out);
    assert_string_equal(out, "86...1239");
    gw_mask_id("123456", out, sizeof out);
    assert_string_equal(out, "***");
    gw_mask_id("", out, sizeof out);
    assert_string_equal(out, "***");
    gw_mask_id("89860483162665728734", out, 6); /* bounded */
    assert_string_equal(out, "89...");
}

struct captured {
    int calls;
    enum gw_log_level level;
    char text[128];
};

static void capture_sink(enum gw_log_level level, const char *tag,
                         const char *obj, const char *msg, void *ctx)
{
    struct captured *c = ctx;

    c->calls++;
    c->level = level;
    snprintf(c->text, sizeof c->text, "%s|%s|%s", tag, obj ? obj : "-", msg);
}

static void log_dispatch(void **state)
{
    struct captured c = {0};

    (void)state;
    gw_log(GW_LOG_ERR, "t", NULL, "dropped without a sink");
    gw_log_set_sink(capture_sink, &c, GW_LOG_INFO);
    gw_log(GW_LOG_DEBUG, "t", NULL, "above the level");
    assert_int_equal(c.calls, 0);
    gw_log(GW_LOG_WARN, "sota", "ttyM000", "state %s -> %s", "a", "b");
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.level, GW_LOG_WARN);
    assert_string_equal(c.text, "sota|ttyM000|state a -> b");
    gw_log_set_sink(NULL, NULL, GW_LOG_DEBUG);
    assert_false(gw_log_enabled(GW_LOG_ERR));
}

static void imei_check(void **state)
{
    (void)state;
    assert_true(gw_imei_valid("490154203237518"));
    assert_false(gw_imei_valid("490154203237519"));  /* check digit */
    assert_false(gw_imei_valid("49015420323751"));   /* 14 digits */
    assert_false(gw_imei_valid("4901542032375180")); /* 16 digits */
    assert_false(gw_imei_valid("49015420323751a"));
    assert_false(gw_imei_valid(""));
}

static void parse_uint_bounds(void **state)
{
    unsigned long long v = 7;

    (void)state;
    assert_int_equal(gw_parse_uint("65535", 1, 65535, &v), 0);
    assert_int_equal(v, 65535);
    assert_int_equal(gw_parse_uint("65536", 1, 65535, &v), GW_E_RANGE);
    assert_int_equal(gw_parse_uint("0", 1, 65535, &v), GW_E_RANGE);
    assert_int_equal(gw_parse_uint("99999999999999999999999", 0,
                                   18446744073709551615ULL, &v),
                     GW_E_RANGE);
    assert_int_equal(gw_parse_uint("", 0, 9, &v), GW_E_INVAL);
    assert_int_equal(gw_parse_uint("-1", 0, 9, &v), GW_E_INVAL);
    assert_int_equal(gw_parse_uint(" 1", 0, 9, &v), GW_E_INVAL);
    assert_int_equal(gw_parse_uint("1k", 0, 9, &v), GW_E_INVAL);
    assert_int_equal(v, 65535); /* untouched on error */
}

static void parse_host_port(void **state)
{
    char host[16], why[64];
    uint16_t port = 9;

    (void)state;
    assert_int_equal(gw_parse_host_port("[::1]:8080", host, sizeof host, &port,
                                        1, why, sizeof why),
                     0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    port = 9;
    assert_int_equal(gw_parse_host_port("plc-7.local", host, sizeof host, &port,
                                        0, why, sizeof why),
                     0);
    assert_string_equal(host, "plc-7.local");
    assert_int_equal(port, 9);
    assert_int_equal(gw_parse_host_port("plc-7.local", host, sizeof host, &port,
                                        1, why, sizeof why),
                     GW_E_INVAL);
    assert_string_equal(why, "expected HOST:PORT");
    assert_int_equal(gw_parse_host_port("a_b:1", host, sizeof host, &port, 1,
                                        why, sizeof why),
                     GW_E_INVAL);
    assert_int_equal(
        gw_parse_host_port("h:0", host, sizeof host, &port, 1, why, sizeof why),
        GW_E_RANGE);
    assert_int_equal(gw_parse_host_port("0123456789abcdef:1", host, sizeof host,
                                        &port, 1, why, sizeof why),
                     GW_E_RANGE);
    assert_string_equal(why, "host longer than 15 characters");
    assert_int_equal(gw_reason(why, 4, -5, "%s", "truncated"), -5);
    assert_string_equal(why, "tru");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hex_roundtrip),     cmocka_unit_test(hex_rejects),
        cmocka_unit_test(err_strings),       cmocka_unit_test(mask_ids),
        cmocka_unit_test(log_dispatch),      cmocka_unit_test(imei_check),
        cmocka_unit_test(parse_uint_bounds), cmocka_unit_test(parse_host_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
