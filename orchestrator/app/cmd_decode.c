/* cmd_decode.c: `sotagw decode`, a raw M531x serial capture to JSON lines.
 *
 * A field engineer's tool. The input is streamed in fixed chunks (a capture
 * may be gigabytes) through three stages:
 *
 *   1. capture lines: split at CR, LF or CR LF, each at most
 *      CAPTURE_LINE_MAX bytes before its prefix is known; a longer line is
 *      streamed on to the framer, which reports it as over-long;
 *   2. prefix stripping: what serial-terminal programs put in front of the
 *      data (timestamps, RX:/TX:, <<, >>, SSCOM's 收←◆/发→◇ in UTF-8 or GBK)
 *      is removed heuristically; a direction it names is kept. The
 *      project's transcripts (tests/data/seed) mark lines with "<" (rx),
 *      ">" or ">!" (tx), and annotate them with lines starting with '#'
 *      (comments) or '@' (replay directives): those lines are skipped;
 *   3. the AT framer of the gateway itself (dio/at_frame.h), so the seed's
 *      split +MIPLWRITE comes out as one line and classification is the
 *      daemon's, followed by the M531x decoders (dio/m531x.h).
 *
 * The files: this one (the command, stage 1), decode_prefix.c (stage 2),
 * decode_json.c (the output), sharing decode.h.
 *
 * One JSON object per AT line goes to stdout. Bad input is described in the
 * object ("error", kind "garbage"/"overlong"/"unknown"), never fatal: the
 * exit status is non-zero only when the input cannot be read (1) or the
 * command line is wrong (2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "decode.h"
#include "dio/at_frame.h"
#include "dio/m531x.h"

static const char usage_text[] =
    "usage: sotagw decode [--opaque-len auto|bytes|hex] [FILE|-]\n"
    "\n"
    "Decode a raw M531x serial capture (default: standard input) into one\n"
    "JSON object per AT line on standard output. Prefixes written by\n"
    "serial-terminal programs (timestamps, RX:/TX:, <<, >>, SSCOM 收←◆/发→◇)\n"
    "and the transcripts' < and > are stripped; lines starting with # or @\n"
    "(transcript comments and directives) are skipped. \"line\" is the\n"
    "1-based input line; CR, LF and CR LF each end a line.\n"
    "\n"
    "  --opaque-len MODE  what <len> of an opaque +MIPLWRITE counts: auto\n"
    "                     (default: tell from the payload), bytes or hex\n"
    "  -h, --help         show this text\n"
    "\n"
    "Exit status: 0 when the input was read to its end, whatever it held;\n"
    "1 when it cannot be read; 2 on a usage error.\n";

/* ---- capture lines ------------------------------------------------------- */

/* A transcript's comment ('#') or directive ('@') line: no AT line starts
 * with either. */
static int is_annotation(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i < n && (s[i] == '#' || s[i] == '@');
}

/* Hand the stripped capture line to the framer, remembering where the AT
 * line it may start began. Lines of spaces or wake-up noise start none;
 * annotation lines are dropped. */
static void pass_cap(struct decode *d)
{
    const char *dir;
    size_t k;
    size_t i;

    d->annotation = is_annotation(d->cap, d->cap_len);
    if (d->annotation)
        return;
    k = decode_prefix_len(d->cap, d->cap_len, &dir);
    d->dir = dir;
    for (i = k; i < d->cap_len && d->start_line == 0; i++) {
        unsigned char c = (unsigned char)d->cap[i];

        if (c != ' ' && c != 0x00 && c != 0xff) {
            d->start_line = d->line_no;
            d->start_dir = dir;
        }
    }
    at_framer_feed(d->fr, (const uint8_t *)d->cap + k, d->cap_len - k,
                   decode_on_line, d);
}

static void end_cap_line(struct decode *d)
{
    if (!d->streaming)
        pass_cap(d);
    at_framer_feed(d->fr, (const uint8_t *)"\n", 1, decode_on_line, d);
    d->streaming = 0;
    d->annotation = 0;
    d->cap_len = 0;
    d->dir = NULL;
}

static void feed_capture(struct decode *d, const char *buf, size_t n)
{
    size_t i = 0;

    while (i < n) {
        char c = buf[i];
        size_t run;

        if (c == '\r' || c == '\n') {
            if (!(c == '\n' && d->prev_cr)) {
                end_cap_line(d);
                d->line_no++;
            }
            d->prev_cr = (c == '\r');
            i++;
            continue;
        }
        d->prev_cr = 0;
        for (run = 0;
             i + run < n && buf[i + run] != '\r' && buf[i + run] != '\n'; run++)
            ;
        if (!d->streaming) {
            size_t room = sizeof d->cap - d->cap_len;
            size_t take = run < room ? run : room;

            memcpy(d->cap + d->cap_len, buf + i, take);
            d->cap_len += take;
            i += take;
            run -= take;
            if (run == 0)
                continue;
            pass_cap(d); /* full: the framer takes it from here */
            d->streaming = 1;
        }
        if (!d->annotation)
            at_framer_feed(d->fr, (const uint8_t *)buf + i, run, decode_on_line,
                           d);
        i += run;
    }
}

/* ---- the command --------------------------------------------------------- */

static int decode_stream(struct decode *d, FILE *in, const char *name)
{
    size_t n;

    while ((n = fread(d->chunk, 1, sizeof d->chunk, in)) > 0 && !d->out_failed)
        feed_capture(d, d->chunk, n);
    if (ferror(in)) {
        fprintf(stderr, "sotagw decode: cannot read %s: %s\n", name,
                strerror(errno));
        return 1;
    }
    if (d->cap_len > 0 || d->streaming)
        end_cap_line(d);
    at_framer_flush(d->fr, decode_on_line, d);
    if (d->out_failed || fflush(stdout) != 0) {
        fprintf(stderr, "sotagw decode: cannot write the output: %s\n",
                strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_decode(int argc, char **argv)
{
    enum m531x_opaque_len opaque = M531X_OPAQUE_AUTO;
    const char *path = NULL;
    struct decode *d = NULL;
    FILE *in = stdin;
    int rc = 2;
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--opaque-len") == 0 && i + 1 < argc) {
            const char *m = argv[++i];

            if (strcmp(m, "auto") == 0)
                opaque = M531X_OPAQUE_AUTO;
            else if (strcmp(m, "bytes") == 0)
                opaque = M531X_OPAQUE_BYTES;
            else if (strcmp(m, "hex") == 0)
                opaque = M531X_OPAQUE_HEX;
            else
                goto usage;
        } else if (a[0] == '-' && a[1] != '\0') {
            goto usage;
        } else if (path == NULL) {
            path = a;
        } else {
            goto usage;
        }
    }
    if (path != NULL && strcmp(path, "-") != 0) {
        in = fopen(path, "rb");
        if (in == NULL) {
            fprintf(stderr, "sotagw decode: cannot open %s: %s\n", path,
                    strerror(errno));
            return 1;
        }
    }
    d = calloc(1, sizeof *d);
    if (d == NULL || (d->fr = at_framer_new()) == NULL) {
        fprintf(stderr, "sotagw decode: out of memory\n");
        rc = 1;
        goto out;
    }
    d->opaque = opaque;
    d->line_no = 1;
    rc = decode_stream(d, in, in == stdin ? "standard input" : path);
out:
    if (d != NULL)
        at_framer_free(d->fr);
    free(d);
    if (in != stdin)
        fclose(in);
    return rc;
usage:
    fputs(usage_text, stderr);
    return 2;
}
