/* fsim_dev.c: the profile-1 device logic.
 *
 * Order of checks for every request, chosen so each fault is observable on
 * its own:
 *   1. state 4 (applying): the device is restarting, nothing is answered;
 *   2. ignore_p: the request is lost before the device sees it;
 *   3. busy window or busy_p: exception 06, nothing processed;
 *   4. the request is processed (registers, commands, blocks);
 *   5. drop_p: the reply is lost after processing.
 * The record is saved before a reply goes out, so a power loss never loses
 * a block the gateway saw acknowledged. */
#define GW_LOG_TAG "fsim"

#include "fsim_dev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gw/err.h"
#include "gw/log.h"

struct fsim_dev {
    struct fsim_dev_config cfg;
    const struct fsim_store_ops *ops;
    void *store_ctx;
    struct fsim_record rec;
    char obj[16];                       /* log object id, "unit-N" */
    uint16_t hr_cmd[FSIM_HR_CMD_COUNT]; /* last values written */
    uint16_t hr_block[FSIM_HR_BLOCK_COUNT];
    int64_t busy_until;
    int64_t deadline; /* end of state 2 or 4; -1 none */
    uint64_t rng;
    uint32_t blocks_seen;  /* for die_block / die_block_stored */
    int verify_fails_left; /* -1: every time */
    int apply_fails_left;
};

void fsim_dev_config_init(struct fsim_dev_config *cfg, uint8_t unit)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->unit = unit;
    snprintf(cfg->version, sizeof cfg->version, "1.0.0");
    cfg->battery = 0xFFFFu;
    cfg->free_kib = 256;
    cfg->max_block = FSIM_BLOCK_MAX;
    cfg->seed = 1;
    cfg->faults.verify_ms = 200;
    cfg->faults.apply_ms = 2000;
}

static int prob_ok(double p)
{
    return p >= 0.0 && p <= 1.0;
}

int fsim_dev_config_check(const struct fsim_dev_config *cfg, const char **why)
{
    const struct fsim_faults *f = &cfg->faults;

    *why = NULL;
    if (cfg->unit < 1 || cfg->unit > 247)
        *why = "unit must be 1..247";
    else if (!fsim_image_version_ok(cfg->version))
        *why = "version must be 1..32 printable ASCII characters";
    else if (cfg->battery > 100 && cfg->battery != 0xFFFFu)
        *why = "battery must be 0..100 or 0xFFFF (mains)";
    else if (cfg->max_block < 2 || cfg->max_block > FSIM_BLOCK_MAX ||
             cfg->max_block % 2 != 0)
        *why = "max_block must be even, 2..240";
    else if (!prob_ok(f->busy_p) || !prob_ok(f->ignore_p) ||
             !prob_ok(f->drop_p) || !prob_ok(f->flash_fail_p))
        *why = "probabilities must be 0..1";
    else if (f->verify_fail < -1 || f->apply_fail < -1)
        *why = "verify_fail/apply_fail must be -1 (always) or a count";
    return *why ? GW_E_RANGE : 0;
}

const char *fsim_state_name(enum fsim_state state)
{
    switch (state) {
    case FSIM_STATE_IDLE: return "idle";
    case FSIM_STATE_RECEIVING: return "receiving";
    case FSIM_STATE_VERIFYING: return "verifying";
    case FSIM_STATE_VERIFIED: return "verified";
    case FSIM_STATE_APPLYING: return "applying";
    case FSIM_STATE_FAILED: return "failed";
    }
    return "?";
}

