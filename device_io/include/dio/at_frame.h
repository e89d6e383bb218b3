/* dio/at_frame.h: AT framing. Bytes in, classified lines out.
 *
 * Pure: no I/O, no clock. One framer per serial port. Input may arrive in
 * any split, down to one byte per call; the framer keeps the partial line.
 *
 * Line kinds
 *   AT_LINE_COMMAND  a command line: the echo of what we sent (ATE1), or in a
 *                    capture any line starting with "AT" (case-insensitive).
 *   AT_LINE_FINAL    OK, ERROR, +CME ERROR:<n>, +CMS ERROR:<n>, +CIS ERROR:<n>.
 *                    The pending command (if any) is cleared.
 *   AT_LINE_INFO     information text that belongs to the pending command:
 *                    a line whose +NAME matches the pending command's name,
 *                    or any other non-URC text while a command is pending.
 *   AT_LINE_URC      an unsolicited line: every +MIPL* line (except the
 *                    +MIPLCREATE:/+MIPLCREATEEX:/+MIPLVER: answer to the
 *                    pending command of that name), known URCs (+CEREG:,
 *                    +CSCON:, +CGEV:, +CFUN:, +CPIN:, +IP:, *ATREADY:,
 *                    *MATREADY:, REBOOTING.., NO CARRIER, ...) when they do
 *                    not answer the pending command.
 *   AT_LINE_UNKNOWN  text with no command pending that is no known URC.
 *   AT_LINE_GARBAGE  a line holding a control byte (NUL included) or a byte
 *                    >= 0x80: delivered for logging, never to be decoded.
 *                    NUL and 0xFF bytes before the first character of a line
 *                    (wake-up noise) are dropped silently and counted.
 *   AT_LINE_OVERLONG a line longer than AT_LINE_MAX. Its first bytes are
 *                    delivered, the rest is discarded up to the next line
 *                    end, where framing resumes.
 *
 * Rules
 *   - Lines end at CR, LF or any run of them; blank lines are skipped.
 *   - "NO CARRIER" is always a URC: sotagw never dials, and some M5311
 *     builds print it after an OK (docs/M531X-REFERENCE.md section 7.6).
 *   - A "+MIPLWRITE:" line that ends in ',' is held, and joined with the
 *     next non-blank line into one URC (the seed's layout, reference 2.4).
 *     If that next line is itself a final, a URC or a command, the held
 *     line is delivered alone (it will fail to decode) and the new line is
 *     processed normally. The joined text obeys AT_LINE_MAX.
 *   - A final with no command pending is still delivered as AT_LINE_FINAL;
 *     the channel counts it as stray.
 */
#ifndef DIO_AT_FRAME_H
#define DIO_AT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define AT_LINE_MAX     8192 /* hard cap on one line, terminator excluded */
#define AT_CMD_NAME_MAX 32   /* longest command name kept for matching */

enum at_line_kind {
    AT_LINE_COMMAND,
    AT_LINE_FINAL,
    AT_LINE_INFO,
    AT_LINE_URC,
    AT_LINE_UNKNOWN,
    AT_LINE_GARBAGE,
    AT_LINE_OVERLONG
};

enum at_final_kind {
    AT_FINAL_NONE, /* not a final */
    AT_FINAL_OK,
    AT_FINAL_ERROR,
    AT_FINAL_CME_ERROR, /* +CME ERROR:<n> */
    AT_FINAL_CMS_ERROR, /* +CMS ERROR:<n> */
    AT_FINAL_CIS_ERROR  /* +CIS ERROR:<n> (MIPL commands) */
};

struct at_line {
    enum at_line_kind kind;
    enum at_final_kind final; /* AT_FINAL_NONE unless kind is FINAL */
    int code;                 /* the <n> of a *_ERROR final; -1 if absent
                                 or not a number */
    const char *text;         /* NUL-terminated, without the terminator;
                                 valid only during the callback */
    size_t len;
};

/* Called once per line, in order. It may call at_framer_set_pending()
 * (to send the next command) but not _feed, _flush or _reset. */
typedef void at_line_fn(const struct at_line *line, void *ctx);

struct at_framer_stats {
    uint64_t lines;       /* lines delivered */
    uint64_t overlong;    /* AT_LINE_OVERLONG lines */
    uint64_t garbage;     /* AT_LINE_GARBAGE lines */
    uint64_t noise_bytes; /* NUL/0xFF bytes dropped at line start */
};

struct at_framer;

/* A framer with an empty buffer and nothing pending. NULL on OOM. */
struct at_framer *at_framer_new(void);
void at_framer_free(struct at_framer *fr); /* NULL-safe */

/* Forget any partial or held line and the pending command (port reopened). */
void at_framer_reset(struct at_framer *fr);

/* Tell the framer which command was just written (its text, without CR),
 * so its echo, information lines and final are recognised. NULL clears it.
 * The framer copies what it needs. */
void at_framer_set_pending(struct at_framer *fr, const char *cmd);

/* Is a command pending (sent, final not yet seen)? */
int at_framer_pending(const struct at_framer *fr);

/* Feed bytes; cb is called for each complete line. Never fails. */
void at_framer_feed(struct at_framer *fr, const uint8_t *data, size_t len,
                    at_line_fn *cb, void *ctx);

/* Deliver a held "+MIPLWRITE:...," line, if any (e.g. after a quiet period,
 * or at end of input in the decode tool). */
void at_framer_flush(struct at_framer *fr, at_line_fn *cb, void *ctx);

const struct at_framer_stats *at_framer_stats(const struct at_framer *fr);

/* Classify one complete line (no CR/LF) with no framer state: what the
 * decode tool uses on capture lines. pending may be NULL. Sets kind, final
 * and code; text/len point at the input. */
void at_classify_line(const char *text, size_t len, const char *pending,
                      struct at_line *out);

const char *at_line_kind_name(enum at_line_kind kind);
const char *at_final_kind_name(enum at_final_kind kind);

#endif
