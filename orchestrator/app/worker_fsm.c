/* worker_fsm.c: the glue between a worker and its SOTA machine:
 * feeding events, executing actions in order (deferred behind a
 * commit when they must be), the FSM's commands and timers, URCs. */
#define GW_LOG_TAG "worker"

#include "worker_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dio/at_chan.h"
#include "dio/m531x.h"
#include "gw/err.h"
#include "staging.h"

#include "gw/log.h"

#define CHAN_GUARD_MS 2000 /* channel backstop beyond the FSM timer */

/* ---- answer times ------------------------------------------------------ */

/* A platform request arrived (READ, WRITE, EXECUTE). The oldest pending
 * one is dropped when the list is full: its answer time is then lost, not
 * wrong. */
static void req_arrived(struct worker *w, const struct m531x_urc *u)
{
    struct wk_req *r;

    if (u->kind != M531X_URC_READ && u->kind != M531X_URC_WRITE &&
        u->kind != M531X_URC_EXECUTE)
        return;
    if (w->nreqs == PENDING_REQ_MAX) {
        memmove(&w->reqs[0], &w->reqs[1],
                (PENDING_REQ_MAX - 1) * sizeof w->reqs[0]);
        w->nreqs--;
    }
    r = &w->reqs[w->nreqs++];
    r->msgid = u->msgid;
    r->at = wk_now_ms(w);
}

/* The answer to msgid is complete (the machine says which command
 * completes which request: the SEND action's msgid and completes). */
static void req_answered(struct worker *w, int32_t msgid)
{
    for (size_t i = 0; i < w->nreqs; i++) {
        struct wk_req *r = &w->reqs[i];

        if (r->msgid != msgid)
            continue;
        app_stats_answer(&w->app->stats,
                         (double)(wk_now_ms(w) - r->at) / 1000.0);
        memmove(r, r + 1, (w->nreqs - i - 1) * sizeof *r);
        w->nreqs--;
        return;
    }
}

/* ---- posted events and deferred actions -------------------------------- */

static void on_post(struct wk_timer *t)
{
    struct worker *w = t->w;

    while (w->p_len > 0 && w->stage == WK_RUNNING) {
        struct sota_event ev = w->posted[0];

        w->p_len--;
        memmove(&w->posted[0], &w->posted[1], w->p_len * sizeof ev);
        wk_fsm_feed(w, &ev);
    }
}

void wk_post(struct worker *w, const struct sota_event *ev)
{
    if (w->p_len == POSTED_MAX) {
        /* cannot happen: at most one store, check and flash at a time */
        GW_LOG(GW_LOG_ERR, w->name, "posted events full: %s dropped",
               sota_event_kind_name(ev->kind));
        return;
    }
    w->posted[w->p_len++] = *ev;
    wk_timer_start(&w->post_timer, on_post, 0, 0);
}

static void exec_outside(struct worker *w, const struct wk_deferred *d);

static void on_barrier(struct app_commit_waiter *cw, int rc)
{
    struct worker *w =
        (struct worker *)((char *)cw - offsetof(struct worker, barrier_w));

    if (rc < 0) {
        wk_exit(w, WORKER_EXIT_FAILED, "state not committed to the database");
        return;
    }
    while (w->d_len > 0 && w->stage == WK_RUNNING &&
           w->deferred[w->d_head].need <= w->app->commits) {
        struct wk_deferred d = w->deferred[w->d_head];

        w->d_head = (w->d_head + 1) % DEFERRED_MAX;
        w->d_len--;
        exec_outside(w, &d);
    }
    if (w->d_len > 0 && w->stage == WK_RUNNING)
        app_commit_after(w->app, &w->barrier_w, on_barrier);
}

/* SEND, FLASH, JOB_END: now, or after the commit of a PERSIST before it. */
void wk_outside(struct worker *w, const struct wk_deferred *d)
{
    struct wk_deferred *slot;

    if (w->d_len == 0 && w->barrier_need <= w->app->commits) {
        exec_outside(w, d);
        return;
    }
    if (w->d_len == DEFERRED_MAX) {
        wk_exit(w, WORKER_EXIT_FAILED, "deferred actions overflow");
        return;
    }
    slot = &w->deferred[(w->d_head + w->d_len) % DEFERRED_MAX];
    *slot = *d;
    slot->need = w->barrier_need;
    w->d_len++;
    app_commit_after(w->app, &w->barrier_w, on_barrier);
}

