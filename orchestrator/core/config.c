/* config.c: INI text -> validated struct gw_config.
 *
 * Design. libinih splits lines into section / key / value and handles
 * comments. We feed it through our own line reader (ini_parse_stream), which
 * lets us do what inih cannot: count lines for every message, enforce the
 * line cap and reject control bytes, see section headers even when the
 * section has no keys (an empty unknown or [target] section is an error),
 * and strip indentation so that inih never treats a line as a continuation
 * of the previous value. The handler then dispatches each key through the
 * const key_defs[] table: one typed parser per key, with its range and the
 * offset of its field. Cross-key rules (defaults derived from state_dir,
 * backoff min <= max, TLS cert and key together) run once after the parse.
 *
 * The first error is kept and stops the parse: a later message caused by
 * the first would only confuse. */
#include "orch/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "gw/compiler.h"
#include "gw/err.h"
#include "gw/imei.h"
#include "gw/parse.h"

#define WHY_MAX 200

/* ---- the key table ----------------------------------------------------- */

enum section_id {
    SEC_NONE,
    SEC_GATEWAY,
    SEC_MODEMS,
    SEC_DIALECT,
    SEC_WEB,
    SEC_POLICY,
    SEC_TARGET
};

static const char *const section_names[] = {
    [SEC_NONE] = "",         [SEC_GATEWAY] = "gateway",
    [SEC_MODEMS] = "modems", [SEC_DIALECT] = "dialect",
    [SEC_WEB] = "web",       [SEC_POLICY] = "policy",
    [SEC_TARGET] = "target",
};

struct key_def;

/* Parse value into dst (the field at key->offset); on error write the
 * reason into w. */
typedef int key_parse_fn(const struct key_def *key, const char *value,
                         void *dst, char *w, size_t wcap);

struct key_def {
    enum section_id section;
    const char *name;
    key_parse_fn *parse;
    size_t offset;
    unsigned long long min; /* numbers */
    unsigned long long max;
    const char *const *names; /* enums: value names, index = value */
    size_t nnames;
};

/* The number in value within the key's range, or an error in w. */
static int key_number(const struct key_def *k, const char *v,
                      unsigned long long *n, char *w, size_t wcap)
{
    if (gw_parse_uint(v, k->min, k->max, n) < 0)
        return gw_reason(w, wcap, GW_E_RANGE,
                         "must be a whole number in %llu..%llu", k->min,
                         k->max);
    return 0;
}

static int parse_uint(const struct key_def *k, const char *v, void *dst,
                      char *w, size_t wcap)
{
    unsigned long long n;
    int rc = key_number(k, v, &n, w, wcap);

    if (rc == 0)
        *(unsigned *)dst = (unsigned)n;
    return rc;
}

static int parse_u64(const struct key_def *k, const char *v, void *dst, char *w,
                     size_t wcap)
{
    unsigned long long n;
    int rc = key_number(k, v, &n, w, wcap);

    if (rc == 0)
        *(uint64_t *)dst = (uint64_t)n;
    return rc;
}

/* struct m531x_dialect keeps the AT+MIPLSOTA values as int. */
static int parse_int(const struct key_def *k, const char *v, void *dst, char *w,
                     size_t wcap)
{
    unsigned long long n;
    int rc = key_number(k, v, &n, w, wcap);

    if (rc == 0)
        *(int *)dst = (int)n;
    return rc;
}

static int parse_baud(const struct key_def *k, const char *v, void *dst,
                      char *w, size_t wcap)
{
    unsigned long long n;

    GW_UNUSED(k);
    if (gw_parse_uint(v, 1, 10000000, &n) < 0 || !mb_baud_valid((unsigned)n))
        return gw_reason(
            w, wcap, GW_E_RANGE,
            "must be a standard rate: 1200, 2400, 4800, 9600, 19200,"
            " 38400, 57600, 115200, 230400, 460800 or 921600");
    *(unsigned *)dst = (unsigned)n;
    return 0;
}

/* Enum fields are written as int: the enums here have int-sized,
 * non-negative values (checked below). */
