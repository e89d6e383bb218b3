/* test_mb_flash.c: the Modbus profile codecs and the flash planner, run end
 * to end against a small in-test model of a profile-1 device with fault
 * injection (lost replies, busy, restarts, CRC mismatch, failed apply). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dio/mb_flash.h"
#include "gw/err.h"

/* ==== codecs ============================================================ */

static void put_str(uint16_t *regs, const char *s)
{
    for (int i = 0; i < 16; i++) {
        uint16_t hi = (uint16_t)(unsigned char)(s[0] ? s[0] : 0);
        uint16_t lo = 0;

        if (s[0])
            s++;
        lo = (uint16_t)(unsigned char)(s[0] ? s[0] : 0);
        if (s[0])
            s++;
        regs[i] = (uint16_t)((hi << 8) | lo);
    }
}

static void ident_regs(uint16_t r[MB_IDENT_REGS], const char *ver,
                       uint16_t battery, uint16_t free_kib, uint16_t max_block,
                       uint16_t state, uint16_t error, uint32_t received,
                       uint32_t size, uint32_t crc)
{
    memset(r, 0, MB_IDENT_REGS * sizeof r[0]);
    r[0] = MB_PROFILE_ID;
    put_str(&r[1], ver);
    r[17] = battery;
    r[18] = free_kib;
    r[19] = max_block;
    r[20] = state;
    r[21] = error;
    r[22] = (uint16_t)(received >> 16);
    r[23] = (uint16_t)received;
    r[24] = (uint16_t)(size >> 16);
    r[25] = (uint16_t)size;
    r[26] = (uint16_t)(crc >> 16);
    r[27] = (uint16_t)crc;
}

static void ident_decodes(void **state)
{
    uint16_t r[MB_IDENT_REGS];
    struct mb_ident id;

    (void)state;
    ident_regs(r, "fw-1.2.3", 87, 256, 240, 1, 0, 480, 500, 0x1C291CA3);
    assert_int_equal(mb_ident_decode(r, &id), 0);
    assert_string_equal(id.sw_version, "fw-1.2.3");
    assert_int_equal(id.battery, 87);
    assert_false(id.mains);
    assert_int_equal(id.free_kib, 256);
    assert_int_equal(id.max_block, 240);
    assert_int_equal(id.state, MB_DEV_RECEIVING);
    assert_int_equal(id.received, 480);
    assert_int_equal(id.image_size, 500);
    assert_int_equal(id.image_crc, 0x1C291CA3);

    /* a 32-character version fills all 16 registers, no NUL */
    ident_regs(r, "0123456789abcdef0123456789ABCDEF", MB_BATTERY_MAINS, 1, 2, 0,
               0, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), 0);
    assert_string_equal(id.sw_version, "0123456789abcdef0123456789ABCDEF");
    assert_true(id.mains);
    assert_int_equal(id.battery, 100);
}

static void ident_rejects(void **state)
{
    uint16_t r[MB_IDENT_REGS];
    struct mb_ident id;

    (void)state;
    ident_regs(r, "v", 50, 1, 240, 0, 0, 0, 0, 0);
    r[0] = 0x5302;
    assert_int_equal(mb_ident_decode(r, &id), GW_E_PROTO);
    ident_regs(r, "v", 101, 1, 240, 0, 0, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_RANGE);
    ident_regs(r, "v", 50, 1, 241, 0, 0, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_RANGE);
    ident_regs(r, "v", 50, 1, 0, 0, 0, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_RANGE);
    ident_regs(r, "v", 50, 1, 242, 0, 0, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_RANGE);
    ident_regs(r, "v", 50, 1, 240, 6, 0, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_RANGE);
    ident_regs(r, "v", 50, 1, 240, 0, 8, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_RANGE);
    ident_regs(r, "v", 50, 1, 240, 1, 0, 501, 500, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_RANGE);
    ident_regs(r, "v\x01x", 50, 1, 240, 0, 0, 0, 0, 0);
    assert_int_equal(mb_ident_decode(r, &id), GW_E_INVAL);
    assert_string_equal(id.sw_version, "v?x");
}

