/* dio/mb_flash.h: the SOTA-Modbus upgrade profile, version 1
 * (docs/MODBUS-PROFILE.md): register codecs and the pure
 * flash planner that drives one field device from "image staged" to "new
 * version running", block by block, resuming from the device's `received`.
 *
 * Pure: the planner takes the result of the previous request and the time,
 * and returns the next request to make. The bus thread executes requests
 * with libmodbus and feeds the outcome back. No clock, no I/O.
 *
 * The contract the planner keeps (profile, "What the gateway must do"):
 *  - it reads the identity block (FC04, 0..27) first and refuses a device
 *    whose profile register is not 0x5301;
 *  - when the device's received/image_size/image_crc match the staged image
 *    it sends BEGIN with the same size and crc and continues from received;
 *    it never starts again from zero when a resume is possible;
 *  - blocks are min(max_block, 240) bytes;
 *  - each request: up to `tries` attempts on timeout; exception 06 waits
 *    and retries without counting; exception 03 on a block re-reads the
 *    identity block and continues from `received`;
 *  - after APPLY it polls the identity block until the device answers in
 *    state 0 (success: new sw_version) or 5 (failed), within the apply
 *    timeout; APPLY is never sent twice;
 *  - a device found idle, without error, whose last BEGIN was this image
 *    and which received all of it has applied it (only APPLY leaves that
 *    state; ABORT zeroes `received`): done, nothing is sent.
 */
#ifndef DIO_MB_FLASH_H
#define DIO_MB_FLASH_H

#include <stddef.h>
#include <stdint.h>

#define MB_PROFILE_ID     0x5301
#define MB_IDENT_ADDR     0
#define MB_IDENT_REGS     28
#define MB_CMD_ADDR       256
#define MB_BLOCK_ADDR     512
#define MB_BLOCK_MAX      240 /* bytes: 3 + 120 registers = 123, FC16 max */
#define MB_BLOCK_REGS_MAX 123
#define MB_VERSION_MAX    32
#define MB_BATTERY_MAINS  0xFFFF

enum mb_dev_state {
    MB_DEV_IDLE = 0,
    MB_DEV_RECEIVING = 1,
    MB_DEV_VERIFYING = 2,
    MB_DEV_VERIFIED = 3,
    MB_DEV_APPLYING = 4,
    MB_DEV_FAILED = 5
};

enum mb_dev_error {
    MB_DEVERR_NONE = 0,
    MB_DEVERR_OFFSET = 1,
    MB_DEVERR_CRC = 2,
    MB_DEVERR_FLASH = 3,
    MB_DEVERR_TOO_LARGE = 4,
    MB_DEVERR_REJECTED = 5,
    MB_DEVERR_APPLY = 6,
    MB_DEVERR_ABORTED = 7
};

enum mb_command {
    MB_CMD_BEGIN = 1,
    MB_CMD_VERIFY = 2,
    MB_CMD_APPLY = 3,
    MB_CMD_ABORT = 4
};

/* The decoded identity block (input registers 0..27). */
struct mb_ident {
    uint16_t profile;
    char sw_version[MB_VERSION_MAX + 1];
    int battery; /* 0..100; mains powered reads as 100 */
    int mains;   /* 1 when the register was 0xFFFF */
    uint16_t free_kib;
    uint16_t max_block;
    enum mb_dev_state state;
    enum mb_dev_error error;
    uint32_t received;
    uint32_t image_size;
    uint32_t image_crc;
};

/* Decode 28 input registers. GW_E_PROTO for a profile other than 0x5301;
 * GW_E_RANGE for a field out of range (battery 101..0xFFFE, max_block odd
 * or outside 2..240, state > 5, error > 7, received > image_size); GW_E_INVAL
 * for a version with a non-printable character. `out` is filled as far as
 * possible even on error, for logs. */
int mb_ident_decode(const uint16_t regs[MB_IDENT_REGS], struct mb_ident *out);

/* Encode the registers of one write, starting at MB_CMD_ADDR or
 * MB_BLOCK_ADDR. Return the register count or a GW_E_* code. */
int mb_encode_begin(uint32_t size, uint32_t crc, uint16_t regs[5]);
int mb_encode_block(uint32_t offset, const uint8_t *data, size_t len,
                    uint16_t regs[MB_BLOCK_REGS_MAX]);

/* ---- the planner ------------------------------------------------------- */

struct mb_flash_config {
    int tries;                 /* attempts per request on timeout (3) */
    int64_t busy_wait_ms;      /* wait after exception 06 (200) */
    int64_t busy_max_ms;       /* give up after this much busy (30000) */
    int64_t poll_interval_ms;  /* between identity polls (500) */
    int64_t verify_timeout_ms; /* VERIFY until state 3 or 5 (30000) */
    int64_t apply_timeout_ms;  /* APPLY until state 0 or 5 (60000) */
    int max_resyncs;           /* exception-03 re-reads before failing (8) */
};