static int parse_enum(const struct key_def *k, const char *v, void *dst,
                      char *w, size_t wcap)
{
    char list[WHY_MAX / 2] = "";
    size_t used = 0;

    for (size_t i = 0; i < k->nnames; i++) {
        if (strcmp(v, k->names[i]) == 0) {
            *(int *)dst = (int)i;
            return 0;
        }
    }
    for (size_t i = 0; i < k->nnames && used < sizeof list; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s",
                         i == 0               ? ""
                         : i + 1 == k->nnames ? " or "
                                              : ", ",
                         k->names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return gw_reason(w, wcap, GW_E_INVAL, "must be %s", list);
}

static int parse_bool(const struct key_def *k, const char *v, void *dst,
                      char *w, size_t wcap)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    GW_UNUSED(k);
    for (size_t i = 0; i < GW_ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *(int *)dst = strcmp(v, yes[i]) == 0;
            return 0;
        }
    }
    return gw_reason(w, wcap, GW_E_INVAL, "must be true or false");
}

/* A path: absolute, or (when k->min is 1) relative to state_dir, resolved
 * after the parse. No control characters (checked by the line reader). */
static int parse_path(const struct key_def *k, const char *v, void *dst,
                      char *w, size_t wcap)
{
    size_t len = strlen(v);

    if (len == 0)
        return gw_reason(w, wcap, GW_E_INVAL, "must not be empty");
    if (v[0] != '/' && k->min == 0)
        return gw_reason(w, wcap, GW_E_INVAL, "must be an absolute path");
    if (len >= GW_CONFIG_PATH_MAX)
        return gw_reason(w, wcap, GW_E_RANGE, "longer than %d characters",
                         GW_CONFIG_PATH_MAX - 1);
    memcpy(dst, v, len + 1);
    return 0;
}

static int parse_ports(const struct key_def *k, const char *v, void *dst,
                       char *w, size_t wcap)
{
    struct gw_config_modems *m = dst;
    const char *p = v;

    GW_UNUSED(k);
    m->nports = 0;
    for (;;) {
        size_t len;

        p += strspn(p, " ,\t");
        if (*p == '\0')
            break;
        len = strcspn(p, " ,\t");
        if (m->nports == GW_CONFIG_PORTS_MAX)
            return gw_reason(w, wcap, GW_E_RANGE, "more than %d port patterns",
                             GW_CONFIG_PORTS_MAX);
        if (p[0] != '/')
            return gw_reason(w, wcap, GW_E_INVAL,
                             "port pattern '%.*s' is not an absolute path",
                             (int)(len > 64 ? 64 : len), p);
        if (len >= GW_CONFIG_PATH_MAX)
            return gw_reason(w, wcap, GW_E_RANGE, "port pattern too long");
        memcpy(m->ports[m->nports], p, len);
        m->ports[m->nports][len] = '\0';
        m->nports++;
        p += len;
    }
    if (m->nports == 0)
        return gw_reason(w, wcap, GW_E_INVAL, "no port pattern given");
    return 0;
}

static int parse_listen(const struct key_def *k, const char *v, void *dst,
                        char *w, size_t wcap)
{
    struct gw_config_web *web = dst;

    GW_UNUSED(k);
    return gw_parse_host_port(v, web->listen_host, sizeof web->listen_host,
                              &web->listen_port, 1, w, wcap);
}

/* The module reboot command of the registration escalation: "" or "none"
 * for none, else AT followed by printable characters without quotes. */
static int parse_reboot(const struct key_def *k, const char *v, void *dst,
                        char *w, size_t wcap)
{
    char *out = dst;
    size_t cap = sizeof((struct gw_config_modems *)0)->reboot_cmd;
    size_t len = strlen(v);

    GW_UNUSED(k);
    if (len == 0 || strcmp(v, "none") == 0) {
        out[0] = '\0';
        return 0;
    }
    if (len >= cap || strncmp(v, "AT", 2) != 0) {
        snprintf(w, wcap,
                 "not an AT command of at most %zu characters, or none",
                 cap - 1);
        return -1;
    }
    for (const char *c = v; *c != '\0'; c++)
        if (*c <= ' ' || *c > '~' || *c == '"') {
            snprintf(w, wcap, "blank, quote or control character");
            return -1;
        }
    memcpy(out, v, len + 1);
    return 0;
}

