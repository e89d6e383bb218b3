/* mb_flash.c: SOTA-Modbus profile v1 codecs and the pure flash planner.
 *
 * The planner is a small state machine over the phases of one flash:
 *
 *   IDENT --BEGIN--> BLOCKS --VERIFY--> VERIFY(poll) --APPLY--> APPLY(poll)
 *     ^                |                                          |
 *     +-- exception 03 (resync: re-read `received`) --+           v
 *                                                                DONE
 *
 * Every reading of the identity block goes through one function,
 * plan_from_ident(), which decides from the device's own state where to
 * continue: that is what makes a restart of the gateway, of the device or
 * of the link resume instead of start over. */
#include "dio/mb_flash.h"

#include <stdio.h>
#include <string.h>

#include "gw/err.h"

/* ==== codecs ============================================================ */

static uint32_t reg32(const uint16_t *r)
{
    return ((uint32_t)r[0] << 16) | r[1];
}

int mb_ident_decode(const uint16_t regs[MB_IDENT_REGS], struct mb_ident *out)
{
    int rc = 0;
    size_t n = 0;

    memset(out, 0, sizeof *out);
    out->profile = regs[0];
    for (int i = 0; i < 16 && n < MB_VERSION_MAX; i++) {
        char c[2] = {(char)(regs[1 + i] >> 8), (char)(regs[1 + i] & 0xff)};
        int end = 0;

        for (int k = 0; k < 2; k++) {
            if (c[k] == '\0') {
                end = 1;
                break;
            }
            if (c[k] < 0x20 || c[k] > 0x7e)
                rc = rc ? rc : GW_E_INVAL;
            out->sw_version[n++] = (c[k] < 0x20 || c[k] > 0x7e) ? '?' : c[k];
        }
        if (end)
            break;
    }
    out->sw_version[n] = '\0';
    if (regs[17] == MB_BATTERY_MAINS) {
        out->mains = 1;
        out->battery = 100;
    } else {
        out->battery = regs[17];
        if (regs[17] > 100)
            rc = rc ? rc : GW_E_RANGE;
    }
    out->free_kib = regs[18];
    out->max_block = regs[19];
    out->state = (enum mb_dev_state)regs[20];
    out->error = (enum mb_dev_error)regs[21];
    out->received = reg32(&regs[22]);
    out->image_size = reg32(&regs[24]);
    out->image_crc = reg32(&regs[26]);

    if (out->profile != MB_PROFILE_ID)
        return GW_E_PROTO;
    if (out->max_block < 2 || out->max_block > MB_BLOCK_MAX ||
        out->max_block % 2 != 0 || regs[20] > MB_DEV_FAILED ||
        regs[21] > MB_DEVERR_ABORTED || out->received > out->image_size)
        rc = rc ? rc : GW_E_RANGE;
    return rc;
}

int mb_encode_begin(uint32_t size, uint32_t crc, uint16_t regs[5])
{
    regs[0] = MB_CMD_BEGIN;
    regs[1] = (uint16_t)(size >> 16);
    regs[2] = (uint16_t)(size & 0xffff);
    regs[3] = (uint16_t)(crc >> 16);
    regs[4] = (uint16_t)(crc & 0xffff);
    return 5;
}

int mb_encode_block(uint32_t offset, const uint8_t *data, size_t len,
                    uint16_t regs[MB_BLOCK_REGS_MAX])
{
    size_t nwords = (len + 1) / 2;

    if (len == 0 || len > MB_BLOCK_MAX)
        return GW_E_RANGE;
    regs[0] = (uint16_t)(offset >> 16);
    regs[1] = (uint16_t)(offset & 0xffff);
    regs[2] = (uint16_t)len;
    for (size_t i = 0; i < nwords; i++) {
        uint16_t hi = data[2 * i];
        uint16_t lo = (2 * i + 1 < len) ? data[2 * i + 1] : 0;

        regs[3 + i] = (uint16_t)((hi << 8) | lo);
    }
    return (int)(3 + nwords);
}

/* ==== planner =========================================================== */

void mb_flash_config_default(struct mb_flash_config *cfg)
{
    cfg->tries = 3;
    cfg->busy_wait_ms = 200;
    cfg->busy_max_ms = 30000;
    cfg->poll_interval_ms = 500;
    cfg->verify_timeout_ms = 30000;
    cfg->apply_timeout_ms = 60000;
    cfg->max_resyncs = 8;
}