/* xorshift64*: reproducible from --seed, independent per unit. */
static double rng_next(struct fsim_dev *dev)
{
    uint64_t x = dev->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    dev->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static int chance(struct fsim_dev *dev, double p)
{
    return p > 0.0 && rng_next(dev) < p;
}

/* The only writer of dev->rec: save first, adopt after. */
static int dev_commit(struct fsim_dev *dev, const struct fsim_record *next)
{
    int rc = dev->ops->record_save(dev->store_ctx, next);

    if (rc < 0) {
        GW_LOG(GW_LOG_ERR, dev->obj, "saving state failed: %s",
               gw_strerror(rc));
        return rc;
    }
    if (next->state != dev->rec.state)
        GW_LOG(GW_LOG_INFO, dev->obj, "state %s -> %s (error %d)",
               fsim_state_name(dev->rec.state), fsim_state_name(next->state),
               (int)next->error);
    dev->rec = *next;
    return 0;
}

/* Record an error without a state change (error 1 on a rejected block). */
static void dev_set_error(struct fsim_dev *dev, enum fsim_error err)
{
    struct fsim_record next = dev->rec;

    next.error = err;
    (void)dev_commit(dev, &next);
}

static int staged_crc(struct fsim_dev *dev, uint32_t *crc_out)
{
    uint8_t buf[4096];
    uLong crc = crc32(0L, Z_NULL, 0);
    uint32_t off = 0;
    int rc;

    while (off < dev->rec.image_size) {
        size_t n = dev->rec.image_size - off;

        if (n > sizeof buf)
            n = sizeof buf;
        rc = dev->ops->data_read(dev->store_ctx, off, buf, n);
        if (rc < 0)
            return rc;
        crc = crc32(crc, buf, (uInt)n);
        off += (uint32_t)n;
    }
    *crc_out = (uint32_t)crc;
    return 0;
}

static void verify_finish(struct fsim_dev *dev)
{
    struct fsim_record next = dev->rec;
    uint32_t crc = 0;
    int rc = staged_crc(dev, &crc);

    dev->deadline = -1;
    if (rc < 0) {
        next.state = FSIM_STATE_FAILED;
        next.error = FSIM_ERROR_FLASH;
    } else if (dev->verify_fails_left != 0) {
        if (dev->verify_fails_left > 0)
            dev->verify_fails_left--;
        GW_LOG(GW_LOG_INFO, dev->obj, "fault: CRC mismatch at VERIFY");
        next.state = FSIM_STATE_FAILED;
        next.error = FSIM_ERROR_CRC;
    } else if (crc != dev->rec.image_crc) {
        GW_LOG(GW_LOG_WARN, dev->obj,
               "VERIFY: staged CRC 0x%08x, BEGIN said 0x%08x", crc,
               dev->rec.image_crc);
        next.state = FSIM_STATE_FAILED;
        next.error = FSIM_ERROR_CRC;
    } else {
        next.state = FSIM_STATE_VERIFIED;
        next.error = FSIM_ERROR_NONE;
    }
    (void)dev_commit(dev, &next);
}

static void apply_finish(struct fsim_dev *dev)
{
    struct fsim_record next = dev->rec;
    uint8_t tail[FSIM_IMAGE_TAIL];
    uint32_t n = dev->rec.image_size < FSIM_IMAGE_TAIL ? dev->rec.image_size
                                                       : FSIM_IMAGE_TAIL;
    char version[FSIM_VERSION_MAX + 1];
    int rc;

    dev->deadline = -1;
    rc = dev->ops->data_read(dev->store_ctx, dev->rec.image_size - n, tail, n);
    if (rc == 0)
        rc = fsim_image_find_version(tail, n, version, sizeof version);
    if (dev->apply_fails_left != 0) {
        if (dev->apply_fails_left > 0)
            dev->apply_fails_left--;
        GW_LOG(GW_LOG_INFO, dev->obj, "fault: APPLY fails");
        next.state = FSIM_STATE_FAILED;
        next.error = FSIM_ERROR_APPLY;
    } else if (rc == GW_E_NOTFOUND && dev->cfg.faults.strict_marker) {
        GW_LOG(GW_LOG_WARN, dev->obj, "APPLY: image has no SOTAVER marker");
        next.state = FSIM_STATE_FAILED;
        next.error = FSIM_ERROR_REJECTED;
    } else if (rc < 0 && rc != GW_E_NOTFOUND) {
        next.state = FSIM_STATE_FAILED;
        next.error = FSIM_ERROR_APPLY;
    } else {
        if (rc == GW_E_NOTFOUND)
            snprintf(version, sizeof version, "crc-%08x", dev->rec.image_crc);
        GW_LOG(GW_LOG_INFO, dev->obj, "APPLY: version %s -> %s",
               dev->rec.version, version);
        memcpy(next.version, version, sizeof next.version);
        next.state = FSIM_STATE_IDLE;
        next.error = FSIM_ERROR_NONE;
    }
    (void)dev_commit(dev, &next);
}

/* A record read back from storage can be anything: bound it. */
static int record_sane(const struct fsim_record *r)
{
    switch (r->state) {
    case FSIM_STATE_IDLE:
    case FSIM_STATE_RECEIVING:
    case FSIM_STATE_VERIFYING:
    case FSIM_STATE_VERIFIED:
    case FSIM_STATE_APPLYING:
    case FSIM_STATE_FAILED: break;
    default: return 0;
    }
    return (unsigned)r->error <= FSIM_ERROR_ABORTED &&
           r->received <= r->image_size && fsim_image_version_ok(r->version);
}

struct fsim_dev *fsim_dev_new(const struct fsim_dev_config *cfg,
                              const struct fsim_store_ops *ops, void *store_ctx,
                              const struct fsim_record *loaded)
{
    struct fsim_dev *dev = calloc(1, sizeof *dev);

    if (!dev)
        return NULL;
    dev->cfg = *cfg;
    dev->ops = ops;
    dev->store_ctx = store_ctx;
    dev->deadline = -1;
    dev->busy_until = 0;
    dev->rng = (cfg->seed ^ ((uint64_t)cfg->unit * 0x9E3779B97F4A7C15ULL)) | 1u;
    dev->verify_fails_left = cfg->faults.verify_fail;
    dev->apply_fails_left = cfg->faults.apply_fail;
    snprintf(dev->obj, sizeof dev->obj, "unit-%u", (unsigned)cfg->unit);
    if (loaded && record_sane(loaded)) {
        dev->rec = *loaded;
    } else {
        if (loaded)
            GW_LOG(GW_LOG_WARN, dev->obj,
                   "stored state is inconsistent; starting idle");
        memset(&dev->rec, 0, sizeof dev->rec);
        memcpy(dev->rec.version, cfg->version, sizeof dev->rec.version);
        if (loaded && fsim_image_version_ok(loaded->version))
            memcpy(dev->rec.version, loaded->version, sizeof dev->rec.version);
    }
    /* Power was lost mid-VERIFY or mid-APPLY: the restarted device
     * completes the step before it answers anything. */
    if (dev->rec.state == FSIM_STATE_VERIFYING)
        verify_finish(dev);
    else if (dev->rec.state == FSIM_STATE_APPLYING)
        apply_finish(dev);
    return dev;
}

void fsim_dev_free(struct fsim_dev *dev)
{
    free(dev);
}

const struct fsim_record *fsim_dev_get_record(const struct fsim_dev *dev)
{
    return &dev->rec;
}

uint8_t fsim_dev_get_unit(const struct fsim_dev *dev)
{
    return dev->cfg.unit;
}

int64_t fsim_dev_next_deadline(const struct fsim_dev *dev)
{
    return dev->deadline;
}

void fsim_dev_tick(struct fsim_dev *dev, int64_t now_ms)
{
    if (dev->deadline < 0 || now_ms < dev->deadline)
        return;
    if (dev->rec.state == FSIM_STATE_VERIFYING)
        verify_finish(dev);
    else if (dev->rec.state == FSIM_STATE_APPLYING)
        apply_finish(dev);
    else
        dev->deadline = -1;
}

static void put_u32(uint16_t *r, uint32_t v)
{
    r[0] = (uint16_t)(v >> 16);
    r[1] = (uint16_t)(v & 0xFFFFu);
}

static uint32_t get_u32(const uint16_t *r)
{
    return ((uint32_t)r[0] << 16) | r[1];
}

static void input_regs(const struct fsim_dev *dev, uint16_t *ir)
{
    size_t vlen = strlen(dev->rec.version);
    size_t i;

    memset(ir, 0, FSIM_IR_COUNT * sizeof *ir);
    ir[0] = FSIM_PROFILE_ID;
    for (i = 0; i < vlen && i < FSIM_VERSION_MAX; i++) {
        uint16_t c = (uint8_t)dev->rec.version[i];

        ir[1 + i / 2] |= (uint16_t)(i % 2 == 0 ? c << 8 : c);
    }
    ir[17] = dev->cfg.battery;
    ir[18] = dev->cfg.free_kib;
    ir[19] = dev->cfg.max_block;
    ir[20] = (uint16_t)dev->rec.state;
    ir[21] = (uint16_t)dev->rec.error;
    put_u32(&ir[22], dev->rec.received);
    put_u32(&ir[24], dev->rec.image_size);
    put_u32(&ir[26], dev->rec.image_crc);
}

static void rsp_exc(struct fsim_rsp *rsp, enum fsim_exc exc)
{
    rsp->action = FSIM_ACT_EXCEPTION;
    rsp->exception = (uint8_t)exc;
}

static void read_input(struct fsim_dev *dev, const struct fsim_req *req,
                       struct fsim_rsp *rsp)
{
    uint16_t ir[FSIM_IR_COUNT];

    if (req->count < 1 || req->count > FSIM_READ_MAX) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    if ((uint32_t)req->addr + req->count > FSIM_IR_COUNT) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_ADDRESS);
        return;
    }
    input_regs(dev, ir);
    memcpy(rsp->regs, ir + req->addr, req->count * sizeof *ir);
    rsp->count = req->count;
}

