/* sup.c: the supervisor (sup.h).
 *
 * Design note
 *   The supervisor keeps one record per matched port path (struct
 *   sup_port), whether or not a worker runs on it, so that the port's
 *   restart state (backoff, "busy" warning given, unplugged) survives the
 *   worker. Paths are compared after realpath(): /dev/serial/by-path/X and
 *   /dev/ttyUSB3 naming one tty are one port.
 *
 *   A scan (timer, udev event, reload) globs every configured pattern and
 *   then walks the records:
 *     no worker, path present   -> start one, unless backing off
 *     no worker, path gone      -> forget the record (unless backing off:
 *                                  a failing modem that flaps keeps its
 *                                  delay)
 *     worker, path gone         -> nothing: the worker sees the hang-up
 *                                  and ends UNPLUGGED itself.
 *   A worker's end is handled on the next loop turn (worker.h: never free
 *   it inside its own callback): FAILED and DUPLICATE back off (doubling
 *   from retry_backoff_min up to retry_backoff_max, back to the minimum
 *   after a run longer than the maximum), UNPLUGGED waits for the path,
 *   STOPPED stays stopped. The device row of an identified modem whose
 *   worker ended is marked absent. */
#define GW_LOG_TAG "sup"

#include "sup.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libudev.h>

#include "db/db_devices.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "gw/log.h"
#include "gw/mask.h"

#define SUP_SCAN_INTERVAL_MS 2000 /* ptys have no udev event */
#define SUP_PORTS_MAX        1024 /* port records, running or not */
#define SUP_BY_PATH_DIR      "/dev/serial/by-path/"

enum sup_port_state {
    SUP_PORT_IDLE, /* no worker yet, or start failed (busy) */
    SUP_PORT_RUNNING,
    SUP_PORT_EXITED,    /* worker ended, being reaped */
    SUP_PORT_BACKOFF,   /* FAILED / DUPLICATE: wait until retry_at */
    SUP_PORT_UNPLUGGED, /* wait for the path to come back */
    SUP_PORT_STOPPED    /* worker_stop(): not restarted */
};

struct sup_port {
    char path[GW_CONFIG_PATH_MAX]; /* as matched by the glob */
    char real[PATH_MAX];           /* realpath(), the record's key */
    struct usb_location loc;
    enum sup_port_state state;
    struct worker *w;
    char imei[16]; /* "" until identified */
    char imei_masked[24];
    enum worker_exit why;
    unsigned backoff_s; /* the next delay */
    int64_t retry_at;   /* monotonic ms */
    int64_t started_ms;
    unsigned starts; /* workers started on this port */
    int warned_busy;
    int seen; /* matched by the current scan */
    struct sup *sup;
    struct sup_port *next;
};

struct sup {
    struct app *app;
    uv_timer_t scan_timer;
    uv_timer_t reap_timer;
    uv_timer_t retry_timer; /* the earliest backoff's end */
    struct udev *udev;
    struct udev_monitor *mon;
    uv_poll_t udev_poll;
    int udev_active;
    struct sup_port *ports;
    size_t nports;
    int warned_full;
    int stopping;
    void (*stop_done)(void *ctx);
    void *stop_ctx;
    int stop_reported;
    unsigned open_handles; /* closed by sup_free() */
};

static const char *exit_name(enum worker_exit why)
{
    switch (why) {
    case WORKER_EXIT_STOPPED: return "stopped";
    case WORKER_EXIT_UNPLUGGED: return "unplugged";
    case WORKER_EXIT_DUPLICATE: return "duplicate";
    case WORKER_EXIT_FAILED: return "failed";
    }
    return "?";
}

static const char *port_state_name(enum sup_port_state st)
{
    switch (st) {
    case SUP_PORT_IDLE: return "idle";
    case SUP_PORT_RUNNING: return "running";
    case SUP_PORT_EXITED: return "exited";
    case SUP_PORT_BACKOFF: return "backoff";
    case SUP_PORT_UNPLUGGED: return "unplugged";
    case SUP_PORT_STOPPED: return "stopped";
    }
    return "?";
}

