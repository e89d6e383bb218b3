/* worker.c: the SOTA worker of one modem (worker.h).
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

#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "db/db_devices.h"
#include "db/db_events.h"
#include "db/db_jobs.h"
#include "dio/at_chan.h"
#include "dio/m531x.h"
#include "dio/mb_flash.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "image_check.h"
#include "staging.h"

#include "gw/log.h"

#define CMD_TIMEOUT_MS      5000 /* bring-up commands */
#define AT_PROBE_TIMEOUT_MS 1000
#define AT_PROBE_TRIES      10
#define RETRY_DELAY_MS      1000  /* between AT probes */
#define ATTACH_RETRY_MS     2000  /* AT+CGATT? until attached */
#define BOOT_SETTLE_MS      1500  /* quiet time after a boot banner */
#define CHAN_GUARD_MS       2000  /* channel backstop beyond the FSM timer */
#define IDENT_PERIOD_MS     60000 /* device data refresh */
#define IDENT_RETRY_MS      2000  /* while the device data is unknown */
#define DEFERRED_MAX        32
#define POSTED_MAX          8
#define CMDS_MAX            (AT_CHAN_QUEUE_MAX + 1)
#define ACTOR               "daemon"

/* A job's version before the image matches a package or the device reports
 * its new version: the schema wants 1..32 characters. */
#define VERSION_UNKNOWN "unknown"

enum wk_stage { WK_BRINGUP, WK_RUNNING, WK_CLOSING, WK_EXITED };

enum bu_step {
    BU_AT,
    BU_ECHO,
    BU_IMEI,
    BU_IMSI,
    BU_ICCID,
    BU_NCCID,
    BU_CSQ,
    BU_CEREG,
    BU_CGATT,
    BU_LOCK,
    BU_DEVICE, /* the field device's identity block, through the bus */
    BU_DONE
};

/* The bring-up table: command, timeout, and whether an error stops. */
static const struct {
    enum m531x_simple_cmd cmd;
    const char *text; /* when not a simple command */
    int64_t timeout_ms;
    int required;
} bu_table[BU_DEVICE] = {
    [BU_AT] = {M531X_CMD_AT, NULL, AT_PROBE_TIMEOUT_MS, 1},
    [BU_ECHO] = {M531X_CMD_ECHO_OFF, NULL, CMD_TIMEOUT_MS, 1},
    [BU_IMEI] = {M531X_CMD_IMEI, NULL, CMD_TIMEOUT_MS, 1},
    [BU_IMSI] = {M531X_CMD_IMSI, NULL, CMD_TIMEOUT_MS, 0},
    [BU_ICCID] = {M531X_CMD_ICCID, NULL, CMD_TIMEOUT_MS, 0},
    [BU_NCCID] = {M531X_CMD_AT, "AT+NCCID", CMD_TIMEOUT_MS, 0},
    [BU_CSQ] = {M531X_CMD_CSQ, NULL, CMD_TIMEOUT_MS, 0},
    [BU_CEREG] = {M531X_CMD_CEREG, NULL, CMD_TIMEOUT_MS, 0},
    [BU_CGATT] = {M531X_CMD_CGATT, NULL, CMD_TIMEOUT_MS, 0},
    [BU_LOCK] = {M531X_CMD_SLEEP_LOCK, NULL, CMD_TIMEOUT_MS, 0},
};

enum wk_cmd_kind { CMDK_BRINGUP, CMDK_FSM, CMDK_SETTLE };

struct wk_cmd {
    struct worker *w;
    enum wk_cmd_kind kind;
    uint32_t gen;
    int32_t answers;   /* msgid this command answers (last line of the
                          answer); ANSWERS_SOTA: the oldest request answered
                          by AT+MIPLSOTA; -1: not an answer */
};
#define ANSWERS_SOTA (-2)

/* A platform request waiting for its answer, for the answer-time
 * histogram (app_stats). */
#define PENDING_REQ_MAX 16
struct wk_req {
    int32_t msgid;
    int via_sota;      /* answered by AT+MIPLSOTA, not by an *RSP */
    uint64_t at;       /* uv_now() when its URC arrived */
};

/* An action waiting for a commit (copied: the FSM's pointers expire). */
struct wk_deferred {
    enum sota_action_kind kind; /* SEND, FLASH or JOB_END */
    uint64_t need;              /* app->commits that covers its PERSIST */
    char text[SOTA_CMD_TEXT_MAX];
    uint32_t size;
    enum sota_result result;
};

struct worker {
    struct app *app;
    const struct worker_ops *ops;
    void *ops_ctx;
    enum wk_stage stage;
    enum worker_exit exit_why;
    char exit_detail[128];
    char port[GW_CONFIG_PATH_MAX];
    struct usb_location loc;
    char name[SOTA_NAME_MAX]; /* log id: port, then port/masked IMEI */

    struct at_chan *ch;
    struct wk_cmd cmds[CMDS_MAX];
    size_t cmd_next;
    int handles_open;

    uv_timer_t retry_timer; /* bring-up retries, boot settling */
    uv_timer_t ident_timer; /* periodic device read */
    uv_timer_t post_timer;  /* posted events */
    uv_timer_t fsm_timer[SOTA_TIMER_COUNT];

    /* bring-up */
    enum bu_step step;
    int tries;
    int settling; /* a boot banner was seen, waiting for quiet */

    /* identity */
    char imei[16], imsi[16], iccid[21];
    char imei_read[16]; /* the last AT+CGSN=1 answer */
    int rssi, reg_status;

    /* the machine */
    struct sota_config scfg;
    struct sota_fsm fsm;
    int fsm_ready;
    uint32_t fsm_gen; /* of the FSM command slot */
    struct sota_checkpoint last_cp;
    struct sota_device_info dev;

    struct wk_deferred deferred[DEFERRED_MAX];
    size_t d_head, d_len;
    uint64_t barrier_need; /* commit number the last barrier needs */
    struct app_commit_waiter barrier_w;

    struct sota_event posted[POSTED_MAX];
    size_t p_len;

    /* chunk in the group, awaiting its commit */
    struct app_commit_waiter store_w;
    int32_t store_msgid;
    int store_pending;
    size_t store_len;

    /* job and staging */
    int has_job;
    struct db_job job;
    struct staging *stg;
    int have_crc;
    uint32_t img_crc;

    /* field device */
    const struct gw_config_target *cfg_target;
    struct gw_modbus_uri target;
    int has_target;
    struct bus_dev *dev_h;
    int target_reachable;
    int ident_running; /* bus_read_ident outstanding */
    int flash_running;
    uint32_t flash_acked;
    int64_t retry_after_ms; /* operator retry: older failures not counted */
    struct wk_req reqs[PENDING_REQ_MAX];
    size_t nreqs;
    struct mb_flash flash_result; /* copied from the bus's done */
    int64_t progress_at;          /* loop time of the job's last progress */
};

static void fsm_feed(struct worker *w, const struct sota_event *ev);
static void worker_exit(struct worker *w, enum worker_exit why,
                        const char *detail);
static void bu_next(struct worker *w);
static void read_ident(struct worker *w);
static void stall_check(struct worker *w);

/* ---- small helpers ----------------------------------------------------- */

static int64_t now_ms(const struct worker *w)
{
    return (int64_t)uv_now(w->app->loop);
}

static const char *port_base(const char *path)
{
    const char *s = strrchr(path, '/');

    return s != NULL ? s + 1 : path;
}

/* IMEI masked for logs: only the last four digits. */
static void set_name(struct worker *w)
{
    if (w->imei[0] != '\0')
        snprintf(w->name, sizeof w->name, "%.24s/*%s", port_base(w->port),
                 w->imei + 11);
    else
        snprintf(w->name, sizeof w->name, "%.40s", port_base(w->port));
}

static void event_add(struct worker *w, const char *kind, const char *fmt, ...)
    GW_PRINTF(3, 4);

static void event_add(struct worker *w, const char *kind, const char *fmt, ...)
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

static struct wk_cmd *cmd_ctx(struct worker *w, enum wk_cmd_kind kind)
{
    struct wk_cmd *c = &w->cmds[w->cmd_next];

