/* worker_bringup.c: bring-up and identity of a worker (worker.h).
 *
 * The bring-up table of AT steps, one command at a time, the identity
 * read from the answers, the device row, boot banners and hang-up, and
 * the start of the machine once the modem and its field device are known. */
#define GW_LOG_TAG "worker"

#include "worker_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "db/db_devices.h"
#include "dio/m531x.h"
#include "gw/clock.h"
#include "gw/err.h"

#include "gw/log.h"

#define CMD_TIMEOUT_MS      5000 /* bring-up commands */
#define AT_PROBE_TIMEOUT_MS 1000
#define AT_PROBE_TRIES      10
#define RETRY_DELAY_MS      1000 /* between AT probes */
#define ATTACH_RETRY_MS     2000 /* AT+CGATT? until attached */
#define BOOT_SETTLE_MS      1500 /* quiet time after a boot banner */

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

/* ---- device row -------------------------------------------------------- */

void wk_device_save(struct worker *w, enum db_device_state state)
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
    d.readings_ms = w->readings_ms;
    if (state == DB_DEVICE_FAULT && w->fsm_ready) {
        struct sota_snapshot sn;

        sota_fsm_snapshot(&w->fsm, &sn);
        snprintf(d.fault, sizeof d.fault, "failed: registration: %s",
                 sn.reg_reason);
    } else if (state == DB_DEVICE_ABSENT) {
        /* gone: what was wrong when it was last seen stays readable */
        struct db_device old;

        if (db_device_get(w->app->db, w->imei, &old) == 0)
            memcpy(d.fault, old.fault, sizeof d.fault);
    }
    w->fault_saved = state == DB_DEVICE_FAULT;
    rc = db_group_begin(w->app->db);
    if (rc == 0)
        rc = db_device_upsert(w->app->db, &d);
    if (rc < 0)
        GW_LOG(GW_LOG_WARN, w->name, "device row not saved: %s",
               gw_strerror(rc));
}

/* FAULT while the registration has failed for good ("failed:
 * registration"), else whether a job runs. */
enum db_device_state wk_device_state(const struct worker *w)
{
    struct sota_snapshot sn;

    if (w->fsm_ready) {
        sota_fsm_snapshot(&w->fsm, &sn);
        if (sn.reg == SOTA_REG_FAILED)
            return DB_DEVICE_FAULT;
    }
    return w->has_job ? DB_DEVICE_UPGRADING : DB_DEVICE_IDLE;
}

/* ---- readings: signal and network registration, read again ------------ */

static void on_readings_cmd(void *ctx, int rc, const struct at_reply *r)
{
    struct wk_cmd *c = ctx;
    struct worker *w = c->w;
    int rssi, ber, stat;

    if (rc != 0 || w->stage != WK_RUNNING)
        return; /* kept as they were, with their old time */
    for (size_t i = 0; i < r->ninfo; i++) {
        const char *l = r->info[i];
        size_t n = strlen(l);

        if (m531x_parse_csq(l, n, &rssi, &ber) == 0) {
            w->rssi = rssi;
            w->readings_ms = gw_wall_ms();
        } else if (m531x_parse_cereg(l, n, 1, &stat) == 0) {
            w->reg_status = stat;
            w->readings_ms = gw_wall_ms();
        }
    }
}

static void on_readings_timer(struct wk_timer *t)
{
    struct worker *w = t->w;

    if (w->stage != WK_RUNNING || w->settling)
        return;
    at_chan_send(w->ch, m531x_simple_cmd_text(M531X_CMD_CSQ), CMD_TIMEOUT_MS,
                 on_readings_cmd, wk_cmd_ctx(w, CMDK_READINGS));
    at_chan_send(w->ch, m531x_simple_cmd_text(M531X_CMD_CEREG), CMD_TIMEOUT_MS,
                 on_readings_cmd, wk_cmd_ctx(w, CMDK_READINGS));
}

/* ---- bring-up ---------------------------------------------------------- */

static void on_bu_cmd(void *ctx, int rc, const struct at_reply *r);

static void bu_send(struct worker *w)
{
    const char *text = bu_table[w->step].text != NULL
                           ? bu_table[w->step].text
                           : m531x_simple_cmd_text(bu_table[w->step].cmd);
    int rc = at_chan_send(w->ch, text, bu_table[w->step].timeout_ms, on_bu_cmd,
                          wk_cmd_ctx(w, CMDK_BRINGUP));

    if (rc < 0)
        wk_exit(w, WORKER_EXIT_FAILED, "bring-up command refused");
}

static void on_retry(struct wk_timer *t)
{
    struct worker *w = t->w;

    if (w->stage == WK_BRINGUP)
        bu_send(w);
}