static void read_holding(struct fsim_dev *dev, const struct fsim_req *req,
                         struct fsim_rsp *rsp)
{
    uint32_t a = req->addr;
    uint32_t end = a + req->count;

    if (req->count < 1 || req->count > FSIM_READ_MAX) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    if (a >= FSIM_HR_CMD && end <= FSIM_HR_CMD + FSIM_HR_CMD_COUNT) {
        memcpy(rsp->regs, dev->hr_cmd + (a - FSIM_HR_CMD),
               req->count * sizeof *rsp->regs);
    } else if (a >= FSIM_HR_BLOCK &&
               end <= FSIM_HR_BLOCK + FSIM_HR_BLOCK_COUNT) {
        memcpy(rsp->regs, dev->hr_block + (a - FSIM_HR_BLOCK),
               req->count * sizeof *rsp->regs);
    } else {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_ADDRESS);
        return;
    }
    rsp->count = req->count;
}

static void cmd_begin(struct fsim_dev *dev, int64_t now, uint32_t size,
                      uint32_t crc, struct fsim_rsp *rsp)
{
    struct fsim_record next = dev->rec;

    if (size == 0) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    if ((uint64_t)size > (uint64_t)dev->cfg.free_kib * 1024u) {
        GW_LOG(GW_LOG_WARN, dev->obj, "BEGIN: %u bytes > free %u KiB", size,
               (unsigned)dev->cfg.free_kib);
        next.state = FSIM_STATE_FAILED;
        next.error = FSIM_ERROR_TOO_LARGE;
        (void)dev_commit(dev, &next);
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    if (dev->rec.state == FSIM_STATE_RECEIVING && size == dev->rec.image_size &&
        crc == dev->rec.image_crc) {
        GW_LOG(GW_LOG_INFO, dev->obj, "BEGIN: resume at %u of %u",
               dev->rec.received, size);
        next.error = FSIM_ERROR_NONE;
    } else {
        if (dev->ops->data_erase(dev->store_ctx) < 0) {
            next.state = FSIM_STATE_FAILED;
            next.error = FSIM_ERROR_FLASH;
            (void)dev_commit(dev, &next);
            rsp_exc(rsp, FSIM_EXC_DEVICE_FAILURE);
            return;
        }
        GW_LOG(GW_LOG_INFO, dev->obj, "BEGIN: new image, %u bytes, crc 0x%08x",
               size, crc);
        next.state = FSIM_STATE_RECEIVING;
        next.error = FSIM_ERROR_NONE;
        next.received = 0;
        next.image_size = size;
        next.image_crc = crc;
    }
    if (dev_commit(dev, &next) < 0) {
        rsp_exc(rsp, FSIM_EXC_DEVICE_FAILURE);
        return;
    }
    dev->busy_until = now + dev->cfg.faults.busy_ms;
}

static void do_command(struct fsim_dev *dev, int64_t now,
                       const struct fsim_req *req, struct fsim_rsp *rsp)
{
    struct fsim_record next = dev->rec;
    uint16_t cmd = req->regs[0];

    if (req->count != 1 && req->count != FSIM_HR_CMD_COUNT) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    if ((cmd == FSIM_CMD_BEGIN) != (req->count == FSIM_HR_CMD_COUNT)) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    switch (cmd) {
    case FSIM_CMD_BEGIN:
        if (dev->rec.state == FSIM_STATE_VERIFYING) {
            rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
            return;
        }
        cmd_begin(dev, now, get_u32(&req->regs[1]), get_u32(&req->regs[3]),
                  rsp);
        break;
    case FSIM_CMD_VERIFY:
        if ((dev->rec.state != FSIM_STATE_RECEIVING &&
             dev->rec.state != FSIM_STATE_VERIFIED) ||
            dev->rec.received != dev->rec.image_size) {
            rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
            return;
        }
        next.state = FSIM_STATE_VERIFYING;
        next.error = FSIM_ERROR_NONE;
        if (dev_commit(dev, &next) < 0) {
            rsp_exc(rsp, FSIM_EXC_DEVICE_FAILURE);
            return;
        }
        dev->deadline = now + dev->cfg.faults.verify_ms;
        dev->busy_until = now + dev->cfg.faults.busy_ms;
        if (dev->cfg.faults.verify_ms == 0)
            verify_finish(dev);
        break;
    case FSIM_CMD_APPLY:
        if (dev->rec.state != FSIM_STATE_VERIFIED) {
            rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
            return;
        }
        next.state = FSIM_STATE_APPLYING;
        if (dev_commit(dev, &next) < 0) {
            rsp_exc(rsp, FSIM_EXC_DEVICE_FAILURE);
            return;
        }
        /* The APPLY write itself is acknowledged; then silence. */
        dev->deadline = now + dev->cfg.faults.apply_ms;
        if (dev->cfg.faults.apply_ms == 0)
            apply_finish(dev);
        break;
    case FSIM_CMD_ABORT:
        next.state = FSIM_STATE_IDLE;
        next.error = FSIM_ERROR_ABORTED;
        next.received = 0;
        if (dev_commit(dev, &next) < 0) {
            rsp_exc(rsp, FSIM_EXC_DEVICE_FAILURE);
            return;
        }
        dev->deadline = -1;
        break;
    default: rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE); return;
    }
}