const char *mb_flash_phase_name(enum mb_flash_phase phase)
{
    switch (phase) {
    case MB_PH_IDENT: return "ident";
    case MB_PH_BEGIN: return "begin";
    case MB_PH_BLOCKS: return "blocks";
    case MB_PH_RESYNC: return "resync";
    case MB_PH_VERIFY: return "verify";
    case MB_PH_APPLY: return "apply";
    case MB_PH_DONE: return "done";
    }
    return "?";
}

void mb_flash_init(struct mb_flash *f, const struct mb_flash_config *cfg,
                   uint32_t size, uint32_t crc, const char *expect_version)
{
    memset(f, 0, sizeof *f);
    if (cfg)
        f->cfg = *cfg;
    else
        mb_flash_config_default(&f->cfg);
    f->size = size;
    f->crc = crc;
    f->phase = MB_PH_IDENT;
    f->busy_since = -1;
    f->result = MB_FLASH_RUNNING;
    if (expect_version)
        snprintf(f->expect_version, sizeof f->expect_version, "%s",
                 expect_version);
}

/* Issue a new request: it becomes the one in flight, with a fresh try
 * budget. */
static void issue(struct mb_flash *f, struct mb_req *out, enum mb_req_kind kind,
                  uint32_t offset, uint32_t len)
{
    struct mb_req r = {.kind = kind, .offset = offset, .len = len};

    f->tries_left = f->cfg.tries;
    f->last = r;
    *out = r;
}

/* Wait until `until`, then make request `then`. A retry (the request in
 * flight, again) keeps its try budget; a poll or a new request does not
 * spend one. */
static void wait_then(struct mb_flash *f, struct mb_req *out, int64_t until,
                      enum mb_req_kind kind, uint32_t offset, uint32_t len)
{
    f->after_wait = (struct mb_req){.kind = kind, .offset = offset, .len = len};
    out->kind = MB_REQ_WAIT;
    out->offset = 0;
    out->len = 0;
    out->at = until;
}

static void finish(struct mb_flash *f, struct mb_req *out,
                   enum mb_flash_result result, const char *reason)
{
    f->result = result;
    f->phase = MB_PH_DONE;
    snprintf(f->reason, sizeof f->reason, "%s", reason);
    out->kind = MB_REQ_DONE;
    out->offset = 0;
    out->len = 0;
    out->at = 0;
}

static void next_block(struct mb_flash *f, struct mb_req *out)
{
    uint32_t len;

    if (f->offset >= f->size) {
        f->phase = MB_PH_VERIFY;
        issue(f, out, MB_REQ_VERIFY, 0, 0);
        return;
    }
    len = f->size - f->offset;
    if (len > f->block)
        len = f->block;
    f->phase = MB_PH_BLOCKS;
    issue(f, out, MB_REQ_BLOCK, f->offset, len);
}

static void poll_later(struct mb_flash *f, struct mb_req *out, int64_t now)
{
    wait_then(f, out, now + f->cfg.poll_interval_ms, MB_REQ_READ_IDENT, 0, 0);
}