static void retry_later(struct worker *w, int64_t ms)
{
    wk_timer_start(&w->retry_timer, on_retry, ms, 0);
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
    rc = wk_resume_job(w, &cp);
    if (rc < 0) {
        wk_exit(w, WORKER_EXIT_FAILED, "job could not be loaded");
        return;
    }
    rc = sota_fsm_init(&w->fsm, &w->scfg, &cp, wk_now_ms(w));
    if (rc < 0) {
        wk_exit(w, WORKER_EXIT_FAILED, "state machine refused config");
        return;
    }
    w->last_cp = cp;
    w->fsm_ready = 1;
    w->stage = WK_RUNNING;
    wk_device_save(w, wk_device_state(w));
    GW_LOG(GW_LOG_INFO, w->name, "bring-up done -> running (%s)",
           sota_phase_name(cp.phase));
    if (!wk_fsm_start(w) && !w->has_target) {
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
            ev.u.device.staging_free_kib = wk_staging_room(w);
            wk_fsm_feed(w, &ev);
        }
    }
    wk_timer_start(&w->readings_timer, on_readings_timer,
                   (int64_t)w->app->cfg->modems.readings_s * 1000,
                   (int64_t)w->app->cfg->modems.readings_s * 1000);
    /* Unknown device data blocks registration (the version must be
     * reported first): retry soon, not at the next refresh. */
    wk_timer_start(&w->ident_timer, wk_on_ident_timer,
                   w->dev.known ? IDENT_PERIOD_MS : IDENT_RETRY_MS,
                   IDENT_PERIOD_MS);
}

void wk_bu_next(struct worker *w)
{
    if (w->stage != WK_BRINGUP)
        return;
    if (w->step == BU_DEVICE) {
        wk_read_ident(w);
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
                w->readings_ms = gw_wall_ms();
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

    wk_set_name(w);
    GW_LOG(GW_LOG_INFO, w->name, "modem identified on %s", w->port);
    rc = w->ops->identified(w->ops_ctx, w, w->imei);
    if (rc == -EEXIST) {
        wk_exit(w, WORKER_EXIT_DUPLICATE, "IMEI already served");
        return;
    }
    if (rc < 0) {
        wk_exit(w, WORKER_EXIT_FAILED, "refused by the supervisor");
        return;
    }
    wk_device_save(w, DB_DEVICE_IDLE);
    wk_retry_mark_load(w);
    wk_target_resolve(w);
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
            wk_exit(w, WORKER_EXIT_FAILED, "no answer to AT");
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
        wk_exit(w, WORKER_EXIT_FAILED, "bring-up failed");
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
        wk_exit(w, WORKER_EXIT_FAILED, "IMEI changed after a reboot");
        return;
    }
    if (w->step == BU_ICCID && prc == 0)
        w->step = BU_NCCID; /* skip the M5310-A form */
    w->step++;
    wk_bu_next(w);
}

/* ---- boot banners, hang-up --------------------------------------------- */

static void on_settle_cmd(void *ctx, int rc, const struct at_reply *r)
{
    struct wk_cmd *c = ctx;

    (void)r;
    if (rc != 0 && c->w->stage == WK_RUNNING)
        GW_LOG(GW_LOG_WARN, c->w->name, "after reboot: %s", gw_strerror(rc));
}

static void on_settled(struct wk_timer *t)
{
    struct worker *w = t->w;

    w->settling = 0;
    if (w->stage == WK_BRINGUP) {
        w->step = w->imei[0] != '\0' ? BU_ECHO : BU_AT;
        wk_bu_next(w);
        return;
    }
    /* echo and the sleep lock do not survive a reboot */
    at_chan_send(w->ch, m531x_simple_cmd_text(M531X_CMD_ECHO_OFF),
                 CMD_TIMEOUT_MS, on_settle_cmd, wk_cmd_ctx(w, CMDK_SETTLE));
    at_chan_send(w->ch, m531x_simple_cmd_text(M531X_CMD_SLEEP_LOCK),
                 CMD_TIMEOUT_MS, on_settle_cmd, wk_cmd_ctx(w, CMDK_SETTLE));
}

void wk_on_chan_boot(void *ctx, const char *text)
{
    struct worker *w = ctx;
    struct sota_event ev;

    wk_event_add(w, "modem.reboot", "%.60s", text);
    if (!w->settling && w->stage == WK_RUNNING) {
        w->fsm_gen++;
        ev.kind = SOTA_EV_MODEM_RESET;
        wk_fsm_feed(w, &ev);
    }
    w->settling = 1;
    wk_timer_start(&w->retry_timer, on_settled, BOOT_SETTLE_MS, 0);
}

void wk_on_chan_hangup(void *ctx, int err)
{
    struct worker *w = ctx;

    (void)err;
    wk_exit(w, WORKER_EXIT_UNPLUGGED, "port lost");
}
