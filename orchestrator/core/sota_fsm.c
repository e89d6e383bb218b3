/* sota_fsm.c: the SOTA state machine of one modem.
 *
 * Design note
 *   Two state variables: the upgrade phase (durable, in fsm->cp together
 *   with the result and the byte count) and the registration of the MIPL
 *   instance (volatile: a restart always registers again). set_state() is
 *   the only writer of the phase; set_reg() of the registration.
 *
 *   Every step builds its actions in a struct step. Handlers queue commands;
 *   finish() at the end of the step sends the head of the queue when no
 *   command is in flight, so at most one SEND leaves per step and the
 *   answers keep the order in which the requests came. Answers that tell
 *   the platform something is stored follow the PERSIST of that fact.
 *
 *   Chunks: the next chunk must start at the durable byte count. Only
 *   STORED ok advances it, so 5/0/26500 never reports bytes that are not
 *   on disk. One chunk is stored at a time; requests that arrive meanwhile
 *   are not answered (the platform resends them).
 */
#include "orch/sota_fsm.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gw/compiler.h"
#include "gw/err.h"
#include "orch/oma.h"

/* +MIPLEVENT codes (docs/M531X-REFERENCE.md 2.6). */
#define EVT_BOOTSTRAP_START   1
#define EVT_BOOTSTRAP_SUCCESS 2
#define EVT_BOOTSTRAP_FAILED  3
#define EVT_CONNECT_SUCCESS   4
#define EVT_CONNECT_FAILED    5
#define EVT_REG_SUCCESS       6
#define EVT_REG_FAILED        7
#define EVT_REG_TIMEOUT       8
#define EVT_LIFETIME_TIMEOUT  9
#define EVT_STATUS_HALT       10
#define EVT_UPDATE_SUCCESS    11
#define EVT_UPDATE_FAILED     12
#define EVT_UPDATE_TIMEOUT    13
#define EVT_UPDATE_NEEDED     14
#define EVT_UNREGISTERED      15
#define EVT_INSTANCE_DELETED  31 /* by the platform (OneOS M5311 only) */

#define REG_FAILURES_CAP 1000 /* reg_failures stops counting here */

#define CIS_ERR_WRONG_STATE 602

/* One call of sota_fsm_step(). */
struct step {
    struct sota_fsm *fsm;
    struct sota_actions *out;
    int64_t now;
    int overflow;
    struct sota_action scratch; /* written instead when out is full */
};

/* ---- names ------------------------------------------------------------- */

const char *sota_phase_name(enum sota_phase phase)
{
    switch (phase) {
    case SOTA_PHASE_IDLE: return "idle";
    case SOTA_PHASE_DOWNLOADING: return "downloading";
    case SOTA_PHASE_CHECKING: return "checking";
    case SOTA_PHASE_DOWNLOADED: return "downloaded";
    case SOTA_PHASE_FLASHING: return "flashing";
    case SOTA_PHASE_DONE: return "done";
    }
    return "?";
}

const char *sota_result_name(enum sota_result result)
{
    switch (result) {
    case SOTA_RESULT_INITIAL: return "initial";
    case SOTA_RESULT_SUCCESS: return "success";
    case SOTA_RESULT_NO_SPACE: return "not enough space";
    case SOTA_RESULT_OUT_OF_RAM: return "out of RAM";
    case SOTA_RESULT_CONN_LOST: return "connection lost";
    case SOTA_RESULT_INTEGRITY: return "integrity check failure";
    case SOTA_RESULT_UNSUPPORTED_TYPE: return "unsupported package type";
    case SOTA_RESULT_INVALID_URI: return "invalid URI";
    case SOTA_RESULT_UPDATE_FAILED: return "update failed";
    case SOTA_RESULT_UNSUPPORTED_PROTOCOL: return "unsupported protocol";
    case SOTA_RESULT_CANCELLED: return "cancelled";
    case SOTA_RESULT_DEFERRED: return "deferred";
    }
    return "?";
}

const char *sota_reg_name(enum sota_reg reg)
{
    switch (reg) {
    case SOTA_REG_STOPPED: return "stopped";
    case SOTA_REG_CREATING: return "creating";
    case SOTA_REG_DELETING: return "deleting";
    case SOTA_REG_WAIT_DEVICE: return "waiting for device data";
    case SOTA_REG_VERSION: return "reporting version";
    case SOTA_REG_OPENING: return "opening";
    case SOTA_REG_WAIT_EVENT: return "waiting for registration";
    case SOTA_REG_REGISTERED: return "registered";
    case SOTA_REG_BACKOFF: return "backoff";
    case SOTA_REG_REBOOTING: return "rebooting";
    case SOTA_REG_FAILED: return "failed";
    }
    return "?";
}

const char *sota_timer_name(enum sota_timer timer)
{
    switch (timer) {
    case SOTA_TIMER_CMD: return "command";
    case SOTA_TIMER_REGISTER: return "register";
    case SOTA_TIMER_BACKOFF: return "backoff";
    case SOTA_TIMER_KEEPALIVE: return "keepalive";
    case SOTA_TIMER_REBOOT: return "reboot";
    }
    return "?";
}

const char *sota_event_kind_name(enum sota_event_kind kind)
{
    switch (kind) {
    case SOTA_EV_START: return "start";
    case SOTA_EV_CMD_DONE: return "cmd-done";
    case SOTA_EV_URC: return "urc";
    case SOTA_EV_BAD_URC: return "bad-urc";
    case SOTA_EV_STORED: return "stored";
    case SOTA_EV_CHECKED: return "checked";
    case SOTA_EV_FLASHED: return "flashed";
    case SOTA_EV_DEVICE: return "device";
    case SOTA_EV_TIMER: return "timer";
    case SOTA_EV_MODEM_RESET: return "modem-reset";
    case SOTA_EV_LOAD: return "load";
    case SOTA_EV_PAUSE: return "pause";
    case SOTA_EV_RESUME: return "resume";
    case SOTA_EV_CANCEL: return "cancel";
    }
    return "?";
}

const char *sota_action_kind_name(enum sota_action_kind kind)
{
    switch (kind) {
    case SOTA_ACT_SEND: return "send";
    case SOTA_ACT_STORE_CHUNK: return "store-chunk";
    case SOTA_ACT_RESET_STAGING: return "reset-staging";
    case SOTA_ACT_CHECK_IMAGE: return "check-image";
    case SOTA_ACT_FLASH: return "flash";
    case SOTA_ACT_PERSIST: return "persist";
    case SOTA_ACT_ARM_TIMER: return "arm-timer";
    case SOTA_ACT_CANCEL_TIMER: return "cancel-timer";
    case SOTA_ACT_NOTE: return "note";
    case SOTA_ACT_JOB_END: return "job-end";
    }
    return "?";
}

const char *sota_note_kind_name(enum sota_note_kind kind)
{
    switch (kind) {
    case SOTA_NOTE_RESTART: return "restart";
    case SOTA_NOTE_RESUME: return "resume";
    case SOTA_NOTE_STATE: return "state";
    case SOTA_NOTE_RESULT: return "result";
    case SOTA_NOTE_REGISTER: return "register";
    case SOTA_NOTE_BAD_CHUNK: return "bad-chunk";
    case SOTA_NOTE_DUPLICATE: return "duplicate";
    case SOTA_NOTE_REFUSED: return "refused";
    case SOTA_NOTE_CMD_FAILED: return "cmd-failed";
    case SOTA_NOTE_IGNORED: return "ignored";
    case SOTA_NOTE_REG_FAILED: return "reg-failed";
    }
    return "?";
}

int sota_phase_oma_state(enum sota_phase phase)
{
    switch (phase) {
    case SOTA_PHASE_IDLE: return 0;
    case SOTA_PHASE_DOWNLOADING: return 1;
    case SOTA_PHASE_CHECKING: return 2;
    case SOTA_PHASE_DOWNLOADED: return 2;
    case SOTA_PHASE_FLASHING: return 3;
    case SOTA_PHASE_DONE: return 0;
    }
    return 0;
}

/* ---- config and checkpoint --------------------------------------------- */

void sota_config_default(struct sota_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->name, sizeof cfg->name, "modem");
    m531x_dialect_default(&cfg->dialect);
    cfg->ref = 0;
    cfg->lifetime_s = 600;
    cfg->open_timeout_s = 60;
    cfg->cmd_timeout_ms = 10000;
    cfg->register_timeout_ms = 90000;
    cfg->retry_min_ms = 5000;
    cfg->retry_max_ms = 300000;
    cfg->create_retries = 2;
    cfg->reg_retries = 3;
    cfg->keepalive_pct = 55;
    cfg->late_event_ms = 60000;
    snprintf(cfg->reboot_cmd, sizeof cfg->reboot_cmd, "AT+CMRB");
    cfg->reboot_timeout_ms = 60000;
    cfg->reg_fail_backoff_ms = 1800000;
    cfg->chunk_max = M531X_OPAQUE_MAX;
    cfg->image_max = 16u * 1024u * 1024u;
    cfg->unknown_read_result = M531X_RESULT_NOT_FOUND;
    cfg->retry_budget = 5;
    cfg->downloads_per_hub = 0;
}

void sota_checkpoint_init(struct sota_checkpoint *cp)
{
    memset(cp, 0, sizeof *cp);
    cp->phase = SOTA_PHASE_IDLE;
    cp->result = SOTA_RESULT_INITIAL;
    cp->last_msgid = -1;
}

static int phase_valid(int phase)
{
    return phase >= 0 && phase < SOTA_PHASE_COUNT;
}

static int result_valid(int result)
{
    return result >= 0 && result <= SOTA_RESULT_MAX;
}

static int str_terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

int sota_checkpoint_validate(const struct sota_checkpoint *cp,
                             uint32_t image_max)
{
    if (!phase_valid((int)cp->phase) || !result_valid((int)cp->result))
        return GW_E_CORRUPT;
    if (cp->bytes > image_max || cp->last_msgid < -1 ||
        !str_terminated(cp->new_version, sizeof cp->new_version))
        return GW_E_CORRUPT;
    switch (cp->phase) {
    case SOTA_PHASE_IDLE:
        /* IDLE holds no image: every way into IDLE drops the staging. */
        if (cp->bytes != 0 || cp->image_size != 0)
            return GW_E_CORRUPT;
        break;
    case SOTA_PHASE_DOWNLOADING:
        if (cp->image_size != 0)
            return GW_E_CORRUPT;
        break;
    case SOTA_PHASE_CHECKING:
    case SOTA_PHASE_DOWNLOADED:
    case SOTA_PHASE_FLASHING:
    case SOTA_PHASE_DONE:
        if (cp->bytes == 0 || cp->image_size != cp->bytes)
            return GW_E_CORRUPT;
        break;
    }
    if (cp->bytes > 0 && cp->last_msgid < 0)
        return GW_E_CORRUPT;
    return 0;
}