/* Decide from a fresh identity block where the transfer stands. */
static void plan_from_ident(struct mb_flash *f, const struct mb_ident *id,
                            int64_t now, struct mb_req *out)
{
    int ours = id->image_size == f->size && id->image_crc == f->crc;
    char why[96];

    f->block = id->max_block < MB_BLOCK_MAX ? id->max_block : MB_BLOCK_MAX;
    if (f->expect_version[0] != '\0' &&
        strcmp(id->sw_version, f->expect_version) == 0 &&
        id->state == MB_DEV_IDLE) {
        snprintf(f->new_version, sizeof f->new_version, "%s", id->sw_version);
        finish(f, out, MB_FLASH_SUCCESS, "device already runs the image");
        return;
    }
    if (ours && id->state == MB_DEV_IDLE && id->error == MB_DEVERR_NONE &&
        id->received == f->size) {
        /* The last BEGIN was this image, all of it arrived, and the device
         * is idle without error: only a successful APPLY leaves it so (an
         * ABORT zeroes `received`). The gateway stopped after APPLY. */
        snprintf(f->new_version, sizeof f->new_version, "%s", id->sw_version);
        finish(f, out, MB_FLASH_SUCCESS, "device already applied the image");
        return;
    }
    if (ours && id->state == MB_DEV_RECEIVING) {
        /* Resume: BEGIN with the same size and crc keeps `received`. */
        f->resumed = 1;
        f->resumed_from = id->received;
        f->offset = id->received;
        f->acked = id->received;
        f->phase = MB_PH_BEGIN;
        issue(f, out, MB_REQ_BEGIN, 0, 0);
        return;
    }
    if (ours && id->state == MB_DEV_VERIFYING) {
        f->phase = MB_PH_VERIFY;
        f->deadline = now + f->cfg.verify_timeout_ms;
        poll_later(f, out, now);
        return;
    }
    if (ours && id->state == MB_DEV_VERIFIED) {
        f->acked = f->size;
        f->phase = MB_PH_APPLY;
        issue(f, out, MB_REQ_APPLY, 0, 0);
        return;
    }
    if (ours && id->state == MB_DEV_APPLYING) {
        f->phase = MB_PH_APPLY;
        f->deadline = now + f->cfg.apply_timeout_ms;
        poll_later(f, out, now);
        return;
    }
    if ((uint64_t)f->size > (uint64_t)id->free_kib * 1024u) {
        snprintf(why, sizeof why, "image of %u bytes exceeds free %u KiB",
                 (unsigned)f->size, (unsigned)id->free_kib);
        finish(f, out, MB_FLASH_NO_SPACE, why);
        return;
    }
    f->resumed = 0;
    f->offset = 0;
    f->acked = 0;
    f->phase = MB_PH_BEGIN;
    issue(f, out, MB_REQ_BEGIN, 0, 0);
}

/* A reading of the identity block while polling VERIFY or APPLY. */
static void judge_poll(struct mb_flash *f, const struct mb_ident *id,
                       int64_t now, struct mb_req *out)
{
    char why[96];

    if (f->phase == MB_PH_VERIFY) {
        if (id->state == MB_DEV_VERIFIED) {
            f->phase = MB_PH_APPLY;
            issue(f, out, MB_REQ_APPLY, 0, 0);
        } else if (id->state == MB_DEV_FAILED && id->error == MB_DEVERR_CRC) {
            finish(f, out, MB_FLASH_INTEGRITY, "device CRC mismatch at VERIFY");
        } else if (id->state == MB_DEV_VERIFYING && now < f->deadline) {
            poll_later(f, out, now);
        } else if (id->state == MB_DEV_VERIFYING) {
            finish(f, out, MB_FLASH_FAILED, "VERIFY did not finish in time");
        } else {
            snprintf(why, sizeof why,
                     "unexpected device state %d (error %d) after VERIFY",
                     (int)id->state, (int)id->error);
            finish(f, out, MB_FLASH_FAILED, why);
        }
        return;
    }
    /* MB_PH_APPLY */
    if (id->state == MB_DEV_IDLE) {
        snprintf(f->new_version, sizeof f->new_version, "%s", id->sw_version);
        finish(f, out, MB_FLASH_SUCCESS, "applied");
    } else if (id->state == MB_DEV_FAILED) {
        snprintf(why, sizeof why,
                 "APPLY failed (device error %d), device keeps '%s'",
                 (int)id->error, id->sw_version);
        finish(f, out, MB_FLASH_FAILED, why);
    } else if (now < f->deadline) {
        poll_later(f, out, now);
    } else {
        finish(f, out, MB_FLASH_FAILED, "device did not finish APPLY in time");
    }
}

static int polling(const struct mb_flash *f)
{
    return (f->phase == MB_PH_VERIFY || f->phase == MB_PH_APPLY) &&
           f->last.kind == MB_REQ_READ_IDENT;
}

/* The request in flight got no usable answer (timeout or link error). */
static void on_no_answer(struct mb_flash *f, const struct mb_res *res,
                         int64_t now, struct mb_req *out)
{
    char why[96];

    if (polling(f)) {
        /* A device installing may stay silent: poll until the deadline. */
        if (now < f->deadline)
            poll_later(f, out, now);
        else
            finish(f, out, MB_FLASH_FAILED,
                   f->phase == MB_PH_APPLY
                       ? "device did not come back after APPLY in time"
                       : "device silent during VERIFY");
        return;
    }
    if (f->last.kind == MB_REQ_APPLY) {
        /* APPLY may have been executed and the device gone quiet to
         * install: never send it twice, poll instead. */
        f->deadline = now + f->cfg.apply_timeout_ms;
        poll_later(f, out, now);
        return;
    }
    f->retries++;
    if (--f->tries_left > 0) {
        if (res->kind == MB_RES_IO_ERROR)
            wait_then(f, out, now + f->cfg.poll_interval_ms, f->last.kind,
                      f->last.offset, f->last.len);
        else
            *out = f->last;
        return;
    }
    snprintf(why, sizeof why, "no answer after %d tries (%s)", f->cfg.tries,
             res->kind == MB_RES_IO_ERROR ? "link error" : "timeout");
    finish(f, out, MB_FLASH_FAILED, why);
}

