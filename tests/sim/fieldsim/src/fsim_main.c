/* fieldsim: Modbus field devices speaking the SOTA-Modbus upgrade profile 1,
 * served over Modbus TCP on loopback ports and/or Modbus RTU on ptys.
 *
 * One process, one poll loop, no threads. TCP requests are framed here
 * (MBAP header, then its length) from each client's non-blocking socket
 * and answered through a per-listener libmodbus context whose socket is
 * switched with modbus_set_socket(); an RTU line is a pty whose master
 * side is handed to an RTU context the same way (libmodbus frames RTU),
 * and the slave side is linked at a stable path for the gateway to open
 * like /dev/ttyUSBx. Device logic lives in fsim_dev.c, persistence in
 * fsim_store.c.
 *
 * Scale: thousands of devices in one process. Per device only its spec,
 * its model and its store are allocated; endpoints and poll sets are sized
 * from the command line. libmodbus's modbus_receive() waits with select(),
 * which takes only descriptors below FD_SETSIZE: it is used on the RTU pty
 * masters only, which are opened before anything else and checked to be
 * below FD_SETSIZE; TCP never goes through it, so listeners, clients and
 * state files may take any number (the soft RLIMIT_NOFILE is raised to the
 * hard limit at start).
 *
 * Killing the process is a power cycle of all its devices. */
#define GW_LOG_TAG "fieldsim"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "fsim_dev.h"
#include "fsim_store.h"
#include "gw/clock.h"
#include "gw/compiler.h"
#include "gw/err.h"
#include "gw/log.h"

#define FSIM_DEVICES_MAX 4096 /* --device options */
#define FSIM_TCP_CLIENTS 8    /* per listener */
#define FSIM_HOST_MAX    64
#define FSIM_LINK_MAX    256 /* RTU link path, with the NUL */
#define FSIM_MBAP_LEN    7   /* transaction, protocol, length, unit */
#define FSIM_MAP_HOLDING 640 /* covers 256..260 and 512..634 */

struct fsim_devspec {
    struct fsim_dev_config cfg;
    char tcp[FSIM_HOST_MAX + 8]; /* "HOST:PORT" or "" */
    char rtu[FSIM_LINK_MAX];     /* link path or "" */
};

/* One TCP client: the request being framed. */
struct fsim_client {
    int fd;
    size_t have;
    uint8_t buf[MODBUS_TCP_MAX_ADU_LENGTH];
};

/* The devices behind one endpoint: at most one per unit id (1..247). */
struct fsim_devlist {
    struct fsim_dev **devs;
    size_t ndev;
};

struct fsim_tcp {
    char host[FSIM_HOST_MAX];
    int port;
    modbus_t *ctx;
    int lfd;
    struct fsim_client *cl[FSIM_TCP_CLIENTS];
    struct fsim_devlist dl;
};

struct fsim_rtu {
    char link[FSIM_LINK_MAX];
    char pts[64];
    modbus_t *ctx;
    int mfd;
    int sfd;   /* kept open so the master never sees a hang-up */
    int slave; /* unit id the context currently filters on */
    struct fsim_devlist dl;
};

enum fd_kind { FD_LISTEN, FD_CLIENT, FD_RTU };

struct fd_ref {
    enum fd_kind kind;
    size_t idx;
    size_t sub;
};

