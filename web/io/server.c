/* server.c: the libmicrohttpd daemon, request bodies, access control, the
 * database pool and the answers.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION), bounded by
 * the connection limits: a slow handler or a stream client blocks only its
 * own connection. Each request takes a read-only database connection from
 * a small pool for the time of its handler; the few writes share one
 * read-write connection under a mutex (SQLite serialises writers anyway,
 * and the daemon's loop is the busy one). */
#define GW_LOG_TAG "web"

#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "gw/err.h"
#include "gw/log.h"
#include "handlers.h"
#include "stream.h"
#include "web_io.h"

#define TLS_FILE_MAX (64 * 1024)

/* Per-request state across the access handler's calls. */
struct req_state {
    char *body;
    size_t len;
    int too_big;
};

void web_limits_default(struct web_limits *l)
{
    l->body_max = 16384;
    l->conn_max = 64;
    l->conn_per_ip = 16;
    l->stream_max = 8;
    l->timeout_s = 30;
    l->overdue_s = 600;
    l->db_readers = 4;
}

/* ---- answers ----------------------------------------------------------- */

static void add_common_headers(struct MHD_Response *resp, int html)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (html) {
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    }
}

static enum MHD_Result queue(struct MHD_Connection *c, struct web_answer *a)
{
    struct MHD_Response *resp = a->resp;
    enum MHD_Result ret;