static void encodes_profile_example(void **state)
{
    uint16_t regs[MB_BLOCK_REGS_MAX];
    uint8_t data[240];

    (void)state;
    /* Profile worked example, step 2: BEGIN 500 bytes, CRC 0x1C291CA3 */
    assert_int_equal(mb_encode_begin(500, 0x1C291CA3, regs), 5);
    assert_int_equal(regs[0], 1);
    assert_int_equal(regs[1], 0x0000);
    assert_int_equal(regs[2], 0x01F4);
    assert_int_equal(regs[3], 0x1C29);
    assert_int_equal(regs[4], 0x1CA3);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    /* step 4: offset 240, 240 bytes, 123 registers in all */
    assert_int_equal(mb_encode_block(240, data, 240, regs), 123);
    assert_int_equal(regs[0], 0x0000);
    assert_int_equal(regs[1], 0x00F0);
    assert_int_equal(regs[2], 240);
    assert_int_equal(regs[3], 0x0001);
    assert_int_equal(regs[122], (238 << 8) | 239);
    /* step 5: 20 bytes → 3 + 10 registers; odd length pads low byte */
    assert_int_equal(mb_encode_block(480, data, 20, regs), 13);
    assert_int_equal(mb_encode_block(0, data, 3, regs), 5);
    assert_int_equal(regs[4], 0x0200);
    assert_int_equal(mb_encode_block(0, data, 0, regs), GW_E_RANGE);
    assert_int_equal(mb_encode_block(0, data, 241, regs), GW_E_RANGE);
}

/* ==== a model device ==================================================== */

struct dev {
    char version[33];
    uint16_t battery, free_kib, max_block;
    uint16_t state, error;
    uint32_t received, size, crc;
    uint8_t staged[8192];
    /* faults */
    int drop_reply_after_store; /* next N stores: stored, reply lost */
    int timeouts;               /* next N requests: no answer at all */
    int busy;                   /* next N requests: exception 06 */
    int crc_bad;                /* VERIFY fails */
    int apply_fail;
    int apply_silent_polls; /* ident polls unanswered after APPLY */
    char image_version[33]; /* version the image installs */
    /* observations */
    uint32_t max_acked; /* highest `received` ever replied */
    int resent_acked;   /* blocks sent below an acknowledged end */
    int begins, blocks, applies;
};

static void dev_ident(const struct dev *d, uint16_t r[MB_IDENT_REGS])
{
    ident_regs(r, d->version, d->battery, d->free_kib, d->max_block, d->state,
               d->error, d->received, d->size, d->crc);
}

/* Execute one request on the device. Returns the result kind and fills
 * ident registers for READ_IDENT. */
static enum mb_res_kind dev_exec(struct dev *d, const struct mb_req *q,
                                 const uint8_t *image, uint16_t *regs, int *exc)
{
    int lose_reply = 0;

    if (d->timeouts > 0) {
        d->timeouts--;
        return MB_RES_TIMEOUT;
    }
    if (d->busy > 0) {
        d->busy--;
        *exc = 6;
        return MB_RES_EXCEPTION;
    }
    switch (q->kind) {
    case MB_REQ_READ_IDENT:
        if (d->state == MB_DEV_APPLYING) {
            if (d->apply_silent_polls > 0) {
                d->apply_silent_polls--;
                return MB_RES_TIMEOUT;
            }
            if (d->apply_fail) {
                d->state = MB_DEV_FAILED;
                d->error = MB_DEVERR_APPLY;
            } else {
                d->state = MB_DEV_IDLE;
                d->error = 0;
                strcpy(d->version, d->image_version);
            }
        } else if (d->state == MB_DEV_VERIFYING) {
            int ok = !d->crc_bad && d->received == d->size;

            d->state = ok ? MB_DEV_VERIFIED : MB_DEV_FAILED;
            d->error = ok ? 0 : MB_DEVERR_CRC;
        }
        dev_ident(d, regs);
        return MB_RES_OK;
    case MB_REQ_BEGIN:
        d->begins++;
        return MB_RES_OK; /* run() applies dev_begin(): it knows size/crc */
    case MB_REQ_BLOCK:
        d->blocks++;
        if (d->state != MB_DEV_RECEIVING) {
            *exc = 3;
            return MB_RES_EXCEPTION;
        }
        if (q->offset + q->len <= d->received) {
            if (memcmp(d->staged + q->offset, image + q->offset, q->len)) {
                *exc = 3;
                return MB_RES_EXCEPTION;
            }
            return MB_RES_OK; /* retransmission */
        }
        if (q->offset != d->received || q->offset + q->len > d->size) {
            d->error = MB_DEVERR_OFFSET;
            *exc = 3;
            return MB_RES_EXCEPTION;
        }
        if (q->offset < d->max_acked)
            d->resent_acked++;
        memcpy(d->staged + q->offset, image + q->offset, q->len);
        d->received += q->len;
        if (d->drop_reply_after_store > 0) {
            d->drop_reply_after_store--;
            lose_reply = 1;
        }
        if (lose_reply)
            return MB_RES_TIMEOUT;
        if (d->received > d->max_acked)
            d->max_acked = d->received;
        return MB_RES_OK;
    case MB_REQ_VERIFY:
        if (d->state != MB_DEV_RECEIVING || d->received != d->size) {
            *exc = 3;
            return MB_RES_EXCEPTION;
        }
        d->state = MB_DEV_VERIFYING;
        return MB_RES_OK;
    case MB_REQ_APPLY:
        d->applies++;
        if (d->state != MB_DEV_VERIFIED) {
            *exc = 3;
            return MB_RES_EXCEPTION;
        }
        d->state = MB_DEV_APPLYING;
        return MB_RES_OK;
    case MB_REQ_WAIT:
    case MB_REQ_DONE: break;
    }
    fail_msg("device asked to execute a non-request");
    return MB_RES_IO_ERROR;
}

