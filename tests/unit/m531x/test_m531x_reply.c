/* test_m531x_reply.c: identity and signal reply parsers, named after the
 * firmware whose layout each line has (docs/M531X-REFERENCE.md 4 and 7.1: M5311
 * puts a space after the colon, M5310-A does not). Inputs are exact-size heap
 * copies without a NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dio/m531x.h"
#include "exact_copy.h"
#include "gw/compiler.h"
#include "gw/err.h"

/* A valid IMEI (Luhn check digit 8). */
#define IMEI "490154203237518"

enum reply_kind {
    R_CGSN,
    R_CIMI,
    R_ICCID,
    R_CSQ,
    R_CESQ,
    R_CEREG_READ,
    R_CEREG_URC,
    R_CGATT
};

struct reply_case {
    const char *name;
    enum reply_kind kind;
    const char *line;
    size_t len;
    int rc;
    const char *text; /* CGSN, CIMI, ICCID */
    int vals[6];      /* CSQ: rssi, ber; CESQ: six; CEREG/CGATT: one */
};

#define L(s) .line = (s), .len = sizeof(s) - 1
#define OK_TEXT(n, k, l, t)                                                    \
    {                                                                          \
        .name = (n), .kind = (k), L(l), .text = (t)                            \
    }
#define OK_VALS(n, k, l, ...)                                                  \
    {                                                                          \
        .name = (n), .kind = (k), L(l), .vals = { __VA_ARGS__ }                \
    }
#define BAD(n, k, l, r)                                                        \
    {                                                                          \
        .name = (n), .kind = (k), L(l), .rc = (r)                              \
    }

static const struct reply_case reply_cases[] = {
    OK_TEXT("cgsn_m5311_spaced", R_CGSN, "+CGSN: " IMEI, IMEI),
    OK_TEXT("cgsn_m5310a_nospace", R_CGSN, "+CGSN:" IMEI, IMEI),
    OK_TEXT("cgsn_m5311_gsn_bare", R_CGSN, IMEI, IMEI),
    BAD("cgsn_luhn_wrong", R_CGSN, "+CGSN: 490154203237519", GW_E_INTEGRITY),
    BAD("cgsn_14_digits", R_CGSN, "+CGSN: 49015420323751", GW_E_INVAL),
    BAD("cgsn_16_digits", R_CGSN, "+CGSN: 4901542032375180", GW_E_INVAL),
    BAD("cgsn_letter", R_CGSN, "+CGSN: 49015420323751A", GW_E_INVAL),
    BAD("cgsn_quoted", R_CGSN, "+CGSN: \"" IMEI "\"", GW_E_INVAL),
    BAD("cgsn_empty", R_CGSN, "+CGSN: ", GW_E_TRUNC),
    BAD("cgsn_nul", R_CGSN,
        "+CGSN: 4901542032\0"
        "37518",
        GW_E_INVAL),
    BAD("cgsn_two_spaces", R_CGSN, "+CGSN:  " IMEI, GW_E_INVAL),

    OK_TEXT("cimi_m5311", R_CIMI, "460041234567890", "460041234567890"),
    OK_TEXT("cimi_short_6", R_CIMI, "460041", "460041"),
    BAD("cimi_5_digits", R_CIMI, "46004", GW_E_INVAL),
    BAD("cimi_16_digits", R_CIMI, "4600412345678901", GW_E_INVAL),
    BAD("cimi_prefixed", R_CIMI, "+CIMI: 460041234567890", GW_E_INVAL),
    BAD("cimi_empty", R_CIMI, "", GW_E_TRUNC),

    OK_TEXT("iccid_m5311_spaced", R_ICCID, "+ICCID: 89860117838009934120",
            "89860117838009934120"),
    OK_TEXT("iccid_m5310a_nccid_nospace", R_ICCID,
            "+NCCID:8986011783800993412F", "8986011783800993412F"),
    OK_TEXT("iccid_18_digits", R_ICCID, "+ICCID: 898601178380099341",
            "898601178380099341"),
    BAD("iccid_f_inside", R_ICCID, "+ICCID: 898601178380099F4120", GW_E_INVAL),
    BAD("iccid_17_digits", R_ICCID, "+ICCID: 89860117838009934", GW_E_INVAL),
    BAD("iccid_21_digits", R_ICCID, "+ICCID: 898601178380099341201",
        GW_E_INVAL),
    BAD("iccid_empty", R_ICCID, "+ICCID:", GW_E_TRUNC),
    BAD("iccid_other_name", R_ICCID, "+CCID: 89860117838009934120",
        GW_E_UNKNOWN),

    OK_VALS("csq_m5311_spaced", R_CSQ, "+CSQ: 21,99", 21, 99),
    OK_VALS("csq_m5310a_nospace", R_CSQ, "+CSQ:31,0", 31, 0),
    OK_VALS("csq_unknown", R_CSQ, "+CSQ: 99,99", 99, 99),
    BAD("csq_rssi_32", R_CSQ, "+CSQ: 32,99", GW_E_RANGE),
    BAD("csq_ber_8", R_CSQ, "+CSQ: 21,8", GW_E_RANGE),
    BAD("csq_rssi_100", R_CSQ, "+CSQ: 100,99", GW_E_RANGE),
    BAD("csq_ber_missing", R_CSQ, "+CSQ: 21", GW_E_TRUNC),
    BAD("csq_extra_field", R_CSQ, "+CSQ: 21,99,1", GW_E_INVAL),
    BAD("csq_negative", R_CSQ, "+CSQ: -1,99", GW_E_RANGE),
    BAD("csq_other_reply", R_CSQ, "+CESQ: 21,99", GW_E_UNKNOWN),

    OK_VALS("cesq_m5311_spec24", R_CESQ, "+CESQ: 24,99,255,255,26,87", 24, 99,
            255, 255, 26, 87),
    OK_VALS("cesq_nospace", R_CESQ, "+CESQ:99,99,255,255,255,255", 99, 99, 255,
            255, 255, 255),
    BAD("cesq_rsrq_35", R_CESQ, "+CESQ: 24,99,255,255,35,87", GW_E_RANGE),
    BAD("cesq_rsrp_98", R_CESQ, "+CESQ: 24,99,255,255,26,98", GW_E_RANGE),
    BAD("cesq_five_fields", R_CESQ, "+CESQ: 24,99,255,255,26", GW_E_TRUNC),
    BAD("cesq_seven_fields", R_CESQ, "+CESQ: 24,99,255,255,26,87,1",
        GW_E_INVAL),

    OK_VALS("cereg_m5311_read", R_CEREG_READ, "+CEREG: 0,1", 1),
    OK_VALS("cereg_m5310a_read_nospace", R_CEREG_READ, "+CEREG:2,5", 5),
    OK_VALS("cereg_m5311_read_location", R_CEREG_READ,
            "+CEREG: 2,1,\"5A0B\",\"0A1B2C3D\",9", 1),
    OK_VALS("cereg_m5311_urc", R_CEREG_URC, "+CEREG: 5", 5),
    OK_VALS("cereg_m5311_urc_location", R_CEREG_URC,
            "+CEREG: 1,\"5A0B\",\"0A1B2C3D\",9", 1),
    BAD("cereg_stat_6", R_CEREG_READ, "+CEREG: 0,6", GW_E_RANGE),
    BAD("cereg_read_without_stat", R_CEREG_READ, "+CEREG: 0", GW_E_TRUNC),
    BAD("cereg_stat_junk", R_CEREG_URC, "+CEREG: 1x", GW_E_INVAL),

    OK_VALS("cgatt_m5311_spaced", R_CGATT, "+CGATT: 1", 1),
    OK_VALS("cgatt_m5310a_nospace", R_CGATT, "+CGATT:1", 1),
    OK_VALS("cgatt_detached", R_CGATT, "+CGATT: 0", 0),
    BAD("cgatt_2", R_CGATT, "+CGATT: 2", GW_E_RANGE),
    BAD("cgatt_minus", R_CGATT, "+CGATT: -1", GW_E_RANGE),
    BAD("cgatt_empty", R_CGATT, "+CGATT: ", GW_E_TRUNC),
    BAD("cgatt_junk", R_CGATT, "+CGATT:1x", GW_E_INVAL),
    BAD("cgatt_trailing_space", R_CGATT, "+CGATT: 1 ", GW_E_INVAL),
    BAD("cgatt_ctrl", R_CGATT,
        "+CGATT:\x01"
        "1",
        GW_E_INVAL),
};