/* ---- FSM commands ------------------------------------------------------ */

static enum sota_cmd_status cmd_status(const struct at_reply *r)
{
    switch (r->final) {
    case AT_FINAL_OK: return SOTA_CMD_OK;
    case AT_FINAL_CIS_ERROR: return SOTA_CMD_CIS_ERROR;
    case AT_FINAL_CME_ERROR: return SOTA_CMD_CME_ERROR;
    case AT_FINAL_ERROR:
    case AT_FINAL_CMS_ERROR:
    case AT_FINAL_NONE: return SOTA_CMD_ERROR;
    }
    return SOTA_CMD_ERROR;
}

static void on_fsm_cmd(void *ctx, int rc, const struct at_reply *r)
{
    struct wk_cmd *c = ctx;
    struct worker *w = c->w;
    struct sota_event ev;

    if (w->stage != WK_RUNNING || c->gen != w->fsm_gen)
        return; /* given up by the FSM's timer, or a modem reset */
    if (rc < 0) {
        /* -ETIMEDOUT of the channel's backstop: the FSM's own timer
         * fires first; anything else (reset, hang-up) is handled by the
         * banner and hang-up paths. */
        return;
    }
    ev.kind = SOTA_EV_CMD_DONE;
    ev.u.cmd.status = cmd_status(r);
    ev.u.cmd.code = r->code;
    if (c->answers >= 0)
        req_answered(w, c->answers);
    wk_fsm_feed(w, &ev);
}

static void send_fsm(struct worker *w, const struct wk_deferred *d)
{
    struct wk_cmd *c = wk_cmd_ctx(w, CMDK_FSM);
    const char *text = d->text;
    int rc;

    c->answers = d->completes ? d->msgid : -1;
    rc = at_chan_send(w->ch, text, w->scfg.cmd_timeout_ms + CHAN_GUARD_MS,
                      on_fsm_cmd, c);

    if (rc < 0)
        GW_LOG(GW_LOG_ERR, w->name, "cannot send %s: %s", text,
               gw_strerror(rc));
}

/* ---- executing actions ------------------------------------------------- */

static void exec_outside(struct worker *w, const struct wk_deferred *d)
{
    switch (d->kind) {
    case SOTA_ACT_SEND: send_fsm(w, d); return;
    case SOTA_ACT_FLASH: wk_do_flash(w, d->size); return;
    case SOTA_ACT_JOB_END: {
        char reason[DB_REASON_MAX + 1];

        if (d->result == SOTA_RESULT_SUCCESS)
            snprintf(reason, sizeof reason, "success");
        else if (w->has_job && w->job.reason[0] != '\0')
            snprintf(reason, sizeof reason, "%s", w->job.reason);
        else
            snprintf(reason, sizeof reason, "update result %d (%s)",
                     (int)d->result, sota_result_name(d->result));
        wk_job_close(w, d->result, reason);
        return;
    }
    case SOTA_ACT_STORE_CHUNK:
    case SOTA_ACT_RESET_STAGING:
    case SOTA_ACT_CHECK_IMAGE:
    case SOTA_ACT_PERSIST:
    case SOTA_ACT_ARM_TIMER:
    case SOTA_ACT_CANCEL_TIMER:
    case SOTA_ACT_NOTE: return; /* never deferred */
    }
}

/* How loud a note of the machine is logged: progress is INFO; a refusal,
 * a failure, a resend, an input out of place or a registration given up
 * is WARN. */
static enum gw_log_level note_level(enum sota_note_kind kind)
{
    switch (kind) {
    case SOTA_NOTE_RESTART:
    case SOTA_NOTE_RESUME:
    case SOTA_NOTE_STATE:
    case SOTA_NOTE_RESULT:
    case SOTA_NOTE_REGISTER: return GW_LOG_INFO;
    case SOTA_NOTE_BAD_CHUNK:
    case SOTA_NOTE_DUPLICATE:
    case SOTA_NOTE_REFUSED:
    case SOTA_NOTE_CMD_FAILED:
    case SOTA_NOTE_IGNORED:
    case SOTA_NOTE_REG_FAILED: break;
    }
    return GW_LOG_WARN;
}

/* NOTE: the one log line of a note (the machine logs none), its audit
 * event and its counter. One event kind per note kind, "sota.resume",
 * "sota.refused"..., so the audit trail can be filtered. */
