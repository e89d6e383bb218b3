/* web_backend.c: web/backend.h on the daemon's loop.
 *
 * Web threads never touch a worker. Each op becomes a call: a heap record
 * the web thread queues under a mutex before waking the loop with
 * uv_async_send(); the loop runs it (worker_info, worker_action, ...) and
 * marks it done. The web thread waits with a time bound, because the loop
 * itself stops the web server at shutdown (joining its threads): a call the
 * loop will never run times out, and whoever finishes last (the web thread
 * giving up, or the loop completing) frees the record. */
#define GW_LOG_TAG "webapi"

#include "web_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw/err.h"
#include "gw/log.h"
#include "sup.h"
#include "worker.h"

#define WB_WAIT_MS  2000
#define WB_LIVE_MAX 4096

enum wb_kind { WB_LIVE_LIST, WB_LIVE_GET, WB_ACTION, WB_TARGET, WB_METRICS };

struct wb_call {
    struct wb_call *next;
    enum wb_kind kind;
    char imei[16];
    char actor[64];
    enum web_action action;
    /* results, owned by the call until the web thread copies them */
    struct web_live *live;
    size_t cap, n;
    struct web_metrics metrics;
    char why[160];
    int rc;
    int done;      /* the loop ran it */
    int abandoned; /* the web thread stopped waiting */
    int taken;     /* the loop took it off the queue */
};

struct web_backend {
    struct app *app;
    uv_async_t async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wb_call *head, **tail;
    int closing;
};

static void call_free(struct wb_call *c)
{
    free(c->live);
    free(c);
}

/* ---- on the loop -------------------------------------------------------- */

static void live_fill(struct web_live *l, const struct worker_info *wi)
{
    memset(l, 0, sizeof *l);
    memcpy(l->imei, wi->imei, sizeof l->imei);
    l->connected = 1;
    l->paused = wi->paused;
    l->rssi = wi->rssi;
    l->reg_status = wi->reg_status;
    l->readings_ms = wi->readings_ms;
    l->target_reachable = wi->target[0] ? wi->target_reachable : -1;
    snprintf(l->phase, sizeof l->phase, "%s", sota_phase_name(wi->sota.phase));
    l->bytes = wi->sota.bytes;
    l->image_size = wi->sota.image_size;
    l->flash_acked = wi->flash_acked;
    snprintf(l->registration, sizeof l->registration, "%s",
             sota_reg_name(wi->sota.reg));
    l->reg_failures = wi->sota.reg_failures;
    snprintf(l->reg_reason, sizeof l->reg_reason, "%s",
             wi->sota.reg_reason ? wi->sota.reg_reason : "");
}

struct wb_visit {
    struct wb_call *c;
    struct worker *found;
};

static void visit_list(void *ctx, struct worker *w)
{
    struct wb_visit *v = ctx;
    struct worker_info wi;

    worker_info(w, &wi);
    if (wi.imei[0] == '\0' || v->c->n >= v->c->cap)
        return; /* not identified yet: not a device */
    live_fill(&v->c->live[v->c->n++], &wi);
}

static void visit_find(void *ctx, struct worker *w)
{
    struct wb_visit *v = ctx;
    struct worker_info wi;

    worker_info(w, &wi);
    if (v->found == NULL && strcmp(wi.imei, v->c->imei) == 0)
        v->found = w;
}

static void visit_count(void *ctx, struct worker *w)
{
    struct web_metrics *m = ctx;
    struct worker_info wi;

    m->ports_open++;
    worker_info(w, &wi);
    if (wi.sota.reg == SOTA_REG_REGISTERED)
        m->modems_registered++;
    else if (wi.sota.reg == SOTA_REG_FAILED)
        m->modems_reg_failed++;
}

static const char *action_name(enum web_action a)
{
    switch (a) {
    case WEB_ACTION_PAUSE: return "pause";
    case WEB_ACTION_RESUME: return "resume";
    case WEB_ACTION_CANCEL: return "cancel";
    case WEB_ACTION_RETRY: return "retry";
    }
    return "?";
}

static void metrics_fill(const struct app *app, struct web_metrics *m)
{
    const struct app_stats *st = &app->stats;
    uint64_t cum = 0;

    memset(m, 0, sizeof *m);
    m->chunks_stored = st->chunks_stored;
    m->bytes_stored = st->bytes_stored;
    m->chunks_resent = st->chunks_resent;
    m->chunks_bad = st->chunks_bad;
    m->resumes = st->resumes;
    m->restarts = st->restarts;
    memcpy(m->failures_by_result, st->failures_by_result,
           sizeof m->failures_by_result);
    m->flash_blocks = st->flash_blocks;
    m->flash_retries = st->flash_retries;
    for (size_t i = 0; i < WEB_HIST_BUCKETS && i < APP_ANSWER_BUCKETS; i++) {
        cum += st->answer_buckets[i];
        m->answer_bounds_s[i] = app_answer_bounds_s[i];
        m->answer_buckets[i] = cum;
    }
    m->answer_count = st->answer_count;
    m->answer_sum_s = st->answer_sum_s;
    m->group_commits = app->commits;
    m->fsyncs = app->commit_fsyncs;
    if (app->sup)
        sup_foreach(app->sup, visit_count, m);
}

