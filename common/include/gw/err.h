/* gw/err.h: the project's one error vocabulary.
 *
 * Functions return int: 0 (or a non-negative count) on success, a negative
 * value on failure. System errors are -errno. Project errors are GW_E_* in a
 * reserved range below -1000, so they never collide with -errno. Protocol
 * detail (a +CME or +CIS code, a Modbus exception) travels in an out-struct,
 * never folded into the return code. */
#ifndef GW_ERR_H
#define GW_ERR_H

enum gw_err {
    GW_OK = 0,
    GW_E_BASE = -1000,
    GW_E_INVAL = -1001,   /* malformed input (syntax) */
    GW_E_RANGE = -1002,   /* a field out of its allowed range */
    GW_E_TRUNC = -1003,   /* input ends before a required field */
    GW_E_NOSPACE = -1004, /* output buffer too small */
    GW_E_TOOLONG = -1005, /* input over a hard length cap */
    GW_E_UNKNOWN = -1006, /* input of a kind we do not know */
    GW_E_STATE = -1007,   /* not allowed in the current state */
    GW_E_FULL = -1008,    /* a bounded queue is full */
    GW_E_TIMEOUT = -1009,
    GW_E_PROTO = -1010,     /* peer broke the protocol */
    GW_E_INTEGRITY = -1011, /* checksum or digest mismatch */
    GW_E_NOTFOUND = -1012,
    GW_E_CONFIG = -1013,
    GW_E_CORRUPT = -1014, /* persisted data failed a check */
    GW_E_LAST = -1015
};

/* A static, human-readable string for any return code (GW_E_* or -errno). */
const char *gw_strerror(int rc);

#endif
