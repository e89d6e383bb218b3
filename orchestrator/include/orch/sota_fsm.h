/* orch/sota_fsm.h: the SOTA state machine of one modem (the "MCU" side of
 * a OneNET SOTA upgrade, docs/M531X-REFERENCE.md sections 3 and 5, seed steps
 * 8 to 16).
 *
 * Pure: sota_fsm_step() takes an event and the current monotonic time in
 * milliseconds and returns the decisions as a bounded list of actions. It
 * never reads a clock, does I/O or allocates. The shell executes the actions
 * and turns what it sees (AT finals, URCs, storage and Modbus results,
 * timers) into further events.
 *
 * Contract for the shell
 *   - Actions are executed in order, all of them, before the next call to
 *     sota_fsm_step(). Pointers in actions (SEND text, STORE_CHUNK data)
 *     are valid only until the shell returns from executing that list.
 *   - SEND: write the text plus CR to the modem and set the framer's
 *     pending command. At most one command is in flight: the FSM emits the
 *     next SEND only after a CMD_DONE for the previous one (SPEC24). Every
 *     SEND comes with an ARM_TIMER(SOTA_TIMER_CMD); when it fires the FSM
 *     treats the command as timed out, and a final arriving later is a
 *     stray the shell must not report (it clears the framer's pending).
 *   - STORE_CHUNK(offset, data, len, msgid): append the bytes to the staged
 *     image at offset, durably (fsync), then report STORED with the msgid.
 *     On failure the staged image must be left at offset bytes.
 *   - RESET_STAGING: erase the staged image, synchronously, before the next
 *     action runs. A STORE_CHUNK still running is abandoned: the FSM
 *     ignores its STORED, and the shell must not let its bytes land after
 *     the reset.
 *   - CHECK_IMAGE(size): check the staged image (size, digest) and report
 *     CHECKED with SOTA_RESULT_SUCCESS or the OMA failure code.
 *   - FLASH(size): flash the staged image into the field device; resume
 *     from the device's received count when possible. Report FLASHED.
 *   - PERSIST(checkpoint): store the checkpoint durably before executing the
 *     next action (write-ahead: it precedes every answer that tells the
 *     platform something was stored, and every irreversible step).
 *   - ARM_TIMER(id, at): (re)arm timer id for monotonic time at; replaces
 *     an earlier deadline of the same id. CANCEL_TIMER(id) disarms it. A
 *     TIMER event for a timer the FSM no longer has armed is ignored, so a
 *     late or duplicate TIMER is harmless.
 *   - NOTE(kind, text): an audit-trail record (state changes, restarts,
 *     resumes, bad or duplicate chunks, results, refused requests).
 *   - JOB_END(result): the upgrade attempt ended with this OMA result.
 *
 * Chunk data: the shell decodes the hex payload of a +MIPLWRITE into a
 * buffer it owns (m531x_write_data) and passes the bytes in the URC event
 * (data, data_len) next to the decoded URC. A +MIPLWRITE line that fails
 * to decode, or whose payload fails to decode, is passed as BAD_URC.
 *
 * Registration: CREATE, SOTAVER (it must precede OPEN, reference 3; when no
 * version is known yet it waits for a DEVICE event), OPEN, then
 * +MIPLEVENT 6 within register_timeout_ms. +CIS ERROR:602 on CREATE means
 * the instance survived a gateway restart (reference 3.4): the FSM deletes
 * it and creates it again, at most create_retries times. Losing the
 * instance drops the queued answers; a chunk stored afterwards is
 * persisted but not acknowledged to the new instance. A checkpoint in
 * FLASHING emits FLASH again once registered (the shell's flash resumes
 * from the device's received count); a checkpoint in CHECKING emits
 * CHECK_IMAGE at START.
 *
 * URCs are asynchronous: a module may print one before, between or after
 * the finals of the commands around it, late, or twice. Each +MIPLEVENT
 * is judged by what it can mean in the registration state it arrives in
 * (docs/PROTOCOL.md has the table), never by its position:
 *   - 15 (unregistered) cannot belong to a registration that has not yet
 *     seen its 6, nor, within late_event_ms of our own DELETE, to the new
 *     one: ignored. Otherwise, when registered, AT+MIPLUPDATE checks it.
 *   - 3, 5, 7, 8, 10 (failures) end the attempt only between OPEN and its
 *     6; before OPEN they are a deleted instance's; once registered they
 *     are checked with AT+MIPLUPDATE.
 *   - 6 registers from OPENING or WAIT_EVENT, and during a backoff while
 *     the instance we opened is still there (a late 6 is a registration).
 *   - 9 (lifetime), 31 (deleted by the platform), and 12/13 after our
 *     AT+MIPLUPDATE, lose a registration; 11 proves it.
 *
 * Every failed attempt counts (reg_failures, reset when the registration
 * proves itself by a platform request or +MIPLEVENT 11). The escalation is
 * bounded: reg_retries attempts after an exponential backoff (retry_min_ms
 * doubling up to retry_max_ms); then DELETE and CREATE again; then the
 * module reboot (reboot_cmd, its banner within reboot_timeout_ms); then
 * SOTA_REG_FAILED with a SOTA_NOTE_REG_FAILED note giving the reason, and
 * after reg_fail_backoff_ms the top again.
 *
 * Keep-alive: AT+MIPLUPDATE=<ref>,0,0 at keepalive_pct of the lifetime
 * after registering or the last update, and at +MIPLEVENT 14 where a
 * module prints it; not while flashing or after flashing before the final
 * write (phases FLASHING and DONE): there AT+MIPLUPDATE=<ref>,0,0 is the
 * completion signal of step 14, so the same text must not go out early or
 * twice. A keep-alive due then goes out when the job leaves DONE. If the
 * registration lapses meanwhile, the FSM registers again, and the
 * platform starts a new attempt that reads 3/0/19.
 *
 * Readings (3/0/9, 3/0/19, 3/0/26261) come from the last DEVICE event, or
 * the device data FLASHED carries. The version falls back to the
 * checkpoint's new_version after a successful flash (a restart before the
 * device answers). When the data is unknown, the read is answered with
 * cfg.unknown_read_result (default 13, not found) rather than a guess.
 * 3/0/26261 reports min(device free, gateway staging capacity) in KiB; a
 * chunk that would take the image beyond it (or beyond image_max) is
 * refused, the staging dropped and result 2 (no space) recorded.
 * 5/0/-1 reports the OMA state, the result and the durable byte count,
 * never bytes whose STORED has not arrived.
 *
 * Return codes: sota_fsm_step() returns 0 when the event was consumed, even
 * when the input was refused (refusals are NOTE actions and are logged).
 * It returns GW_E_INVAL for a malformed event (NULL pointers, unknown
 * kind) and GW_E_FULL when the action list overflowed (a programmer error,
 * also asserted); the FSM state is then still consistent, but actions are
 * missing.
 */
