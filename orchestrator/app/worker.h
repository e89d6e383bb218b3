/* worker.h: the SOTA worker of one modem, on the loop thread.
 *
 * A worker owns the modem's port (exclusively, dio/serial.h) and AT channel,
 * its SOTA state machine (orch/sota_fsm.h), its staging file and its job
 * rows. It executes the machine's actions:
 *   SEND          through the AT channel (one command in flight);
 *   STORE_CHUNK   pwrite into the staging file + a chunk record (offset,
 *                 length, CRC-32, msgid) in the open group transaction;
 *                 STORED is reported after the group commit (app.h);
 *   RESET_STAGING truncate the staging file, drop its chunk records;
 *   CHECK_IMAGE   MD5 and SHA-256 of the staged image (OpenSSL EVP); when
 *                 packages are registered, an image matching none (size and
 *                 MD5) is refused with result 5 (integrity);
 *   FLASH         mb_bus_flash() of the staged image to the modem's target;
 *   PERSIST       the job row, in the group transaction; any action that
 *                 tells the outside world something (SEND, FLASH, JOB_END)
 *                 after a PERSIST waits for the group commit;
 *   timers        deadlines on the worker's clock (worker_ops.now_ms), each
 *                 woken by a uv_timer; NOTE: the events table; JOB_END:
 *                 the job.
 *
 * Bring-up, before the machine starts: AT (until the module answers), ATE0,
 * AT+CGSN=1 (the IMEI, which keys the device's row and its progress),
 * AT+CIMI, AT+ICCID (AT+NCCID on M5310-A), AT+CSQ, AT+CEREG?, AT+CGATT?
 * (retried until attached), AT+SM=LOCK (kept for as long as sotagw serves
 * the modem: a sleeping module misses platform requests,
 * docs/M531X-REFERENCE.md 4.1); then the field device's identity block
 * (version, battery, free space) through the bus, then SOTA_EV_START. Device
 * data is re-read periodically and after a flash, and handed to the machine as
 * SOTA_EV_DEVICE, so the platform's reads are answered from the cache at once.
 *
 * A boot banner or a lost port ends or restarts the conversation; the job's
 * durable state stays in the database and the next worker for the same IMEI
 * resumes from it: it verifies the staged prefix against the recorded chunk
 * CRCs, cuts it at the last good chunk, and builds the machine from that. */
#ifndef SOTAGW_WORKER_H
#define SOTAGW_WORKER_H

#include <stdint.h>

#include "app.h"
#include "orch/sota_fsm.h"

struct worker;

/* Where a modem sits on the USB tree ("" / 0 when unknown, e.g. a pty). */
struct usb_location {
    char hub[64]; /* e.g. "1-1.2" (sysfs name of the hub's port chain) */
    int port;     /* port on that hub, 1-based */
};

/* How a worker ended. */
enum worker_exit {
    WORKER_EXIT_STOPPED,   /* worker_stop(): clean */
    WORKER_EXIT_UNPLUGGED, /* the port went away (EIO, hang-up) */
    WORKER_EXIT_DUPLICATE, /* the IMEI is already served on another port */
    WORKER_EXIT_FAILED     /* bring-up failed or a fatal error: see log */
};

struct worker_ops {
    /* The modem answered AT+CGSN=1. Return 0 to go on, or -EEXIST when
     * that IMEI is already served (the worker then ends DUPLICATE). */
    int (*identified)(void *ctx, struct worker *w, const char *imei);
    /* The worker has closed its port and released everything; the
     * supervisor frees it with worker_free() (not from inside this
     * callback's caller chain: defer with the loop). */
    void (*exited)(void *ctx, struct worker *w, enum worker_exit why,
                   const char *detail);
    /* The worker's monotonic clock in ms (the `now` of its state machine,
     * its timers, stall and answer times); NULL: the loop's (uv_now). A
     * test passes a clock it moves by hand and calls worker_clock_moved():
     * the worker's waits then take no real time. The AT channel's own
     * command timeouts stay on the loop's clock. */
    int64_t (*now_ms)(void *ctx);
};

/* Open port_path and start bring-up. GW_E_* / -errno when the port cannot
 * be opened (e.g. -EBUSY: another process holds it). */
int worker_start(struct worker **out, struct app *app, const char *port_path,
                 const struct usb_location *loc, const struct worker_ops *ops,
                 void *ops_ctx);

/* Stop cleanly: no new chunk is accepted, the chunk being stored is
 * committed, the checkpoint is written, the port is closed. exited() follows
 * (possibly later in the loop). */
void worker_stop(struct worker *w);

/* The clock of worker_ops.now_ms moved on: timers now due fire at the next
 * loop turn. */
void worker_clock_moved(struct worker *w);

/* Free a worker that has exited. NULL-safe. */
void worker_free(struct worker *w);

/* Operator actions from the web API (docs/API.md says what each does).
 * PAUSE and CANCEL stop a running flash between two Modbus requests
 * first; the SOTA machine decides the rest (orch/sota_fsm.h). RETRY stops
 * counting the failed attempts before now against the retry budget (kept
 * across restarts as the event "worker.retry"). Returns 0, or GW_E_STATE
 * with the reason in why when the action does not apply now. */
enum worker_action { WORKER_PAUSE, WORKER_RESUME, WORKER_CANCEL, WORKER_RETRY };
int worker_action(struct worker *w, enum worker_action a, const char *actor,
                  char *why, size_t cap);

/* The device's target URI was changed (API override): resolve it again.
 * A flash already running keeps its target. */
void worker_target_changed(struct worker *w);

/* A snapshot of one worker for the web API's live data (web_backend.c, on
 * the loop thread). `sotagw status` reads the database instead. */
struct worker_info {
    char port[GW_CONFIG_PATH_MAX];
    struct usb_location loc;
    char imei[16];       /* "" before identification */
    int rssi;            /* +CSQ, 99 unknown */
    int reg_status;      /* +CEREG stat, -1 unknown */
    int64_t readings_ms; /* wall time of those readings, 0 never */
    struct sota_snapshot sota;
    int64_t job_id;       /* 0 when none */
    char target[96];      /* mb_bus_dev_name() or "" (no target) */
    int target_reachable; /* last identity read succeeded */
    uint32_t flash_acked; /* during FLASHING */
    int paused;           /* operator PAUSE in force */
};
void worker_info(const struct worker *w, struct worker_info *out);

#endif
