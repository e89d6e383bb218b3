/* test_fsim_model.c: the device logic and image conventions, in memory.
 * The same rules are exercised end to end over Modbus in
 * test_fsim_modbus.c; here they run without sockets or time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "fsim_dev.h"
#include "fsim_image.h"
#include "gw/err.h"

#define MEM_CAP 4096

struct mem_store {
    uint8_t data[MEM_CAP];
    size_t len;
    struct fsim_record saved;
    int saves;
    int fail_writes;
};

static int mem_write(void *ctx, uint32_t off, const uint8_t *p, size_t n)
{
    struct mem_store *m = ctx;

    if (m->fail_writes || off + n > MEM_CAP)
        return -5;
    memcpy(m->data + off, p, n);
    if (off + n > m->len)
        m->len = off + n;
    return 0;
}

static int mem_read(void *ctx, uint32_t off, uint8_t *p, size_t n)
{
    struct mem_store *m = ctx;

    if (off + n > m->len)
        return GW_E_CORRUPT;
    memcpy(p, m->data + off, n);
    return 0;
}

static int mem_erase(void *ctx)
{
    struct mem_store *m = ctx;

    m->len = 0;
    return 0;
}

static int mem_save(void *ctx, const struct fsim_record *rec)
{
    struct mem_store *m = ctx;

    m->saved = *rec;
    m->saves++;
    return 0;
}

static const struct fsim_store_ops mem_ops = {mem_write, mem_read, mem_erase,
                                              mem_save};

static void req_cmd(struct fsim_req *r, uint16_t cmd, uint32_t size,
                    uint32_t crc)
{
    memset(r, 0, sizeof *r);
    r->function = 0x10;
    r->addr = FSIM_HR_CMD;
    r->count = cmd == FSIM_CMD_BEGIN ? 5 : 1;
    r->regs[0] = cmd;
    r->regs[1] = (uint16_t)(size >> 16);
    r->regs[2] = (uint16_t)size;
    r->regs[3] = (uint16_t)(crc >> 16);
    r->regs[4] = (uint16_t)crc;
}

static void req_block(struct fsim_req *r, uint32_t off, const uint8_t *p,
                      uint16_t len)
{
    uint16_t i;

    memset(r, 0, sizeof *r);
    r->function = 0x10;
    r->addr = FSIM_HR_BLOCK;
    r->count = (uint16_t)(3 + (len + 1) / 2);
    r->regs[0] = (uint16_t)(off >> 16);
    r->regs[1] = (uint16_t)off;
    r->regs[2] = len;
    for (i = 0; i < len; i++)
        r->regs[3 + i / 2] |= (uint16_t)(i % 2 ? p[i] : p[i] << 8);
}

static void read_ir(struct fsim_dev *dev, int64_t now, struct fsim_rsp *rsp)
{
    struct fsim_req r = {.function = 0x04, .addr = 0, .count = 28};

    fsim_dev_handle(dev, now, &r, rsp);
    assert_int_equal(rsp->action, FSIM_ACT_REPLY);
}

static struct fsim_dev *new_dev(struct mem_store *m,
                                struct fsim_dev_config *cfg)
{
    struct fsim_dev *dev = fsim_dev_new(cfg, &mem_ops, m, NULL);

    assert_non_null(dev);
    return dev;
}

/* The profile's worked example: 500 bytes, CRC-32 0x1C291CA3, max_block
 * 240, three blocks, VERIFY, APPLY, new version from the marker. */
static void test_worked_example(void **state)
{
    static struct mem_store m;
    struct fsim_dev_config cfg;
    struct fsim_dev *dev;
    struct fsim_req req;
    struct fsim_rsp rsp;
    uint8_t img[500];
    size_t pos;
    uint32_t off;

    (void)state;
    memset(&m, 0, sizeof m);
    assert_int_equal(fsim_image_make(img, sizeof img, "2.0.0", 7), 0);
    assert_int_equal(fsim_image_crc_patch_pos(sizeof img, &pos), 0);
    assert_int_equal(fsim_image_force_crc(img, sizeof img, pos, 0x1C291CA3u),
                     0);
    assert_int_equal(crc32(0L, img, sizeof img), 0x1C291CA3u);

    fsim_dev_config_init(&cfg, 1);
    cfg.faults.verify_ms = 100;
    cfg.faults.apply_ms = 1000;
    dev = new_dev(&m, &cfg);
    read_ir(dev, 0, &rsp);
    assert_int_equal(rsp.regs[0], 0x5301);
    assert_int_equal(rsp.regs[1], ('1' << 8) | '.');
    assert_int_equal(rsp.regs[18], 256);
    assert_int_equal(rsp.regs[19], 240);
    assert_int_equal(rsp.regs[17], 0xFFFF);

    req_cmd(&req, FSIM_CMD_BEGIN, 500, 0x1C291CA3u);
    fsim_dev_handle(dev, 1, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_REPLY);
    for (off = 0; off < 500; off += 240) {
        uint16_t len = (uint16_t)(500 - off < 240 ? 500 - off : 240);

        req_block(&req, off, img + off, len);
        fsim_dev_handle(dev, 2, &req, &rsp);
        assert_int_equal(rsp.action, FSIM_ACT_REPLY);
        assert_int_equal(m.saved.received, off + len);
    }
    assert_int_equal(req.count, 13); /* last block: 3 + 10 registers */
    req_cmd(&req, FSIM_CMD_VERIFY, 0, 0);
    fsim_dev_handle(dev, 10, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_REPLY);
    read_ir(dev, 50, &rsp);
    assert_int_equal(rsp.regs[20], FSIM_STATE_VERIFYING);
    assert_int_equal(fsim_dev_next_deadline(dev), 110);
    read_ir(dev, 110, &rsp);
    assert_int_equal(rsp.regs[20], FSIM_STATE_VERIFIED);

    req_cmd(&req, FSIM_CMD_APPLY, 0, 0);
    fsim_dev_handle(dev, 200, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_REPLY);
    req.function = 0x04;
    req.addr = 0;
    req.count = 28;
    fsim_dev_handle(dev, 500, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_SILENT);
    read_ir(dev, 1200, &rsp);
    assert_int_equal(rsp.regs[20], FSIM_STATE_IDLE);
    assert_string_equal(fsim_dev_get_record(dev)->version, "2.0.0");
    assert_int_equal(rsp.regs[1], ('2' << 8) | '.');
    fsim_dev_free(dev);
}

