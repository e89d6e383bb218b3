/* decode_prefix.c: `sotagw decode`, stage 2 (cmd_decode.c): what
 * serial-terminal programs put in front of the data (timestamps, RX:/TX:,
 * <<, >>, SSCOM's 收←◆/发→◇ in UTF-8 or GBK, the transcripts' < and >) is
 * recognised heuristically and skipped; a direction it names is kept. Pure
 * text in, a length out. */
#include <stddef.h>
#include <string.h>

#include "decode.h"

/* ---- prefix stripping ---------------------------------------------------- */

/* (decode.h) */
int decode_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* (decode.h) */
int decode_starts_nocase(const char *s, size_t n, const char *p)
{
    size_t i;
    size_t pn = strlen(p);

    if (n < pn)
        return 0;
    for (i = 0; i < pn; i++) {
        if (upper(s[i]) != upper(p[i]))
            return 0;
    }
    return 1;
}

/* Does s[0..n) match the pattern, where '9' stands for a digit? */
static int match_digits(const char *s, size_t n, const char *pat)
{
    size_t i;
    size_t pn = strlen(pat);

    if (n < pn)
        return 0;
    for (i = 0; i < pn; i++) {
        if (pat[i] == '9' ? !decode_is_digit(s[i]) : s[i] != pat[i])
            return 0;
    }
    return 1;
}

/* "HH:MM:SS" with optional ".fff"/",fff" fraction: its length, or 0. */
static size_t time_len(const char *s, size_t n)
{
    size_t i = 8;

    if (!match_digits(s, n, "99:99:99"))
        return 0;
    if (i < n && (s[i] == '.' || s[i] == ',') && i + 1 < n &&
        decode_is_digit(s[i + 1])) {
        i++;
        while (i < n && decode_is_digit(s[i]))
            i++;
    }
    if (i < n && s[i] == 'Z')
        i++;
    else if (i < n && (s[i] == '+' || s[i] == '-') &&
             match_digits(s + i + 1, n - i - 1, "99:99"))
        i += 6;
    return i;
}

/* An ISO-like date and time ("2024-01-02 10:32:01.123", "2024/01/02T..."),
 * or a time alone: its length, or 0. */
static size_t timestamp_len(const char *s, size_t n)
{
    size_t t;

    if (match_digits(s, n, "9999-99-99") || match_digits(s, n, "9999/99/99")) {
        if (n > 10 && (s[10] == ' ' || s[10] == 'T')) {
            t = time_len(s + 11, n - 11);
            if (t > 0)
                return 11 + t;
        }
        return 10;
    }
    return time_len(s, n);
}

struct marker {
    const char *bytes;
    const char *dir;
};

/* Direction markers, longest first. SSCOM writes 收←◆ (received) and 发→◇
 * (sent), in UTF-8 or, on Chinese Windows, in GBK. */
static const struct marker markers[] = {
    {"\xe6\x94\xb6\xe2\x86\x90\xe2\x97\x86", "rx"}, /* 收←◆ UTF-8 */
    {"\xe5\x8f\x91\xe2\x86\x92\xe2\x97\x87", "tx"}, /* 发→◇ UTF-8 */
    {"\xca\xd5\xa1\xfb\xa1\xf4", "rx"},             /* 收←◆ GBK */
    {"\xb7\xa2\xa1\xfa\xa1\xf3", "tx"},             /* 发→◇ GBK */
    {"\xe2\x86\x90", "rx"},                         /* ← */
    {"\xe2\x86\x92", "tx"},                         /* → */
    {"RECV:", "rx"},
    {"SEND:", "tx"},
    {"SENT:", "tx"},
    {"RX:", "rx"},
    {"TX:", "tx"},
    {"<<", "rx"},
    {">>", "tx"},
    {"<-", "rx"},
    {"->", "tx"},
};

/* The transcripts' marks: "<" (rx), ">" and ">!" (tx, ">!" flags a line
 * the seed prints differently), followed by a blank or the line's end, so
 * that AT text is never taken for one. Their length, or 0. */
static size_t transcript_mark_len(const char *s, size_t n, const char **dir)
{
    size_t k = 1;

    if (n == 0 || (s[0] != '<' && s[0] != '>'))
        return 0;
    if (s[0] == '>' && n > 1 && s[1] == '!')
        k = 2;
    if (k < n && s[k] != ' ')
        return 0;
    *dir = s[0] == '<' ? "rx" : "tx";
    return k;
}

/* "[...]" holding a timestamp or a direction word: its length, or 0. */
static size_t bracket_len(const char *s, size_t n, const char **dir)
{
    size_t i;
    int digits = 0;

    if (n < 3 || s[0] != '[')
        return 0;
    for (i = 1; i < n && i < 48 && s[i] != ']'; i++) {
        char c = s[i];

        if (decode_is_digit(c))
            digits++;
        else if (c == '\0' || strchr(":.-/ ,TZ+", c) == NULL)
            break;
    }
    if (i < n && s[i] == ']' && digits > 0)
        return i + 1;
    if (decode_starts_nocase(s, n, "[RX]")) {
        *dir = "rx";
        return 4;
    }
    if (decode_starts_nocase(s, n, "[TX]")) {
        *dir = "tx";
        return 4;
    }
    return 0;
}

/* (decode.h) The rules are tried until none
 * applies; each consumes at least one byte, and their number is bounded. */
size_t decode_prefix_len(const char *s, size_t n, const char **dir)
{
    size_t at = 0;
    int round;

    *dir = NULL;
    if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) /* UTF-8 BOM */
        at = 3;
    for (round = 0; round < 8; round++) {
        size_t k;
        size_t i;

        while (at < n && (s[at] == ' ' || s[at] == '\t'))
            at++;
        k = bracket_len(s + at, n - at, dir);
        if (k == 0)
            k = timestamp_len(s + at, n - at);
        for (i = 0; k == 0 && i < sizeof markers / sizeof markers[0]; i++) {
            if (decode_starts_nocase(s + at, n - at, markers[i].bytes)) {
                k = strlen(markers[i].bytes);
                *dir = markers[i].dir;
            }
        }
        if (k == 0)
            k = transcript_mark_len(s + at, n - at, dir);
        if (k == 0)
            break;
        at += k;
        /* One separator after it: "10:32:01 - ", "[...]: ", "... | ". */
        while (at < n && s[at] == ' ')
            at++;
        if (at < n && (s[at] == ':' || s[at] == '|' || s[at] == '-') &&
            (at + 1 == n || s[at + 1] == ' '))
            at++;
    }
    while (at < n && (s[at] == ' ' || s[at] == '\t'))
        at++;
    return at;
}
