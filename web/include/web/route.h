/* web/route.h: the pure core of the HTTP API: the route table, path
 * matching with validated parameters, the access decision and the mapping
 * of error codes to HTTP statuses. No I/O: strings in, decisions out.
 *
 * The route table is the one list of what the server serves; the OpenAPI
 * document (web/shape.h) is generated from it and the API tests compare
 * the served routes with that document. */
#ifndef WEB_ROUTE_H
#define WEB_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define WEB_API_PREFIX "/api/v1"
#define WEB_PATH_MAX   512

enum web_method { WEB_GET, WEB_POST, WEB_PUT, WEB_DELETE, WEB_METHOD_OTHER };

enum web_route_id {
    WEB_R_DEVICES,
    WEB_R_DEVICE,
    WEB_R_DEVICE_EVENTS,
    WEB_R_DEVICE_TARGET,
    WEB_R_DEVICE_PAUSE,
    WEB_R_DEVICE_RESUME,
    WEB_R_DEVICE_CANCEL,
    WEB_R_DEVICE_RETRY,
    WEB_R_JOBS,
    WEB_R_JOB,
    WEB_R_SUMMARY,
    WEB_R_EVENTS,
    WEB_R_PACKAGES,
    WEB_R_PACKAGE_ADD,
    WEB_R_PACKAGE_DELETE,
    WEB_R_STREAM,
    WEB_R_HEALTHZ,
    WEB_R_METRICS,
    WEB_R_OPENAPI,
    WEB_R_COUNT
};

/* Who may call a route. */
enum web_access {
    WEB_ACCESS_PUBLIC, /* always (liveness, the API description) */
    WEB_ACCESS_READ,   /* token needed iff read_requires_token */
    WEB_ACCESS_WRITE   /* token always needed */
};

struct web_route {
    enum web_route_id id;
    enum web_method method;
    const char *pattern; /* "/api/v1/devices/{imei}/events" */
    enum web_access access;
    const char *summary;     /* one line, for the OpenAPI document */
    const char *description; /* what it does, effects on the modem */
    const char *tag;         /* OpenAPI tag */
};

/* The table (WEB_R_COUNT entries, in enum order). */
const struct web_route *web_routes(size_t *n);

const char *web_method_name(enum web_method m);
enum web_method web_method_parse(const char *s);

/* Result of matching a request path. */
struct web_match {
    const struct web_route *route; /* NULL unless status is 0 */
    char imei[16];                 /* {imei}: 15 digits, Luhn-checked */
    int64_t id;                    /* {id}: 1..2^53 */
    int status;                    /* 0 matched, else 400/404/405 */
    const char *code;              /* error code when status != 0 */
    const char *why;               /* static message when status != 0 */
};

/* Match method and path (already percent-decoded, without the query).
 * A path with a "." or ".." segment, an empty segment, a byte outside
 * [A-Za-z0-9._~-] and / or over WEB_PATH_MAX is 400 bad_path; a path that has
 * a route's shape but a parameter that is not a valid IMEI or id is 400
 * bad_param, and is never looked up; a path served with another method
 * is 405; anything else under the prefix is 404. Returns m->status. */
int web_route_match(enum web_method method, const char *path,
                    struct web_match *m);

/* Path checks alone (used for static files too): 0 or 400. */
int web_path_ok(const char *path);

/* ---- access ------------------------------------------------------------ */

enum web_cred {
    WEB_CRED_NONE,      /* no Authorization header */
    WEB_CRED_MALFORMED, /* not "Bearer <token>" */
    WEB_CRED_WRONG,     /* a bearer token that does not match */
    WEB_CRED_OK
};

/* Parse an Authorization header value. 0 and *tok and *len point into hdr
 * when it is "Bearer <token>" (scheme case-insensitive, one or more
 * spaces, token of printable non-space ASCII, at most 128 bytes);
 * GW_E_INVAL otherwise. */
int web_bearer_parse(const char *hdr, const char **tok, size_t *len);

/* The access decision: 0 allowed, else 401 (no or malformed credential;
 * the caller adds WWW-Authenticate) or 403 (wrong token). */
int web_access_decide(enum web_access access, int read_requires_token,
                      enum web_cred cred);

/* ---- errors ------------------------------------------------------------ */

/* The one mapping from a return code (GW_E_* or -errno) to an HTTP status
 * and an error code string: handlers never invent statuses. */
struct web_status {
    int http;
    const char *code;
};
struct web_status web_status_of(int rc);

#endif