static void do_note(struct worker *w, enum sota_note_kind nk, const char *text)
{
    char kind[32];

    snprintf(kind, sizeof kind, "sota.%s", sota_note_kind_name(nk));
    if (nk == SOTA_NOTE_RESUME)
        w->app->stats.resumes++;
    else if (nk == SOTA_NOTE_RESTART)
        w->app->stats.restarts++;
    else if (nk == SOTA_NOTE_DUPLICATE)
        w->app->stats.chunks_resent++;
    else if (nk == SOTA_NOTE_BAD_CHUNK)
        w->app->stats.chunks_bad++;
    GW_LOG(note_level(nk), w->name, "%s: %s", kind, text);
    wk_event_add(w, kind, "%s", text);
    /* "failed: registration", and its end, go to the device row */
    if (nk == SOTA_NOTE_REG_FAILED ||
        (nk == SOTA_NOTE_REGISTER && w->fault_saved))
        wk_device_save(w, wk_device_state(w));
}

static void timer_fired(struct wk_timer *t);

static void exec_actions(struct worker *w, const struct sota_actions *acts)
{
    for (size_t i = 0; i < acts->n && w->stage == WK_RUNNING; i++) {
        const struct sota_action *a = &acts->v[i];
        struct wk_deferred d;

        switch (a->kind) {
        case SOTA_ACT_SEND:
            memset(&d, 0, sizeof d);
            d.kind = a->kind;
            snprintf(d.text, sizeof d.text, "%.*s", (int)a->u.send.len,
                     a->u.send.text);
            d.msgid = a->u.send.msgid;
            d.completes = a->u.send.completes;
            wk_outside(w, &d);
            break;
        case SOTA_ACT_FLASH:
        case SOTA_ACT_JOB_END:
            memset(&d, 0, sizeof d);
            d.kind = a->kind;
            d.size = a->u.image.size;
            if (a->kind == SOTA_ACT_JOB_END)
                d.result = a->u.job_end.result;
            wk_outside(w, &d);
            break;
        case SOTA_ACT_STORE_CHUNK: wk_do_store(w, a); break;
        case SOTA_ACT_RESET_STAGING:
            if (w->stg != NULL && staging_reset(w->stg) < 0)
                GW_LOG(GW_LOG_ERR, w->name, "staging not reset");
            w->have_crc = 0;
            break;
        case SOTA_ACT_CHECK_IMAGE: wk_do_check(w, a->u.image.size); break;
        case SOTA_ACT_PERSIST: wk_do_persist(w, &a->u.persist); break;
        case SOTA_ACT_ARM_TIMER:
            wk_timer_start(&w->fsm_timer[a->u.timer.id], timer_fired,
                           a->u.timer.at - wk_now_ms(w), 0);
            break;
        case SOTA_ACT_CANCEL_TIMER:
            wk_timer_stop(&w->fsm_timer[a->u.timer.id]);
            break;
        case SOTA_ACT_NOTE: do_note(w, a->u.note.kind, a->u.note.text); break;
        }
    }
}

void wk_fsm_feed(struct worker *w, const struct sota_event *ev)
{
    struct sota_actions acts;
    int rc;

    if (w->stage != WK_RUNNING || !w->fsm_ready)
        return;
    rc = sota_fsm_step(&w->fsm, ev, wk_now_ms(w), &acts);
    if (rc < 0)
        GW_LOG(GW_LOG_ERR, w->name, "%s: %s", sota_event_kind_name(ev->kind),
               gw_strerror(rc));
    exec_actions(w, &acts);
}

static void timer_fired(struct wk_timer *t)
{
    struct worker *w = t->w;
    struct sota_event ev;
    int id = (int)(t - w->fsm_timer);

    ev.kind = SOTA_EV_TIMER;
    ev.u.timer = (enum sota_timer)id;
    if (id == SOTA_TIMER_CMD) {
        /* the FSM gives up on its command: a late final is a stray */
        w->fsm_gen++;
        if (at_chan_busy(w->ch))
            at_chan_expire(w->ch);
    }
    wk_fsm_feed(w, &ev);
}

