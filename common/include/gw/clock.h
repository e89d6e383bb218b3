/* gw/clock.h: the clocks, for shells only (gw_common_sys).
 *
 * Pure code never reads a clock: it takes `now` (monotonic milliseconds) as
 * an argument. Shells read gw_now_ms() once per event-loop turn. */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t gw_now_ms(void);

/* CLOCK_REALTIME in milliseconds since the epoch (for records and logs). */
int64_t gw_wall_ms(void);

#endif
