/* decode_json.c: `sotagw decode`, the output (cmd_decode.c): one JSON
 * object per AT line the framer cuts, with the fields the M531x decoders
 * (dio/m531x.h) read from commands, URCs and answers. Bad input is
 * described in the object ("error"), never fatal. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "decode.h"
#include "dio/at_frame.h"
#include "dio/m531x.h"
#include "gw/err.h"

#define CMD_ARGS_MAX 16 /* arguments decoded from one command */

/* ---- JSON helpers -------------------------------------------------------- */

/* Sets key to a new reference, ignoring OOM (the object then lacks it). */
static void put(json_t *obj, const char *key, json_t *val)
{
    if (val != NULL)
        json_object_set_new(obj, key, val);
}

static void put_int(json_t *obj, const char *key, json_int_t v)
{
    put(obj, key, json_integer(v));
}

static void put_str(json_t *obj, const char *key, const char *s, size_t n)
{
    put(obj, key, json_stringn(s, n));
}

/* The raw line as a JSON string: as is when it is valid UTF-8, otherwise
 * with every byte >= 0x80 written as the four characters \xNN. */
static json_t *raw_string(struct decode *d, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    json_t *j = json_stringn(s, n);
    size_t o = 0;
    size_t i;

    if (j != NULL)
        return j;
    for (i = 0; i < n && o + 4 < sizeof d->esc; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x80) {
            d->esc[o++] = (char)c;
            continue;
        }
        d->esc[o++] = '\\';
        d->esc[o++] = 'x';
        d->esc[o++] = hex[c >> 4];
        d->esc[o++] = hex[c & 15];
    }
    return json_stringn(d->esc, o);
}

/* ---- commands ------------------------------------------------------------ */

struct cmd_arg {
    const char *s;
    size_t n;
    int quoted;
};

/* The argument names of the commands a gateway sends
 * (docs/M531X-REFERENCE.md 2.1-2.3). A command whose argument count falls
 * outside min..max gets an "error". */
struct cmd_spec {
    const char *name;
    size_t min, max;
    const char *fields[CMD_ARGS_MAX];
};

static const struct cmd_spec cmd_specs[] = {
    {"+MIPLREADRSP",
     3,
     11,
     {"ref", "msgid", "result", "obj", "ins", "res", "type", "len", "value",
      "index", "flag"}},
    {"+MIPLWRITERSP", 3, 3, {"ref", "msgid", "result"}},
    {"+MIPLEXECUTERSP", 3, 3, {"ref", "msgid", "result"}},
    {"+MIPLOBSERVERSP", 3, 3, {"ref", "msgid", "result"}},
    {"+MIPLPARAMETERRSP", 3, 3, {"ref", "msgid", "result"}},
    {"+MIPLDISCOVERRSP", 3, 5, {"ref", "msgid", "result", "len", "value"}},
    {"+MIPLNOTIFY",
     10,
     11,
     {"ref", "msgid", "obj", "ins", "res", "type", "len", "value", "index",
      "flag", "ackid"}},
    {"+MIPLSOTA", 1, 1, {"value"}},
    {"+MIPLSOTAVER", 1, 1, {"version"}},
    {"+MIPLOPEN", 2, 3, {"ref", "lifetime", "timeout"}},
    {"+MIPLUPDATE", 3, 3, {"ref", "lifetime", "withobj"}},
    {"+MIPLCLOSE", 1, 1, {"ref"}},
    {"+MIPLDELETE", 1, 1, {"ref"}},
    {"+MIPLDEL", 1, 1, {"ref"}},
    {"+MIPLCREATE",
     5,
     5,
     {"totalsize", "config", "index", "currentsize", "flag"}},
    {"+MIPLCREATEEX", 2, 4, {"server", "flag", "auth", "psk"}},
    {"+MIPLADDOBJ",
     6,
     6,
     {"ref", "obj", "inscount", "bitmap", "attrcount", "actcount"}},
    {"+MIPLDELOBJ", 2, 2, {"ref", "obj"}},
};

static int name_char(char c)
{
    return decode_is_digit(c) || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z') || c == '_';
}