int wk_fsm_start(struct worker *w)
{
    struct sota_event ev = {.kind = SOTA_EV_START};

    wk_fsm_feed(w, &ev);
    if (!w->dev.known)
        return 0;
    ev.kind = SOTA_EV_DEVICE;
    ev.u.device = w->dev;
    wk_fsm_feed(w, &ev);
    return 1;
}

/* ---- policies ---------------------------------------------------------- */

/* Start the machine again from an idle checkpoint (the job was ended by a
 * policy): commands, timers and waits of the old one are dropped. */
void wk_fsm_restart_idle(struct worker *w)
{
    struct sota_checkpoint cp;

    w->fsm_gen++;
    for (int i = 0; i < SOTA_TIMER_COUNT; i++)
        wk_timer_stop(&w->fsm_timer[i]);
    app_commit_cancel(w->app, &w->barrier_w);
    app_commit_cancel(w->app, &w->store_w);
    w->store_pending = 0;
    w->d_len = 0;
    w->p_len = 0;
    w->barrier_need = 0;
    sota_fsm_cleanup(&w->fsm);
    sota_checkpoint_init(&cp);
    if (sota_fsm_init(&w->fsm, &w->scfg, &cp, wk_now_ms(w)) < 0) {
        w->fsm_ready = 0;
        wk_exit(w, WORKER_EXIT_FAILED, "state machine rebuild failed");
        return;
    }
    w->last_cp = cp;
    wk_fsm_start(w);
}

/* ---- URCs -------------------------------------------------------------- */

static void on_mipl(struct worker *w, const struct at_line *line)
{
    struct m531x_urc u;
    struct sota_event ev;
    uint8_t data[M531X_OPAQUE_MAX];
    int rc, n = 0;

    rc = m531x_decode_urc(line->text, line->len,
                          w->app->cfg->dialect.opaque_len, &u);
    if (rc == 0 && u.kind == M531X_URC_WRITE &&
        u.u.write.type == M531X_TYPE_OPAQUE && u.u.write.value_len > 0) {
        n = m531x_write_data(&u, data, sizeof data);
        if (n < 0)
            rc = n;
    }
    if (rc < 0) {
        GW_LOG(GW_LOG_WARN, w->name, "undecodable URC (%s): %.60s",
               u.reason != NULL ? u.reason : gw_strerror(rc), line->text);
        if (rc == GW_E_UNKNOWN || u.kind != M531X_URC_WRITE)
            return;
        /* the decoder keeps the msgid of a refused request when it read
         * (dio/m531x.h), so the machine can answer it write-fail */
        ev.kind = SOTA_EV_BAD_URC;
        ev.u.bad.msgid = u.msgid;
        ev.u.bad.reason = u.reason;
        wk_fsm_feed(w, &ev);
        return;
    }
    wk_feed_load(w, &u);
    req_arrived(w, &u);
    ev.kind = SOTA_EV_URC;
    ev.u.urc.urc = &u;
    ev.u.urc.data = n > 0 ? data : NULL;
    ev.u.urc.data_len = (size_t)n;
    wk_fsm_feed(w, &ev);
}

void wk_on_chan_line(void *ctx, const struct at_line *line)
{
    struct worker *w = ctx;
    int stat;

    switch (line->kind) {
    case AT_LINE_URC:
        if (m531x_is_mipl_urc(line->text, line->len)) {
            if (w->stage == WK_RUNNING)
                on_mipl(w, line);
            else
                GW_LOG(GW_LOG_DEBUG, w->name, "URC before start: %.60s",
                       line->text);
            return;
        }
        if (m531x_parse_cereg(line->text, line->len, 0, &stat) == 0) {
            if (stat != w->reg_status)
                GW_LOG(GW_LOG_INFO, w->name, "network registration %d -> %d",
                       w->reg_status, stat);
            w->reg_status = stat;
            return;
        }
        GW_LOG(GW_LOG_DEBUG, w->name, "URC: %.60s", line->text);
        return;
    case AT_LINE_GARBAGE:
    case AT_LINE_OVERLONG:
        GW_LOG(GW_LOG_WARN, w->name, "%s line dropped (%zu bytes)",
               at_line_kind_name(line->kind), line->len);
        return;
    case AT_LINE_COMMAND:
    case AT_LINE_FINAL:
    case AT_LINE_INFO:
    case AT_LINE_UNKNOWN:
        GW_LOG(GW_LOG_DEBUG, w->name, "unsolicited: %.60s", line->text);
        return;
    }
}