/* "" or an AT command of printable characters without quotes. */
static int reboot_cmd_valid(const struct sota_config *cfg)
{
    const char *c = cfg->reboot_cmd;

    if (!str_terminated(c, sizeof cfg->reboot_cmd))
        return 0;
    if (c[0] == '\0')
        return 1;
    if (strncmp(c, "AT", 2) != 0)
        return 0;
    for (; *c != '\0'; c++)
        if (*c <= ' ' || *c > '~' || *c == '"')
            return 0;
    return 1;
}

static int config_validate(const struct sota_config *cfg)
{
    const char *reason = NULL;

    if (!str_terminated(cfg->name, sizeof cfg->name) ||
        m531x_dialect_check(&cfg->dialect, &reason) != 0)
        return GW_E_CONFIG;
    if (cfg->ref < 0 || cfg->ref > 255 || cfg->lifetime_s < 1 ||
        cfg->open_timeout_s < 1 || cfg->open_timeout_s > 3600)
        return GW_E_CONFIG;
    if (cfg->cmd_timeout_ms < 100 || cfg->cmd_timeout_ms > 600000 ||
        cfg->register_timeout_ms < 1000 || cfg->register_timeout_ms > 3600000)
        return GW_E_CONFIG;
    if (cfg->retry_min_ms < 100 || cfg->retry_max_ms < cfg->retry_min_ms ||
        cfg->retry_max_ms > 86400000)
        return GW_E_CONFIG;
    if (cfg->create_retries < 0 || cfg->create_retries > 10 ||
        cfg->reg_retries > 20 || cfg->keepalive_pct < 10 ||
        cfg->keepalive_pct > 90 || cfg->late_event_ms < 0 ||
        cfg->late_event_ms > 3600000 || cfg->reboot_timeout_ms < 1000 ||
        cfg->reboot_timeout_ms > 600000 || cfg->reg_fail_backoff_ms < 1000 ||
        cfg->reg_fail_backoff_ms > 86400000 || !reboot_cmd_valid(cfg))
        return GW_E_CONFIG;
    if (cfg->chunk_max < 1 || cfg->chunk_max > M531X_OPAQUE_MAX ||
        cfg->image_max < 1 || cfg->image_max > (1u << 30))
        return GW_E_CONFIG;
    if (cfg->unknown_read_result < M531X_RESULT_BAD_REQUEST ||
        cfg->unknown_read_result > M531X_RESULT_NOT_ACCEPTABLE ||
        cfg->lone_last_chunk < 0 || cfg->lone_last_chunk > 1)
        return GW_E_CONFIG;
    return 0;
}

int sota_fsm_init(struct sota_fsm *fsm, const struct sota_config *cfg,
                  const struct sota_checkpoint *initial, int64_t now)
{
    int rc;

    GW_UNUSED(now);
    memset(fsm, 0, sizeof *fsm);
    rc = config_validate(cfg);
    if (rc != 0)
        return rc;
    fsm->cfg = *cfg;
    if (initial != NULL) {
        rc = sota_checkpoint_validate(initial, cfg->image_max);
        if (rc != 0)
            return rc;
        fsm->cp = *initial;
    } else {
        sota_checkpoint_init(&fsm->cp);
    }
    fsm->dev.known = 0;
    fsm->dev.battery_pct = -1;
    fsm->dev.free_kib = -1;
    fsm->dev.staging_free_kib = -1;
    fsm->reg = SOTA_REG_STOPPED;
    fsm->flash_msgid = -1;
    fsm->deleted_at = INT64_MIN;
    return 0;
}

void sota_fsm_cleanup(struct sota_fsm *fsm)
{
    /* Nothing is allocated; clear so a stale use is obvious. */
    memset(fsm, 0, sizeof *fsm);
}

/* ---- actions ----------------------------------------------------------- */

static struct sota_action *act_push(struct step *s, enum sota_action_kind k)
{
    struct sota_action *a;

    if (s->out->n >= SOTA_ACTIONS_MAX) {
        assert(!"sota: action list overflow");
        s->overflow = 1;
        memset(&s->scratch, 0, sizeof s->scratch);
        return &s->scratch;
    }
    a = &s->out->v[s->out->n++];
    memset(a, 0, sizeof *a);
    a->kind = k;
    return a;
}

static void vnote(struct step *s, enum sota_note_kind kind, const char *fmt,
                  va_list ap) GW_PRINTF(3, 0);

static void vnote(struct step *s, enum sota_note_kind kind, const char *fmt,
                  va_list ap)
{
    struct sota_action *a = act_push(s, SOTA_ACT_NOTE);

    /* The shell logs each note once, with the audit event it writes. */
    a->u.note.kind = kind;
    vsnprintf(a->u.note.text, sizeof a->u.note.text, fmt, ap);
}

static void note(struct step *s, enum sota_note_kind kind, const char *fmt, ...)
    GW_PRINTF(3, 4);

static void note(struct step *s, enum sota_note_kind kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vnote(s, kind, fmt, ap);
    va_end(ap);
}

static void persist(struct step *s)
{
    struct sota_action *a = act_push(s, SOTA_ACT_PERSIST);

    a->u.persist = s->fsm->cp;
}

static void timer_arm(struct step *s, enum sota_timer id, int64_t at)
{
    struct sota_action *a = act_push(s, SOTA_ACT_ARM_TIMER);

    a->u.timer.id = id;
    a->u.timer.at = at;
    s->fsm->timer_armed[id] = 1;
    s->fsm->timer_at[id] = at;
}

static void timer_cancel(struct step *s, enum sota_timer id)
{
    struct sota_action *a;

    if (!s->fsm->timer_armed[id])
        return;
    a = act_push(s, SOTA_ACT_CANCEL_TIMER);
    a->u.timer.id = id;
    s->fsm->timer_armed[id] = 0;
}

static void act_image(struct step *s, enum sota_action_kind k, uint32_t size)
{
    act_push(s, k)->u.image.size = size;
}

static void job_end(struct step *s, enum sota_result result)
{
    act_push(s, SOTA_ACT_JOB_END)->u.job_end.result = result;
}

/* ---- phase and result -------------------------------------------------- */

static int phase_change_allowed(enum sota_phase from, enum sota_phase to)
{
    switch (from) {
    case SOTA_PHASE_IDLE: return to == SOTA_PHASE_DOWNLOADING;
    case SOTA_PHASE_DOWNLOADING:
        return to == SOTA_PHASE_CHECKING || to == SOTA_PHASE_IDLE;
    case SOTA_PHASE_CHECKING:
        return to == SOTA_PHASE_DOWNLOADED || to == SOTA_PHASE_IDLE;
    case SOTA_PHASE_DOWNLOADED:
        return to == SOTA_PHASE_FLASHING || to == SOTA_PHASE_IDLE;
    case SOTA_PHASE_FLASHING: /* IDLE: only by an operator CANCEL */
        return to == SOTA_PHASE_DONE || to == SOTA_PHASE_IDLE;
    case SOTA_PHASE_DONE: return to == SOTA_PHASE_IDLE;
    }
    return 0;
}

/* The only writer of the phase. Entering IDLE from any other phase ends
 * the job with the recorded result. */
static void set_state(struct step *s, enum sota_phase to)
{
    struct sota_fsm *fsm = s->fsm;
    enum sota_phase from = fsm->cp.phase;

    if (from == to)
        return;
    if (!phase_change_allowed(from, to)) {
        note(s, SOTA_NOTE_CMD_FAILED, "bug: phase %s -> %s refused",
             sota_phase_name(from), sota_phase_name(to));
        assert(!"sota: phase change not allowed");
        return;
    }
    fsm->cp.phase = to;
    note(s, SOTA_NOTE_STATE, "%s -> %s", sota_phase_name(from),
         sota_phase_name(to));
    if (to == SOTA_PHASE_IDLE)
        job_end(s, fsm->cp.result);
}

static void set_result(struct step *s, enum sota_result r)
{
    if (s->fsm->cp.result == r)
        return;
    s->fsm->cp.result = r;
    note(s, SOTA_NOTE_RESULT, "update result %d (%s)", (int)r,
         sota_result_name(r));
}

/* Forget the staged image (the caller sets the phase). */
static void drop_staging(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;

    act_push(s, SOTA_ACT_RESET_STAGING);
    fsm->cp.bytes = 0;
    fsm->cp.image_size = 0;
    fsm->cp.last_msgid = -1;
    fsm->recent_n = 0;
    fsm->recent_next = 0;
    fsm->store.active = 0; /* a store still running is abandoned */
}

/* ---- the command queue ------------------------------------------------- */

static int queue_cmd(struct step *s, const struct sota_cmd *c)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->q_len >= SOTA_QUEUE_MAX) {
        note(s, SOTA_NOTE_CMD_FAILED, "queue full, dropped: %s", c->text);
        return GW_E_FULL;
    }
    fsm->queue[(fsm->q_head + fsm->q_len) % SOTA_QUEUE_MAX] = *c;
    fsm->q_len++;
    return 0;
}

static void queue_flush(struct sota_fsm *fsm)
{
    fsm->q_head = 0;
    fsm->q_len = 0;
}

#define ANY_MSGID INT32_MIN

/* Remove queued answers to msgid (their first line already failed), or
 * every queued answer (ANY_MSGID). Returns how many were removed. */
static size_t queue_drop_answers(struct sota_fsm *fsm, int32_t msgid)
{
    struct sota_cmd keep[SOTA_QUEUE_MAX];
    size_t n = 0, dropped;

    for (size_t i = 0; i < fsm->q_len; i++) {
        const struct sota_cmd *c =
            &fsm->queue[(fsm->q_head + i) % SOTA_QUEUE_MAX];
        if (!(c->kind == SOTA_CMDK_ANSWER &&
              (msgid == ANY_MSGID || c->msgid == msgid)))
            keep[n++] = *c;
    }
    dropped = fsm->q_len - n;
    for (size_t i = 0; i < n; i++)
        fsm->queue[i] = keep[i];
    fsm->q_head = 0;
    fsm->q_len = n;
    return dropped;
}