static void test_block_rules(void **state)
{
    static struct mem_store m;
    struct fsim_dev_config cfg;
    struct fsim_dev *dev;
    struct fsim_req req;
    struct fsim_rsp rsp;
    uint8_t img[100];
    uint8_t other[10];

    (void)state;
    memset(&m, 0, sizeof m);
    assert_int_equal(fsim_image_make(img, sizeof img, "x", 1), 0);
    memset(other, 0xAA, sizeof other);
    fsim_dev_config_init(&cfg, 3);
    cfg.max_block = 20;
    dev = new_dev(&m, &cfg);

    /* A block before BEGIN: not allowed in state 0, nothing changes. */
    req_block(&req, 0, img, 10);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_EXCEPTION);
    assert_int_equal(rsp.exception, 3);
    assert_int_equal(fsim_dev_get_record(dev)->error, 0);

    req_cmd(&req, FSIM_CMD_BEGIN, 100, (uint32_t)crc32(0L, img, 100));
    fsim_dev_handle(dev, 0, &req, &rsp);
    req_block(&req, 0, img, 20);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_REPLY);
    /* Retransmission of stored bytes: accepted, nothing changes. */
    req_block(&req, 10, img + 10, 10);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_REPLY);
    assert_int_equal(fsim_dev_get_record(dev)->received, 20);
    /* Same offset, different bytes: error 1. */
    req_block(&req, 10, other, 10);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 3);
    assert_int_equal(fsim_dev_get_record(dev)->error, 1);
    /* A gap: error 1, received unchanged. */
    req_block(&req, 40, img + 40, 20);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 3);
    assert_int_equal(fsim_dev_get_record(dev)->received, 20);
    /* Longer than max_block. */
    memset(&req, 0, sizeof req);
    req_block(&req, 20, img + 20, 22);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 3);
    /* Odd length, then past the end. */
    req_block(&req, 20, img + 20, 19);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_REPLY);
    assert_int_equal(fsim_dev_get_record(dev)->received, 39);
    assert_int_equal(fsim_dev_get_record(dev)->error, 0);
    /* VERIFY before all bytes are in. */
    req_cmd(&req, FSIM_CMD_VERIFY, 0, 0);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 3);
    /* APPLY outside state 3. */
    req_cmd(&req, FSIM_CMD_APPLY, 0, 0);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 3);
    /* Storage failure: exception 04, error 3. */
    m.fail_writes = 1;
    req_block(&req, 39, img + 39, 20);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 4);
    assert_int_equal(fsim_dev_get_record(dev)->error, 3);
    assert_int_equal(fsim_dev_get_record(dev)->received, 39);
    m.fail_writes = 0;
    /* Resume: same size and crc keeps received; a new crc restarts. */
    req_cmd(&req, FSIM_CMD_BEGIN, 100, (uint32_t)crc32(0L, img, 100));
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(fsim_dev_get_record(dev)->received, 39);
    req_cmd(&req, FSIM_CMD_BEGIN, 100, 1);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(fsim_dev_get_record(dev)->received, 0);
    /* Too large: exception 03, state 5, error 4. */
    req_cmd(&req, FSIM_CMD_BEGIN, 256 * 1024 + 1, 1);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 3);
    assert_int_equal(fsim_dev_get_record(dev)->state, FSIM_STATE_FAILED);
    assert_int_equal(fsim_dev_get_record(dev)->error, 4);
    /* ABORT from anywhere. */
    req_cmd(&req, FSIM_CMD_ABORT, 0, 0);
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.action, FSIM_ACT_REPLY);
    assert_int_equal(fsim_dev_get_record(dev)->state, FSIM_STATE_IDLE);
    assert_int_equal(fsim_dev_get_record(dev)->error, 7);
    /* Unknown function and address. */
    req.function = 0x06;
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 1);
    req.function = 0x04;
    req.addr = 20;
    req.count = 9;
    fsim_dev_handle(dev, 0, &req, &rsp);
    assert_int_equal(rsp.exception, 2);
    fsim_dev_free(dev);
}

