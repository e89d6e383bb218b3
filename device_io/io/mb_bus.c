/* mb_bus.c: Modbus buses, one thread each (dio/mb_bus.h): the loop side
 * (the set, the unit handles, queueing and cancelling requests) and the
 * completion list that brings results back to the loop. The bus thread is
 * mb_bus_thread.c; both share mb_bus_internal.h.
 *
 * Design note
 * Design note
 *   A bus is one link: an RTU line (device path + line settings) or a TCP
 *   endpoint. It owns one libmodbus context and one thread; every unit id
 *   on the link is served by that thread, one request at a time, with
 *   modbus_set_slave() before each request.
 *
 *   Requests (struct mb_bus_job) move through three owners:
 *     QUEUED   in the bus's ident or flash queue; the loop thread may
 *              unlink and free it (mb_bus_cancel) under the bus mutex;
 *     RUNNING  taken by the bus thread (an ident read in progress, or a
 *              flash among the bus's running set); the loop only sets
 *              `cancelled` under the mutex, the bus thread frees it;
 *     POSTED   finished, on the set's completion list for the loop; the
 *              loop delivers it or (cancelled) drops it, and frees it.
 *   A flash's progress report is a second, embedded list node that is on
 *   the completion list at most once: a newer report overwrites the values
 *   of one not yet delivered, so a slow loop never grows the list.
 *
 *   No callback after mb_bus_cancel(): callbacks run only on the loop thread,
 *   which is inside mb_bus_cancel() while it runs; mb_bus_cancel() unlinks
 * every posted node of ctx and marks every running job of ctx, and the bus
 *   thread never posts a job it finds marked (it checks under the mutex).
 *   The completion list is popped one node at a time, so a callback that
 *   cancels another ctx also withdraws that ctx's nodes still listed.
 *
 *   The bus thread's scheduling and its descriptors: mb_bus_thread.c. */
#define GW_LOG_TAG "bus"

#include "dio/mb_bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dio/fd_place.h"
#include "gw/err.h"
#include "gw/log.h"
#include "mb_bus_internal.h"

/* ---- completion list (any thread posts, the loop pops) ----------------- */

/* (mb_bus_internal.h) */
void mb_bus_set_post(struct mb_bus_set *bs, struct mb_bus_post *p,
                     uint32_t acked, enum mb_flash_phase phase)
{
    pthread_mutex_lock(&bs->mtx);
    p->job->prog_acked = acked;
    p->job->prog_phase = phase;
    if (!p->queued) {
        p->queued = 1;
        p->next = NULL;
        *bs->posted_tail = p;
        bs->posted_tail = &p->next;
    }
    pthread_mutex_unlock(&bs->mtx);
    uv_async_send(bs->async);
}

/* Unlink p if listed. Caller holds bs->mtx. */
static void set_unpost_locked(struct mb_bus_set *bs, struct mb_bus_post *p)
{
    struct mb_bus_post **pp;

    if (!p->queued)
        return;
    for (pp = &bs->posted; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            if (bs->posted_tail == &p->next)
                bs->posted_tail = pp;
            p->queued = 0;
            p->next = NULL;
            return;
        }
    }
}

void mb_bus_job_free(struct mb_bus_job *j)
{
    if (!j)
        return;
    free(j->image);
    free(j);
}

static void on_async(uv_async_t *h)
{
    struct mb_bus_set *bs = h->data;

    for (;;) {
        struct mb_bus_post *p;
        struct mb_bus_job *j;
        uint32_t acked;
        enum mb_flash_phase phase;

        pthread_mutex_lock(&bs->mtx);
        p = bs->posted;
        if (!p) {
            pthread_mutex_unlock(&bs->mtx);
            return;
        }
        bs->posted = p->next;
        if (!bs->posted)
            bs->posted_tail = &bs->posted;
        p->queued = 0;
        p->next = NULL;
        j = p->job;
        acked = j->prog_acked;
        phase = j->prog_phase;
        pthread_mutex_unlock(&bs->mtx);

        if (p == &j->prog_node) {
            /* The job is still RUNNING: it is freed only by the bus thread
             * (cancelled) or after its done node, which mb_bus_cancel() and
             * this loop order after this one. */
            if (j->progress_cb)
                j->progress_cb(j->ctx, acked, phase);
            continue;
        }
        if (j->kind == BUS_JOB_IDENT)
            j->ident_cb(j->ctx, j->ident_rc,
                        j->ident_rc == 0 ? &j->ident : NULL);
        else
            j->done_cb(j->ctx, &j->f);
        mb_bus_job_free(j);
    }
}