/* BEGIN semantics of the profile. */
static int dev_begin(struct dev *d, uint32_t size, uint32_t crc)
{
    if (size > (uint32_t)d->free_kib * 1024) {
        d->state = MB_DEV_FAILED;
        d->error = MB_DEVERR_TOO_LARGE;
        return 3;
    }
    if (d->state == MB_DEV_RECEIVING && d->size == size && d->crc == crc)
        return 0; /* resume */
    d->size = size;
    d->crc = crc;
    d->received = 0;
    d->max_acked = 0;
    d->state = MB_DEV_RECEIVING;
    d->error = 0;
    return 0;
}

#define IMG_SIZE 1000u
#define IMG_CRC  0xDEADBEEFu

static uint8_t image[IMG_SIZE];

struct run {
    struct mb_flash f;
    int64_t now;
    int steps;
    int stop_after_blocks; /* simulate a gateway kill: -1 never */
};

/* Drive the planner against the device until DONE (or a kill). */
static void run(struct run *r, struct dev *d)
{
    struct mb_res res = {.kind = MB_RES_START};
    struct mb_req req;
    struct mb_ident id;
    uint16_t regs[MB_IDENT_REGS];
    int blocks_ok = 0;

    for (r->steps = 0; r->steps < 10000; r->steps++) {
        int exc = 0;
        int rc = mb_flash_next(&r->f, &res, r->now, &req);

        assert_int_equal(rc, 0);
        if (req.kind == MB_REQ_DONE)
            return;
        if (req.kind == MB_REQ_WAIT) {
            assert_true(req.at >= r->now);
            r->now = req.at;
            res = (struct mb_res){.kind = MB_RES_WAITED};
            continue;
        }
        r->now += 10;
        res = (struct mb_res){.kind = dev_exec(d, &req, image, regs, &exc)};
        if (req.kind == MB_REQ_BEGIN && res.kind == MB_RES_OK) {
            exc = dev_begin(d, r->f.size, r->f.crc);
            if (exc)
                res.kind = MB_RES_EXCEPTION;
        }
        res.exception = exc;
        if (req.kind == MB_REQ_READ_IDENT && res.kind == MB_RES_OK) {
            res.ident_rc = mb_ident_decode(regs, &id);
            res.ident = &id;
        }
        if (req.kind == MB_REQ_BLOCK && res.kind == MB_RES_OK &&
            ++blocks_ok == r->stop_after_blocks)
            return;
    }
    fail_msg("planner did not finish in 10000 steps");
}

static void dev_default(struct dev *d)
{
    memset(d, 0, sizeof *d);
    strcpy(d->version, "old-1");
    strcpy(d->image_version, "new-2");
    d->battery = 90;
    d->free_kib = 64;
    d->max_block = 240;
}

static void start(struct run *r, const char *expect)
{
    memset(r, 0, sizeof *r);
    r->stop_after_blocks = -1;
    mb_flash_init(&r->f, NULL, IMG_SIZE, IMG_CRC, expect);
}

static int setup_image(void **state)
{
    (void)state;
    for (size_t i = 0; i < IMG_SIZE; i++)
        image[i] = (uint8_t)(i * 7 + 3);
    return 0;
}

static void flash_clean(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    start(&r, "new-2");
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_string_equal(r.f.new_version, "new-2");
    assert_string_equal(d.version, "new-2");
    assert_memory_equal(d.staged, image, IMG_SIZE);
    assert_int_equal(r.f.blocks_sent, 5); /* 4 x 240 + 40 */
    assert_int_equal(d.begins, 1);
    assert_int_equal(d.applies, 1);
    assert_false(r.f.resumed);
}

