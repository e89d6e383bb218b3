/* reads_clock.c: what a pure library must not do (check_purity_fixture):
 * read the monotonic clock through common's I/O half, read the wall clock
 * directly, and log (the sink the shell installs writes and timestamps). */
#define GW_LOG_TAG "fixture"

#include <stdint.h>
#include <time.h>

#include "gw/clock.h"
#include "gw/log.h"

int64_t purity_fixture_age_ms(int64_t since_ms);
int64_t purity_fixture_wall_s(void);

int64_t purity_fixture_age_ms(int64_t since_ms)
{
    GW_LOG(GW_LOG_DEBUG, NULL, "age since %lld", (long long)since_ms);
    return gw_now_ms() - since_ms;
}

int64_t purity_fixture_wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}
