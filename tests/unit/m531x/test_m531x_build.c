/* test_m531x_build.c: the dialect table and the command builders.
 *
 * seed_commands_byte_exact walks tests/data/seed/seed-transcript.txt and
 * compares every line the gateway must send ('>' and the corrected '>!')
 * with what the builders produce for the same request, in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dio/m531x.h"
#include "exact_copy.h"
#include "gw/compiler.h"
#include "gw/err.h"

static struct m531x_dialect dialect(void)
{
    struct m531x_dialect d;

    m531x_dialect_default(&d);
    return d;
}

static struct m531x_value int_value(int64_t num)
{
    struct m531x_value v = {.type = M531X_TYPE_INTEGER, .num = num};

    return v;
}

static struct m531x_value str_value(const char *s)
{
    struct m531x_value v = {.type = M531X_TYPE_STRING, .str = s};

    return v;
}

/* rc is the builder's return; out must hold want exactly. */
static void expect(int rc, const char *out, const char *want)
{
    assert_int_equal(rc, (int)strlen(want));
    assert_string_equal(out, want);
}

static void dialect_defaults(void **state)
{
    struct m531x_dialect d = dialect();
    const char *why = "unset";

    (void)state;
    assert_int_equal(d.sota_erase_ok, 3);
    assert_int_equal(d.sota_write_ok, 1);
    assert_int_equal(d.sota_write_fail, 2);
    assert_int_equal(d.sota_erase_fail, 4);
    assert_int_equal(d.strlen_mode, M531X_STRLEN_CHARS);
    assert_int_equal(d.opaque_len, M531X_OPAQUE_AUTO);
    assert_int_equal(d.delete_cmd, M531X_DELETE_MIPLDELETE);
    assert_int_equal(m531x_dialect_check(&d, &why), 0);
    assert_null(why);
}

static void dialect_check_rejects(void **state)
{
    struct m531x_dialect d = dialect();
    const char *why = NULL;

    (void)state;
    d.sota_write_fail = d.sota_erase_ok; /* CIS numbering half applied */
    assert_int_equal(m531x_dialect_check(&d, &why), GW_E_INVAL);
    assert_string_equal(why, "two AT+MIPLSOTA results share one value");

    d = dialect();
    d.sota_erase_fail = 256;
    assert_int_equal(m531x_dialect_check(&d, &why), GW_E_RANGE);
    assert_string_equal(why, "AT+MIPLSOTA value out of range 0..255");

    d = dialect();
    d.sota_write_ok = -1;
    assert_int_equal(m531x_dialect_check(&d, NULL), GW_E_RANGE);

    /* the CIS SDK numbering (docs/M531X-REFERENCE.md 3.2) is a valid dialect */
    d = dialect();
    d.sota_erase_ok = 1;
    d.sota_erase_fail = 2;
    d.sota_write_ok = 3;
    d.sota_write_fail = 4;
    assert_int_equal(m531x_dialect_check(&d, NULL), 0);
}

static void simple_commands(void **state)
{
    static const struct {
        enum m531x_simple_cmd cmd;
        const char *text;
    } t[] = {
        {M531X_CMD_AT, "AT"},
        {M531X_CMD_ECHO_OFF, "ATE0"},
        {M531X_CMD_IMEI, "AT+CGSN=1"},
        {M531X_CMD_IMSI, "AT+CIMI"},
        {M531X_CMD_ICCID, "AT+ICCID"},
        {M531X_CMD_CSQ, "AT+CSQ"},
        {M531X_CMD_CESQ, "AT+CESQ"},
        {M531X_CMD_CEREG, "AT+CEREG?"},
        {M531X_CMD_CGATT, "AT+CGATT?"},
        {M531X_CMD_SLEEP_LOCK, "AT+SM=LOCK"},
        {M531X_CMD_SLEEP_UNLOCK, "AT+SM=UNLOCK"},
        {M531X_CMD_REBOOT, "AT+CMRB"},
        {M531X_CMD_CREATE, "AT+MIPLCREATE"},
        {M531X_CMD_VER, "AT+MIPLVER?"},
    };

    (void)state;
    for (size_t i = 0; i < GW_ARRAY_LEN(t); i++)
        assert_string_equal(m531x_simple_cmd_text(t[i].cmd), t[i].text);
}