static void run_call(struct web_backend *wb, struct wb_call *c)
{
    struct wb_visit v = {.c = c};
    enum worker_action wa = WORKER_PAUSE;

    if (wb->app->sup == NULL || wb->app->stopping) {
        c->rc = -ESHUTDOWN;
        return;
    }
    switch (c->kind) {
    case WB_LIVE_LIST:
        sup_foreach(wb->app->sup, visit_list, &v);
        c->rc = 0;
        return;
    case WB_METRICS:
        metrics_fill(wb->app, &c->metrics);
        c->rc = 0;
        return;
    case WB_LIVE_GET:
    case WB_ACTION:
    case WB_TARGET: break;
    }
    sup_foreach(wb->app->sup, visit_find, &v);
    if (v.found == NULL) {
        c->rc = GW_E_NOTFOUND;
        snprintf(c->why, sizeof c->why,
                 "no modem with this IMEI is "
                 "connected");
        return;
    }
    if (c->kind == WB_LIVE_GET) {
        struct worker_info wi;

        worker_info(v.found, &wi);
        live_fill(&c->live[0], &wi);
        c->n = 1;
        c->rc = 0;
        return;
    }
    if (c->kind == WB_TARGET) {
        worker_target_changed(v.found);
        c->rc = 0;
        return;
    }
    switch (c->action) {
    case WEB_ACTION_PAUSE: wa = WORKER_PAUSE; break;
    case WEB_ACTION_RESUME: wa = WORKER_RESUME; break;
    case WEB_ACTION_CANCEL: wa = WORKER_CANCEL; break;
    case WEB_ACTION_RETRY: wa = WORKER_RETRY; break;
    }
    c->rc = worker_action(v.found, wa, c->actor, c->why, sizeof c->why);
    GW_LOG(c->rc == 0 ? GW_LOG_INFO : GW_LOG_WARN, NULL, "%s by %s: %s%s%s",
           action_name(c->action), c->actor,
           c->rc == 0 ? "done" : gw_strerror(c->rc), c->why[0] ? ": " : "",
           c->why);
}

static void on_async(uv_async_t *h)
{
    struct web_backend *wb = h->data;
    struct wb_call *list, *c, *next;

    pthread_mutex_lock(&wb->mu);
    list = wb->head;
    wb->head = NULL;
    wb->tail = &wb->head;
    for (c = list; c; c = c->next)
        c->taken = 1;
    pthread_mutex_unlock(&wb->mu);

    for (c = list; c; c = next) {
        int drop;

        next = c->next;
        run_call(wb, c);
        pthread_mutex_lock(&wb->mu);
        c->done = 1;
        drop = c->abandoned;
        pthread_cond_broadcast(&wb->cv);
        pthread_mutex_unlock(&wb->mu);
        if (drop)
            call_free(c);
    }
}

/* ---- on web threads ----------------------------------------------------- */

/* Queue c, wake the loop, wait up to WB_WAIT_MS. Returns 0 when the loop
 * ran it (the caller then owns and frees c), -ETIMEDOUT otherwise (c is
 * then the loop's to free, or freed here if the loop never took it). */
static int call_run(struct web_backend *wb, struct wb_call *c)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WB_WAIT_MS / 1000;
    until.tv_nsec += (long)(WB_WAIT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wb->mu);
    if (wb->closing) {
        pthread_mutex_unlock(&wb->mu);
        call_free(c);
        return -ESHUTDOWN;
    }
    *wb->tail = c;
    wb->tail = &c->next;
    uv_async_send(&wb->async);
    while (!c->done && rc == 0)
        rc = pthread_cond_timedwait(&wb->cv, &wb->mu, &until);
    if (c->done) {
        pthread_mutex_unlock(&wb->mu);
        return 0;
    }
    c->abandoned = 1;
    if (!c->taken) { /* still queued: unlink and free it here */
        struct wb_call **pp = &wb->head;

        while (*pp && *pp != c)
            pp = &(*pp)->next;
        if (*pp == c) {
            *pp = c->next;
            if (wb->tail == &c->next)
                wb->tail = pp;
        }
        pthread_mutex_unlock(&wb->mu);
        call_free(c);
        return -ETIMEDOUT;
    }
    pthread_mutex_unlock(&wb->mu);
    return -ETIMEDOUT;
}