static void run_reply_case(void **state)
{
    const struct reply_case *c = *state;
    char *line = exact_copy(c->line, c->len);
    char text[32];
    int v[6] = {-7, -7, -7, -7, -7, -7};
    int rc = GW_E_UNKNOWN;
    size_t nvals = 0;

    memset(text, 'x', sizeof text);
    switch (c->kind) {
    case R_CGSN: rc = m531x_parse_cgsn(line, c->len, text); break;
    case R_CIMI: rc = m531x_parse_cimi(line, c->len, text); break;
    case R_ICCID: rc = m531x_parse_iccid(line, c->len, text); break;
    case R_CSQ:
        rc = m531x_parse_csq(line, c->len, &v[0], &v[1]);
        nvals = 2;
        break;
    case R_CESQ:
        rc = m531x_parse_cesq(line, c->len, v);
        nvals = 6;
        break;
    case R_CEREG_READ:
        rc = m531x_parse_cereg(line, c->len, 1, &v[0]);
        nvals = 1;
        break;
    case R_CEREG_URC:
        rc = m531x_parse_cereg(line, c->len, 0, &v[0]);
        nvals = 1;
        break;
    case R_CGATT:
        rc = m531x_parse_cgatt(line, c->len, &v[0]);
        nvals = 1;
        break;
    }
    assert_int_equal(rc, c->rc);
    if (rc == 0 && c->text != NULL)
        assert_string_equal(text, c->text);
    for (size_t i = 0; rc == 0 && i < nvals; i++)
        assert_int_equal(v[i], c->vals[i]);
    for (size_t i = 0; rc < 0 && i < 6; i++)
        assert_int_equal(v[i], -7); /* a failed parse writes no output */
    free(line);
}

int main(void)
{
    struct CMUnitTest tests[GW_ARRAY_LEN(reply_cases)];

    for (size_t i = 0; i < GW_ARRAY_LEN(reply_cases); i++) {
        tests[i].name = reply_cases[i].name;
        tests[i].test_func = run_reply_case;
        tests[i].setup_func = NULL;
        tests[i].teardown_func = NULL;
        tests[i].initial_state = (void *)(uintptr_t)&reply_cases[i];
    }
    return cmocka_run_group_tests_name("m531x_reply", tests, NULL, NULL);
}
