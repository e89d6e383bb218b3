/* test_at_frame.c: the AT framer (dio/at_frame.h).
 *
 * Every case is fed whole, one byte at a time, and split in two at every
 * offset (at a sample of offsets for the long inputs), so a split inside
 * "\r\n", inside a held +MIPLWRITE head or inside its payload is always
 * among them. Each run must deliver exactly the expected lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dio/at_frame.h"

#define MAX_LINES 64
#define SEED_PATH GW_TEST_DATA_DIR "/seed/seed-transcript.txt"

/* One expected line. text NULL: only len is checked (long lines). */
struct want {
    enum at_line_kind kind;
    enum at_final_kind final;
    int code;
    const char *text;
    size_t len;
};

struct got_line {
    enum at_line_kind kind;
    enum at_final_kind final;
    int code;
    char *text;
    size_t len;
};

struct recorder {
    struct got_line lines[MAX_LINES];
    size_t count;
    struct at_framer *fr;       /* for callbacks that set a pending cmd */
    const char *pending_on_urc; /* set this command on every URC */
};

static void record(const struct at_line *line, void *ctx)
{
    struct recorder *rec = ctx;
    struct got_line *g;

    assert_true(rec->count < MAX_LINES);
    assert_int_equal(line->text[line->len], '\0');
    g = &rec->lines[rec->count++];
    g->kind = line->kind;
    g->final = line->final;
    g->code = line->code;
    g->len = line->len;
    g->text = malloc(line->len + 1);
    assert_non_null(g->text);
    memcpy(g->text, line->text, line->len + 1);
    if (rec->pending_on_urc != NULL && line->kind == AT_LINE_URC)
        at_framer_set_pending(rec->fr, rec->pending_on_urc);
}

static void recorder_clear(struct recorder *rec)
{
    size_t i;

    for (i = 0; i < rec->count; i++)
        free(rec->lines[i].text);
    rec->count = 0;
}

static void expect_lines(const struct recorder *rec, const struct want *want,
                         size_t n, const char *how)
{
    size_t i;

    if (rec->count != n) {
        for (i = 0; i < rec->count; i++)
            print_error("got %s '%.80s'\n",
                        at_line_kind_name(rec->lines[i].kind),
                        rec->lines[i].text);
        fail_msg("%s: %zu lines, want %zu", how, rec->count, n);
    }
    for (i = 0; i < n; i++) {
        const struct got_line *g = &rec->lines[i];

        if (g->kind != want[i].kind || g->final != want[i].final ||
            g->code != want[i].code)
            fail_msg("%s: line %zu is %s/%s/%d, want %s/%s/%d", how, i,
                     at_line_kind_name(g->kind), at_final_kind_name(g->final),
                     g->code, at_line_kind_name(want[i].kind),
                     at_final_kind_name(want[i].final), want[i].code);
        if (want[i].text != NULL) {
            if (g->len != strlen(want[i].text) ||
                strcmp(g->text, want[i].text) != 0)
                fail_msg("%s: line %zu is '%.80s', want '%.80s'", how, i,
                         g->text, want[i].text);
        } else {
            assert_int_equal(g->len, want[i].len);
        }
    }
}

/* Feed in pieces: split points sorted ascending, ending at len. */
static void run_split(const uint8_t *in, size_t len, const char *pending,
                      const size_t *cuts, size_t ncuts, const struct want *want,
                      size_t nwant, const char *how,
                      struct at_framer_stats *stats_out)
{
    struct recorder rec = {0};
    struct at_framer *fr = at_framer_new();
    size_t at = 0;
    size_t i;

    assert_non_null(fr);
    rec.fr = fr;
    if (pending != NULL)
        at_framer_set_pending(fr, pending);
    for (i = 0; i < ncuts; i++) {
        at_framer_feed(fr, in + at, cuts[i] - at, record, &rec);
        at = cuts[i];
    }
    at_framer_feed(fr, in + at, len - at, record, &rec);
    expect_lines(&rec, want, nwant, how);
    if (stats_out != NULL)
        *stats_out = *at_framer_stats(fr);
    assert_int_equal(at_framer_stats(fr)->lines, nwant);
    recorder_clear(&rec);
    at_framer_free(fr);
}

/* Whole, byte by byte, and in two at every offset (every 97th above 4 KiB,
 * plus the ends and the AT_LINE_MAX boundary). */
static void check_all_splits(const uint8_t *in, size_t len, const char *pending,
                             const struct want *want, size_t nwant,
                             struct at_framer_stats *stats)
{
    struct recorder rec = {0};
    struct at_framer *fr;
    struct at_framer_stats whole;
    char how[64];
    size_t i;
    size_t step = len > 4096 ? 97 : 1;