static const char *const log_level_names[] = {
    [GW_LOG_ERR] = "error",
    [GW_LOG_WARN] = "warn",
    [GW_LOG_INFO] = "info",
    [GW_LOG_DEBUG] = "debug",
};
static const char *const strlen_names[] = {
    [M531X_STRLEN_CHARS] = "chars",
    [M531X_STRLEN_QUOTED] = "quoted",
};
static const char *const opaque_names[] = {
    [M531X_OPAQUE_AUTO] = "auto",
    [M531X_OPAQUE_BYTES] = "bytes",
    [M531X_OPAQUE_HEX] = "hex",
};
static const char *const delete_names[] = {
    [M531X_DELETE_MIPLDELETE] = "MIPLDELETE",
    [M531X_DELETE_MIPLDEL] = "MIPLDEL",
};

_Static_assert(sizeof(enum gw_log_level) == sizeof(int) &&
                   sizeof(enum m531x_strlen_mode) == sizeof(int) &&
                   sizeof(enum m531x_opaque_len) == sizeof(int) &&
                   sizeof(enum m531x_delete_cmd) == sizeof(int),
               "enum fields are written as int");

#define OFF(field) offsetof(struct gw_config, field)
#define NUM(sec, key, field, lo, hi)                                           \
    {                                                                          \
        sec, key, parse_uint, OFF(field), lo, hi, NULL, 0                      \
    }
#define ENUM(sec, key, field, names)                                           \
    {                                                                          \
        sec, key, parse_enum, OFF(field), 0, 0, names, GW_ARRAY_LEN(names)     \
    }

/* Relative paths allowed (min = 1): resolved against state_dir. */
static const struct key_def key_defs[] = {
    {SEC_GATEWAY, "state_dir", parse_path, OFF(gateway.state_dir), 0, 0, NULL,
     0},
    {SEC_GATEWAY, "db", parse_path, OFF(gateway.db), 1, 0, NULL, 0},
    ENUM(SEC_GATEWAY, "log_level", gateway.log_level, log_level_names),

    {SEC_MODEMS, "ports", parse_ports, OFF(modems), 0, 0, NULL, 0},
    {SEC_MODEMS, "baud", parse_baud, OFF(modems.baud), 0, 0, NULL, 0},
    NUM(SEC_MODEMS, "lifetime", modems.lifetime_s, 20, 86400),
    NUM(SEC_MODEMS, "open_timeout", modems.open_timeout_s, 1, 600),
    NUM(SEC_MODEMS, "keepalive", modems.keepalive_pct, 10, 90),
    NUM(SEC_MODEMS, "reg_retries", modems.reg_retries, 0, 20),
    NUM(SEC_MODEMS, "late_event", modems.late_event_s, 0, 3600),
    {SEC_MODEMS, "reboot_command", parse_reboot, OFF(modems.reboot_cmd), 0, 0,
     NULL, 0},
    NUM(SEC_MODEMS, "reboot_timeout", modems.reboot_timeout_s, 1, 600),
    NUM(SEC_MODEMS, "reg_fail_backoff", modems.reg_fail_backoff_s, 60, 86400),
    NUM(SEC_MODEMS, "readings", modems.readings_s, 10, 3600),

    {SEC_DIALECT, "sota_erase_ok", parse_int, OFF(dialect.sota_erase_ok), 0,
     255, NULL, 0},
    {SEC_DIALECT, "sota_erase_fail", parse_int, OFF(dialect.sota_erase_fail), 0,
     255, NULL, 0},
    {SEC_DIALECT, "sota_write_ok", parse_int, OFF(dialect.sota_write_ok), 0,
     255, NULL, 0},
    {SEC_DIALECT, "sota_write_fail", parse_int, OFF(dialect.sota_write_fail), 0,
     255, NULL, 0},
    ENUM(SEC_DIALECT, "string_len", dialect.strlen_mode, strlen_names),
    ENUM(SEC_DIALECT, "opaque_len", dialect.opaque_len, opaque_names),
    ENUM(SEC_DIALECT, "delete_command", dialect.delete_cmd, delete_names),

    {SEC_WEB, "listen", parse_listen, OFF(web), 0, 0, NULL, 0},
    {SEC_WEB, "token", parse_path, OFF(web.token_file), 1, 0, NULL, 0},
    {SEC_WEB, "read_requires_token", parse_bool, OFF(web.read_requires_token),
     0, 0, NULL, 0},
    {SEC_WEB, "tls_cert", parse_path, OFF(web.tls_cert), 0, 0, NULL, 0},
    {SEC_WEB, "tls_key", parse_path, OFF(web.tls_key), 0, 0, NULL, 0},

    NUM(SEC_POLICY, "downloads_per_hub", policy.downloads_per_hub, 1, 64),
    NUM(SEC_POLICY, "flash_per_bus", policy.flash_per_bus, 1, 16),
    NUM(SEC_POLICY, "job_stall_timeout", policy.job_stall_timeout_s, 60, 86400),
    NUM(SEC_POLICY, "retry_budget", policy.retry_budget, 0, 100),
    NUM(SEC_POLICY, "retry_backoff_min", policy.retry_backoff_min_s, 1, 86400),
    NUM(SEC_POLICY, "retry_backoff_max", policy.retry_backoff_max_s, 1, 86400),
    {SEC_POLICY, "min_staging_free_kib", parse_u64,
     OFF(policy.min_staging_free_kib), 0, 1ull << 32, NULL, 0},
};