/* The one writer of a port's state. */
static void port_set_state(struct sup_port *p, enum sup_port_state st)
{
    if (p->state == st)
        return;
    GW_LOG(GW_LOG_DEBUG, p->path, "port %s -> %s", port_state_name(p->state),
           port_state_name(st));
    p->state = st;
}

/* ---- USB location ---------------------------------------------------------
 */

static int parse_port_number(const char *s, size_t len, int *out)
{
    int v = 0;

    if (len == 0 || len > 3)
        return GW_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return GW_E_INVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 255)
        return GW_E_RANGE;
    *out = v;
    return 0;
}

int sup_location_from_by_path(const char *name, struct usb_location *out)
{
    const char *usb = NULL, *p, *chain, *chain_end, *dot;
    size_t hub_len;
    int port, rc;

    memset(out, 0, sizeof *out);
    if (!name)
        return GW_E_INVAL;
    /* The last "-usb-" or "-usbvN-" (udev >= 243 names the USB version). */
    for (p = strstr(name, "-usb"); p; p = strstr(p + 1, "-usb")) {
        const char *q = p + 4;

        if (*q == 'v' && isdigit((unsigned char)q[1]))
            q += 2;
        if (*q == '-')
            usb = q + 1;
    }
    if (!usb)
        return GW_E_INVAL;
    /* usb points at "<n>:<port chain>:<config>.<interface>[-portN]". */
    chain = strchr(usb, ':');
    if (!chain || chain == usb)
        return GW_E_INVAL;
    for (p = usb; p < chain; p++)
        if (!isdigit((unsigned char)*p))
            return GW_E_INVAL;
    chain++;
    chain_end = strchr(chain, ':');
    if (!chain_end || chain_end == chain)
        return GW_E_INVAL;
    for (p = chain; p < chain_end; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return GW_E_INVAL;
    dot = NULL;
    for (p = chain; p < chain_end; p++)
        if (*p == '.')
            dot = p;
    if (dot) {
        rc = parse_port_number(dot + 1, (size_t)(chain_end - dot - 1), &port);
        hub_len = (size_t)(dot - name);
    } else {
        /* On a root-hub port: the hub is the controller's root hub. */
        rc = parse_port_number(chain, (size_t)(chain_end - chain), &port);
        hub_len = (size_t)(chain - 1 - name);
    }
    if (rc < 0)
        return GW_E_INVAL;
    if (hub_len >= sizeof out->hub)
        return GW_E_TOOLONG;
    memcpy(out->hub, name, hub_len);
    out->hub[hub_len] = '\0';
    out->port = port;
    return 0;
}

/* From the tty's sysfs device link ("../../devices/.../1-1.2/1-1.2.3/
 * 1-1.2.3:1.0/ttyUSB0"): the USB interface component "1-1.2.3:1.0" names
 * the device "1-1.2.3", on hub "1-1.2", port 3. */
static int location_from_sysfs(const char *link, struct usb_location *out)
{
    const char *seg = link, *colon, *dash, *dot, *p;
    int port;

    memset(out, 0, sizeof *out);
    for (p = link; *p; p++) {
        if (*p != '/')
            continue;
        /* the component before this slash */
        colon = memchr(seg, ':', (size_t)(p - seg));
        dash = memchr(seg, '-', (size_t)(p - seg));
        if (colon && dash && dash < colon && isdigit((unsigned char)*seg)) {
            size_t dev_len = (size_t)(colon - seg);

            dot = NULL;
            for (const char *q = dash; q < colon; q++)
                if (*q == '.')
                    dot = q;
            if (!dot) /* on a root port: hub "usbN" */
                return GW_E_INVAL;
            if (parse_port_number(dot + 1, (size_t)(colon - dot - 1), &port) <
                    0 ||
                (size_t)(dot - seg) >= sizeof out->hub || dev_len == 0)
                return GW_E_INVAL;
            memcpy(out->hub, seg, (size_t)(dot - seg));
            out->hub[dot - seg] = '\0';
            out->port = port;
            return 0;
        }
        seg = p + 1;
    }
    return GW_E_INVAL;
}

/* Best effort: the by-path name when the port was matched through it, else
 * sysfs. A pty has no location ("", 0). */
static void port_locate(struct sup_port *p)
{
    const char *base = strrchr(p->real, '/');
    char sys[PATH_MAX], link[PATH_MAX];
    ssize_t n;

    memset(&p->loc, 0, sizeof p->loc);
    if (strncmp(p->path, SUP_BY_PATH_DIR, strlen(SUP_BY_PATH_DIR)) == 0 &&
        sup_location_from_by_path(p->path + strlen(SUP_BY_PATH_DIR), &p->loc) ==
            0)
        return;
    if (!base)
        return;
    snprintf(sys, sizeof sys, "/sys/class/tty/%s/device", base + 1);
    n = readlink(sys, link, sizeof link - 1);
    if (n <= 0)
        return;
    link[n] = '\0';
    /* readlink gives ".../1-1.2.3:1.0" for the interface: add the slash
     * the parser expects after each component. */
    if ((size_t)n + 1 < sizeof link) {
        link[n] = '/';
        link[n + 1] = '\0';
    }
    (void)location_from_sysfs(link, &p->loc);
}

/* ---- workers --------------------------------------------------------------
 */

static int on_identified(void *ctx, struct worker *w, const char *imei)
{
    struct sup_port *p = ctx, *o;
    char masked[24];

    (void)w;
    gw_mask_id(imei, masked, sizeof masked);
    for (o = p->sup->ports; o; o = o->next) {
        if (o != p && o->state == SUP_PORT_RUNNING &&
            strcmp(o->imei, imei) == 0) {
            GW_LOG(GW_LOG_WARN, p->path,
                   "IMEI %s is already served on %s: refused (two ports of "
                   "one module, or a cloned IMEI)",
                   masked, o->path);
            return -EEXIST;
        }
    }
    snprintf(p->imei, sizeof p->imei, "%s", imei);
    snprintf(p->imei_masked, sizeof p->imei_masked, "%s", masked);
    GW_LOG(GW_LOG_INFO, p->path, "modem %s identified", masked);
    return 0;
}

static void mark_absent(struct sup *s, struct sup_port *p)
{
    struct db_device d;
    int rc;

    if (!p->imei[0] || !s->app->db)
        return;
    rc = db_device_get(s->app->db, p->imei, &d);
    if (rc == GW_E_NOTFOUND)
        return;
    if (rc == 0) {
        d.state = DB_DEVICE_ABSENT;
        d.last_seen_ms = gw_wall_ms();
        rc = db_device_upsert(s->app->db, &d);
    }
    if (rc < 0)
        GW_LOG(GW_LOG_ERR, p->imei_masked, "cannot mark the device absent: %s",
               gw_strerror(rc));
}

static void on_reap(uv_timer_t *t);

/* Handle ended workers on the next loop turn, outside their call chain. */
static void reap_soon(struct sup *s)
{
    uv_timer_start(&s->reap_timer, on_reap, 0, 0);
}

static void on_exited(void *ctx, struct worker *w, enum worker_exit why,
                      const char *detail)
{
    struct sup_port *p = ctx;

    (void)w;
    GW_LOG(why == WORKER_EXIT_FAILED ? GW_LOG_WARN : GW_LOG_INFO, p->path,
           "worker ended: %s%s%s", exit_name(why), detail ? ": " : "",
           detail ? detail : "");
    p->why = why;
    port_set_state(p, SUP_PORT_EXITED);
    reap_soon(p->sup);
}

static const struct worker_ops sup_worker_ops = {
    .identified = on_identified,
    .exited = on_exited,
};

static void port_start(struct sup *s, struct sup_port *p, int64_t now)
{
    int rc;

    rc = worker_start(&p->w, s->app, p->path, &p->loc, &sup_worker_ops, p);
    if (rc < 0) {
        p->w = NULL;
        if (rc == -EBUSY) {
            /* Another process holds it: retried at every scan. */
            if (!p->warned_busy)
                GW_LOG(GW_LOG_WARN, p->path,
                       "port is held by another process; retrying");
            p->warned_busy = 1;
            port_set_state(p, SUP_PORT_IDLE);
            return;
        }
        GW_LOG(GW_LOG_WARN, p->path, "cannot start a worker: %s",
               gw_strerror(rc));
        p->why = WORKER_EXIT_FAILED;
        port_set_state(p, SUP_PORT_EXITED);
        reap_soon(s);
        return;
    }
    p->warned_busy = 0;
    p->imei[0] = '\0';
    p->imei_masked[0] = '\0';
    p->started_ms = now;
    p->starts++;
    port_set_state(p, SUP_PORT_RUNNING);
    GW_LOG(GW_LOG_INFO, p->path, "worker started (hub %s port %d)",
           p->loc.hub[0] ? p->loc.hub : "-", p->loc.port);
}

static void port_unlink(struct sup *s, struct sup_port *p)
{
    struct sup_port **pp;

    for (pp = &s->ports; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            s->nports--;
            free(p);
            return;
        }
    }
}