static int queue_has(const struct sota_fsm *fsm, enum sota_cmd_kind kind)
{
    if (fsm->has_inflight && fsm->inflight.kind == kind)
        return 1;
    for (size_t i = 0; i < fsm->q_len; i++)
        if (fsm->queue[(fsm->q_head + i) % SOTA_QUEUE_MAX].kind == kind)
            return 1;
    return 0;
}

/* Queue a built command; a builder error is a bug or unsendable data. */
static int queue_built(struct step *s, struct sota_cmd *c, int built)
{
    if (built < 0) {
        note(s, SOTA_NOTE_CMD_FAILED, "command not built: %s",
             gw_strerror(built));
        return built;
    }
    return queue_cmd(s, c);
}

static void cmd_prep(struct sota_cmd *c, enum sota_cmd_kind kind, int32_t msgid)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->msgid = msgid;
    c->completes = kind == SOTA_CMDK_ANSWER && msgid >= 0;
}

static int update_allowed(const struct sota_fsm *fsm);
static void keepalive(struct step *s, const char *why);

/* At the end of every step: a keep-alive held back goes out once it may,
 * and the next command is sent if the line is free. */
static void finish(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;
    struct sota_action *a;

    if (fsm->keepalive_due && update_allowed(fsm))
        keepalive(s, "held back before");
    /* A keep-alive queued before a flash began must not go out during it
     * (it would say "flashing finished"): it waits for the job's end. */
    while (!fsm->has_inflight && fsm->q_len > 0 &&
           fsm->queue[fsm->q_head].kind == SOTA_CMDK_KEEPALIVE &&
           !update_allowed(fsm)) {
        fsm->q_head = (fsm->q_head + 1) % SOTA_QUEUE_MAX;
        fsm->q_len--;
        fsm->keepalive_due = fsm->reg == SOTA_REG_REGISTERED;
    }
    if (!fsm->has_inflight && fsm->q_len > 0) {
        fsm->inflight = fsm->queue[fsm->q_head];
        fsm->q_head = (fsm->q_head + 1) % SOTA_QUEUE_MAX;
        fsm->q_len--;
        fsm->has_inflight = 1;
        a = act_push(s, SOTA_ACT_SEND);
        a->u.send.text = fsm->inflight.text;
        a->u.send.len = strlen(fsm->inflight.text);
        a->u.send.cmd = fsm->inflight.kind;
        a->u.send.msgid = fsm->inflight.msgid;
        a->u.send.completes = fsm->inflight.completes;
        timer_arm(s, SOTA_TIMER_CMD, s->now + fsm->cfg.cmd_timeout_ms);
    }
    if (!fsm->has_inflight)
        timer_cancel(s, SOTA_TIMER_CMD);
}

/* ---- answers ----------------------------------------------------------- */

/* AT+MIPLSOTA carries no msgid; msgid is the request it answers (the
 * execute 5/0/26501 or the chunk), for the shell's answer times. */
static void answer_sota(struct step *s, int32_t msgid, int value)
{
    struct sota_cmd c;

    cmd_prep(&c, SOTA_CMDK_ANSWER, msgid);
    queue_built(s, &c, m531x_build_sota(c.text, sizeof c.text, value));
}

static void answer_execute(struct step *s, int32_t msgid, int result)
{
    struct sota_cmd c;

    cmd_prep(&c, SOTA_CMDK_ANSWER, msgid);
    queue_built(s, &c,
                m531x_build_executersp(c.text, sizeof c.text, s->fsm->cfg.ref,
                                       msgid, result));
}

static void answer_write(struct step *s, int32_t msgid, int result)
{
    struct sota_cmd c;

    cmd_prep(&c, SOTA_CMDK_ANSWER, msgid);
    queue_built(s, &c,
                m531x_build_writersp(c.text, sizeof c.text, s->fsm->cfg.ref,
                                     msgid, result));
}

static void answer_read_error(struct step *s, int32_t msgid, int result)
{
    struct sota_cmd c;

    cmd_prep(&c, SOTA_CMDK_ANSWER, msgid);
    queue_built(s, &c,
                m531x_build_readrsp_error(c.text, sizeof c.text,
                                          s->fsm->cfg.ref, msgid, result));
}

static void answer_read(struct step *s, const struct m531x_urc *u, int res,
                        const struct m531x_value *v, int index, int flag)
{
    struct sota_fsm *fsm = s->fsm;
    struct sota_cmd c;
    int n;

    cmd_prep(&c, SOTA_CMDK_ANSWER, u->msgid);
    c.completes = flag == M531X_FLAG_LAST;
    n = m531x_build_readrsp(c.text, sizeof c.text, &fsm->cfg.dialect,
                            fsm->cfg.ref, u->msgid, M531X_RESULT_CONTENT,
                            u->obj, u->ins, res, v, index, flag);
    if (n < 0) {
        /* E.g. a device version with a quote in it: say "unknown". */
        note(s, SOTA_NOTE_REFUSED, "read %d/%d/%d: value not sendable (%s)",
             u->obj, u->ins, res, gw_strerror(n));
        answer_read_error(s, u->msgid, fsm->cfg.unknown_read_result);
        return;
    }
    queue_cmd(s, &c);
}

static void answer_read_int(struct step *s, const struct m531x_urc *u, int res,
                            int64_t num, int index, int flag)
{
    struct m531x_value v = {.type = M531X_TYPE_INTEGER, .num = num};

    answer_read(s, u, res, &v, index, flag);
}

/* ---- device data ------------------------------------------------------- */

/* The version 3/0/19 and AT+MIPLSOTAVER report, or NULL when unknown.
 * What the device says wins (FLASHED carries a fresh reading); the
 * checkpoint's new version covers a restart before the device answers. */
static const char *report_version(const struct sota_fsm *fsm)
{
    if (fsm->dev.known && fsm->dev.version[0])
        return fsm->dev.version;
    if (fsm->cp.result == SOTA_RESULT_SUCCESS && fsm->cp.new_version[0])
        return fsm->cp.new_version;
    return NULL;
}

/* Room for the image in KiB (3/0/26261), -1 when unknown. */
static int64_t report_free_kib(const struct sota_fsm *fsm)
{
    int64_t kib;

    if (!fsm->dev.known || fsm->dev.free_kib < 0)
        return -1;
    kib = fsm->dev.free_kib;
    if (fsm->dev.staging_free_kib >= 0 && fsm->dev.staging_free_kib < kib)
        kib = fsm->dev.staging_free_kib;
    return kib;
}

/* Copy device data, dropping what is out of range. */
static void device_take(struct step *s, const struct sota_device_info *in)
{
    struct sota_device_info d = *in;

    if (!d.known) {
        s->fsm->dev.known = 0;
        return;
    }
    if (!str_terminated(d.version, sizeof d.version)) {
        note(s, SOTA_NOTE_IGNORED, "device version not terminated");
        d.version[0] = '\0';
    }
    if (d.battery_pct < -1 || d.battery_pct > 100) {
        note(s, SOTA_NOTE_IGNORED, "device battery %d%% out of range",
             d.battery_pct);
        d.battery_pct = -1;
    }
    if (d.free_kib < -1)
        d.free_kib = -1;
    if (d.staging_free_kib < -1)
        d.staging_free_kib = -1;
    s->fsm->dev = d;
}

/* ---- registration ------------------------------------------------------ */

static void set_reg(struct step *s, enum sota_reg to)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->reg == to)
        return;
    fsm->reg = to;
}

static const char *event_name(int32_t evt)
{
    const char *name = m531x_event_name(evt);

    return name != NULL ? name : "?";
}

static void reg_lost(struct step *s, const char *why);

static void reg_queue(struct step *s, enum sota_cmd_kind kind)
{
    struct sota_fsm *fsm = s->fsm;
    const char *ver;
    struct sota_cmd c;
    int n = GW_E_INVAL;

    cmd_prep(&c, kind, -1);
    switch (kind) {
    case SOTA_CMDK_CREATE:
        n = snprintf(c.text, sizeof c.text, "%s",
                     m531x_simple_cmd_text(M531X_CMD_CREATE));
        fsm->instance_opened = 0;
        set_reg(s, SOTA_REG_CREATING);
        break;
    case SOTA_CMDK_DELETE:
        n = m531x_build_delete(c.text, sizeof c.text, &fsm->cfg.dialect,
                               fsm->cfg.ref);
        fsm->instance_opened = 0;
        set_reg(s, SOTA_REG_DELETING);
        break;
    case SOTA_CMDK_SOTAVER:
        ver = report_version(fsm);
        if (ver == NULL) {
            set_reg(s, SOTA_REG_WAIT_DEVICE);
            return;
        }
        n = m531x_build_sotaver(c.text, sizeof c.text, ver);
        set_reg(s, SOTA_REG_VERSION);
        break;
    case SOTA_CMDK_OPEN:
        n = m531x_build_open(c.text, sizeof c.text, fsm->cfg.ref,
                             fsm->cfg.lifetime_s, fsm->cfg.open_timeout_s);
        fsm->instance_opened = 1;
        set_reg(s, SOTA_REG_OPENING);
        break;
    case SOTA_CMDK_KEEPALIVE:
    case SOTA_CMDK_COMPLETE:
        n = m531x_build_update(c.text, sizeof c.text, fsm->cfg.ref, 0, 0);
        break;
    case SOTA_CMDK_REBOOT:
        n = snprintf(c.text, sizeof c.text, "%s", fsm->cfg.reboot_cmd);
        fsm->instance_opened = 0;
        set_reg(s, SOTA_REG_REBOOTING);
        break;
    case SOTA_CMDK_ANSWER: assert(!"sota: reg_queue with an answer"); return;
    }
    /* A registration step that cannot go out would stall: try later (the
     * device may report a sendable version by then). */
    if (queue_built(s, &c, n) < 0 && kind != SOTA_CMDK_KEEPALIVE &&
        kind != SOTA_CMDK_COMPLETE)
        reg_lost(s, "registration command not sent");
}

static void reg_start(struct step *s)
{
    s->fsm->create_cycles = 0;
    reg_queue(s, SOTA_CMDK_CREATE);
}

static int64_t backoff_ms(const struct sota_config *cfg, unsigned failures)
{
    int64_t d = cfg->retry_min_ms;

    for (unsigned i = 0; i < failures && d < cfg->retry_max_ms; i++)
        d *= 2;
    return d < cfg->retry_max_ms ? d : cfg->retry_max_ms;
}