#define KEY_COUNT GW_ARRAY_LEN(key_defs)

static void set_defaults(struct gw_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->gateway.state_dir, sizeof c->gateway.state_dir,
             "/var/lib/sotagw");
    c->gateway.log_level = GW_LOG_INFO;
    c->modems.baud = 115200;
    c->modems.lifetime_s = 600;
    c->modems.open_timeout_s = 60;
    c->modems.keepalive_pct = 55;
    c->modems.reg_retries = 3;
    c->modems.late_event_s = 60;
    snprintf(c->modems.reboot_cmd, sizeof c->modems.reboot_cmd, "AT+CMRB");
    c->modems.reboot_timeout_s = 60;
    c->modems.reg_fail_backoff_s = 1800;
    c->modems.readings_s = 300;
    m531x_dialect_default(&c->dialect);
    snprintf(c->web.listen_host, sizeof c->web.listen_host, "127.0.0.1");
    c->web.listen_port = 8080;
    c->web.read_requires_token = 1;
    c->policy.downloads_per_hub = 8;
    c->policy.flash_per_bus = 1;
    c->policy.job_stall_timeout_s = 1800;
    c->policy.retry_budget = 5;
    c->policy.retry_backoff_min_s = 30;
    c->policy.retry_backoff_max_s = 3600;
    c->policy.min_staging_free_kib = 16384;
}

/* ---- the parse --------------------------------------------------------- */

struct parse_ctx {
    struct gw_config *cfg;
    const char *file;
    const char *text;
    size_t len;
    size_t pos;
    unsigned line;   /* of the line inih is handling */
    size_t line_cap; /* longest line we accept */
    enum section_id section;
    struct gw_config_target *target; /* current [target ...], or NULL */
    unsigned target_uri_line;        /* 0 until uri is set */
    unsigned seen[KEY_COUNT];        /* line where each key was set */
    size_t targets_cap;
    int rc; /* first error, 0 if none */
    struct gw_config_error *err;
};

static int fail_at(struct parse_ctx *p, unsigned line, int rc, const char *fmt,
                   ...) GW_PRINTF(4, 5);

static int fail_at(struct parse_ctx *p, unsigned line, int rc, const char *fmt,
                   ...)
{
    char reason[GW_CONFIG_ERR_MAX - 220]; /* room for "FILE:LINE: " */
    va_list ap;

    if (p->rc != 0)
        return p->rc; /* keep the first */
    p->rc = rc;
    if (p->err == NULL)
        return rc;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    p->err->line = line;
    if (line > 0)
        snprintf(p->err->msg, sizeof p->err->msg, "%.200s:%u: %s", p->file,
                 line, reason);
    else
        snprintf(p->err->msg, sizeof p->err->msg, "%.200s: %s", p->file,
                 reason);
    return rc;
}