/* ---- the seed, in order ---------------------------------------------- */

enum seed_call {
    CALL_CREATE,
    CALL_SOTAVER,
    CALL_OPEN,
    CALL_EXECUTERSP,
    CALL_READRSP_INT,
    CALL_READRSP_STR,
    CALL_SOTA_ERASE_OK,
    CALL_SOTA_WRITE_OK,
    CALL_UPDATE,
    CALL_WRITERSP
};

struct seed_step {
    enum seed_call call;
    int32_t msgid;
    int obj, ins, res;
    int64_t num;
    const char *str;
    int index, flag;
    int times; /* consecutive identical commands; 0 counts as 1 */
};

#define RSP_INT(m, o, i, r, n, ix, fl)                                         \
    {                                                                          \
        .call = CALL_READRSP_INT, .msgid = (m), .obj = (o), .ins = (i),        \
        .res = (r), .num = (n), .index = (ix), .flag = (fl)                    \
    }
#define RSP_STR(m, o, i, r, s)                                                 \
    {                                                                          \
        .call = CALL_READRSP_STR, .msgid = (m), .obj = (o), .ins = (i),        \
        .res = (r), .str = (s)                                                 \
    }
#define CALL(c, m)                                                             \
    {                                                                          \
        .call = (c), .msgid = (m)                                              \
    }

static const struct seed_step seed_steps[] = {
    CALL(CALL_CREATE, 0),
    {.call = CALL_SOTAVER, .str = "test0"},
    CALL(CALL_OPEN, 0),
    CALL(CALL_EXECUTERSP, 54077),
    RSP_INT(54078, 3, 0, 26261, 256, 0, 0),
    RSP_STR(54079, 3, 0, 19, "test0"),
    RSP_INT(54080, 5, 0, 3, 0, 2, 1),
    RSP_INT(54080, 5, 0, 5, 0, 1, 2),
    RSP_INT(54080, 5, 0, 26500, 0, 0, 0),
    RSP_INT(54081, 3, 0, 9, 100, 0, 0),
    CALL(CALL_SOTA_ERASE_OK, 0),
    {.call = CALL_SOTA_WRITE_OK, .times = 14}, /* the 14 chunks */
    RSP_INT(27510, 3, 0, 9, 100, 0, 0),
    CALL(CALL_EXECUTERSP, 27511),
    CALL(CALL_UPDATE, 0),
    CALL(CALL_EXECUTERSP, 54077),
    RSP_INT(17502, 3, 0, 26261, 128, 0, 0),
    RSP_STR(17503, 3, 0, 19, "test000"),
    CALL(CALL_WRITERSP, 17507),
};

static int build_step(const struct seed_step *s, char *out, size_t cap)
{
    struct m531x_dialect d = dialect();
    struct m531x_value v;

    switch (s->call) {
    case CALL_CREATE:
        return snprintf(out, cap, "%s",
                        m531x_simple_cmd_text(M531X_CMD_CREATE));
    case CALL_SOTAVER: return m531x_build_sotaver(out, cap, s->str);
    case CALL_OPEN: return m531x_build_open(out, cap, 0, 600, 60);
    case CALL_EXECUTERSP:
        return m531x_build_executersp(out, cap, 0, s->msgid,
                                      M531X_RESULT_CHANGED);
    case CALL_READRSP_INT:
    case CALL_READRSP_STR:
        v = s->call == CALL_READRSP_INT ? int_value(s->num) : str_value(s->str);
        return m531x_build_readrsp(out, cap, &d, 0, s->msgid,
                                   M531X_RESULT_CONTENT, s->obj, s->ins, s->res,
                                   &v, s->index, s->flag);
    case CALL_SOTA_ERASE_OK: return m531x_build_sota(out, cap, d.sota_erase_ok);
    case CALL_SOTA_WRITE_OK: return m531x_build_sota(out, cap, d.sota_write_ok);
    case CALL_UPDATE: return m531x_build_update(out, cap, 0, 0, 0);
    case CALL_WRITERSP:
        return m531x_build_writersp(out, cap, 0, s->msgid,
                                    M531X_RESULT_CHANGED);
    }
    return -1;
}