void mb_flash_config_default(struct mb_flash_config *cfg);

/* What the bus thread must do next. */
enum mb_req_kind {
    MB_REQ_READ_IDENT, /* FC04 read MB_IDENT_ADDR, MB_IDENT_REGS */
    MB_REQ_BEGIN,      /* FC16 at MB_CMD_ADDR: mb_encode_begin(size, crc) */
    MB_REQ_BLOCK,      /* FC16 at MB_BLOCK_ADDR: mb_encode_block(offset,
                          image + offset, len) */
    MB_REQ_VERIFY,     /* FC16 at MB_CMD_ADDR: [2] */
    MB_REQ_APPLY,      /* FC16 at MB_CMD_ADDR: [3] */
    MB_REQ_WAIT,       /* do nothing until `at`, then call mb_flash_next
                          with MB_RES_WAITED */
    MB_REQ_DONE,       /* finished: see mb_flash.result */
};

struct mb_req {
    enum mb_req_kind kind;
    uint32_t offset; /* BLOCK */
    uint32_t len;    /* BLOCK */
    int64_t at;      /* WAIT: absolute monotonic ms */
};

/* The outcome of the request the planner asked for. */
enum mb_res_kind {
    MB_RES_START,     /* first call: no request made yet */
    MB_RES_OK,        /* the request succeeded (ident: with `ident`) */
    MB_RES_TIMEOUT,   /* no answer within the response timeout */
    MB_RES_EXCEPTION, /* Modbus exception `exception` */
    MB_RES_IO_ERROR,  /* link failure (port gone, connection refused) */
    MB_RES_WAITED     /* the MB_REQ_WAIT time has come */
};

struct mb_res {
    enum mb_res_kind kind;
    int exception;                /* EXCEPTION: 1..11 */
    const struct mb_ident *ident; /* OK after READ_IDENT; may be NULL
                                     when the block failed to decode */
    int ident_rc;                 /* mb_ident_decode's return for it */
};

/* How a flash ended (OMA 5/0/5 result codes where they exist). */
enum mb_flash_result {
    MB_FLASH_RUNNING = -1,
    MB_FLASH_SUCCESS = 1,   /* device runs the new version */
    MB_FLASH_NO_SPACE = 2,  /* image larger than free_kib */
    MB_FLASH_INTEGRITY = 5, /* CRC mismatch at VERIFY */
    MB_FLASH_FAILED = 8     /* apply failed, device unreachable,
                               not a profile-1 device, ... */
};

enum mb_flash_phase {
    MB_PH_IDENT, /* reading the identity block before starting */
    MB_PH_BEGIN,
    MB_PH_BLOCKS,
    MB_PH_RESYNC, /* re-reading received after an exception 03 */
    MB_PH_VERIFY, /* VERIFY sent, polling for state 3/5 */
    MB_PH_APPLY,  /* APPLY sent, polling for state 0/5 */
    MB_PH_DONE
};

struct mb_flash {
    struct mb_flash_config cfg;
    uint32_t size, crc; /* the staged image */
    enum mb_flash_phase phase;
    struct mb_req last;                      /* the request in flight */
    struct mb_req after_wait;                /* what a WAIT is followed by */
    char expect_version[MB_VERSION_MAX + 1]; /* "" when unknown */
    uint32_t offset;                         /* next byte to send */
    uint32_t block;                          /* bytes per block */
    uint32_t acked;                          /* bytes the device acknowledged */
    int tries_left;
    int resyncs;
    int64_t busy_since; /* -1 when not busy */
    int64_t deadline;   /* VERIFY/APPLY poll deadline */
    enum mb_flash_result result;
    char reason[96]; /* why it ended, for events and logs */
    char new_version[MB_VERSION_MAX + 1];
    int resumed; /* 1 when BEGIN resumed a transfer */
    uint32_t resumed_from;
    /* counters for metrics and tests */
    uint32_t blocks_sent, retries, busy_waits;
};

/* Prepare a flash of an image of `size` bytes with CRC-32 `crc`.
 * expect_version (NULL or "" when unknown) is the version the image
 * carries: a device already running it is done without a transfer (the
 * gateway was stopped after APPLY, before it recorded the result). */
void mb_flash_init(struct mb_flash *f, const struct mb_flash_config *cfg,
                   uint32_t size, uint32_t crc, const char *expect_version);

/* Feed the outcome of the last request (MB_RES_START on the first call)
 * and get the next one. Returns 0, or GW_E_STATE when called after DONE. */
int mb_flash_next(struct mb_flash *f, const struct mb_res *res, int64_t now,
                  struct mb_req *req);

const char *mb_flash_phase_name(enum mb_flash_phase phase);

#endif
