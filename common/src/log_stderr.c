/* log_stderr.c: the stderr sink. One line per message, control characters
 * from device input replaced so a log line is always one line. */
#include "gw/log.h"

#include <stdio.h>
#include <time.h>

void gw_log_sink_stderr(enum gw_log_level level, const char *tag,
                        const char *obj, const char *msg, void *ctx)
{
    char clean[1024];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    size_t i;

    (void)ctx;
    for (i = 0; msg[i] != '\0' && i + 1 < sizeof clean; i++) {
        unsigned char c = (unsigned char)msg[i];
        clean[i] = (c < 0x20 || c == 0x7f) ? '.' : (char)c;
    }
    clean[i] = '\0';
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %-5s %s%s%s: %s\n", stamp, ts.tv_nsec / 1000000L,
            gw_log_level_name(level), tag, obj ? " " : "", obj ? obj : "",
            clean);
}