/* Split "a,"b,c",-1" into arguments. NULL on success, else the reason. */
static const char *split_args(const char *s, size_t n, struct cmd_arg *args,
                              size_t *count)
{
    size_t at = 0;

    *count = 0;
    if (n == 0)
        return NULL;
    for (;;) {
        struct cmd_arg a = {NULL, 0, 0};

        if (*count == CMD_ARGS_MAX)
            return "more than 16 arguments";
        while (at < n && s[at] == ' ')
            at++;
        if (at < n && s[at] == '"') {
            const char *end = memchr(s + at + 1, '"', n - at - 1);

            if (end == NULL)
                return "unterminated quoted argument";
            a.s = s + at + 1;
            a.n = (size_t)(end - a.s);
            a.quoted = 1;
            at = (size_t)(end - s) + 1;
            while (at < n && s[at] == ' ')
                at++;
            if (at < n && s[at] != ',')
                return "text after a quoted argument";
        } else {
            a.s = s + at;
            while (at < n && s[at] != ',')
                at++;
            a.n = (size_t)(s + at - a.s);
            while (a.n > 0 && a.s[a.n - 1] == ' ')
                a.n--;
        }
        args[(*count)++] = a;
        if (at == n)
            return NULL;
        at++; /* the comma */
    }
}

/* An unquoted argument of 1..18 digits with an optional '-' is a number. */
static json_t *arg_json(const struct cmd_arg *a)
{
    size_t i = (a->n > 0 && a->s[0] == '-') ? 1 : 0;
    json_int_t v = 0;

    if (a->quoted || a->n == i || a->n - i > 18)
        return json_stringn(a->s, a->n);
    for (; i < a->n; i++) {
        if (!decode_is_digit(a->s[i]))
            return json_stringn(a->s, a->n);
        v = v * 10 + (a->s[i] - '0');
    }
    return json_integer(a->s[0] == '-' ? -v : v);
}

/* The name a command sets pending, as the framer computes it. */
static void command_name(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 2;
    size_t k = 0;

    while (i < n && s[i] != '=' && s[i] != '?' && s[i] != ' ' && k + 1 < cap)
        out[k++] = s[i++];
    out[k] = '\0';
}

static void decode_command(struct decode *d, const char *s, size_t n,
                           json_t *obj)
{
    json_t *fields = json_object();
    struct cmd_arg args[CMD_ARGS_MAX];
    const struct cmd_spec *spec = NULL;
    const char *err = NULL;
    const char *op;
    size_t name_end = 2;
    size_t count = 0;
    size_t i;

    command_name(s, n, d->pending, sizeof d->pending);
    if (fields == NULL)
        return;
    if (name_end < n && strchr("+*$^&%", s[name_end]) != NULL) {
        name_end++;
        while (name_end < n && name_char(s[name_end]))
            name_end++;
    } else {
        /* Basic commands (ATE0, ATI, AT): the rest is the name. */
        name_end = n;
    }
    put_str(fields, "cmd", s + 2, name_end - 2);
    if (name_end == n)
        op = "exec";
    else if (s[name_end] == '?' && name_end + 1 == n)
        op = "read";
    else if (s[name_end] == '=' && name_end + 2 == n && s[n - 1] == '?')
        op = "test";
    else if (s[name_end] == '=')
        op = "set";
    else
        op = NULL;
    if (op == NULL) {
        put(obj, "error", json_string("text after the command name"));
        put(obj, "fields", fields);
        return;
    }
    put(fields, "op", json_string(op));
    if (strcmp(op, "set") == 0)
        err = split_args(s + name_end + 1, n - name_end - 1, args, &count);
    for (i = 0; i < sizeof cmd_specs / sizeof cmd_specs[0]; i++) {
        if (strlen(cmd_specs[i].name) == name_end - 2 &&
            decode_starts_nocase(s + 2, name_end - 2, cmd_specs[i].name))
            spec = &cmd_specs[i];
    }
    if (spec != NULL && strcmp(op, "set") == 0) {
        for (i = 0; i < count && i < spec->max; i++)
            put(fields, spec->fields[i], arg_json(&args[i]));
        if (err == NULL && (count < spec->min || count > spec->max))
            err =
                count < spec->min ? "too few arguments" : "too many arguments";
    } else if (count > 0) {
        json_t *arr = json_array();

        for (i = 0; arr != NULL && i < count; i++)
            json_array_append_new(arr, arg_json(&args[i]));
        put(fields, "args", arr);
    }
    put(obj, "fields", fields);
    if (err != NULL)
        put(obj, "error", json_string(err));
}

/* ---- URCs and answers ---------------------------------------------------- */