/* Arrays of nspec entries (at most that many endpoints), from main(). */
struct fsim_sim {
    const char *state_dir;
    uint64_t seed;
    struct fsim_devspec *specs;
    size_t nspec;
    struct fsim_dev **devs;
    struct fsim_store **stores;
    struct fsim_tcp *tcp;
    size_t ntcp;
    struct fsim_rtu *rtu;
    size_t nrtu;
    struct pollfd *pfd; /* ntcp * (1 + FSIM_TCP_CLIENTS) + nrtu */
    struct fd_ref *ref;
    modbus_mapping_t *map;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- device options ---------------------------------------------------- */

enum key_type {
    KEY_U8,
    KEY_U16,
    KEY_U32,
    KEY_INT,
    KEY_PROB,
    KEY_VERSION,
    KEY_TCP,
    KEY_RTU
};

struct key {
    const char *name;
    enum key_type type;
    size_t off;
    long long min;
    long long max;
    const char *help;
};

#define CFG(f) offsetof(struct fsim_devspec, cfg.f)
#define FLT(f) offsetof(struct fsim_devspec, cfg.faults.f)

static const struct key g_keys[] = {
    {"unit", KEY_U8, CFG(unit), 1, 247, "Modbus unit id (required)"},
    {"tcp", KEY_TCP, offsetof(struct fsim_devspec, tcp), 0, 0,
     "serve on Modbus TCP HOST:PORT (PORT 0: any free port)"},
    {"rtu", KEY_RTU, offsetof(struct fsim_devspec, rtu), 0, 0,
     "serve on the RTU line whose pty is linked at PATH"},
    {"version", KEY_VERSION, CFG(version), 0, 0,
     "factory sw_version (default 1.0.0)"},
    {"battery", KEY_U16, CFG(battery), 0, 0xFFFF,
     "battery %, 0xFFFF = mains (default)"},
    {"free_kib", KEY_U16, CFG(free_kib), 0, 0xFFFF,
     "free space for an image, KiB (default 256)"},
    {"max_block", KEY_U16, CFG(max_block), 2, 240,
     "largest block, bytes, even (default 240)"},
    {"busy_ms", KEY_U32, FLT(busy_ms), 0, 600000,
     "exception 06 for this long after BEGIN and VERIFY (default 0)"},
    {"verify_ms", KEY_U32, FLT(verify_ms), 0, 600000,
     "time spent in state 2 (default 200)"},
    {"apply_ms", KEY_U32, FLT(apply_ms), 0, 600000,
     "silent time in state 4 (default 2000)"},
    {"busy_p", KEY_PROB, FLT(busy_p), 0, 0,
     "probability of exception 06 on any request"},
    {"ignore_p", KEY_PROB, FLT(ignore_p), 0, 0,
     "probability a request is lost (not processed, no reply)"},
    {"drop_p", KEY_PROB, FLT(drop_p), 0, 0,
     "probability a reply is lost (request processed)"},
    {"flash_fail_p", KEY_PROB, FLT(flash_fail_p), 0, 0,
     "probability a block write fails (exception 04, error 3)"},
    {"verify_fail", KEY_INT, FLT(verify_fail), -1, 1000000,
     "first N VERIFYs end in CRC mismatch; -1 all"},
    {"apply_fail", KEY_INT, FLT(apply_fail), -1, 1000000,
     "first N APPLYs fail (error 6, old version kept); -1 all"},
    {"strict_marker", KEY_INT, FLT(strict_marker), 0, 1,
     "1: APPLY of an image without SOTAVER= fails with error 5"},
    {"die_block", KEY_U32, FLT(die_block), 0, UINT32_MAX,
     "power loss on the Nth block of this run, before storing it"},
    {"die_block_stored", KEY_U32, FLT(die_block_stored), 0, UINT32_MAX,
     "power loss after storing the Nth block, before replying"},
};

static int parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return GW_E_RANGE;
    *out = v;
    return 0;
}

static int key_set(struct fsim_devspec *ds, const struct key *k,
                   const char *val)
{
    char *base = (char *)ds + k->off;
    long long v = 0;
    char *end;
    double p;

    switch (k->type) {
    case KEY_U8:
    case KEY_U16:
    case KEY_U32:
    case KEY_INT:
        if (parse_ll(val, k->min, k->max, &v) < 0)
            return GW_E_RANGE;
        if (k->type == KEY_U8)
            *(uint8_t *)base = (uint8_t)v;
        else if (k->type == KEY_U16)
            *(uint16_t *)base = (uint16_t)v;
        else if (k->type == KEY_U32)
            *(uint32_t *)base = (uint32_t)v;
        else
            *(int *)base = (int)v;
        return 0;
    case KEY_PROB:
        errno = 0;
        p = strtod(val, &end);
        if (errno != 0 || end == val || *end != '\0' || !(p >= 0.0) || p > 1.0)
            return GW_E_RANGE;
        *(double *)base = p;
        return 0;
    case KEY_VERSION:
        if (!fsim_image_version_ok(val))
            return GW_E_RANGE;
        snprintf(base, FSIM_VERSION_MAX + 1, "%s", val);
        return 0;
    case KEY_TCP:
        if (strlen(val) >= sizeof ds->tcp || !strchr(val, ':'))
            return GW_E_RANGE;
        snprintf(base, sizeof ds->tcp, "%s", val);
        return 0;
    case KEY_RTU:
        if (val[0] == '\0' || strlen(val) >= sizeof ds->rtu)
            return GW_E_RANGE;
        snprintf(base, sizeof ds->rtu, "%s", val);
        return 0;
    }
    return GW_E_INVAL;
}