static void reject_block(struct fsim_dev *dev, struct fsim_rsp *rsp,
                         const char *why, uint32_t off, uint32_t len)
{
    GW_LOG(GW_LOG_INFO, dev->obj,
           "block at %u len %u rejected (%s), received %u", off, len, why,
           dev->rec.received);
    dev_set_error(dev, FSIM_ERROR_ORDER);
    rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
}

static void do_block(struct fsim_dev *dev, const struct fsim_req *req,
                     struct fsim_rsp *rsp)
{
    struct fsim_record next = dev->rec;
    uint8_t data[FSIM_BLOCK_MAX];
    uint8_t stored[FSIM_BLOCK_MAX];
    uint32_t off = get_u32(&req->regs[0]);
    uint32_t len = req->regs[2];
    uint32_t i;
    int rc;

    if (dev->rec.state != FSIM_STATE_RECEIVING) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    if (len < 1 || len > dev->cfg.max_block ||
        req->count != 3 + (len + 1) / 2) {
        reject_block(dev, rsp, "bad length", off, len);
        return;
    }
    for (i = 0; i < len; i++) {
        uint16_t r = req->regs[3 + i / 2];

        data[i] = (uint8_t)(i % 2 == 0 ? r >> 8 : r & 0xFFu);
    }
    if (off == dev->rec.received) {
        if ((uint64_t)off + len > dev->rec.image_size) {
            reject_block(dev, rsp, "past size", off, len);
            return;
        }
        dev->blocks_seen++;
        if (dev->blocks_seen == dev->cfg.faults.die_block) {
            GW_LOG(GW_LOG_INFO, dev->obj, "fault: power loss before storing");
            rsp->action = FSIM_ACT_POWER_LOSS;
            return;
        }
        rc = chance(dev, dev->cfg.faults.flash_fail_p)
                 ? GW_E_INTEGRITY
                 : dev->ops->data_write(dev->store_ctx, off, data, len);
        next.received = off + len;
        next.error = FSIM_ERROR_NONE;
        if (rc == 0)
            rc = dev_commit(dev, &next);
        if (rc < 0) {
            GW_LOG(GW_LOG_WARN, dev->obj, "block at %u: flash write error",
                   off);
            dev_set_error(dev, FSIM_ERROR_FLASH);
            rsp_exc(rsp, FSIM_EXC_DEVICE_FAILURE);
            return;
        }
        if (dev->blocks_seen == dev->cfg.faults.die_block_stored) {
            GW_LOG(GW_LOG_INFO, dev->obj, "fault: power loss before reply");
            rsp->action = FSIM_ACT_POWER_LOSS;
        }
        return;
    }
    if ((uint64_t)off + len <= dev->rec.received) {
        rc = dev->ops->data_read(dev->store_ctx, off, stored, len);
        if (rc == 0 && memcmp(stored, data, len) == 0) {
            GW_LOG(GW_LOG_DEBUG, dev->obj, "block at %u: retransmission", off);
            return;
        }
        reject_block(dev, rsp, "differs from stored bytes", off, len);
        return;
    }
    reject_block(dev, rsp, "out of order", off, len);
}