    run_split(in, len, pending, NULL, 0, want, nwant, "whole", &whole);
    if (stats != NULL)
        *stats = whole;

    fr = at_framer_new();
    assert_non_null(fr);
    rec.fr = fr;
    if (pending != NULL)
        at_framer_set_pending(fr, pending);
    for (i = 0; i < len; i++)
        at_framer_feed(fr, in + i, 1, record, &rec);
    expect_lines(&rec, want, nwant, "byte by byte");
    assert_memory_equal(at_framer_stats(fr), &whole, sizeof whole);
    recorder_clear(&rec);
    at_framer_free(fr);

    for (i = 1; i < len; i += step) {
        snprintf(how, sizeof how, "split at %zu", i);
        run_split(in, len, pending, &i, 1, want, nwant, how, NULL);
    }
    if (len > AT_LINE_MAX + 2) {
        size_t edges[] = {AT_LINE_MAX - 1, AT_LINE_MAX, AT_LINE_MAX + 1,
                          AT_LINE_MAX + 2, len - 1};

        for (i = 0; i < sizeof edges / sizeof edges[0]; i++) {
            snprintf(how, sizeof how, "split at %zu", edges[i]);
            run_split(in, len, pending, &edges[i], 1, want, nwant, how, NULL);
        }
    }
}

/* ---- the table ----------------------------------------------------------- */

#define W_CMD(t)                                                               \
    {                                                                          \
        AT_LINE_COMMAND, AT_FINAL_NONE, -1, (t), 0                             \
    }
#define W_INFO(t)                                                              \
    {                                                                          \
        AT_LINE_INFO, AT_FINAL_NONE, -1, (t), 0                                \
    }
#define W_URC(t)                                                               \
    {                                                                          \
        AT_LINE_URC, AT_FINAL_NONE, -1, (t), 0                                 \
    }
#define W_UNK(t)                                                               \
    {                                                                          \
        AT_LINE_UNKNOWN, AT_FINAL_NONE, -1, (t), 0                             \
    }
#define W_GARB(t)                                                              \
    {                                                                          \
        AT_LINE_GARBAGE, AT_FINAL_NONE, -1, (t), 0                             \
    }
#define W_OK                                                                   \
    {                                                                          \
        AT_LINE_FINAL, AT_FINAL_OK, -1, "OK", 0                                \
    }
#define W_FIN(k, c, t)                                                         \
    {                                                                          \
        AT_LINE_FINAL, (k), (c), (t), 0                                        \
    }

/* A string literal that holds NUL bytes, with its length. */
#define BIN(s) (s), sizeof(s) - 1

struct frame_case {
    const char *name;
    const char *input;
    size_t input_len;    /* 0: strlen(input) */
    const char *pending; /* set before feeding; NULL: none */
    struct want want[12];
    size_t nwant;
    int left_pending; /* at_framer_pending() after the input */
    uint64_t noise;   /* expected noise_bytes */
};

