/* dio/mb_link.h: the I/O half of a Modbus flash. Executes the requests of
 * the pure planner (dio/mb_flash.h) on a libmodbus context.
 *
 * Blocking: these functions run on the bus thread that owns the context
 * (one thread per serial bus: a bus is half-duplex and shared by several
 * unit ids). The caller sets the unit id (modbus_set_slave) and the
 * response timeout (default 1 s, profile) before calling. */
#ifndef DIO_MB_LINK_H
#define DIO_MB_LINK_H

#include <stdint.h>

#include <modbus.h>

#include "dio/mb_flash.h"

/* Execute one request of planner f (image holds f->size bytes). READ_IDENT fills *ident and res->ident. Errors map
 * to the result kinds: a Modbus exception to MB_RES_EXCEPTION with its
 * code, ETIMEDOUT and a garbled reply (bad CRC, bad data) to
 * MB_RES_TIMEOUT, anything else (connection reset, port gone) to
 * MB_RES_IO_ERROR. MB_REQ_WAIT and MB_REQ_DONE are not requests:
 * GW_E_INVAL. Returns 0 otherwise. */
int mb_link_exec(modbus_t *ctx, const struct mb_flash *f,
                 const struct mb_req *req, const uint8_t *image,
                 struct mb_res *res, struct mb_ident *ident);

/* Read and decode the identity block once (for the worker's cache of
 * version, battery and free space). Returns mb_ident_decode's result, or
 * -errno on a link failure (EMBXSBUSY etc. for exceptions). */
int mb_link_read_ident(modbus_t *ctx, struct mb_ident *ident);

/* Called after every request with the planner's state (bytes the device
 * acknowledged, phase). Return non-zero to stop between requests: the
 * device is left mid-transfer, which the profile resumes from `received`;
 * never between APPLY and its result (the planner is then polling, and a
 * stop there only stops polling). */
typedef int mb_link_progress_fn(const struct mb_flash *f, void *ctx);

/* Run a whole flash: the planner's loop with real waits (CLOCK_MONOTONIC).
 * `f` must have been set up with mb_flash_init(). Returns 0 when the
 * planner finished (see f->result and f->reason), GW_E_STATE when stopped
 * by the callback. */
int mb_link_flash(modbus_t *ctx, struct mb_flash *f, const uint8_t *image,
                  mb_link_progress_fn *progress, void *progress_ctx);

#endif