static void flash_small_max_block(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.max_block = 64;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(r.f.blocks_sent, 16); /* 15 x 64 + 40 */
    assert_memory_equal(d.staged, image, IMG_SIZE);
}

static void lost_reply_is_retransmitted_not_restarted(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.drop_reply_after_store = 2;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(r.f.retries, 2);
    assert_int_equal(d.resent_acked, 0);
    assert_memory_equal(d.staged, image, IMG_SIZE);
}

static void busy_waits_without_spending_tries(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.busy = 10; /* more than `tries`: must not fail */
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(r.f.busy_waits, 10);
    assert_int_equal(r.f.retries, 0);
}

static void busy_forever_fails(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.busy = 1000000;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_FAILED);
    assert_string_equal(r.f.reason, "device busy for too long");
}

static void silent_device_fails_after_tries(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.timeouts = 3;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_FAILED);
    assert_non_null(strstr(r.f.reason, "no answer after 3 tries"));
    /* two timeouts only: the third try succeeds */
    dev_default(&d);
    d.timeouts = 2;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
}

/* The gateway is killed after k blocks, restarted: it resumes from the
 * device's `received`, and never sends an acknowledged byte again. */
static void resume_after_gateway_kill(void **state)
{
    (void)state;
    for (int k = 1; k <= 4; k++) {
        struct dev d;
        struct run r;
        uint32_t before;

        dev_default(&d);
        start(&r, NULL);
        r.stop_after_blocks = k;
        run(&r, &d);
        before = d.received;
        assert_int_equal(before, (uint32_t)k * 240);
        start(&r, NULL);
        run(&r, &d);
        assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
        assert_true(r.f.resumed);
        assert_int_equal(r.f.resumed_from, before);
        assert_int_equal(r.f.blocks_sent, 5 - k);
        assert_int_equal(d.resent_acked, 0);
        assert_memory_equal(d.staged, image, IMG_SIZE);
    }
}

static void other_image_in_progress_restarts(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.state = MB_DEV_RECEIVING;
    d.size = IMG_SIZE;
    d.crc = IMG_CRC ^ 1; /* another image */
    d.received = 480;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_false(r.f.resumed);
    assert_int_equal(r.f.blocks_sent, 5);
}

static void resume_at_verified_and_applying(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.state = MB_DEV_VERIFIED;
    d.size = IMG_SIZE;
    d.crc = IMG_CRC;
    d.received = IMG_SIZE;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(r.f.blocks_sent, 0);
    assert_int_equal(d.applies, 1);

    dev_default(&d);
    d.state = MB_DEV_APPLYING;
    d.size = IMG_SIZE;
    d.crc = IMG_CRC;
    d.received = IMG_SIZE;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(d.applies, 0); /* never APPLY twice */
    assert_int_equal(d.begins, 0);
    assert_string_equal(r.f.new_version, "new-2");

    /* killed after the device finished APPLY: idle, all received, no
     * error, last BEGIN ours. Without a known target version too. */
    dev_default(&d);
    strcpy(d.version, "new-2");
    d.state = MB_DEV_IDLE;
    d.size = IMG_SIZE;
    d.crc = IMG_CRC;
    d.received = IMG_SIZE;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(d.begins + d.blocks + d.applies, 0);
    assert_string_equal(r.f.reason, "device already applied the image");

    /* but an ABORTed transfer of the same image starts again */
    dev_default(&d);
    d.state = MB_DEV_IDLE;
    d.error = MB_DEVERR_ABORTED;
    d.size = IMG_SIZE;
    d.crc = IMG_CRC;
    d.received = 0;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(d.begins, 1);
    assert_int_equal(r.f.blocks_sent, 5);
}

static void already_running_target(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    strcpy(d.version, "new-2");
    start(&r, "new-2");
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(d.begins, 0);
    assert_string_equal(r.f.reason, "device already runs the image");
}

static void crc_mismatch_is_integrity(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.crc_bad = 1;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_INTEGRITY);
    assert_int_equal(d.applies, 0);
    assert_string_equal(d.version, "old-1");
}

static void apply_fail_keeps_old_version(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.apply_fail = 1;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_FAILED);
    assert_non_null(strstr(r.f.reason, "keeps 'old-1'"));
}

static void slow_apply_is_polled(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.apply_silent_polls = 20; /* 20 x 0.5 s: inside the 60 s timeout */
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(d.applies, 1);

    dev_default(&d);
    d.apply_silent_polls = 1000; /* never back */
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_FAILED);
    assert_int_equal(d.applies, 1);
    assert_true(r.now >= 60000);
}

