/* dio/mb_bus.h: Modbus buses. One thread per physical bus runs the blocking
 * libmodbus calls for every unit id on it, one request at a time (RS-485 is
 * half-duplex and shared). A bus is keyed by its link: the RTU device path
 * (with its line settings), or the TCP host:port.
 *
 * All functions are called on the loop thread. Callbacks run on the loop
 * thread (delivered through uv_async), never on a bus thread.
 *
 * A flash is one long job on its bus, run request by request with the pure
 * planner (dio/mb_flash.h) through dio/mb_link.h. Between two of its
 * requests the bus thread serves the identity reads queued for other unit
 * ids on the same bus, so the cached data of every other modem stays fresh
 * during a flash of minutes. At most policy.flash_per_bus flashes run at
 * once per bus; further ones wait in FIFO order.
 *
 * The caller adapts its own configuration to struct mb_bus_policy: this
 * module knows nothing of the daemon's config file. */
#ifndef DIO_MB_BUS_H
#define DIO_MB_BUS_H

#include <stdint.h>

#include <uv.h>

#include "dio/mb_flash.h"
#include "dio/mb_uri.h"

/* Longest staged image path mb_bus_flash() takes, incl. the NUL. */
#define MB_BUS_PATH_MAX 256

struct mb_bus_set;
struct mb_bus_dev; /* one unit id on one bus */

struct mb_bus_policy {
    unsigned flash_per_bus;       /* >= 1 */
    int64_t response_timeout_ms;  /* per request (profile default 1000) */
    struct mb_flash_config flash; /* planner tuning */
};

/* A set of buses on loop, none started yet (a bus thread starts with the
 * first unit on its link). GW_E_RANGE for a policy out of range
 * (flash_per_bus 0, response_timeout_ms outside 1..60000). */
int mb_bus_set_new(struct mb_bus_set **out, uv_loop_t *loop,
                   const struct mb_bus_policy *policy);

/* Stop every bus thread and free. A running flash is stopped between two
 * requests: the device keeps what it acknowledged and the next flash
 * resumes from its `received`. No callback runs after this returns.
 * NULL-safe. */
void mb_bus_set_free(struct mb_bus_set *bs);

/* A handle for the unit of uri, on the bus thread for uri's link (created
 * on first use). Reference-counted: mb_bus_dev_put() releases it. */
int mb_bus_dev_get(struct mb_bus_set *bs, const struct mb_uri *uri,
                   struct mb_bus_dev **out);
void mb_bus_dev_put(struct mb_bus_dev *d);

/* A short text naming the bus ("rtu:/dev/ttyS1" or "tcp:127.0.0.1:1502")
 * and the unit, for logs and the dashboard. */
const char *mb_bus_dev_name(const struct mb_bus_dev *d);

/* Read the identity block. rc is 0 with *id filled, GW_E_PROTO for a device
 * that is not profile 1, another GW_E_* for an invalid block, or -errno /
 * -ETIMEDOUT when the device did not answer. */
typedef void mb_bus_ident_fn(void *ctx, int rc, const struct mb_ident *id);
int mb_bus_read_ident(struct mb_bus_dev *d, mb_bus_ident_fn *cb, void *ctx);

struct mb_bus_flash_req {
    const char *image_path;     /* read by the bus thread (copied); shorter
                                   than MB_BUS_PATH_MAX */
    uint32_t size, crc;         /* CRC-32 (zlib) of the image */
    const char *expect_version; /* NULL or "" when unknown (copied) */
};

/* Progress after every request of the flash: bytes the device has
 * acknowledged, and the planner's phase. */
typedef void mb_bus_flash_progress_fn(void *ctx, uint32_t acked,
                                      enum mb_flash_phase phase);
/* The end of a flash: f->result, f->reason, f->new_version, counters. */
typedef void mb_bus_flash_done_fn(void *ctx, const struct mb_flash *f);

int mb_bus_flash(struct mb_bus_dev *d, const struct mb_bus_flash_req *req,
                 mb_bus_flash_progress_fn *progress, mb_bus_flash_done_fn *done,
                 void *ctx);

/* Withdraw every request queued or running for ctx (its owner is going
 * away or pausing). A running flash stops between two requests: before
 * APPLY the device keeps what it acknowledged and the next flash resumes
 * from its `received`; after APPLY the device installs on its own and the
 * next flash recognises the applied image (dio/mb_flash.h). Nothing here
 * can leave a device half-applied. No callback for ctx runs after this
 * returns. */
void mb_bus_cancel(struct mb_bus_dev *d, void *ctx);

#endif
