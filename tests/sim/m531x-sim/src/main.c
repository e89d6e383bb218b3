/* main.c: the I/O shell of m531x-sim.
 *
 * One process, one poll() loop, one pseudo-terminal per module. The slave
 * side is linked at DIR/ttyMNNN for the gateway to open. The shell owns
 * everything the core must not do: the ptys, the clock, line-rate pacing,
 * cutting writes at random byte offsets, unplugging, signals, the report and
 * the live progress line.
 *
 * A pty master reads EIO and polls POLLHUP while no one has the slave open.
 * That is normal (the gateway is restarting): the port is then "unattended",
 * its output is dropped as a real UART's would be, and it is probed every
 * PROBE_MS until a reader appears. */
#include "msim.h"
#include "msim_scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MS    50u
#define IN_CAP      4096
#define LINGER_US   300000u /* lets the last OK reach the gateway */
#define PROGRESS_US 250000u

static volatile sig_atomic_t g_stop; /* the signal flag */

struct port {
    int master; /* -1 while unplugged */
    bool attended;
    uint64_t probe_us;
    uint64_t replug_us;
    char link[600];
    uint64_t tx_next_us; /* pacing / split: earliest next write */
    bool tx_streaming;   /* paced output left pending: the line is busy */
    uint64_t rx_next_us; /* paced input: the line's last byte ends here */
    uint8_t in[IN_CAP];
    size_t in_len;
    uint64_t rng;
};