static const struct frame_case cases[] = {
    {"empty input", "", 0, NULL, {{0}}, 0, 0, 0},
    {"blank lines only", "\r\n\r\n\n\r  \r\n", 0, NULL, {{0}}, 0, 0, 0},
    {"unterminated line is kept", "OK", 0, "AT", {{0}}, 0, 1, 0},
    {"echo on",
     "AT+CGSN=1\r\r\n+CGSN: 864215040123456\r\n\r\nOK\r\n",
     0,
     "AT+CGSN=1",
     {W_CMD("AT+CGSN=1"), W_INFO("+CGSN: 864215040123456"), W_OK},
     3,
     0,
     0},
    {"echo off",
     "\r\n+CGSN:864215040123456\r\n\r\nOK\r\n",
     0,
     "AT+CGSN=1",
     {W_INFO("+CGSN:864215040123456"), W_OK},
     2,
     0,
     0},
    {"bare info line belongs to the pending command",
     "\r\n460001234567890\r\n\r\nOK\r\n",
     0,
     "AT+CIMI",
     {W_INFO("460001234567890"), W_OK},
     2,
     0,
     0},
    {"same text without a pending command is unknown",
     "460001234567890\r\n+CSQ: 20,99\r\nhello\r\n",
     0,
     NULL,
     {W_UNK("460001234567890"), W_UNK("+CSQ: 20,99"), W_UNK("hello")},
     3,
     0,
     0},
    {"URCs between a command and its OK",
     "\r\n+MIPLEVENT:0,6\r\n+CSQ: 20,99\r\n+CEREG: 1\r\n\r\nOK\r\n",
     0,
     "AT+CSQ",
     {W_URC("+MIPLEVENT:0,6"), W_INFO("+CSQ: 20,99"), W_URC("+CEREG: 1"), W_OK},
     4,
     0,
     0},
    {"a known URC name answering the pending command is info",
     "+CEREG: 0,1\r\nOK\r\n+CEREG: 5\r\n",
     0,
     "AT+CEREG?",
     {W_INFO("+CEREG: 0,1"), W_OK, W_URC("+CEREG: 5")},
     3,
     0,
     0},
    {"+MIPLCREATE answer vs URC",
     "+MIPLREAD:0,1,3,0,19\r\n+MIPLCREATE:0\r\nOK\r\n+MIPLCREATE:0\r\n",
     0,
     "AT+MIPLCREATE",
     {W_URC("+MIPLREAD:0,1,3,0,19"), W_INFO("+MIPLCREATE:0"), W_OK,
      W_URC("+MIPLCREATE:0")},
     4,
     0,
     0},
    {"+MIPLVER and +MIPLCREATEEX answers, other +MIPL names stay URCs",
     "+MIPLVER:2.3.0\r\nOK\r\n",
     0,
     "AT+MIPLVER?",
     {W_INFO("+MIPLVER:2.3.0"), W_OK},
     2,
     0,
     0},
    {"+MIPLCREATEEX answer",
     "+MIPLCREATEEX: 0\r\nOK\r\n",
     0,
     "AT+MIPLCREATEEX=\"host:5683\",1",
     {W_INFO("+MIPLCREATEEX: 0"), W_OK},
     2,
     0,
     0},
    {"+MIPL line named like a pending *RSP is a URC",
     "+MIPLEXECUTE:0,5,5,0,2\r\nOK\r\n",
     0,
     "AT+MIPLEXECUTE",
     {W_URC("+MIPLEXECUTE:0,5,5,0,2"), W_OK},
     2,
     0,
     0},
    {"ERROR",
     "ERROR\r\n",
     0,
     "AT+X",
     {W_FIN(AT_FINAL_ERROR, -1, "ERROR")},
     1,
     0,
     0},
    {"+CME ERROR with and without space",
     "+CME ERROR: 50\r\n+CME ERROR:3\r\n",
     0,
     "AT+X",
     {W_FIN(AT_FINAL_CME_ERROR, 50, "+CME ERROR: 50"),
      W_FIN(AT_FINAL_CME_ERROR, 3, "+CME ERROR:3")},
     2,
     0,
     0},
    {"+CMS ERROR",
     "+CMS ERROR:500\r\n+CMS ERROR: 0\r\n",
     0,
     NULL,
     {W_FIN(AT_FINAL_CMS_ERROR, 500, "+CMS ERROR:500"),
      W_FIN(AT_FINAL_CMS_ERROR, 0, "+CMS ERROR: 0")},
     2,
     0,
     0},
    {"+CIS ERROR",
     "+CIS ERROR:602\r\n+CIS ERROR: 601 \r\n",
     0,
     "AT+MIPLCREATE",
     {W_FIN(AT_FINAL_CIS_ERROR, 602, "+CIS ERROR:602"),
      W_FIN(AT_FINAL_CIS_ERROR, 601, "+CIS ERROR: 601 ")},
     2,
     0,
     0},
    {"missing or odd codes are -1",
     "+CME ERROR:\r\n+CME ERROR\r\n+CME ERROR: SIM failure\r\n"
     "+CIS ERROR:1234567890\r\n+CIS ERROR:-5\r\n+CMS ERROR: 5x\r\n",
     0,
     NULL,
     {W_FIN(AT_FINAL_CME_ERROR, -1, "+CME ERROR:"),
      W_FIN(AT_FINAL_CME_ERROR, -1, "+CME ERROR"),
      W_FIN(AT_FINAL_CME_ERROR, -1, "+CME ERROR: SIM failure"),
      W_FIN(AT_FINAL_CIS_ERROR, -1, "+CIS ERROR:1234567890"),
      W_FIN(AT_FINAL_CIS_ERROR, -1, "+CIS ERROR:-5"),
      W_FIN(AT_FINAL_CMS_ERROR, -1, "+CMS ERROR: 5x")},
     6,
     0,
     0},
    {"near-finals are not finals",
     "OKAY\r\nERRORS\r\n+CME ERRORS:1\r\n",
     0,
     NULL,
     {W_UNK("OKAY"), W_UNK("ERRORS"), W_UNK("+CME ERRORS:1")},
     3,
     0,
     0},
    {"OK OK: a stray final is still a final",
     "OK\r\nOK\r\n",
     0,
     "AT",
     {W_OK, W_OK},
     2,
     0,
     0},
    {"NO CARRIER after OK is a URC",
     "\r\nOK\r\n\r\nNO CARRIER\r\n",
     0,
     "AT+MIPLSOTA=1",
     {W_OK, W_URC("NO CARRIER")},
     2,
     0,
     0},
    {"NO CARRIER never ends the pending command",
     "NO CARRIER\r\n",
     0,
     "AT+MIPLOPEN=0,600,60",
     {W_URC("NO CARRIER")},
     1,
     1,
     0},
    {"boot banners after AT+CMRB",
     "AT+CMRB\r\r\nOK\r\n\r\nREBOOTING..\r\n\r\n*ATREADY: 1\r\n\r\n"
     "+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+IP: 10.2.3.4\r\n*MATREADY: 1\r\n",
     0,
     "AT+CMRB",
     {W_CMD("AT+CMRB"), W_OK, W_URC("REBOOTING.."), W_URC("*ATREADY: 1"),
      W_URC("+CFUN: 1"), W_URC("+CPIN: READY"), W_URC("+IP: 10.2.3.4"),
      W_URC("*MATREADY: 1")},
     8,
     0,
     0},
    {"banner while a command is pending is still a URC",
     "*ATREADY: 1\r\n+CFUN: 1\r\n",
     0,
     "AT",
     {W_URC("*ATREADY: 1"), W_URC("+CFUN: 1")},
     2,
     1,
     0},
    {"held write then URC: delivered alone",
     "+MIPLWRITE:0,7,5,0,0,2,4,\r\n\r\n+MIPLEVENT:0,6\r\n",
     0,
     NULL,
     {W_URC("+MIPLWRITE:0,7,5,0,0,2,4,"), W_URC("+MIPLEVENT:0,6")},
     2,
     0,
     0},
    {"held write then final",
     "+MIPLWRITE:0,7,5,0,0,2,4,\r\nERROR\r\n",
     0,
     "AT+MIPLSOTA=1",
     {W_URC("+MIPLWRITE:0,7,5,0,0,2,4,"), W_FIN(AT_FINAL_ERROR, -1, "ERROR")},
     2,
     0,
     0},
    {"held write then command echo",
     "+MIPLWRITE:0,7,5,0,0,2,4, \r\nAT+MIPLSOTA=1\r\n",
     0,
     NULL,
     {W_URC("+MIPLWRITE:0,7,5,0,0,2,4, "), W_CMD("AT+MIPLSOTA=1")},
     2,
     0,
     0},
    {"held write then garbage",
     "+MIPLWRITE:0,7,5,0,0,2,4,\r\nAB\x01"
     "CD\r\n",
     0,
     NULL,
     {W_URC("+MIPLWRITE:0,7,5,0,0,2,4,"), W_GARB("AB\x01"
                                                 "CD")},
     2,
     0,
     0},
    {"held write joined while a command is pending",
     "+MIPLWRITE:0,7,5,0,0,2,4,\r\n\r\n\r\nC7ACF801,1\r\nOK\r\n",
     0,
     "AT+MIPLSOTA=3",
     {W_URC("+MIPLWRITE:0,7,5,0,0,2,4,C7ACF801,1"), W_OK},
     2,
     0,
     0},
    {"', ' variant is held and joined",
     "+MIPLWRITE: 0, 7, 5, 0, 0, 2, 4, \r\nC7ACF801, 0, 0\r\n",
     0,
     NULL,
     {W_URC("+MIPLWRITE: 0, 7, 5, 0, 0, 2, 4, C7ACF801, 0, 0")},
     1,
     0,
     0},
    {"empty final write is not held",
     "+MIPLWRITE:0,17507,5,0,0,2,0,,0\r\n",
     0,
     NULL,
     {W_URC("+MIPLWRITE:0,17507,5,0,0,2,0,,0")},
     1,
     0,
     0},
    {"garbage between lines",
     "OK\r\n\x1b[2J\r\n+CEREG: 1\r\n\xe6\x94\xb6\r\nA\x7f\r\n",
     0,
     "AT",
     {W_OK, W_GARB("\x1b[2J"), W_URC("+CEREG: 1"), W_GARB("\xe6\x94\xb6"),
      W_GARB("A\x7f")},
     5,
     0,
     0},
    {"NUL inside a line is garbage",
     BIN("O\0K\r\nOK\r\n"),
     "AT",
     {{AT_LINE_GARBAGE, AT_FINAL_NONE, -1, NULL, 3}, W_OK},
     2,
     0,
     0},
    {"leading NUL and 0xFF noise is dropped and counted",
     BIN("\0\0\xff\xffOK\r\n\xff\0+CEREG: 1\r\n"),
     "AT",
     {W_OK, W_URC("+CEREG: 1")},
     2,
     0,
     6},
    {"noise between a held write and its payload",
     BIN("+MIPLWRITE:0,7,5,0,0,2,1,\r\n\0\xff"
         "AB,0\r\n"),
     NULL,
     {W_URC("+MIPLWRITE:0,7,5,0,0,2,1,AB,0")},
     1,
     0,
     2},
    {"CR-only line ends",
     "AT\rOK\r+CEREG: 1\r",
     0,
     "AT",
     {W_CMD("AT"), W_OK, W_URC("+CEREG: 1")},
     3,
     0,
     0},
    {"LF-only line ends",
     "AT\nOK\n+CEREG: 1\n",
     0,
     "AT",
     {W_CMD("AT"), W_OK, W_URC("+CEREG: 1")},
     3,
     0,
     0},
    {"lower-case command echo, case-insensitive name match",
     "at+cgsn=1\r\n+CGSN: 1\r\nok\r\n",
     0,
     "at+cgsn=1",
     {W_CMD("at+cgsn=1"), W_INFO("+CGSN: 1"), W_INFO("ok")},
     3,
     1,
     0},
};