#ifndef ORCH_SOTA_FSM_H
#define ORCH_SOTA_FSM_H

#include <stddef.h>
#include <stdint.h>

#include "dio/m531x.h"

#define SOTA_ACTIONS_MAX  24  /* actions one step may emit */
#define SOTA_QUEUE_MAX    8   /* commands waiting behind the one in flight */
#define SOTA_CMD_TEXT_MAX 160 /* longest command the FSM builds + NUL */
#define SOTA_NOTE_MAX     112 /* note text + NUL */
#define SOTA_NAME_MAX     48  /* modem id used in logs + NUL */
#define SOTA_RECENT_MAX   16  /* stored chunk msgids kept to spot resends */

/* Upgrade phase. The OMA state (5/0/3) of each is in brackets. */
enum sota_phase {
    SOTA_PHASE_IDLE,        /* [0] no image staged */
    SOTA_PHASE_DOWNLOADING, /* [1] chunks arriving; bytes are durable */
    SOTA_PHASE_CHECKING,    /* [2] all bytes stored, image being checked */
    SOTA_PHASE_DOWNLOADED,  /* [2] image checked, waiting for execute 5/0/2 */
    SOTA_PHASE_FLASHING,    /* [3] field device being flashed */
    SOTA_PHASE_DONE         /* [0] flashed (result says how), waiting for the
                               platform's final empty write */
};
#define SOTA_PHASE_COUNT 6

/* OMA 5/0/5 Update Result (object 5 v1.1). */
enum sota_result {
    SOTA_RESULT_INITIAL = 0,
    SOTA_RESULT_SUCCESS = 1,
    SOTA_RESULT_NO_SPACE = 2,
    SOTA_RESULT_OUT_OF_RAM = 3,
    SOTA_RESULT_CONN_LOST = 4,
    SOTA_RESULT_INTEGRITY = 5,
    SOTA_RESULT_UNSUPPORTED_TYPE = 6,
    SOTA_RESULT_INVALID_URI = 7,
    SOTA_RESULT_UPDATE_FAILED = 8,
    SOTA_RESULT_UNSUPPORTED_PROTOCOL = 9,
    SOTA_RESULT_CANCELLED = 10,
    SOTA_RESULT_DEFERRED = 11
};
#define SOTA_RESULT_MAX 11