static int target_begin(struct parse_ctx *p, const char *spec)
{
    struct gw_config *c = p->cfg;
    struct gw_config_target *t;
    enum gw_target_match match;
    const char *key;

    if (strncmp(spec, "imei:", 5) == 0) {
        match = GW_TARGET_BY_IMEI;
        key = spec + 5;
        if (!gw_imei_valid(key))
            return fail_at(p, p->line, GW_E_CONFIG,
                           "[target imei:%.20s]: not a valid IMEI (15 digits"
                           " with a Luhn check digit)",
                           key);
    } else if (strncmp(spec, "port:", 5) == 0) {
        match = GW_TARGET_BY_PORT;
        key = spec + 5;
        if (key[0] != '/' || strlen(key) >= GW_CONFIG_PATH_MAX)
            return fail_at(p, p->line, GW_E_CONFIG,
                           "[target port:...]: the port must be an absolute"
                           " path under %d characters",
                           GW_CONFIG_PATH_MAX);
    } else {
        return fail_at(p, p->line, GW_E_CONFIG,
                       "target section must be [target imei:IMEI] or"
                       " [target port:PATH]");
    }
    for (size_t i = 0; i < c->ntargets; i++) {
        if (c->targets[i].match == match && strcmp(c->targets[i].key, key) == 0)
            return fail_at(p, p->line, GW_E_CONFIG,
                           "[target %s] already defined at line %u", spec,
                           c->targets[i].line);
    }
    if (c->ntargets == GW_CONFIG_TARGETS_MAX)
        return fail_at(p, p->line, GW_E_CONFIG, "more than %d targets",
                       GW_CONFIG_TARGETS_MAX);
    if (c->ntargets == p->targets_cap) {
        size_t cap = p->targets_cap == 0 ? 8 : p->targets_cap * 2;
        struct gw_config_target *grown;

        if (cap > GW_CONFIG_TARGETS_MAX)
            cap = GW_CONFIG_TARGETS_MAX;
        grown = realloc(c->targets, cap * sizeof *grown);
        if (grown == NULL)
            return fail_at(p, p->line, -ENOMEM, "out of memory");
        c->targets = grown;
        p->targets_cap = cap;
    }
    t = &c->targets[c->ntargets++];
    memset(t, 0, sizeof *t);
    t->match = match;
    memcpy(t->key, key, strlen(key) + 1);
    t->line = p->line;
    p->target = t;
    p->target_uri_line = 0;
    return 0;
}

static int target_end(struct parse_ctx *p)
{
    if (p->target != NULL && p->target_uri_line == 0)
        return fail_at(p, p->target->line, GW_E_CONFIG,
                       "target section has no uri");
    p->target = NULL;
    return 0;
}

/* A "[...]" line (already stripped of blanks around it). */
static int section_begin(struct parse_ctx *p, const char *s, size_t len)
{
    char name[GW_CONFIG_LINE_MAX + 1];
    size_t nlen;
    int rc;

    rc = target_end(p);
    if (rc < 0)
        return rc;
    if (len < 2 || s[len - 1] != ']')
        return fail_at(p, p->line, GW_E_CONFIG,
                       "section header must end with ']'");
    nlen = len - 2;
    memcpy(name, s + 1, nlen);
    name[nlen] = '\0';
    if (strncmp(name, "target ", 7) == 0) {
        p->section = SEC_TARGET;
        return target_begin(p, name + 7);
    }
    for (size_t i = SEC_GATEWAY; i < SEC_TARGET; i++) {
        if (strcmp(name, section_names[i]) == 0) {
            p->section = (enum section_id)i;
            return 0;
        }
    }
    return fail_at(p, p->line, GW_E_CONFIG,
                   "unknown section [%.64s] (known: gateway, modems, dialect,"
                   " web, policy, target imei:IMEI, target port:PATH)",
                   name);
}

/* inih's line source. Returns one line (stripped of leading blanks and the
 * line end) per call, NULL at the end or after an error. */
static char *read_line(char *buf, int num, void *stream)
{
    struct parse_ctx *p = stream;
    size_t cap = (size_t)num - 1;
    size_t start;
    size_t end;
    size_t len;

    if (p->rc != 0 || p->pos >= p->len || num < 2)
        return NULL;
    if (cap > p->line_cap)
        cap = p->line_cap;
    start = p->pos;
    end = start;
    while (end < p->len && p->text[end] != '\n')
        end++;
    p->pos = end < p->len ? end + 1 : end;
    p->line++;
    if (p->line == 1 && end - start >= 3 &&
        memcmp(p->text + start, "\xEF\xBB\xBF", 3) == 0)
        start += 3; /* UTF-8 byte order mark */
    if (end > start && p->text[end - 1] == '\r')
        end--;
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)p->text[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            fail_at(p, p->line, GW_E_CONFIG, "control character 0x%02x in line",
                    c);
            return NULL;
        }
    }
    while (start < end && (p->text[start] == ' ' || p->text[start] == '\t'))
        start++;
    len = end - start;
    if (len > cap) {
        fail_at(p, p->line, GW_E_CONFIG,
                "line is %zu characters long, at most %zu are allowed", len,
                cap);
        return NULL;
    }
    memcpy(buf, p->text + start, len);
    buf[len] = '\0';
    if (buf[0] == '[') {
        char *comment = strstr(buf, " ;");

        if (comment == NULL)
            comment = strstr(buf, "\t;");
        if (comment != NULL) {
            *comment = '\0';
            len = (size_t)(comment - buf);
        }
        while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
            buf[--len] = '\0';
        if (section_begin(p, buf, len) < 0)
            return NULL;
    }
    return buf;
}