/* The registration works: a platform request came, or an update was
 * confirmed. The escalation starts from the bottom again. */
static void reg_proven(struct sota_fsm *fsm)
{
    fsm->reg_failures = 0;
    fsm->reg_reason[0] = '\0';
}

/* The escalation steps after the retries (see the header). */
static unsigned reg_step_recreate(const struct sota_config *cfg)
{
    return cfg->reg_retries + 1;
}

static unsigned reg_step_reboot(const struct sota_config *cfg)
{
    return cfg->reg_retries + 2;
}

static unsigned reg_step_failed(const struct sota_config *cfg)
{
    return cfg->reg_retries + (cfg->reboot_cmd[0] != '\0' ? 3u : 2u);
}

/* The instance or its registration is gone, or an attempt failed: answers
 * queued for it are pointless, a chunk being stored will not be
 * acknowledged to it. Take the next step of the escalation. */
static void reg_lost(struct step *s, const char *why)
{
    struct sota_fsm *fsm = s->fsm;
    const struct sota_config *cfg = &fsm->cfg;
    unsigned n;
    int64_t delay;

    if (fsm->reg_failures < REG_FAILURES_CAP)
        fsm->reg_failures++;
    n = fsm->reg_failures;
    snprintf(fsm->reg_reason, sizeof fsm->reg_reason, "%s", why);
    fsm->epoch++;
    fsm->sota_mode = 0;
    fsm->update_pending = 0;
    fsm->keepalive_due = 0;
    queue_flush(fsm);
    timer_cancel(s, SOTA_TIMER_REGISTER);
    timer_cancel(s, SOTA_TIMER_KEEPALIVE);
    timer_cancel(s, SOTA_TIMER_REBOOT);
    timer_cancel(s, SOTA_TIMER_BACKOFF);
    if (n >= reg_step_failed(cfg)) {
        set_reg(s, SOTA_REG_FAILED);
        timer_arm(s, SOTA_TIMER_BACKOFF, s->now + cfg->reg_fail_backoff_ms);
        note(s, SOTA_NOTE_REG_FAILED,
             "%s; %u attempts failed, next try in %" PRId64 " s", why, n,
             cfg->reg_fail_backoff_ms / 1000);
        return;
    }
    if (n == reg_step_reboot(cfg)) {
        note(s, SOTA_NOTE_REGISTER, "%s; %u attempts failed: rebooting (%s)",
             why, n, cfg->reboot_cmd);
        reg_queue(s, SOTA_CMDK_REBOOT);
        timer_arm(s, SOTA_TIMER_REBOOT, s->now + cfg->reboot_timeout_ms);
        return;
    }
    delay = backoff_ms(cfg, n - 1);
    set_reg(s, SOTA_REG_BACKOFF);
    timer_arm(s, SOTA_TIMER_BACKOFF, s->now + delay);
    note(s, SOTA_NOTE_REGISTER, "%s; registering again in %" PRId64 " ms%s",
         why, delay,
         n == reg_step_recreate(cfg) ? ", deleting the instance first" : "");
}

/* The backoff is over: the next attempt, from CREATE, or from DELETE at
 * the escalation step that replaces the instance. */
static void reg_attempt(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->reg_failures == reg_step_recreate(&fsm->cfg)) {
        fsm->create_cycles = 0;
        reg_queue(s, SOTA_CMDK_DELETE);
        return;
    }
    reg_start(s);
}

static void start_flash(struct step *s)
{
    if (s->fsm->paused) {
        note(s, SOTA_NOTE_IGNORED, "flash held: paused by the operator");
        return;
    }
    s->fsm->flash_running = 1;
    act_image(s, SOTA_ACT_FLASH, s->fsm->cp.image_size);
}

/* End a flashed job (DONE) with the result it has: the staged image goes,
 * JOB_END follows from the change to IDLE. */
static void end_done_job(struct step *s)
{
    drop_staging(s);
    set_state(s, SOTA_PHASE_IDLE);
    persist(s);
}

/* ---- keep-alive -------------------------------------------------------- */

static int64_t keepalive_ms(const struct sota_config *cfg)
{
    return (int64_t)cfg->lifetime_s * 10 * cfg->keepalive_pct;
}

/* May AT+MIPLUPDATE=<ref>,0,0 go out as a keep-alive? Not between the
 * flash and the final write, where it says "flashing finished". */
static int update_allowed(const struct sota_fsm *fsm)
{
    return fsm->reg == SOTA_REG_REGISTERED &&
           fsm->cp.phase != SOTA_PHASE_FLASHING &&
           fsm->cp.phase != SOTA_PHASE_DONE;
}

/* Send a keep-alive (why: for the log), or hold it until it may go out. */
static void keepalive(struct step *s, const char *why)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->reg != SOTA_REG_REGISTERED)
        return;
    if (!update_allowed(fsm)) {
        if (!fsm->keepalive_due)
            note(s, SOTA_NOTE_IGNORED, "keep-alive (%s) held back while %s",
                 why, sota_phase_name(fsm->cp.phase));
        fsm->keepalive_due = 1;
        return;
    }
    fsm->keepalive_due = 0;
    if (queue_has(fsm, SOTA_CMDK_KEEPALIVE) ||
        queue_has(fsm, SOTA_CMDK_COMPLETE))
        return;
    reg_queue(s, SOTA_CMDK_KEEPALIVE);
}

static void registered(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;

    timer_cancel(s, SOTA_TIMER_REGISTER);
    timer_cancel(s, SOTA_TIMER_BACKOFF);
    set_reg(s, SOTA_REG_REGISTERED);
    fsm->update_pending = 0;
    fsm->keepalive_due = 0;
    timer_arm(s, SOTA_TIMER_KEEPALIVE, s->now + keepalive_ms(&fsm->cfg));
    /* A new registration is a new attempt on the platform's side: its
     * execute 5/0/2 has yet to come (oma_state). */
    if (fsm->cp.phase == SOTA_PHASE_FLASHING)
        fsm->flash_msgid = -1;
    note(s, SOTA_NOTE_REGISTER, "registered");
    /* Flashed, then registered again (a restart, a module reboot): the
     * attempt that would have sent the final empty write went with the old
     * registration. The new one reads 3/0/19 and ends the task by it
     * (reference 3.4), so the job ends here with the result it has. */
    if (fsm->cp.phase == SOTA_PHASE_DONE) {
        note(s, SOTA_NOTE_RESULT,
             "registered again after the flash: the job ends with result "
             "%d (%s); the platform judges by 3/0/19",
             (int)fsm->cp.result, sota_result_name(fsm->cp.result));
        end_done_job(s);
    }
    /* Killed while flashing: the shell resumes the device's transfer from
     * its received count. */
    if (fsm->cp.phase == SOTA_PHASE_FLASHING && !fsm->flash_running) {
        note(s, SOTA_NOTE_RESUME, "flashing %" PRIu32 " bytes again",
             fsm->cp.image_size);
        start_flash(s);
    }
}

/* ---- +MIPLEVENT -------------------------------------------------------- */

/* Between AT+MIPLOPEN and its event 6: the only time a registration
 * failure event can be this attempt's. */
static int reg_opening(const struct sota_fsm *fsm)
{
    return fsm->reg == SOTA_REG_OPENING || fsm->reg == SOTA_REG_WAIT_EVENT;
}

/* An event that cannot belong to the registration being made (a deleted
 * instance's, a late or repeated one): logged and ignored. */
static void event_stale(struct step *s, int32_t evt, const char *why)
{
    note(s, SOTA_NOTE_IGNORED, "+MIPLEVENT %" PRId32 " (%s) while %s: %s", evt,
         event_name(evt), sota_reg_name(s->fsm->reg), why);
}

/* A loss event while registered that may be an older instance's: the
 * module is asked with AT+MIPLUPDATE (602 or event 12/13 then end the
 * registration). Where no update may go out, the next one decides. */
static void event_doubtful(struct step *s, int32_t evt)
{
    if (update_allowed(s->fsm)) {
        event_stale(s, evt, "checked with AT+MIPLUPDATE");
        keepalive(s, "check");
    } else {
        event_stale(s, evt, "no update may go out now");
    }
}

static void event_lost(struct step *s, int32_t evt)
{
    char why[64];

    snprintf(why, sizeof why, "+MIPLEVENT %" PRId32 " (%s)", evt,
             event_name(evt));
    reg_lost(s, why);
}

static void on_mipl_event(struct step *s, const struct m531x_urc *u)
{
    struct sota_fsm *fsm = s->fsm;
    int32_t evt = u->u.event.evt;

    switch (evt) {
    case EVT_REG_SUCCESS:
        if (reg_opening(fsm)) {
            registered(s);
        } else if (fsm->reg == SOTA_REG_BACKOFF && fsm->instance_opened) {
            /* The instance we opened did register (after a timeout, or
             * after an event that ended the attempt): use it. */
            note(s, SOTA_NOTE_REGISTER, "late +MIPLEVENT 6 during backoff");
            registered(s);
            /* it may also be a repeat of an older 6: ask the module */
            keepalive(s, "check a late registration");
        } else if (fsm->reg != SOTA_REG_REGISTERED) {
            event_stale(s, evt, "not of the registration being made");
        }
        return;
    case EVT_BOOTSTRAP_START:
    case EVT_BOOTSTRAP_SUCCESS:
    case EVT_CONNECT_SUCCESS: return;
    case EVT_UPDATE_SUCCESS:
        if (fsm->reg == SOTA_REG_REGISTERED) {
            fsm->update_pending = 0;
            reg_proven(fsm);
        }
        return;
    case EVT_UPDATE_FAILED:
    case EVT_UPDATE_TIMEOUT:
        if (fsm->reg == SOTA_REG_REGISTERED && fsm->update_pending)
            event_lost(s, evt);
        else
            event_stale(s, evt, "no update of ours waits for it");
        return;
    case EVT_UPDATE_NEEDED: keepalive(s, "+MIPLEVENT 14"); return;
    case EVT_UNREGISTERED:
        if (fsm->reg != SOTA_REG_REGISTERED)
            event_stale(s, evt, "not of the registration being made");
        else if (fsm->deleted_at != INT64_MIN &&
                 s->now - fsm->deleted_at < fsm->cfg.late_event_ms)
            event_stale(s, evt, "late, of the deleted instance");
        else
            event_doubtful(s, evt);
        return;
    case EVT_BOOTSTRAP_FAILED:
    case EVT_CONNECT_FAILED:
    case EVT_REG_FAILED:
    case EVT_REG_TIMEOUT:
    case EVT_STATUS_HALT:
        if (reg_opening(fsm))
            event_lost(s, evt);
        else if (fsm->reg == SOTA_REG_REGISTERED)
            event_doubtful(s, evt);
        else
            event_stale(s, evt, "no registration of ours is being made");
        return;
    case EVT_LIFETIME_TIMEOUT:
        if (fsm->reg == SOTA_REG_REGISTERED)
            event_lost(s, evt);
        else
            event_stale(s, evt, "no registration of ours to lapse");
        return;
    case EVT_INSTANCE_DELETED:
        if (fsm->reg == SOTA_REG_REGISTERED || reg_opening(fsm)) {
            fsm->instance_opened = 0;
            event_lost(s, evt);
        } else {
            event_stale(s, evt, "no instance of ours is open");
        }
        return;
    default: return;
    }
}

