/* web_start.h: the web server from the daemon's configuration. The web
 * module knows nothing of orch/config.h; the executable wires the parsed
 * config to web_server_start(). */
#ifndef SOTAGW_WEB_START_H
#define SOTAGW_WEB_START_H

#include "orch/config.h"
#include "web/server.h"

/* Start from the daemon's configuration (what `sotagw run` calls): [web]
 * listen, tls_cert/tls_key, read_requires_token, and the token file, read
 * or created on first start by web_token_load(); [gateway] db. A job is
 * overdue after min(600 s, [policy] job_stall_timeout) without progress.
 * listen_host (NULL: the config's) and listen_port (-1: the config's, 0:
 * any free port) override the config, as `sotagw run --listen` does.
 * Errors as web_server_start() and web_token_load(). */
int web_server_start_config(struct web_server **out,
                            const struct gw_config *cfg,
                            const char *listen_host, int listen_port,
                            const struct web_backend_ops *ops, void *ops_ctx);

#endif