/* "unit=1,tcp=127.0.0.1:0,version=1.0.0,busy_ms=500" */
static int devspec_parse(struct fsim_devspec *ds, const char *text,
                         uint64_t seed)
{
    char buf[1024];
    char *save = NULL;
    char *item;
    const char *why;
    int have_unit = 0;
    size_t i;

    memset(ds, 0, sizeof *ds);
    fsim_dev_config_init(&ds->cfg, 0);
    ds->cfg.seed = seed;
    if (strlen(text) >= sizeof buf) {
        fprintf(stderr, "fieldsim: --device: too long\n");
        return GW_E_TOOLONG;
    }
    memcpy(buf, text, strlen(text) + 1);
    for (item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        const struct key *k = NULL;

        if (!eq) {
            fprintf(stderr, "fieldsim: --device: '%s' is not key=value\n",
                    item);
            return GW_E_INVAL;
        }
        *eq = '\0';
        for (i = 0; i < GW_ARRAY_LEN(g_keys); i++) {
            if (strcmp(g_keys[i].name, item) == 0)
                k = &g_keys[i];
        }
        if (!k) {
            fprintf(stderr, "fieldsim: --device: unknown key '%s'\n", item);
            return GW_E_UNKNOWN;
        }
        if (key_set(ds, k, eq + 1) < 0) {
            fprintf(stderr, "fieldsim: --device: bad value '%s' for %s (%s)\n",
                    eq + 1, k->name, k->help);
            return GW_E_RANGE;
        }
        have_unit |= k->type == KEY_U8;
    }
    if (!have_unit || (ds->tcp[0] == '\0' && ds->rtu[0] == '\0')) {
        fprintf(stderr,
                "fieldsim: --device needs unit= and tcp= and/or rtu=\n");
        return GW_E_INVAL;
    }
    if (fsim_dev_config_check(&ds->cfg, &why) < 0) {
        fprintf(stderr, "fieldsim: unit %u: %s\n", (unsigned)ds->cfg.unit, why);
        return GW_E_RANGE;
    }
    return 0;
}

/* ---- transports -------------------------------------------------------- */

static struct fsim_dev *find_dev(const struct fsim_devlist *dl, int unit)
{
    size_t i;

    for (i = 0; i < dl->ndev; i++) {
        if (fsim_dev_get_unit(dl->devs[i]) == unit)
            return dl->devs[i];
    }
    return NULL;
}

/* Add dev (a unit id not yet on the endpoint). 0 or -ENOMEM. */
static int devlist_add(struct fsim_devlist *dl, struct fsim_dev *dev)
{
    struct fsim_dev **n = realloc(dl->devs, (dl->ndev + 1) * sizeof *n);

    if (!n)
        return -ENOMEM;
    n[dl->ndev++] = dev;
    dl->devs = n;
    return 0;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* Decode the PDU libmodbus framed. GW_E_* for a malformed FC16 body. */
static int req_decode(const uint8_t *pdu, int pdu_len, struct fsim_req *req)
{
    uint16_t i;

    memset(req, 0, sizeof *req);
    req->function = pdu[0];
    if (req->function != 0x03 && req->function != 0x04 && req->function != 0x10)
        return 0;
    if (pdu_len < 5)
        return GW_E_TRUNC;
    req->addr = be16(pdu + 1);
    req->count = be16(pdu + 3);
    if (req->function != 0x10)
        return 0;
    if (pdu_len < 6 || req->count < 1 || req->count > FSIM_HR_BLOCK_COUNT ||
        pdu[5] != 2 * req->count || pdu_len < 6 + 2 * req->count)
        return GW_E_RANGE;
    for (i = 0; i < req->count; i++)
        req->regs[i] = be16(pdu + 6 + 2 * i);
    return 0;
}

static const char *action_name(const struct fsim_rsp *rsp)
{
    switch (rsp->action) {
    case FSIM_ACT_REPLY: return "reply";
    case FSIM_ACT_EXCEPTION: return "exception";
    case FSIM_ACT_SILENT: return "no reply";
    case FSIM_ACT_POWER_LOSS: return "power loss";
    }
    return "?";
}

/* Serve one framed request (ADU in frame[0..len)). */
static void serve(struct fsim_sim *sim, modbus_t *ctx,
                  const struct fsim_devlist *dl, const uint8_t *frame, int len,
                  int is_rtu)
{
    int hl = modbus_get_header_length(ctx);
    int pdu_len = len - hl - (is_rtu ? 2 : 0);
    int unit = frame[hl - 1];
    struct fsim_dev *dev = find_dev(dl, unit);
    struct fsim_req req;
    struct fsim_rsp rsp;
    char obj[16];

    snprintf(obj, sizeof obj, "unit-%d", unit);
    if (!dev) {
        if (is_rtu)
            return; /* not ours: a real bus has others answering */
        GW_LOG(GW_LOG_DEBUG, obj, "no such unit on this port");
        modbus_reply_exception(ctx, frame, MODBUS_EXCEPTION_GATEWAY_TARGET);
        return;
    }
    if (pdu_len < 1)
        return;
    if (req_decode(frame + hl, pdu_len, &req) < 0) {
        GW_LOG(GW_LOG_DEBUG, obj, "malformed FC%u request",
               (unsigned)frame[hl]);
        modbus_reply_exception(ctx, frame, FSIM_EXC_ILLEGAL_VALUE);
        return;
    }
    fsim_dev_handle(dev, gw_now_ms(), &req, &rsp);
    GW_LOG(GW_LOG_DEBUG, obj, "FC%u addr %u count %u -> %s %u",
           (unsigned)req.function, (unsigned)req.addr, (unsigned)req.count,
           action_name(&rsp), (unsigned)rsp.exception);
    switch (rsp.action) {
    case FSIM_ACT_REPLY:
        if (req.function == 0x04)
            memcpy(sim->map->tab_input_registers + req.addr, rsp.regs,
                   rsp.count * sizeof rsp.regs[0]);
        else if (req.function == 0x03)
            memcpy(sim->map->tab_registers + req.addr, rsp.regs,
                   rsp.count * sizeof rsp.regs[0]);
        if (modbus_reply(ctx, frame, len, sim->map) < 0)
            GW_LOG(GW_LOG_WARN, obj, "reply: %s", modbus_strerror(errno));
        break;
    case FSIM_ACT_EXCEPTION:
        if (modbus_reply_exception(ctx, frame, rsp.exception) < 0)
            GW_LOG(GW_LOG_WARN, obj, "reply: %s", modbus_strerror(errno));
        break;
    case FSIM_ACT_SILENT: break;
    case FSIM_ACT_POWER_LOSS:
        GW_LOG(GW_LOG_WARN, obj, "simulated power loss: SIGKILL");
        kill(getpid(), SIGKILL);
        _exit(137); /* not reached */
    }
}

static int tcp_open(struct fsim_tcp *t)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;

    t->ctx = modbus_new_tcp(t->host, t->port);
    if (!t->ctx)
        return -errno;
    t->lfd = modbus_tcp_listen(t->ctx, FSIM_TCP_CLIENTS);
    if (t->lfd < 0) {
        GW_LOG(GW_LOG_ERR, NULL, "tcp %s:%d: %s", t->host, t->port,
               modbus_strerror(errno));
        return GW_E_CONFIG;
    }
    if (getsockname(t->lfd, (struct sockaddr *)&sa, &slen) == 0)
        t->port = ntohs(sa.sin_port);
    return 0;
}