/* ---- finals ------------------------------------------------------------ */

static void on_cmd_done(struct step *s, enum sota_cmd_status st, int code)
{
    struct sota_fsm *fsm = s->fsm;
    struct sota_cmd c;
    int ok = st == SOTA_CMD_OK;

    if (!fsm->has_inflight) {
        note(s, SOTA_NOTE_IGNORED, "final with no command in flight");
        return;
    }
    c = fsm->inflight;
    fsm->has_inflight = 0;
    if (!ok)
        note(s, SOTA_NOTE_CMD_FAILED, "%.60s: %s %d", c.text,
             st == SOTA_CMD_TIMEOUT     ? "timeout"
             : st == SOTA_CMD_CIS_ERROR ? "+CIS ERROR"
             : st == SOTA_CMD_CME_ERROR ? "+CME ERROR"
                                        : "ERROR",
             code);
    switch (c.kind) {
    case SOTA_CMDK_CREATE:
        if (fsm->reg != SOTA_REG_CREATING)
            return;
        if (ok) {
            reg_queue(s, SOTA_CMDK_SOTAVER);
        } else if (st == SOTA_CMD_CIS_ERROR && code == CIS_ERR_WRONG_STATE &&
                   fsm->create_cycles < fsm->cfg.create_retries) {
            /* The instance survived a gateway restart (reference 3.4).
             * Deleting it drops the platform's attempt with it: nothing
             * begun for that instance (a chunk being stored) is answered
             * (epoch). */
            fsm->create_cycles++;
            fsm->epoch++;
            reg_queue(s, SOTA_CMDK_DELETE);
        } else {
            reg_lost(s, "AT+MIPLCREATE failed");
        }
        return;
    case SOTA_CMDK_DELETE:
        /* Whatever it said: create again; 602 again is counted. Answers
         * still queued are for requests of the deleted instance: the
         * platform dropped them with it (reference 3.4), so they go too. */
        if (fsm->reg == SOTA_REG_DELETING) {
            size_t n = queue_drop_answers(fsm, ANY_MSGID);

            fsm->deleted_at = s->now; /* its event 15 may come late */
            if (n > 0)
                note(s, SOTA_NOTE_IGNORED,
                     "%zu answer(s) to the deleted instance dropped", n);
            reg_queue(s, SOTA_CMDK_CREATE);
        }
        return;
    case SOTA_CMDK_SOTAVER:
        if (fsm->reg != SOTA_REG_VERSION)
            return;
        if (ok)
            reg_queue(s, SOTA_CMDK_OPEN);
        else
            reg_lost(s, "AT+MIPLSOTAVER failed");
        return;
    case SOTA_CMDK_OPEN:
        if (fsm->reg != SOTA_REG_OPENING)
            return;
        if (ok) {
            set_reg(s, SOTA_REG_WAIT_EVENT);
            timer_arm(s, SOTA_TIMER_REGISTER,
                      s->now + fsm->cfg.register_timeout_ms);
        } else {
            reg_lost(s, "AT+MIPLOPEN failed");
        }
        return;
    case SOTA_CMDK_KEEPALIVE:
    case SOTA_CMDK_COMPLETE:
        if (ok && c.kind == SOTA_CMDK_COMPLETE)
            note(s, SOTA_NOTE_REGISTER, "completion reported");
        if (fsm->reg != SOTA_REG_REGISTERED)
            return;
        if (!ok) {
            reg_lost(s, "AT+MIPLUPDATE failed");
            return;
        }
        /* the lifetime runs from this update (a completion counts: a
         * keep-alive held back meanwhile is not needed); 11, 12 or 13
         * tells whether it went through */
        fsm->update_pending = 1;
        fsm->keepalive_due = 0;
        timer_arm(s, SOTA_TIMER_KEEPALIVE, s->now + keepalive_ms(&fsm->cfg));
        return;
    case SOTA_CMDK_REBOOT:
        /* The banner (MODEM_RESET) or the reboot timer goes on from here;
         * a module that refuses the command will not reboot. */
        if (fsm->reg == SOTA_REG_REBOOTING && !ok && st != SOTA_CMD_TIMEOUT) {
            timer_cancel(s, SOTA_TIMER_REBOOT);
            reg_lost(s, "reboot command refused");
        }
        return;
    case SOTA_CMDK_ANSWER:
        if (!ok && c.msgid >= 0)
            queue_drop_answers(fsm, c.msgid);
        return;
    }
}

/* ---- platform requests ------------------------------------------------- */

/* Object 3 resources from the device data; 0 if res is not one of them. */
static int read_device(struct step *s, const struct m531x_urc *u)
{
    struct sota_fsm *fsm = s->fsm;
    struct m531x_value v = {.type = M531X_TYPE_INTEGER, .num = -1};

    switch (u->res) {
    case OMA_RES_DEV_FREE: v.num = report_free_kib(fsm); break;
    case OMA_RES_DEV_BATTERY:
        v.num = fsm->dev.known ? fsm->dev.battery_pct : -1;
        break;
    case OMA_RES_DEV_VERSION:
        v.type = M531X_TYPE_STRING;
        v.str = report_version(fsm);
        break;
    default: return 0;
    }
    if ((v.type == M531X_TYPE_INTEGER && v.num < 0) ||
        (v.type == M531X_TYPE_STRING && v.str == NULL)) {
        note(s, SOTA_NOTE_REFUSED, "read 3/0/%" PRId32 ": device data unknown",
             u->res);
        answer_read_error(s, u->msgid, fsm->cfg.unknown_read_result);
        return 1;
    }
    answer_read(s, u, u->res, &v, 0, 0);
    if (u->res == OMA_RES_DEV_VERSION && fsm->cp.phase == SOTA_PHASE_DONE &&
        fsm->flash_msgid < 0) {
        /* Flashed, but this attempt (registered after a restart or a
         * reboot) never asked for it: it ends the task by the version it
         * just read (reference 3.4) and sends no final write. */
        note(s, SOTA_NOTE_RESULT,
             "3/0/19 read by an attempt that did not ask for the flash: the "
             "job ends with result %d (%s)",
             (int)fsm->cp.result, sota_result_name(fsm->cp.result));
        end_done_job(s);
    }
    return 1;
}

/* The OMA state (5/0/3) reported to the platform. A flash in progress that
 * this attempt has not asked for (no execute 5/0/2 since the instance was
 * registered: the gateway restarted, or the module re-registered) reads as
 * 2, downloaded with all bytes: reference 3.4 defines how the platform
 * resumes from 1 and 2 only, and from 2 it skips the download and executes
 * 5/0/2 again, which then continues the flash under way. */
static int oma_state(const struct sota_fsm *fsm)
{
    if (fsm->cp.phase == SOTA_PHASE_FLASHING && fsm->flash_msgid < 0)
        return sota_phase_oma_state(SOTA_PHASE_DOWNLOADED);
    return sota_phase_oma_state(fsm->cp.phase);
}

/* Object 5 resources; 0 if res is not one of them. */
static int read_firmware(struct step *s, const struct m531x_urc *u)
{
    struct sota_fsm *fsm = s->fsm;
    int64_t state = oma_state(fsm);
    int64_t result = (int64_t)fsm->cp.result;
    int64_t bytes = (int64_t)fsm->cp.bytes; /* durable only */

    switch (u->res) {
    case -1:
        if (SOTA_QUEUE_MAX - fsm->q_len < 3) {
            note(s, SOTA_NOTE_CMD_FAILED, "read 5/0: queue full, not answered");
            return 1;
        }
        /* The seed's order and (index, flag) pairs. */
        answer_read_int(s, u, OMA_RES_FW_STATE, state, 2, M531X_FLAG_FIRST);
        answer_read_int(s, u, OMA_RES_FW_RESULT, result, 1, M531X_FLAG_MIDDLE);
        answer_read_int(s, u, OMA_RES_FW_BYTES, bytes, 0, M531X_FLAG_LAST);
        return 1;
    case OMA_RES_FW_STATE: answer_read_int(s, u, u->res, state, 0, 0); return 1;
    case OMA_RES_FW_RESULT:
        answer_read_int(s, u, u->res, result, 0, 0);
        return 1;
    case OMA_RES_FW_BYTES: answer_read_int(s, u, u->res, bytes, 0, 0); return 1;
    default: return 0;
    }
}

static void on_read(struct step *s, const struct m531x_urc *u)
{
    if (u->ins == OMA_INSTANCE && u->obj == OMA_OBJ_DEVICE && read_device(s, u))
        return;
    if (u->ins == OMA_INSTANCE && u->obj == OMA_OBJ_FIRMWARE &&
        read_firmware(s, u))
        return;
    note(s, SOTA_NOTE_REFUSED,
         "read %" PRId32 "/%" PRId32 "/%" PRId32 ": no such resource", u->obj,
         u->ins, u->res);
    answer_read_error(s, u->msgid, M531X_RESULT_NOT_FOUND);
}

/* Leave the current job for IDLE with result r (JOB_END), dropping the
 * staged image. */
static void abandon(struct step *s, enum sota_result r)
{
    set_result(s, r);
    drop_staging(s);
    set_state(s, SOTA_PHASE_IDLE);
}

/* The download policies: is a new download (not a resume) refused? Answers
 * the erase-fail value and notes why; the platform fails this attempt and
 * tries again later. */
