/* worker.c: the SOTA worker of one modem (worker.h): its life cycle. The
 * other concerns have a file each (worker_internal.h lists them).
 *
 * Design note
 *   Life: BRINGUP (a const table of AT steps, one command at a time) ->
 *   RUNNING (the FSM drives the channel) -> CLOSING -> EXITED. The FSM is
 *   built only once the modem is identified (its IMEI keys the job and the
 *   staged image) and the field device has been read once.
 *
 *   Actions are executed in order. A PERSIST that changes more than the
 *   byte count of a running download writes the job row into the group and
 *   raises a barrier: every SEND, FLASH and JOB_END after it waits in
 *   `deferred` until a commit that covers the row has completed. Progress
 *   of a download (bytes, last msgid) needs no barrier: the chunk records,
 *   committed before the chunk is acknowledged, are what a restart trusts
 *   (staging_recover), so the job row's counters are informative only.
 *   Which commit covers a write is told by app->commits: a write made while
 *   app->commits == n is covered by commit n + 1 (the counter moves before
 *   the waiters of a commit run).
 *
 *   Events the worker produces while executing actions (CHECKED of the
 *   synchronous image check, a failed STORED, FLASHED "no target") are
 *   posted and delivered from a zero timer, never fed to the FSM from
 *   inside an action list.
 *
 *   Commands: FSM commands carry the generation of the FSM's command slot;
 *   a timeout of the FSM's command timer or a modem reset bumps it, and a
 *   late completion of an older command is dropped (the FSM contract: a
 *   stray final is not reported). */
#define GW_LOG_TAG "worker"

#include "worker_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dio/mb_bus.h"
#include "db/db_events.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "staging.h"

#include "gw/log.h"

#define ACTOR "daemon" /* of the audit events the worker records */

int64_t wk_now_ms(const struct worker *w)
{
    if (w->ops->now_ms != NULL)
        return w->ops->now_ms(w->ops_ctx);
    return (int64_t)uv_now(w->app->loop);
}

/* ---- timers ------------------------------------------------------------ */

static void on_uv_timer(uv_timer_t *h);

/* Set the uv timer for what is left of t's deadline. */
static void timer_wake(struct wk_timer *t)
{
    int64_t left = t->due - wk_now_ms(t->w);

    uv_timer_start(&t->h, on_uv_timer, left > 0 ? (uint64_t)left : 0, 0);
}

static void on_uv_timer(uv_timer_t *h)
{
    struct wk_timer *t =
        (struct wk_timer *)((char *)h - offsetof(struct wk_timer, h));
    int64_t now = wk_now_ms(t->w);

    if (!t->armed)
        return;
    if (now < t->due) {
        timer_wake(t); /* a clock of its own that is not there yet */
        return;
    }
    if (t->period > 0) {
        t->due = now + t->period;
        timer_wake(t);
    } else {
        t->armed = 0;
    }
    t->cb(t);
}

void wk_timer_start(struct wk_timer *t, wk_timer_cb *cb, int64_t delay_ms,
                    int64_t period_ms)
{
    t->cb = cb;
    t->due = wk_now_ms(t->w) + (delay_ms > 0 ? delay_ms : 0);
    t->period = period_ms > 0 ? period_ms : 0;
    t->armed = 1;
    timer_wake(t);
}

void wk_timer_stop(struct wk_timer *t)
{
    t->armed = 0;
    uv_timer_stop(&t->h);
}

int wk_timer_armed(const struct wk_timer *t)
{
    return t->armed;
}

static const char *port_base(const char *path)
{
    const char *s = strrchr(path, '/');

    return s != NULL ? s + 1 : path;
}

/* IMEI masked for logs: only the last four digits. */
void wk_set_name(struct worker *w)
{
    if (w->imei[0] != '\0')
        snprintf(w->name, sizeof w->name, "%.24s/*%s", port_base(w->port),
                 w->imei + 11);
    else
        snprintf(w->name, sizeof w->name, "%.40s", port_base(w->port));
}

void wk_event_add(struct worker *w, const char *kind, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    rc = db_group_begin(w->app->db);
    if (rc == 0)
        rc = db_event_append(
            w->app->db, gw_wall_ms(), w->imei[0] ? w->imei : NULL,
            w->has_job ? w->job.id : 0, kind, ACTOR, detail, NULL);
    if (rc < 0)
        GW_LOG(GW_LOG_WARN, w->name, "event %s not recorded: %s", kind,
               gw_strerror(rc));
}

struct wk_cmd *wk_cmd_ctx(struct worker *w, enum wk_cmd_kind kind)
{
    struct wk_cmd *c = &w->cmds[w->cmd_next];

    w->cmd_next = (w->cmd_next + 1) % CMDS_MAX;
    c->w = w;
    c->kind = kind;
    c->gen = w->fsm_gen;
    c->answers = -1;
    return c;
}

static const struct at_chan_ops chan_ops = {
    .line = wk_on_chan_line,
    .boot = wk_on_chan_boot,
    .hangup = wk_on_chan_hangup,
};

/* ---- life cycle -------------------------------------------------------- */

