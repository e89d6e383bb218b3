/* fake_worker.c: see fake_worker.h. */
#include "fake_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw/clock.h"

struct fake_world fake_world;

struct worker {
    char port[GW_CONFIG_PATH_MAX];
    uv_loop_t *loop;
    struct usb_location loc;
    const struct worker_ops *ops;
    void *ctx;
    const struct fake_plan *plan;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    int handles;
    int exited;
    enum worker_exit pending;
    char imei[16];
};

/* Record, and make the test's uv_run(UV_RUN_ONCE) return: a timer
 * callback runs before the loop's poll, which would block otherwise. */
static void record(uv_loop_t *loop, const char *port, int started,
                   enum worker_exit why)
{
    struct fake_record *r;

    uv_stop(loop);
    if (fake_world.nlog >= FAKE_LOG_MAX)
        return;
    r = &fake_world.log[fake_world.nlog++];
    snprintf(r->port, sizeof r->port, "%s", port);
    r->started = started;
    r->why = why;
    r->at_ms = (long long)gw_now_ms();
}

int fake_count(const char *suffix, int started, int why)
{
    int n = 0;

    for (int i = 0; i < fake_world.nlog; i++) {
        const struct fake_record *r = &fake_world.log[i];
        size_t pl = strlen(r->port), sl = suffix ? strlen(suffix) : 0;

        if (suffix && (pl < sl || strcmp(r->port + pl - sl, suffix) != 0))
            continue;
        if (r->started != started)
            continue;
        if (!started && why >= 0 && (int)r->why != why)
            continue;
        n++;
    }
    return n;
}

static void finish(struct worker *w, enum worker_exit why)
{
    if (w->exited)
        return;
    w->exited = 1;
    uv_poll_stop(&w->poll);
    uv_timer_stop(&w->timer);
    close(w->fd);
    w->fd = -1;
    fake_world.running--;
    record(w->loop, w->port, 0, why);
    w->ops->exited(w->ctx, w, why, "fake");
}

static void on_timer(uv_timer_t *t)
{
    struct worker *w = t->data;

    if (w->pending == WORKER_EXIT_STOPPED) {
        finish(w, WORKER_EXIT_STOPPED);
        return;
    }
    if (w->plan->mode == FAKE_FAIL) {
        finish(w, WORKER_EXIT_FAILED);
        return;
    }
    snprintf(w->imei, sizeof w->imei, "%s", w->plan->imei);
    if (w->ops->identified(w->ctx, w, w->imei) == -EEXIST)
        finish(w, WORKER_EXIT_DUPLICATE);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct worker *w = h->data;
    char buf[64];
    ssize_t n;

    if (status < 0 || (events & UV_DISCONNECT)) {
        finish(w, WORKER_EXIT_UNPLUGGED);
        return;
    }
    n = read(w->fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        finish(w, WORKER_EXIT_UNPLUGGED);
}

int worker_start(struct worker **out, struct app *app, const char *port_path,
                 const struct usb_location *loc, const struct worker_ops *ops,
                 void *ops_ctx)
{
    const struct fake_plan *plan = NULL;
    struct worker *w;
    size_t pl = strlen(port_path);

    *out = NULL;
    for (int i = 0; i < fake_world.nplans; i++) {
        size_t sl = strlen(fake_world.plans[i].suffix);

        if (pl >= sl &&
            strcmp(port_path + pl - sl, fake_world.plans[i].suffix) == 0)
            plan = &fake_world.plans[i];
    }
    if (!plan)
        return -ENODEV;
    w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd = open(port_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (w->fd < 0) {
        int rc = -errno;

        free(w);
        return rc;
    }
    snprintf(w->port, sizeof w->port, "%s", port_path);
    w->loc = *loc;
    w->loop = app->loop;
    w->ops = ops;
    w->ctx = ops_ctx;
    w->plan = plan;
    w->pending = WORKER_EXIT_FAILED; /* "none" until worker_stop() */
    uv_poll_init(app->loop, &w->poll, w->fd);
    uv_timer_init(app->loop, &w->timer);
    w->poll.data = w;
    w->timer.data = w;
    w->handles = 2;
    uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_poll);
    uv_timer_start(&w->timer, on_timer, 0, 0);
    fake_world.running++;
    record(app->loop, port_path, 1, WORKER_EXIT_STOPPED);
    *out = w;
    return 0;
}

void worker_stop(struct worker *w)
{
    w->pending = WORKER_EXIT_STOPPED;
    uv_timer_start(&w->timer, on_timer, 0, 0);
}

static void on_closed(uv_handle_t *h)
{
    struct worker *w = h->data;

    if (--w->handles == 0)
        free(w);
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    uv_close((uv_handle_t *)&w->poll, on_closed);
    uv_close((uv_handle_t *)&w->timer, on_closed);
}

void worker_info(const struct worker *w, struct worker_info *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->port, sizeof out->port, "%s", w->port);
    out->loc = w->loc;
    snprintf(out->imei, sizeof out->imei, "%s", w->imei);
    out->rssi = 99;
    out->reg_status = -1;
}