static int refuse_new_download(struct step *s, int32_t msgid)
{
    struct sota_fsm *fsm = s->fsm;
    const struct sota_config *cfg = &fsm->cfg;

    if (fsm->load.failed_attempts > cfg->retry_budget)
        note(s, SOTA_NOTE_REFUSED,
             "download refused: %u failed attempts since the last success "
             "(retry_budget %u)",
             fsm->load.failed_attempts, cfg->retry_budget);
    else if (cfg->downloads_per_hub > 0 &&
             fsm->load.hub_downloads >= cfg->downloads_per_hub)
        note(s, SOTA_NOTE_REFUSED,
             "download refused: %u upgrades running on the hub "
             "(downloads_per_hub %u)",
             fsm->load.hub_downloads, cfg->downloads_per_hub);
    else
        return 0;
    answer_sota(s, msgid, cfg->dialect.sota_erase_fail);
    return 1;
}

/* Execute 5/0/26501: prepare (erase) the staging area. */
static void on_prepare(struct step *s, int32_t msgid)
{
    struct sota_fsm *fsm = s->fsm;
    const struct m531x_dialect *d = &fsm->cfg.dialect;

    if (fsm->cp.phase != SOTA_PHASE_FLASHING &&
        !(fsm->cp.phase == SOTA_PHASE_DOWNLOADING &&
          (fsm->store.active || fsm->cp.bytes > 0)) &&
        refuse_new_download(s, msgid))
        return;
    switch (fsm->cp.phase) {
    case SOTA_PHASE_FLASHING:
        note(s, SOTA_NOTE_REFUSED, "prepare while flashing");
        answer_sota(s, msgid, d->sota_erase_fail);
        return;
    case SOTA_PHASE_DOWNLOADING:
        if (fsm->store.active) {
            note(s, SOTA_NOTE_REFUSED, "prepare while a chunk is stored");
            answer_sota(s, msgid, d->sota_erase_fail);
            return;
        }
        if (fsm->cp.bytes > 0) {
            /* Reference 3.4: keep the bytes of this same image. */
            note(s, SOTA_NOTE_RESUME, "download resumes at %" PRIu32 " bytes",
                 fsm->cp.bytes);
            answer_sota(s, msgid, d->sota_erase_ok);
            return;
        }
        abandon(s, SOTA_RESULT_CANCELLED);
        break;
    case SOTA_PHASE_CHECKING:
    case SOTA_PHASE_DOWNLOADED: abandon(s, SOTA_RESULT_CANCELLED); break;
    case SOTA_PHASE_DONE: abandon(s, fsm->cp.result); break;
    case SOTA_PHASE_IDLE: act_push(s, SOTA_ACT_RESET_STAGING); break;
    }
    fsm->cp.new_version[0] = '\0';
    set_result(s, SOTA_RESULT_INITIAL);
    persist(s);
    answer_sota(s, msgid, d->sota_erase_ok);
}

/* Execute 5/0/2: flash, allowed only with a checked image. */
static void on_update(struct step *s, int32_t msgid)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->cp.phase == SOTA_PHASE_DOWNLOADED) {
        fsm->flash_msgid = msgid;
        set_state(s, SOTA_PHASE_FLASHING);
        persist(s); /* write-ahead: before the irreversible step */
        start_flash(s);
        answer_execute(s, msgid, M531X_RESULT_CHANGED);
        return;
    }
    if (fsm->cp.phase == SOTA_PHASE_DONE && fsm->flash_msgid < 0) {
        /* This attempt read state 2 while the flash went on, and asks for
         * it now that it is over: report completion to this attempt. */
        fsm->flash_msgid = msgid;
        note(s, SOTA_NOTE_RESUME,
             "execute 5/0/2 of a new attempt after the flash: completion "
             "reported again");
        answer_execute(s, msgid, M531X_RESULT_CHANGED);
        if (fsm->reg == SOTA_REG_REGISTERED)
            reg_queue(s, SOTA_CMDK_COMPLETE);
        return;
    }
    if (fsm->cp.phase == SOTA_PHASE_FLASHING && fsm->flash_msgid < 0) {
        /* A new attempt's 5/0/2 (see oma_state): the flash goes on. */
        fsm->flash_msgid = msgid;
        note(s, SOTA_NOTE_RESUME,
             "execute 5/0/2 of a new attempt: the flash under way goes on");
        if (!fsm->flash_running)
            start_flash(s);
        answer_execute(s, msgid, M531X_RESULT_CHANGED);
        return;
    }
    if ((fsm->cp.phase == SOTA_PHASE_FLASHING ||
         fsm->cp.phase == SOTA_PHASE_DONE) &&
        msgid == fsm->flash_msgid) {
        note(s, SOTA_NOTE_DUPLICATE, "execute 5/0/2 msgid %" PRId32 " again",
             msgid);
        answer_execute(s, msgid, M531X_RESULT_CHANGED);
        return;
    }
    note(s, SOTA_NOTE_REFUSED, "execute 5/0/2 while %s",
         sota_phase_name(fsm->cp.phase));
    answer_execute(s, msgid, M531X_RESULT_NOT_ALLOWED);
}

static void on_execute(struct step *s, const struct m531x_urc *u)
{
    if (u->obj == OMA_OBJ_FIRMWARE && u->ins == OMA_INSTANCE) {
        switch (u->res) {
        case OMA_RES_FW_SOTA_MODE:
            s->fsm->sota_mode = 1;
            answer_execute(s, u->msgid, M531X_RESULT_CHANGED);
            return;
        case OMA_RES_FW_PREPARE:
            on_prepare(s,
                       u->msgid); /* answered by AT+MIPLSOTA, no EXECUTERSP */
            return;
        case OMA_RES_FW_UPDATE: on_update(s, u->msgid); return;
        default: break;
        }
    }
    note(s, SOTA_NOTE_REFUSED,
         "execute %" PRId32 "/%" PRId32 "/%" PRId32 ": no such resource",
         u->obj, u->ins, u->res);
    answer_execute(s, u->msgid, M531X_RESULT_NOT_FOUND);
}

static void bad_chunk(struct step *s, int32_t msgid, const char *fmt, ...)
    GW_PRINTF(3, 4);

