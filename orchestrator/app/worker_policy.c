/* worker_policy.c: the download policies and budgets of a worker, and
 * the operator's actions (worker_action). */
#define GW_LOG_TAG "worker"

#include "worker_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db_devices.h"
#include "db/db_events.h"
#include "db/db_jobs.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "orch/oma.h"

#include "gw/log.h"

/* Policy job_stall_timeout: a job without progress for that long ends
 * failed (a flash waiting for its bus or running is progress enough), and
 * the machine starts again idle, so 5/0/-1 never reports bytes of a job
 * that no longer exists. */
void wk_stall_check(struct worker *w)
{
    unsigned limit_s = w->app->cfg->policy.job_stall_timeout_s;
    struct sota_snapshot sn;
    char why[DB_REASON_MAX + 1];

    if (!w->has_job || limit_s == 0 || w->flash_running || w->store_pending ||
        wk_now_ms(w) - w->progress_at < (int64_t)limit_s * 1000)
        return;
    sota_fsm_snapshot(&w->fsm, &sn);
    snprintf(why, sizeof why, "stalled: no progress for %u s while %s", limit_s,
             sota_phase_name(sn.phase));
    GW_LOG(GW_LOG_WARN, w->name, "job %" PRId64 " %s", w->job.id, why);
    wk_job_close(
        w, sn.phase == SOTA_PHASE_DONE ? sn.result : SOTA_RESULT_UPDATE_FAILED,
        why);
    wk_fsm_restart_idle(w);
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
void wk_feed_load(struct worker *w, const struct m531x_urc *u)
{
    struct sota_event ev = {.kind = SOTA_EV_LOAD};

    if (u->kind != M531X_URC_EXECUTE || u->obj != OMA_OBJ_FIRMWARE ||
        u->ins != OMA_INSTANCE || u->res != OMA_RES_FW_PREPARE)
        return;
    if (failures_since_success(w, &ev.u.load.failed_attempts) < 0)
        GW_LOG(GW_LOG_WARN, w->name, "cannot count failed attempts");
    if (w->loc.hub[0] != '\0' && hub_busy(w, &ev.u.load.hub_downloads) < 0)
        GW_LOG(GW_LOG_WARN, w->name, "cannot count the hub's upgrades");
    wk_fsm_feed(w, &ev);
}

/* The last operator retry of this device (event "worker.retry"), so a
 * restarted daemon keeps not counting the failures before it. */
void wk_retry_mark_load(struct worker *w)
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
        wk_stop_flash(w, "paused by the operator");
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
            snprintf(why, cap,
                     "the field device is already flashed; the "
                     "job ends at the platform's final write");
            return GW_E_STATE;
        }
        wk_stop_flash(w, "cancelled by the operator");
        ev.kind = SOTA_EV_CANCEL;
        break;
    case WORKER_RETRY:
        w->retry_after_ms = gw_wall_ms();
        wk_event_add(w, "worker.retry",
                     "failed attempts before now no longer count (%s)", actor);
        return 0;
    }
    GW_LOG(GW_LOG_INFO, w->name, "operator %s: %s",
           sota_event_kind_name(ev.kind), actor);
    wk_fsm_feed(w, &ev);
    return 0;
}
