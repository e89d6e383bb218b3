/* mb_uri.c: field-device target URIs (see dio/mb_uri.h). */
#include "dio/mb_uri.h"

#include <string.h>

#include "gw/compiler.h"
#include "gw/err.h"
#include "gw/parse.h"

#define TCP_SCHEME "modbus-tcp://"
#define RTU_SCHEME "modbus-rtu://"

static const unsigned std_bauds[] = {
    1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
};

int mb_baud_valid(unsigned rate)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(std_bauds); i++) {
        if (std_bauds[i] == rate)
            return 1;
    }
    return 0;
}

enum uri_param { UP_UNIT, UP_BAUD, UP_PARITY, UP_DATA, UP_STOP, UP_COUNT };

static const char *const uri_param_names[UP_COUNT] = {
    [UP_UNIT] = "unit", [UP_BAUD] = "baud", [UP_PARITY] = "parity",
    [UP_DATA] = "data", [UP_STOP] = "stop",
};

static int uri_param(struct mb_uri *u, enum uri_param p, const char *v, char *w,
                     size_t wcap)
{
    unsigned long long n = 0;

    switch (p) {
    case UP_UNIT:
        if (gw_parse_uint(v, 1, 247, &n) < 0)
            return gw_reason(w, wcap, GW_E_RANGE, "unit must be 1..247");
        u->unit = (unsigned)n;
        return 0;
    case UP_BAUD:
        if (gw_parse_uint(v, 1, 10000000, &n) < 0 ||
            !mb_baud_valid((unsigned)n))
            return gw_reason(w, wcap, GW_E_RANGE,
                             "baud must be a standard rate (1200..921600)");
        u->baud = (unsigned)n;
        return 0;
    case UP_PARITY:
        if (strlen(v) != 1 || strchr("NEO", v[0]) == NULL)
            return gw_reason(w, wcap, GW_E_RANGE, "parity must be N, E or O");
        u->parity = v[0];
        return 0;
    case UP_DATA:
        if (gw_parse_uint(v, 7, 8, &n) < 0)
            return gw_reason(w, wcap, GW_E_RANGE, "data bits must be 7 or 8");
        u->data_bits = (unsigned)n;
        return 0;
    case UP_STOP:
        if (gw_parse_uint(v, 1, 2, &n) < 0)
            return gw_reason(w, wcap, GW_E_RANGE, "stop bits must be 1 or 2");
        u->stop_bits = (unsigned)n;
        return 0;
    case UP_COUNT: break;
    }
    return gw_reason(w, wcap, GW_E_INVAL, "internal: bad parameter");
}

/* query: "k=v&k=v..." (modified in place). */
static int uri_query(struct mb_uri *u, char *query, char *w, size_t wcap)
{
    int seen[UP_COUNT] = {0};
    char *save = NULL;

    for (char *kv = query; kv != NULL; kv = save) {
        char *eq;
        size_t p;
        int rc;

        save = strchr(kv, '&');
        if (save != NULL)
            *save++ = '\0';
        eq = strchr(kv, '=');
        if (eq == NULL)
            return gw_reason(w, wcap, GW_E_INVAL, "parameter '%s' has no value",
                             kv);
        *eq = '\0';
        for (p = 0; p < UP_COUNT; p++) {
            if (strcmp(kv, uri_param_names[p]) == 0)
                break;
        }
        if (p == UP_COUNT || (u->kind == MB_URI_TCP && p != UP_UNIT))
            return gw_reason(w, wcap, GW_E_INVAL, "unknown parameter '%s'", kv);
        if (seen[p])
            return gw_reason(w, wcap, GW_E_INVAL, "parameter '%s' given twice",
                             kv);
        seen[p] = 1;
        rc = uri_param(u, (enum uri_param)p, eq + 1, w, wcap);
        if (rc < 0)
            return rc;
    }
    if (!seen[UP_UNIT])
        return gw_reason(w, wcap, GW_E_INVAL,
                         "unit=N is required (a wrong unit could flash another "
                         "device)");
    return 0;
}

int mb_uri_parse(const char *text, struct mb_uri *out, char *w, size_t wcap)
{
    char buf[MB_URI_TEXT_MAX + 1];
    char *rest;
    char *query;
    size_t len = strnlen(text, sizeof buf);
    int rc;

    memset(out, 0, sizeof *out);
    if (len >= sizeof buf)
        return gw_reason(w, wcap, GW_E_RANGE, "URI longer than %zu characters",
                         sizeof buf - 1);
    memcpy(buf, text, len + 1);
    if (strncmp(buf, TCP_SCHEME, strlen(TCP_SCHEME)) == 0) {
        out->kind = MB_URI_TCP;
        out->port = 502;
        rest = buf + strlen(TCP_SCHEME);
    } else if (strncmp(buf, RTU_SCHEME, strlen(RTU_SCHEME)) == 0) {
        out->kind = MB_URI_RTU;
        out->baud = 9600;
        out->parity = 'N';
        out->data_bits = 8;
        out->stop_bits = 1;
        rest = buf + strlen(RTU_SCHEME);
    } else {
        return gw_reason(w, wcap, GW_E_INVAL,
                         "URI must start with modbus-tcp:// or modbus-rtu://");
    }
    query = strchr(rest, '?');
    if (query == NULL)
        return gw_reason(w, wcap, GW_E_INVAL, "missing ?unit=N");
    *query++ = '\0';
    if (out->kind == MB_URI_TCP) {
        rc = gw_parse_host_port(rest, out->host, sizeof out->host, &out->port,
                                0, w, wcap);
    } else if (rest[0] != '/' || rest[1] == '\0') {
        rc = gw_reason(w, wcap, GW_E_INVAL,
                       "RTU device must be an absolute path "
                       "(modbus-rtu:///dev/ttyX)");
    } else if (strlen(rest) >= sizeof out->device) {
        rc = gw_reason(w, wcap, GW_E_RANGE, "device path too long");
    } else {
        memcpy(out->device, rest, strlen(rest) + 1);
        rc = 0;
    }
    if (rc < 0)
        return rc;
    return uri_query(out, query, w, wcap);
}