/* Refuse a chunk: nothing stored, write-fail; the resend is accepted. */
static void bad_chunk(struct step *s, int32_t msgid, const char *fmt, ...)
{
    char why[SOTA_NOTE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    note(s, SOTA_NOTE_BAD_CHUNK, "msgid %" PRId32 ": %s", msgid, why);
    answer_sota(s, msgid, s->fsm->cfg.dialect.sota_write_fail);
}

/* The empty write: the final one after flashing, or a platform reset. */
static void on_empty_write(struct step *s, int32_t msgid)
{
    struct sota_fsm *fsm = s->fsm;

    switch (fsm->cp.phase) {
    case SOTA_PHASE_DONE: end_done_job(s); break; /* JOB_END, result */
    case SOTA_PHASE_DOWNLOADING:
    case SOTA_PHASE_CHECKING:
    case SOTA_PHASE_DOWNLOADED:
        note(s, SOTA_NOTE_REFUSED, "platform reset the download");
        abandon(s, SOTA_RESULT_CANCELLED);
        persist(s);
        break;
    case SOTA_PHASE_IDLE: break; /* nothing held; e.g. the final write resent */
    case SOTA_PHASE_FLASHING:
        note(s, SOTA_NOTE_REFUSED, "empty write while flashing");
        answer_write(s, msgid, M531X_RESULT_NOT_ALLOWED);
        return;
    }
    answer_write(s, msgid, M531X_RESULT_CHANGED);
}

/* Bytes the image may take: device and staging room, and the hard cap. */
static uint64_t chunk_room(const struct sota_fsm *fsm)
{
    int64_t kib = report_free_kib(fsm);
    uint64_t room = fsm->cfg.image_max;

    if (kib >= 0 && (uint64_t)kib * 1024u < room)
        room = (uint64_t)kib * 1024u;
    return room;
}

/* Was a chunk with this msgid stored since the staging was reset? The last
 * one survives restarts in the checkpoint, older ones are kept in memory. */
static int chunk_stored(const struct sota_fsm *fsm, int32_t msgid)
{
    if (fsm->cp.last_msgid >= 0 && msgid == fsm->cp.last_msgid)
        return 1;
    for (size_t i = 0; i < fsm->recent_n; i++)
        if (fsm->recent[i] == msgid)
            return 1;
    return 0;
}

static void chunk_remember(struct sota_fsm *fsm, int32_t msgid)
{
    fsm->recent[fsm->recent_next] = msgid;
    fsm->recent_next = (fsm->recent_next + 1) % SOTA_RECENT_MAX;
    if (fsm->recent_n < SOTA_RECENT_MAX)
        fsm->recent_n++;
}

static void on_chunk(struct step *s, const struct m531x_urc *u,
                     const uint8_t *data, size_t len)
{
    struct sota_fsm *fsm = s->fsm;
    int flag = u->u.write.flag;
    uint32_t offset;

    if (fsm->paused) {
        /* no store, no answer: the platform resends after the pause */
        note(s, SOTA_NOTE_IGNORED,
             "chunk msgid %" PRId32 " not answered: paused by the operator",
             u->msgid);
        return;
    }
    if (fsm->store.active) {
        if (u->msgid == fsm->store.msgid)
            note(s, SOTA_NOTE_DUPLICATE,
                 "chunk msgid %" PRId32 " resent while being stored", u->msgid);
        else
            note(s, SOTA_NOTE_IGNORED,
                 "chunk msgid %" PRId32 " while %" PRId32 " is being stored",
                 u->msgid, fsm->store.msgid);
        return; /* answered when the store completes */
    }
    if (fsm->cp.bytes > 0 && chunk_stored(fsm, u->msgid) &&
        (fsm->cp.phase == SOTA_PHASE_DOWNLOADING ||
         fsm->cp.phase == SOTA_PHASE_CHECKING ||
         fsm->cp.phase == SOTA_PHASE_DOWNLOADED)) {
        /* A CoAP resend (its ACK was lost): storing it again would put
         * old bytes at the end of the image. */
        note(s, SOTA_NOTE_DUPLICATE, "chunk msgid %" PRId32 " already stored",
             u->msgid);
        answer_sota(s, u->msgid, fsm->cfg.dialect.sota_write_ok);
        return;
    }
    if (data == NULL || len == 0) {
        bad_chunk(s, u->msgid, "no payload");
        return;
    }
    if (len > fsm->cfg.chunk_max) {
        bad_chunk(s, u->msgid, "%zu bytes, over %" PRIu32, len,
                  fsm->cfg.chunk_max);
        return;
    }
    if (flag == M531X_FLAG_FIRST) {
        offset = 0;
    } else if (flag == M531X_FLAG_LAST && fsm->cfg.lone_last_chunk &&
               (fsm->cp.phase == SOTA_PHASE_IDLE ||
                (fsm->cp.phase == SOTA_PHASE_DOWNLOADING &&
                 fsm->cp.bytes == 0))) {
        offset = 0; /* a one-chunk image */
    } else if (fsm->cp.phase == SOTA_PHASE_DOWNLOADING && fsm->cp.bytes > 0) {
        offset = fsm->cp.bytes;
    } else {
        bad_chunk(s, u->msgid, "flag %d while %s with %" PRIu32 " bytes", flag,
                  sota_phase_name(fsm->cp.phase), fsm->cp.bytes);
        return;
    }
    if (fsm->cp.phase == SOTA_PHASE_FLASHING) {
        bad_chunk(s, u->msgid, "chunk while flashing");
        return;
    }
    if ((uint64_t)offset + len > chunk_room(fsm)) {
        bad_chunk(s, u->msgid, "%" PRIu32 "+%zu bytes exceed the free space",
                  offset, len);
        if (fsm->cp.phase == SOTA_PHASE_IDLE)
            set_result(s, SOTA_RESULT_NO_SPACE);
        else
            abandon(s, SOTA_RESULT_NO_SPACE);
        persist(s);
        return;
    }
    if (offset == 0) {
        /* A first chunk starts a new download (over what is held). */
        switch (fsm->cp.phase) {
        case SOTA_PHASE_DOWNLOADING:
            if (fsm->cp.bytes > 0) {
                note(s, SOTA_NOTE_RESUME,
                     "first chunk again: restart at 0,"
                     " dropping %" PRIu32 " bytes",
                     fsm->cp.bytes);
                drop_staging(s);
            }
            break;
        case SOTA_PHASE_CHECKING:
        case SOTA_PHASE_DOWNLOADED: abandon(s, SOTA_RESULT_CANCELLED); break;
        case SOTA_PHASE_DONE: abandon(s, fsm->cp.result); break;
        case SOTA_PHASE_IDLE:
        case SOTA_PHASE_FLASHING: break;
        }
        set_result(s, SOTA_RESULT_INITIAL);
        set_state(s, SOTA_PHASE_DOWNLOADING);
        persist(s);
    }
    fsm->store.active = 1;
    fsm->store.msgid = u->msgid;
    fsm->store.offset = offset;
    fsm->store.len = (uint32_t)len;
    fsm->store.last = flag == M531X_FLAG_LAST;
    fsm->store.epoch = fsm->epoch;
    {
        struct sota_action *a = act_push(s, SOTA_ACT_STORE_CHUNK);
        a->u.store.offset = offset;
        a->u.store.data = data;
        a->u.store.len = len;
        a->u.store.msgid = u->msgid;
        a->u.store.last = fsm->store.last;
    }
}

static void on_write(struct step *s, const struct sota_event *ev)
{
    const struct m531x_urc *u = ev->u.urc.urc;

    if (u->obj != OMA_OBJ_FIRMWARE || u->ins != OMA_INSTANCE ||
        u->res != OMA_RES_FW_PACKAGE) {
        note(s, SOTA_NOTE_REFUSED,
             "write %" PRId32 "/%" PRId32 "/%" PRId32 ": not writable", u->obj,
             u->ins, u->res);
        answer_write(s, u->msgid, M531X_RESULT_NOT_FOUND);
        return;
    }
    if (u->u.write.type != M531X_TYPE_OPAQUE) {
        bad_chunk(s, u->msgid, "type %d, not opaque", (int)u->u.write.type);
        return;
    }
    if (u->u.write.value_len == 0) {
        on_empty_write(s, u->msgid);
        return;
    }
    on_chunk(s, u, ev->u.urc.data, ev->u.urc.data_len);
}

/* Platform requests belong to a registered instance. One that arrives
 * before ours is registered comes from an instance that survived a restart
 * and is about to be deleted (reference 3.4: deleting it drops the
 * platform's attempt): storing or answering it would answer a request of
 * an instance that no longer exists. */
static int request_accepted(struct step *s, int32_t msgid)
{
    enum sota_reg reg = s->fsm->reg;

    if (reg == SOTA_REG_REGISTERED)
        reg_proven(s->fsm);
    if (reg == SOTA_REG_REGISTERED || reg == SOTA_REG_WAIT_EVENT)
        return 1;
    note(s, SOTA_NOTE_IGNORED,
         "request msgid %" PRId32 " while %s: an instance being replaced",
         msgid, sota_reg_name(reg));
    return 0;
}

static void on_urc(struct step *s, const struct sota_event *ev)
{
    const struct m531x_urc *u = ev->u.urc.urc;

    if (u->ref != s->fsm->cfg.ref) {
        note(s, SOTA_NOTE_IGNORED, "%s for instance %" PRId32,
             m531x_urc_kind_name(u->kind), u->ref);
        return;
    }
    if ((u->kind == M531X_URC_READ || u->kind == M531X_URC_WRITE ||
         u->kind == M531X_URC_EXECUTE) &&
        !request_accepted(s, u->msgid))
        return;
    switch (u->kind) {
    case M531X_URC_READ: on_read(s, u); return;
    case M531X_URC_WRITE: on_write(s, ev); return;
    case M531X_URC_EXECUTE: on_execute(s, u); return;
    case M531X_URC_EVENT: on_mipl_event(s, u); return;
    case M531X_URC_OBSERVE:
    case M531X_URC_DISCOVER:
    case M531X_URC_PARAMETER:
    case M531X_URC_NSMI:
        /* Not part of SOTA; the platform does not need an answer here. */
        note(s, SOTA_NOTE_IGNORED, "%s not handled",
             m531x_urc_kind_name(u->kind));
        return;
    case M531X_URC_CREATE: return; /* the info line of AT+MIPLCREATE */
    }
}

static void on_bad_urc(struct step *s, const struct sota_event *ev)
{
    struct sota_fsm *fsm = s->fsm;
    const char *why = ev->u.bad.reason ? ev->u.bad.reason : "undecodable";

    if (!request_accepted(s, ev->u.bad.msgid))
        return;
    /* AT+MIPLSOTA carries no msgid: while a store runs, a write-fail would
     * answer the block being stored. */
    if (fsm->store.active) {
        note(s, SOTA_NOTE_BAD_CHUNK,
             "msgid %" PRId32 " (%s) while %" PRId32
             " is being stored: not answered",
             ev->u.bad.msgid, why, fsm->store.msgid);
        return;
    }
    if (fsm->cp.phase != SOTA_PHASE_IDLE &&
        fsm->cp.phase != SOTA_PHASE_DOWNLOADING) {
        note(s, SOTA_NOTE_IGNORED, "bad write msgid %" PRId32 " (%s) while %s",
             ev->u.bad.msgid, why, sota_phase_name(fsm->cp.phase));
        return;
    }
    bad_chunk(s, ev->u.bad.msgid, "%s", why);
}

/* ---- results of the shell's work --------------------------------------- */

static void on_stored(struct step *s, const struct sota_event *ev)
{
    struct sota_fsm *fsm = s->fsm;
    int answer;

    if (!fsm->store.active || ev->u.stored.msgid != fsm->store.msgid) {
        note(s, SOTA_NOTE_IGNORED, "STORED for msgid %" PRId32 " not awaited",
             ev->u.stored.msgid);
        return;
    }
    fsm->store.active = 0;
    answer = fsm->store.epoch == fsm->epoch;
    assert(fsm->store.offset == fsm->cp.bytes);
    if (ev->u.stored.rc < 0) {
        if (answer) {
            bad_chunk(s, fsm->store.msgid, "store at %" PRIu32 " failed: %s",
                      fsm->store.offset, gw_strerror(ev->u.stored.rc));
        } else {
            note(s, SOTA_NOTE_BAD_CHUNK, "store failed: %s",
                 gw_strerror(ev->u.stored.rc));
        }
        return;
    }
    fsm->cp.bytes += fsm->store.len;
    fsm->cp.last_msgid = fsm->store.msgid;
    chunk_remember(fsm, fsm->store.msgid);
    if (fsm->store.last) {
        fsm->cp.image_size = fsm->cp.bytes;
        set_state(s, SOTA_PHASE_CHECKING);
        persist(s);
        act_image(s, SOTA_ACT_CHECK_IMAGE, fsm->cp.image_size);
    } else {
        persist(s);
    }
    if (answer)
        answer_sota(s, fsm->store.msgid, fsm->cfg.dialect.sota_write_ok);
    else
        note(s, SOTA_NOTE_IGNORED,
             "chunk stored after the instance was "
             "lost: not acknowledged");
}

/* A failure code from the shell, or fallback when it is not one. */
static enum sota_result failure_code(enum sota_result r,
                                     enum sota_result fallback)
{
    if (!result_valid((int)r) || r == SOTA_RESULT_INITIAL ||
        r == SOTA_RESULT_SUCCESS)
        return fallback;
    return r;
}

static void on_checked(struct step *s, const struct sota_event *ev)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->cp.phase != SOTA_PHASE_CHECKING) {
        note(s, SOTA_NOTE_IGNORED, "CHECKED while %s",
             sota_phase_name(fsm->cp.phase));
        return;
    }
    if (ev->u.checked.result == SOTA_RESULT_SUCCESS) {
        set_state(s, SOTA_PHASE_DOWNLOADED);
    } else {
        /* OMA: a download error returns to Idle with the result. */
        abandon(s, failure_code(ev->u.checked.result, SOTA_RESULT_INTEGRITY));
    }
    persist(s);
}