static void too_large_is_no_space(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    d.free_kib = 0;
    start(&r, NULL);
    run(&r, &d);
    assert_int_equal(r.f.result, MB_FLASH_NO_SPACE);
    assert_int_equal(d.begins, 0);
}

static void wrong_profile_refused(void **state)
{
    struct mb_flash f;
    struct mb_req req;
    struct mb_res res = {.kind = MB_RES_START};
    uint16_t regs[MB_IDENT_REGS];
    struct mb_ident id;

    (void)state;
    mb_flash_init(&f, NULL, 10, 1, NULL);
    assert_int_equal(mb_flash_next(&f, &res, 0, &req), 0);
    assert_int_equal(req.kind, MB_REQ_READ_IDENT);
    ident_regs(regs, "x", 1, 1, 240, 0, 0, 0, 0, 0);
    regs[0] = 0x1234;
    res = (struct mb_res){.kind = MB_RES_OK,
                          .ident_rc = mb_ident_decode(regs, &id),
                          .ident = &id};
    assert_int_equal(mb_flash_next(&f, &res, 10, &req), 0);
    assert_int_equal(req.kind, MB_REQ_DONE);
    assert_int_equal(f.result, MB_FLASH_FAILED);
    assert_string_equal(f.reason, "not a SOTA-Modbus profile 1 device");
    assert_int_equal(mb_flash_next(&f, &res, 20, &req), GW_E_STATE);
}

/* Exception 03 on a block (the device lost its staged data, e.g. an ABORT
 * from elsewhere): re-read and continue from what the device says. */
static void exception03_resyncs(void **state)
{
    struct dev d;
    struct run r;

    (void)state;
    dev_default(&d);
    start(&r, NULL);
    r.stop_after_blocks = 2;
    run(&r, &d);
    /* the device restarted from zero behind our back */
    d.state = MB_DEV_IDLE;
    d.received = 0;
    d.max_acked = 0;
    {
        struct mb_res res = {.kind = MB_RES_OK};
        struct mb_req req;
        uint16_t regs[MB_IDENT_REGS];
        struct mb_ident id;
        int exc = 0;

        /* the planner's next request is block 3; the device refuses it */
        assert_int_equal(mb_flash_next(&r.f, &res, r.now, &req), 0);
        assert_int_equal(req.kind, MB_REQ_BLOCK);
        assert_int_equal(dev_exec(&d, &req, image, regs, &exc),
                         MB_RES_EXCEPTION);
        res = (struct mb_res){.kind = MB_RES_EXCEPTION, .exception = exc};
        assert_int_equal(mb_flash_next(&r.f, &res, r.now, &req), 0);
        assert_int_equal(req.kind, MB_REQ_READ_IDENT);
        assert_int_equal(r.f.phase, MB_PH_RESYNC);
        assert_int_equal(dev_exec(&d, &req, image, regs, &exc), MB_RES_OK);
        res = (struct mb_res){.kind = MB_RES_OK,
                              .ident_rc = mb_ident_decode(regs, &id),
                              .ident = &id};
        assert_int_equal(mb_flash_next(&r.f, &res, r.now, &req), 0);
        assert_int_equal(req.kind, MB_REQ_BEGIN);
        assert_int_equal(r.f.offset, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ident_decodes),
        cmocka_unit_test(ident_rejects),
        cmocka_unit_test(encodes_profile_example),
        cmocka_unit_test(flash_clean),
        cmocka_unit_test(flash_small_max_block),
        cmocka_unit_test(lost_reply_is_retransmitted_not_restarted),
        cmocka_unit_test(busy_waits_without_spending_tries),
        cmocka_unit_test(busy_forever_fails),
        cmocka_unit_test(silent_device_fails_after_tries),
        cmocka_unit_test(resume_after_gateway_kill),
        cmocka_unit_test(other_image_in_progress_restarts),
        cmocka_unit_test(resume_at_verified_and_applying),
        cmocka_unit_test(already_running_target),
        cmocka_unit_test(crc_mismatch_is_integrity),
        cmocka_unit_test(apply_fail_keeps_old_version),
        cmocka_unit_test(slow_apply_is_polled),
        cmocka_unit_test(too_large_is_no_space),
        cmocka_unit_test(wrong_profile_refused),
        cmocka_unit_test(exception03_resyncs),
    };
    return cmocka_run_group_tests(tests, setup_image, NULL);
}