static unsigned backoff_next(const struct gw_config_policy *pol, unsigned cur)
{
    if (cur < pol->retry_backoff_min_s)
        return pol->retry_backoff_min_s;
    if (cur >= pol->retry_backoff_max_s / 2)
        return pol->retry_backoff_max_s;
    return cur * 2;
}

static void check_stop_done(struct sup *s)
{
    if (!s->stopping || s->stop_reported)
        return;
    for (struct sup_port *p = s->ports; p; p = p->next)
        if (p->w)
            return;
    s->stop_reported = 1;
    GW_LOG(GW_LOG_INFO, NULL, "every worker has stopped");
    if (s->stop_done)
        s->stop_done(s->stop_ctx);
}

static void scan(struct sup *s);

static void on_retry_timer(uv_timer_t *t)
{
    scan(t->data);
}

/* Scan again when the earliest backoff ends (the scan interval may be
 * longer than the shortest delay). */
static void retry_arm(struct sup *s, int64_t now)
{
    int64_t at = INT64_MAX;

    for (struct sup_port *p = s->ports; p; p = p->next)
        if (p->state == SUP_PORT_BACKOFF && p->retry_at < at)
            at = p->retry_at;
    if (at == INT64_MAX || s->stopping) {
        uv_timer_stop(&s->retry_timer);
        return;
    }
    uv_timer_start(&s->retry_timer, on_retry_timer,
                   at > now ? (uint64_t)(at - now) : 0, 0);
}