static void on_flashed(struct step *s, const struct sota_event *ev)
{
    struct sota_fsm *fsm = s->fsm;
    const struct sota_device_info *dev = &ev->u.flashed.dev;

    if (fsm->cp.phase != SOTA_PHASE_FLASHING || !fsm->flash_running) {
        note(s, SOTA_NOTE_IGNORED, "FLASHED while %s",
             sota_phase_name(fsm->cp.phase));
        return;
    }
    fsm->flash_running = 0;
    device_take(s, dev);
    if (ev->u.flashed.result == SOTA_RESULT_SUCCESS) {
        /* An unknown new version makes 3/0/19 answer "unknown" until the
         * shell reads the device, rather than the old version. */
        if (fsm->dev.known && fsm->dev.version[0])
            memcpy(fsm->cp.new_version, fsm->dev.version,
                   sizeof fsm->cp.new_version);
        else
            fsm->cp.new_version[0] = '\0';
        set_result(s, SOTA_RESULT_SUCCESS);
    } else {
        set_result(
            s, failure_code(ev->u.flashed.result, SOTA_RESULT_UPDATE_FAILED));
    }
    set_state(s, SOTA_PHASE_DONE);
    persist(s);
    /* Step 14: tell the platform, which then reads 3/0/19. If the
     * registration is down, registering again does the same. */
    if (fsm->reg == SOTA_REG_REGISTERED)
        reg_queue(s, SOTA_CMDK_COMPLETE);
}

/* ---- the step ---------------------------------------------------------- */

static void on_start(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;
    const struct sota_checkpoint *cp = &fsm->cp;

    if (fsm->reg != SOTA_REG_STOPPED) {
        note(s, SOTA_NOTE_IGNORED, "START while %s", sota_reg_name(fsm->reg));
        return;
    }
    if (cp->phase != SOTA_PHASE_IDLE || cp->result != SOTA_RESULT_INITIAL)
        note(s, SOTA_NOTE_RESTART,
             "from checkpoint: %s, %" PRIu32 " bytes, result %d",
             sota_phase_name(cp->phase), cp->bytes, (int)cp->result);
    if (cp->phase == SOTA_PHASE_DOWNLOADING && cp->bytes > 0)
        note(s, SOTA_NOTE_RESUME,
             "holding %" PRIu32 " bytes, last msgid %" PRId32, cp->bytes,
             cp->last_msgid);
    if (cp->phase == SOTA_PHASE_CHECKING)
        act_image(s, SOTA_ACT_CHECK_IMAGE, cp->image_size);
    reg_start(s);
}

static void on_modem_reset(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;

    /* No final will come for the command in flight; the instance is gone. */
    fsm->has_inflight = 0;
    fsm->instance_opened = 0;
    switch (fsm->reg) {
    case SOTA_REG_STOPPED: queue_flush(fsm); return;
    case SOTA_REG_BACKOFF:
    case SOTA_REG_FAILED:
        fsm->epoch++;
        queue_flush(fsm);
        return; /* the backoff timer registers again */
    case SOTA_REG_REBOOTING:
        /* the reboot we asked for: not a failure */
        timer_cancel(s, SOTA_TIMER_REBOOT);
        queue_flush(fsm);
        set_reg(s, SOTA_REG_BACKOFF);
        timer_arm(s, SOTA_TIMER_BACKOFF, s->now + fsm->cfg.retry_min_ms);
        note(s, SOTA_NOTE_REGISTER,
             "module rebooted; registering in %" PRId64 " ms",
             fsm->cfg.retry_min_ms);
        return;
    case SOTA_REG_CREATING:
    case SOTA_REG_DELETING:
    case SOTA_REG_WAIT_DEVICE:
    case SOTA_REG_VERSION:
    case SOTA_REG_OPENING:
    case SOTA_REG_WAIT_EVENT:
    case SOTA_REG_REGISTERED: break;
    }
    reg_lost(s, "modem reset");
}

static void on_timer(struct step *s, enum sota_timer id)
{
    struct sota_fsm *fsm = s->fsm;

    if ((unsigned)id >= SOTA_TIMER_COUNT || !fsm->timer_armed[id] ||
        s->now < fsm->timer_at[id]) {
        return;
    }
    fsm->timer_armed[id] = 0;
    switch (id) {
    case SOTA_TIMER_CMD: on_cmd_done(s, SOTA_CMD_TIMEOUT, -1); return;
    case SOTA_TIMER_REGISTER:
        if (fsm->reg == SOTA_REG_WAIT_EVENT)
            reg_lost(s, "no +MIPLEVENT 6 after AT+MIPLOPEN");
        return;
    case SOTA_TIMER_BACKOFF:
        if (fsm->reg == SOTA_REG_BACKOFF) {
            reg_attempt(s);
        } else if (fsm->reg == SOTA_REG_FAILED) {
            note(s, SOTA_NOTE_REGISTER,
                 "registration failed %u times before: trying again",
                 fsm->reg_failures);
            reg_proven(fsm); /* from the top */
            reg_start(s);
        }
        return;
    case SOTA_TIMER_KEEPALIVE: keepalive(s, "timer"); return;
    case SOTA_TIMER_REBOOT:
        if (fsm->reg == SOTA_REG_REBOOTING)
            reg_lost(s, "no boot banner after the reboot command");
        return;
    }
}

static int event_valid(const struct sota_event *ev)
{
    switch (ev->kind) {
    case SOTA_EV_URC: return ev->u.urc.urc != NULL;
    case SOTA_EV_TIMER: return (unsigned)ev->u.timer < SOTA_TIMER_COUNT;
    case SOTA_EV_START:
    case SOTA_EV_CMD_DONE:
    case SOTA_EV_BAD_URC:
    case SOTA_EV_STORED:
    case SOTA_EV_CHECKED:
    case SOTA_EV_FLASHED:
    case SOTA_EV_DEVICE:
    case SOTA_EV_LOAD:
    case SOTA_EV_PAUSE:
    case SOTA_EV_RESUME:
    case SOTA_EV_CANCEL:
    case SOTA_EV_MODEM_RESET: return 1;
    }
    return 0;
}

/* ---- operator actions (see the header) --------------------------------- */

static void on_pause(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->paused) {
        note(s, SOTA_NOTE_IGNORED, "pause: already paused");
        return;
    }
    fsm->paused = 1;
    if (fsm->flash_running) {
        fsm->flash_running = 0; /* the shell stopped it between requests */
        note(s, SOTA_NOTE_STATE, "paused by the operator; flash stopped");
    } else {
        note(s, SOTA_NOTE_STATE, "paused by the operator");
    }
}

static void on_resume(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;

    if (!fsm->paused) {
        note(s, SOTA_NOTE_IGNORED, "resume: not paused");
        return;
    }
    fsm->paused = 0;
    note(s, SOTA_NOTE_STATE, "resumed by the operator");
    if (fsm->cp.phase == SOTA_PHASE_FLASHING && !fsm->flash_running)
        start_flash(s);
}

static void on_cancel(struct step *s)
{
    struct sota_fsm *fsm = s->fsm;

    if (fsm->cp.phase == SOTA_PHASE_IDLE || fsm->cp.phase == SOTA_PHASE_DONE) {
        note(s, SOTA_NOTE_IGNORED, "cancel: nothing to cancel while %s",
             sota_phase_name(fsm->cp.phase));
        return;
    }
    fsm->flash_running = 0; /* the shell stopped it between requests */
    note(s, SOTA_NOTE_RESULT, "cancelled by the operator while %s",
         sota_phase_name(fsm->cp.phase));
    abandon(s, SOTA_RESULT_CANCELLED);
    persist(s);
}

int sota_fsm_step(struct sota_fsm *fsm, const struct sota_event *ev,
                  int64_t now, struct sota_actions *out)
{
    struct step s;

    if (fsm == NULL || ev == NULL || out == NULL)
        return GW_E_INVAL;
    memset(&s, 0, sizeof s);
    s.fsm = fsm;
    s.out = out;
    s.now = now;
    out->n = 0;
    if (!event_valid(ev))
        return GW_E_INVAL;
    switch (ev->kind) {
    case SOTA_EV_START: on_start(&s); break;
    case SOTA_EV_CMD_DONE:
        on_cmd_done(&s, ev->u.cmd.status, ev->u.cmd.code);
        break;
    case SOTA_EV_URC: on_urc(&s, ev); break;
    case SOTA_EV_BAD_URC: on_bad_urc(&s, ev); break;
    case SOTA_EV_STORED: on_stored(&s, ev); break;
    case SOTA_EV_CHECKED: on_checked(&s, ev); break;
    case SOTA_EV_FLASHED: on_flashed(&s, ev); break;
    case SOTA_EV_DEVICE:
        device_take(&s, &ev->u.device);
        if (fsm->reg == SOTA_REG_WAIT_DEVICE)
            reg_queue(&s, SOTA_CMDK_SOTAVER);
        break;
    case SOTA_EV_TIMER: on_timer(&s, ev->u.timer); break;
    case SOTA_EV_MODEM_RESET: on_modem_reset(&s); break;
    case SOTA_EV_LOAD: fsm->load = ev->u.load; break;
    case SOTA_EV_PAUSE: on_pause(&s); break;
    case SOTA_EV_RESUME: on_resume(&s); break;
    case SOTA_EV_CANCEL: on_cancel(&s); break;
    }
    finish(&s);
    return s.overflow ? GW_E_FULL : 0;
}

/* ---- accessors --------------------------------------------------------- */

void sota_fsm_snapshot(const struct sota_fsm *fsm, struct sota_snapshot *out)
{
    memset(out, 0, sizeof *out);
    out->phase = fsm->cp.phase;
    out->oma_state = oma_state(fsm);
    out->result = fsm->cp.result;
    out->bytes = fsm->cp.bytes;
    out->image_size = fsm->cp.image_size;
    out->reg = fsm->reg;
    out->sota_mode = fsm->sota_mode;
    out->store_pending = fsm->store.active;
    out->flash_running = fsm->flash_running;
    out->paused = fsm->paused;
    out->cmd_in_flight = fsm->has_inflight;
    out->cmds_queued = fsm->q_len;
    out->reg_failures = fsm->reg_failures;
    out->reg_reason = fsm->reg_reason;
}

void sota_fsm_checkpoint(const struct sota_fsm *fsm,
                         struct sota_checkpoint *out)
{
    *out = fsm->cp;
}

int64_t sota_fsm_next_deadline(const struct sota_fsm *fsm)
{
    int64_t next = INT64_MAX;

    for (size_t i = 0; i < SOTA_TIMER_COUNT; i++)
        if (fsm->timer_armed[i] && fsm->timer_at[i] < next)
            next = fsm->timer_at[i];
    return next;
}

int64_t sota_fsm_timer_deadline(const struct sota_fsm *fsm, enum sota_timer id)
{
    if ((unsigned)id >= SOTA_TIMER_COUNT || !fsm->timer_armed[id])
        return INT64_MAX;
    return fsm->timer_at[id];
}