static void table_cases(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct frame_case *c = &cases[i];
        size_t len = c->input_len ? c->input_len : strlen(c->input);
        struct at_framer_stats st;
        struct recorder rec = {0};
        struct at_framer *fr;

        print_message("case: %s\n", c->name);
        fflush(stdout);
        check_all_splits((const uint8_t *)c->input, len, c->pending, c->want,
                         c->nwant, &st);
        assert_int_equal(st.noise_bytes, c->noise);

        fr = at_framer_new();
        assert_non_null(fr);
        if (c->pending != NULL)
            at_framer_set_pending(fr, c->pending);
        at_framer_feed(fr, (const uint8_t *)c->input, len, record, &rec);
        assert_int_equal(at_framer_pending(fr), c->left_pending);
        recorder_clear(&rec);
        at_framer_free(fr);
    }
}

/* ---- over-long lines ----------------------------------------------------- */

static void overlong_case(size_t line_len, int held)
{
    static const char tail[] = "\r\n+MIPLREAD:0,54079,3,0,19\r\nOK\r\n";
    static const char head[] = "+MIPLWRITE:0,1,5,0,0,2,1024,\r\n";
    size_t hl = held ? strlen(head) : 0;
    size_t len = hl + line_len + strlen(tail);
    uint8_t *in = malloc(len);
    char *first = malloc(AT_LINE_MAX + 1);
    struct want want[3] = {
        {AT_LINE_OVERLONG, AT_FINAL_NONE, -1, NULL, AT_LINE_MAX},
        W_URC("+MIPLREAD:0,54079,3,0,19"),
        W_OK,
    };
    struct at_framer_stats st;
    size_t i;

    assert_non_null(in);
    assert_non_null(first);
    memcpy(in, head, hl);
    for (i = 0; i < line_len; i++)
        in[hl + i] = (uint8_t) "0123456789ABCDEF"[i % 16];
    memcpy(in + hl + line_len, tail, strlen(tail));
    /* The delivered prefix: the head without its CR LF, then the line. */
    if (held) {
        memcpy(first, head, hl - 2);
        memcpy(first + hl - 2, in + hl, AT_LINE_MAX - (hl - 2));
    } else {
        memcpy(first, in, AT_LINE_MAX);
    }
    first[AT_LINE_MAX] = '\0';
    want[0].text = first;

    check_all_splits(in, len, "AT", want, 3, &st);
    assert_int_equal(st.overlong, 1);
    assert_int_equal(st.lines, 3);
    free(in);
    free(first);
}

