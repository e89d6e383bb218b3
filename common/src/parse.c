/* parse.c: strict number and host parsers (see gw/parse.h). */
#include "gw/parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gw/compiler.h"
#include "gw/err.h"

int gw_reason(char *buf, size_t cap, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return rc;
}

int gw_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                  unsigned long long *out)
{
    unsigned long long v = 0;

    if (*s == '\0')
        return GW_E_INVAL;
    for (; *s != '\0'; s++) {
        unsigned long long d;

        if (*s < '0' || *s > '9')
            return GW_E_INVAL;
        d = (unsigned long long)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return GW_E_RANGE; /* over max; checked before it can wrap */
        v = v * 10 + d;
    }
    if (v < min)
        return GW_E_RANGE;
    *out = v;
    return 0;
}

/* s[0..len): a host name, an IPv4 literal, or an IPv6 literal in
 * brackets. */
static int parse_host(const char *s, size_t len, char *out, size_t cap, char *w,
                      size_t wcap)
{
    size_t start = 0;
    size_t end = len;

    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        start = 1;
        end = len - 1;
        for (size_t i = start; i < end; i++) {
            if (strchr("0123456789abcdefABCDEF:.", s[i]) == NULL)
                return gw_reason(w, wcap, GW_E_INVAL, "bad IPv6 literal");
        }
    } else {
        for (size_t i = 0; i < len; i++) {
            char c = s[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return gw_reason(w, wcap, GW_E_INVAL,
                                 "bad character in host name");
        }
    }
    if (end == start)
        return gw_reason(w, wcap, GW_E_INVAL, "empty host");
    if (end - start >= cap)
        return gw_reason(w, wcap, GW_E_RANGE, "host longer than %zu characters",
                         cap - 1);
    memcpy(out, s + start, end - start);
    out[end - start] = '\0';
    return 0;
}

int gw_parse_host_port(const char *s, char *host, size_t cap, uint16_t *port,
                       int port_required, char *w, size_t wcap)
{
    const char *colon = strrchr(s, ':');
    const char *bracket = strrchr(s, ']');
    unsigned long long p;
    size_t hlen;
    int rc;

    if (colon != NULL && bracket != NULL && colon < bracket)
        colon = NULL; /* the colons were inside [v6] */
    if (colon == NULL && port_required)
        return gw_reason(w, wcap, GW_E_INVAL, "expected HOST:PORT");
    hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
    rc = parse_host(s, hlen, host, cap, w, wcap);
    if (rc < 0)
        return rc;
    if (colon == NULL)
        return 0;
    rc = gw_parse_uint(colon + 1, 1, 65535, &p);
    if (rc < 0)
        return gw_reason(w, wcap, rc, "port must be a number in 1..65535");
    *port = (uint16_t)p;
    return 0;
}
