/* at_frame.c: AT framing. Bytes in, classified lines out.
 *
 * Design note. One fixed buffer holds the line being assembled; nothing
 * grows. A held "+MIPLWRITE:...," line stays at the front of that buffer
 * and the next line is assembled right behind it, so the join costs no copy
 * and the joined text obeys AT_LINE_MAX by construction. When the next line
 * turns out to be a final, a URC, a command or garbage, the held part is
 * delivered alone and the new line is moved to the front of the buffer.
 *
 * Classification needs no state but the pending command's name, so the
 * framer and at_classify_line() share one function (classify_clean). Any
 * line starting with "AT" is a command, in the framer too: the module never
 * starts an unsolicited line that way, and an echo garbled on the wire
 * still names the command rather than turning into an information line.
 *
 * A tab is a control byte like any other (GARBAGE); a line of spaces only
 * is blank. Trailing spaces are ignored when a final or a held
 * "+MIPLWRITE:...," is recognised, but kept in the delivered text.
 */
#include "dio/at_frame.h"

#include <stdlib.h>
#include <string.h>

struct at_framer {
    char buf[AT_LINE_MAX + 1]; /* line being assembled, + room for NUL */
    size_t len;                /* bytes in buf */
    size_t held;               /* length of a held +MIPLWRITE head; 0 if
                                  none. The current line starts there. */
    int bad;                   /* current line has a control or non-ASCII
                                  byte */
    int discarding;            /* over-long line delivered: skip to the
                                  next line end */
    int has_pending;
    char pending[AT_CMD_NAME_MAX + 1]; /* name of the pending command,
                                          e.g. "+CGSN"; "" if unknown */
    struct at_framer_stats stats;
};

/* Lines that are URCs when they do not answer the pending command
 * (docs/M531X-REFERENCE.md sections 4, 4.1 and 7.7). Matched on the name
 * before ':'. */
static const char *const known_urc_names[] = {
    "+CEREG",  "+CSCON",   "+CGEV",     "+CFUN",      "+CPIN",      "+IP",
    "+CEDRXP", "*ATREADY", "*MATREADY", "*MATWAKEUP", "*GOTOSLEEP",
};

/* Text lines (no +NAME) that are URCs, matched as prefixes. "REBOOT_" and
 * "Neul" are the M5310-A (Hi2115) banners, [I] in reference 7.7. */
static const char *const known_urc_prefixes[] = {
    "REBOOTING",
    "NO CARRIER",
    "REBOOT_",
    "Neul",
};

/* +MIPL lines that answer a command of the same name rather than arrive
 * unsolicited. */
static const char *const mipl_answer_names[] = {
    "+MIPLCREATE",
    "+MIPLCREATEEX",
    "+MIPLVER",
};

static const char write_head[] = "+MIPLWRITE:";

/* ---- small text helpers ------------------------------------------------ */

static char ascii_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static int is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Does s[0..n) start with the NUL-terminated prefix p (exact case)? */
static int has_prefix(const char *s, size_t n, const char *p)
{
    size_t pn = strlen(p);

    return n >= pn && memcmp(s, p, pn) == 0;
}

/* Same, ignoring ASCII case. */
static int has_prefix_nocase(const char *s, size_t n, const char *p)
{
    size_t i;
    size_t pn = strlen(p);

    if (n < pn)
        return 0;
    for (i = 0; i < pn; i++) {
        if (ascii_upper(s[i]) != ascii_upper(p[i]))
            return 0;
    }
    return 1;
}

static int equal_nocase(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && has_prefix_nocase(a, an, b);
}

static int is_bad_byte(unsigned char c)
{
    return c < 0x20 || c >= 0x7f;
}

static int has_bad_byte(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (is_bad_byte((unsigned char)s[i]))
            return 1;
    }
    return 0;
}

static int is_blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] != ' ')
            return 0;
    }
    return 1;
}