/* Free the workers that have exited and decide what comes next. */
static void on_reap(uv_timer_t *t)
{
    struct sup *s = t->data;
    const struct gw_config_policy *pol = &s->app->cfg->policy;
    int64_t now = gw_now_ms();

    for (struct sup_port *p = s->ports; p; p = p->next) {
        if (p->state != SUP_PORT_EXITED)
            continue;
        worker_free(p->w);
        p->w = NULL;
        mark_absent(s, p);
        switch (p->why) {
        case WORKER_EXIT_STOPPED: port_set_state(p, SUP_PORT_STOPPED); break;
        case WORKER_EXIT_UNPLUGGED:
            p->backoff_s = 0;
            port_set_state(p, SUP_PORT_UNPLUGGED);
            break;
        case WORKER_EXIT_DUPLICATE:
        case WORKER_EXIT_FAILED:
            /* A worker that ran cleanly for longer than the longest delay
             * failed afresh: start again from the shortest. */
            if (p->started_ms &&
                now - p->started_ms > (int64_t)pol->retry_backoff_max_s * 1000)
                p->backoff_s = 0;
            p->backoff_s = backoff_next(pol, p->backoff_s);
            p->retry_at = now + (int64_t)p->backoff_s * 1000;
            port_set_state(p, SUP_PORT_BACKOFF);
            GW_LOG(GW_LOG_INFO, p->path, "restart in %u s", p->backoff_s);
            break;
        }
    }
    retry_arm(s, now);
    check_stop_done(s);
}

/* ---- discovery ------------------------------------------------------------
 */

static struct sup_port *port_find(struct sup *s, const char *real)
{
    for (struct sup_port *p = s->ports; p; p = p->next)
        if (strcmp(p->real, real) == 0)
            return p;
    return NULL;
}

