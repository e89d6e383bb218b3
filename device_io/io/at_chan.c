/* at_chan.c: one modem's AT channel (dio/at_chan.h).
 *
 * Design: a uv_poll on the non-blocking tty fd feeds bytes to the framer;
 * the framer's line callback sorts lines into the command in flight (info
 * lines, its final), banners and everything else. Commands wait in a ring
 * of AT_CHAN_QUEUE_MAX; the one in flight owns the output buffer (its text
 * plus CR) until the kernel took every byte (EAGAIN arms UV_WRITABLE).
 *
 * Re-entrancy: user callbacks run from inside the framer's feed loop and
 * may close the channel. Closing only marks the channel, stops the poll and
 * closes the fd; the memory goes when libuv has closed the three handles,
 * which is never inside the current callback chain. Every entry point
 * checks `closing` / `dead` after a user callback returned. */
#include "dio/at_chan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "dio/serial.h"
#include "gw/err.h"

#define GW_LOG_TAG "at"
#include "gw/log.h"

#define READ_CHUNK       1024
#define READS_PER_WAKEUP 16 /* then yield to the other handles */

struct at_cmd {
    char text[AT_CHAN_CMD_MAX + 1]; /* room for the CR */
    size_t len;                     /* with the CR */
    int64_t timeout_ms;
    at_chan_done_fn *done;
    void *ctx;
};

struct at_chan {
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t cmd_timer;
    uv_timer_t quiet_timer;
    int fd;
    char name[64];
    const struct at_chan_ops *ops;
    void *ops_ctx;
    struct at_framer *fr;

    struct at_cmd queue[AT_CHAN_QUEUE_MAX];
    size_t q_head, q_len;
    int has_inflight;
    struct at_cmd inflight;
    size_t written;  /* bytes of inflight handed to the kernel */
    int poll_events; /* what the poll handle watches now */
    struct at_reply reply;

    int failing;     /* chan_fail_all() runs: do not pump */
    int reboot_seen; /* REBOOTING printed, +CFUN: 1 is a banner */
    int dead;        /* hang-up reported */
    int closing;
    int handles_open;
    void (*closed)(void *ctx);
    void *closed_ctx;
    struct at_chan_stats stats;
};

static void chan_pump(struct at_chan *ch);

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void chan_set_poll(struct at_chan *ch, int events)
{
    int rc;

    if (ch->closing || ch->dead || events == ch->poll_events)
        return;
    rc = uv_poll_start(&ch->poll, events, NULL);
    (void)rc; /* the handle is started in at_chan_open: cannot fail now */
    ch->poll_events = events;
}

static void reply_reset(struct at_reply *r)
{
    r->final = AT_FINAL_NONE;
    r->code = -1;
    r->ninfo = 0;
    r->info_dropped = 0;
}

/* Complete the command in flight with rc, then send the next one. */
static void chan_complete(struct at_chan *ch, int rc)
{
    struct at_cmd cmd = ch->inflight;

    if (!ch->has_inflight)
        return;
    ch->has_inflight = 0;
    uv_timer_stop(&ch->cmd_timer);
    if (rc != 0)
        at_framer_set_pending(ch->fr, NULL);
    if (rc != 0)
        ch->reply.final = AT_FINAL_NONE;
    cmd.done(cmd.ctx, rc, &ch->reply);
    chan_pump(ch);
}

/* Complete every command, in flight first, with rc. Commands the
 * callbacks queue meanwhile are kept (and sent afterwards if the channel
 * still lives). */
static void chan_fail_all(struct at_chan *ch, int rc)
{
    size_t n = ch->q_len;

    ch->failing = 1;
    chan_complete(ch, rc);
    while (n-- > 0 && ch->q_len > 0) {
        struct at_cmd cmd = ch->queue[ch->q_head];

        ch->q_head = (ch->q_head + 1) % AT_CHAN_QUEUE_MAX;
        ch->q_len--;
        reply_reset(&ch->reply);
        cmd.done(cmd.ctx, rc, &ch->reply);
    }
    ch->failing = 0;
    chan_pump(ch);
}

