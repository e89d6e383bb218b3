/* route.c: the route table, path matching, access and error mapping.
 *
 * Matching walks the table once. A route "fits" a path when it has the
 * same number of segments and every literal segment is equal; a fitting
 * route then decides the answer: its parameters are validated (a bad one
 * is 400, never a lookup) and its method compared (405 if no fitting
 * route has the method). Literal segments never collide with parameters
 * in this table, so the first fitting route with the right method wins. */
#include <errno.h>
#include <string.h>

#include "gw/err.h"
#include "gw/imei.h"
#include "web/route.h"

#define SEG_MAX 8

static const struct web_route routes[WEB_R_COUNT] = {
    {WEB_R_DEVICES, WEB_GET, "/api/v1/devices", WEB_ACCESS_READ,
     "List modems with identity, live state and current job",
     "Stable order (IMEI). Filter with state=, hub= and phase=; page "
     "with "
     "limit= and cursor= (the response's next).",
     "devices"},
    {WEB_R_DEVICE, WEB_GET, "/api/v1/devices/{imei}", WEB_ACCESS_READ,
     "One modem", "Same document as one item of GET /devices.", "devices"},
    {WEB_R_DEVICE_EVENTS, WEB_GET, "/api/v1/devices/{imei}/events",
     WEB_ACCESS_READ, "A modem's audit trail",
     "Events of this modem with id > since, oldest first, paged by the "
     "response's next.",
     "events"},
    {WEB_R_DEVICE_TARGET, WEB_PUT, "/api/v1/devices/{imei}/target",
     WEB_ACCESS_WRITE, "Set or clear the field-device target URI",
     "Stored in the database; it wins over the config. null or \"\" "
     "clears the override. The daemon applies it before the next flash; "
     "a flash already running keeps its target.",
     "devices"},
    {WEB_R_DEVICE_PAUSE, WEB_POST, "/api/v1/devices/{imei}/pause",
     WEB_ACCESS_WRITE, "Pause the modem's upgrade",
     "The gateway stops acknowledging new chunks (the platform resends "
     "them later) and does not start a flash; staged data is kept. A "
     "flash already running finishes its current block, VERIFY and APPLY "
     "are never interrupted: a field device is never left half-flashed.",
     "actions"},
    {WEB_R_DEVICE_RESUME, WEB_POST, "/api/v1/devices/{imei}/resume",
     WEB_ACCESS_WRITE, "Resume a paused upgrade",
     "Undoes pause: chunks are acknowledged again from the durable "
     "offset, a pending flash starts (resuming from the device's "
     "received counter).",
     "actions"},
    {WEB_R_DEVICE_CANCEL, WEB_POST, "/api/v1/devices/{imei}/cancel",
     WEB_ACCESS_WRITE, "Cancel the modem's upgrade",
     "Ends the job as failed (result 10, cancelled) and reports it to the "
     "platform; staged data is dropped. A running flash stops between "
     "blocks; the field device keeps its running image.",
     "actions"},
    {WEB_R_DEVICE_RETRY, WEB_POST, "/api/v1/devices/{imei}/retry",
     WEB_ACCESS_WRITE, "Allow a failed upgrade again",
     "Clears the failed job's state and the retry budget so the "
     "platform's next attempt is accepted. The platform drives the "
     "upgrade: the gateway cannot start a download by itself.",
     "actions"},
    {WEB_R_JOBS, WEB_GET, "/api/v1/jobs", WEB_ACCESS_READ, "List upgrade jobs",
     "Id order; imei= filters one modem; paged by limit= and cursor=.", "jobs"},
    {WEB_R_JOB, WEB_GET, "/api/v1/jobs/{id}", WEB_ACCESS_READ, "One job",
     "One job document.", "jobs"},
    {WEB_R_SUMMARY, WEB_GET, "/api/v1/summary", WEB_ACCESS_READ,
     "Counts by phase and result, throughput, overdue jobs",
     "Computed from the database at the time of the request.", "summary"},
    {WEB_R_EVENTS, WEB_GET, "/api/v1/events", WEB_ACCESS_READ,
     "The global audit trail",
     "Events with id > since, oldest first (resumable by cursor), or the "
     "last tail= events.",
     "events"},
    {WEB_R_PACKAGES, WEB_GET, "/api/v1/packages", WEB_ACCESS_READ,
     "List firmware packages", "Id order, paged by cursor.", "packages"},
    {WEB_R_PACKAGE_ADD, WEB_POST, "/api/v1/packages", WEB_ACCESS_WRITE,
     "Register a firmware package",
     "Records version, MD5, size and notes; the same (size, MD5) twice "
     "is 409.",
     "packages"},
    {WEB_R_PACKAGE_DELETE, WEB_DELETE, "/api/v1/packages/{id}",
     WEB_ACCESS_WRITE, "Remove a firmware package",
     "409 while an unfinished job uses it.", "packages"},
    {WEB_R_STREAM, WEB_GET, "/api/v1/stream", WEB_ACCESS_READ,
     "Server-sent events of device, job and audit changes",
     "text/event-stream: events 'device' (a device document), 'event' "
     "(an audit event) and 'resync' (reload: the client fell behind).",
     "stream"},
    {WEB_R_HEALTHZ, WEB_GET, "/api/v1/healthz", WEB_ACCESS_PUBLIC,
     "Liveness, database and port status",
     "200 when the database answers, 503 otherwise.", "health"},
    {WEB_R_METRICS, WEB_GET, "/api/v1/metrics", WEB_ACCESS_READ,
     "Prometheus metrics", "Text exposition format 0.0.4.", "health"},
    {WEB_R_OPENAPI, WEB_GET, "/api/v1/openapi.json", WEB_ACCESS_PUBLIC,
     "This document", "OpenAPI 3.0.", "health"},
};

