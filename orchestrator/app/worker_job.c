/* worker_job.c: the job row and the staged image of a worker:
 * STORE_CHUNK, CHECK_IMAGE, PERSIST, JOB_END, and resuming a stored job. */
#define GW_LOG_TAG "worker"

#include "worker_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db_jobs.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "image_check.h"
#include "orch/sota_resume.h"
#include "staging.h"

#include "gw/log.h"

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
    w->progress_at = wk_now_ms(w);
    wk_event_add(w, "job.created", "job %" PRId64 ", staging %s", w->job.id,
                 w->job.staging_file);
    wk_device_save(w, DB_DEVICE_UPGRADING);
    GW_LOG(GW_LOG_INFO, w->name, "job %" PRId64 " created", w->job.id);
    return 0;

fail:
    GW_LOG(GW_LOG_ERR, w->name, "cannot start a job: %s", gw_strerror(rc));
    return rc;
}

void wk_job_close(struct worker *w, enum sota_result result, const char *reason)
{
    char path[GW_CONFIG_PATH_MAX + 16 + STAGING_NAME_MAX];
    enum db_job_phase old = w->job.phase;

    if (!w->has_job)
        return;
    if (result != SOTA_RESULT_SUCCESS &&
        (size_t)result < GW_ARRAY_LEN(w->app->stats.failures_by_result))
        w->app->stats.failures_by_result[result]++;
    w->job.phase = result == SOTA_RESULT_SUCCESS ? DB_JOB_DONE : DB_JOB_FAILED;
    w->job.oma_result = (int)result;
    w->job.ended_ms = gw_wall_ms();
    snprintf(w->job.reason, sizeof w->job.reason, "%s", reason);
    job_write(w);
    wk_event_add(w, result == SOTA_RESULT_SUCCESS ? "job.done" : "job.failed",
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
    wk_device_save(w, DB_DEVICE_IDLE);
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
    wk_fsm_feed(w, &ev);
}

void wk_do_store(struct worker *w, const struct sota_action *a)
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
        wk_post(w, &ev);
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
    w->progress_at = wk_now_ms(w);
    w->store_msgid = a->u.store.msgid;
    w->store_len = a->u.store.len;
    w->store_pending = 1;
    app_commit_after(w->app, &w->store_w, on_store_commit);
}

void wk_do_check(struct worker *w, uint32_t size)
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
    wk_post(w, &ev);
}

/* PERSIST: the job row. Only a running download's counters: no barrier. */
void wk_do_persist(struct worker *w, const struct sota_checkpoint *cp)
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
    w->progress_at = wk_now_ms(w);
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

/* ---- resume ------------------------------------------------------------ */

static enum sota_job_phase stored_phase_of(enum db_job_phase p)
{
    switch (p) {
    case DB_JOB_DOWNLOAD: return SOTA_JOB_DOWNLOAD;
    case DB_JOB_CHECK: return SOTA_JOB_CHECK;
    case DB_JOB_FLASH: return SOTA_JOB_FLASH;
    case DB_JOB_CONFIRM: return SOTA_JOB_CONFIRM;
    case DB_JOB_DONE: return SOTA_JOB_DONE;
    case DB_JOB_FAILED: break;
    }
    return SOTA_JOB_FAILED;
}

/* Load the active job of this IMEI, verify its staged bytes, and build the
 * checkpoint from both (orch/sota_resume.h decides). */
int wk_resume_job(struct worker *w, struct sota_checkpoint *cp)
{
    struct sota_stored_job sj;
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
    w->progress_at = wk_now_ms(w);
    staging_name(w, w->job.id, name, sizeof name);
    rc = staging_open(&w->stg, w->app, w->job.id, name,
                      w->app->cfg->policy.min_staging_free_kib);
    if (rc == 0)
        rc = staging_recover(w->stg, &rec);
    if (rc < 0) {
        wk_job_close(w, SOTA_RESULT_UPDATE_FAILED, "staging unusable");
        return 0;
    }
    sj.phase = stored_phase_of(w->job.phase);
    sj.oma_result = w->job.oma_result;
    sj.image_size = w->job.image_size;
    sj.version =
        strcmp(w->job.version, VERSION_UNKNOWN) != 0 ? w->job.version : NULL;
    sj.staged_bytes = rec.bytes;
    sj.staged_last_msgid = rec.last_msgid;
    rc = sota_checkpoint_from_job(&sj, w->scfg.image_max, cp);
    if (rc < 0) {
        GW_LOG(GW_LOG_ERR, w->name,
               "job %" PRId64 " cannot be resumed: checkpoint inconsistent",
               w->job.id);
        wk_job_close(w, SOTA_RESULT_UPDATE_FAILED, "checkpoint inconsistent");
        return 0;
    }
    GW_LOG(GW_LOG_INFO, w->name,
           "resuming job %" PRId64 ": %s, %" PRIu32 " bytes verified "
           "(%" PRIu32 " chunk records dropped)",
           w->job.id, sota_phase_name(cp->phase), rec.bytes, rec.dropped);
    wk_event_add(w, "job.resumed",
                 "%s, %" PRIu32 " bytes, %" PRIu32 " records dropped%s",
                 sota_phase_name(cp->phase), rec.bytes, rec.dropped,
                 rec.file_missing ? ", file was missing" : "");
    return 0;
}