static void tcp_client_close(struct fsim_tcp *t, size_t ci)
{
    close(t->cl[ci]->fd);
    free(t->cl[ci]);
    t->cl[ci] = NULL;
}

static void tcp_close(struct fsim_tcp *t)
{
    size_t i;

    for (i = 0; i < FSIM_TCP_CLIENTS; i++) {
        if (t->cl[i])
            tcp_client_close(t, i);
    }
    if (t->lfd >= 0)
        close(t->lfd);
    if (t->ctx)
        modbus_free(t->ctx);
    free(t->dl.devs);
}

static void tcp_accept(struct fsim_tcp *t)
{
    int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    size_t i;

    if (fd < 0)
        return;
    for (i = 0; i < FSIM_TCP_CLIENTS; i++) {
        if (!t->cl[i]) {
            t->cl[i] = calloc(1, sizeof *t->cl[i]);
            if (!t->cl[i])
                break;
            t->cl[i]->fd = fd;
            GW_LOG(GW_LOG_DEBUG, NULL, "tcp port %d: client connected",
                   t->port);
            return;
        }
    }
    GW_LOG(GW_LOG_WARN, NULL, "tcp port %d: too many clients, refused",
           t->port);
    close(fd);
}

/* Read what the client sent towards the request being framed: the MBAP
 * header first, then as many bytes as its length field says (the unit id
 * and the PDU); a complete request is served. A header that is not Modbus
 * (protocol id not 0, length out of 2..254) drops the client. */