static struct wb_call *call_new(enum wb_kind kind, const char *imei, size_t cap)
{
    struct wb_call *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->kind = kind;
    if (imei)
        snprintf(c->imei, sizeof c->imei, "%s", imei);
    if (cap > 0) {
        c->live = calloc(cap, sizeof *c->live);
        if (c->live == NULL) {
            free(c);
            return NULL;
        }
        c->cap = cap;
    }
    return c;
}

static int op_live_list(void *ctx, struct web_live *out, size_t cap, size_t *n)
{
    struct wb_call *c =
        call_new(WB_LIVE_LIST, NULL, cap < WB_LIVE_MAX ? cap : WB_LIVE_MAX);
    int rc;

    *n = 0;
    if (c == NULL)
        return -ENOMEM;
    rc = call_run(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    if (rc == 0) {
        memcpy(out, c->live, c->n * sizeof *out);
        *n = c->n;
    }
    call_free(c);
    return rc;
}

static int op_live_get(void *ctx, const char *imei, struct web_live *out)
{
    struct wb_call *c = call_new(WB_LIVE_GET, imei, 1);
    int rc;

    if (c == NULL)
        return -ENOMEM;
    rc = call_run(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    if (rc == 0)
        *out = c->live[0];
    call_free(c);
    return rc;
}

static int op_action(void *ctx, const char *imei, enum web_action action,
                     const char *actor, char *why, size_t why_cap)
{
    struct wb_call *c = call_new(WB_ACTION, imei, 0);
    int rc;

    if (why_cap > 0)
        why[0] = '\0';
    if (c == NULL)
        return -ENOMEM;
    c->action = action;
    snprintf(c->actor, sizeof c->actor, "%s", actor ? actor : "api");
    rc = call_run(ctx, c);
    if (rc < 0) {
        snprintf(why, why_cap, "the daemon did not answer in time");
        return rc;
    }
    rc = c->rc;
    snprintf(why, why_cap, "%s", c->why);
    call_free(c);
    return rc;
}

static void op_target_changed(void *ctx, const char *imei)
{
    struct wb_call *c = call_new(WB_TARGET, imei, 0);

    if (c == NULL)
        return;
    if (call_run(ctx, c) == 0)
        call_free(c);
}

static int op_metrics(void *ctx, struct web_metrics *out)
{
    struct wb_call *c = call_new(WB_METRICS, NULL, 0);
    int rc;

    if (c == NULL)
        return -ENOMEM;
    rc = call_run(ctx, c);
    if (rc < 0)
        return rc;
    rc = c->rc;
    if (rc == 0)
        *out = c->metrics;
    call_free(c);
    return rc;
}

const struct web_backend_ops web_backend_daemon_ops = {
    .live_list = op_live_list,
    .live_get = op_live_get,
    .action = op_action,
    .target_changed = op_target_changed,
    .metrics = op_metrics,
};

/* ---- life cycle (loop thread) ------------------------------------------ */

int web_backend_new(struct web_backend **out, struct app *app)
{
    struct web_backend *wb = calloc(1, sizeof *wb);

    *out = NULL;
    if (wb == NULL)
        return -ENOMEM;
    wb->app = app;
    wb->tail = &wb->head;
    pthread_mutex_init(&wb->mu, NULL);
    pthread_cond_init(&wb->cv, NULL);
    if (uv_async_init(app->loop, &wb->async, on_async) < 0) {
        pthread_cond_destroy(&wb->cv);
        pthread_mutex_destroy(&wb->mu);
        free(wb);
        return -ENOMEM;
    }
    wb->async.data = wb;
    *out = wb;
    return 0;
}

static void on_async_closed(uv_handle_t *h)
{
    struct web_backend *wb = h->data;

    pthread_cond_destroy(&wb->cv);
    pthread_mutex_destroy(&wb->mu);
    free(wb);
}

void web_backend_close(struct web_backend *wb)
{
    struct wb_call *c, *next;

    if (wb == NULL)
        return;
    /* The web server is stopped before this: no thread waits any more, and
     * anything still queued was abandoned by its thread. */
    pthread_mutex_lock(&wb->mu);
    wb->closing = 1;
    c = wb->head;
    wb->head = NULL;
    wb->tail = &wb->head;
    pthread_mutex_unlock(&wb->mu);
    for (; c; c = next) {
        next = c->next;
        call_free(c);
    }
    uv_close((uv_handle_t *)&wb->async, on_async_closed);
}