/* ---- the loop side ----------------------------------------------------- */

static int link_same(const struct mb_uri *a, const struct mb_uri *b)
{
    if (a->kind != b->kind)
        return 0;
    if (a->kind == MB_URI_TCP)
        return a->port == b->port && strcmp(a->host, b->host) == 0;
    return strcmp(a->device, b->device) == 0;
}

static void bus_name(const struct mb_uri *u, char *out, size_t cap)
{
    if (u->kind == MB_URI_TCP)
        snprintf(out, cap, strchr(u->host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u",
                 u->host, (unsigned)u->port);
    else
        snprintf(out, cap, "rtu:%s", u->device);
}

static void bus_join(struct mb_bus *b)
{
    if (!b->thread_started)
        return;
    pthread_mutex_lock(&b->mtx);
    b->stop = 1;
    atomic_store(&b->quit, 1);
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mtx);
    fd_slots_wake(b->set->slots); /* a borrow waiting for a slot */
    pthread_join(b->thread, NULL);
    b->thread_started = 0;
}

/* Free a bus whose thread has been joined. */
static void bus_free(struct mb_bus *b)
{
    if (!b)
        return;
    bus_join(b);
    while (b->running) {
        struct mb_bus_job *j = b->running;

        b->running = j->next;
        mb_bus_job_free(j);
    }
    while (b->idents) {
        struct mb_bus_job *j = b->idents;

        b->idents = j->next;
        mb_bus_job_free(j);
    }
    while (b->flashes) {
        struct mb_bus_job *j = b->flashes;

        b->flashes = j->next;
        mb_bus_job_free(j);
    }
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mtx);
    free(b);
}