static void decode_mipl(struct decode *d, const char *s, size_t n, json_t *obj)
{
    struct m531x_urc u;
    json_t *f;
    int rc = m531x_decode_urc(s, n, d->opaque, &u);
    const char *name;

    if (rc < 0) {
        put(obj, "error",
            json_string(u.reason != NULL ? u.reason : gw_strerror(rc)));
        return;
    }
    f = json_object();
    if (f == NULL)
        return;
    put(f, "urc", json_string(m531x_urc_kind_name(u.kind)));
    put_int(f, "ref", u.ref);
    if (u.msgid >= 0)
        put_int(f, "msgid", u.msgid);
    if (u.kind != M531X_URC_EVENT && u.kind != M531X_URC_CREATE &&
        u.kind != M531X_URC_NSMI) {
        put_int(f, "obj", u.obj);
        if (u.kind != M531X_URC_DISCOVER) {
            put_int(f, "ins", u.ins);
            put_int(f, "res", u.res);
        }
    }
    switch (u.kind) {
    case M531X_URC_READ:
        if (u.u.read.count >= 0)
            put_int(f, "count", u.u.read.count);
        break;
    case M531X_URC_WRITE:
        put_int(f, "type", u.u.write.type);
        put_int(f, "len", u.u.write.len);
        if (u.u.write.type == M531X_TYPE_OPAQUE) {
            put(f, "len_unit",
                json_string(u.u.write.len_unit == M531X_LEN_BYTES ? "bytes"
                            : u.u.write.len_unit == M531X_LEN_HEXCHARS
                                ? "hexchars"
                                : "none"));
            put_int(f, "data_len", (json_int_t)u.u.write.data_len);
        } else {
            put_str(f, "value", u.u.write.value, u.u.write.value_len);
        }
        put_int(f, "flag", u.u.write.flag);
        if (u.u.write.index >= 0)
            put_int(f, "index", u.u.write.index);
        break;
    case M531X_URC_EXECUTE:
        if (u.u.execute.len >= 0)
            put_int(f, "len", u.u.execute.len);
        put_str(f, "args", u.u.execute.args, u.u.execute.args_len);
        break;
    case M531X_URC_OBSERVE: put_int(f, "oper", u.u.observe.oper); break;
    case M531X_URC_PARAMETER:
        put_int(f, "len", u.u.parameter.len);
        put_str(f, "params", u.u.parameter.params, u.u.parameter.params_len);
        break;
    case M531X_URC_EVENT:
        put_int(f, "evt", u.u.event.evt);
        name = m531x_event_name(u.u.event.evt);
        if (name != NULL)
            put(f, "event", json_string(name));
        if (u.u.event.has_param)
            put_int(f, "param", u.u.event.param);
        break;
    case M531X_URC_NSMI:
        put_int(f, "status", u.u.nsmi.status);
        put_int(f, "num", u.u.nsmi.num);
        break;
    case M531X_URC_DISCOVER:
    case M531X_URC_CREATE: break;
    }
    put(obj, "fields", f);
}

/* "+CSQ: 20,99" -> "+CSQ" (length), 0 when the line has no such name. */
static size_t line_name(const char *s, size_t n)
{
    size_t i = 1;

    if (n < 2 || (s[0] != '+' && s[0] != '*'))
        return 0;
    while (i < n && name_char(s[i]))
        i++;
    return i > 1 ? i : 0;
}

/* A lower-case key from a name: "+CEREG" -> "cereg", "NO CARRIER" ->
 * "no_carrier". */
static json_t *name_key(const char *s, size_t n)
{
    char key[AT_CMD_NAME_MAX + 1];
    size_t k = 0;
    size_t i = (n > 0 && (s[0] == '+' || s[0] == '*')) ? 1 : 0;

    for (; i < n && k < AT_CMD_NAME_MAX; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (!name_char(c))
            c = '_';
        key[k++] = c;
    }
    return json_stringn(key, k);
}

static int name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && decode_starts_nocase(name, n, want);
}

/* Decode the answer line s for the command or URC called name. Adds the
 * values to obj->fields, or an "error". */