static size_t trim_right(const char *s, size_t n)
{
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return n;
}

/* The name a command line sets pending: "AT+CGSN=1" -> "+CGSN",
 * "AT+CEREG?" -> "+CEREG", "ATE0" -> "E0". Empty when the text is no AT
 * command or the name does not fit. */
static void command_name(const char *cmd, size_t n,
                         char out[AT_CMD_NAME_MAX + 1])
{
    size_t i = 2;
    size_t k = 0;

    out[0] = '\0';
    if (!has_prefix_nocase(cmd, n, "AT"))
        return;
    while (i < n && cmd[i] != '=' && cmd[i] != '?' && cmd[i] != ' ') {
        if (k == AT_CMD_NAME_MAX) {
            out[0] = '\0';
            return;
        }
        out[k++] = cmd[i++];
    }
    out[k] = '\0';
}

/* The "+NAME" or "*NAME" a line starts with: its length, 0 if none. */
static size_t line_name_len(const char *s, size_t n)
{
    size_t i = 1;

    if (n < 2 || (s[0] != '+' && s[0] != '*'))
        return 0;
    while (i < n && is_name_char(s[i]))
        i++;
    return i > 1 ? i : 0;
}

/* The <n> of "+CME ERROR: <n>": 1..9 decimal digits, nothing after but
 * spaces (already trimmed). -1 when absent or not a number. */
static int parse_error_code(const char *s, size_t n)
{
    size_t i = 0;
    int code = 0;

    while (i < n && s[i] == ' ')
        i++;
    if (i == n || n - i > 9)
        return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        code = code * 10 + (s[i] - '0');
    }
    return code;
}

/* Sets out->final/code and returns 1 if s[0..n) (right-trimmed) is a
 * final result code. */
static int parse_final(const char *s, size_t n, struct at_line *out)
{
    static const struct {
        const char *prefix;
        enum at_final_kind kind;
    } errs[] = {
        {"+CME ERROR", AT_FINAL_CME_ERROR},
        {"+CMS ERROR", AT_FINAL_CMS_ERROR},
        {"+CIS ERROR", AT_FINAL_CIS_ERROR},
    };
    size_t i;

    if (n == 2 && memcmp(s, "OK", 2) == 0) {
        out->final = AT_FINAL_OK;
        return 1;
    }
    if (n == 5 && memcmp(s, "ERROR", 5) == 0) {
        out->final = AT_FINAL_ERROR;
        return 1;
    }
    for (i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        size_t pn = strlen(errs[i].prefix);

        if (!has_prefix(s, n, errs[i].prefix))
            continue;
        if (n == pn) {
            out->final = errs[i].kind;
            return 1;
        }
        if (s[pn] != ':')
            continue;
        out->final = errs[i].kind;
        out->code = parse_error_code(s + pn + 1, n - pn - 1);
        return 1;
    }
    return 0;
}

static int name_in(const char *name, size_t n, const char *const *set,
                   size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (equal_nocase(name, n, set[i], strlen(set[i])))
            return 1;
    }
    return 0;
}

/* Classify a line known to hold only printable ASCII. pending is the
 * pending command's name ("" if unknown), or NULL when none is pending. */
static void classify_clean(const char *s, size_t n, const char *pending,
                           struct at_line *out)
{
    size_t t = trim_right(s, n);
    size_t name_len;
    size_t i;

    out->text = s;
    out->len = n;
    out->final = AT_FINAL_NONE;
    out->code = -1;

