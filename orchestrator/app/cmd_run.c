/* cmd_run.c: `sotagw run`, the daemon in the foreground.
 *
 * Start-up, in dependency order (each step's failure stops the start with
 * a message): configuration (exit 2 on any error), the descriptor limit
 * (raised to the hard limit; a warning when even that is below what the
 * configuration needs, docs/ARCHITECTURE.md "Descriptors"), state directory and
 * staging directory (0700), database (a corrupt file or one from a newer
 * sotagw is refused: exit 1), group commit, Modbus buses, supervisor.
 *
 * Shutdown on SIGTERM/SIGINT, in reverse: the supervisor stops every worker
 * (each stores the chunk in hand, writes its checkpoint, closes its port);
 * then the bus threads are joined (workers have withdrawn their requests;
 * a flash still running stops between two requests and the device resumes
 * from its `received`); then a final group commit; then the database is
 * closed. The web server (its own threads and database connections) starts
 * once the database is open and stops first. SIGHUP re-reads the configuration
 * and swaps it in only if it validates. Signals arrive through uv_signal: no
 * handler runs in signal context. */
#define GW_LOG_TAG "run"

#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>

#include <uv.h>

#include "app.h"
#include "dio/mb_bus.h"
#include "cli.h"
#include "gw/err.h"
#include "gw/log.h"
#include "sup.h"
#include "web_backend.h"
#include "web_start.h"

#define RUN_RESPONSE_TIMEOUT_MS 1000 /* the profile's default */
/* The descriptor budget (docs/ARCHITECTURE.md "Descriptors"): the range
 * below FD_SETSIZE is kept for libmodbus and the other select() users;
 * above it, per modem its tty and its staging file, per bus its link,
 * and a margin for the database, the loop, the web server and short-lived
 * files. */
#define RUN_FDS_PER_MODEM 2
#define RUN_FDS_MARGIN    256

/* What the command line overrides in the config file. */
struct run_opts {
    const char *config;
    const char *db;
    const char *state_dir;
    const char *listen;
    const char *ports;
    const char *log_level;
};

struct run {
    struct app app;
    struct web_server *web;
    struct web_backend *backend;
    char listen_host[GW_CONFIG_HOST_MAX];
    int listen_port; /* -1: the config's */
    struct run_opts opts;
    struct gw_config *cfg; /* owned; app.cfg points here */
    uv_signal_t sig[3];    /* SIGTERM, SIGINT, SIGHUP */
    int nsig;              /* initialised */
    int commit_ok;         /* app_commit_init() done */
    int exit_code;
};

static const char run_usage[] =
    "usage: sotagw run --config FILE [--db PATH] [--state-dir DIR]\n"
    "                  [--listen ADDR:PORT] [--ports GLOB[,GLOB...]]\n"
    "                  [--log-level error|warn|info|debug]\n";

static int parse_level(const char *s, enum gw_log_level *out)
{
    static const struct {
        const char *name;
        enum gw_log_level level;
    } names[] = {{"error", GW_LOG_ERR},
                 {"err", GW_LOG_ERR},
                 {"warn", GW_LOG_WARN},
                 {"info", GW_LOG_INFO},
                 {"debug", GW_LOG_DEBUG}};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return GW_E_INVAL;
}

static int copy_path(const char *what, const char *src, char *dst)
{
    if (src[0] != '/') {
        fprintf(stderr, "sotagw: %s: want an absolute path: %s\n", what, src);
        return GW_E_INVAL;
    }
    if (strlen(src) >= GW_CONFIG_PATH_MAX) {
        fprintf(stderr, "sotagw: %s: longer than %d characters\n", what,
                GW_CONFIG_PATH_MAX - 1);
        return GW_E_TOOLONG;
    }
    snprintf(dst, GW_CONFIG_PATH_MAX, "%s", src);
    return 0;
}

/* Apply the command line to a freshly parsed config (before anything else
 * sees it; the config is immutable from then on). */
