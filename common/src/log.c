/* log.c: the log dispatcher. Formats into a bounded buffer and hands the
 * message to the installed sink. No sink, no output: pure code may log. */
#include "gw/log.h"

#include <stdio.h>

static gw_log_sink_fn *log_sink; /* set once at start-up */
static void *log_sink_ctx;
static enum gw_log_level log_max = GW_LOG_INFO;

void gw_log_set_sink(gw_log_sink_fn *sink, void *ctx, enum gw_log_level max)
{
    log_sink = sink;
    log_sink_ctx = ctx;
    log_max = max;
}

int gw_log_enabled(enum gw_log_level level)
{
    return log_sink != NULL && level <= log_max;
}

const char *gw_log_level_name(enum gw_log_level level)
{
    switch (level) {
    case GW_LOG_ERR: return "error";
    case GW_LOG_WARN: return "warn";
    case GW_LOG_INFO: return "info";
    case GW_LOG_DEBUG: return "debug";
    }
    return "?";
}

void gw_log(enum gw_log_level level, const char *tag, const char *obj,
            const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!gw_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap); /* truncation is acceptable here */
    va_end(ap);
    log_sink(level, tag, obj, msg, log_sink_ctx);
}
