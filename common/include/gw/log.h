/* gw/log.h: levelled logging with a module tag and an object id.
 *
 * The dispatcher lives in the pure gw_common library and writes nothing by
 * itself: until a shell installs a sink with gw_log_set_sink(), messages are
 * dropped. Shells install gw_log_sink_stderr (gw_common_sys); unit tests keep
 * the default, so they stay quiet.
 *
 * Each .c file defines GW_LOG_TAG before including this header:
 *     #define GW_LOG_TAG "sota"
 * and logs with GW_LOG(GW_LOG_INFO, obj_id, "fmt", ...). obj_id names the
 * modem (port or masked IMEI) or is NULL. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>

#include "gw/compiler.h"

enum gw_log_level {
    GW_LOG_ERR = 0,
    GW_LOG_WARN = 1,
    GW_LOG_INFO = 2,
    GW_LOG_DEBUG = 3
};

typedef void gw_log_sink_fn(enum gw_log_level level, const char *tag,
                            const char *obj, const char *msg, void *ctx);

/* Install the sink (NULL: drop everything) and the most verbose level that
 * reaches it. Called once at start-up, before any thread starts. */
void gw_log_set_sink(gw_log_sink_fn *sink, void *ctx, enum gw_log_level max);

/* Would a message of this level reach the sink? */
int gw_log_enabled(enum gw_log_level level);

void gw_log(enum gw_log_level level, const char *tag, const char *obj,
            const char *fmt, ...) GW_PRINTF(4, 5);

const char *gw_log_level_name(enum gw_log_level level);

/* Sink in gw_common_sys: one line per message on stderr, with wall time. */
gw_log_sink_fn gw_log_sink_stderr;

#ifndef GW_LOG_TAG
#define GW_LOG_TAG "gw"
#endif

#define GW_LOG(level, obj, ...) gw_log((level), GW_LOG_TAG, (obj), __VA_ARGS__)

#endif