static void overlong_lines(void **state)
{
    (void)state;
    overlong_case(AT_LINE_MAX + 1, 0);
    overlong_case(AT_LINE_MAX * 12 + 5, 0);
    overlong_case(AT_LINE_MAX, 1); /* joined text over the cap */
}

static void line_of_exactly_max(void **state)
{
    size_t len = AT_LINE_MAX + 2;
    uint8_t *in = malloc(len);
    char *text = malloc(AT_LINE_MAX + 1);
    struct want want[1] = {{AT_LINE_UNKNOWN, AT_FINAL_NONE, -1, NULL, 0}};

    (void)state;
    assert_non_null(in);
    assert_non_null(text);
    memset(in, 'x', AT_LINE_MAX);
    memcpy(in + AT_LINE_MAX, "\r\n", 2);
    memset(text, 'x', AT_LINE_MAX);
    text[AT_LINE_MAX] = '\0';
    want[0].text = text;
    check_all_splits(in, len, NULL, want, 1, NULL);
    free(in);
    free(text);
}

/* ---- the seed ------------------------------------------------------------ */

/* The module's side of the seed transcript as raw bytes: "< text" lines
 * with CR LF, and the gateway's commands echoed ("AT...\r" then CR LF), as
 * a module with ATE1 prints them. */