/* Registration of the MIPL instance. */
enum sota_reg {
    SOTA_REG_STOPPED,     /* START not seen yet */
    SOTA_REG_CREATING,    /* AT+MIPLCREATE queued or in flight */
    SOTA_REG_DELETING,    /* deleting an old instance (602, escalation) */
    SOTA_REG_WAIT_DEVICE, /* created; no version to report yet */
    SOTA_REG_VERSION,     /* AT+MIPLSOTAVER */
    SOTA_REG_OPENING,     /* AT+MIPLOPEN */
    SOTA_REG_WAIT_EVENT,  /* OPEN said OK; waiting for +MIPLEVENT 6 */
    SOTA_REG_REGISTERED,
    SOTA_REG_BACKOFF,   /* waiting to register again */
    SOTA_REG_REBOOTING, /* escalation: module reboot sent, waiting for its
                           boot banner (MODEM_RESET) */
    SOTA_REG_FAILED     /* escalation exhausted: "failed: registration",
                           the top is tried again after reg_fail_backoff */
};
#define SOTA_REG_COUNT 11

enum sota_timer {
    SOTA_TIMER_CMD,       /* the command in flight */
    SOTA_TIMER_REGISTER,  /* +MIPLEVENT 6 after OPEN */
    SOTA_TIMER_BACKOFF,   /* next registration attempt (also after FAILED) */
    SOTA_TIMER_KEEPALIVE, /* AT+MIPLUPDATE before the lifetime runs out */
    SOTA_TIMER_REBOOT     /* the boot banner after the reboot command */
};
#define SOTA_TIMER_COUNT 5

/* Durable state: what PERSIST stores and sota_fsm_init() starts from. */
struct sota_checkpoint {
    enum sota_phase phase;
    enum sota_result result; /* reported as 5/0/5 */
    uint32_t bytes;          /* staged bytes known durable (5/0/26500) */
    int32_t last_msgid;      /* msgid of the last stored chunk, -1 none */
    uint32_t image_size;     /* bytes of the whole image once the last
                                chunk is stored (CHECKING and later), 0
                                before */
    char new_version[M531X_VERSION_MAX + 1]; /* after a successful flash,
                                                "" otherwise */
};

/* Cached live data of the field device, refreshed by the shell. */
struct sota_device_info {
    int known; /* 0: the device has not answered yet */
    char version[M531X_VERSION_MAX + 1];
    int battery_pct;          /* 0..100, -1 unknown */
    int64_t free_kib;         /* room for a whole new image, -1 unknown */
    int64_t staging_free_kib; /* what the gateway can stage for this modem
                                 in total (not shrinking as this image is
                                 stored), -1 unknown (no limit) */
};

struct sota_config {
    char name[SOTA_NAME_MAX]; /* modem id for logs */
    struct m531x_dialect dialect;
    int ref;                     /* MIPL instance, 0 */
    int lifetime_s;              /* AT+MIPLOPEN lifetime, 600 */
    int open_timeout_s;          /* AT+MIPLOPEN timeout, 60 */
    int64_t cmd_timeout_ms;      /* one AT command, 10000 */
    int64_t register_timeout_ms; /* OPEN OK to +MIPLEVENT 6, 90000 */
    int64_t retry_min_ms;        /* first registration backoff, 5000 */
    int64_t retry_max_ms;        /* backoff cap, 300000 */
    int create_retries;          /* DELETE + CREATE cycles after 602, 2 */
    unsigned reg_retries;        /* failed registrations retried after a
                                    backoff before escalating, 3 */
    int keepalive_pct;           /* AT+MIPLUPDATE at this share of the
                                    lifetime after the last registration
                                    or update, 55 (10..90) */
    int64_t late_event_ms;       /* after our own AT+MIPLDELETE, a
                                    +MIPLEVENT 15 this late still belongs
                                    to the deleted instance, 60000 */
    char reboot_cmd[24];         /* escalation: module reboot, "AT+CMRB"
                                    (M5311; "AT+NRB" on M5310-A); "" skips
                                    the reboot step */
    int64_t reboot_timeout_ms;   /* reboot command to boot banner, 60000 */
    int64_t reg_fail_backoff_ms; /* FAILED until the top is tried again,
                                    1800000 */
    uint32_t chunk_max;          /* largest chunk in bytes, M531X_OPAQUE_MAX */
    uint32_t image_max;          /* largest image in bytes, 16 MiB */
    int unknown_read_result;     /* READRSP code when device data is unknown,
                                    13 */
    int lone_last_chunk;         /* [?] accept a flag-0 chunk with nothing
                                    started as a one-chunk image (SPEC24: a
                                    single message uses flag 0; the seed
                                    only shows 1, 2.., 0). 0: refuse it as
                                    out of order (default) */
    unsigned retry_budget;       /* failed attempts since the last success
                                    after which a new download is refused
                                    (erase-fail at execute 26501) until an
                                    attempt succeeds or an operator clears
                                    the count; 0: refuse after any failure.
                                    Default 5 */
    unsigned downloads_per_hub;  /* upgrades running on the modem's USB hub
                                    at which a new download is refused the
                                    same way; 0: no limit (default) */
};