    w->cmd_next = (w->cmd_next + 1) % CMDS_MAX;
    c->w = w;
    c->kind = kind;
    c->gen = w->fsm_gen;
    c->answers = -1;
    return c;
}

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
    r->at = uv_now(w->app->loop);
    r->via_sota = (u->kind == M531X_URC_WRITE && u->obj == 5 &&
                   u->res == 0 && u->u.write.value_len > 0) ||
                  (u->kind == M531X_URC_EXECUTE && u->obj == 5 &&
                   u->res == 26501);
}

/* Which request does a command the FSM sends answer, if any? A READRSP
 * with a value (11 fields: ...,<index>,<flag>) completes its answer only on
 * its last line (flag 0); the error form (3 fields) completes it at once. */
static int32_t answers_of(const char *text)
{
    static const char *const rsp[] = {"AT+MIPLREADRSP=", "AT+MIPLWRITERSP=",
                                      "AT+MIPLEXECUTERSP="};
    const char *p;
    unsigned commas = 0;
    long v;

    if (strncmp(text, "AT+MIPLSOTA=", 12) == 0)
        return ANSWERS_SOTA;
    for (size_t i = 0; i < sizeof rsp / sizeof rsp[0]; i++) {
        if (strncmp(text, rsp[i], strlen(rsp[i])) != 0)
            continue;
        p = strchr(text, ',');
        if (p == NULL)
            return -1;
        v = strtol(p + 1, NULL, 10);
        for (const char *q = text; *q; q++)
            commas += *q == ',';
        if (i == 0 && commas >= 10 && strcmp(strrchr(text, ','), ",0") != 0)
            return -1; /* more READRSP lines follow */
        return v >= 0 && v <= M531X_MSGID_MAX ? (int32_t)v : -1;
    }
    return -1;
}

static void req_answered(struct worker *w, int32_t answers)
{
    for (size_t i = 0; i < w->nreqs; i++) {
        struct wk_req *r = &w->reqs[i];

        if (answers == ANSWERS_SOTA ? !r->via_sota
                                    : (r->via_sota || r->msgid != answers))
            continue;
        app_stats_answer(&w->app->stats,
                         (double)(uv_now(w->app->loop) - r->at) / 1000.0);
        memmove(r, r + 1, (w->nreqs - i - 1) * sizeof *r);
        w->nreqs--;
        return;
    }
}

/* ---- device row -------------------------------------------------------- */

static void device_save(struct worker *w, enum db_device_state state)
{
    struct db_device d;
    int rc;

    if (w->imei[0] == '\0')
        return;
    memset(&d, 0, sizeof d);
    memcpy(d.imei, w->imei, sizeof d.imei);
    d.state = state;
    snprintf(d.port, sizeof d.port, "%s", w->port);
    snprintf(d.usb_hub, sizeof d.usb_hub, "%s", w->loc.hub);
    d.usb_port = w->loc.port >= 0 && w->loc.port <= 255 ? w->loc.port : 0;
    memcpy(d.iccid, w->iccid, sizeof d.iccid);
    memcpy(d.imsi, w->imsi, sizeof d.imsi);
    d.rssi = w->rssi >= 0 && w->rssi <= 99 ? w->rssi : 99;
    d.reg_status = w->reg_status;
    d.battery = -1;
    d.free_kib = -1;
    if (w->dev.known) {
        snprintf(d.sw_version, sizeof d.sw_version, "%s", w->dev.version);
        d.battery = w->dev.battery_pct;
        d.free_kib = w->dev.free_kib;
    } else {
        struct db_device old;

        if (db_device_get(w->app->db, w->imei, &old) == 0)
            memcpy(d.sw_version, old.sw_version, sizeof d.sw_version);
    }
    d.last_seen_ms = gw_wall_ms();
    rc = db_group_begin(w->app->db);
    if (rc == 0)
        rc = db_device_upsert(w->app->db, &d);
    if (rc < 0)
        GW_LOG(GW_LOG_WARN, w->name, "device row not saved: %s",
               gw_strerror(rc));
}

static enum db_device_state device_state(const struct worker *w)
{
    return w->has_job ? DB_DEVICE_UPGRADING : DB_DEVICE_IDLE;
}

/* ---- jobs -------------------------------------------------------------- */

static enum db_job_phase job_phase_of(enum sota_phase p)
{
    switch (p) {
    case SOTA_PHASE_IDLE:
    case SOTA_PHASE_DOWNLOADING: return DB_JOB_DOWNLOAD;
    case SOTA_PHASE_CHECKING:
    case SOTA_PHASE_DOWNLOADED: return DB_JOB_CHECK;
    case SOTA_PHASE_FLASHING: return DB_JOB_FLASH;
    case SOTA_PHASE_DONE: return DB_JOB_CONFIRM;
    }
    return DB_JOB_DOWNLOAD;
}

static int job_write(struct worker *w)
{
    int rc = db_group_begin(w->app->db);

    if (rc == 0)
        rc = db_job_update(w->app->db, &w->job);
    if (rc < 0)
        GW_LOG(GW_LOG_ERR, w->name, "job %" PRId64 " not saved: %s", w->job.id,
               gw_strerror(rc));
    return rc;
}

static void staging_name(const struct worker *w, int64_t job_id, char *out,
                         size_t cap)
{
    snprintf(out, cap, "%s-%" PRId64 ".img", w->imei, job_id);
}

/* The job of this download: created with the first chunk. */
static int job_ensure(struct worker *w)
{
    char name[STAGING_NAME_MAX];
    int rc;

    if (w->has_job)
        return 0;
    memset(&w->job, 0, sizeof w->job);
    memcpy(w->job.imei, w->imei, sizeof w->job.imei);
    snprintf(w->job.version, sizeof w->job.version, "%s", VERSION_UNKNOWN);
    w->job.image_size = -1;
    w->job.attempt = 1; /* one row per attempt (db_jobs.h) */
    w->job.created_ms = gw_wall_ms();
    rc = db_group_begin(w->app->db);
    if (rc == 0)
        rc = db_job_create(w->app->db, &w->job);
    if (rc < 0)
        goto fail;
    staging_name(w, w->job.id, name, sizeof name);
    snprintf(w->job.staging_file, sizeof w->job.staging_file, "staging/%s",
             name);
    w->job.started_ms = w->job.created_ms;
    w->job.progress_ms = w->job.created_ms;
    rc = job_write(w);
    if (rc < 0)
        goto fail;
    rc = staging_open(&w->stg, w->app, w->job.id, name,
                      w->app->cfg->policy.min_staging_free_kib);
    if (rc < 0)
        goto fail;
    w->has_job = 1;
    w->have_crc = 0;
    w->progress_at = now_ms(w);
    event_add(w, "job.created", "job %" PRId64 ", staging %s", w->job.id,
              w->job.staging_file);
    device_save(w, DB_DEVICE_UPGRADING);
    GW_LOG(GW_LOG_INFO, w->name, "job %" PRId64 " created", w->job.id);
    return 0;

fail:
    GW_LOG(GW_LOG_ERR, w->name, "cannot start a job: %s", gw_strerror(rc));
    return rc;
}

static void job_close(struct worker *w, enum sota_result result,
                      const char *reason)
{
    char path[GW_CONFIG_PATH_MAX + 16 + STAGING_NAME_MAX];
    enum db_job_phase old = w->job.phase;

    if (!w->has_job)
        return;
    if (result != SOTA_RESULT_SUCCESS && (unsigned)result < 12)
        w->app->stats.failures_by_result[result]++;
    w->job.phase = result == SOTA_RESULT_SUCCESS ? DB_JOB_DONE : DB_JOB_FAILED;
    w->job.oma_result = (int)result;
    w->job.ended_ms = gw_wall_ms();
    snprintf(w->job.reason, sizeof w->job.reason, "%s", reason);
    job_write(w);
    event_add(w, result == SOTA_RESULT_SUCCESS ? "job.done" : "job.failed",
              "result %d (%s): %s", (int)result, sota_result_name(result),
              reason);
    GW_LOG(GW_LOG_INFO, w->name, "job %" PRId64 ": %s -> %s: %s", w->job.id,
           db_job_phase_name(old), db_job_phase_name(w->job.phase), reason);
    if (w->stg != NULL) {
        snprintf(path, sizeof path, "%s", staging_path(w->stg));
        staging_free(w->stg);
        w->stg = NULL;
        unlink(path); /* the records go with the job; a leftover file is
                         harmless (a new job uses a new name) */
    }
    w->has_job = 0;
    device_save(w, DB_DEVICE_IDLE);
}