static uint8_t *seed_raw(size_t *len_out, size_t *writes_out)
{
    FILE *f = fopen(SEED_PATH, "r");
    static char line[8192];
    size_t cap = 64 * 1024;
    size_t len = 0;
    size_t writes = 0;
    uint8_t *out = malloc(cap);

    assert_non_null(f);
    assert_non_null(out);
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strcspn(line, "\r\n");
        const char *text;

        line[n] = '\0';
        if (line[0] == '<')
            text = n > 1 ? line + 2 : "";
        else if (line[0] == '>')
            text = line + (line[1] == '!' ? 3 : 2);
        else
            continue;
        if (strncmp(text, "+MIPLWRITE:", 11) == 0)
            writes++;
        assert_true(len + strlen(text) + 4 < cap);
        memcpy(out + len, text, strlen(text));
        len += strlen(text);
        if (line[0] == '>')
            out[len++] = '\r';
        out[len++] = '\r';
        out[len++] = '\n';
    }
    fclose(f);
    *len_out = len;
    *writes_out = writes;
    return out;
}

static void seed_first_chunk_all_splits(void **state)
{
    size_t len;
    size_t writes;
    uint8_t *raw = seed_raw(&len, &writes);
    const char *start = strstr((const char *)raw, "+MIPLWRITE:0,27496");
    const char *payload;
    const char *end;
    char *joined;
    struct want want[3] = {
        {AT_LINE_URC, AT_FINAL_NONE, -1, NULL, 0},
        W_CMD("AT+MIPLSOTA=1"),
        W_OK,
    };
    size_t in_len;

    (void)state;
    assert_non_null(start);
    payload = strstr(start, "C7AC");
    assert_non_null(payload);
    end = strstr(payload, "OK\r\n");
    assert_non_null(end);
    in_len = (size_t)(end + 4 - start);
    joined = malloc(in_len);
    assert_non_null(joined);
    snprintf(joined, in_len, "+MIPLWRITE:0,27496,5,0,0,2,1024,%.*s",
             (int)strcspn(payload, "\r\n"), payload);
    assert_int_equal(strlen(joined), 32 + 2048 + 2);
    assert_string_equal(joined + strlen(joined) - 4, "F8,1");
    want[0].text = joined;

    check_all_splits((const uint8_t *)start, in_len, NULL, want, 3, NULL);
    free(joined);
    free(raw);
}

struct seed_count {
    size_t writes, joined_chunks, commands, finals, urcs, other;
};

static void count_seed(const struct at_line *line, void *ctx)
{
    struct seed_count *c = ctx;

    switch (line->kind) {
    case AT_LINE_COMMAND: c->commands++; break;
    case AT_LINE_FINAL: c->finals++; break;
    case AT_LINE_URC:
        c->urcs++;
        if (strncmp(line->text, "+MIPLWRITE:", 11) == 0) {
            c->writes++;
            assert_true(line->text[line->len - 1] != ',');
            if (line->len > 500) /* 2048 hex chars, 692 in the last */
                c->joined_chunks++;
        }
        break;
    case AT_LINE_INFO:
    case AT_LINE_UNKNOWN:
    case AT_LINE_GARBAGE:
    case AT_LINE_OVERLONG: c->other++; break;
    }
}

static void seed_whole_transcript(void **state)
{
    static const size_t pieces[] = {0, 1, 7, 64, 1000, 5000};
    size_t len;
    size_t writes;
    uint8_t *raw = seed_raw(&len, &writes);
    size_t p;

    (void)state;
    assert_int_equal(writes, 15); /* 14 chunks and the final empty write */
    for (p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
        struct seed_count c = {0};
        struct at_framer *fr = at_framer_new();
        size_t step = pieces[p] ? pieces[p] : len;
        size_t at;

        assert_non_null(fr);
        for (at = 0; at < len; at += step) {
            size_t n = len - at < step ? len - at : step;

            at_framer_feed(fr, raw + at, n, count_seed, &c);
        }
        assert_int_equal(c.writes, 15);
        assert_int_equal(c.joined_chunks, 14);
        assert_int_equal(c.other, 0);
        assert_int_equal(c.commands, 32);
        assert_int_equal(c.finals, 32);
        assert_int_equal(at_framer_stats(fr)->garbage, 0);
        at_framer_free(fr);
    }
    free(raw);
}