static void tcp_serve_client(struct fsim_sim *sim, struct fsim_tcp *t,
                             size_t ci)
{
    struct fsim_client *c = t->cl[ci];
    size_t want =
        c->have < FSIM_MBAP_LEN ? FSIM_MBAP_LEN : 6 + (size_t)be16(c->buf + 4);
    ssize_t n = read(c->fd, c->buf + c->have, want - c->have);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        GW_LOG(GW_LOG_DEBUG, NULL, "tcp port %d: client gone (%s)", t->port,
               n == 0 ? "closed" : strerror(errno));
        tcp_client_close(t, ci);
        return;
    }
    c->have += (size_t)n;
    if (c->have == FSIM_MBAP_LEN) {
        size_t len = be16(c->buf + 4);

        if (be16(c->buf + 2) != 0 || len < 2 ||
            6 + len > MODBUS_TCP_MAX_ADU_LENGTH) {
            GW_LOG(GW_LOG_DEBUG, NULL, "tcp port %d: not a Modbus header",
                   t->port);
            tcp_client_close(t, ci);
            return;
        }
        want = 6 + len;
    }
    if (c->have < want)
        return;
    modbus_set_socket(t->ctx, c->fd);
    serve(sim, t->ctx, &t->dl, c->buf, (int)c->have, 0);
    c->have = 0;
}