/* Facts only the shell can count (database, other modems), for the
 * download policies of struct sota_config. The shell sends them before
 * every execute 5/0/26501 it feeds in; the machine decides. */
struct sota_load {
    unsigned failed_attempts; /* failed jobs since the last success */
    unsigned hub_downloads;   /* upgrades running on this modem's hub,
                                 this modem not counted */
};

/* Operator actions (the web API's pause, resume, cancel):
 *   PAUSE   chunks are neither stored nor answered (the platform resends
 *           them, as it does for a slow MCU), and a flash is not started.
 *           A flash that is running must have been stopped by the shell
 *           between two Modbus requests before PAUSE is fed (dio/mb_flash.h:
 *           never inside VERIFY/APPLY); the machine stays FLASHING.
 *   RESUME  answers resume from the durable offset; a held or stopped flash
 *           is emitted again (it resumes from the device's received count).
 *   CANCEL  ends the job with result 10 (cancelled), drops the staged image,
 *           and reports state 0 / result 10 to the platform's next reads.
 *           A running flash must have been stopped first, as for PAUSE.
 *           Ignored (with a note) when idle, and after a flash (DONE: the
 *           device already runs what it runs).
 * sota_fsm_snapshot() tells the shell whether an action applies. */

/* ---- events ------------------------------------------------------------ */

enum sota_event_kind {
    SOTA_EV_START,      /* begin: register the instance */
    SOTA_EV_CMD_DONE,   /* the final of the command in flight */
    SOTA_EV_URC,        /* a decoded +MIPL URC */
    SOTA_EV_BAD_URC,    /* a +MIPLWRITE line that failed to decode */
    SOTA_EV_STORED,     /* a STORE_CHUNK completed */
    SOTA_EV_CHECKED,    /* a CHECK_IMAGE completed */
    SOTA_EV_FLASHED,    /* a FLASH completed */
    SOTA_EV_DEVICE,     /* fresh field-device data */
    SOTA_EV_TIMER,      /* an armed timer fired */
    SOTA_EV_LOAD,       /* the gateway's counts for the download policies */
    SOTA_EV_PAUSE,      /* operator: withhold chunk answers, hold the flash */
    SOTA_EV_RESUME,     /* operator: undo PAUSE */
    SOTA_EV_CANCEL,     /* operator: end the job, result 10 (cancelled) */
    SOTA_EV_MODEM_RESET /* boot banner seen or port reopened */
};

enum sota_cmd_status {
    SOTA_CMD_OK,
    SOTA_CMD_ERROR,     /* ERROR, +CMS ERROR */
    SOTA_CMD_CIS_ERROR, /* +CIS ERROR:<code> */
    SOTA_CMD_CME_ERROR, /* +CME ERROR:<code> */
    SOTA_CMD_TIMEOUT    /* the shell gave up waiting */
};

struct sota_event {
    enum sota_event_kind kind;
    union {
        struct {
            enum sota_cmd_status status;
            int code; /* error code, -1 when none */
        } cmd;
        struct {
            const struct m531x_urc *urc;
            const uint8_t *data; /* opaque writes: decoded bytes */
            size_t data_len;
        } urc;
        struct {
            int32_t msgid;      /* -1 when it could not be read */
            const char *reason; /* static text, may be NULL */
        } bad;
        struct {
            int32_t msgid; /* of the STORE_CHUNK */
            int rc;        /* 0 or a negative error */
        } stored;
        struct {
            enum sota_result result; /* SUCCESS or the failure code */
        } checked;
        struct {
            enum sota_result result;     /* SUCCESS or the failure code */
            struct sota_device_info dev; /* re-read after the flash; known
                                            = 0 if it could not be */
        } flashed;
        struct sota_device_info device;
        struct sota_load load;
        enum sota_timer timer;
    } u;
};