struct sim {
    struct msim_scenario sc;
    struct msim_mod **mods;
    struct port *ports;
    const char *dir;
    bool forever;
    bool progress;
    FILE *trace; /* --trace: every byte in and out, or NULL */
    uint64_t start_us;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Time on the wire for n bytes at baud (8N1: 10 bits a byte). */
static uint64_t wire_us(size_t n, unsigned baud)
{
    return baud == 0 ? 0 : (uint64_t)n * 10u * 1000000u / baud;
}

static int port_open(struct port *p)
{
    int master = -1, slave = -1, rc;
    char name[128], tmp[620];
    struct termios tio;

    if (openpty(&master, &slave, name, NULL, NULL) < 0)
        return -errno;
    /* Raw: the gateway sees exactly the module's bytes. */
    if (tcgetattr(slave, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(slave, TCSANOW, &tio);
    }
    close(slave);
    if (fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(master, F_SETFD, FD_CLOEXEC) < 0)
        goto fail;
    snprintf(tmp, sizeof(tmp), "%s.new", p->link);
    unlink(tmp);
    if (symlink(name, tmp) < 0 || rename(tmp, p->link) < 0)
        goto fail;
    p->master = master;
    p->attended = false;
    p->probe_us = 0;
    p->in_len = 0;
    return 0;
fail:
    rc = -errno;
    close(master);
    return rc;
}

static void port_close(struct port *p)
{
    if (p->master >= 0) {
        close(p->master);
        unlink(p->link);
    }
    p->master = -1;
    p->attended = false;
}

/* Is someone holding the slave open? */
static bool port_probe(const struct port *p)
{
    struct pollfd pfd = {.fd = p->master, .events = POLLIN};
    if (poll(&pfd, 1, 0) < 0)
        return false;
    return (pfd.revents & POLLHUP) == 0;
}

static void port_lost_reader(struct port *p, uint64_t t)
{
    p->attended = false;
    p->probe_us = t + PROBE_MS * 1000u;
}

/* One trace line: time, module, direction, the bytes escaped. */
static void trace_bytes(const struct sim *s, unsigned i, char dir,
                        const uint8_t *data, size_t n, uint64_t t)
{
    if (s->trace == NULL || n == 0)
        return;
    fprintf(s->trace, "%.3f M%03u %c ", (double)(t - s->start_us) / 1e6, i,
            dir);
    for (size_t k = 0; k < n; k++) {
        uint8_t c = data[k];
        if (c == '\r')
            fputs("\\r", s->trace);
        else if (c == '\n')
            fputs("\\n", s->trace);
        else if (c == '\\')
            fputs("\\\\", s->trace);
        else if (c >= 0x20 && c < 0x7F)
            fputc(c, s->trace);
        else
            fprintf(s->trace, "\\x%02X", c);
    }
    fputc('\n', s->trace);
}

static void port_read(struct sim *s, unsigned i, uint64_t t)
{
    struct port *p = &s->ports[i];
    if (p->in_len == IN_CAP)
        return; /* pacing holds bytes back: the pty buffers the rest */
    ssize_t n = read(p->master, p->in + p->in_len, IN_CAP - p->in_len);
    if (n > 0) {
        if (p->in_len == 0 && p->rx_next_us < t)
            p->rx_next_us = t; /* the line was idle: these start now */
        trace_bytes(s, i, '>', p->in + p->in_len, (size_t)n, t);
        p->in_len += (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR)
        port_lost_reader(p, t); /* EIO: the gateway closed the port */
}

/* Hands received bytes to the module, at line rate when paced: every byte
 * whose line time has ended by t, counted from where the line's previous
 * byte ended, so a late wake-up (poll() sleeps whole milliseconds) delays a
 * byte but never slows the line down. */
static void port_deliver(struct sim *s, unsigned i, uint64_t t)
{
    struct port *p = &s->ports[i];
    unsigned baud = msim_mod_cfg_get(s->mods[i])->faults.baud;
    size_t n = p->in_len;
    if (n == 0)
        return;
    if (baud != 0) {
        uint64_t owed =
            t > p->rx_next_us ? (t - p->rx_next_us) * baud / 10u / 1000000u : 0;
        if (owed == 0)
            return;
        if (owed < n)
            n = (size_t)owed;
        p->rx_next_us += wire_us(n, baud);
    }
    msim_mod_input(s->mods[i], p->in, n, t);
    memmove(p->in, p->in + n, p->in_len - n);
    p->in_len -= n;
}

static void port_write(struct sim *s, unsigned i, uint64_t t)
{
    struct port *p = &s->ports[i];
    struct msim_mod *m = s->mods[i];
    const struct msim_faults *f = &msim_mod_cfg_get(m)->faults;
    const uint8_t *data;
    size_t n = msim_mod_output_peek(m, &data);

    if (n == 0)
        return;
    if (p->master < 0 || !p->attended) {
        msim_mod_output_done(m, n, t); /* no reader: the bytes are lost */
        return;
    }
    if (t < p->tx_next_us)
        return;
    if (f->split_lines) {
        size_t piece = 1 + (size_t)(msim_rand_next(&p->rng) % 48u);
        if (piece < n)
            n = piece;
    }
    /* Paced: 5 ms of line time a write, plus what a late wake-up owes
     * when the line was busy (the UART would have kept sending), so the
     * line runs at its rate, not slower by the loop's oversleep. */
    uint64_t start = t;
    if (f->baud != 0) {
        if (p->tx_streaming && p->tx_next_us < t)
            start = p->tx_next_us;
        size_t burst = f->baud / 10u / 200u +
                       (size_t)((t - start) * f->baud / 10u / 1000000u);
        if (burst == 0)
            burst = 1;
        if (n > burst)
            n = burst;
    }
    ssize_t w = write(p->master, data, n);
    if (w < 0) {
        if (errno == EIO)
            port_lost_reader(p, t);
        return; /* EAGAIN: the gateway does not read; retry later */
    }
    trace_bytes(s, i, '<', data, (size_t)w, t);
    msim_mod_output_done(m, (size_t)w, t);
    p->tx_next_us = start + wire_us((size_t)w, f->baud);
    p->tx_streaming =
        f->baud != 0 && !f->split_lines && msim_mod_output_peek(m, &data) > 0;
    if (f->split_lines)
        p->tx_next_us += 500u + msim_rand_next(&p->rng) % 2000u;
}

static void progress_print(const struct sim *s, bool final)
{
    unsigned ok = 0, failed = 0, skipped = 0, viol = 0, tasks = 0;
    size_t bytes = 0, total = 0;
    for (unsigned i = 0; i < s->sc.n_modems; i++) {
        const struct msim_stats *st = msim_mod_stats(s->mods[i]);
        size_t d, t;
        msim_mod_progress(s->mods[i], &d, &t);
        bytes += d;
        total += t;
        viol += st->violations;
        tasks += st->outcome != MSIM_OUTCOME_NO_TASK;
        ok += st->outcome == MSIM_OUTCOME_SUCCESS;
        failed += st->outcome == MSIM_OUTCOME_FAILED;
        skipped += st->outcome == MSIM_OUTCOME_SKIPPED;
    }
    fprintf(stderr,
            "\rm531x-sim: %u/%u tasks ended (%u ok, %u failed, %u skipped)"
            "  %zu/%zu KiB  %u violations\x1b[K%s",
            ok + failed + skipped, tasks, ok, failed, skipped, bytes / 1024,
            total / 1024, viol, final ? "\n" : "");
}

static bool all_finished(const struct sim *s)
{
    for (unsigned i = 0; i < s->sc.n_modems; i++)
        if (!msim_mod_finished(s->mods[i]))
            return false;
    return true;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* One module's turn: timers, unplug/replug, I/O; returns its next due. */
static uint64_t port_turn(struct sim *s, unsigned i, uint64_t t,
                          struct pollfd *pfd)
{
    struct port *p = &s->ports[i];
    struct msim_mod *m = s->mods[i];
    unsigned unplug = msim_mod_take_unplug(m);
    const uint8_t *data;
    uint64_t d;

    if (unplug != 0 && p->master >= 0) {
        port_close(p);
        p->replug_us = t + (uint64_t)unplug * 1000u;
    }
    if (p->master < 0 && t >= p->replug_us) {
        if (port_open(p) == 0)
            msim_mod_replugged(m, t);
        else
            p->replug_us = t + 1000000u;
    }
    if (p->master >= 0 && !p->attended && t >= p->probe_us) {
        p->attended = port_probe(p);
        p->probe_us = t + PROBE_MS * 1000u;
    }
    msim_mod_tick(m, t);
    port_deliver(s, i, t);
    port_write(s, i, t);

    d = msim_mod_next_due(m);
    bool pending_out = msim_mod_output_peek(m, &data) > 0;
    if (pending_out)
        d = min_u64(d, p->tx_next_us);
    if (p->in_len > 0) /* paced: when the next byte's line time ends */
        d = min_u64(d, p->rx_next_us +
                           wire_us(1, msim_mod_cfg_get(m)->faults.baud));
    if (p->master < 0)
        d = min_u64(d, p->replug_us);
    else if (!p->attended)
        d = min_u64(d, p->probe_us);
    pfd->fd = p->master >= 0 && p->attended ? p->master : -1;
    pfd->events = p->in_len < IN_CAP ? POLLIN : 0; /* full: pacing drains */
    if (pending_out && t >= p->tx_next_us)
        pfd->events |= POLLOUT;
    pfd->revents = 0;
    return d;
}

static int run(struct sim *s)
{
    unsigned n = s->sc.n_modems;
    struct pollfd *pfd = calloc(n, sizeof(*pfd));
    uint64_t end_us = 0, next_progress = 0;
    if (pfd == NULL)
        return -ENOMEM;

    while (!g_stop) {
        uint64_t t = now_us();
        uint64_t due = t + 1000000u;

        if (!s->forever && all_finished(s)) {
            if (end_us == 0)
                end_us = t + LINGER_US;
            if (t >= end_us)
                break;
            due = min_u64(due, end_us);
        }
        for (unsigned i = 0; i < n; i++)
            due = min_u64(due, port_turn(s, i, t, &pfd[i]));
        if (s->progress && t >= next_progress) {
            progress_print(s, false);
            next_progress = t + PROGRESS_US;
        }
        t = now_us();
        int timeout = due <= t ? 0 : (int)((due - t + 999u) / 1000u);
        if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
            perror("m531x-sim: poll");
            break;
        }
        t = now_us();
        for (unsigned i = 0; i < n; i++) {
            if (pfd[i].revents & POLLIN)
                port_read(s, i, t);
            else if (pfd[i].revents & (POLLHUP | POLLERR))
                port_lost_reader(&s->ports[i], t);
        }
        if (s->trace != NULL) /* readable while the run goes on */
            fflush(s->trace);
    }
    free(pfd);
    if (s->progress)
        progress_print(s, true);
    return 0;
}

/* One pty master per module, plus stdio, the trace and the report: raise
 * the soft descriptor limit (often 1024) as far as needed, within the hard
 * limit. */
static int raise_fd_limit(unsigned modems)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)modems + 32u;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr,
                "m531x-sim: %u modules need %lu open files; the hard "
                "limit is %lu (ulimit -Hn)\n",
                modems, (unsigned long)need, (unsigned long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        perror("m531x-sim: setrlimit");
        return -1;
    }
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: m531x-sim --dir DIR --modems N --scenario FILE\n"
                "                 [--report FILE] [--seed S] [--forever] "
                "[--trace FILE]\n"
                "                 [--adversarial]\n"
                "Simulates N China Mobile M531x NB-IoT modules on "
                "pseudo-terminals\n"
                "(DIR/ttyM000, ...) and the OneNET SOTA platform behind them.\n"
                "See README.md for the scenario and report formats.\n");
}