static void write_multiple(struct fsim_dev *dev, int64_t now,
                           const struct fsim_req *req, struct fsim_rsp *rsp)
{
    if (req->count < 1 || req->count > FSIM_HR_BLOCK_COUNT) {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    if (req->addr == FSIM_HR_CMD) {
        if (req->count <= FSIM_HR_CMD_COUNT)
            memcpy(dev->hr_cmd, req->regs, req->count * sizeof *req->regs);
        do_command(dev, now, req, rsp);
    } else if (req->addr == FSIM_HR_BLOCK) {
        memcpy(dev->hr_block, req->regs, req->count * sizeof *req->regs);
        do_block(dev, req, rsp);
    } else {
        rsp_exc(rsp, FSIM_EXC_ILLEGAL_ADDRESS);
    }
    rsp->count = req->count;
}

void fsim_dev_handle(struct fsim_dev *dev, int64_t now_ms,
                     const struct fsim_req *req, struct fsim_rsp *rsp)
{
    const struct fsim_faults *f = &dev->cfg.faults;

    memset(rsp, 0, sizeof *rsp);
    rsp->action = FSIM_ACT_REPLY;
    fsim_dev_tick(dev, now_ms);
    if (dev->rec.state == FSIM_STATE_APPLYING) {
        rsp->action = FSIM_ACT_SILENT;
        return;
    }
    if (chance(dev, f->ignore_p)) {
        GW_LOG(GW_LOG_DEBUG, dev->obj, "fault: request lost");
        rsp->action = FSIM_ACT_SILENT;
        return;
    }
    if (now_ms < dev->busy_until || chance(dev, f->busy_p)) {
        rsp_exc(rsp, FSIM_EXC_BUSY);
        return;
    }
    switch (req->function) {
    case 0x03: read_holding(dev, req, rsp); break;
    case 0x04: read_input(dev, req, rsp); break;
    case 0x10: write_multiple(dev, now_ms, req, rsp); break;
    default: rsp_exc(rsp, FSIM_EXC_ILLEGAL_FUNCTION); break;
    }
    if (rsp->action != FSIM_ACT_POWER_LOSS && chance(dev, f->drop_p)) {
        GW_LOG(GW_LOG_DEBUG, dev->obj, "fault: reply lost");
        rsp->action = FSIM_ACT_SILENT;
    }
}
