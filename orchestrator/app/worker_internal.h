/* worker_internal.h: what the worker's files share (worker.h is the one
 * door for everyone else).
 *
 *   worker.c          life cycle: start, stop, exit, handles, small helpers
 *   worker_bringup.c  bring-up and identity, the device row, boot banners
 *   worker_device.c   the field device: target, identity reads, the flash
 *   worker_policy.c   download policies and budgets, operator actions
 *   worker_job.c      the job row and the staged image, resume
 *   worker_fsm.c      the SOTA machine: events in, actions out, URCs
 *
 * Everything runs on the loop thread. */
#ifndef SOTAGW_WORKER_INTERNAL_H
#define SOTAGW_WORKER_INTERNAL_H

#include <stdint.h>

#include <uv.h>

#include "app.h"
#include "db/db_devices.h"
#include "db/db_jobs.h"
#include "dio/at_chan.h"
#include "dio/m531x.h"
#include "dio/mb_flash.h"
#include "gw/compiler.h"
#include "orch/sota_fsm.h"
#include "worker.h"

struct mb_bus_dev;
struct staging;

#define IDENT_PERIOD_MS 60000 /* device data refresh */
#define IDENT_RETRY_MS  2000  /* while the device data is unknown */
#define DEFERRED_MAX    32
#define POSTED_MAX      8
#define CMDS_MAX        (AT_CHAN_QUEUE_MAX + 1)

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

enum wk_cmd_kind { CMDK_BRINGUP, CMDK_FSM, CMDK_SETTLE, CMDK_READINGS };

struct wk_cmd {
    struct worker *w;
    enum wk_cmd_kind kind;
    uint32_t gen;
    int32_t answers; /* msgid of the request whose answer this command
                        completes, -1: none */
};

/* A platform request waiting for its answer, for the answer-time
 * histogram (app_stats). */
#define PENDING_REQ_MAX 16
struct wk_req {
    int32_t msgid;
    int64_t at; /* wk_now_ms() when its URC arrived */
};

/* An action waiting for a commit (copied: the FSM's pointers expire). */
struct wk_deferred {
    enum sota_action_kind kind; /* SEND, FLASH or JOB_END */
    uint64_t need;              /* app->commits that covers its PERSIST */
    char text[SOTA_CMD_TEXT_MAX];
    int32_t msgid; /* SEND: the request it answers, -1 none */
    int completes; /* SEND: its OK completes that answer */
    uint32_t size;
    enum sota_result result;
};

/* A timer of the worker: a deadline on the worker's clock (wk_now_ms). The
 * uv timer under it only wakes the loop; it is set again when the clock
 * moved by more than the loop saw (worker_clock_moved). */
struct wk_timer;
typedef void wk_timer_cb(struct wk_timer *t);
struct wk_timer {
    uv_timer_t h; /* h.data: the worker (for the close) */
    struct worker *w;
    wk_timer_cb *cb;
    int64_t due;    /* on the worker's clock */
    int64_t period; /* 0: once */
    int armed;
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

    struct wk_timer retry_timer;    /* bring-up retries, boot settling */
    struct wk_timer ident_timer;    /* periodic device read */
    struct wk_timer readings_timer; /* periodic signal and network read */
    struct wk_timer post_timer;     /* posted events */
    struct wk_timer fsm_timer[SOTA_TIMER_COUNT];

    /* bring-up */
    enum bu_step step;
    int tries;
    int settling; /* a boot banner was seen, waiting for quiet */

    /* identity */
    char imei[16], imsi[16], iccid[21];
    char imei_read[16]; /* the last AT+CGSN=1 answer */
    int rssi, reg_status;
    int64_t readings_ms; /* wall time rssi and reg_status were read, 0 */
    int fault_saved;     /* the device row says FAULT */

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
    struct mb_uri target;
    int has_target;
    struct mb_bus_dev *dev_h;
    int target_reachable;
    int ident_running; /* mb_bus_read_ident outstanding */
    int flash_running;
    uint32_t flash_acked;
    int64_t retry_after_ms; /* operator retry: older failures not counted */
    struct wk_req reqs[PENDING_REQ_MAX];
    size_t nreqs;
    struct mb_flash flash_result; /* copied from the bus's done */
    int64_t progress_at;          /* wk_now_ms() of the job's last progress */
};

/* worker.c */
/* The worker's monotonic clock, ms: worker_ops.now_ms, else the loop's. */
int64_t wk_now_ms(const struct worker *w);
/* Arm t to call cb delay_ms from now (<= 0: at the next loop turn), then
 * every period_ms when that is > 0; replaces an earlier arming. */
void wk_timer_start(struct wk_timer *t, wk_timer_cb *cb, int64_t delay_ms,
                    int64_t period_ms);
void wk_timer_stop(struct wk_timer *t);
int wk_timer_armed(const struct wk_timer *t);
void wk_set_name(struct worker *w);
/* An audit event of this modem (and its job), in the group transaction. */
void wk_event_add(struct worker *w, const char *kind, const char *fmt, ...)
    GW_PRINTF(3, 4);
struct wk_cmd *wk_cmd_ctx(struct worker *w, enum wk_cmd_kind kind);
void wk_exit(struct worker *w, enum worker_exit why, const char *detail);

/* worker_bringup.c */
void wk_device_save(struct worker *w, enum db_device_state state);
enum db_device_state wk_device_state(const struct worker *w);
void wk_bu_next(struct worker *w);
void wk_on_chan_boot(void *ctx, const char *text);
void wk_on_chan_hangup(void *ctx, int err);

/* worker_device.c */
int64_t wk_staging_room(struct worker *w);
void wk_read_ident(struct worker *w);
void wk_on_ident_timer(struct wk_timer *t);
void wk_target_resolve(struct worker *w);
void wk_do_flash(struct worker *w, uint32_t size);
void wk_stop_flash(struct worker *w, const char *why);

/* worker_policy.c */
void wk_stall_check(struct worker *w);
void wk_feed_load(struct worker *w, const struct m531x_urc *u);
void wk_retry_mark_load(struct worker *w);

/* worker_job.c */
void wk_job_close(struct worker *w, enum sota_result result,
                  const char *reason);
void wk_do_store(struct worker *w, const struct sota_action *a);
void wk_do_check(struct worker *w, uint32_t size);
void wk_do_persist(struct worker *w, const struct sota_checkpoint *cp);
int wk_resume_job(struct worker *w, struct sota_checkpoint *cp);

/* worker_fsm.c */
void wk_fsm_feed(struct worker *w, const struct sota_event *ev);
void wk_post(struct worker *w, const struct sota_event *ev);
void wk_outside(struct worker *w, const struct wk_deferred *d);
/* START, then the device data when it is known: 1 if it was, else 0. */
int wk_fsm_start(struct worker *w);
void wk_fsm_restart_idle(struct worker *w);
void wk_on_chan_line(void *ctx, const struct at_line *line);

#endif