static int bus_new(struct mb_bus **out, struct mb_bus_set *bs,
                   const struct mb_uri *uri)
{
    pthread_condattr_t ca;
    struct mb_bus *b = calloc(1, sizeof *b);
    int rc;

    *out = NULL;
    if (!b)
        return -ENOMEM;
    b->set = bs;
    b->link = *uri;
    b->link.unit = 0;
    b->link_fd = -1;
    b->slot = -1;
    atomic_init(&b->quit, 0);
    bus_name(uri, b->name, sizeof b->name);
    b->idents_tail = &b->idents;
    b->flashes_tail = &b->flashes;
    pthread_mutex_init(&b->mtx, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    rc = -pthread_create(&b->thread, NULL, mb_bus_thread_main, b);
    if (rc < 0)
        goto fail;
    b->thread_started = 1;
    *out = b;
    return 0;

fail:
    bus_free(b);
    return rc;
}

static void on_async_closed(uv_handle_t *h)
{
    free(h);
}

int mb_bus_set_new(struct mb_bus_set **out, uv_loop_t *loop,
                   const struct mb_bus_policy *policy)
{
    struct mb_bus_set *bs;
    int rc;

    *out = NULL;
    if (!policy || policy->flash_per_bus < 1 ||
        policy->response_timeout_ms < 1 || policy->response_timeout_ms > 60000)
        return GW_E_RANGE;
    bs = calloc(1, sizeof *bs);
    if (!bs)
        return -ENOMEM;
    bs->loop = loop;
    bs->policy = *policy;
    bs->posted_tail = &bs->posted;
    pthread_mutex_init(&bs->mtx, NULL);
    rc = fd_slots_new(&bs->slots, BUS_SLOTS_MAX);
    if (rc < 0)
        goto fail;
    bs->async = malloc(sizeof *bs->async);
    if (!bs->async) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = uv_async_init(loop, bs->async, on_async);
    if (rc < 0) {
        free(bs->async);
        bs->async = NULL;
        goto fail;
    }
    bs->async->data = bs;
    *out = bs;
    return 0;

fail:
    fd_slots_free(bs->slots);
    pthread_mutex_destroy(&bs->mtx);
    free(bs);
    return rc;
}

void mb_bus_set_free(struct mb_bus_set *bs)
{
    if (!bs)
        return;
    for (struct mb_bus *b = bs->buses; b; b = b->next)
        bus_join(b);
    /* Threads are joined: nothing posts any more. Drop what is listed
     * (a progress node belongs to a running job, freed with its bus). */
    while (bs->posted) {
        struct mb_bus_post *p = bs->posted;

        bs->posted = p->next;
        p->queued = 0;
        if (p == &p->job->done_node)
            mb_bus_job_free(p->job);
    }
    while (bs->buses) {
        struct mb_bus *b = bs->buses;

        bs->buses = b->next;
        bus_free(b);
    }
    while (bs->devs) {
        struct mb_bus_dev *d = bs->devs;

        bs->devs = d->next;
        free(d);
    }
    if (fd_slots_count(bs->slots) > 0)
        GW_LOG(GW_LOG_INFO, NULL,
               "libmodbus ran on %u descriptor slot%s below %d at most",
               fd_slots_count(bs->slots),
               fd_slots_count(bs->slots) == 1 ? "" : "s", FD_SETSIZE);
    fd_slots_free(bs->slots); /* no bus thread borrows any more */
    /* The handle is freed by its close callback on the next loop turn. */
    bs->async->data = NULL;
    uv_close((uv_handle_t *)bs->async, on_async_closed);
    pthread_mutex_destroy(&bs->mtx);
    free(bs);
}

int mb_bus_dev_get(struct mb_bus_set *bs, const struct mb_uri *uri,
                   struct mb_bus_dev **out)
{
    struct mb_bus *b;
    struct mb_bus_dev *d;
    int rc;

    *out = NULL;
    if (uri->unit < 1 || uri->unit > 247)
        return GW_E_RANGE;
    for (d = bs->devs; d; d = d->next) {
        if (d->unit == uri->unit && link_same(&d->bus->link, uri)) {
            d->refs++;
            *out = d;
            return 0;
        }
    }
    for (b = bs->buses; b; b = b->next)
        if (link_same(&b->link, uri))
            break;
    if (!b) {
        rc = bus_new(&b, bs, uri);
        if (rc < 0)
            return rc;
        b->next = bs->buses;
        bs->buses = b;
        GW_LOG(GW_LOG_INFO, b->name, "bus thread started");
    } else if (uri->kind == MB_URI_RTU &&
               (b->link.baud != uri->baud || b->link.parity != uri->parity ||
                b->link.data_bits != uri->data_bits ||
                b->link.stop_bits != uri->stop_bits)) {
        /* One line has one speed: a second setting is a config error. */
        GW_LOG(GW_LOG_ERR, b->name,
               "unit %u: line settings differ from the bus's (%u %c%u%u)",
               uri->unit, b->link.baud, b->link.parity, b->link.data_bits,
               b->link.stop_bits);
        return GW_E_CONFIG;
    }
    d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->bus = b;
    d->unit = uri->unit;
    d->refs = 1;
    snprintf(d->name, sizeof d->name, "%s#%u", b->name, d->unit);
    d->next = bs->devs;
    bs->devs = d;
    *out = d;
    return 0;
}

void mb_bus_dev_put(struct mb_bus_dev *d)
{
    struct mb_bus_set *bs;
    struct mb_bus_dev **pp;

    if (!d || --d->refs > 0)
        return;
    bs = d->bus->set;
    for (pp = &bs->devs; *pp; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    }
    free(d);
}

const char *mb_bus_dev_name(const struct mb_bus_dev *d)
{
    return d->name;
}

static struct mb_bus_job *job_new(struct mb_bus_dev *d,
                                  enum mb_bus_job_kind kind, void *ctx)
{
    struct mb_bus_job *j = calloc(1, sizeof *j);

    if (!j)
        return NULL;
    j->kind = kind;
    j->bus = d->bus;
    j->unit = d->unit;
    j->ctx = ctx;
    j->done_node.job = j;
    j->prog_node.job = j;
    return j;
}

int mb_bus_read_ident(struct mb_bus_dev *d, mb_bus_ident_fn *cb, void *ctx)
{
    struct mb_bus *b = d->bus;
    struct mb_bus_job *j;

    if (!cb)
        return GW_E_INVAL;
    j = job_new(d, BUS_JOB_IDENT, ctx);
    if (!j)
        return -ENOMEM;
    j->ident_cb = cb;
    pthread_mutex_lock(&b->mtx);
    if (b->nidents >= BUS_IDENT_QUEUE_MAX) {
        pthread_mutex_unlock(&b->mtx);
        mb_bus_job_free(j);
        return GW_E_FULL;
    }
    *b->idents_tail = j;
    b->idents_tail = &j->next;
    b->nidents++;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mtx);
    return 0;
}