static const struct key_def *key_find(enum section_id sec, const char *name,
                                      size_t *index)
{
    for (size_t i = 0; i < KEY_COUNT; i++) {
        if (key_defs[i].section == sec && strcmp(key_defs[i].name, name) == 0) {
            *index = i;
            return &key_defs[i];
        }
    }
    return NULL;
}

static int target_key(struct parse_ctx *p, const char *name, const char *value)
{
    char w[WHY_MAX];

    if (strcmp(name, "uri") != 0)
        return fail_at(p, p->line, GW_E_CONFIG,
                       "unknown key '%.64s' in a target section (only uri)",
                       name);
    if (p->target_uri_line != 0)
        return fail_at(p, p->line, GW_E_CONFIG,
                       "duplicate key 'uri' (first set at line %u)",
                       p->target_uri_line);
    if (mb_uri_parse(value, &p->target->uri, w, sizeof w) < 0)
        return fail_at(p, p->line, GW_E_CONFIG, "uri: %s", w);
    p->target_uri_line = p->line;
    return 0;
}

static int apply_key(struct parse_ctx *p, const char *name, const char *value)
{
    const struct key_def *k;
    size_t index = 0;
    char w[WHY_MAX];

    if (p->section == SEC_NONE)
        return fail_at(p, p->line, GW_E_CONFIG,
                       "key '%.64s' before any [section]", name);
    if (p->section == SEC_TARGET)
        return target_key(p, name, value);
    k = key_find(p->section, name, &index);
    if (k == NULL)
        return fail_at(p, p->line, GW_E_CONFIG, "unknown key '%.64s' in [%s]",
                       name, section_names[p->section]);
    if (p->seen[index] != 0)
        return fail_at(p, p->line, GW_E_CONFIG,
                       "duplicate key '%s' (first set at line %u)", name,
                       p->seen[index]);
    p->seen[index] = p->line;
    if (k->parse(k, value, (char *)p->cfg + k->offset, w, sizeof w) < 0)
        return fail_at(p, p->line, GW_E_CONFIG, "%s: %s", name, w);
    return 0;
}

/* inih's handler: nonzero means "go on". */
static int on_key(void *user, const char *section, const char *name,
                  const char *value)
{
    struct parse_ctx *p = user;

    GW_UNUSED(section); /* read_line tracks the section itself */
    if (p->rc != 0)
        return 0;
    return apply_key(p, name, value) == 0;
}

static unsigned seen_line(const struct parse_ctx *p, enum section_id sec,
                          const char *name)
{
    size_t index = 0;

    return key_find(sec, name, &index) != NULL ? p->seen[index] : 0;
}

/* A path key that may be relative: join it to state_dir. */
static int resolve_path(struct parse_ctx *p, char *path, const char *dflt,
                        const char *key, enum section_id sec)
{
    char joined[GW_CONFIG_PATH_MAX * 2];
    const char *rel = path[0] != '\0' ? path : dflt;
    int n;

    if (rel[0] == '/')
        return 0;
    n = snprintf(joined, sizeof joined, "%s/%s", p->cfg->gateway.state_dir,
                 rel);
    if (n < 0 || (size_t)n >= GW_CONFIG_PATH_MAX)
        return fail_at(p, seen_line(p, sec, key), GW_E_CONFIG,
                       "%s: state_dir/%s is longer than %d characters", key,
                       rel, GW_CONFIG_PATH_MAX - 1);
    memcpy(path, joined, (size_t)n + 1);
    return 0;
}

