/* err.c: strings for the project's error codes. */
#include "gw/err.h"

#include <string.h>

const char *gw_strerror(int rc)
{
    switch (rc) {
    case GW_OK: return "ok";
    case GW_E_INVAL: return "malformed input";
    case GW_E_RANGE: return "value out of range";
    case GW_E_TRUNC: return "input truncated";
    case GW_E_NOSPACE: return "buffer too small";
    case GW_E_TOOLONG: return "input too long";
    case GW_E_UNKNOWN: return "unknown input";
    case GW_E_STATE: return "not allowed in this state";
    case GW_E_FULL: return "queue full";
    case GW_E_TIMEOUT: return "timed out";
    case GW_E_PROTO: return "protocol violation";
    case GW_E_INTEGRITY: return "integrity check failed";
    case GW_E_NOTFOUND: return "not found";
    case GW_E_CONFIG: return "configuration error";
    case GW_E_CORRUPT: return "persisted data corrupt";
    default: break;
    }
    if (rc < 0 && rc > GW_E_BASE)
        return strerror(-rc); /* -errno */
    return "unknown error";
}