static int rtu_open(struct fsim_rtu *r)
{
    struct termios tio;
    struct stat st;
    const char *name;

    r->mfd = -1;
    r->sfd = -1;
    r->mfd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (r->mfd < 0 || grantpt(r->mfd) < 0 || unlockpt(r->mfd) < 0)
        return -errno;
    if (r->mfd >= FD_SETSIZE) {
        /* modbus_receive() would FD_SET it: refuse instead of aborting. */
        GW_LOG(GW_LOG_ERR, NULL,
               "%s: pty descriptor %d is not below %d, "
               "which libmodbus's select() needs: too many RTU lines",
               r->link, r->mfd, FD_SETSIZE);
        return GW_E_RANGE;
    }
    name = ptsname(r->mfd);
    if (!name || strlen(name) >= sizeof r->pts)
        return GW_E_TOOLONG;
    snprintf(r->pts, sizeof r->pts, "%s", name);
    r->sfd = open(r->pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (r->sfd < 0)
        return -errno;
    if (tcgetattr(r->sfd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(r->sfd, TCSANOW, &tio);
    }
    if (lstat(r->link, &st) == 0) {
        if (!S_ISLNK(st.st_mode)) {
            GW_LOG(GW_LOG_ERR, NULL, "%s exists and is not a symlink", r->link);
            return GW_E_CONFIG;
        }
        unlink(r->link); /* stale link from a killed run */
    }
    if (symlink(r->pts, r->link) < 0) {
        GW_LOG(GW_LOG_ERR, NULL, "symlink %s: %s", r->link, strerror(errno));
        return -errno;
    }
    return 0;
}

/* A fresh RTU context on the master side: also clears libmodbus's
 * "next frame is a confirmation to ignore" flag, which is right on a real
 * bus but wrong here, where no other device answers. */
static int rtu_ctx_reset(struct fsim_rtu *r, int slave)
{
    if (r->ctx)
        modbus_free(r->ctx);
    r->ctx = modbus_new_rtu(r->pts, 115200, 'N', 8, 1);
    if (!r->ctx)
        return -errno;
    modbus_set_socket(r->ctx, r->mfd);
    modbus_set_slave(r->ctx, slave);
    r->slave = slave;
    return 0;
}

static void rtu_close(struct fsim_rtu *r)
{
    free(r->dl.devs);
    if (r->ctx)
        modbus_free(r->ctx);
    if (r->link[0] != '\0')
        unlink(r->link);
    if (r->sfd >= 0)
        close(r->sfd);
    if (r->mfd >= 0)
        close(r->mfd);
}

/* Length of an RTU ADU from its header: libmodbus returns 0, not the
 * length, for a frame addressed to a unit other than its own. */
static int rtu_adu_len(const uint8_t *f)
{
    switch (f[1]) {
    case 0x03:
    case 0x04: return 8;
    case 0x10: return 9 + f[6];
    default: return 4;
    }
}

static void rtu_serve(struct fsim_sim *sim, struct fsim_rtu *r)
{
    uint8_t frame[MODBUS_RTU_MAX_ADU_LENGTH];
    int len;

    memset(frame, 0, sizeof frame);
    len = modbus_receive(r->ctx, frame);
    if (len < 0) {
        GW_LOG(GW_LOG_DEBUG, r->link, "bad frame: %s", modbus_strerror(errno));
        modbus_flush(r->ctx);
        return;
    }
    if (len == 0) {
        /* For another unit id than the context filters on. */
        int unit = frame[0];

        if (rtu_ctx_reset(r, find_dev(&r->dl, unit) ? unit : r->slave) < 0)
            return;
        if (!find_dev(&r->dl, unit)) {
            GW_LOG(GW_LOG_DEBUG, r->link, "frame for unit %d ignored", unit);
            return;
        }
        len = rtu_adu_len(frame);
    }
    serve(sim, r->ctx, &r->dl, frame, len, 1);
}

/* ---- set-up and loop --------------------------------------------------- */

static int split_host_port(const char *spec, char *host, int *port)
{
    const char *colon = strrchr(spec, ':');
    long long p;

    if (!colon || (size_t)(colon - spec) >= FSIM_HOST_MAX ||
        parse_ll(colon + 1, 0, 65535, &p) < 0)
        return GW_E_INVAL;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    *port = (int)p;
    return 0;
}

static struct fsim_rtu *rtu_find(struct fsim_sim *sim, const char *link)
{
    size_t i;

    for (i = 0; i < sim->nrtu; i++) {
        if (strcmp(sim->rtu[i].link, link) == 0)
            return &sim->rtu[i];
    }
    return NULL;
}

/* Open every RTU line first, so that their pty masters (the only
 * descriptors modbus_receive() waits on) take the lowest numbers. */
static int sim_open_lines(struct fsim_sim *sim)
{
    size_t i;

    for (i = 0; i < sim->nspec; i++) {
        const struct fsim_devspec *ds = &sim->specs[i];
        struct fsim_rtu *r;

        if (ds->rtu[0] == '\0' || rtu_find(sim, ds->rtu))
            continue;
        r = &sim->rtu[sim->nrtu++];
        snprintf(r->link, sizeof r->link, "%s", ds->rtu);
        if (rtu_open(r) < 0 || rtu_ctx_reset(r, ds->cfg.unit) < 0)
            return GW_E_CONFIG;
    }
    return 0;
}

static int sim_attach(struct fsim_sim *sim, size_t di)
{
    struct fsim_devspec *ds = &sim->specs[di];
    struct fsim_dev *dev = sim->devs[di];
    char host[FSIM_HOST_MAX];
    int port;
    size_t i;

    if (ds->tcp[0] != '\0') {
        struct fsim_tcp *t = NULL;

        if (split_host_port(ds->tcp, host, &port) < 0)
            return GW_E_CONFIG;
        for (i = 0; i < sim->ntcp; i++) {
            if (port != 0 && sim->tcp[i].port == port &&
                strcmp(sim->tcp[i].host, host) == 0)
                t = &sim->tcp[i];
        }
        if (!t) {
            t = &sim->tcp[sim->ntcp++];
            snprintf(t->host, sizeof t->host, "%s", host);
            t->port = port;
            t->lfd = -1;
            if (tcp_open(t) < 0)
                return GW_E_CONFIG;
        }
        if (find_dev(&t->dl, ds->cfg.unit) || devlist_add(&t->dl, dev) < 0)
            return GW_E_CONFIG;
    }
    if (ds->rtu[0] != '\0') {
        struct fsim_rtu *r = rtu_find(sim, ds->rtu); /* sim_open_lines */

        if (!r || find_dev(&r->dl, ds->cfg.unit) ||
            devlist_add(&r->dl, dev) < 0)
            return GW_E_CONFIG;
    }
    return 0;
}

/* Which device with this unit id di is, in command-line order (0 for the
 * first): its state files are told apart by it (fsim_store.h). */
static unsigned unit_instance(const struct fsim_sim *sim, size_t di)
{
    unsigned k = 0;
    size_t i;

    for (i = 0; i < di; i++)
        k += sim->specs[i].cfg.unit == sim->specs[di].cfg.unit;
    return k;
}

static int sim_start(struct fsim_sim *sim)
{
    struct fsim_record rec;
    size_t i;
    int rc;

    sim->map = modbus_mapping_new(0, 0, FSIM_MAP_HOLDING, FSIM_IR_COUNT);
    if (!sim->map)
        return -ENOMEM;
    rc = sim_open_lines(sim);
    if (rc < 0) {
        fprintf(stderr, "fieldsim: cannot open the RTU lines\n");
        return rc;
    }
    for (i = 0; i < sim->nspec; i++) {
        const struct fsim_dev_config *cfg = &sim->specs[i].cfg;

        rc = fsim_store_open(sim->state_dir, cfg->unit, unit_instance(sim, i),
                             &sim->stores[i]);
        if (rc < 0)
            return rc;
        rc = fsim_store_load(sim->stores[i], &rec);
        if (rc < 0) {
            fprintf(stderr,
                    "fieldsim: unit %u: state file unusable; fix or "
                    "delete it\n",
                    (unsigned)cfg->unit);
            return rc;
        }
        sim->devs[i] = fsim_dev_new(cfg, &fsim_store_file_ops, sim->stores[i],
                                    rc == 1 ? &rec : NULL);
        if (!sim->devs[i])
            return -ENOMEM;
        rc = sim_attach(sim, i);
        if (rc < 0) {
            fprintf(stderr,
                    "fieldsim: unit %u: cannot serve it (bad or "
                    "duplicate endpoint)\n",
                    (unsigned)cfg->unit);
            return rc;
        }
        rec = *fsim_dev_get_record(sim->devs[i]);
        GW_LOG(GW_LOG_INFO, NULL,
               "unit %u: version %s, state %s, "
               "received %u/%u",
               (unsigned)cfg->unit, rec.version, fsim_state_name(rec.state),
               rec.received, rec.image_size);
    }
    for (i = 0; i < sim->ntcp; i++)
        printf("fieldsim: tcp %s:%d\n", sim->tcp[i].host, sim->tcp[i].port);
    for (i = 0; i < sim->nrtu; i++)
        printf("fieldsim: rtu %s -> %s\n", sim->rtu[i].link, sim->rtu[i].pts);
    printf("fieldsim: ready\n");
    fflush(stdout);
    return 0;
}

/* The per-device and per-endpoint arrays for n devices (zeroed). */
static int sim_alloc(struct fsim_sim *sim, size_t n)
{
    size_t npfd = n * (1 + FSIM_TCP_CLIENTS) + n;

    sim->specs = calloc(n, sizeof *sim->specs);
    sim->devs = calloc(n, sizeof *sim->devs);
    sim->stores = calloc(n, sizeof *sim->stores);
    sim->tcp = calloc(n, sizeof *sim->tcp);
    sim->rtu = calloc(n, sizeof *sim->rtu);
    sim->pfd = calloc(npfd, sizeof *sim->pfd);
    sim->ref = calloc(npfd, sizeof *sim->ref);
    if (!sim->specs || !sim->devs || !sim->stores || !sim->tcp || !sim->rtu ||
        !sim->pfd || !sim->ref)
        return -ENOMEM;
    return 0;
}

static void sim_stop(struct fsim_sim *sim)
{
    size_t i;

    for (i = 0; i < sim->ntcp; i++)
        tcp_close(&sim->tcp[i]);
    for (i = 0; i < sim->nrtu; i++)
        rtu_close(&sim->rtu[i]);
    for (i = 0; sim->devs && i < sim->nspec; i++) {
        fsim_dev_free(sim->devs[i]);
        fsim_store_free(sim->stores[i]);
    }
    if (sim->map)
        modbus_mapping_free(sim->map);
    free(sim->specs);
    free(sim->devs);
    free(sim->stores);
    free(sim->tcp);
    free(sim->rtu);
    free(sim->pfd);
    free(sim->ref);
}

/* Every device holds a state file, every TCP endpoint a listener and its
 * clients: more than the usual soft limit of 1024 for a large fleet. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            GW_LOG(GW_LOG_WARN, NULL, "RLIMIT_NOFILE: %s", strerror(errno));
    }
}

/* Milliseconds until the earliest device deadline, capped; -1: none. */
static int sim_timeout(struct fsim_sim *sim, int64_t now)
{
    int64_t best = -1;
    size_t i;

    for (i = 0; i < sim->nspec; i++) {
        int64_t d = fsim_dev_next_deadline(sim->devs[i]);

        if (d >= 0 && (best < 0 || d < best))
            best = d;
    }
    if (best < 0)
        return -1;
    if (best <= now)
        return 0;
    return best - now > 1000 ? 1000 : (int)(best - now);
}

static int sim_run(struct fsim_sim *sim, const sigset_t *runmask)
{
    struct pollfd *pfd = sim->pfd;
    struct fd_ref *ref = sim->ref;

    while (!g_stop) {
        int64_t now = gw_now_ms();
        int timeout = sim_timeout(sim, now);
        struct timespec ts;
        size_t n = 0;
        size_t i;
        size_t c;
        int rc;

        for (i = 0; i < sim->ntcp; i++) {
            pfd[n] = (struct pollfd){.fd = sim->tcp[i].lfd, .events = POLLIN};
            ref[n++] = (struct fd_ref){FD_LISTEN, i, 0};
            for (c = 0; c < FSIM_TCP_CLIENTS; c++) {
                if (!sim->tcp[i].cl[c])
                    continue;
                pfd[n] = (struct pollfd){.fd = sim->tcp[i].cl[c]->fd,
                                         .events = POLLIN};
                ref[n++] = (struct fd_ref){FD_CLIENT, i, c};
            }
        }
        for (i = 0; i < sim->nrtu; i++) {
            pfd[n] = (struct pollfd){.fd = sim->rtu[i].mfd, .events = POLLIN};
            ref[n++] = (struct fd_ref){FD_RTU, i, 0};
        }
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
        rc = ppoll(pfd, n, timeout < 0 ? NULL : &ts, runmask);
        if (rc < 0 && errno != EINTR) {
            GW_LOG(GW_LOG_ERR, NULL, "poll: %s", strerror(errno));
            return -errno;
        }
        now = gw_now_ms();
        for (i = 0; i < sim->nspec; i++)
            fsim_dev_tick(sim->devs[i], now);
        for (i = 0; rc > 0 && i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            switch (ref[i].kind) {
            case FD_LISTEN: tcp_accept(&sim->tcp[ref[i].idx]); break;
            case FD_CLIENT:
                tcp_serve_client(sim, &sim->tcp[ref[i].idx], ref[i].sub);
                break;
            case FD_RTU: rtu_serve(sim, &sim->rtu[ref[i].idx]); break;
            }
        }
    }
    return 0;
}

static void usage(FILE *f)
{
    size_t i;

    fprintf(f,
            "usage: fieldsim --state-dir DIR --device SPEC [--device SPEC]...\n"
            "                [--seed N] [--log-level err|warn|info|debug]\n"
            "                [--sync on|off]\n"
            "\n"
            "Simulated Modbus field devices implementing the SOTA-Modbus\n"
            "upgrade profile 1. State survives restarts in DIR; killing the\n"
            "process is a power cycle. Prints 'fieldsim: tcp HOST:PORT' per\n"
            "TCP listener, 'fieldsim: rtu LINK -> PTS' per RTU line and\n"
            "'fieldsim: ready' on stdout once serving. --sync off: no\n"
            "fsync (a kill still keeps every write; a machine crash may\n"
            "not): for fleets too large to fsync every block in one thread.\n"
            "\n"
            "SPEC is comma-separated key=value:\n");
    for (i = 0; i < GW_ARRAY_LEN(g_keys); i++)
        fprintf(f, "  %-17s %s\n", g_keys[i].name, g_keys[i].help);
    fprintf(f, "\nexample: fieldsim --state-dir /tmp/fs --device "
               "unit=1,tcp=127.0.0.1:0,version=1.0.0,battery=80\n");
}

static int parse_level(const char *s, enum gw_log_level *out)
{
    static const char *const names[] = {"err", "warn", "info", "debug"};
    size_t i;

    for (i = 0; i < GW_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum gw_log_level)i;
            return 0;
        }
    }
    return GW_E_INVAL;
}