const struct web_route *web_routes(size_t *n)
{
    *n = WEB_R_COUNT;
    return routes;
}

const char *web_method_name(enum web_method m)
{
    switch (m) {
    case WEB_GET: return "GET";
    case WEB_POST: return "POST";
    case WEB_PUT: return "PUT";
    case WEB_DELETE: return "DELETE";
    case WEB_METHOD_OTHER: break;
    }
    return "OTHER";
}

enum web_method web_method_parse(const char *s)
{
    if (strcmp(s, "GET") == 0 || strcmp(s, "HEAD") == 0)
        return WEB_GET;
    if (strcmp(s, "POST") == 0)
        return WEB_POST;
    if (strcmp(s, "PUT") == 0)
        return WEB_PUT;
    if (strcmp(s, "DELETE") == 0)
        return WEB_DELETE;
    return WEB_METHOD_OTHER;
}

static int path_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' ||
           c == '-' || c == '/';
}

int web_path_ok(const char *path)
{
    size_t len = strnlen(path, WEB_PATH_MAX + 1);
    const char *seg;

    if (len == 0 || len > WEB_PATH_MAX || path[0] != '/')
        return 400;
    for (size_t i = 0; i < len; i++)
        if (!path_char_ok(path[i]))
            return 400;
    if (len == 1)
        return 0;
    /* Every segment non-empty (a trailing '/' is an empty segment) and
     * neither "." nor "..". */
    seg = path + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);

        if (n == 0 || (n == 1 && seg[0] == '.') ||
            (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 400;
        if (!end)
            return 0;
        seg = end + 1;
    }
}

struct segs {
    const char *p[SEG_MAX];
    size_t len[SEG_MAX];
    size_t n;
};

/* Split "/a/b/c" into segments; -1 when there are more than SEG_MAX. */
static int split(const char *path, struct segs *s)
{
    const char *seg = path + 1;

    s->n = 0;
    if (*seg == '\0')
        return 0;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);

        if (s->n == SEG_MAX)
            return -1;
        s->p[s->n] = seg;
        s->len[s->n] = n;
        s->n++;
        if (!end)
            return 0;
        seg = end + 1;
    }
}

static int seg_eq(const struct segs *a, size_t i, const struct segs *b,
                  size_t j)
{
    return a->len[i] == b->len[j] && memcmp(a->p[i], b->p[j], a->len[i]) == 0;
}

static int seg_is_param(const struct segs *s, size_t i)
{
    return s->len[i] > 2 && s->p[i][0] == '{';
}