    if (parse_final(s, t, out)) {
        out->kind = AT_LINE_FINAL;
        return;
    }
    if (has_prefix_nocase(s, t, "AT")) {
        out->kind = AT_LINE_COMMAND;
        return;
    }
    name_len = line_name_len(s, t);
    if (name_len > 0) {
        int answers = pending != NULL &&
                      equal_nocase(s, name_len, pending, strlen(pending));

        if (has_prefix(s, name_len, "+MIPL")) {
            answers = answers && name_in(s, name_len, mipl_answer_names,
                                         sizeof mipl_answer_names /
                                             sizeof mipl_answer_names[0]);
            out->kind = answers ? AT_LINE_INFO : AT_LINE_URC;
            return;
        }
        if (answers) {
            out->kind = AT_LINE_INFO;
            return;
        }
        if (name_in(s, name_len, known_urc_names,
                    sizeof known_urc_names / sizeof known_urc_names[0])) {
            out->kind = AT_LINE_URC;
            return;
        }
    }
    for (i = 0; i < sizeof known_urc_prefixes / sizeof known_urc_prefixes[0];
         i++) {
        if (has_prefix(s, t, known_urc_prefixes[i])) {
            out->kind = AT_LINE_URC;
            return;
        }
    }
    out->kind = pending != NULL ? AT_LINE_INFO : AT_LINE_UNKNOWN;
}

/* ---- the framer -------------------------------------------------------- */

struct at_framer *at_framer_new(void)
{
    struct at_framer *fr = calloc(1, sizeof *fr);

    return fr;
}

void at_framer_free(struct at_framer *fr)
{
    free(fr);
}

void at_framer_reset(struct at_framer *fr)
{
    fr->len = 0;
    fr->held = 0;
    fr->bad = 0;
    fr->discarding = 0;
    fr->has_pending = 0;
    fr->pending[0] = '\0';
}

void at_framer_set_pending(struct at_framer *fr, const char *cmd)
{
    if (cmd == NULL) {
        fr->has_pending = 0;
        fr->pending[0] = '\0';
        return;
    }
    fr->has_pending = 1;
    command_name(cmd, strlen(cmd), fr->pending);
}

int at_framer_pending(const struct at_framer *fr)
{
    return fr->has_pending;
}

const struct at_framer_stats *at_framer_stats(const struct at_framer *fr)
{
    return &fr->stats;
}

static void deliver(struct at_framer *fr, struct at_line *line, at_line_fn *cb,
                    void *ctx)
{
    fr->stats.lines++;
    if (line->kind == AT_LINE_GARBAGE)
        fr->stats.garbage++;
    else if (line->kind == AT_LINE_OVERLONG)
        fr->stats.overlong++;
    cb(line, ctx);
}

static void deliver_plain(struct at_framer *fr, enum at_line_kind kind,
                          const char *text, size_t len, at_line_fn *cb,
                          void *ctx)
{
    struct at_line line;

    line.kind = kind;
    line.final = AT_FINAL_NONE;
    line.code = -1;
    line.text = text;
    line.len = len;
    deliver(fr, &line, cb, ctx);
}

/* Deliver the held head alone and move the current line to the front. */
static void release_held(struct at_framer *fr, at_line_fn *cb, void *ctx)
{
    size_t start = fr->held;
    size_t n = fr->len - start;
    char save = fr->buf[start];

    fr->buf[start] = '\0';
    fr->held = 0;
    deliver_plain(fr, AT_LINE_URC, fr->buf, start, cb, ctx);
    fr->buf[start] = save;
    memmove(fr->buf, fr->buf + start, n);
    fr->len = n;
    fr->buf[n] = '\0';
}