static void on_exception(struct mb_flash *f, const struct mb_res *res,
                         int64_t now, struct mb_req *out)
{
    char why[96];

    if (res->exception == 6) { /* busy: wait, do not count a try */
        if (f->busy_since < 0)
            f->busy_since = now;
        if (now - f->busy_since > f->cfg.busy_max_ms) {
            finish(f, out, MB_FLASH_FAILED, "device busy for too long");
            return;
        }
        f->busy_waits++;
        wait_then(f, out, now + f->cfg.busy_wait_ms, f->last.kind,
                  f->last.offset, f->last.len);
        return;
    }
    if (res->exception == 3 && f->last.kind != MB_REQ_BEGIN) {
        /* Not allowed in the device's state or wrong offset: re-read
         * where the device stands and continue from there. */
        if (++f->resyncs > f->cfg.max_resyncs) {
            finish(f, out, MB_FLASH_FAILED,
                   "device keeps refusing (exception 03)");
            return;
        }
        f->phase = MB_PH_RESYNC;
        issue(f, out, MB_REQ_READ_IDENT, 0, 0);
        return;
    }
    if (res->exception == 4 && f->last.kind == MB_REQ_BLOCK) {
        finish(f, out, MB_FLASH_FAILED, "device flash write error");
        return;
    }
    snprintf(why, sizeof why, "device refused %s with exception %02d",
             f->last.kind == MB_REQ_BEGIN ? "BEGIN" : "request",
             res->exception);
    finish(f, out, MB_FLASH_FAILED, why);
}

static void on_ok(struct mb_flash *f, const struct mb_res *res, int64_t now,
                  struct mb_req *out)
{
    switch (f->last.kind) {
    case MB_REQ_READ_IDENT:
        if (res->ident == NULL || res->ident_rc != 0) {
            finish(f, out, MB_FLASH_FAILED,
                   res->ident_rc == GW_E_PROTO
                       ? "not a SOTA-Modbus profile 1 device"
                       : "invalid identity block");
            return;
        }
        if (polling(f))
            judge_poll(f, res->ident, now, out);
        else
            plan_from_ident(f, res->ident, now, out);
        return;
    case MB_REQ_BEGIN: next_block(f, out); return;
    case MB_REQ_BLOCK:
        f->blocks_sent++;
        f->offset = f->last.offset + f->last.len;
        f->acked = f->offset;
        next_block(f, out);
        return;
    case MB_REQ_VERIFY:
        f->deadline = now + f->cfg.verify_timeout_ms;
        poll_later(f, out, now);
        return;
    case MB_REQ_APPLY:
        f->phase = MB_PH_APPLY;
        f->deadline = now + f->cfg.apply_timeout_ms;
        poll_later(f, out, now);
        return;
    case MB_REQ_WAIT:
    case MB_REQ_DONE: break;
    }
    issue(f, out, MB_REQ_READ_IDENT, 0, 0);
}

int mb_flash_next(struct mb_flash *f, const struct mb_res *res, int64_t now,
                  struct mb_req *req)
{
    if (f->phase == MB_PH_DONE) {
        req->kind = MB_REQ_DONE;
        return GW_E_STATE;
    }
    switch (res->kind) {
    case MB_RES_START:
        f->phase = MB_PH_IDENT;
        issue(f, req, MB_REQ_READ_IDENT, 0, 0);
        return 0;
    case MB_RES_WAITED:
        /* Retries and polls keep the try budget of the request in
         * flight; polls never spend it (on_no_answer). */
        f->last = f->after_wait;
        *req = f->last;
        return 0;
    case MB_RES_OK:
        f->busy_since = -1;
        on_ok(f, res, now, req);
        return 0;
    case MB_RES_TIMEOUT:
    case MB_RES_IO_ERROR: on_no_answer(f, res, now, req); return 0;
    case MB_RES_EXCEPTION: on_exception(f, res, now, req); return 0;
    }
    return GW_E_INVAL;
}
