/* gw/parse.h: strict parsers for text fields (config values, target URIs).
 * Pure: no allocation, no locale. A reason for a rejection is written into
 * the caller's buffer. */
#ifndef GW_PARSE_H
#define GW_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "gw/compiler.h"

/* Write the reason (printf-style) into buf, cap bytes, truncated if need
 * be, and return rc: each error path of a parser is one line. */
int gw_reason(char *buf, size_t cap, int rc, const char *fmt, ...)
    GW_PRINTF(4, 5);

/* Decimal without sign, spaces or suffix, within [min, max]. 0, or
 * GW_E_INVAL (not a number) or GW_E_RANGE (outside the bounds; checked
 * before the value can wrap). */
int gw_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                  unsigned long long *out);

/* "HOST:PORT", "[V6]:PORT" or, unless port_required, "HOST" (*port is then
 * left alone). HOST is a DNS name or IPv4 literal (letters, digits, '-',
 * '.'), or an IPv6 literal in brackets, stored without them; PORT is
 * 1..65535. 0, or GW_E_INVAL / GW_E_RANGE with the reason in why (why_cap
 * bytes). */
int gw_parse_host_port(const char *s, char *host, size_t cap, uint16_t *port,
                       int port_required, char *why, size_t why_cap);

#endif