static void end_line(struct at_framer *fr, at_line_fn *cb, void *ctx)
{
    struct at_line line;
    const char *pending = fr->has_pending ? fr->pending : NULL;
    size_t start = fr->held;

    if (is_blank(fr->buf + start, fr->len - start)) {
        fr->len = start;
        fr->bad = 0;
        return;
    }
    fr->buf[fr->len] = '\0';
    if (start > 0) {
        if (!fr->bad) {
            classify_clean(fr->buf + start, fr->len - start, pending, &line);
            if (line.kind != AT_LINE_FINAL && line.kind != AT_LINE_URC &&
                line.kind != AT_LINE_COMMAND) {
                fr->held = 0;
                deliver_plain(fr, AT_LINE_URC, fr->buf, fr->len, cb, ctx);
                fr->len = 0;
                return;
            }
        }
        release_held(fr, cb, ctx);
        pending = fr->has_pending ? fr->pending : NULL;
    }
    if (fr->bad) {
        deliver_plain(fr, AT_LINE_GARBAGE, fr->buf, fr->len, cb, ctx);
        fr->len = 0;
        fr->bad = 0;
        return;
    }
    if (has_prefix(fr->buf, fr->len, write_head) &&
        fr->buf[trim_right(fr->buf, fr->len) - 1] == ',') {
        fr->held = fr->len;
        return;
    }
    classify_clean(fr->buf, fr->len, pending, &line);
    /* Clear before the callback: it may send the next command. */
    if (line.kind == AT_LINE_FINAL) {
        fr->has_pending = 0;
        fr->pending[0] = '\0';
    }
    fr->len = 0;
    deliver(fr, &line, cb, ctx);
}

void at_framer_feed(struct at_framer *fr, const uint8_t *data, size_t len,
                    at_line_fn *cb, void *ctx)
{
    size_t i;

    for (i = 0; i < len; i++) {
        uint8_t c = data[i];

        if (c == '\r' || c == '\n') {
            if (fr->discarding)
                fr->discarding = 0; /* resync: framing resumes here */
            else
                end_line(fr, cb, ctx);
            continue;
        }
        if (fr->discarding)
            continue;
        if (fr->len == fr->held && (c == 0x00 || c == 0xff)) {
            fr->stats.noise_bytes++;
            continue;
        }
        if (fr->len == AT_LINE_MAX) {
            fr->buf[fr->len] = '\0';
            fr->held = 0;
            fr->bad = 0;
            fr->len = 0;
            fr->discarding = 1;
            deliver_plain(fr, AT_LINE_OVERLONG, fr->buf, AT_LINE_MAX, cb, ctx);
            continue;
        }
        if (is_bad_byte(c))
            fr->bad = 1;
        fr->buf[fr->len++] = (char)c;
    }
}

void at_framer_flush(struct at_framer *fr, at_line_fn *cb, void *ctx)
{
    /* A partial line behind the held head stays, moved to the front. */
    if (fr->held > 0)
        release_held(fr, cb, ctx);
}

void at_classify_line(const char *text, size_t len, const char *pending,
                      struct at_line *out)
{
    char name[AT_CMD_NAME_MAX + 1];

    out->text = text;
    out->len = len;
    out->final = AT_FINAL_NONE;
    out->code = -1;
    if (len > AT_LINE_MAX) {
        out->kind = AT_LINE_OVERLONG;
        return;
    }
    if (has_bad_byte(text, len)) {
        out->kind = AT_LINE_GARBAGE;
        return;
    }
    if (pending != NULL)
        command_name(pending, strlen(pending), name);
    classify_clean(text, len, pending != NULL ? name : NULL, out);
}

const char *at_line_kind_name(enum at_line_kind kind)
{
    switch (kind) {
    case AT_LINE_COMMAND: return "command";
    case AT_LINE_FINAL: return "final";
    case AT_LINE_INFO: return "info";
    case AT_LINE_URC: return "urc";
    case AT_LINE_UNKNOWN: return "unknown";
    case AT_LINE_GARBAGE: return "garbage";
    case AT_LINE_OVERLONG: return "overlong";
    }
    return "?";
}

const char *at_final_kind_name(enum at_final_kind kind)
{
    switch (kind) {
    case AT_FINAL_NONE: return "none";
    case AT_FINAL_OK: return "ok";
    case AT_FINAL_ERROR: return "error";
    case AT_FINAL_CME_ERROR: return "cme_error";
    case AT_FINAL_CMS_ERROR: return "cms_error";
    case AT_FINAL_CIS_ERROR: return "cis_error";
    }
    return "?";
}
