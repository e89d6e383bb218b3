/* worker_device.c: the field device of a worker: its target, identity
 * reads and the flash, through the bus (dio/mb_bus.h). */
#define GW_LOG_TAG "worker"

#include "worker_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dio/mb_bus.h"
#include "db/db_devices.h"
#include "dio/mb_flash.h"
#include "gw/err.h"
#include "image_check.h"
#include "staging.h"

#include "gw/log.h"

/* ---- the field device -------------------------------------------------- */

int64_t wk_staging_room(struct worker *w)
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
    out->staging_free_kib = wk_staging_room(w);
}

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
                   mb_bus_dev_name(w->dev_h), w->dev.version);
        w->target_reachable = 1;
    } else {
        if (w->target_reachable || w->stage == WK_BRINGUP)
            GW_LOG(GW_LOG_WARN, w->name, "field device %s: %s",
                   mb_bus_dev_name(w->dev_h), gw_strerror(rc));
        w->target_reachable = 0;
        w->dev.known = 0;
    }
    wk_device_save(w, wk_device_state(w));
    if (w->stage == WK_BRINGUP) {
        w->step = BU_DONE;
        wk_bu_next(w);
        return;
    }
    if (!w->dev.known && wk_timer_armed(&w->ident_timer))
        wk_timer_start(&w->ident_timer, wk_on_ident_timer, IDENT_RETRY_MS,
                       IDENT_PERIOD_MS); /* busy or silent: retry soon */
    if (w->dev.known) {
        ev.kind = SOTA_EV_DEVICE;
        ev.u.device = w->dev;
        wk_fsm_feed(w, &ev);
    }
}

void wk_read_ident(struct worker *w)
{
    int rc;

    if (!w->has_target || w->ident_running || w->flash_running) {
        if (w->stage == WK_BRINGUP) {
            w->step = BU_DONE;
            wk_bu_next(w);
        }
        return;
    }
    rc = mb_bus_read_ident(w->dev_h, on_ident, w);
    if (rc < 0) {
        on_ident(w, rc, NULL);
        return;
    }
    w->ident_running = 1;
}

void wk_on_ident_timer(struct wk_timer *t)
{
    struct worker *w = t->w;

    if (w->stage != WK_RUNNING)
        return;
    wk_stall_check(w);
    if (w->stage == WK_RUNNING)
        wk_read_ident(w);
}

/* Find the target: the device row's override, else the config. */
void wk_target_resolve(struct worker *w)
{
    struct db_device d;
    char why[128];
    const struct gw_config_target *t;
    int rc;

    w->has_target = 0;
    if (db_device_get(w->app->db, w->imei, &d) == 0 &&
        d.target_uri[0] != '\0') {
        rc = mb_uri_parse(d.target_uri, &w->target, why, sizeof why);
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
    rc = mb_bus_dev_get(w->app->buses, &w->target, &w->dev_h);
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
        ev.u.flashed.dev.staging_free_kib = wk_staging_room(w);
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
    wk_event_add(w, "flash.end", "result %d: %s", (int)f->result, f->reason);
    wk_fsm_feed(w, &ev);
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
    wk_device_save(w, wk_device_state(w));
    flash_finish(w);
}

static void on_flash_progress(void *ctx, uint32_t acked,
                              enum mb_flash_phase phase)
{
    struct worker *w = ctx;

    (void)phase;
    w->flash_acked = acked;
    w->progress_at = wk_now_ms(w);
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
           mb_bus_dev_name(w->dev_h), (int)f->result, f->reason);
    /* re-read the device so the platform's next reads see the new data */
    if (mb_bus_read_ident(w->dev_h, on_flash_ident, w) == 0)
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
    wk_event_add(w, "flash.refused", "%s", why);
    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_FLASHED;
    ev.u.flashed.result = result;
    ev.u.flashed.dev = w->dev;
    wk_post(w, &ev);
}

void wk_do_flash(struct worker *w, uint32_t size)
{
    struct mb_bus_flash_req req;
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
        mb_bus_cancel(w->dev_h, w);
        w->ident_running = 0;
    }
    rc = mb_bus_flash(w->dev_h, &req, on_flash_progress, on_flash_done, w);
    if (rc < 0) {
        flash_fail_now(w, SOTA_RESULT_UPDATE_FAILED, "flash not started");
        return;
    }
    w->flash_running = 1;
    w->flash_acked = 0;
    wk_event_add(w, "flash.start", "%" PRIu32 " bytes to %s", size,
                 mb_bus_dev_name(w->dev_h));
    GW_LOG(GW_LOG_INFO, w->name, "flashing %" PRIu32 " bytes to %s", size,
           mb_bus_dev_name(w->dev_h));
}

/* ---- operator actions on the device ----------------------------------- */

/* Stop a running flash between two Modbus requests (dio/mb_bus.h: never leaves
 * a device half-applied); the machine is told by the PAUSE or CANCEL that
 * follows. */
void wk_stop_flash(struct worker *w, const char *why)
{
    if (!w->flash_running || w->dev_h == NULL)
        return;
    mb_bus_cancel(w->dev_h, w);
    w->flash_running = 0;
    w->ident_running = 0;
    wk_event_add(w, "flash.stop", "stopped between two requests: %s", why);
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
        mb_bus_cancel(w->dev_h, w);
        w->ident_running = 0;
        mb_bus_dev_put(w->dev_h);
        w->dev_h = NULL;
    }
    wk_target_resolve(w);
    wk_event_add(w, "target.changed", "target now %s",
                 w->has_target && w->dev_h ? mb_bus_dev_name(w->dev_h)
                                           : "none");
}