static int apply_opts(const struct run_opts *o, struct gw_config *cfg)
{
    if (o->state_dir &&
        copy_path("--state-dir", o->state_dir, cfg->gateway.state_dir) < 0)
        return GW_E_INVAL;
    if (o->db && copy_path("--db", o->db, cfg->gateway.db) < 0)
        return GW_E_INVAL;
    if (o->log_level &&
        parse_level(o->log_level, &cfg->gateway.log_level) < 0) {
        fprintf(stderr, "sotagw: --log-level: want error, warn, info or "
                        "debug\n");
        return GW_E_INVAL;
    }
    if (o->ports) {
        const char *p = o->ports;

        cfg->modems.nports = 0;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char *dst;

            if (cfg->modems.nports >= GW_CONFIG_PORTS_MAX) {
                fprintf(stderr, "sotagw: --ports: at most %d globs\n",
                        GW_CONFIG_PORTS_MAX);
                return GW_E_RANGE;
            }
            if (len == 0 || p[0] != '/' || len >= GW_CONFIG_PATH_MAX) {
                fprintf(stderr,
                        "sotagw: --ports: '%.*s' is not an absolute "
                        "glob (of < %d characters)\n",
                        (int)len, p, GW_CONFIG_PATH_MAX);
                return GW_E_INVAL;
            }
            dst = cfg->modems.ports[cfg->modems.nports++];
            memcpy(dst, p, len);
            dst[len] = '\0';
            p += len;
            if (*p == ',')
                p++;
        }
        if (cfg->modems.nports == 0) {
            fprintf(stderr, "sotagw: --ports: empty\n");
            return GW_E_INVAL;
        }
    }
    return 0;
}

/* --listen HOST:PORT or [IPv6]:PORT. */
static int parse_listen(const char *s, char *host, size_t cap, int *port)
{
    const char *colon;
    char *end;
    size_t hl;
    long v;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (!close || close[1] != ':')
            return GW_E_INVAL;
        s++;
        hl = (size_t)(close - s);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return GW_E_INVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= cap)
        return GW_E_INVAL;
    errno = 0;
    v = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || v < 0 || v > 65535)
        return GW_E_RANGE;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

/* Load the config file and apply the command line. Messages on stderr. */
static int load_config(const struct run_opts *o, struct gw_config **out)
{
    struct gw_config *cfg;
    int rc = cli_config_load(o->config, &cfg);

    *out = NULL;
    if (rc < 0)
        return rc;
    rc = apply_opts(o, cfg);
    if (rc < 0) {
        gw_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

/* A glob that is not a pattern of device paths would never match a modem:
 * say so at start (a pattern that matches nothing yet is normal: modems
 * are plugged in later). Returns the number of paths matched now. */
static size_t report_globs(const struct gw_config *cfg)
{
    size_t total = 0;

    for (size_t i = 0; i < cfg->modems.nports; i++) {
        glob_t g;
        int rc = glob(cfg->modems.ports[i], GLOB_NOSORT, NULL, &g);

        if (rc == GLOB_NOMATCH)
            GW_LOG(GW_LOG_WARN, NULL, "ports: %s matches nothing yet",
                   cfg->modems.ports[i]);
        else if (rc != 0)
            GW_LOG(GW_LOG_ERR, NULL, "ports: %s: cannot be read",
                   cfg->modems.ports[i]);
        else
            GW_LOG(GW_LOG_INFO, NULL, "ports: %s matches %zu path%s now",
                   cfg->modems.ports[i], g.gl_pathc,
                   g.gl_pathc == 1 ? "" : "s");
        if (rc == 0)
            total += g.gl_pathc;
        globfree(&g);
    }
    return total;
}

/* Raise the soft RLIMIT_NOFILE to the hard limit (descriptors above
 * FD_SETSIZE are safe here: libuv waits with epoll, and libmodbus only
 * ever gets a low slot, dio/fd_place.h). The need is estimated from the
 * modems matched now or configured as targets, and the targets (at most
 * one bus each); a hard limit below it is logged with the number. */
static void raise_nofile(const struct gw_config *cfg, size_t ports_now)
{
    size_t modems = ports_now > cfg->ntargets ? ports_now : cfg->ntargets;
    rlim_t need = (rlim_t)FD_SETSIZE + RUN_FDS_PER_MODEM * (rlim_t)modems +
                  (rlim_t)cfg->ntargets + RUN_FDS_MARGIN;
    struct rlimit rl;
    rlim_t was;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        GW_LOG(GW_LOG_WARN, NULL, "RLIMIT_NOFILE: %s", strerror(errno));
        return;
    }
    was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            GW_LOG(GW_LOG_WARN, NULL, "RLIMIT_NOFILE %llu -> %llu: %s",
                   (unsigned long long)was, (unsigned long long)rl.rlim_max,
                   strerror(errno));
            rl.rlim_cur = was;
        }
    }
    if (rl.rlim_cur < need)
        GW_LOG(GW_LOG_WARN, NULL,
               "descriptor limit %llu (hard %llu) is "
               "below the %llu this configuration needs (%zu modems, %zu "
               "targets): raise the hard limit (LimitNOFILE= in the "
               "service unit, ulimit -Hn); modems and buses beyond it fail "
               "to open",
               (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
               (unsigned long long)need, modems, cfg->ntargets);
    else
        GW_LOG(GW_LOG_INFO, NULL,
               "descriptor limit %llu (was %llu; this "
               "configuration needs about %llu)",
               (unsigned long long)rl.rlim_cur, (unsigned long long)was,
               (unsigned long long)need);
}

