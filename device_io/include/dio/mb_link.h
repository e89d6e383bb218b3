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

/* Connect a Modbus TCP context (made with modbus_new_tcp_pi) to
 * host:port without modbus_connect(), whose connect waits with select() on
 * the new socket whatever its number (dio/fd_place.h): here the socket is
 * connected with poll() within timeout_ms, moved above FD_SETSIZE, and
 * handed to ctx with modbus_set_socket(). The caller then runs libmodbus on
 * a borrowed low slot only. Returns the socket, or -errno (-ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH when host does not resolve). */
int mb_link_connect_tcp(modbus_t *ctx, const char *host, unsigned port,
                        int timeout_ms);

/* Execute one request of planner f (image holds f->size bytes). READ_IDENT
 * fills *ident and res->ident. Errors map to the result kinds: a Modbus
 * exception to MB_RES_EXCEPTION with its code, ETIMEDOUT and a garbled reply
 * (bad CRC, bad data) to MB_RES_TIMEOUT, anything else (connection reset, port
 * gone) to MB_RES_IO_ERROR. MB_REQ_WAIT and MB_REQ_DONE are not requests:
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
 * by the callback. A single-device helper (tests, tools): it reconnects
 * with modbus_connect(), so ctx's descriptors must stay below FD_SETSIZE;
 * the daemon runs flashes through its bus threads instead. */
int mb_link_flash(modbus_t *ctx, struct mb_flash *f, const uint8_t *image,
                  mb_link_progress_fn *progress, void *progress_ctx);

#endif
