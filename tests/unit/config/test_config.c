/* test_config.c: INI text -> struct gw_config: the example file, defaults,
 * every kind of error with its line number, URIs, IMEIs, bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw/err.h"
#include "orch/config.h"

#define IMEI_A     "861234045678904"
#define IMEI_B     "861234045678912"
#define MIN_MODEMS "[modems]\nports = /dev/ttyM*\n"

static struct gw_config *parse_ok(const char *text)
{
    struct gw_config *c = NULL;
    struct gw_config_error err;
    int rc = gw_config_parse(&c, "t.ini", text, strlen(text), &err);

    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, err.msg);
    assert_non_null(c);
    return c;
}

/* Parse text, expect failure at line (0: whole file) with `needle` in the
 * message, which must start with "t.ini:LINE: ". */
static void parse_bad(const char *text, unsigned line, const char *needle)
{
    struct gw_config *c = (struct gw_config *)&c; /* must become NULL */
    struct gw_config_error err;
    char prefix[32];
    int rc = gw_config_parse(&c, "t.ini", text, strlen(text), &err);

    if (rc == 0)
        fail_msg("parsed, but expected an error at line %u (%s):\n%s", line,
                 needle, text);
    assert_null(c);
    if (err.line != line || strstr(err.msg, needle) == NULL)
        fail_msg("want line %u with '%s', got line %u: %s", line, needle,
                 err.line, err.msg);
    if (line > 0)
        snprintf(prefix, sizeof prefix, "t.ini:%u: ", line);
    else
        snprintf(prefix, sizeof prefix, "t.ini: ");
    assert_memory_equal(err.msg, prefix, strlen(prefix));
}

static void example_file_parses(void **state)
{
    static char text[GW_CONFIG_FILE_MAX];
    FILE *fp = fopen(GW_DOCS_DIR "/sotagw.example.ini", "rb");
    size_t len;
    struct gw_config *c;
    struct gw_config_error err;
    const struct gw_config_target *t;

    (void)state;
    assert_non_null(fp);
    len = fread(text, 1, sizeof text, fp);
    fclose(fp);
    assert_int_equal(gw_config_parse(&c, "sotagw.example.ini", text, len, &err),
                     0);
    assert_string_equal(c->gateway.state_dir, "/var/lib/sotagw");
    assert_string_equal(c->gateway.db, "/var/lib/sotagw/sotagw.db");
    assert_int_equal(c->modems.nports, 1);
    assert_string_equal(c->modems.ports[0], "/dev/serial/by-path/*-port0");
    assert_int_equal(c->modems.lifetime_s, 600); /* inline comment cut */
    assert_int_equal(c->ntargets, 2);
    t = gw_config_target_find(c, IMEI_A, NULL);
    assert_non_null(t);
    assert_int_equal(t->uri.kind, MB_URI_TCP);
    assert_string_equal(t->uri.host, "192.168.10.21");
    t = gw_config_target_find(
        c, NULL, "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1.4:1.0-port0");
    assert_non_null(t);
    assert_int_equal(t->uri.kind, MB_URI_RTU);
    assert_int_equal(t->uri.unit, 17);
    gw_config_free(c);
}

static void defaults(void **state)
{
    struct gw_config *c = parse_ok(MIN_MODEMS);
    struct m531x_dialect d;

    (void)state;
    m531x_dialect_default(&d);
    assert_string_equal(c->gateway.state_dir, "/var/lib/sotagw");
    assert_string_equal(c->gateway.db, "/var/lib/sotagw/sotagw.db");
    assert_int_equal(c->gateway.log_level, GW_LOG_INFO);
    assert_int_equal(c->modems.baud, 115200);
    assert_int_equal(c->modems.lifetime_s, 600);
    assert_int_equal(c->modems.open_timeout_s, 60);
    assert_int_equal(c->modems.keepalive_pct, 55);
    assert_int_equal(c->modems.reg_retries, 3);
    assert_string_equal(c->modems.reboot_cmd, "AT+CMRB");
    assert_int_equal(c->modems.reg_fail_backoff_s, 1800);
    assert_memory_equal(&c->dialect, &d, sizeof d);
    assert_string_equal(c->web.listen_host, "127.0.0.1");
    assert_int_equal(c->web.listen_port, 8080);
    assert_string_equal(c->web.token_file, "/var/lib/sotagw/token");
    assert_int_equal(c->web.read_requires_token, 1);
    assert_string_equal(c->web.tls_cert, "");
    assert_int_equal(c->policy.downloads_per_hub, 8);
    assert_int_equal(c->policy.flash_per_bus, 1);
    assert_int_equal(c->policy.job_stall_timeout_s, 1800);
    assert_int_equal(c->policy.retry_budget, 5);
    assert_int_equal(c->policy.retry_backoff_min_s, 30);
    assert_int_equal(c->policy.retry_backoff_max_s, 3600);
    assert_int_equal(c->policy.min_staging_free_kib, 16384);
    assert_int_equal(c->ntargets, 0);
    assert_null(gw_config_target_find(c, IMEI_A, "/dev/ttyM0"));
    gw_config_free(c);
    gw_config_free(NULL);
}