static void scan_one(struct sup *s, const char *path)
{
    char real[PATH_MAX];
    struct sup_port *p;

    if (strlen(path) >= GW_CONFIG_PATH_MAX) {
        GW_LOG(GW_LOG_WARN, NULL, "port path too long, skipped: %.64s...",
               path);
        return;
    }
    if (!realpath(path, real))
        return; /* vanished since the glob */
    p = port_find(s, real);
    if (!p) {
        if (s->nports >= SUP_PORTS_MAX) {
            if (!s->warned_full)
                GW_LOG(GW_LOG_ERR, NULL,
                       "more than %d ports match: %s "
                       "and later ones ignored",
                       SUP_PORTS_MAX, path);
            s->warned_full = 1;
            return;
        }
        p = calloc(1, sizeof *p);
        if (!p) {
            GW_LOG(GW_LOG_ERR, path, "out of memory");
            return;
        }
        p->sup = s;
        snprintf(p->path, sizeof p->path, "%s", path);
        snprintf(p->real, sizeof p->real, "%s", real);
        p->state = SUP_PORT_IDLE;
        p->next = s->ports;
        s->ports = p;
        s->nports++;
        port_locate(p);
        GW_LOG(GW_LOG_INFO, p->path, "port found");
    }
    p->seen = 1;
}

static void scan(struct sup *s)
{
    const struct gw_config_modems *m = &s->app->cfg->modems;
    int64_t now = gw_now_ms();
    struct sup_port *p, *next;

    if (s->stopping)
        return;
    for (p = s->ports; p; p = p->next)
        p->seen = 0;
    for (size_t i = 0; i < m->nports; i++) {
        glob_t g;
        int rc = glob(m->ports[i], GLOB_NOSORT, NULL, &g);

        if (rc == 0) {
            for (size_t k = 0; k < g.gl_pathc; k++)
                scan_one(s, g.gl_pathv[k]);
        } else if (rc != GLOB_NOMATCH) {
            GW_LOG(GW_LOG_WARN, NULL, "glob %s: %s", m->ports[i],
                   rc == GLOB_NOSPACE ? "out of memory" : "read error");
        }
        globfree(&g);
    }
    for (p = s->ports; p; p = next) {
        next = p->next;
        switch (p->state) {
        case SUP_PORT_RUNNING:
        case SUP_PORT_EXITED: break; /* the worker notices a lost port */
        case SUP_PORT_IDLE:
        case SUP_PORT_UNPLUGGED:
        case SUP_PORT_STOPPED:
            if (!p->seen) {
                if (p->state != SUP_PORT_IDLE || p->starts)
                    GW_LOG(GW_LOG_INFO, p->path, "port gone");
                port_unlink(s, p);
            } else if (p->state != SUP_PORT_STOPPED) {
                port_start(s, p, now);
            }
            break;
        case SUP_PORT_BACKOFF:
            if (p->seen && now >= p->retry_at)
                port_start(s, p, now);
            else
                GW_LOG(GW_LOG_DEBUG, p->path, "backoff: %lld ms left (seen %d)",
                       (long long)(p->retry_at - now), p->seen);
            break;
        }
    }
    retry_arm(s, now);
}

static void on_scan_timer(uv_timer_t *t)
{
    scan(t->data);
}

static void on_udev(uv_poll_t *h, int status, int events)
{
    struct sup *s = h->data;
    struct udev_device *dev;

    (void)events;
    if (status < 0) {
        GW_LOG(GW_LOG_WARN, NULL, "udev monitor: %s; relying on the scan",
               uv_strerror(status));
        uv_poll_stop(h);
        return;
    }
    dev = udev_monitor_receive_device(s->mon);
    if (!dev)
        return;
    GW_LOG(GW_LOG_DEBUG, udev_device_get_devnode(dev), "udev %s",
           udev_device_get_action(dev) ? udev_device_get_action(dev) : "?");
    udev_device_unref(dev);
    /* Scan now; by-path links are in place when udev announces a device. */
    uv_timer_start(&s->scan_timer, on_scan_timer, 0, SUP_SCAN_INTERVAL_MS);
}