/* ---- posted events and deferred actions -------------------------------- */

static void on_post(uv_timer_t *t)
{
    struct worker *w = t->data;

    while (w->p_len > 0 && w->stage == WK_RUNNING) {
        struct sota_event ev = w->posted[0];

        w->p_len--;
        memmove(&w->posted[0], &w->posted[1], w->p_len * sizeof ev);
        fsm_feed(w, &ev);
    }
}

static void post(struct worker *w, const struct sota_event *ev)
{
    if (w->p_len == POSTED_MAX) {
        /* cannot happen: at most one store, check and flash at a time */
        GW_LOG(GW_LOG_ERR, w->name, "posted events full: %s dropped",
               sota_event_kind_name(ev->kind));
        return;
    }
    w->posted[w->p_len++] = *ev;
    uv_timer_start(&w->post_timer, on_post, 0, 0);
}

static void exec_outside(struct worker *w, const struct wk_deferred *d);

static void on_barrier(struct app_commit_waiter *cw, int rc)
{
    struct worker *w =
        (struct worker *)((char *)cw - offsetof(struct worker, barrier_w));

    if (rc < 0) {
        worker_exit(w, WORKER_EXIT_FAILED,
                    "state not committed to the database");
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
static void outside(struct worker *w, const struct wk_deferred *d)
{
    struct wk_deferred *slot;

    if (w->d_len == 0 && w->barrier_need <= w->app->commits) {
        exec_outside(w, d);
        return;
    }
    if (w->d_len == DEFERRED_MAX) {
        worker_exit(w, WORKER_EXIT_FAILED, "deferred actions overflow");
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
    if (c->answers != -1)
        req_answered(w, c->answers);
    fsm_feed(w, &ev);
}

static void send_fsm(struct worker *w, const char *text)
{
    struct wk_cmd *c = cmd_ctx(w, CMDK_FSM);
    int rc;

    c->answers = answers_of(text);
    rc = at_chan_send(w->ch, text, w->scfg.cmd_timeout_ms + CHAN_GUARD_MS,
                      on_fsm_cmd, c);

    if (rc < 0)
        GW_LOG(GW_LOG_ERR, w->name, "cannot send %s: %s", text,
               gw_strerror(rc));
}

/* ---- the field device -------------------------------------------------- */

static int64_t staging_room(struct worker *w)
{
    int64_t kib = -1;

    if (w->stg != NULL)
        staging_capacity_kib(w->stg, &kib);
    else
        staging_dir_capacity_kib(w->app->staging_dir,
                                 w->app->cfg->policy.min_staging_free_kib,
                                 &kib);
    return kib;
}

static void dev_from_ident(struct worker *w, const struct mb_ident *id,
                           struct sota_device_info *out)
{
    memset(out, 0, sizeof *out);
    out->known = 1;
    snprintf(out->version, sizeof out->version, "%s", id->sw_version);
    out->battery_pct = id->battery;
    out->free_kib = id->free_kib;
    out->staging_free_kib = staging_room(w);
}

static void on_ident_timer(uv_timer_t *t);

static void on_ident(void *ctx, int rc, const struct mb_ident *id)
{
    struct worker *w = ctx;
    struct sota_event ev;

    w->ident_running = 0;
    if (w->stage == WK_CLOSING || w->stage == WK_EXITED)
        return;
    if (rc == 0) {
        dev_from_ident(w, id, &w->dev);
        if (!w->target_reachable)
            GW_LOG(GW_LOG_INFO, w->name, "field device %s: version %s",
                   bus_dev_name(w->dev_h), w->dev.version);
        w->target_reachable = 1;
    } else {
        if (w->target_reachable || w->stage == WK_BRINGUP)
            GW_LOG(GW_LOG_WARN, w->name, "field device %s: %s",
                   bus_dev_name(w->dev_h), gw_strerror(rc));
        w->target_reachable = 0;
        w->dev.known = 0;
    }
    device_save(w, device_state(w));
    if (w->stage == WK_BRINGUP) {
        w->step = BU_DONE;
        bu_next(w);
        return;
    }
    if (!w->dev.known && uv_is_active((uv_handle_t *)&w->ident_timer))
        uv_timer_start(&w->ident_timer, on_ident_timer, IDENT_RETRY_MS,
                       IDENT_PERIOD_MS); /* busy or silent: retry soon */
    if (w->dev.known) {
        ev.kind = SOTA_EV_DEVICE;
        ev.u.device = w->dev;
        fsm_feed(w, &ev);
    }
}

static void read_ident(struct worker *w)
{
    int rc;

    if (!w->has_target || w->ident_running || w->flash_running) {
        if (w->stage == WK_BRINGUP) {
            w->step = BU_DONE;
            bu_next(w);
        }
        return;
    }
    rc = bus_read_ident(w->dev_h, on_ident, w);
    if (rc < 0) {
        on_ident(w, rc, NULL);
        return;
    }
    w->ident_running = 1;
}

static void on_ident_timer(uv_timer_t *t)
{
    struct worker *w = t->data;

    if (w->stage != WK_RUNNING)
        return;
    stall_check(w);
    if (w->stage == WK_RUNNING)
        read_ident(w);
}

/* Find the target: the device row's override, else the config. */
static void target_resolve(struct worker *w)
{
    struct db_device d;
    char why[128];
    const struct gw_config_target *t;
    int rc;

    w->has_target = 0;
    if (db_device_get(w->app->db, w->imei, &d) == 0 &&
        d.target_uri[0] != '\0') {
        rc = gw_modbus_uri_parse(d.target_uri, &w->target, why, sizeof why);
        if (rc == 0) {
            w->has_target = 1;
        } else {
            GW_LOG(GW_LOG_WARN, w->name, "target override refused: %s", why);
        }
    }
    if (!w->has_target) {
        t = gw_config_target_find(w->app->cfg, w->imei, w->port);
        if (t != NULL) {
            w->target = t->uri;
            w->has_target = 1;
        }
    }
    if (!w->has_target) {
        GW_LOG(GW_LOG_WARN, w->name,
               "no field-device target configured: an upgrade will fail");
        return;
    }
    rc = bus_dev_get(w->app->buses, &w->target, &w->dev_h);
    if (rc < 0) {
        GW_LOG(GW_LOG_ERR, w->name, "target bus: %s", gw_strerror(rc));
        w->has_target = 0;
        w->dev_h = NULL;
    }
}

static enum sota_result flash_result(enum mb_flash_result r)
{
    switch (r) {
    case MB_FLASH_SUCCESS: return SOTA_RESULT_SUCCESS;
    case MB_FLASH_NO_SPACE: return SOTA_RESULT_NO_SPACE;
    case MB_FLASH_INTEGRITY: return SOTA_RESULT_INTEGRITY;
    case MB_FLASH_RUNNING:
    case MB_FLASH_FAILED: break;
    }
    return SOTA_RESULT_UPDATE_FAILED;
}

static void flash_finish(struct worker *w)
{
    const struct mb_flash *f = &w->flash_result;
    struct sota_event ev;

    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_FLASHED;
    ev.u.flashed.result = flash_result(f->result);
    ev.u.flashed.dev = w->dev;
    if (f->result == MB_FLASH_SUCCESS && f->new_version[0] != '\0' &&
        !w->dev.known) {
        /* the re-read failed: the planner saw the new version itself */
        ev.u.flashed.dev.known = 1;
        snprintf(ev.u.flashed.dev.version, sizeof ev.u.flashed.dev.version,
                 "%s", f->new_version);
        ev.u.flashed.dev.battery_pct = -1;
        ev.u.flashed.dev.free_kib = -1;
        ev.u.flashed.dev.staging_free_kib = staging_room(w);
    }
    if (w->has_job) {
        w->job.flash_acked = w->flash_acked;
        if (f->result == MB_FLASH_SUCCESS && f->new_version[0] != '\0' &&
            strcmp(w->job.version, VERSION_UNKNOWN) == 0)
            snprintf(w->job.version, sizeof w->job.version, "%s",
                     f->new_version);
        if (f->result != MB_FLASH_SUCCESS)
            snprintf(w->job.reason, sizeof w->job.reason, "flash: %s",
                     f->reason);
    }
    event_add(w, "flash.end", "result %d: %s", (int)f->result, f->reason);
    fsm_feed(w, &ev);
}

static void on_flash_ident(void *ctx, int rc, const struct mb_ident *id)
{
    struct worker *w = ctx;

    w->ident_running = 0;
    if (w->stage != WK_RUNNING)
        return;
    if (rc == 0) {
        dev_from_ident(w, id, &w->dev);
        w->target_reachable = 1;
    } else {
        w->dev.known = 0;
        w->target_reachable = 0;
    }
    device_save(w, device_state(w));
    flash_finish(w);
}

static void on_flash_progress(void *ctx, uint32_t acked,
                              enum mb_flash_phase phase)
{
    struct worker *w = ctx;

    (void)phase;
    w->flash_acked = acked;
    w->progress_at = now_ms(w);
}

static void on_flash_done(void *ctx, const struct mb_flash *f)
{
    struct worker *w = ctx;

    w->flash_running = 0;
    w->app->stats.flash_blocks += f->blocks_sent;
    w->app->stats.flash_retries += f->retries;
    if (w->stage != WK_RUNNING)
        return;
    w->flash_result = *f;
    GW_LOG(GW_LOG_INFO, w->name, "flash of %s ended: result %d (%s)",
           bus_dev_name(w->dev_h), (int)f->result, f->reason);
    /* re-read the device so the platform's next reads see the new data */
    if (bus_read_ident(w->dev_h, on_flash_ident, w) == 0)
        w->ident_running = 1;
    else
        on_flash_ident(w, -EIO, NULL);
}

static void flash_fail_now(struct worker *w, enum sota_result result,
                           const char *why)
{
    struct sota_event ev;

    GW_LOG(GW_LOG_ERR, w->name, "cannot flash: %s", why);
    if (w->has_job)
        snprintf(w->job.reason, sizeof w->job.reason, "%s", why);
    event_add(w, "flash.refused", "%s", why);
    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_FLASHED;
    ev.u.flashed.result = result;
    ev.u.flashed.dev = w->dev;
    post(w, &ev);
}

static void do_flash(struct worker *w, uint32_t size)
{
    struct bus_flash_req req;
    struct image_digest dg;
    int rc;

    if (!w->has_target || w->dev_h == NULL) {
        flash_fail_now(w, SOTA_RESULT_UPDATE_FAILED,
                       "no target: no field device configured for this "
                       "modem");
        return;
    }
    if (w->stg == NULL || staging_bytes(w->stg) != size) {
        flash_fail_now(w, SOTA_RESULT_UPDATE_FAILED, "staged image incomplete");
        return;
    }
    if (!w->have_crc) {
        rc = image_check_digest(staging_path(w->stg), size, &dg);
        if (rc < 0) {
            flash_fail_now(w, SOTA_RESULT_UPDATE_FAILED,
                           "staged image unreadable");
            return;
        }
        w->img_crc = dg.crc32;
        w->have_crc = 1;
    }
    req.image_path = staging_path(w->stg);
    req.size = size;
    req.crc = w->img_crc;
    req.expect_version =
        strcmp(w->job.version, VERSION_UNKNOWN) == 0 ? NULL : w->job.version;
    if (w->ident_running) {
        bus_cancel(w->dev_h, w);
        w->ident_running = 0;
    }
    rc = bus_flash(w->dev_h, &req, on_flash_progress, on_flash_done, w);
    if (rc < 0) {
        flash_fail_now(w, SOTA_RESULT_UPDATE_FAILED, "flash not started");
        return;
    }
    w->flash_running = 1;
    w->flash_acked = 0;
    event_add(w, "flash.start", "%" PRIu32 " bytes to %s", size,
              bus_dev_name(w->dev_h));
    GW_LOG(GW_LOG_INFO, w->name, "flashing %" PRIu32 " bytes to %s", size,
           bus_dev_name(w->dev_h));
}

/* ---- executing actions ------------------------------------------------- */

static void exec_outside(struct worker *w, const struct wk_deferred *d)
{
    switch (d->kind) {
    case SOTA_ACT_SEND: send_fsm(w, d->text); return;
    case SOTA_ACT_FLASH: do_flash(w, d->size); return;
    case SOTA_ACT_JOB_END: {
        char reason[DB_REASON_MAX + 1];

        if (d->result == SOTA_RESULT_SUCCESS)
            snprintf(reason, sizeof reason, "success");
        else if (w->has_job && w->job.reason[0] != '\0')
            snprintf(reason, sizeof reason, "%s", w->job.reason);
        else
            snprintf(reason, sizeof reason, "update result %d (%s)",
                     (int)d->result, sota_result_name(d->result));
        job_close(w, d->result, reason);
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

static void on_store_commit(struct app_commit_waiter *cw, int rc)
{
    struct worker *w =
        (struct worker *)((char *)cw - offsetof(struct worker, store_w));
    struct sota_event ev;
    struct staging_recovered rec;

    w->store_pending = 0;
    if (w->stage != WK_RUNNING)
        return;
    if (rc < 0 && w->stg != NULL)
        staging_recover(w->stg, &rec); /* the records were rolled back */
    if (rc == 0) { /* a failure is counted by the FSM's bad-chunk note */
        w->app->stats.chunks_stored++;
        w->app->stats.bytes_stored += w->store_len;
    }
    ev.kind = SOTA_EV_STORED;
    ev.u.stored.msgid = w->store_msgid;
    ev.u.stored.rc = rc;
    fsm_feed(w, &ev);
}

static void do_store(struct worker *w, const struct sota_action *a)
{
    struct sota_event ev;
    int rc;

    rc = job_ensure(w);
    if (rc == 0)
        rc = staging_write(w->stg, a->u.store.offset, a->u.store.data,
                           a->u.store.len, a->u.store.msgid);
    if (rc < 0) {
        ev.kind = SOTA_EV_STORED;
        ev.u.stored.msgid = a->u.store.msgid;
        ev.u.stored.rc = rc;
        post(w, &ev);
        return;
    }
    w->job.bytes_durable = staging_bytes(w->stg);
    if (a->u.store.last) {
        /* In the same group as the last chunk's record (see sota_fsm.h). */
        w->job.image_size = (int64_t)staging_bytes(w->stg);
        rc = db_group_begin(w->app->db);
        if (rc == 0)
            rc = db_job_update(w->app->db, &w->job);
        if (rc < 0)
            GW_LOG(GW_LOG_WARN, w->name, "image size not recorded: %s",
                   gw_strerror(rc));
    }
    w->progress_at = now_ms(w);
    w->store_msgid = a->u.store.msgid;
    w->store_len = a->u.store.len;
    w->store_pending = 1;
    app_commit_after(w->app, &w->store_w, on_store_commit);
}

static void do_check(struct worker *w, uint32_t size)
{
    struct image_digest dg;
    struct db_package pkg;
    enum image_verdict v;
    struct sota_event ev;
    int rc;

    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_CHECKED;
    ev.u.checked.result = SOTA_RESULT_INTEGRITY;
    if (w->stg == NULL || staging_bytes(w->stg) != size) {
        GW_LOG(GW_LOG_ERR, w->name,
               "check: %" PRIu32 " bytes staged, "
               "%" PRIu32 " expected",
               w->stg ? staging_bytes(w->stg) : 0, size);
        goto out;
    }
    rc = image_check_digest(staging_path(w->stg), size, &dg);
    if (rc < 0)
        goto out;
    rc = image_check_match(w->app->db, &dg, &v, &pkg);
    if (rc < 0) {
        ev.u.checked.result = SOTA_RESULT_UPDATE_FAILED;
        goto out;
    }
    w->img_crc = dg.crc32;
    w->have_crc = 1;
    w->job.image_size = size;
    memcpy(w->job.md5, dg.md5, sizeof w->job.md5);
    memcpy(w->job.sha256, dg.sha256, sizeof w->job.sha256);
    switch (v) {
    case IMAGE_REFUSED:
        snprintf(w->job.reason, sizeof w->job.reason,
                 "image md5 %s, %" PRIu32 " bytes, matches no package", dg.md5,
                 size);
        GW_LOG(GW_LOG_WARN, w->name, "%s", w->job.reason);
        goto out;
    case IMAGE_ACCEPTED_PACKAGE:
        w->job.package_id = pkg.id;
        memcpy(w->job.version, pkg.version, sizeof w->job.version);
        GW_LOG(GW_LOG_INFO, w->name, "image is package %" PRId64 " (%s)",
               pkg.id, pkg.version);
        break;
    case IMAGE_ACCEPTED_UNREGISTERED:
        GW_LOG(GW_LOG_INFO, w->name,
               "image md5 %s accepted (no packages registered)", dg.md5);
        break;
    }
    ev.u.checked.result = SOTA_RESULT_SUCCESS;
out:
    if (w->has_job)
        job_write(w);
    post(w, &ev);
}

/* PERSIST: the job row. Only a running download's counters: no barrier. */
static void do_persist(struct worker *w, const struct sota_checkpoint *cp)
{
    int progress_only = cp->phase == SOTA_PHASE_DOWNLOADING &&
                        w->last_cp.phase == SOTA_PHASE_DOWNLOADING &&
                        cp->result == w->last_cp.result &&
                        cp->image_size == w->last_cp.image_size &&
                        strcmp(cp->new_version, w->last_cp.new_version) == 0;
    int rc;

    w->last_cp = *cp;
    if (!w->has_job) {
        if (cp->phase == SOTA_PHASE_IDLE)
            return; /* nothing held, nothing to record */
        if (job_ensure(w) < 0)
            return;
    }
    w->job.oma_state = sota_phase_oma_state(cp->phase);
    w->job.oma_result = (int)cp->result;
    w->job.bytes_durable = cp->bytes;
    w->job.last_msgid = cp->last_msgid;
    w->job.progress_ms = gw_wall_ms();
    w->progress_at = now_ms(w);
    if (progress_only) {
        rc = db_group_begin(w->app->db);
        if (rc == 0)
            rc = db_job_progress(w->app->db, w->job.id, cp->bytes,
                                 cp->last_msgid, w->job.progress_ms);
        if (rc < 0)
            GW_LOG(GW_LOG_WARN, w->name, "progress not saved: %s",
                   gw_strerror(rc));
        return;
    }
    if (cp->phase != SOTA_PHASE_IDLE) {
        enum db_job_phase p = job_phase_of(cp->phase);

        if (p != w->job.phase)
            GW_LOG(GW_LOG_INFO, w->name, "job %" PRId64 ": %s -> %s", w->job.id,
                   db_job_phase_name(w->job.phase), db_job_phase_name(p));
        w->job.phase = p;
    }
    if (cp->image_size > 0)
        w->job.image_size = cp->image_size;
    if (cp->new_version[0] != '\0' &&
        strcmp(w->job.version, VERSION_UNKNOWN) == 0)
        snprintf(w->job.version, sizeof w->job.version, "%s", cp->new_version);
    if (job_write(w) == 0)
        w->barrier_need = w->app->commits + 1;
}

static void timer_fired(uv_timer_t *t);

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
            outside(w, &d);
            break;
        case SOTA_ACT_FLASH:
        case SOTA_ACT_JOB_END:
            memset(&d, 0, sizeof d);
            d.kind = a->kind;
            d.size = a->u.image.size;
            if (a->kind == SOTA_ACT_JOB_END)
                d.result = a->u.job_end.result;
            outside(w, &d);
            break;
        case SOTA_ACT_STORE_CHUNK: do_store(w, a); break;
        case SOTA_ACT_RESET_STAGING:
            if (w->stg != NULL && staging_reset(w->stg) < 0)
                GW_LOG(GW_LOG_ERR, w->name, "staging not reset");
            w->have_crc = 0;
            break;
        case SOTA_ACT_CHECK_IMAGE: do_check(w, a->u.image.size); break;
        case SOTA_ACT_PERSIST: do_persist(w, &a->u.persist); break;
        case SOTA_ACT_ARM_TIMER: {
            int64_t delay = a->u.timer.at - now_ms(w);

            uv_timer_start(&w->fsm_timer[a->u.timer.id], timer_fired,
                           delay > 0 ? (uint64_t)delay : 0, 0);
            break;
        }
        case SOTA_ACT_CANCEL_TIMER:
            uv_timer_stop(&w->fsm_timer[a->u.timer.id]);
            break;
        case SOTA_ACT_NOTE: {
            /* one event kind per note kind: "sota.resume", "sota.refused"..
             * so the audit trail can be filtered */
            char kind[32];

            snprintf(kind, sizeof kind, "sota.%s",
                     sota_note_kind_name(a->u.note.kind));
            if (a->u.note.kind == SOTA_NOTE_RESUME)
                w->app->stats.resumes++;
            else if (a->u.note.kind == SOTA_NOTE_RESTART)
                w->app->stats.restarts++;
            else if (a->u.note.kind == SOTA_NOTE_DUPLICATE)
                w->app->stats.chunks_resent++;
            else if (a->u.note.kind == SOTA_NOTE_BAD_CHUNK)
                w->app->stats.chunks_bad++;
            GW_LOG(a->u.note.kind == SOTA_NOTE_STATE ? GW_LOG_INFO
                                                     : GW_LOG_DEBUG,
                   w->name, "%s: %s", kind, a->u.note.text);
            event_add(w, kind, "%s", a->u.note.text);
            break;
        }
        }
    }
}

static void fsm_feed(struct worker *w, const struct sota_event *ev)
{
    struct sota_actions acts;
    int rc;

    if (w->stage != WK_RUNNING || !w->fsm_ready)
        return;
    rc = sota_fsm_step(&w->fsm, ev, now_ms(w), &acts);
    if (rc < 0)
        GW_LOG(GW_LOG_ERR, w->name, "%s: %s", sota_event_kind_name(ev->kind),
               gw_strerror(rc));
    exec_actions(w, &acts);
}

static void timer_fired(uv_timer_t *t)
{
    struct worker *w = t->data;
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
    fsm_feed(w, &ev);
}

/* ---- policies ---------------------------------------------------------- */

/* Start the machine again from an idle checkpoint (the job was ended by a
 * policy): commands, timers and waits of the old one are dropped. */
static void fsm_restart_idle(struct worker *w)
{
    struct sota_checkpoint cp;
    struct sota_event ev;

    w->fsm_gen++;
    for (int i = 0; i < SOTA_TIMER_COUNT; i++)
        uv_timer_stop(&w->fsm_timer[i]);
    app_commit_cancel(w->app, &w->barrier_w);
    app_commit_cancel(w->app, &w->store_w);
    w->store_pending = 0;
    w->d_len = 0;
    w->p_len = 0;
    w->barrier_need = 0;
    sota_fsm_cleanup(&w->fsm);
    sota_checkpoint_init(&cp);
    if (sota_fsm_init(&w->fsm, &w->scfg, &cp, now_ms(w)) < 0) {
        w->fsm_ready = 0;
        worker_exit(w, WORKER_EXIT_FAILED, "state machine rebuild failed");
        return;
    }
    w->last_cp = cp;
    ev.kind = SOTA_EV_START;
    fsm_feed(w, &ev);
    if (w->dev.known) {
        ev.kind = SOTA_EV_DEVICE;
        ev.u.device = w->dev;
        fsm_feed(w, &ev);
    }
}

/* Policy job_stall_timeout: a job without progress for that long ends
 * failed (a flash waiting for its bus or running is progress enough), and
 * the machine starts again idle, so 5/0/-1 never reports bytes of a job
 * that no longer exists. */
static void stall_check(struct worker *w)
{
    unsigned limit_s = w->app->cfg->policy.job_stall_timeout_s;
    struct sota_snapshot sn;
    char why[DB_REASON_MAX + 1];

    if (!w->has_job || limit_s == 0 || w->flash_running || w->store_pending ||
        now_ms(w) - w->progress_at < (int64_t)limit_s * 1000)
        return;
    sota_fsm_snapshot(&w->fsm, &sn);
    snprintf(why, sizeof why, "stalled: no progress for %u s while %s", limit_s,
             sota_phase_name(sn.phase));
    GW_LOG(GW_LOG_WARN, w->name, "job %" PRId64 " %s", w->job.id, why);
    job_close(
        w, sn.phase == SOTA_PHASE_DONE ? sn.result : SOTA_RESULT_UPDATE_FAILED,
        why);
    fsm_restart_idle(w);
}

/* Failed jobs of this device since its last successful one. */
static int failures_since_success(struct worker *w, unsigned *out)
{
    struct db_job page[16];
    int64_t after = 0;
    size_t n;
    int rc;

    *out = 0;
    do {
        rc = db_job_list(w->app->db, w->imei, after, page, 16, &n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            if (page[i].phase == DB_JOB_DONE)
                *out = 0;
            else if (page[i].phase == DB_JOB_FAILED &&
                     (w->retry_after_ms == 0 ||
                      page[i].ended_ms > w->retry_after_ms))
                (*out)++;
            after = page[i].id;
        }
    } while (n == 16);
    return 0;
}

/* Other devices on this modem's USB hub with a download or flash running. */
static int hub_busy(struct worker *w, unsigned *out)
{
    struct db_device page[16];
    struct db_device_filter flt = {.state = DB_DEVICE_UPGRADING,
                                   .usb_hub = w->loc.hub};
    char after[DB_IMEI_LEN + 1] = "";
    size_t n;
    int rc;

    *out = 0;
    do {
        rc = db_device_list(w->app->db, &flt, after, page, 16, &n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (strcmp(page[i].imei, w->imei) != 0)
                (*out)++;
        if (n > 0)
            memcpy(after, page[n - 1].imei, sizeof after);
    } while (n == 16);
    return 0;
}

/* Before an execute 5/0/26501, hand the machine the counts its download
 * policies decide on (retry_budget, downloads_per_hub in sota_config). A
 * count that cannot be read is logged and taken as 0: the policies then
 * allow the download rather than refuse it on a database error. */
static void feed_load(struct worker *w, const struct m531x_urc *u)
{
    struct sota_event ev = {.kind = SOTA_EV_LOAD};

    if (u->kind != M531X_URC_EXECUTE || u->obj != 5 || u->ins != 0 ||
        u->res != 26501)
        return;
    if (failures_since_success(w, &ev.u.load.failed_attempts) < 0)
        GW_LOG(GW_LOG_WARN, w->name, "cannot count failed attempts");
    if (w->loc.hub[0] != '\0' &&
        hub_busy(w, &ev.u.load.hub_downloads) < 0)
        GW_LOG(GW_LOG_WARN, w->name, "cannot count the hub's upgrades");
    fsm_feed(w, &ev);
}

/* The last operator retry of this device (event "worker.retry"), so a
 * restarted daemon keeps not counting the failures before it. */
static void retry_mark_load(struct worker *w)
{
    struct db_event *page = malloc(16 * sizeof *page);
    int64_t after = 0;
    size_t n;

    if (page == NULL)
        return;
    do {
        if (db_event_list(w->app->db, w->imei, after, page, 16, &n) < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(page[i].kind, "worker.retry") == 0)
                w->retry_after_ms = page[i].time_ms;
            after = page[i].id;
        }
    } while (n == 16);
    free(page);
}

/* ---- operator actions -------------------------------------------------- */

/* Stop a running flash between two Modbus requests (bus.h: never leaves a
 * device half-applied); the machine is told by the PAUSE or CANCEL that
 * follows. */
static void stop_flash(struct worker *w, const char *why)
{
    if (!w->flash_running || w->dev_h == NULL)
        return;
    bus_cancel(w->dev_h, w);
    w->flash_running = 0;
    w->ident_running = 0;
    event_add(w, "flash.stop", "stopped between two requests: %s", why);
}

int worker_action(struct worker *w, enum worker_action a, const char *actor,
                  char *why, size_t cap)
{
    struct sota_snapshot sn;
    struct sota_event ev = {.kind = SOTA_EV_PAUSE};

    snprintf(why, cap, "%s", "");
    if (w->stage != WK_RUNNING || !w->fsm_ready) {
        snprintf(why, cap, "the modem is still being brought up");
        return GW_E_STATE;
    }
    sota_fsm_snapshot(&w->fsm, &sn);
    switch (a) {
    case WORKER_PAUSE:
        if (sn.paused) {
            snprintf(why, cap, "already paused");
            return GW_E_STATE;
        }
        stop_flash(w, "paused by the operator");
        ev.kind = SOTA_EV_PAUSE;
        break;
    case WORKER_RESUME:
        if (!sn.paused) {
            snprintf(why, cap, "not paused");
            return GW_E_STATE;
        }
        ev.kind = SOTA_EV_RESUME;
        break;
    case WORKER_CANCEL:
        if (sn.phase == SOTA_PHASE_IDLE) {
            snprintf(why, cap, "no upgrade in progress");
            return GW_E_STATE;
        }
        if (sn.phase == SOTA_PHASE_DONE) {
            snprintf(why, cap, "the field device is already flashed; the "
                               "job ends at the platform's final write");
            return GW_E_STATE;
        }
        stop_flash(w, "cancelled by the operator");
        ev.kind = SOTA_EV_CANCEL;
        break;
    case WORKER_RETRY:
        w->retry_after_ms = gw_wall_ms();
        event_add(w, "worker.retry",
                  "failed attempts before now no longer count (%s)", actor);
        return 0;
    }
    GW_LOG(GW_LOG_INFO, w->name, "operator %s: %s",
           sota_event_kind_name(ev.kind), actor);
    fsm_feed(w, &ev);
    return 0;
}

void worker_target_changed(struct worker *w)
{
    if (w->stage != WK_RUNNING || w->imei[0] == '\0')
        return;
    if (w->flash_running) {
        /* a flash already running keeps its target (docs/API.md) */
        GW_LOG(GW_LOG_INFO, w->name,
               "target changed: applies after the running flash");
        return;
    }
    if (w->dev_h != NULL) {
        bus_cancel(w->dev_h, w);
        w->ident_running = 0;
        bus_dev_put(w->dev_h);
        w->dev_h = NULL;
    }
    target_resolve(w);
    event_add(w, "target.changed", "target now %s",
              w->has_target && w->dev_h ? bus_dev_name(w->dev_h) : "none");
}

/* ---- URCs -------------------------------------------------------------- */

static void on_mipl(struct worker *w, const struct at_line *line)
{
    static const char write_prefix[] = "+MIPLWRITE";
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
        if (strncmp(line->text, write_prefix, sizeof write_prefix - 1) != 0)
            return;
        ev.kind = SOTA_EV_BAD_URC;
        ev.u.bad.msgid = -1;
        ev.u.bad.reason = u.reason;
        {
            /* +MIPLWRITE:<ref>,<msgid>,...: the msgid, if it reads */
            const char *p = strchr(line->text, ',');
            char *end;
            long v;

            if (p != NULL) {
                v = strtol(p + 1, &end, 10);
                if (end != p + 1 && *end == ',' && v >= 0 &&
                    v <= M531X_MSGID_MAX)
                    ev.u.bad.msgid = (int32_t)v;
            }
        }
        fsm_feed(w, &ev);
        return;
    }
    feed_load(w, &u);
    req_arrived(w, &u);
    ev.kind = SOTA_EV_URC;
    ev.u.urc.urc = &u;
    ev.u.urc.data = n > 0 ? data : NULL;
    ev.u.urc.data_len = (size_t)n;
    fsm_feed(w, &ev);
}

static void on_chan_line(void *ctx, const struct at_line *line)
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

/* ---- bring-up ---------------------------------------------------------- */

static void on_bu_cmd(void *ctx, int rc, const struct at_reply *r);

static void bu_send(struct worker *w)
{
    const char *text = bu_table[w->step].text != NULL
                           ? bu_table[w->step].text
                           : m531x_simple_cmd_text(bu_table[w->step].cmd);
    int rc = at_chan_send(w->ch, text, bu_table[w->step].timeout_ms, on_bu_cmd,
                          cmd_ctx(w, CMDK_BRINGUP));

    if (rc < 0)
        worker_exit(w, WORKER_EXIT_FAILED, "bring-up command refused");
}

static void on_retry(uv_timer_t *t)
{
    struct worker *w = t->data;

    if (w->stage == WK_BRINGUP)
        bu_send(w);
}

static void retry_later(struct worker *w, uint64_t ms)
{
    uv_timer_start(&w->retry_timer, on_retry, ms, 0);
}

/* Load the active job of this IMEI and build the checkpoint from it and
 * the verified staged bytes. */
static int resume_job(struct worker *w, struct sota_checkpoint *cp)
{
    struct staging_recovered rec;
    char name[STAGING_NAME_MAX];
    int rc;

    sota_checkpoint_init(cp);
    rc = db_job_active(w->app->db, w->imei, &w->job);
    if (rc == GW_E_NOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    w->has_job = 1;
    w->progress_at = now_ms(w);
    staging_name(w, w->job.id, name, sizeof name);
    rc = staging_open(&w->stg, w->app, w->job.id, name,
                      w->app->cfg->policy.min_staging_free_kib);
    if (rc == 0)
        rc = staging_recover(w->stg, &rec);
    if (rc < 0) {
        job_close(w, SOTA_RESULT_UPDATE_FAILED, "staging unusable");
        return 0;
    }
    cp->result = w->job.oma_result >= 0 && w->job.oma_result <= SOTA_RESULT_MAX
                     ? (enum sota_result)w->job.oma_result
                     : SOTA_RESULT_INITIAL;
    cp->bytes = rec.bytes;
    cp->last_msgid = rec.last_msgid;
    switch (w->job.phase) {
    case DB_JOB_DOWNLOAD: cp->phase = SOTA_PHASE_DOWNLOADING; break;
    case DB_JOB_CHECK: cp->phase = SOTA_PHASE_CHECKING; break;
    case DB_JOB_FLASH: cp->phase = SOTA_PHASE_FLASHING; break;
    case DB_JOB_CONFIRM: cp->phase = SOTA_PHASE_DONE; break;
    case DB_JOB_DONE:
    case DB_JOB_FAILED: cp->phase = SOTA_PHASE_IDLE; break;
    }
    if (cp->phase == SOTA_PHASE_DOWNLOADING && w->job.image_size > 0 &&
        rec.bytes == w->job.image_size) {
        /* Killed between the last chunk's commit and the checkpoint: the
         * whole image is here; check it rather than report state 1 with
         * every byte, which the platform reads as a download from 0. */
        cp->phase = SOTA_PHASE_CHECKING;
    }
    if (cp->phase == SOTA_PHASE_CHECKING || cp->phase == SOTA_PHASE_FLASHING) {
        if (w->job.image_size <= 0 || rec.bytes != w->job.image_size) {
            /* the staged image lost bytes: download the rest again */
            cp->phase = SOTA_PHASE_DOWNLOADING;
        } else {
            cp->image_size = (uint32_t)w->job.image_size;
        }
    }
    if (cp->phase == SOTA_PHASE_DONE) {
        cp->image_size = rec.bytes;
        if (cp->result == SOTA_RESULT_SUCCESS &&
            strcmp(w->job.version, VERSION_UNKNOWN) != 0)
            snprintf(cp->new_version, sizeof cp->new_version, "%s",
                     w->job.version);
    }
    if (sota_checkpoint_validate(cp, w->scfg.image_max) < 0) {
        GW_LOG(GW_LOG_ERR, w->name,
               "job %" PRId64 " cannot be resumed: checkpoint inconsistent",
               w->job.id);
        job_close(w, SOTA_RESULT_UPDATE_FAILED, "checkpoint inconsistent");
        sota_checkpoint_init(cp);
        return 0;
    }
    GW_LOG(GW_LOG_INFO, w->name,
           "resuming job %" PRId64 ": %s, %" PRIu32 " bytes verified "
           "(%" PRIu32 " chunk records dropped)",
           w->job.id, sota_phase_name(cp->phase), rec.bytes, rec.dropped);
    event_add(w, "job.resumed",
              "%s, %" PRIu32 " bytes, %" PRIu32 " records dropped%s",
              sota_phase_name(cp->phase), rec.bytes, rec.dropped,
              rec.file_missing ? ", file was missing" : "");
    return 0;
}

static void start_fsm(struct worker *w)
{
    struct sota_checkpoint cp;
    struct sota_event ev;
    int rc;

    sota_config_default(&w->scfg);
    snprintf(w->scfg.name, sizeof w->scfg.name, "%s", w->name);
    w->scfg.dialect = w->app->cfg->dialect;
    w->scfg.lifetime_s = (int)w->app->cfg->modems.lifetime_s;
    w->scfg.open_timeout_s = (int)w->app->cfg->modems.open_timeout_s;
    w->scfg.keepalive_pct = (int)w->app->cfg->modems.keepalive_pct;
    w->scfg.reg_retries = w->app->cfg->modems.reg_retries;
    w->scfg.late_event_ms = (int64_t)w->app->cfg->modems.late_event_s * 1000;
    _Static_assert(sizeof w->scfg.reboot_cmd ==
                       sizeof w->app->cfg->modems.reboot_cmd,
                   "the reboot command is copied whole");
    memcpy(w->scfg.reboot_cmd, w->app->cfg->modems.reboot_cmd,
           sizeof w->scfg.reboot_cmd);
    w->scfg.reboot_timeout_ms =
        (int64_t)w->app->cfg->modems.reboot_timeout_s * 1000;
    w->scfg.reg_fail_backoff_ms =
        (int64_t)w->app->cfg->modems.reg_fail_backoff_s * 1000;
    w->scfg.retry_budget = w->app->cfg->policy.retry_budget;
    w->scfg.downloads_per_hub = w->app->cfg->policy.downloads_per_hub;
    rc = resume_job(w, &cp);
    if (rc < 0) {
        worker_exit(w, WORKER_EXIT_FAILED, "job could not be loaded");
        return;
    }
    rc = sota_fsm_init(&w->fsm, &w->scfg, &cp, now_ms(w));
    if (rc < 0) {
        worker_exit(w, WORKER_EXIT_FAILED, "state machine refused config");
        return;
    }
    w->last_cp = cp;
    w->fsm_ready = 1;
    w->stage = WK_RUNNING;
    device_save(w, device_state(w));
    GW_LOG(GW_LOG_INFO, w->name, "bring-up done -> running (%s)",
           sota_phase_name(cp.phase));
    ev.kind = SOTA_EV_START;
    fsm_feed(w, &ev);
    if (w->dev.known) {
        ev.kind = SOTA_EV_DEVICE;
        ev.u.device = w->dev;
        fsm_feed(w, &ev);
    } else if (!w->has_target) {
        /* no device to ask: the last version it reported, if any, lets
         * the modem register; reads of battery and space say unknown */
        struct db_device d;

        if (db_device_get(w->app->db, w->imei, &d) == 0 &&
            d.sw_version[0] != '\0') {
            memset(&ev, 0, sizeof ev);
            ev.kind = SOTA_EV_DEVICE;
            ev.u.device.known = 1;
            memcpy(ev.u.device.version, d.sw_version,
                   sizeof ev.u.device.version);
            ev.u.device.battery_pct = -1;
            ev.u.device.free_kib = -1;
            ev.u.device.staging_free_kib = staging_room(w);
            fsm_feed(w, &ev);
        }
    }
    /* Unknown device data blocks registration (the version must be
     * reported first): retry soon, not at the next refresh. */
    uv_timer_start(&w->ident_timer, on_ident_timer,
                   w->dev.known ? IDENT_PERIOD_MS : IDENT_RETRY_MS,
                   IDENT_PERIOD_MS);
}

static void bu_next(struct worker *w)
{
    if (w->stage != WK_BRINGUP)
        return;
    if (w->step == BU_DEVICE) {
        read_ident(w);
        return;
    }
    if (w->step == BU_DONE) {
        start_fsm(w);
        return;
    }
    w->tries = 0;
    bu_send(w);
}

static int info_parse(struct worker *w, const struct at_reply *r)
{
    int rssi, ber, stat, att;

    for (size_t i = 0; i < r->ninfo; i++) {
        const char *l = r->info[i];
        size_t n = strlen(l);

        switch (w->step) {
        case BU_IMEI:
            if (m531x_parse_cgsn(l, n, w->imei_read) == 0)
                return 0;
            break;
        case BU_IMSI:
            if (m531x_parse_cimi(l, n, w->imsi) == 0)
                return 0;
            break;
        case BU_ICCID:
        case BU_NCCID:
            if (m531x_parse_iccid(l, n, w->iccid) == 0)
                return 0;
            break;
        case BU_CSQ:
            if (m531x_parse_csq(l, n, &rssi, &ber) == 0) {
                w->rssi = rssi;
                return 0;
            }
            break;
        case BU_CEREG:
            if (m531x_parse_cereg(l, n, 1, &stat) == 0) {
                w->reg_status = stat;
                return 0;
            }
            break;
        case BU_CGATT:
            if (m531x_parse_cgatt(l, n, &att) == 0)
                return att ? 0 : GW_E_STATE;
            break;
        case BU_AT:
        case BU_ECHO:
        case BU_LOCK:
        case BU_DEVICE:
        case BU_DONE: return 0;
        }
    }
    /* no usable information line */
    return w->step == BU_AT || w->step == BU_ECHO || w->step == BU_LOCK ||
                   w->step == BU_DEVICE || w->step == BU_DONE
               ? 0
               : GW_E_TRUNC;
}

static void on_identified(struct worker *w)
{
    int rc;

    set_name(w);
    GW_LOG(GW_LOG_INFO, w->name, "modem identified on %s", w->port);
    rc = w->ops->identified(w->ops_ctx, w, w->imei);
    if (rc == -EEXIST) {
        worker_exit(w, WORKER_EXIT_DUPLICATE, "IMEI already served");
        return;
    }
    if (rc < 0) {
        worker_exit(w, WORKER_EXIT_FAILED, "refused by the supervisor");
        return;
    }
    device_save(w, DB_DEVICE_IDLE);
    retry_mark_load(w);
    target_resolve(w);
}

static void on_bu_cmd(void *ctx, int rc, const struct at_reply *r)
{
    struct wk_cmd *c = ctx;
    struct worker *w = c->w;
    int prc;

    if (w->stage != WK_BRINGUP || w->settling)
        return;
    if (rc == -ECONNRESET || rc == -EIO || rc == -ECANCELED)
        return; /* the boot and hang-up paths take over */
    prc = rc == 0 && r->final == AT_FINAL_OK ? info_parse(w, r) : GW_E_PROTO;
    if (w->step == BU_AT && prc < 0) {
        if (++w->tries >= AT_PROBE_TRIES) {
            worker_exit(w, WORKER_EXIT_FAILED, "no answer to AT");
            return;
        }
        retry_later(w, RETRY_DELAY_MS);
        return;
    }
    if (w->step == BU_CGATT && prc == GW_E_STATE) {
        if (++w->tries % 30 == 1)
            GW_LOG(GW_LOG_INFO, w->name, "waiting for network attach");
        retry_later(w, ATTACH_RETRY_MS);
        return;
    }
    if (prc < 0 && bu_table[w->step].required) {
        GW_LOG(GW_LOG_ERR, w->name, "bring-up: %s failed (%s)",
               bu_table[w->step].text != NULL
                   ? bu_table[w->step].text
                   : m531x_simple_cmd_text(bu_table[w->step].cmd),
               rc < 0 ? gw_strerror(rc) : at_final_kind_name(r->final));
        worker_exit(w, WORKER_EXIT_FAILED, "bring-up failed");
        return;
    }
    if (prc < 0)
        GW_LOG(GW_LOG_WARN, w->name, "bring-up: %s gave nothing usable",
               bu_table[w->step].text != NULL
                   ? bu_table[w->step].text
                   : m531x_simple_cmd_text(bu_table[w->step].cmd));
    if (w->step == BU_IMEI && w->imei[0] == '\0') {
        memcpy(w->imei, w->imei_read, sizeof w->imei);
        on_identified(w);
        if (w->stage != WK_BRINGUP)
            return;
    } else if (w->step == BU_IMEI && strcmp(w->imei, w->imei_read) != 0) {
        /* a bring-up again after a reboot: the same module, or not ours */
        worker_exit(w, WORKER_EXIT_FAILED, "IMEI changed after a reboot");
        return;
    }
    if (w->step == BU_ICCID && prc == 0)
        w->step = BU_NCCID; /* skip the M5310-A form */
    w->step++;
    bu_next(w);
}

/* ---- boot banners, hang-up --------------------------------------------- */

static void on_settle_cmd(void *ctx, int rc, const struct at_reply *r)
{
    struct wk_cmd *c = ctx;

    (void)r;
    if (rc != 0 && c->w->stage == WK_RUNNING)
        GW_LOG(GW_LOG_WARN, c->w->name, "after reboot: %s", gw_strerror(rc));
}

static void on_settled(uv_timer_t *t)
{
    struct worker *w = t->data;

    w->settling = 0;
    if (w->stage == WK_BRINGUP) {
        w->step = w->imei[0] != '\0' ? BU_ECHO : BU_AT;
        bu_next(w);
        return;
    }
    /* echo and the sleep lock do not survive a reboot */
    at_chan_send(w->ch, m531x_simple_cmd_text(M531X_CMD_ECHO_OFF),
                 CMD_TIMEOUT_MS, on_settle_cmd, cmd_ctx(w, CMDK_SETTLE));
    at_chan_send(w->ch, m531x_simple_cmd_text(M531X_CMD_SLEEP_LOCK),
                 CMD_TIMEOUT_MS, on_settle_cmd, cmd_ctx(w, CMDK_SETTLE));
}

static void on_chan_boot(void *ctx, const char *text)
{
    struct worker *w = ctx;
    struct sota_event ev;

    event_add(w, "modem.reboot", "%.60s", text);
    if (!w->settling && w->stage == WK_RUNNING) {
        w->fsm_gen++;
        ev.kind = SOTA_EV_MODEM_RESET;
        fsm_feed(w, &ev);
    }
    w->settling = 1;
    uv_timer_start(&w->retry_timer, on_settled, BOOT_SETTLE_MS, 0);
}

static void on_chan_hangup(void *ctx, int err)
{
    struct worker *w = ctx;

    (void)err;
    worker_exit(w, WORKER_EXIT_UNPLUGGED, "port lost");
}

static const struct at_chan_ops chan_ops = {
    .line = on_chan_line,
    .boot = on_chan_boot,
    .hangup = on_chan_hangup,
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

static uv_timer_t *timer_at(struct worker *w, int i)
{
    switch (i) {
    case 0: return &w->retry_timer;
    case 1: return &w->ident_timer;
    case 2: return &w->post_timer;
    default: return &w->fsm_timer[i - 3];
    }
}

#define TIMERS (3 + SOTA_TIMER_COUNT)

static void worker_exit(struct worker *w, enum worker_exit why,
                        const char *detail)
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
        bus_cancel(w->dev_h, w);
    if (w->imei[0] != '\0')
        device_save(w, DB_DEVICE_ABSENT);
    if (w->stg != NULL) {
        staging_free(w->stg); /* its pending sync is done now */
        w->stg = NULL;
    }
    app_commit_flush(w->app);
    for (int i = 0; i < TIMERS; i++) {
        uv_timer_stop(timer_at(w, i));
        uv_close((uv_handle_t *)timer_at(w, i), on_handle_closed);
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
    set_name(w);
    rc = at_chan_open(&w->ch, app->loop, port_path, (int)app->cfg->modems.baud,
                      w->name, &chan_ops, w);
    if (rc < 0) {
        GW_LOG(GW_LOG_WARN, w->name, "cannot open: %s", gw_strerror(rc));
        free(w);
        return rc;
    }
    for (int i = 0; i < TIMERS; i++) {
        uv_timer_init(app->loop, timer_at(w, i));
        timer_at(w, i)->data = w;
    }
    w->handles_open = TIMERS + 1; /* + the channel */
    w->stage = WK_BRINGUP;
    w->step = BU_AT;
    GW_LOG(GW_LOG_INFO, w->name, "bring-up on %s", port_path);
    bu_next(w);
    *out = w;
    return 0;
}

void worker_stop(struct worker *w)
{
    worker_exit(w, WORKER_EXIT_STOPPED, "stopped");
}

void worker_free(struct worker *w)
{
    if (w == NULL)
        return;
    if (w->dev_h != NULL)
        bus_dev_put(w->dev_h);
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
    if (w->fsm_ready)
        sota_fsm_snapshot(&w->fsm, &out->sota);
    out->job_id = w->has_job ? w->job.id : 0;
    if (w->dev_h != NULL)
        snprintf(out->target, sizeof out->target, "%s", bus_dev_name(w->dev_h));
    out->target_reachable = w->target_reachable;
    out->flash_acked = w->flash_acked;
    out->paused = out->sota.paused;
}