/* ---- actions ----------------------------------------------------------- */

/* What a command sent by the machine is for. */
enum sota_cmd_kind {
    SOTA_CMDK_CREATE,
    SOTA_CMDK_DELETE,
    SOTA_CMDK_SOTAVER,
    SOTA_CMDK_OPEN,
    SOTA_CMDK_KEEPALIVE, /* AT+MIPLUPDATE by timer, after event 14, or
                            to check a doubtful registration */
    SOTA_CMDK_COMPLETE,  /* AT+MIPLUPDATE after the flash (step 14) */
    SOTA_CMDK_ANSWER,    /* *RSP or AT+MIPLSOTA */
    SOTA_CMDK_REBOOT     /* cfg.reboot_cmd (escalation) */
};

enum sota_action_kind {
    SOTA_ACT_SEND,
    SOTA_ACT_STORE_CHUNK,
    SOTA_ACT_RESET_STAGING,
    SOTA_ACT_CHECK_IMAGE,
    SOTA_ACT_FLASH,
    SOTA_ACT_PERSIST,
    SOTA_ACT_ARM_TIMER,
    SOTA_ACT_CANCEL_TIMER,
    SOTA_ACT_NOTE,
    SOTA_ACT_JOB_END
};

enum sota_note_kind {
    SOTA_NOTE_RESTART,    /* built from a checkpoint */
    SOTA_NOTE_RESUME,     /* a download continues from durable bytes */
    SOTA_NOTE_STATE,      /* phase change */
    SOTA_NOTE_RESULT,     /* update result recorded */
    SOTA_NOTE_REGISTER,   /* registration progress or loss */
    SOTA_NOTE_BAD_CHUNK,  /* a chunk refused with write-fail */
    SOTA_NOTE_DUPLICATE,  /* a resent request answered again or ignored */
    SOTA_NOTE_REFUSED,    /* a request answered with an error code */
    SOTA_NOTE_CMD_FAILED, /* a command got an error or timed out */
    SOTA_NOTE_IGNORED,    /* an input that does not fit the state */
    SOTA_NOTE_REG_FAILED  /* registration given up (SOTA_REG_FAILED): the
                             text is the reason */
};

struct sota_action {
    enum sota_action_kind kind;
    union {
        struct {
            const char *text; /* no CR; valid until the list is done */
            size_t len;
            enum sota_cmd_kind cmd;
            int32_t msgid; /* ANSWER: the platform request it answers
                              (AT+MIPLSOTA included), -1 otherwise */
            int completes; /* ANSWER: its OK completes the answer to
                              msgid (0 for the leading lines of a
                              multi-line READRSP) */
        } send;
        struct {
            uint32_t offset;
            const uint8_t *data; /* into the URC event's data */
            size_t len;
            int32_t msgid;
            int last; /* the image's last chunk (flag 0): the
                         shell records the image size with it,
                         so a restart before the next PERSIST
                         resumes at the check, not as a
                         download of all bytes */
        } store;
        struct {
            uint32_t size; /* CHECK_IMAGE, FLASH */
        } image;
        struct sota_checkpoint persist;
        struct {
            enum sota_timer id;
            int64_t at; /* ARM_TIMER only */
        } timer;
        struct {
            enum sota_note_kind kind;
            char text[SOTA_NOTE_MAX];
        } note;
        struct {
            enum sota_result result;
        } job_end;
    } u;
};

struct sota_actions {
    size_t n;
    struct sota_action v[SOTA_ACTIONS_MAX];
};

/* ---- the machine ------------------------------------------------------- */

struct sota_cmd {
    enum sota_cmd_kind kind;
    int32_t msgid; /* the request answered, -1 for others */
    int completes; /* see the SEND action */
    char text[SOTA_CMD_TEXT_MAX];
};