static void chan_hangup(struct at_chan *ch, int err)
{
    if (ch->dead || ch->closing)
        return;
    GW_LOG(GW_LOG_WARN, ch->name, "port lost: %s", gw_strerror(err));
    ch->dead = 1;
    uv_poll_stop(&ch->poll);
    uv_timer_stop(&ch->cmd_timer);
    uv_timer_stop(&ch->quiet_timer);
    chan_fail_all(ch, -EIO);
    if (!ch->closing && ch->ops->hangup != NULL)
        ch->ops->hangup(ch->ops_ctx, err);
}

/* Hand as much of the command in flight to the kernel as it takes. */
static void chan_write(struct at_chan *ch)
{
    while (ch->has_inflight && ch->written < ch->inflight.len) {
        ssize_t n = write(ch->fd, ch->inflight.text + ch->written,
                          ch->inflight.len - ch->written);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ch->stats.partial_writes++;
            chan_set_poll(ch, UV_READABLE | UV_DISCONNECT | UV_WRITABLE);
            return;
        }
        if (n <= 0) {
            chan_hangup(ch, n < 0 ? -errno : -EIO);
            return;
        }
        ch->written += (size_t)n;
        ch->stats.bytes_out += (uint64_t)n;
        if (ch->written < ch->inflight.len)
            ch->stats.partial_writes++;
    }
    chan_set_poll(ch, UV_READABLE | UV_DISCONNECT);
}

static void on_cmd_timeout(uv_timer_t *t)
{
    struct at_chan *ch = t->data;

    ch->stats.timeouts++;
    GW_LOG(GW_LOG_WARN, ch->name, "no answer to %.*s",
           (int)(ch->inflight.len - 1), ch->inflight.text);
    chan_complete(ch, -ETIMEDOUT);
}

/* Start the next queued command if none is in flight. */
static void chan_pump(struct at_chan *ch)
{
    if (ch->has_inflight || ch->q_len == 0 || ch->closing || ch->dead ||
        ch->failing)
        return;
    ch->inflight = ch->queue[ch->q_head];
    ch->q_head = (ch->q_head + 1) % AT_CHAN_QUEUE_MAX;
    ch->q_len--;
    ch->has_inflight = 1;
    ch->written = 0;
    reply_reset(&ch->reply);
    ch->inflight.text[ch->inflight.len - 1] = '\0';
    at_framer_set_pending(ch->fr, ch->inflight.text);
    GW_LOG(GW_LOG_DEBUG, ch->name, "> %s", ch->inflight.text);
    ch->inflight.text[ch->inflight.len - 1] = '\r';
    ch->stats.commands++;
    uv_timer_start(&ch->cmd_timer, on_cmd_timeout,
                   (uint64_t)ch->inflight.timeout_ms, 0);
    chan_write(ch);
}

static void reply_add_info(struct at_reply *r, const struct at_line *line)
{
    size_t n = line->len;

    if (r->ninfo >= AT_CHAN_INFO_MAX) {
        r->info_dropped++;
        return;
    }
    if (n >= AT_CHAN_INFO_LEN) {
        n = AT_CHAN_INFO_LEN - 1;
        r->info_dropped++;
    }
    memcpy(r->info[r->ninfo], line->text, n);
    r->info[r->ninfo][n] = '\0';
    r->ninfo++;
}

static int is_banner(struct at_chan *ch, const char *t)
{
    if (starts_with(t, "*ATREADY") || starts_with(t, "*MATREADY"))
        return 1;
    if (starts_with(t, "REBOOTING")) {
        ch->reboot_seen = 1;
        return 1;
    }
    if (ch->reboot_seen &&
        (strcmp(t, "+CFUN: 1") == 0 || strcmp(t, "+CFUN:1") == 0))
        return 1;
    return 0;
}

