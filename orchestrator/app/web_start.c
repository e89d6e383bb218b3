/* web_start.c: web_server_start() from the daemon's configuration. */
#include "web_start.h"

#include <string.h>

#include <openssl/crypto.h>

#include "gw/err.h"

#define OVERDUE_MAX_S 600

int web_server_start_config(struct web_server **out,
                            const struct gw_config *cfg,
                            const char *listen_host, int listen_port,
                            const struct web_backend_ops *ops, void *ops_ctx)
{
    struct web_server_opts o;
    char token[WEB_TOKEN_MAX + 1];
    int rc;

    *out = NULL;
    if (listen_port < -1 || listen_port > 65535)
        return GW_E_RANGE;
    rc = web_token_load(cfg->web.token_file, token, sizeof token, NULL);
    if (rc < 0)
        return rc;
    memset(&o, 0, sizeof o);
    o.host = listen_host ? listen_host : cfg->web.listen_host;
    o.port = listen_port < 0 ? cfg->web.listen_port : (uint16_t)listen_port;
    o.tls_cert = cfg->web.tls_cert;
    o.tls_key = cfg->web.tls_key;
    o.token = token;
    o.read_requires_token = cfg->web.read_requires_token;
    o.db_path = cfg->gateway.db;
    web_limits_default(&o.limits);
    if (cfg->policy.job_stall_timeout_s < OVERDUE_MAX_S)
        o.limits.overdue_s = cfg->policy.job_stall_timeout_s;
    o.ops = ops;
    o.ops_ctx = ops_ctx;
    rc = web_server_start(out, &o);
    OPENSSL_cleanse(token, sizeof token);
    return rc;
}