/* One of the timers or the channel has closed; the last one reports. */
static void handle_done(struct worker *w)
{
    if (--w->handles_open > 0)
        return;
    w->stage = WK_EXITED;
    w->ops->exited(w->ops_ctx, w, w->exit_why, w->exit_detail);
}

static void on_handle_closed(uv_handle_t *h)
{
    handle_done(h->data);
}

static void on_chan_closed(void *ctx)
{
    struct worker *w = ctx;

    w->ch = NULL;
    handle_done(w);
}

static struct wk_timer *timer_at(struct worker *w, int i)
{
    switch (i) {
    case 0: return &w->retry_timer;
    case 1: return &w->ident_timer;
    case 2: return &w->post_timer;
    case 3: return &w->readings_timer;
    default: return &w->fsm_timer[i - 4];
    }
}

#define TIMERS (4 + SOTA_TIMER_COUNT)

void wk_exit(struct worker *w, enum worker_exit why, const char *detail)
{
    if (w->stage == WK_CLOSING || w->stage == WK_EXITED)
        return;
    GW_LOG(why == WORKER_EXIT_STOPPED ? GW_LOG_INFO : GW_LOG_WARN, w->name,
           "%s -> exit: %s", w->stage == WK_RUNNING ? "running" : "bring-up",
           detail);
    w->stage = WK_CLOSING;
    w->exit_why = why;
    snprintf(w->exit_detail, sizeof w->exit_detail, "%s", detail);
    app_commit_cancel(w->app, &w->barrier_w);
    app_commit_cancel(w->app, &w->store_w);
    if (w->dev_h != NULL)
        mb_bus_cancel(w->dev_h, w);
    if (w->imei[0] != '\0')
        wk_device_save(w, DB_DEVICE_ABSENT);
    if (w->stg != NULL) {
        staging_free(w->stg); /* its pending sync is done now */
        w->stg = NULL;
    }
    app_commit_flush(w->app);
    for (int i = 0; i < TIMERS; i++) {
        wk_timer_stop(timer_at(w, i));
        uv_close((uv_handle_t *)&timer_at(w, i)->h, on_handle_closed);
    }
    at_chan_close(w->ch, on_chan_closed, w);
}

int worker_start(struct worker **out, struct app *app, const char *port_path,
                 const struct usb_location *loc, const struct worker_ops *ops,
                 void *ops_ctx)
{
    struct worker *w;
    int rc;

    *out = NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    w->app = app;
    w->ops = ops;
    w->ops_ctx = ops_ctx;
    snprintf(w->port, sizeof w->port, "%s", port_path);
    if (loc != NULL)
        w->loc = *loc;
    w->rssi = 99;
    w->reg_status = -1;
    w->dev.battery_pct = -1;
    w->dev.free_kib = -1;
    w->dev.staging_free_kib = -1;
    wk_set_name(w);
    rc = at_chan_open(&w->ch, app->loop, port_path, (int)app->cfg->modems.baud,
                      w->name, &chan_ops, w);
    if (rc < 0) {
        GW_LOG(GW_LOG_WARN, w->name, "cannot open: %s", gw_strerror(rc));
        free(w);
        return rc;
    }
    for (int i = 0; i < TIMERS; i++) {
        struct wk_timer *t = timer_at(w, i);

        uv_timer_init(app->loop, &t->h);
        t->h.data = w;
        t->w = w;
    }
    w->handles_open = TIMERS + 1; /* + the channel */
    w->stage = WK_BRINGUP;
    w->step = BU_AT;
    GW_LOG(GW_LOG_INFO, w->name, "bring-up on %s", port_path);
    wk_bu_next(w);
    *out = w;
    return 0;
}

void worker_clock_moved(struct worker *w)
{
    if (w->stage == WK_CLOSING || w->stage == WK_EXITED)
        return;
    for (int i = 0; i < TIMERS; i++)
        if (timer_at(w, i)->armed)
            timer_wake(timer_at(w, i));
}

void worker_stop(struct worker *w)
{
    wk_exit(w, WORKER_EXIT_STOPPED, "stopped");
}

void worker_free(struct worker *w)
{
    if (w == NULL)
        return;
    if (w->dev_h != NULL)
        mb_bus_dev_put(w->dev_h);
    if (w->fsm_ready)
        sota_fsm_cleanup(&w->fsm);
    free(w);
}

void worker_info(const struct worker *w, struct worker_info *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->port, sizeof out->port, "%s", w->port);
    out->loc = w->loc;
    memcpy(out->imei, w->imei, sizeof out->imei);
    out->rssi = w->rssi;
    out->reg_status = w->reg_status;
    out->readings_ms = w->readings_ms;
    if (w->fsm_ready)
        sota_fsm_snapshot(&w->fsm, &out->sota);
    out->job_id = w->has_job ? w->job.id : 0;
    if (w->dev_h != NULL)
        snprintf(out->target, sizeof out->target, "%s",
                 mb_bus_dev_name(w->dev_h));
    out->target_reachable = w->target_reachable;
    out->flash_acked = w->flash_acked;
    out->paused = out->sota.paused;
}