int mb_bus_flash(struct mb_bus_dev *d, const struct mb_bus_flash_req *req,
                 mb_bus_flash_progress_fn *progress, mb_bus_flash_done_fn *done,
                 void *ctx)
{
    struct mb_bus *b = d->bus;
    struct mb_bus_job *j;
    size_t len;

    if (!req || !req->image_path || !done)
        return GW_E_INVAL;
    len = strlen(req->image_path);
    if (len == 0 || len >= MB_BUS_PATH_MAX)
        return GW_E_TOOLONG;
    if (req->size == 0 || req->size > BUS_IMAGE_MAX)
        return GW_E_RANGE;
    if (req->expect_version && strlen(req->expect_version) > MB_VERSION_MAX)
        return GW_E_TOOLONG;
    j = job_new(d, BUS_JOB_FLASH, ctx);
    if (!j)
        return -ENOMEM;
    j->progress_cb = progress;
    j->done_cb = done;
    memcpy(j->image_path, req->image_path, len + 1);
    mb_flash_init(&j->f, &b->set->policy.flash, req->size, req->crc,
                  req->expect_version);
    pthread_mutex_lock(&b->mtx);
    if (b->nflashes >= BUS_FLASH_QUEUE_MAX) {
        pthread_mutex_unlock(&b->mtx);
        mb_bus_job_free(j);
        return GW_E_FULL;
    }
    *b->flashes_tail = j;
    b->flashes_tail = &j->next;
    b->nflashes++;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mtx);
    return 0;
}

/* Drop ctx's jobs from a queue. Caller holds b->mtx. */
static void queue_cancel_locked(struct mb_bus_job **head,
                                struct mb_bus_job ***tail, size_t *n, void *ctx)
{
    struct mb_bus_job **pp = head;

    while (*pp) {
        struct mb_bus_job *j = *pp;

        if (j->ctx == ctx) {
            *pp = j->next;
            (*n)--;
            mb_bus_job_free(j);
        } else {
            pp = &j->next;
        }
    }
    *tail = head;
    while (**tail)
        *tail = &(**tail)->next;
}

void mb_bus_cancel(struct mb_bus_dev *d, void *ctx)
{
    struct mb_bus *b = d->bus;
    struct mb_bus_set *bs = b->set;
    struct mb_bus_job *j;
    struct mb_bus_post **pp;

    /* Lock order: bus, then set (the bus thread never holds both). */
    pthread_mutex_lock(&b->mtx);
    queue_cancel_locked(&b->idents, &b->idents_tail, &b->nidents, ctx);
    queue_cancel_locked(&b->flashes, &b->flashes_tail, &b->nflashes, ctx);
    if (b->cur_ident && b->cur_ident->ctx == ctx)
        b->cur_ident->cancelled = 1;
    pthread_mutex_lock(&bs->mtx);
    for (j = b->running; j; j = j->next) {
        if (j->ctx == ctx) {
            j->cancelled = 1;
            set_unpost_locked(bs, &j->prog_node);
        }
    }
    /* Finished jobs of ctx not yet delivered: drop them. */
    pp = &bs->posted;
    while (*pp) {
        struct mb_bus_post *p = *pp;

        if (p->job->bus == b && p->job->ctx == ctx) {
            set_unpost_locked(bs, p);
            if (p == &p->job->done_node)
                mb_bus_job_free(p->job);
            pp = &bs->posted; /* the list changed: start over */
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&bs->mtx);
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mtx);
}