static void every_key_set(void **state)
{
    struct gw_config *c = parse_ok(
        "\xEF\xBB\xBF; BOM, CRLF and indentation are fine\r\n"
        "[gateway]\r\n"
        "  state_dir = /srv/gw\r\n"
        "  db = data/gw.db\r\n"
        "  log_level = debug\r\n"
        "[modems]\n"
        "ports = /tmp/sim/ttyM*, /dev/serial/by-path/*-port0\t/dev/ttyUSB*\n"
        "baud = 9600\nlifetime = 3600\nopen_timeout = 30\n"
        "keepalive = 50\nreg_retries = 0\nlate_event = 0\n"
        "reboot_command = AT+NRB\nreboot_timeout = 30\n"
        "reg_fail_backoff = 600\nreadings = 60\n"
        "[dialect]\nsota_erase_ok = 5\nsota_erase_fail = 6\n"
        "sota_write_ok = 7\nsota_write_fail = 8\nstring_len = quoted\n"
        "opaque_len = hex\ndelete_command = MIPLDEL\n"
        "[web]\nlisten = [::1]:9443\ntoken = /etc/sotagw/token\n"
        "read_requires_token = no\ntls_cert = /etc/c.pem\n"
        "tls_key = /etc/k.pem\n"
        "[policy]\ndownloads_per_hub = 2\nflash_per_bus = 3\n"
        "job_stall_timeout = 600\nretry_budget = 0\n"
        "retry_backoff_min = 10\nretry_backoff_max = 10\n"
        "min_staging_free_kib = 0\n");

    (void)state;
    assert_string_equal(c->gateway.db, "/srv/gw/data/gw.db");
    assert_int_equal(c->gateway.log_level, GW_LOG_DEBUG);
    assert_int_equal(c->modems.nports, 3);
    assert_string_equal(c->modems.ports[0], "/tmp/sim/ttyM*");
    assert_string_equal(c->modems.ports[2], "/dev/ttyUSB*");
    assert_int_equal(c->modems.baud, 9600);
    assert_int_equal(c->modems.lifetime_s, 3600);
    assert_int_equal(c->modems.open_timeout_s, 30);
    assert_int_equal(c->modems.keepalive_pct, 50);
    assert_int_equal(c->modems.reg_retries, 0);
    assert_int_equal(c->modems.late_event_s, 0);
    assert_string_equal(c->modems.reboot_cmd, "AT+NRB");
    assert_int_equal(c->modems.reboot_timeout_s, 30);
    assert_int_equal(c->modems.reg_fail_backoff_s, 600);
    assert_int_equal(c->modems.readings_s, 60);
    assert_int_equal(c->dialect.sota_erase_ok, 5);
    assert_int_equal(c->dialect.sota_write_fail, 8);
    assert_int_equal(c->dialect.strlen_mode, M531X_STRLEN_QUOTED);
    assert_int_equal(c->dialect.opaque_len, M531X_OPAQUE_HEX);
    assert_int_equal(c->dialect.delete_cmd, M531X_DELETE_MIPLDEL);
    assert_string_equal(c->web.listen_host, "::1");
    assert_int_equal(c->web.listen_port, 9443);
    assert_string_equal(c->web.token_file, "/etc/sotagw/token");
    assert_int_equal(c->web.read_requires_token, 0);
    assert_string_equal(c->web.tls_key, "/etc/k.pem");
    assert_int_equal(c->policy.downloads_per_hub, 2);
    assert_int_equal(c->policy.flash_per_bus, 3);
    assert_int_equal(c->policy.retry_budget, 0);
    assert_int_equal(c->policy.min_staging_free_kib, 0);
    gw_config_free(c);
}

