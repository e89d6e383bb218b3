/* web/server.h: the REST API and dashboard server (libmicrohttpd).
 *
 * web_server_start() opens its own database connections (read-only ones
 * for the routes that read, one read-write connection for the few that
 * write: packages, the target override, their audit events), starts the
 * HTTP daemon on its own threads (one per connection, bounded) and the
 * stream poller thread, and returns. web_server_stop() stops them all and
 * joins them. Nothing here touches the daemon's loop: live data and
 * actions go through the backend ops (web/backend.h), which may be NULL.
 *
 * The token is copied; it is never logged. Every route that changes
 * anything needs it ("Authorization: Bearer <token>"); the read routes
 * need it too when read_requires_token is set. docs/API.md is the
 * reference of the routes; GET /api/v1/openapi.json serves the same. */
#ifndef WEB_SERVER_H
#define WEB_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "web/backend.h"

struct web_server;

/* Shortest token accepted (bytes). A generated token is 64 hex chars. */
#define WEB_TOKEN_MIN 16
#define WEB_TOKEN_MAX 128

struct web_limits {
    size_t body_max;      /* request body, bytes (default 16384) */
    unsigned conn_max;    /* concurrent connections (default 64) */
    unsigned conn_per_ip; /* concurrent connections per IP (default 16) */
    unsigned stream_max;  /* concurrent /stream clients (default 8) */
    unsigned timeout_s;   /* idle connection timeout (default 30) */
    unsigned overdue_s;   /* an unfinished job without progress this long
                             is overdue (default 600) */
    unsigned db_readers;  /* read-only connections in the pool
                             (default 4) */
};

/* Fill l with the defaults above. */
void web_limits_default(struct web_limits *l);

struct web_server_opts {
    const char *host;     /* IPv4 or IPv6 literal; NULL: 127.0.0.1 */
    uint16_t port;        /* 0: any free port (see web_server_port) */
    const char *tls_cert; /* PEM files; both or neither (NULL/"") */
    const char *tls_key;
    const char *token; /* WEB_TOKEN_MIN..WEB_TOKEN_MAX printable */
    int read_requires_token;
    const char *db_path;               /* the daemon's database, must exist */
    struct web_limits limits;          /* a zero field takes its default */
    const struct web_backend_ops *ops; /* NULL: no daemon attached */
    void *ops_ctx;
};

/* Start serving. 0, or: GW_E_CONFIG (bad host, token, TLS pair, or TLS
 * asked of a libmicrohttpd built without it), -errno from reading the TLS
 * files, a db_open() error, -EADDRINUSE or -EIO when the daemon could not
 * start. On failure nothing is left running and *out stays NULL. */
int web_server_start(struct web_server **out, const struct web_server_opts *o);

/* The port actually bound (useful with port 0). */
uint16_t web_server_port(const struct web_server *s);

/* Stop accepting, close stream clients, join every thread, close the
 * database connections. NULL-safe. Call it while the backend ops still
 * answer (before the daemon's loop stops): a web thread waiting in an op
 * is joined here, and only its op's own time bound ends that wait. */
void web_server_stop(struct web_server *s);

/* Read the API token from path, or create it when the file does not
 * exist: 32 bytes from getrandom(2) as 64 lower-case hex characters,
 * written to a temporary file with mode 0600, fsync()ed and renamed into
 * place (so a power cut never leaves a half-written token). A trailing
 * newline is ignored. A file that is readable by group or others is
 * refused (GW_E_CONFIG), as is a token shorter than WEB_TOKEN_MIN or with
 * characters outside printable ASCII. out gets a NUL-terminated token;
 * *created (may be NULL) is 1 when the file was generated. */
int web_token_load(const char *path, char *out, size_t cap, int *created);

#endif
