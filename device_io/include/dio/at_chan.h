/* dio/at_chan.h: one modem's AT channel on a libuv loop.
 *
 * The channel owns the serial port (serial_open(): exclusive, raw,
 * non-blocking), a framer (dio/at_frame.h) and a bounded queue of commands
 * with exactly one in flight (SPEC24: the module takes one command at a
 * time). Each command carries its own timeout, counted from the moment it
 * goes out (its first write), so a port that stops taking bytes times out
 * too.
 *
 * Completion: a command's done callback runs exactly once, with
 *   0             a final arrived: r->final says which (OK, ERROR, CME, CMS,
 *                 CIS) and r->code its number;
 *   -ETIMEDOUT    no final within the timeout (or at_chan_expire());
 *   -ECONNRESET   a boot banner arrived while it was queued or in flight
 *                 (the module rebooted and will never answer it);
 *   -EIO          the port hung up or failed;
 *   -ECANCELED    at_chan_close() ran.
 * The information lines of the command in flight (its +NAME: answer, the
 * bare IMEI of AT+CGSN, ...) are collected in r, bounded: lines beyond
 * AT_CHAN_INFO_MAX or characters beyond AT_CHAN_INFO_LEN - 1 are dropped
 * and counted in r->info_dropped.
 *
 * Everything else the module prints goes to the ops: URCs, unknown text,
 * garbage and over-long lines to ops->line; boot banners (*ATREADY,
 * *MATREADY, REBOOTING.., and +CFUN: 1 following a REBOOTING) to ops->boot;
 * a lost port (read error, read of 0 bytes, POLLHUP, write error) to
 * ops->hangup, once, after every command has completed with -EIO. A final
 * with no command in flight (a late answer to a command that timed out) is
 * counted as stray and dropped.
 *
 * Callbacks may call at_chan_send(), at_chan_expire() and at_chan_close()
 * on the same channel. Loop thread only. */
#ifndef DIO_AT_CHAN_H
#define DIO_AT_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dio/at_frame.h"

#define AT_CHAN_QUEUE_MAX 16  /* commands queued behind the one in flight */
#define AT_CHAN_CMD_MAX   256 /* longest command text + NUL */
#define AT_CHAN_INFO_MAX  8   /* information lines kept per command */
#define AT_CHAN_INFO_LEN  128 /* characters kept per information line */
/* A held +MIPLWRITE line is delivered alone after this long without
 * input. */
#define AT_CHAN_QUIET_MS 1000

struct at_chan;

/* What a command got back. */
struct at_reply {
    enum at_final_kind final; /* AT_FINAL_NONE unless rc was 0 */
    int code;                 /* the <n> of an *_ERROR final, else -1 */
    size_t ninfo;
    size_t info_dropped; /* lines or line tails not kept */
    char info[AT_CHAN_INFO_MAX][AT_CHAN_INFO_LEN];
};

typedef void at_chan_done_fn(void *ctx, int rc, const struct at_reply *r);

struct at_chan_ops {
    /* URC, UNKNOWN, GARBAGE and OVERLONG lines (garbage is for logs only). */
    void (*line)(void *ctx, const struct at_line *line);
    /* A boot banner; every command queued or in flight has already
     * completed with -ECONNRESET. text is valid during the call. */
    void (*boot)(void *ctx, const char *text);
    /* The port is gone (err: -EIO, or -errno of the failing call). The
     * channel accepts no more commands; close it. */
    void (*hangup)(void *ctx, int err);
};

struct at_chan_stats {
    uint64_t bytes_in, bytes_out;
    uint64_t lines;        /* lines the framer delivered */
    uint64_t urcs;         /* lines handed to ops->line */
    uint64_t commands;     /* commands sent */
    uint64_t finals;       /* finals matched to a command */
    uint64_t stray_finals; /* finals with no command in flight */
    uint64_t timeouts;
    uint64_t banners;
    uint64_t partial_writes; /* writes the kernel took only in part */
};

/* Open path at baud (serial_open) and start reading on loop. ops and
 * ops_ctx are borrowed for the channel's life; name is copied (logs).
 * Returns 0, or -errno from serial_open (-EBUSY: held by another process),
 * -ENOMEM, or a libuv error mapped to -errno. */
int at_chan_open(struct at_chan **out, uv_loop_t *loop, const char *path,
                 int baud, const char *name, const struct at_chan_ops *ops,
                 void *ops_ctx);

/* Queue text (no CR; the channel appends it). It goes out when every
 * earlier command has completed. timeout_ms > 0. Returns 0 (done will run
 * exactly once), GW_E_FULL when AT_CHAN_QUEUE_MAX commands wait,
 * GW_E_TOOLONG for a text of AT_CHAN_CMD_MAX characters or more, GW_E_INVAL
 * for an empty text or one holding CR, LF or NUL, GW_E_STATE after a hang-up
 * or close. On error done is not called. */
int at_chan_send(struct at_chan *ch, const char *text, int64_t timeout_ms,
                 at_chan_done_fn *done, void *ctx);

/* Give up on the command in flight now: its done runs with -ETIMEDOUT, a
 * final arriving later is a stray, the next command goes out. Returns 0,
 * or GW_E_STATE when nothing is in flight. */
int at_chan_expire(struct at_chan *ch);

/* Is a command in flight, and how many wait behind it? */
int at_chan_busy(const struct at_chan *ch);
size_t at_chan_queued(const struct at_chan *ch);

const struct at_chan_stats *at_chan_stats(const struct at_chan *ch);

/* Complete every command with -ECANCELED (their done callbacks run inside
 * this call), stop reading and close the port. No ops callback runs after
 * this returns. The memory is released once libuv has closed the handles;
 * closed (may be NULL) runs then, from the loop. NULL-safe; a second call
 * does nothing. */
void at_chan_close(struct at_chan *ch, void (*closed)(void *ctx), void *ctx);

#endif