static int parse_args(int argc, char **argv, struct sim *s,
                      const char **scenario, const char **report,
                      const char **trace, unsigned long *modems,
                      unsigned long long *seed, bool *seed_set,
                      bool *adversarial)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"modems", required_argument, NULL, 'n'},
        {"scenario", required_argument, NULL, 's'},
        {"report", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 'S'},
        {"forever", no_argument, NULL, 'f'},
        {"trace", required_argument, NULL, 't'},
        {"adversarial", no_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    char *end;
    int c;
    while ((c = getopt_long(argc, argv, "d:n:s:r:S:ft:Ah", opts, NULL)) != -1) {
        switch (c) {
        case 'd': s->dir = optarg; break;
        case 's': *scenario = optarg; break;
        case 'r': *report = optarg; break;
        case 'f': s->forever = true; break;
        case 't': *trace = optarg; break;
        case 'A': *adversarial = true; break;
        case 'h': usage(stdout); exit(0);
        case 'n':
            errno = 0;
            *modems = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || *modems == 0 ||
                *modems > MSIM_SCEN_MAX_MODEMS) {
                fprintf(stderr, "m531x-sim: --modems must be 1..%d\n",
                        MSIM_SCEN_MAX_MODEMS);
                return -1;
            }
            break;
        case 'S':
            errno = 0;
            *seed = strtoull(optarg, &end, 0);
            if (errno != 0 || *end != '\0') {
                fprintf(stderr, "m531x-sim: --seed must be a number\n");
                return -1;
            }
            *seed_set = true;
            break;
        default: usage(stderr); return -1;
        }
    }
    if (s->dir == NULL || *scenario == NULL || *modems == 0 || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sim s;
    const char *scenario = NULL, *report = NULL, *trace = NULL;
    unsigned long modems = 0;
    unsigned long long seed = 0;
    bool seed_set = false, adversarial = false;
    struct sigaction sa;
    char err[512];
    int rc = 1;

    memset(&s, 0, sizeof(s));
    if (parse_args(argc, argv, &s, &scenario, &report, &trace, &modems, &seed,
                   &seed_set, &adversarial) < 0)
        return 2;
    if (raise_fd_limit((unsigned)modems) < 0)
        return 2;
    s.start_us = now_us();
    if (msim_scenario_load(&s.sc, scenario, (unsigned)modems, seed, seed_set,
                           s.start_us, err, sizeof(err)) < 0) {
        fprintf(stderr, "m531x-sim: %s\n", err);
        return 2;
    }
    if (adversarial)
        msim_scenario_adversarial(&s.sc);
    if (trace != NULL && (s.trace = fopen(trace, "w")) == NULL) {
        fprintf(stderr, "m531x-sim: %s: %s\n", trace, strerror(errno));
        msim_scenario_cleanup(&s.sc);
        return 2;
    }
    for (size_t i = 0; i < s.sc.n_tasks; i++)
        if (s.sc.tasks[i].package == NULL)
            fprintf(stderr, "m531x-sim: %s\n", s.sc.tasks[i].refused_reason);
    if (mkdir(s.dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "m531x-sim: %s: %s\n", s.dir, strerror(errno));
        goto out;
    }
    s.mods = calloc(modems, sizeof(*s.mods));
    s.ports = calloc(modems, sizeof(*s.ports));
    if (s.mods == NULL || s.ports == NULL)
        goto out;
    for (unsigned i = 0; i < modems; i++)
        s.ports[i].master = -1;
    for (unsigned i = 0; i < modems; i++) {
        struct port *p = &s.ports[i];
        s.mods[i] = msim_mod_new(&s.sc.mods[i]);
        if (s.mods[i] == NULL)
            goto out;
        snprintf(p->link, sizeof(p->link), "%s/ttyM%03u", s.dir, i);
        p->rng = s.sc.mods[i].rng_seed ^ 0x7777u;
        int prc = port_open(p);
        if (prc < 0) {
            fprintf(stderr, "m531x-sim: %s: %s\n", p->link, strerror(-prc));
            goto out;
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    s.progress = isatty(STDERR_FILENO) == 1;

    run(&s);
    rc = 0;
    if (report != NULL &&
        msim_report_write(report, &s.sc, s.mods, s.dir,
                          (double)(now_us() - s.start_us) / 1e6) < 0) {
        fprintf(stderr, "m531x-sim: cannot write %s\n", report);
        rc = 1;
    }
out:
    if (s.ports != NULL)
        for (unsigned i = 0; i < modems; i++)
            port_close(&s.ports[i]);
    if (s.mods != NULL)
        for (unsigned i = 0; i < modems; i++)
            msim_mod_free(s.mods[i]);
    free(s.mods);
    free(s.ports);
    msim_scenario_cleanup(&s.sc);
    if (s.trace != NULL)
        fclose(s.trace);
    return rc;
}