/* mkdir -m 0700 unless it exists as a directory. */
static int make_dir(const char *path)
{
    struct stat st;

    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        goto fail;
    if (stat(path, &st) != 0)
        goto fail;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        goto fail;
    }
    if (st.st_mode & 0077)
        GW_LOG(GW_LOG_WARN, path,
               "readable by others (mode %03o): it holds "
               "device identities and the API token",
               (unsigned)(st.st_mode & 0777));
    return 0;

fail:
    fprintf(stderr, "sotagw: %s: %s\n", path, strerror(errno));
    return -errno;
}

/* ---- signals ---------------------------------------------------------------
 */

static void close_signals(struct run *r)
{
    for (int i = 0; i < r->nsig; i++)
        uv_close((uv_handle_t *)&r->sig[i], NULL);
    r->nsig = 0;
}

/* Every worker has stopped: buses, final commit; the loop then ends. */
static void on_workers_stopped(void *ctx)
{
    struct run *r = ctx;
    int rc;

    GW_LOG(GW_LOG_INFO, NULL, "stopping the Modbus buses");
    mb_bus_set_free(r->app.buses);
    r->app.buses = NULL;
    rc = app_commit_flush(&r->app);
    if (rc < 0) {
        GW_LOG(GW_LOG_ERR, NULL, "final commit failed: %s", gw_strerror(rc));
        r->exit_code = CLI_EXIT_RUNTIME;
    }
    app_commit_cleanup(&r->app);
    r->commit_ok = 0;
    sup_free(r->app.sup);
    r->app.sup = NULL;
    close_signals(r);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct run *r = h->data;

    if (r->app.stopping) {
        GW_LOG(GW_LOG_WARN, NULL, "%s: already stopping", strsignal(signum));
        return;
    }
    GW_LOG(GW_LOG_INFO, NULL, "%s: stopping", strsignal(signum));
    r->app.stopping = 1;
    web_server_stop(r->web); /* before the backend: its ops need the loop */
    r->web = NULL;
    web_backend_close(r->backend);
    r->backend = NULL;
    sup_stop(r->app.sup, on_workers_stopped, r);
}

static void on_hup(uv_signal_t *h, int signum)
{
    struct run *r = h->data;
    struct gw_config *cfg, *old;

    (void)signum;
    if (r->app.stopping)
        return;
    GW_LOG(GW_LOG_INFO, NULL, "SIGHUP: reloading %s", r->opts.config);
    if (load_config(&r->opts, &cfg) < 0) {
        /* the reason went to stderr with file:line */
        GW_LOG(GW_LOG_ERR, NULL,
               "the new configuration is invalid; keeping "
               "the running one");
        return;
    }
    old = r->cfg;
    if (strcmp(cfg->gateway.state_dir, old->gateway.state_dir) != 0 ||
        strcmp(cfg->gateway.db, old->gateway.db) != 0 ||
        cfg->gateway.log_level != old->gateway.log_level ||
        cfg->policy.flash_per_bus != old->policy.flash_per_bus)
        GW_LOG(GW_LOG_WARN, NULL,
               "state_dir, db, log_level and "
               "flash_per_bus take effect at the next start");
    /* Modules copy what they keep at _new (app.h): the old config can go. */
    r->cfg = cfg;
    r->app.cfg = cfg;
    sup_config_changed(r->app.sup);
    gw_config_free(old);
    GW_LOG(GW_LOG_INFO, NULL, "configuration reloaded");
}