static void seed_commands_byte_exact(void **state)
{
    FILE *f = fopen(GW_TEST_DATA_DIR "/seed/seed-transcript.txt", "r");
    char *line = malloc(16384);
    char out[M531X_CMD_MAX];
    size_t step = 0;
    int repeat = 0;
    int corrected = 0;

    (void)state;
    assert_non_null(f);
    assert_non_null(line);
    while (fgets(line, 16384, f) != NULL) {
        const char *cmd;
        size_t n = strcspn(line, "\r\n");

        line[n] = '\0';
        if (line[0] != '>')
            continue;
        corrected += line[1] == '!';
        cmd = line + (line[1] == '!' ? 3 : 2);
        assert_true(step < GW_ARRAY_LEN(seed_steps));
        expect(build_step(&seed_steps[step], out, sizeof out), out, cmd);
        if (++repeat >= seed_steps[step].times) {
            step++;
            repeat = 0;
        }
    }
    assert_int_equal(step, GW_ARRAY_LEN(seed_steps));
    assert_int_equal(corrected, 2);
    fclose(f);
    free(line);
}

/* ---- the builders one by one ------------------------------------------ */

static void readrsp_values(void **state)
{
    struct m531x_dialect d = dialect();
    struct m531x_value v;
    char out[M531X_CMD_MAX];

    (void)state;
    v = int_value(-5); /* the '-' counts */
    expect(m531x_build_readrsp(out, sizeof out, &d, 0, 7, 1, 3303, 0, 5700, &v,
                               0, 0),
           out, "AT+MIPLREADRSP=0,7,1,3303,0,5700,3,2,\"-5\",0,0");
    v = int_value(INT64_MIN);
    expect(m531x_build_readrsp(out, sizeof out, &d, 0, 7, 1, 5, 0, 26500, &v, 0,
                               0),
           out,
           "AT+MIPLREADRSP=0,7,1,5,0,26500,3,20,\"-9223372036854775808\",0,0");
    v = str_value("");
    expect(
        m531x_build_readrsp(out, sizeof out, &d, 0, 7, 1, 3, 0, 19, &v, 0, 0),
        out, "AT+MIPLREADRSP=0,7,1,3,0,19,1,0,\"\",0,0");
    /* the AIO adapter counts the quotes: this is the seed's len 7 */
    d.strlen_mode = M531X_STRLEN_QUOTED;
    v = str_value("test0");
    expect(m531x_build_readrsp(out, sizeof out, &d, 0, 54079, 1, 3, 0, 19, &v,
                               0, 0),
           out, "AT+MIPLREADRSP=0,54079,1,3,0,19,1,7,\"test0\",0,0");
    expect(m531x_build_readrsp(out, sizeof out, &d, 255, M531X_MSGID_MAX, 1,
                               65535, 65535, 65535, &v, 65535, 2),
           out,
           "AT+MIPLREADRSP=255,2147483647,1,65535,65535,65535,1,7,"
           "\"test0\",65535,2");
}