/* ---- state handling ------------------------------------------------------ */

static void pending_lifecycle(void **state)
{
    struct recorder rec = {0};
    struct at_framer *fr = at_framer_new();
    static const char in[] = "+CSQ: 9,99\r\nOK\r\n+CSQ: 9,99\r\n";

    (void)state;
    assert_non_null(fr);
    assert_int_equal(at_framer_pending(fr), 0);
    at_framer_set_pending(fr, "AT+CSQ");
    assert_int_equal(at_framer_pending(fr), 1);
    at_framer_feed(fr, (const uint8_t *)in, strlen(in), record, &rec);
    assert_int_equal(rec.count, 3);
    assert_int_equal(rec.lines[0].kind, AT_LINE_INFO);
    assert_int_equal(rec.lines[2].kind, AT_LINE_UNKNOWN);
    assert_int_equal(at_framer_pending(fr), 0);
    recorder_clear(&rec);

    at_framer_set_pending(fr, "AT+CSQ");
    at_framer_set_pending(fr, NULL);
    assert_int_equal(at_framer_pending(fr), 0);
    at_framer_free(fr);
    at_framer_free(NULL);
}

/* The channel sends its answer from the callback of a URC: the info line
 * that follows belongs to the new command. */
static void pending_set_from_callback(void **state)
{
    struct recorder rec = {0};
    struct at_framer *fr = at_framer_new();
    static const char in[] =
        "+MIPLREAD:0,1,3,0,19\r\nsome text\r\nOK\r\nsome text\r\n";

    (void)state;
    assert_non_null(fr);
    rec.fr = fr;
    rec.pending_on_urc = "AT+MIPLREADRSP=0,1,1,3,0,19,1,5,\"test0\",0,0";
    at_framer_feed(fr, (const uint8_t *)in, strlen(in), record, &rec);
    assert_int_equal(rec.count, 4);
    assert_int_equal(rec.lines[1].kind, AT_LINE_INFO);
    assert_int_equal(rec.lines[2].kind, AT_LINE_FINAL);
    assert_int_equal(rec.lines[3].kind, AT_LINE_UNKNOWN);
    recorder_clear(&rec);
    at_framer_free(fr);
}

static void reset_forgets_partial_held_and_pending(void **state)
{
    struct recorder rec = {0};
    struct at_framer *fr = at_framer_new();
    static const char part[] = "+MIPLWRITE:0,1,5,0,0,2,1,\r\nAB";
    static const char more[] = ",0\r\n+CGSN: 1\r\n";

    (void)state;
    assert_non_null(fr);
    at_framer_set_pending(fr, "AT+CGSN=1");
    at_framer_feed(fr, (const uint8_t *)part, strlen(part), record, &rec);
    at_framer_reset(fr);
    assert_int_equal(at_framer_pending(fr), 0);
    at_framer_feed(fr, (const uint8_t *)more, strlen(more), record, &rec);
    assert_int_equal(rec.count, 2);
    assert_string_equal(rec.lines[0].text, ",0");
    assert_int_equal(rec.lines[0].kind, AT_LINE_UNKNOWN);
    assert_int_equal(rec.lines[1].kind, AT_LINE_UNKNOWN);
    recorder_clear(&rec);

    /* Reset also ends an over-long discard. */
    {
        uint8_t *big = malloc(AT_LINE_MAX + 10);

        assert_non_null(big);
        memset(big, 'A', AT_LINE_MAX + 10);
        at_framer_feed(fr, big, AT_LINE_MAX + 10, record, &rec);
        assert_int_equal(rec.count, 1);
        assert_int_equal(rec.lines[0].kind, AT_LINE_OVERLONG);
        at_framer_reset(fr);
        at_framer_feed(fr, (const uint8_t *)"OK\r\n", 4, record, &rec);
        assert_int_equal(rec.count, 2);
        assert_int_equal(rec.lines[1].kind, AT_LINE_FINAL);
        free(big);
    }
    recorder_clear(&rec);
    at_framer_free(fr);
}