static int start_signals(struct run *r)
{
    static const uv_signal_cb cbs[] = {on_stop_signal, on_stop_signal, on_hup};
    static const int nums[] = {SIGTERM, SIGINT, SIGHUP};
    int rc;

    for (int i = 0; i < 3; i++) {
        rc = uv_signal_init(r->app.loop, &r->sig[i]);
        if (rc < 0)
            return rc;
        r->nsig++;
        r->sig[i].data = r;
        rc = uv_signal_start(&r->sig[i], cbs[i], nums[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- the command -----------------------------------------------------------
 */

static int parse_args(int argc, char **argv, struct run_opts *o)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"state-dir", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"ports", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'd': o->db = optarg; break;
        case 's': o->state_dir = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'p': o->ports = optarg; break;
        case 'L': o->log_level = optarg; break;
        case 'h': fputs(run_usage, stdout); return 1;
        default: fputs(run_usage, stderr); return GW_E_INVAL;
        }
    }
    if (optind != argc || !o->config) {
        fputs(run_usage, stderr);
        return GW_E_INVAL;
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    struct run r;
    struct mb_bus_policy pol;
    uv_loop_t loop;
    int rc, loop_ok = 0;

    memset(&r, 0, sizeof r);
    r.listen_port = -1;
    rc = parse_args(argc, argv, &r.opts);
    if (rc != 0)
        return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (r.opts.listen &&
        parse_listen(r.opts.listen, r.listen_host, sizeof r.listen_host,
                     &r.listen_port) < 0) {
        fprintf(stderr, "sotagw: --listen: want HOST:PORT or [IPv6]:PORT, "
                        "port 0..65535\n");
        return CLI_EXIT_USAGE;
    }
    if (load_config(&r.opts, &r.cfg) < 0)
        return CLI_EXIT_USAGE;
    gw_log_set_sink(gw_log_sink_stderr, NULL, r.cfg->gateway.log_level);
    GW_LOG(GW_LOG_INFO, NULL, "sotagw starting: config %s, state %s, db %s",
           r.opts.config, r.cfg->gateway.state_dir, r.cfg->gateway.db);
    raise_nofile(r.cfg, report_globs(r.cfg));
    signal(SIGPIPE, SIG_IGN);

    r.exit_code = CLI_EXIT_RUNTIME;
    if (make_dir(r.cfg->gateway.state_dir) < 0)
        goto out;
    if ((size_t)snprintf(r.app.staging_dir, sizeof r.app.staging_dir,
                         "%s/staging", r.cfg->gateway.state_dir) >=
        sizeof r.app.staging_dir) {
        fprintf(stderr, "sotagw: state_dir too long\n");
        goto out;
    }
    if (make_dir(r.app.staging_dir) < 0)
        goto out;
    rc = db_open(&r.app.db, r.cfg->gateway.db, DB_OPEN_READWRITE);
    if (rc < 0) {
        fprintf(stderr, "sotagw: database %s: %s%s; not starting\n",
                r.cfg->gateway.db, gw_strerror(rc),
                rc == GW_E_UNKNOWN   ? " (written by a newer sotagw)"
                : rc == GW_E_CORRUPT ? " (damaged: restore it from a backup "
                                       "or move it away)"
                                     : "");
        goto out;
    }
    if (uv_loop_init(&loop) < 0)
        goto out;
    loop_ok = 1;
    r.app.loop = &loop;
    r.app.cfg = r.cfg;
    rc = app_commit_init(&r.app);
    if (rc < 0)
        goto fail;
    r.commit_ok = 1;
    memset(&pol, 0, sizeof pol);
    pol.flash_per_bus = r.cfg->policy.flash_per_bus;
    pol.response_timeout_ms = RUN_RESPONSE_TIMEOUT_MS;
    mb_flash_config_default(&pol.flash);
    rc = mb_bus_set_new(&r.app.buses, &loop, &pol);
    if (rc < 0)
        goto fail;
    rc = sup_new(&r.app.sup, &r.app);
    if (rc < 0)
        goto fail;
    /* The web API: database routes through its own connections, live data
     * and operator actions through the backend on this loop. */
    rc = web_backend_new(&r.backend, &r.app);
    if (rc < 0)
        goto fail;
    rc = web_server_start_config(
        &r.web, r.cfg, r.listen_host[0] ? r.listen_host : NULL, r.listen_port,
        &web_backend_daemon_ops, r.backend);
    if (rc < 0) {
        fprintf(stderr, "sotagw: web API: %s; not starting\n", gw_strerror(rc));
        goto fail;
    }
    GW_LOG(GW_LOG_INFO, NULL, "web API on port %u",
           (unsigned)web_server_port(r.web));
    rc = start_signals(&r);
    if (rc < 0)
        goto fail;
    rc = sup_start(r.app.sup);
    if (rc < 0)
        goto fail;
    GW_LOG(GW_LOG_INFO, NULL, "running");
    r.exit_code = CLI_EXIT_OK;
    uv_run(&loop, UV_RUN_DEFAULT);
    GW_LOG(GW_LOG_INFO, NULL, "stopped");
    goto out;

fail:
    GW_LOG(GW_LOG_ERR, NULL, "start-up failed: %s", gw_strerror(rc));
    r.exit_code = CLI_EXIT_RUNTIME;
    /* Nothing has run yet: undo in reverse. */
    web_server_stop(r.web);
    r.web = NULL;
    web_backend_close(r.backend);
    r.backend = NULL;
    if (r.app.sup) {
        sup_stop(r.app.sup, NULL, NULL);
        sup_free(r.app.sup);
    }
    mb_bus_set_free(r.app.buses);
    if (r.commit_ok)
        app_commit_cleanup(&r.app);
    close_signals(&r);
    uv_run(&loop, UV_RUN_DEFAULT);

out:
    web_server_stop(r.web);
    if (loop_ok && uv_loop_close(&loop) != 0)
        GW_LOG(GW_LOG_WARN, NULL, "handles left open at exit");
    db_close(r.app.db);
    gw_config_free(r.cfg);
    return r.exit_code;
}