/* Without udev (a container, no netlink), the periodic scan finds ports. */
static void udev_setup(struct sup *s)
{
    int fd;

    s->udev = udev_new();
    if (!s->udev)
        goto fail;
    s->mon = udev_monitor_new_from_netlink(s->udev, "udev");
    if (!s->mon ||
        udev_monitor_filter_add_match_subsystem_devtype(s->mon, "tty", NULL) <
            0 ||
        udev_monitor_enable_receiving(s->mon) < 0)
        goto fail;
    fd = udev_monitor_get_fd(s->mon);
    if (fd < 0 || uv_poll_init(s->app->loop, &s->udev_poll, fd) < 0)
        goto fail;
    s->udev_poll.data = s;
    s->udev_active = 1;
    s->open_handles++;
    uv_poll_start(&s->udev_poll, UV_READABLE, on_udev);
    return;

fail:
    GW_LOG(GW_LOG_INFO, NULL,
           "no udev monitor; ports are found by the %d s "
           "scan only",
           SUP_SCAN_INTERVAL_MS / 1000);
    udev_monitor_unref(s->mon);
    s->mon = NULL;
    udev_unref(s->udev);
    s->udev = NULL;
}

/* ---- lifecycle ------------------------------------------------------------
 */

int sup_new(struct sup **out, struct app *app)
{
    struct sup *s;

    *out = NULL;
    if (!app || !app->loop || !app->cfg)
        return GW_E_INVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->app = app;
    uv_timer_init(app->loop, &s->scan_timer);
    uv_timer_init(app->loop, &s->reap_timer);
    uv_timer_init(app->loop, &s->retry_timer);
    s->scan_timer.data = s;
    s->reap_timer.data = s;
    s->retry_timer.data = s;
    s->open_handles = 3;
    *out = s;
    return 0;
}

int sup_start(struct sup *s)
{
    udev_setup(s);
    scan(s);
    return uv_timer_start(&s->scan_timer, on_scan_timer, SUP_SCAN_INTERVAL_MS,
                          SUP_SCAN_INTERVAL_MS);
}

void sup_stop(struct sup *s, void (*done)(void *ctx), void *ctx)
{
    s->stopping = 1;
    s->stop_done = done;
    s->stop_ctx = ctx;
    s->stop_reported = 0;
    uv_timer_stop(&s->scan_timer);
    uv_timer_stop(&s->retry_timer);
    if (s->udev_active)
        uv_poll_stop(&s->udev_poll);
    for (struct sup_port *p = s->ports; p; p = p->next)
        if (p->state == SUP_PORT_RUNNING)
            worker_stop(p->w);
    /* With no worker at all, done() still runs from the loop. */
    reap_soon(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct sup *s = h->data;

    if (--s->open_handles == 0)
        free(s);
}

void sup_free(struct sup *s)
{
    if (!s)
        return;
    /* The daemon frees the supervisor after sup_stop()'s done(): no
     * worker is running any more, only records remain. */
    while (s->ports) {
        struct sup_port *p = s->ports;

        s->ports = p->next;
        worker_free(p->w);
        free(p);
    }
    udev_monitor_unref(s->mon);
    udev_unref(s->udev);
    /* The memory goes with the last handle's close callback, on the next
     * loop turn. */
    uv_close((uv_handle_t *)&s->scan_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->reap_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
    if (s->udev_active)
        uv_close((uv_handle_t *)&s->udev_poll, on_handle_closed);
}

void sup_config_changed(struct sup *s)
{
    GW_LOG(GW_LOG_INFO, NULL, "configuration reloaded: rescanning ports");
    for (struct sup_port *p = s->ports; p; p = p->next)
        if (p->state == SUP_PORT_BACKOFF)
            p->retry_at = 0; /* a new config may fix what failed */
    scan(s);
}

void sup_foreach(struct sup *s, void (*fn)(void *ctx, struct worker *w),
                 void *ctx)
{
    for (struct sup_port *p = s->ports; p; p = p->next)
        if (p->state == SUP_PORT_RUNNING && p->w)
            fn(ctx, p->w);
}