struct bad_case {
    const char *text;
    unsigned line;
    const char *needle;
};

static void bad_values(void **state)
{
    static const struct bad_case cases[] = {
        {MIN_MODEMS "[gateway]\nstate_dir = var/lib\n", 4, "absolute"},
        {MIN_MODEMS "[gateway]\nstate_dir =\n", 4, "must not be empty"},
        {MIN_MODEMS "[gateway]\nlog_level = verbose\n", 4,
         "error, warn, info or debug"},
        {"[modems]\nports = /dev/ttyM*\nbaud = 9601\n", 3, "standard rate"},
        {"[modems]\nports = /dev/ttyM*\nbaud = -9600\n", 3, "standard rate"},
        {"[modems]\nports = ttyM*\n", 2, "not an absolute path"},
        {"[modems]\nports = , ,\n", 2, "no port pattern"},
        {"[modems]\nports = /dev/ttyM*\nlifetime = 19\n", 3, "20..86400"},
        {"[modems]\nports = /dev/ttyM*\nlifetime = 99999999999999999999999\n",
         3, "20..86400"},
        {"[modems]\nports = /dev/ttyM*\nlifetime = 600s\n", 3, "whole number"},
        {"[modems]\nports = /dev/ttyM*\nopen_timeout = 0\n", 3, "1..600"},
        {"[modems]\nports = /dev/ttyM*\nkeepalive = 95\n", 3, "10..90"},
        {"[modems]\nports = /dev/ttyM*\nreboot_command = reboot\n", 3,
         "not an AT command"},
        {"[modems]\nports = /dev/ttyM*\nreboot_command = AT+CMRB;AT\"\n", 3,
         "quote"},
        {"[modems]\nports = /dev/ttyM*\nreboot_command = "
         "AT+AVERYLONGREBOOTCOMMAND\n",
         3, "at most 23"},
        {"[modems]\nports = /dev/ttyM*\nreg_fail_backoff = 5\n", 3,
         "60..86400"},
        {MIN_MODEMS "[dialect]\nsota_erase_ok = 256\n", 4, "0..255"},
        {MIN_MODEMS "[dialect]\nsota_write_ok = 4\n", 4, "share one value"},
        {MIN_MODEMS "[dialect]\nstring_len = bytes\n", 4, "chars or quoted"},
        {MIN_MODEMS "[dialect]\nopaque_len = base64\n", 4,
         "auto, bytes or hex"},
        {MIN_MODEMS "[dialect]\ndelete_command = mipldel\n", 4,
         "MIPLDELETE or MIPLDEL"},
        {MIN_MODEMS "[web]\nlisten = 127.0.0.1\n", 4, "HOST:PORT"},
        {MIN_MODEMS "[web]\nlisten = 127.0.0.1:0\n", 4, "1..65535"},
        {MIN_MODEMS "[web]\nlisten = 127.0.0.1:65536\n", 4, "1..65535"},
        {MIN_MODEMS "[web]\nlisten = :8080\n", 4, "empty host"},
        {MIN_MODEMS "[web]\nlisten = bad_host:80\n", 4, "bad character"},
        {MIN_MODEMS "[web]\nread_requires_token = maybe\n", 4, "true or false"},
        {MIN_MODEMS "[web]\ntls_cert = /etc/c.pem\n", 4, "together"},
        {MIN_MODEMS "[web]\ntls_cert = c.pem\n", 4, "absolute"},
        {MIN_MODEMS "[policy]\nflash_per_bus = 0\n", 4, "1..16"},
        {MIN_MODEMS "[policy]\ndownloads_per_hub = 65\n", 4, "1..64"},
        {MIN_MODEMS "[policy]\nretry_budget = 101\n", 4, "0..100"},
        {MIN_MODEMS "[policy]\njob_stall_timeout = 10\n", 4, "60..86400"},
        {MIN_MODEMS "[policy]\nretry_backoff_max = 5\n"
                    "retry_backoff_min = 6\n",
         4, "above retry_backoff_max"},
        {MIN_MODEMS "[policy]\nretry_backoff_min = 4000\n", 4,
         "above retry_backoff_max"},
        {MIN_MODEMS "[policy]\nmin_staging_free_kib = 4294967297\n", 4,
         "0..4294967296"},
        {"[gateway]\nlog_level = info\n", 0, "ports is required"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_bad(cases[i].text, cases[i].line, cases[i].needle);
}

static void bad_structure(void **state)
{
    static const struct bad_case cases[] = {
        {"ports = /dev/ttyM*\n", 1, "before any [section]"},
        {MIN_MODEMS "[gatway]\nstate_dir = /x\n", 3,
         "unknown section [gatway]"},
        {MIN_MODEMS "[extra]\n", 3, "unknown section"}, /* empty */
        {MIN_MODEMS "[gateway\n", 3, "must end with ']'"},
        {MIN_MODEMS "[gateway]\nstatedir = /x\n", 4,
         "unknown key 'statedir' in [gateway]"},
        {MIN_MODEMS "[web]\nbaud = 9600\n", 4, "unknown key 'baud' in [web]"},
        {"[modems]\nports = /dev/ttyM*\nbaud = 9600\n\nbaud = 9600\n", 5,
         "duplicate key 'baud' (first set at line 3)"},
        {"[modems]\nports = /dev/a\n[gateway]\n[modems]\nports = /dev/b\n", 5,
         "duplicate key 'ports' (first set at line 2)"},
        {MIN_MODEMS "[gateway]\nthis line has no equals sign\n", 4,
         "expected 'key = value'"},
        {MIN_MODEMS "[gateway]\nlog_level = info\x01\n", 4,
         "control character 0x01"},
        {MIN_MODEMS "[target imei:" IMEI_A "]\n", 3, "has no uri"},
        {MIN_MODEMS "[target imei:" IMEI_A "]\n; comment\n[web]\n", 3,
         "has no uri"},
        {MIN_MODEMS "[target imei:861234045678905]\nuri = x\n", 3,
         "not a valid IMEI"},
        {MIN_MODEMS "[target imei:86123404567890]\n", 3, "not a valid IMEI"},
        {MIN_MODEMS "[target port:ttyUSB0]\n", 3, "absolute path"},
        {MIN_MODEMS "[target serial:1234]\n", 3, "[target imei:IMEI]"},
        {MIN_MODEMS "[target imei:" IMEI_A "]\nuri = modbus-tcp://h?unit=1\n"
                    "host = h\n",
         5, "unknown key 'host'"},
        {MIN_MODEMS "[target imei:" IMEI_A "]\nuri = modbus-tcp://h?unit=1\n"
                    "uri = modbus-tcp://h?unit=2\n",
         5, "duplicate key 'uri' (first set at line 4)"},
        {MIN_MODEMS "[target imei:" IMEI_A "]\nuri = modbus-tcp://h?unit=1\n"
                    "[target imei:" IMEI_A "]\n",
         5, "already defined at line 3"},
        {MIN_MODEMS "[target port:/dev/ttyUSB0]\nuri = modbus-tcp://h\n", 4,
         "uri: missing ?unit=N"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_bad(cases[i].text, cases[i].line, cases[i].needle);
}

static void bounds(void **state)
{
    static char text[GW_CONFIG_FILE_MAX + 64];
    struct gw_config *c = NULL;
    struct gw_config_error err;
    size_t len;

    (void)state;
    /* A NUL byte inside the text. */
    {
        static const char nul[] = MIN_MODEMS "[web]\nlisten = a\0b:80\n";

        assert_int_equal(
            gw_config_parse(&c, "t.ini", nul, sizeof nul - 1, &err),
            GW_E_CONFIG);
    }
    assert_int_equal(err.line, 4);
    assert_non_null(strstr(err.msg, "control character 0x00"));

    /* An over-long line. */
    len = (size_t)snprintf(text, sizeof text,
                           MIN_MODEMS "[gateway]\n"
                                      "state_dir = /");
    memset(text + len, 'd', 1100);
    len += 1100;
    text[len++] = '\n';
    assert_int_equal(gw_config_parse(&c, "t.ini", text, len, &err),
                     GW_E_CONFIG);
    assert_int_equal(err.line, 4);
    assert_non_null(strstr(err.msg, "characters long"));

    /* An over-long file. */
    memset(text, '\n', GW_CONFIG_FILE_MAX + 1);
    assert_int_equal(
        gw_config_parse(&c, "t.ini", text, GW_CONFIG_FILE_MAX + 1, &err),
        GW_E_TOOLONG);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.msg, "t.ini: file is over"));
    assert_null(c);

    /* Errors without an error struct still fail cleanly. */
    assert_int_equal(gw_config_parse(&c, "t.ini", "[x]\n", 4, NULL),
                     GW_E_CONFIG);
}

/* GW_CONFIG_TARGETS_MAX targets parse; one more is an error. */
static void too_many_targets(void **state)
{
    size_t cap = 128 * (GW_CONFIG_TARGETS_MAX + 2);
    char *text = malloc(cap);
    size_t len;
    struct gw_config *c = NULL;
    struct gw_config_error err;
    unsigned n;

    (void)state;
    assert_non_null(text);
    len = (size_t)snprintf(text, cap, MIN_MODEMS);
    for (n = 0; n < GW_CONFIG_TARGETS_MAX; n++)
        len += (size_t)snprintf(text + len, cap - len,
                                "[target port:/dev/ttyX%u]\n"
                                "uri = modbus-tcp://10.0.0.1?unit=%u\n",
                                n, n % 247 + 1);
    assert_int_equal(gw_config_parse(&c, "t.ini", text, len, &err), 0);
    assert_int_equal(c->ntargets, GW_CONFIG_TARGETS_MAX);
    assert_int_equal(gw_config_target_find(c, NULL, "/dev/ttyX1000")->uri.unit,
                     1000 % 247 + 1);
    gw_config_free(c);
    len += (size_t)snprintf(text + len, cap - len,
                            "[target port:/dev/ttyX%u]\n", n);
    assert_int_equal(gw_config_parse(&c, "t.ini", text, len, &err),
                     GW_E_CONFIG);
    assert_int_equal(err.line, 3 + 2 * GW_CONFIG_TARGETS_MAX);
    assert_non_null(strstr(err.msg, "more than 1024 targets"));
    free(text);
}

static void target_precedence(void **state)
{
    struct gw_config *c = parse_ok(
        MIN_MODEMS
        "[target port:/dev/ttyM1]\nuri = modbus-tcp://port-match?unit=2\n"
        "[target imei:" IMEI_B "]\nuri = modbus-tcp://imei-match?unit=3\n");
    const struct gw_config_target *t;

    (void)state;
    t = gw_config_target_find(c, IMEI_B, "/dev/ttyM1");
    assert_non_null(t);
    assert_string_equal(t->uri.host, "imei-match");
    assert_int_equal(t->line, 5);
    t = gw_config_target_find(c, IMEI_A, "/dev/ttyM1");
    assert_string_equal(t->uri.host, "port-match");
    assert_null(gw_config_target_find(c, IMEI_A, "/dev/ttyM2"));
    gw_config_free(c);
}

static void uris_good(void **state)
{
    struct mb_uri u;
    char w[128];

    (void)state;
    assert_int_equal(
        mb_uri_parse("modbus-tcp://10.1.2.3:1502?unit=247", &u, w, sizeof w),
        0);
    assert_int_equal(u.kind, MB_URI_TCP);
    assert_string_equal(u.host, "10.1.2.3");
    assert_int_equal(u.port, 1502);
    assert_int_equal(u.unit, 247);
    assert_int_equal(
        mb_uri_parse("modbus-tcp://plc-7.local?unit=1", &u, w, sizeof w), 0);
    assert_string_equal(u.host, "plc-7.local");
    assert_int_equal(u.port, 502);
    assert_int_equal(
        mb_uri_parse("modbus-tcp://[fe80::1]:5020?unit=9", &u, w, sizeof w), 0);
    assert_string_equal(u.host, "fe80::1");
    assert_int_equal(u.port, 5020);
    assert_int_equal(mb_uri_parse("modbus-rtu:///dev/ttyS1?baud=19200&parity=E"
                                  "&data=7&stop=2&unit=12",
                                  &u, w, sizeof w),
                     0);
    assert_int_equal(u.kind, MB_URI_RTU);
    assert_string_equal(u.device, "/dev/ttyS1");
    assert_int_equal(u.baud, 19200);
    assert_int_equal(u.parity, 'E');
    assert_int_equal(u.data_bits, 7);
    assert_int_equal(u.stop_bits, 2);
    assert_int_equal(u.unit, 12);
    /* Defaults 9600 8N1, parameters in any order. */
    assert_int_equal(
        mb_uri_parse("modbus-rtu:///dev/ttyUSB3?unit=4", &u, w, sizeof w), 0);
    assert_int_equal(u.baud, 9600);
    assert_int_equal(u.parity, 'N');
    assert_int_equal(u.data_bits, 8);
    assert_int_equal(u.stop_bits, 1);
}

static void uris_bad(void **state)
{
    static const struct {
        const char *uri;
        const char *needle;
    } cases[] = {
        {"", "must start with"},
        {"tcp://10.0.0.1:502?unit=1", "must start with"},
        {"modbus-tcp://10.0.0.1:502", "missing ?unit=N"},
        {"modbus-tcp://10.0.0.1:502?", "has no value"},
        {"modbus-tcp://10.0.0.1:502?unit=0", "unit must be 1..247"},
        {"modbus-tcp://10.0.0.1:502?unit=248", "unit must be 1..247"},
        {"modbus-tcp://10.0.0.1:502?unit=1&unit=2", "given twice"},
        {"modbus-tcp://10.0.0.1:502?baud=9600&unit=1", "unknown parameter"},
        {"modbus-tcp://10.0.0.1:0?unit=1", "1..65535"},
        {"modbus-tcp://10.0.0.1:70000?unit=1", "1..65535"},
        {"modbus-tcp://10.0.0.1:http?unit=1", "1..65535"},
        {"modbus-tcp://?unit=1", "empty host"},
        {"modbus-tcp://a/b:502?unit=1", "bad character"},
        {"modbus-tcp://[fe80::g]:502?unit=1", "bad IPv6"},
        {"modbus-rtu://dev/ttyS1?unit=1", "absolute path"},
        {"modbus-rtu:///?unit=1", "absolute path"},
        {"modbus-rtu:///dev/ttyS1?unit=1&baud=1000", "standard rate"},
        {"modbus-rtu:///dev/ttyS1?unit=1&parity=X", "N, E or O"},
        {"modbus-rtu:///dev/ttyS1?unit=1&parity=NE", "N, E or O"},
        {"modbus-rtu:///dev/ttyS1?unit=1&data=9", "7 or 8"},
        {"modbus-rtu:///dev/ttyS1?unit=1&stop=3", "1 or 2"},
        {"modbus-rtu:///dev/ttyS1?baud=9600", "unit=N is required"},
        {"modbus-rtu:///dev/ttyS1?unit=1&speed=9600", "unknown parameter"},
    };
    struct mb_uri u;
    char w[128];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        w[0] = '\0';
        if (mb_uri_parse(cases[i].uri, &u, w, sizeof w) >= 0)
            fail_msg("accepted '%s'", cases[i].uri);
        if (strstr(w, cases[i].needle) == NULL)
            fail_msg("'%s': want '%s', got '%s'", cases[i].uri, cases[i].needle,
                     w);
    }
}

static void imei_and_baud(void **state)
{
    (void)state;
    assert_true(gw_imei_valid(IMEI_A));
    assert_true(mb_baud_valid(9600));
    assert_true(mb_baud_valid(921600));
    assert_false(mb_baud_valid(0));
    assert_false(mb_baud_valid(9601));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(example_file_parses),
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_key_set),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(bad_structure),
        cmocka_unit_test(bounds),
        cmocka_unit_test(too_many_targets),
        cmocka_unit_test(target_precedence),
        cmocka_unit_test(uris_good),
        cmocka_unit_test(uris_bad),
        cmocka_unit_test(imei_and_baud),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
