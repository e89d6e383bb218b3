/* fsim_dev.h: one simulated field device speaking the SOTA-Modbus upgrade
 * profile, version 1 (docs/MODBUS-PROFILE.md, normative).
 *
 * Pure logic: a decoded request and the current monotonic time go in, a
 * decision (reply, exception, silence, power loss) comes out. The staging
 * area and the record that survives a power cycle are reached through
 * struct fsim_store_ops, so the same code runs against files in fieldsim and
 * against memory in the unit tests. Nothing here reads a clock or a socket. */
#ifndef FSIM_DEV_H
#define FSIM_DEV_H

#include <stddef.h>
#include <stdint.h>

#include "fsim_image.h"

#define FSIM_PROFILE_ID     0x5301u
#define FSIM_IR_COUNT       28u  /* input registers 0..27 */
#define FSIM_HR_CMD         256u /* command, size (2), crc (2) */
#define FSIM_HR_CMD_COUNT   5u
#define FSIM_HR_BLOCK       512u /* offset (2), length, data (<= 120) */
#define FSIM_HR_BLOCK_COUNT 123u
#define FSIM_BLOCK_MAX      240u
#define FSIM_READ_MAX       125u /* Modbus limit for FC03/FC04 */

enum fsim_state {
    FSIM_STATE_IDLE = 0,
    FSIM_STATE_RECEIVING = 1,
    FSIM_STATE_VERIFYING = 2,
    FSIM_STATE_VERIFIED = 3,
    FSIM_STATE_APPLYING = 4,
    FSIM_STATE_FAILED = 5
};

enum fsim_error {
    FSIM_ERROR_NONE = 0,
    FSIM_ERROR_ORDER = 1,
    FSIM_ERROR_CRC = 2,
    FSIM_ERROR_FLASH = 3,
    FSIM_ERROR_TOO_LARGE = 4,
    FSIM_ERROR_REJECTED = 5,
    FSIM_ERROR_APPLY = 6,
    FSIM_ERROR_ABORTED = 7
};

enum fsim_cmd {
    FSIM_CMD_BEGIN = 1,
    FSIM_CMD_VERIFY = 2,
    FSIM_CMD_APPLY = 3,
    FSIM_CMD_ABORT = 4
};

/* Modbus exception codes the device answers with. */
enum fsim_exc {
    FSIM_EXC_ILLEGAL_FUNCTION = 0x01,
    FSIM_EXC_ILLEGAL_ADDRESS = 0x02,
    FSIM_EXC_ILLEGAL_VALUE = 0x03,
    FSIM_EXC_DEVICE_FAILURE = 0x04,
    FSIM_EXC_BUSY = 0x06
};

/* What survives a power cycle. */
struct fsim_record {
    char version[FSIM_VERSION_MAX + 1];
    enum fsim_state state;
    enum fsim_error error;
    uint32_t received;
    uint32_t image_size;
    uint32_t image_crc;
};

/* Persistent storage. Every function returns 0 or a negative error. A
 * successful data_write or record_save is durable when it returns. */
struct fsim_store_ops {
    int (*data_write)(void *ctx, uint32_t off, const uint8_t *p, size_t n);
    int (*data_read)(void *ctx, uint32_t off, uint8_t *p, size_t n);
    int (*data_erase)(void *ctx);
    int (*record_save)(void *ctx, const struct fsim_record *rec);
};

/* Fault knobs. Counts and probabilities apply to this process run. */
struct fsim_faults {
    uint32_t busy_ms;    /* exception 06 to everything for this long after
                            BEGIN and after VERIFY */
    uint32_t verify_ms;  /* how long state 2 lasts */
    uint32_t apply_ms;   /* how long state 4 lasts, device silent */
    double busy_p;       /* any request: exception 06, not processed */
    double ignore_p;     /* any request: not processed, no reply */
    double drop_p;       /* any request: processed, reply lost */
    double flash_fail_p; /* a block write: storage failure (exc 04) */
    int verify_fail;     /* the first N VERIFYs end in CRC mismatch; -1 all */
    int apply_fail;      /* the first N APPLYs fail; -1 all */
    int strict_marker;   /* APPLY of an image without marker: error 5 */
    uint32_t die_block;  /* power loss on the Nth block, before storing */
    uint32_t die_block_stored; /* power loss after storing the Nth block,
                                  before the reply */
};

struct fsim_dev_config {
    uint8_t unit;                       /* 1..247 */
    char version[FSIM_VERSION_MAX + 1]; /* factory version */
    uint16_t battery;                   /* 0..100, 0xFFFF mains */
    uint16_t free_kib;
    uint16_t max_block; /* even, 2..240 */
    uint64_t seed;      /* random faults */
    struct fsim_faults faults;
};

/* A decoded request. For FC16 regs holds `count` values. */
struct fsim_req {
    uint8_t function;
    uint16_t addr;
    uint16_t count;
    uint16_t regs[FSIM_HR_BLOCK_COUNT];
};

enum fsim_action {
    FSIM_ACT_REPLY,     /* normal reply; for reads, regs[0..count) */
    FSIM_ACT_EXCEPTION, /* exception reply with `exception` */
    FSIM_ACT_SILENT,    /* send nothing */
    FSIM_ACT_POWER_LOSS /* the shell must die now, without a reply */
};

struct fsim_rsp {
    enum fsim_action action;
    uint8_t exception;
    uint16_t count;
    uint16_t regs[FSIM_READ_MAX];
};

/* Fill cfg with defaults (no faults, profile-typical values). */
void fsim_dev_config_init(struct fsim_dev_config *cfg, uint8_t unit);

/* Validate a configuration; GW_E_RANGE with a reason in *why. */
int fsim_dev_config_check(const struct fsim_dev_config *cfg, const char **why);

/* Create a device. `loaded` is the record read back from storage, or NULL
 * for a factory-fresh device. A record caught in state 2 or 4 (power lost
 * while verifying or applying) is completed at once, as a restarting
 * device would. The config is copied; ops and store_ctx are borrowed and
 * must outlive the device. NULL on allocation failure. */
struct fsim_dev *fsim_dev_new(const struct fsim_dev_config *cfg,
                              const struct fsim_store_ops *ops, void *store_ctx,
                              const struct fsim_record *loaded);
void fsim_dev_free(struct fsim_dev *dev);

/* Handle one request. Always fills *rsp. */
void fsim_dev_handle(struct fsim_dev *dev, int64_t now_ms,
                     const struct fsim_req *req, struct fsim_rsp *rsp);

/* Advance timers (end of VERIFY or APPLY). */
void fsim_dev_tick(struct fsim_dev *dev, int64_t now_ms);

/* Earliest time fsim_dev_tick() has work, or -1 for none. */
int64_t fsim_dev_next_deadline(const struct fsim_dev *dev);

/* Borrowed; valid until the next call on dev. */
const struct fsim_record *fsim_dev_get_record(const struct fsim_dev *dev);
uint8_t fsim_dev_get_unit(const struct fsim_dev *dev);

const char *fsim_state_name(enum fsim_state state);

#endif
