/* decode.h: what the files of `sotagw decode` share (cmd_decode.c reads
 * the capture lines, decode_prefix.c strips the terminal prefixes,
 * decode_json.c writes one JSON object per AT line). Private to
 * orchestrator/app. */
#ifndef SOTAGW_DECODE_H
#define SOTAGW_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "dio/at_frame.h"
#include "dio/m531x.h"

#define DECODE_CHUNK     65536
#define PREFIX_MAX       256 /* terminal prefix room before AT text */
#define CAPTURE_LINE_MAX (AT_LINE_MAX + PREFIX_MAX)

struct decode {
    struct at_framer *fr;
    enum m531x_opaque_len opaque;
    int out_failed;

    char cap[CAPTURE_LINE_MAX]; /* the capture line being read */
    size_t cap_len;
    int streaming;    /* cap overflowed: bytes go to the framer */
    int annotation;   /* the line is a '#' or '@' line: dropped */
    int prev_cr;      /* last byte was CR (CR LF is one end) */
    uint64_t line_no; /* 1-based number of the current line */
    const char *dir;  /* direction of the current line, or NULL */

    uint64_t start_line; /* first line of the AT line being framed */
    const char *start_dir;

    char pending[AT_CMD_NAME_MAX + 1]; /* name of the last command seen */
    char esc[4 * AT_LINE_MAX + 1];     /* "raw" with bytes escaped */
    char chunk[DECODE_CHUNK];          /* input read buffer */
};

/* How many bytes of terminal prefix s[0..n) starts with. *dir gets "rx" or
 * "tx" when a marker names the direction, else NULL (decode_prefix.c). */
size_t decode_prefix_len(const char *s, size_t n, const char **dir);

/* Text helpers of decode_prefix.c the output uses too: an ASCII digit;
 * s[0..n) starts with p, ASCII letters in either case. */
int decode_is_digit(char c);
int decode_starts_nocase(const char *s, size_t n, const char *p);

/* The framer's callback (at_line_fn), ctx the struct decode: one JSON
 * object for the line on stdout; d->out_failed set when stdout fails
 * (decode_json.c). */
void decode_on_line(const struct at_line *line, void *ctx);

#endif