    a->resp = NULL;
    if (!resp && a->json) {
        char *text = json_dumps(a->json, JSON_COMPACT);

        if (!text)
            return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(text), text,
                                               MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    } else if (!resp) {
        resp = MHD_create_response_from_buffer(a->text_len, a->text,
                                               MHD_RESPMEM_MUST_FREE);
        if (!resp)
            return MHD_NO;
        a->text = NULL;
        if (a->content_type)
            MHD_add_response_header(resp, "Content-Type", a->content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    }
    add_common_headers(resp, 0);
    if (a->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                "Bearer realm=\"sotagw\"");
    ret = MHD_queue_response(c, (unsigned)a->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void answer_cleanup(struct web_answer *a)
{
    json_decref(a->json);
    free(a->text);
    if (a->resp)
        MHD_destroy_response(a->resp);
}

static enum MHD_Result queue_error(struct MHD_Connection *c, int status,
                                   const char *code, const char *msg)
{
    struct web_answer a = {0};
    enum MHD_Result ret;

    web__answer_error(&a, status, code, "%s", msg);
    ret = queue(c, &a);
    answer_cleanup(&a);
    return ret;
}

/* ---- access ------------------------------------------------------------ */

static enum web_cred credential(struct web_server *s, struct MHD_Connection *c)
{
    const char *hdr =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *tok;
    size_t len;
    unsigned char h[SHA256_DIGEST_LENGTH];

    if (!hdr)
        return WEB_CRED_NONE;
    if (web_bearer_parse(hdr, &tok, &len) < 0)
        return WEB_CRED_MALFORMED;
    /* Hash first, so the comparison neither depends on where the first
     * different byte is (CRYPTO_memcmp) nor on the token's length. */
    SHA256((const unsigned char *)tok, len, h);
    return CRYPTO_memcmp(h, s->token_hash, sizeof h) == 0 ? WEB_CRED_OK
                                                          : WEB_CRED_WRONG;
}

/* ---- static files ------------------------------------------------------ */

static enum MHD_Result serve_asset(struct MHD_Connection *c, const char *path)
{
    const struct web_asset *as;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (web_path_ok(path) != 0)
        return queue_error(c, 400, "bad_path", "malformed request path");
    as = web_asset_find(path);
    if (!as)
        return queue_error(c, 404, "not_found", "no such page");
    resp = MHD_create_response_from_buffer(
        as->size, (void *)(uintptr_t)as->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", as->content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    add_common_headers(resp, 1);
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the access handler ------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct web_server *s = cls;
    struct req_state *st = *con_cls;
    struct web_match m;
    struct web_answer a = {0};
    struct web_req r;
    enum web_method meth;
    enum web_cred cred;
    enum MHD_Result ret;
    int deny;

    (void)version;
    if (!st) {
        /* First call of a request, on its connection's thread. */
        web__thread_yield_priority();
        const char *cl = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        if (cl && (strlen(cl) > 12 || strtoull(cl, NULL, 10) > s->lim.body_max))
            st->too_big = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!st->too_big && st->len + *upload_size <= s->lim.body_max) {
            if (!st->body)
                st->body = malloc(s->lim.body_max + 1);
            if (!st->body)
                return MHD_NO;
            memcpy(st->body + st->len, upload_data, *upload_size);
            st->len += *upload_size;
        } else {
            st->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->too_big)
        return queue_error(c, 413, "payload_too_large",
                           "request body over the limit");

    if (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/api") != 0) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return queue_error(c, 405, "method_not_allowed",
                               "method not allowed here");
        return serve_asset(c, url);
    }
    meth = web_method_parse(method);
    if (web_route_match(meth, url, &m) != 0)
        return queue_error(c, m.status, m.code, m.why);
    cred = credential(s, c);
    deny = web_access_decide(m.route->access, s->read_requires_token, cred);
    if (deny) {
        GW_LOG(GW_LOG_INFO, NULL, "%s %s refused: %s", method, m.route->pattern,
               cred == WEB_CRED_WRONG ? "wrong token" : "no token");
        return queue_error(c, deny, deny == 401 ? "unauthorized" : "forbidden",
                           deny == 401 ? "a bearer token is required"
                                       : "the token is not valid");
    }
    r.srv = s;
    r.conn = c;
    r.m = &m;
    r.body = st->body ? st->body : "";
    r.body_len = st->len;
    r.authed = cred == WEB_CRED_OK;
    a.status = 200;
    web__handle(&r, &a);
    if (!a.resp && !a.json && !a.text && a.status != 204)
        web__answer_error(&a, 500, "internal", "out of memory");
    GW_LOG(GW_LOG_DEBUG, NULL, "%s %s -> %d", method, m.route->pattern,
           a.status);
    ret = queue(c, &a);
    answer_cleanup(&a);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode t)
{
    struct req_state *st = *con_cls;

    (void)cls;
    (void)c;
    (void)t;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decoding of the path and the query, in place. "%00" would cut
 * the string where the route matcher cannot see it ("IMEI%00junk" would
 * look up IMEI): it stays encoded, and the '%' makes the path invalid. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;

    (void)cls;
    (void)c;
    for (const char *r = s; *r; r++) {
        int hi, lo;

        if (*r == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    GW_LOG(GW_LOG_WARN, NULL, "libmicrohttpd: %s", msg);
}

/* ---- start and stop ---------------------------------------------------- */

static int read_small_file(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char *buf = NULL;
    ssize_t got;
    int rc;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) < 0 || sb.st_size <= 0 || sb.st_size > TLS_FILE_MAX) {
        rc = GW_E_CONFIG;
        goto fail;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        rc = -ENOMEM;
        goto fail;
    }
    got = read(fd, buf, (size_t)sb.st_size);
    if (got != sb.st_size) {
        rc = got < 0 ? -errno : -EIO;
        goto fail;
    }
    buf[got] = '\0';
    close(fd);
    *out = buf;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

/* The listen address: an IPv4 or IPv6 literal, or a host name resolved
 * once at start (the first address getaddrinfo() gives). */
static int listen_addr(const char *host, uint16_t port,
                       struct sockaddr_storage *ss)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res || res->ai_addrlen > sizeof *ss) {
        GW_LOG(GW_LOG_ERR, NULL, "listen address '%s': %s", host,
               rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return GW_E_CONFIG;
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    else
        return GW_E_CONFIG;
    return 0;
}

static int token_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;

    if (n < WEB_TOKEN_MIN || n > WEB_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] <= ' ' || t[i] >= 0x7f)
            return 0;
    return 1;
}

static void limits_fill(struct web_limits *l, const struct web_limits *in)
{
    struct web_limits d;

    web_limits_default(&d);
    *l = *in;
    if (!l->body_max)
        l->body_max = d.body_max;
    if (!l->conn_max)
        l->conn_max = d.conn_max;
    if (!l->conn_per_ip)
        l->conn_per_ip = d.conn_per_ip;
    if (!l->stream_max)
        l->stream_max = d.stream_max;
    if (!l->timeout_s)
        l->timeout_s = d.timeout_s;
    if (!l->overdue_s)
        l->overdue_s = d.overdue_s;
    if (!l->db_readers)
        l->db_readers = d.db_readers;
    if (l->db_readers > WEB_READERS_MAX)
        l->db_readers = WEB_READERS_MAX;
}

static void server_free(struct web_server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nreaders; i++)
        db_close(s->readers[i]);
    db_close(s->writer);
    for (size_t i = 0; i < WEB_RING; i++)
        free(s->ring[i].text);
    free(s->hashes);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->openapi);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->writer_lock);
    pthread_mutex_destroy(&s->ring_lock);
    pthread_cond_destroy(&s->ring_cond);
    free(s);
}