static int check_whole(struct parse_ctx *p)
{
    struct gw_config *c = p->cfg;
    const struct m531x_dialect *d = &c->dialect;
    const char *reason = NULL;
    unsigned line;

    if (c->modems.nports == 0)
        return fail_at(p, 0, GW_E_CONFIG,
                       "[modems] ports is required (which serial ports to"
                       " manage)");
    if (c->policy.retry_backoff_min_s > c->policy.retry_backoff_max_s) {
        line = seen_line(p, SEC_POLICY, "retry_backoff_max");
        if (line == 0)
            line = seen_line(p, SEC_POLICY, "retry_backoff_min");
        return fail_at(p, line, GW_E_CONFIG,
                       "retry_backoff_min (%u) is above retry_backoff_max"
                       " (%u)",
                       c->policy.retry_backoff_min_s,
                       c->policy.retry_backoff_max_s);
    }
    if ((c->web.tls_cert[0] == '\0') != (c->web.tls_key[0] == '\0')) {
        line = seen_line(p, SEC_WEB, "tls_cert");
        if (line == 0)
            line = seen_line(p, SEC_WEB, "tls_key");
        return fail_at(p, line, GW_E_CONFIG,
                       "tls_cert and tls_key must be given together");
    }
    if (m531x_dialect_check(d, &reason) < 0) {
        /* Blame the last of the four values the file set. */
        static const char *const sota_keys[] = {
            "sota_erase_ok",
            "sota_erase_fail",
            "sota_write_ok",
            "sota_write_fail",
        };

        line = 0;
        for (size_t i = 0; i < GW_ARRAY_LEN(sota_keys); i++) {
            unsigned l = seen_line(p, SEC_DIALECT, sota_keys[i]);

            if (l > line)
                line = l;
        }
        return fail_at(p, line, GW_E_CONFIG, "[dialect]: %s", reason);
    }
    if (resolve_path(p, c->gateway.db, "sotagw.db", "db", SEC_GATEWAY) < 0)
        return p->rc;
    return resolve_path(p, c->web.token_file, "token", "token", SEC_WEB);
}

int gw_config_parse(struct gw_config **out, const char *file_name,
                    const char *text, size_t len, struct gw_config_error *err)
{
    struct parse_ctx p;
    int rc;

    *out = NULL;
    memset(&p, 0, sizeof p);
    p.file = file_name != NULL ? file_name : "(config)";
    p.text = text;
    p.len = len;
    p.line_cap = GW_CONFIG_LINE_MAX;
    p.err = err;
    if (err != NULL) {
        err->line = 0;
        err->msg[0] = '\0';
    }
    if (len > GW_CONFIG_FILE_MAX)
        return fail_at(&p, 0, GW_E_TOOLONG, "file is over %d bytes",
                       GW_CONFIG_FILE_MAX);
    p.cfg = malloc(sizeof *p.cfg);
    if (p.cfg == NULL)
        return fail_at(&p, 0, -ENOMEM, "out of memory");
    set_defaults(p.cfg);

    rc = ini_parse_stream(read_line, &p, on_key, &p);
    if (p.rc == 0 && rc > 0)
        fail_at(&p, (unsigned)rc, GW_E_CONFIG,
                "expected 'key = value', '[section]' or a comment");
    else if (p.rc == 0 && rc < 0)
        fail_at(&p, 0, -ENOMEM, "out of memory");
    if (p.rc == 0)
        target_end(&p);
    if (p.rc == 0)
        check_whole(&p);
    if (p.rc != 0) {
        gw_config_free(p.cfg);
        return p.rc;
    }
    *out = p.cfg;
    return 0;
}

void gw_config_free(struct gw_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->targets);
    free(cfg);
}

const struct gw_config_target *
gw_config_target_find(const struct gw_config *cfg, const char *imei,
                      const char *port)
{
    const struct gw_config_target *by_port = NULL;

    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct gw_config_target *t = &cfg->targets[i];

        if (t->match == GW_TARGET_BY_IMEI && imei != NULL &&
            strcmp(t->key, imei) == 0)
            return t;
        if (t->match == GW_TARGET_BY_PORT && port != NULL && by_port == NULL &&
            strcmp(t->key, port) == 0)
            by_port = t;
    }
    return by_port;
}