int main(int argc, char **argv)
{
    static struct fsim_sim sim;
    static const char *devices[FSIM_DEVICES_MAX];
    size_t ndevices = 0;
    enum gw_log_level level = GW_LOG_INFO;
    struct sigaction sa;
    sigset_t block;
    sigset_t runmask;
    long long seed = 1;
    int rc;
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "fieldsim: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--state-dir") == 0) {
            sim.state_dir = v;
        } else if (strcmp(a, "--device") == 0) {
            if (ndevices == FSIM_DEVICES_MAX) {
                fprintf(stderr, "fieldsim: at most %d devices\n",
                        FSIM_DEVICES_MAX);
                return 2;
            }
            devices[ndevices++] = v;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_ll(v, 0, LLONG_MAX, &seed) < 0) {
                fprintf(stderr, "fieldsim: bad --seed '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--sync") == 0) {
            if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
                fprintf(stderr, "fieldsim: --sync wants on or off, not '%s'\n",
                        v);
                return 2;
            }
            fsim_store_set_sync(strcmp(v, "on") == 0);
        } else if (strcmp(a, "--log-level") == 0) {
            if (parse_level(v, &level) < 0) {
                fprintf(stderr, "fieldsim: bad --log-level '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "fieldsim: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (!sim.state_dir || ndevices == 0) {
        usage(stderr);
        return 2;
    }
    gw_log_set_sink(gw_log_sink_stderr, NULL, level);
    sim.seed = (uint64_t)seed;
    if (sim_alloc(&sim, ndevices) < 0) {
        fprintf(stderr, "fieldsim: out of memory for %zu devices\n", ndevices);
        sim_stop(&sim);
        return 1;
    }
    for (i = 0; i < (int)ndevices; i++) {
        if (devspec_parse(&sim.specs[i], devices[i], sim.seed) < 0) {
            sim_stop(&sim);
            return 2;
        }
    }
    sim.nspec = ndevices;
    raise_nofile();

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &runmask);
    sigdelset(&runmask, SIGINT);
    sigdelset(&runmask, SIGTERM);

    rc = sim_start(&sim);
    if (rc == 0)
        rc = sim_run(&sim, &runmask);
    if (rc < 0)
        GW_LOG(GW_LOG_ERR, NULL, "stopping: %s", gw_strerror(rc));
    sim_stop(&sim);
    return rc < 0 ? 1 : 0;
}