int web_server_start(struct web_server **out, const struct web_server_opts *o)
{
    struct web_server *s;
    struct sockaddr_storage ss;
    const char *host = (o->host && o->host[0]) ? o->host : "127.0.0.1";
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    int tls = o->tls_cert && o->tls_cert[0];
    unsigned char h[SHA256_DIGEST_LENGTH];
    json_t *doc;
    int rc;

    *out = NULL;
    if (!token_ok(o->token)) {
        GW_LOG(GW_LOG_ERR, NULL,
               "API token must be %d..%d printable "
               "characters",
               WEB_TOKEN_MIN, WEB_TOKEN_MAX);
        return GW_E_CONFIG;
    }
    if (tls != (o->tls_key && o->tls_key[0])) {
        GW_LOG(GW_LOG_ERR, NULL,
               "give both tls_cert and tls_key, or "
               "neither");
        return GW_E_CONFIG;
    }
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        GW_LOG(GW_LOG_ERR, NULL, "libmicrohttpd was built without TLS");
        return GW_E_CONFIG;
    }
    if ((rc = listen_addr(host, o->port, &ss)) < 0)
        return rc;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;

    s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_cond, NULL);
    pthread_mutex_init(&s->writer_lock, NULL);
    pthread_mutex_init(&s->ring_lock, NULL);
    pthread_cond_init(&s->ring_cond, NULL);
    limits_fill(&s->lim, &o->limits);
    s->read_requires_token = o->read_requires_token;
    s->ops = o->ops;
    s->ops_ctx = o->ops_ctx;
    SHA256((const unsigned char *)o->token, strlen(o->token), s->token_hash);
    /* The actor id names the token in the audit trail without revealing
     * it: 8 hex digits of SHA-256("sotagw-actor:" || token). */
    {
        char salted[16 + WEB_TOKEN_MAX];
        int n = snprintf(salted, sizeof salted, "sotagw-actor:%s", o->token);

        SHA256((const unsigned char *)salted, (size_t)n, h);
        OPENSSL_cleanse(salted, sizeof salted);
        snprintf(s->actor, sizeof s->actor, "api:%02x%02x%02x%02x", h[0], h[1],
                 h[2], h[3]);
    }

    for (unsigned i = 0; i < s->lim.db_readers; i++) {
        rc = db_open(&s->readers[i], o->db_path,
                     DB_OPEN_READONLY | DB_OPEN_NO_CHECK);
        if (rc < 0)
            goto fail;
        s->nreaders++;
    }
    rc = db_open(&s->writer, o->db_path, DB_OPEN_READWRITE | DB_OPEN_NO_CHECK);
    if (rc < 0)
        goto fail;
    if (tls) {
        if ((rc = read_small_file(o->tls_cert, &s->tls_cert)) < 0 ||
            (rc = read_small_file(o->tls_key, &s->tls_key)) < 0) {
            GW_LOG(GW_LOG_ERR, NULL, "TLS certificate or key: %s",
                   gw_strerror(rc));
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    doc = web_openapi();
    s->openapi = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
    json_decref(doc);
    if (!s->openapi) {
        rc = -ENOMEM;
        goto fail;
    }
    s->openapi_len = strlen(s->openapi);
    if ((rc = web__stream_start(s)) < 0)
        goto fail;

    {
        struct MHD_OptionItem opts[] = {
            {MHD_OPTION_SOCK_ADDR, 0, &ss},
            {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)s->lim.conn_max, NULL},
            {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)s->lim.conn_per_ip,
             NULL},
            {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->lim.timeout_s, NULL},
            {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)(void *)on_completed, s},
            {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)(void *)mhd_log, s},
            {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)(void *)unescape, s},
            /* The TLS pair last: without TLS the list ends here. */
            {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert},
            {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
            {MHD_OPTION_END, 0, NULL},
        };

        s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                  MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    }
    if (!s->mhd) {
        GW_LOG(GW_LOG_ERR, NULL, "cannot listen on %s:%u", host,
               (unsigned)o->port);
        rc = -EADDRINUSE;
        goto fail;
    }
    {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);

        s->port = di ? di->port : o->port;
    }
    GW_LOG(GW_LOG_INFO, NULL, "listening on %s%s%s:%u (%s), reads %s",
           strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
           (unsigned)s->port, tls ? "https" : "http",
           s->read_requires_token ? "need the token" : "are open");
    *out = s;
    return 0;
fail:
    web__stream_stop(s);
    server_free(s);
    return rc;
}

uint16_t web_server_port(const struct web_server *s)
{
    return s->port;
}

void web_server_stop(struct web_server *s)
{
    if (!s)
        return;
    /* Stream readers return at once once stopping is set, so the
     * connection threads MHD joins all end. */
    pthread_mutex_lock(&s->ring_lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->ring_cond);
    pthread_mutex_unlock(&s->ring_lock);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    web__stream_stop(s);
    server_free(s);
}