static void readrsp_rejects(void **state)
{
    struct m531x_dialect d = dialect();
    struct m531x_value v = int_value(1);
    struct m531x_value bad;
    char out[M531X_CMD_MAX];

    (void)state;
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 256, 1, 1, 3, 0, 9, &v, 0, 0),
        GW_E_RANGE);
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, -1, 1, 3, 0, 9, &v, 0, 0),
        GW_E_RANGE);
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 3, 3, 0, 9, &v, 0, 0),
        GW_E_RANGE);
    assert_int_equal(m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 65536, 0,
                                         9, &v, 0, 0),
                     GW_E_RANGE);
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 3, 0, -1, &v, 0, 0),
        GW_E_RANGE);
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 3, 0, 9, &v, -1, 0),
        GW_E_RANGE);
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 3, 0, 9, &v, 0, 3),
        GW_E_RANGE);
    bad = str_value("a\"b");
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 3, 0, 19, &bad, 0, 0),
        GW_E_INVAL);
    bad = str_value("a\nb");
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 3, 0, 19, &bad, 0, 0),
        GW_E_INVAL);
    bad = str_value(NULL);
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 3, 0, 19, &bad, 0, 0),
        GW_E_INVAL);
    bad.type = M531X_TYPE_OPAQUE;
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 5, 0, 0, &bad, 0, 0),
        GW_E_INVAL);
    bad.type = M531X_TYPE_FLOAT;
    assert_int_equal(
        m531x_build_readrsp(out, sizeof out, &d, 0, 1, 1, 5, 0, 0, &bad, 0, 0),
        GW_E_INVAL);
}

static void nospace_leaves_nothing(void **state)
{
    static const char want[] = "AT+MIPLREADRSP=0,54078,1,3,0,26261,3,3,"
                               "\"256\",0,0";
    struct m531x_dialect d = dialect();
    struct m531x_value v = int_value(256);
    char *out = malloc(sizeof want);

    (void)state;
    assert_non_null(out);
    /* exactly enough: the text and its NUL */
    expect(m531x_build_readrsp(out, sizeof want, &d, 0, 54078, 1, 3, 0, 26261,
                               &v, 0, 0),
           out, want);
    /* one byte short */
    assert_int_equal(m531x_build_readrsp(out, sizeof want - 1, &d, 0, 54078, 1,
                                         3, 0, 26261, &v, 0, 0),
                     GW_E_NOSPACE);
    assert_string_equal(out, "");
    assert_int_equal(m531x_build_sota(NULL, 0, 1), GW_E_NOSPACE);
    assert_int_equal(m531x_build_sotaver(out, 5, "test0"), GW_E_NOSPACE);
    assert_string_equal(out, "");
    free(out);
}

static void sotaver(void **state)
{
    char out[M531X_CMD_MAX];
    char longest[M531X_VERSION_MAX + 2];
    char *exact;

    (void)state;
    expect(m531x_build_sotaver(out, sizeof out, "test000"), out,
           "AT+MIPLSOTAVER=\"test000\"");
    expect(m531x_build_sotaver(out, sizeof out, "V1.2.3 build 7"), out,
           "AT+MIPLSOTAVER=\"V1.2.3 build 7\"");
    memset(longest, 'v', M531X_VERSION_MAX);
    longest[M531X_VERSION_MAX] = '\0';
    assert_int_equal(m531x_build_sotaver(out, sizeof out, longest),
                     (int)strlen("AT+MIPLSOTAVER=\"\"") + M531X_VERSION_MAX);
    longest[M531X_VERSION_MAX] = 'v';
    longest[M531X_VERSION_MAX + 1] = '\0';
    assert_int_equal(m531x_build_sotaver(out, sizeof out, longest),
                     GW_E_TOOLONG);
    assert_int_equal(m531x_build_sotaver(out, sizeof out, ""), GW_E_INVAL);
    assert_int_equal(m531x_build_sotaver(out, sizeof out, "a\"b"), GW_E_INVAL);
    assert_int_equal(m531x_build_sotaver(out, sizeof out, "a\\b"), GW_E_INVAL);
    assert_int_equal(m531x_build_sotaver(out, sizeof out, "a\tb"), GW_E_INVAL);
    assert_int_equal(m531x_build_sotaver(out, sizeof out, "a\x7f"), GW_E_INVAL);
    assert_int_equal(m531x_build_sotaver(out, sizeof out, "v\xc3\xa9"),
                     GW_E_INVAL);
    /* an over-long version without a NUL in reach is not over-read */
    exact = exact_copy(longest, M531X_VERSION_MAX + 1);
    assert_int_equal(m531x_build_sotaver(out, sizeof out, exact), GW_E_TOOLONG);
    free(exact);
}