static void decode_answer(struct decode *d, const char *name, size_t nlen,
                          int is_urc, const char *s, size_t n, json_t *obj)
{
    json_t *f;
    char id[24];
    int v[6];
    int rc = 0;

    if (nlen > 5 && decode_starts_nocase(name, nlen, "+MIPLCREATE")) {
        decode_mipl(d, s, n, obj);
        return;
    }
    f = json_object();
    if (f == NULL)
        return;
    put(f, is_urc ? "urc" : "reply", name_key(name, nlen));
    if (name_is(name, nlen, "+CGSN") || name_is(name, nlen, "+GSN")) {
        rc = m531x_parse_cgsn(s, n, id);
        if (rc == 0)
            put(f, "imei", json_string(id));
    } else if (name_is(name, nlen, "+CIMI")) {
        rc = m531x_parse_cimi(s, n, id);
        if (rc == 0)
            put(f, "imsi", json_string(id));
    } else if (name_is(name, nlen, "+ICCID") || name_is(name, nlen, "+NCCID")) {
        rc = m531x_parse_iccid(s, n, id);
        if (rc == 0)
            put(f, "iccid", json_string(id));
    } else if (name_is(name, nlen, "+CSQ")) {
        rc = m531x_parse_csq(s, n, &v[0], &v[1]);
        if (rc == 0) {
            put_int(f, "rssi", v[0]);
            put_int(f, "ber", v[1]);
        }
    } else if (name_is(name, nlen, "+CESQ")) {
        rc = m531x_parse_cesq(s, n, v);
        if (rc == 0) {
            static const char *const keys[6] = {"rxlev", "ber",  "rscp",
                                                "ecno",  "rsrq", "rsrp"};
            size_t i;

            for (i = 0; i < 6; i++)
                put_int(f, keys[i], v[i]);
        }
    } else if (name_is(name, nlen, "+CEREG")) {
        rc = m531x_parse_cereg(s, n, !is_urc, &v[0]);
        if (rc == 0)
            put_int(f, "stat", v[0]);
    } else if (name_is(name, nlen, "+CGATT")) {
        rc = m531x_parse_cgatt(s, n, &v[0]);
        if (rc == 0)
            put_int(f, "attached", v[0]);
    } else if (name_is(name, nlen, "+MIPLVER")) {
        const char *colon = memchr(s, ':', n);

        if (colon != NULL) {
            size_t at = (size_t)(colon - s) + 1;

            while (at < n && s[at] == ' ')
                at++;
            put_str(f, "version", s + at, n - at);
        }
    }
    put(obj, "fields", f);
    if (rc < 0) {
        char why[96];

        snprintf(why, sizeof why, "bad %.*s answer: %s", (int)nlen, name,
                 gw_strerror(rc));
        put(obj, "error", json_string(why));
    }
}

/* ---- the framer's callback ----------------------------------------------- */

void decode_on_line(const struct at_line *line, void *ctx)
{
    struct decode *d = ctx;
    uint64_t no = d->start_line ? d->start_line : d->line_no;
    const char *dir = d->start_line ? d->start_dir : d->dir;
    json_t *obj = json_object();
    size_t nlen;

    d->start_line = 0;
    if (obj == NULL || d->out_failed) {
        json_decref(obj);
        return;
    }
    put_int(obj, "line", (json_int_t)no);
    if (dir != NULL)
        put(obj, "dir", json_string(dir));
    put(obj, "raw", raw_string(d, line->text, line->len));
    put(obj, "kind", json_string(at_line_kind_name(line->kind)));

    nlen = line_name(line->text, line->len);
    switch (line->kind) {
    case AT_LINE_COMMAND:
        at_framer_set_pending(d->fr, line->text);
        decode_command(d, line->text, line->len, obj);
        break;
    case AT_LINE_FINAL:
        d->pending[0] = '\0';
        put(obj, "final", json_string(at_final_kind_name(line->final)));
        if (line->final != AT_FINAL_OK && line->final != AT_FINAL_ERROR)
            put(obj, "code",
                line->code >= 0 ? json_integer(line->code) : json_null());
        break;
    case AT_LINE_URC:
        if (m531x_is_mipl_urc(line->text, line->len))
            decode_mipl(d, line->text, line->len, obj);
        else if (nlen > 0)
            decode_answer(d, line->text, nlen, 1, line->text, line->len, obj);
        else
            put(obj, "fields",
                json_pack("{s:o}", "urc",
                          name_key(line->text, strcspn(line->text, ".:"))));
        break;
    case AT_LINE_INFO:
        if (nlen > 0)
            decode_answer(d, line->text, nlen, 0, line->text, line->len, obj);
        else if (d->pending[0] != '\0')
            decode_answer(d, d->pending, strlen(d->pending), 0, line->text,
                          line->len, obj);
        break;
    case AT_LINE_UNKNOWN:
        /* No command seen (echo off, RX-only capture): still decode the
         * answers that name themselves. */
        if (nlen > 0)
            decode_answer(d, line->text, nlen, 0, line->text, line->len, obj);
        break;
    case AT_LINE_GARBAGE:
        put(obj, "error", json_string("control or non-ASCII bytes"));
        break;
    case AT_LINE_OVERLONG:
        put(obj, "error",
            json_string("line over 8192 bytes; the rest of "
                        "it was discarded"));
        break;
    }
    if (json_dumpf(obj, stdout, JSON_COMPACT) != 0 ||
        fputc('\n', stdout) == EOF)
        d->out_failed = 1;
    json_decref(obj);
}