/* Caller-embedded. The members are private: use the functions below. */
struct sota_fsm {
    struct sota_config cfg;
    struct sota_checkpoint cp; /* phase, result, bytes: the durable view */
    struct sota_device_info dev;
    struct sota_load load; /* last SOTA_EV_LOAD */
    int paused;            /* operator PAUSE in force */
    enum sota_reg reg;
    unsigned reg_failures;          /* since the registration last proved itself
                                       (a platform request, +MIPLEVENT 11): the
                                       backoff and the escalation step */
    char reg_reason[SOTA_NOTE_MAX]; /* why the last registration failed */
    int create_cycles;              /* DELETE + CREATE after 602 */
    int instance_opened; /* AT+MIPLOPEN sent on the instance we created,
                            not deleted or reset since */
    int update_pending;  /* AT+MIPLUPDATE said OK, +MIPLEVENT 11/12/13
                            not seen yet */
    int keepalive_due;   /* the keep-alive fell due while it could not
                            go out (flashing): send it when it can */
    int64_t deleted_at;  /* when our last AT+MIPLDELETE ended (or START:
                            the instance that survived a restart), for
                            late event 15; INT64_MIN never */
    uint32_t epoch;      /* bumped when the instance is lost */
    int sota_mode;       /* execute 26550 seen */
    int flash_running;   /* FLASH emitted, FLASHED not seen */
    int32_t flash_msgid; /* msgid of the accepted execute 5/0/2 */
    struct {
        int active;
        int32_t msgid;
        uint32_t offset, len;
        int last;
        uint32_t epoch;
    } store;                         /* the STORE_CHUNK awaiting STORED */
    int32_t recent[SOTA_RECENT_MAX]; /* msgids of chunks stored since the
                                        staging was last reset (ring) */
    size_t recent_n, recent_next;
    int has_inflight;
    struct sota_cmd inflight;
    struct sota_cmd queue[SOTA_QUEUE_MAX];
    size_t q_head, q_len;
    int timer_armed[SOTA_TIMER_COUNT];
    int64_t timer_at[SOTA_TIMER_COUNT];
};

/* What the shell and the dashboard show. */
struct sota_snapshot {
    enum sota_phase phase;
    int oma_state; /* 5/0/3 */
    enum sota_result result;
    uint32_t bytes; /* durable */
    uint32_t image_size;
    enum sota_reg reg;
    int sota_mode;
    int store_pending;
    int flash_running;
    int paused;
    int cmd_in_flight;
    size_t cmds_queued;
    unsigned reg_failures;  /* see struct sota_fsm */
    const char *reg_reason; /* last failure, "" none; valid until the next
                               sota_fsm_step() */
};

/* Defaults of every field (see struct sota_config), the seed's dialect. */
void sota_config_default(struct sota_config *cfg);

/* A checkpoint of an idle modem that never upgraded. */
void sota_checkpoint_init(struct sota_checkpoint *cp);

/* Check a checkpoint loaded from storage: GW_E_CORRUPT when a field is out
 * of range or fields contradict each other, else 0. */
int sota_checkpoint_validate(const struct sota_checkpoint *cp,
                             uint32_t image_max);

/* Build the machine from cfg (copied) and initial (copied; NULL: idle), at
 * monotonic time now. GW_E_CONFIG for a config out of range, GW_E_CORRUPT
 * for a checkpoint sota_checkpoint_validate() refuses; fsm is then
 * unusable. No actions: START emits the restart notes and registers. */
int sota_fsm_init(struct sota_fsm *fsm, const struct sota_config *cfg,
                  const struct sota_checkpoint *initial, int64_t now);

void sota_fsm_cleanup(struct sota_fsm *fsm);

/* Feed one event at monotonic time now (ms). out is overwritten. */
int sota_fsm_step(struct sota_fsm *fsm, const struct sota_event *ev,
                  int64_t now, struct sota_actions *out);

void sota_fsm_snapshot(const struct sota_fsm *fsm, struct sota_snapshot *out);

/* The current durable view (what the last PERSIST stored). */
void sota_fsm_checkpoint(const struct sota_fsm *fsm,
                         struct sota_checkpoint *out);

/* Earliest armed timer, or INT64_MAX when none is armed. */
int64_t sota_fsm_next_deadline(const struct sota_fsm *fsm);

/* The deadline of one timer, or INT64_MAX when it is not armed. */
int64_t sota_fsm_timer_deadline(const struct sota_fsm *fsm, enum sota_timer id);

/* The OMA state (5/0/3) of a phase. */
int sota_phase_oma_state(enum sota_phase phase);

const char *sota_phase_name(enum sota_phase phase);
const char *sota_result_name(enum sota_result result);
const char *sota_reg_name(enum sota_reg reg);
const char *sota_timer_name(enum sota_timer timer);
const char *sota_event_kind_name(enum sota_event_kind kind);
const char *sota_action_kind_name(enum sota_action_kind kind);
const char *sota_note_kind_name(enum sota_note_kind kind);

#endif