static void test_restart_completes_apply(void **state)
{
    static struct mem_store m;
    struct fsim_dev_config cfg;
    struct fsim_record rec;
    struct fsim_dev *dev;
    uint8_t img[80];

    (void)state;
    memset(&m, 0, sizeof m);
    assert_int_equal(fsim_image_make(img, sizeof img, "9.9", 3), 0);
    memcpy(m.data, img, sizeof img);
    m.len = sizeof img;
    memset(&rec, 0, sizeof rec);
    strcpy(rec.version, "1.0");
    rec.state = FSIM_STATE_APPLYING;
    rec.received = rec.image_size = sizeof img;
    rec.image_crc = (uint32_t)crc32(0L, img, sizeof img);
    fsim_dev_config_init(&cfg, 1);
    cfg.faults.apply_fail = 1;
    dev = fsim_dev_new(&cfg, &mem_ops, &m, &rec);
    assert_int_equal(fsim_dev_get_record(dev)->state, FSIM_STATE_FAILED);
    assert_int_equal(fsim_dev_get_record(dev)->error, 6);
    assert_string_equal(fsim_dev_get_record(dev)->version, "1.0");
    fsim_dev_free(dev);
    cfg.faults.apply_fail = 0;
    dev = fsim_dev_new(&cfg, &mem_ops, &m, &rec);
    assert_string_equal(fsim_dev_get_record(dev)->version, "9.9");
    fsim_dev_free(dev);
    /* An inconsistent record is not trusted. */
    rec.received = rec.image_size + 1;
    dev = fsim_dev_new(&cfg, &mem_ops, &m, &rec);
    assert_int_equal(fsim_dev_get_record(dev)->state, FSIM_STATE_IDLE);
    fsim_dev_free(dev);
}

static void test_marker(void **state)
{
    char v[FSIM_VERSION_MAX + 1];
    uint8_t tail[64];
    uint8_t img[300];

    (void)state;
    memset(tail, 'x', sizeof tail);
    assert_int_equal(fsim_image_find_version(tail, 64, v, sizeof v),
                     GW_E_NOTFOUND);
    memcpy(tail + 10, "SOTAVER=1.2.3", 13);
    tail[23] = '\0';
    assert_int_equal(fsim_image_find_version(tail, 64, v, sizeof v), 0);
    assert_string_equal(v, "1.2.3");
    /* Unterminated inside the tail: no marker. */
    memcpy(tail + 50, "SOTAVER=abcdef", 14);
    assert_int_equal(fsim_image_find_version(tail, 64, v, sizeof v), 0);
    assert_string_equal(v, "1.2.3");
    /* Empty version or a control character: no marker. */
    memcpy(tail + 10, "SOTAVER=\n", 9);
    assert_int_equal(fsim_image_find_version(tail, 64, v, sizeof v),
                     GW_E_NOTFOUND);
    /* A marker before the last 64 bytes does not count. */
    assert_int_equal(fsim_image_make(img, sizeof img, "7", 1), 0);
    memset(img + 236, 'y', 64);
    memcpy(img + 100, "SOTAVER=5\n", 10);
    assert_int_equal(fsim_image_find_version(img, sizeof img, v, sizeof v),
                     GW_E_NOTFOUND);
    /* Made images carry it; generation is deterministic. */
    assert_int_equal(fsim_image_make(img, sizeof img, "3.1.4-rc1", 5), 0);
    assert_int_equal(fsim_image_find_version(img, sizeof img, v, sizeof v), 0);
    assert_string_equal(v, "3.1.4-rc1");
    assert_int_equal(crc32(0L, img, sizeof img), crc32(0L, img, sizeof img));
    assert_int_equal(fsim_image_make(img, 5, "toolong", 1), GW_E_RANGE);
}

/* zlib's crc32 on the standard check value, and CRC forcing on several
 * sizes and targets. */
static void test_crc(void **state)
{
    static const uint32_t targets[] = {0, 0xFFFFFFFFu, 0x1C291CA3u,
                                       0xCBF43926u};
    uint8_t img[1000];
    size_t i;
    size_t pos;

    (void)state;
    assert_int_equal(crc32(0L, (const Bytef *)"123456789", 9), 0xCBF43926u);
    for (i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        assert_int_equal(fsim_image_make(img, 68 + 100 * i, "v", 1), 0);
        assert_int_equal(fsim_image_crc_patch_pos(68 + 100 * i, &pos), 0);
        assert_int_equal(
            fsim_image_force_crc(img, 68 + 100 * i, pos, targets[i]), 0);
        assert_int_equal(crc32(0L, img, (uInt)(68 + 100 * i)), targets[i]);
    }
    assert_int_equal(fsim_image_crc_patch_pos(67, &pos), GW_E_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_block_rules),
        cmocka_unit_test(test_restart_completes_apply),
        cmocka_unit_test(test_marker),
        cmocka_unit_test(test_crc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