/* 1..2^53 in decimal, no sign, no leading zero. */
static int parse_id(const char *p, size_t n, int64_t *out)
{
    int64_t v = 0;

    if (n == 0 || n > 16 || p[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v > ((int64_t)1 << 53))
        return -1;
    *out = v;
    return 0;
}

/* Validate and store one parameter; -1 when invalid. */
static int take_param(const struct segs *pat, size_t i, const struct segs *req,
                      struct web_match *m)
{
    const char *v = req->p[i];
    size_t n = req->len[i];

    if (pat->len[i] == 6 && memcmp(pat->p[i], "{imei}", 6) == 0) {
        char tmp[16];

        if (n != 15)
            return -1;
        memcpy(tmp, v, 15);
        tmp[15] = '\0';
        if (!gw_imei_valid(tmp))
            return -1;
        memcpy(m->imei, tmp, sizeof tmp);
        return 0;
    }
    return parse_id(v, n, &m->id);
}

static void fail(struct web_match *m, int status, const char *code,
                 const char *why)
{
    m->route = NULL;
    m->status = status;
    m->code = code;
    m->why = why;
}

int web_route_match(enum web_method method, const char *path,
                    struct web_match *m)
{
    struct segs req;
    int fitted = 0, bad_param = 0;

    memset(m, 0, sizeof *m);
    if (web_path_ok(path) != 0) {
        fail(m, 400, "bad_path", "malformed request path");
        return m->status;
    }
    if (split(path, &req) < 0) {
        fail(m, 404, "not_found", "no such route");
        return m->status;
    }
    for (size_t r = 0; r < WEB_R_COUNT; r++) {
        struct segs pat;
        struct web_match try;
        int fits = 1, params_ok = 1;

        (void)split(routes[r].pattern, &pat);
        if (pat.n != req.n)
            continue;
        for (size_t i = 0; i < pat.n && fits; i++)
            if (!seg_is_param(&pat, i) && !seg_eq(&pat, i, &req, i))
                fits = 0;
        if (!fits)
            continue;
        fitted = 1;
        memset(&try, 0, sizeof try);
        for (size_t i = 0; i < pat.n && params_ok; i++)
            if (seg_is_param(&pat, i) && take_param(&pat, i, &req, &try) < 0)
                params_ok = 0;
        if (!params_ok) {
            bad_param = 1;
            continue;
        }
        if (routes[r].method != method)
            continue;
        *m = try;
        m->route = &routes[r];
        m->status = 0;
        return 0;
    }
    if (bad_param)
        fail(m, 400, "bad_param",
             "path parameter is not a valid IMEI (15 digits, Luhn) or id");
    else if (fitted)
        fail(m, 405, "method_not_allowed", "method not allowed here");
    else
        fail(m, 404, "not_found", "no such route");
    return m->status;
}

/* ---- access ------------------------------------------------------------ */

static int ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];

        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

int web_bearer_parse(const char *hdr, const char **tok, size_t *len)
{
    const char *p;
    size_t n = 0;

    if (!hdr || strnlen(hdr, 7) < 7 || !ascii_ieq(hdr, "bearer ", 7))
        return GW_E_INVAL;
    p = hdr + 7;
    while (*p == ' ')
        p++;
    while (p[n] > ' ' && p[n] < 0x7f && n <= 128)
        n++;
    if (n == 0 || n > 128 || p[n] != '\0')
        return GW_E_INVAL;
    *tok = p;
    *len = n;
    return 0;
}

int web_access_decide(enum web_access access, int read_requires_token,
                      enum web_cred cred)
{
    int need = 0;

    switch (access) {
    case WEB_ACCESS_PUBLIC: need = 0; break;
    case WEB_ACCESS_READ: need = read_requires_token; break;
    case WEB_ACCESS_WRITE: need = 1; break;
    }
    if (!need)
        return 0;
    switch (cred) {
    case WEB_CRED_OK: return 0;
    case WEB_CRED_WRONG: return 403;
    case WEB_CRED_NONE:
    case WEB_CRED_MALFORMED: break;
    }
    return 401;
}

/* ---- errors ------------------------------------------------------------ */

struct web_status web_status_of(int rc)
{
    struct web_status s = {500, "internal"};

    switch (rc) {
    case 0:
        s.http = 200;
        s.code = "ok";
        break;
    case GW_E_INVAL:
    case GW_E_RANGE:
    case GW_E_TRUNC:
    case GW_E_TOOLONG:
    case GW_E_UNKNOWN:
    case GW_E_PROTO:
    case GW_E_INTEGRITY:
        s.http = 400;
        s.code = "bad_request";
        break;
    case GW_E_NOTFOUND:
        s.http = 404;
        s.code = "not_found";
        break;
    case GW_E_STATE:
        s.http = 409;
        s.code = "conflict";
        break;
    case -EEXIST:
        s.http = 409;
        s.code = "exists";
        break;
    case GW_E_FULL:
    case -EBUSY:
    case -EAGAIN:
        s.http = 503;
        s.code = "busy";
        break;
    case GW_E_TIMEOUT:
    case -ETIMEDOUT:
        s.http = 504;
        s.code = "timeout";
        break;
    case -EROFS:
    case -ENOSPC:
    case GW_E_CORRUPT:
        s.http = 503;
        s.code = "storage";
        break;
    default: break;
    }
    return s;
}