static void flush_delivers_held_line(void **state)
{
    struct recorder rec = {0};
    struct at_framer *fr = at_framer_new();
    static const char in[] = "+MIPLWRITE:0,9,5,0,0,2,2,\r\n\r\nAB";

    (void)state;
    assert_non_null(fr);
    at_framer_flush(fr, record, &rec);
    assert_int_equal(rec.count, 0);
    at_framer_feed(fr, (const uint8_t *)in, strlen(in), record, &rec);
    assert_int_equal(rec.count, 0);
    at_framer_flush(fr, record, &rec);
    assert_int_equal(rec.count, 1);
    assert_int_equal(rec.lines[0].kind, AT_LINE_URC);
    assert_string_equal(rec.lines[0].text, "+MIPLWRITE:0,9,5,0,0,2,2,");
    at_framer_flush(fr, record, &rec);
    assert_int_equal(rec.count, 1);
    /* The partial line behind the head survives the flush. */
    at_framer_feed(fr, (const uint8_t *)"CD,0\r\n", 6, record, &rec);
    assert_int_equal(rec.count, 2);
    assert_string_equal(rec.lines[1].text, "ABCD,0");
    recorder_clear(&rec);
    at_framer_free(fr);
}

/* ---- at_classify_line ---------------------------------------------------- */

static void classify_line_stateless(void **state)
{
    static const char info[] = "+CGSN: 1";
    struct at_line l;
    char *big = malloc(AT_LINE_MAX + 1);

    (void)state;
    at_classify_line(info, 8, "AT+CGSN=1", &l);
    assert_int_equal(l.kind, AT_LINE_INFO);
    assert_ptr_equal(l.text, info);
    assert_int_equal(l.len, 8);
    assert_non_null(big);
    at_classify_line("+CGSN: 1", 8, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_UNKNOWN);
    at_classify_line("AT+MIPLSOTA=1", 13, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_COMMAND);
    at_classify_line("+CIS ERROR: 602", 15, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_FINAL);
    assert_int_equal(l.final, AT_FINAL_CIS_ERROR);
    assert_int_equal(l.code, 602);
    at_classify_line("OK trailing", 2, NULL, &l); /* len bounds the text */
    assert_int_equal(l.kind, AT_LINE_FINAL);
    at_classify_line("+MIPLCREATE:0", 13, "AT+MIPLCREATE", &l);
    assert_int_equal(l.kind, AT_LINE_INFO);
    at_classify_line("+MIPLCREATE:0", 13, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_URC);
    at_classify_line("NO CARRIER", 10, "ATD", &l);
    assert_int_equal(l.kind, AT_LINE_URC);
    at_classify_line("A\0B", 3, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_GARBAGE);
    at_classify_line("", 0, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_UNKNOWN);
    memset(big, 'A', AT_LINE_MAX + 1);
    at_classify_line(big, AT_LINE_MAX + 1, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_OVERLONG);
    at_classify_line(big, AT_LINE_MAX, NULL, &l);
    assert_int_equal(l.kind, AT_LINE_UNKNOWN);
    free(big);
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(at_line_kind_name(AT_LINE_COMMAND), "command");
    assert_string_equal(at_line_kind_name(AT_LINE_FINAL), "final");
    assert_string_equal(at_line_kind_name(AT_LINE_INFO), "info");
    assert_string_equal(at_line_kind_name(AT_LINE_URC), "urc");
    assert_string_equal(at_line_kind_name(AT_LINE_UNKNOWN), "unknown");
    assert_string_equal(at_line_kind_name(AT_LINE_GARBAGE), "garbage");
    assert_string_equal(at_line_kind_name(AT_LINE_OVERLONG), "overlong");
    assert_string_equal(at_final_kind_name(AT_FINAL_NONE), "none");
    assert_string_equal(at_final_kind_name(AT_FINAL_OK), "ok");
    assert_string_equal(at_final_kind_name(AT_FINAL_ERROR), "error");
    assert_string_equal(at_final_kind_name(AT_FINAL_CME_ERROR), "cme_error");
    assert_string_equal(at_final_kind_name(AT_FINAL_CMS_ERROR), "cms_error");
    assert_string_equal(at_final_kind_name(AT_FINAL_CIS_ERROR), "cis_error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_cases),
        cmocka_unit_test(overlong_lines),
        cmocka_unit_test(line_of_exactly_max),
        cmocka_unit_test(seed_first_chunk_all_splits),
        cmocka_unit_test(seed_whole_transcript),
        cmocka_unit_test(pending_lifecycle),
        cmocka_unit_test(pending_set_from_callback),
        cmocka_unit_test(reset_forgets_partial_held_and_pending),
        cmocka_unit_test(flush_delivers_held_line),
        cmocka_unit_test(classify_line_stateless),
        cmocka_unit_test(names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