static void on_line(const struct at_line *line, void *arg)
{
    struct at_chan *ch = arg;

    if (ch->closing || ch->dead)
        return;
    ch->stats.lines++;
    if ((line->kind == AT_LINE_URC || line->kind == AT_LINE_UNKNOWN ||
         line->kind == AT_LINE_INFO) &&
        is_banner(ch, line->text)) {
        ch->stats.banners++;
        GW_LOG(GW_LOG_WARN, ch->name, "module restarted: %s", line->text);
        chan_fail_all(ch, -ECONNRESET);
        at_framer_set_pending(ch->fr, NULL);
        if (!ch->closing && !ch->dead && ch->ops->boot != NULL)
            ch->ops->boot(ch->ops_ctx, line->text);
        return;
    }
    switch (line->kind) {
    case AT_LINE_COMMAND: /* our echo (ATE1 before ATE0 took effect) */ return;
    case AT_LINE_FINAL:
        if (!ch->has_inflight || ch->written < ch->inflight.len) {
            ch->stats.stray_finals++;
            GW_LOG(GW_LOG_DEBUG, ch->name, "stray final: %s", line->text);
            return;
        }
        ch->stats.finals++;
        if (line->final == AT_FINAL_OK)
            ch->reboot_seen = 0;
        ch->reply.final = line->final;
        ch->reply.code = line->code;
        chan_complete(ch, 0);
        return;
    case AT_LINE_INFO:
        if (ch->has_inflight) {
            reply_add_info(&ch->reply, line);
            return;
        }
        break; /* no command: hand it on as unknown text */
    case AT_LINE_URC:
    case AT_LINE_UNKNOWN:
    case AT_LINE_GARBAGE:
    case AT_LINE_OVERLONG: break;
    }
    ch->stats.urcs++;
    if (ch->ops->line != NULL)
        ch->ops->line(ch->ops_ctx, line);
}

static void on_quiet(uv_timer_t *t)
{
    struct at_chan *ch = t->data;

    if (!ch->closing && !ch->dead)
        at_framer_flush(ch->fr, on_line, ch);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct at_chan *ch = p->data;
    uint8_t buf[READ_CHUNK];

    if (ch->closing || ch->dead)
        return;
    if (status < 0) {
        /* libuv reports POLLERR (the tty's hang-up) as UV_EBADF */
        GW_LOG(GW_LOG_DEBUG, ch->name, "poll: %s", uv_strerror(status));
        chan_hangup(ch, -EIO);
        return;
    }
    if (events & UV_READABLE) {
        for (int i = 0; i < READS_PER_WAKEUP; i++) {
            ssize_t n = read(ch->fd, buf, sizeof buf);

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n == 0) {
                /* With VMIN = VTIME = 0 a tty reads 0 when it has nothing,
                 * even non-blocking; a hung-up tty (USB unplug) reads 0
                 * too, but fails every ioctl. */
                struct termios tio;

                if (i == 0 && tcgetattr(ch->fd, &tio) != 0) {
                    chan_hangup(ch, -EIO);
                    return;
                }
                break;
            }
            if (n < 0) {
                chan_hangup(ch, -errno);
                return;
            }
            ch->stats.bytes_in += (uint64_t)n;
            at_framer_feed(ch->fr, buf, (size_t)n, on_line, ch);
            if (ch->closing || ch->dead)
                return;
            uv_timer_start(&ch->quiet_timer, on_quiet, AT_CHAN_QUIET_MS, 0);
        }
    }
    if (events & UV_DISCONNECT) {
        chan_hangup(ch, -EIO);
        return;
    }
    if (events & UV_WRITABLE)
        chan_write(ch);
}