static void lifecycle_commands(void **state)
{
    struct m531x_dialect d = dialect();
    char out[64];

    (void)state;
    expect(m531x_build_delete(out, sizeof out, &d, 0), out, "AT+MIPLDELETE=0");
    d.delete_cmd = M531X_DELETE_MIPLDEL;
    expect(m531x_build_delete(out, sizeof out, &d, 1), out, "AT+MIPLDEL=1");
    assert_int_equal(m531x_build_delete(out, sizeof out, &d, 256), GW_E_RANGE);
    expect(m531x_build_open(out, sizeof out, 0, 86400, 30), out,
           "AT+MIPLOPEN=0,86400,30");
    assert_int_equal(m531x_build_open(out, sizeof out, 0, 0, 60), GW_E_RANGE);
    assert_int_equal(m531x_build_open(out, sizeof out, 0, 600, 0), GW_E_RANGE);
    assert_int_equal(m531x_build_open(out, sizeof out, -1, 600, 60),
                     GW_E_RANGE);
    expect(m531x_build_update(out, sizeof out, 0, 3600, 1), out,
           "AT+MIPLUPDATE=0,3600,1");
    assert_int_equal(m531x_build_update(out, sizeof out, 0, 0, 2), GW_E_RANGE);
    assert_int_equal(m531x_build_update(out, sizeof out, 0, -1, 0), GW_E_RANGE);
    expect(m531x_build_close(out, sizeof out, 0), out, "AT+MIPLCLOSE=0");
    assert_int_equal(m531x_build_close(out, sizeof out, 300), GW_E_RANGE);
}

static void rsp_commands(void **state)
{
    char out[64];

    (void)state;
    expect(m531x_build_readrsp_error(out, sizeof out, 0, 54078,
                                     M531X_RESULT_NOT_FOUND),
           out, "AT+MIPLREADRSP=0,54078,13");
    expect(
        m531x_build_observersp(out, sizeof out, 0, 69234, M531X_RESULT_CONTENT),
        out, "AT+MIPLOBSERVERSP=0,69234,1");
    expect(m531x_build_writersp(out, sizeof out, 0, 17507,
                                M531X_RESULT_BAD_REQUEST),
           out, "AT+MIPLWRITERSP=0,17507,11");
    expect(m531x_build_executersp(out, sizeof out, 0, 27511,
                                  M531X_RESULT_NOT_ACCEPTABLE),
           out, "AT+MIPLEXECUTERSP=0,27511,15");
    assert_int_equal(m531x_build_executersp(out, sizeof out, 0, -1, 2),
                     GW_E_RANGE);
    assert_int_equal(m531x_build_writersp(out, sizeof out, 0, 1, 0),
                     GW_E_RANGE);
    assert_int_equal(m531x_build_writersp(out, sizeof out, 0, 1, 20),
                     GW_E_RANGE);
    assert_int_equal(m531x_build_observersp(out, sizeof out, 256, 1, 1),
                     GW_E_RANGE);
    expect(m531x_build_sota(out, sizeof out, 4), out, "AT+MIPLSOTA=4");
    assert_int_equal(m531x_build_sota(out, sizeof out, 256), GW_E_RANGE);
    assert_int_equal(m531x_build_sota(out, sizeof out, -1), GW_E_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dialect_defaults),
        cmocka_unit_test(dialect_check_rejects),
        cmocka_unit_test(simple_commands),
        cmocka_unit_test(seed_commands_byte_exact),
        cmocka_unit_test(readrsp_values),
        cmocka_unit_test(readrsp_rejects),
        cmocka_unit_test(nospace_leaves_nothing),
        cmocka_unit_test(sotaver),
        cmocka_unit_test(lifecycle_commands),
        cmocka_unit_test(rsp_commands),
    };

    return cmocka_run_group_tests_name("m531x_build", tests, NULL, NULL);
}
