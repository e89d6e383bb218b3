/* fake_bus.h: an in-memory implementation of dio/mb_bus.h for
 * the worker's tests: one simulated field device (SOTA-Modbus profile 1,
 * modelled at the level of the decoded identity block) answers every URI.
 * Reads and flashes complete through the loop (a zero timer), never inside
 * the call that queued them; flashes run the real planner (dio/mb_flash.h)
 * against the model, with virtual time for its waits. */
#ifndef FAKE_BUS_H
#define FAKE_BUS_H

#include <stdint.h>

#include "dio/mb_bus.h"

#define FAKE_IMAGE_MAX (64 * 1024)

struct fake_dev {
    struct mb_ident id;                    /* what READ_IDENT returns */
    char next_version[MB_VERSION_MAX + 1]; /* version after APPLY */
    uint16_t free_after;                   /* free_kib after APPLY */
    int ident_fails;               /* read errors to return next (-ETIMEDOUT) */
    int flashes;                   /* flashes started */
    uint8_t image[FAKE_IMAGE_MAX]; /* bytes received */
};

struct fake_dev *fake_bus_dev(struct mb_bus_set *bs);

#endif