int at_chan_open(struct at_chan **out, uv_loop_t *loop, const char *path,
                 int baud, const char *name, const struct at_chan_ops *ops,
                 void *ops_ctx)
{
    struct at_chan *ch;
    int rc;

    *out = NULL;
    ch = calloc(1, sizeof *ch);
    if (ch == NULL)
        return -ENOMEM;
    ch->fd = -1;
    ch->loop = loop;
    ch->ops = ops;
    ch->ops_ctx = ops_ctx;
    snprintf(ch->name, sizeof ch->name, "%s", name != NULL ? name : path);
    ch->fr = at_framer_new();
    if (ch->fr == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = serial_open(path, baud);
    if (rc < 0)
        goto fail;
    ch->fd = rc;
    rc = uv_poll_init(loop, &ch->poll, ch->fd);
    if (rc < 0)
        goto fail;
    /* From here on the handles exist and must be closed through libuv. */
    uv_timer_init(loop, &ch->cmd_timer);
    uv_timer_init(loop, &ch->quiet_timer);
    ch->poll.data = ch->cmd_timer.data = ch->quiet_timer.data = ch;
    ch->handles_open = 3;
    ch->poll_events = UV_READABLE | UV_DISCONNECT;
    rc = uv_poll_start(&ch->poll, ch->poll_events, on_poll);
    if (rc < 0) {
        at_chan_close(ch, NULL, NULL);
        return rc;
    }
    *out = ch;
    return 0;

fail:
    if (ch->fd >= 0)
        serial_close(ch->fd);
    at_framer_free(ch->fr);
    free(ch);
    return rc;
}

int at_chan_send(struct at_chan *ch, const char *text, int64_t timeout_ms,
                 at_chan_done_fn *done, void *ctx)
{
    struct at_cmd *cmd;
    size_t len;

    if (ch->closing || ch->dead)
        return GW_E_STATE;
    len = strnlen(text, AT_CHAN_CMD_MAX);
    if (len >= AT_CHAN_CMD_MAX)
        return GW_E_TOOLONG;
    if (len == 0 || strpbrk(text, "\r\n") != NULL || timeout_ms <= 0 ||
        done == NULL)
        return GW_E_INVAL;
    if (ch->q_len >= AT_CHAN_QUEUE_MAX)
        return GW_E_FULL;
    cmd = &ch->queue[(ch->q_head + ch->q_len) % AT_CHAN_QUEUE_MAX];
    memcpy(cmd->text, text, len);
    cmd->text[len] = '\r';
    cmd->len = len + 1;
    cmd->timeout_ms = timeout_ms;
    cmd->done = done;
    cmd->ctx = ctx;
    ch->q_len++;
    chan_pump(ch);
    return 0;
}

int at_chan_expire(struct at_chan *ch)
{
    if (!ch->has_inflight)
        return GW_E_STATE;
    ch->stats.timeouts++;
    chan_complete(ch, -ETIMEDOUT);
    return 0;
}

int at_chan_busy(const struct at_chan *ch)
{
    return ch->has_inflight;
}

size_t at_chan_queued(const struct at_chan *ch)
{
    return ch->q_len;
}

const struct at_chan_stats *at_chan_stats(const struct at_chan *ch)
{
    return &ch->stats;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct at_chan *ch = h->data;

    if (--ch->handles_open > 0)
        return;
    if (ch->closed != NULL)
        ch->closed(ch->closed_ctx);
    at_framer_free(ch->fr);
    free(ch);
}

void at_chan_close(struct at_chan *ch, void (*closed)(void *ctx), void *ctx)
{
    if (ch == NULL || ch->closing)
        return;
    ch->closing = 1;
    ch->closed = closed;
    ch->closed_ctx = ctx;
    uv_poll_stop(&ch->poll);
    uv_timer_stop(&ch->cmd_timer);
    uv_timer_stop(&ch->quiet_timer);
    chan_fail_all(ch, -ECANCELED);
    serial_close(ch->fd);
    ch->fd = -1;
    uv_close((uv_handle_t *)&ch->poll, on_handle_closed);
    uv_close((uv_handle_t *)&ch->cmd_timer, on_handle_closed);
    uv_close((uv_handle_t *)&ch->quiet_timer, on_handle_closed);
}
