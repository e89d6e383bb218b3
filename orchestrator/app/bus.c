/* bus.c: Modbus buses, one thread each (bus.h).
 *
 * Design note
 *   A bus is one link: an RTU line (device path + line settings) or a TCP
 *   endpoint. It owns one libmodbus context and one thread; every unit id
 *   on the link is served by that thread, one request at a time, with
 *   modbus_set_slave() before each request.
 *
 *   Requests (struct bus_job) move through three owners:
 *     QUEUED   in the bus's ident or flash queue; the loop thread may
 *              unlink and free it (bus_cancel) under the bus mutex;
 *     RUNNING  taken by the bus thread (an ident read in progress, or a
 *              flash among the bus's running set); the loop only sets
 *              `cancelled` under the mutex, the bus thread frees it;
 *     POSTED   finished, on the set's completion list for the loop; the
 *              loop delivers it or (cancelled) drops it, and frees it.
 *   A flash's progress report is a second, embedded list node that is on
 *   the completion list at most once: a newer report overwrites the values
 *   of one not yet delivered, so a slow loop never grows the list.
 *
 *   No callback after bus_cancel(): callbacks run only on the loop thread,
 *   which is inside bus_cancel() while it runs; bus_cancel() unlinks every
 *   posted node of ctx and marks every running job of ctx, and the bus
 *   thread never posts a job it finds marked (it checks under the mutex).
 *   The completion list is popped one node at a time, so a callback that
 *   cancels another ctx also withdraws that ctx's nodes still listed.
 *
 *   Scheduling on one bus thread: a queued identity read goes first, then
 *   one request of the next runnable flash (round robin over at most
 *   flash_per_bus running flashes; the rest wait FIFO). A flash in a
 *   planner WAIT lets the thread serve the others; with nothing runnable
 *   it sleeps on the condition variable until the earliest WAIT ends or a
 *   request arrives.
 *
 *   Descriptors (dio/fd_place.h): libmodbus waits with select(), which
 *   cannot take a descriptor >= FD_SETSIZE (glibc aborts the process). So
 *   libmodbus never sees the link's own descriptor: a TCP link is
 *   connected here (mb_link_connect_tcp, poll()) and an RTU line is opened
 *   by modbus_connect() (open and termios only, no select), and both are
 *   moved above FD_SETSIZE. For each exchange the bus thread borrows a
 *   slot number below FD_SETSIZE from the set's pool, points it at the
 *   link and runs libmodbus on it (modbus_set_socket), then points the
 *   context back at the link's own descriptor and returns the slot.
 *   Borrowers wait in line (FIFO) at most twice the response timeout. When
 *   no number below FD_SETSIZE can be had at all, the request fails with
 *   -EMFILE (its device is unreachable for now); when the wait runs out,
 *   an identity read fails with -EAGAIN and a flash request is simply
 *   tried again (the device saw nothing). Nothing calls into libmodbus
 *   without a slot.
 *   libmodbus's own reconnection (MODBUS_ERROR_RECOVERY_LINK) stays off:
 *   it would close the slot and connect with select(). */
#define GW_LOG_TAG "bus"

#include "bus.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>
#include <zlib.h>

#include "dio/fd_place.h"
#include "dio/mb_link.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "gw/log.h"

/* The profile's free_kib is 16 bits of KiB: no device can take more. */
#define BUS_IMAGE_MAX       ((uint32_t)65535 * 1024)
#define BUS_IDENT_QUEUE_MAX 256 /* identity reads waiting on one bus */
#define BUS_FLASH_QUEUE_MAX 256 /* flashes waiting on one bus */
#define BUS_NAME_MAX        (GW_CONFIG_PATH_MAX + 64)
#define BUS_RECONNECT_MS    1000 /* least time between connect attempts */
/* Descriptor numbers below FD_SETSIZE that the buses may hold at once for
 * libmodbus (one per exchange in progress). The rest of the low range is
 * left to the other select() users and short-lived files. */
#define BUS_SLOTS_MAX 768

enum bus_job_kind { BUS_JOB_IDENT, BUS_JOB_FLASH };

struct bus;

/* A node of the completion list. */
struct bus_post {
    struct bus_job *job;
    int queued;
    struct bus_post *next;
};

struct bus_job {
    enum bus_job_kind kind;
    struct bus *bus;
    unsigned unit;
    void *ctx;
    int cancelled;        /* under bus->mtx */
    struct bus_job *next; /* queue / running list */

    /* ident */
    bus_ident_fn *ident_cb;
    int ident_rc;
    struct mb_ident ident;

    /* flash */
    bus_flash_progress_fn *progress_cb;
    bus_flash_done_fn *done_cb;
    char image_path[GW_CONFIG_PATH_MAX];
    uint8_t *image;
    int started;
    struct mb_flash f;
    struct mb_req req; /* the planner's next request */
    struct mb_res res; /* the outcome of the last one */
    struct mb_ident res_ident;
    uint32_t prog_acked;            /* under set->mtx */
    enum mb_flash_phase prog_phase; /* under set->mtx */

    struct bus_post done_node;
    struct bus_post prog_node;
};

struct bus {
    struct bus_set *set;
    struct mb_uri link; /* unit ignored */
    char name[BUS_NAME_MAX];
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mtx;
    pthread_cond_t cond;
    int stop;
    atomic_int quit; /* = stop, read without the mutex */
    struct bus_job *idents, **idents_tail;
    size_t nidents;
    struct bus_job *flashes, **flashes_tail; /* waiting, FIFO */
    size_t nflashes;
    struct bus_job *running; /* at most flash_per_bus */
    size_t nrunning;
    struct bus_job *cur_ident; /* being read right now */
    /* bus thread only */
    modbus_t *mb;
    int connected;
    int link_fd;     /* the link's own descriptor */
    int slot;        /* borrowed low descriptor, or -1 */
    int slot_failed; /* the last borrow failed (logged) */
    int64_t last_connect_ms;
    struct bus *next;
};

struct bus_dev {
    struct bus *bus;
    unsigned unit;
    unsigned refs;
    char name[BUS_NAME_MAX + 16];
    struct bus_dev *next;
};

struct bus_set {
    uv_loop_t *loop;
    uv_async_t *async; /* freed by its close callback */
    struct bus_policy policy;
    struct fd_slots *slots; /* low descriptors for libmodbus */
    struct bus *buses;      /* loop thread only */
    struct bus_dev *devs;   /* loop thread only */
    pthread_mutex_t mtx;    /* guards the completion list */
    struct bus_post *posted, **posted_tail;
};

/* ---- completion list (any thread posts, the loop pops) ----------------- */

/* Queue p for the loop. The bus thread calls it holding its bus's mutex,
 * so bus_cancel() (which holds the same mutex) sees a job either running
 * or posted, never in between. Lock order: bus, then set. acked/phase are
 * the progress values (ignored for a done node). */
static void set_post(struct bus_set *bs, struct bus_post *p, uint32_t acked,
                     enum mb_flash_phase phase)
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
static void set_unpost_locked(struct bus_set *bs, struct bus_post *p)
{
    struct bus_post **pp;

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

static void job_free(struct bus_job *j)
{
    if (!j)
        return;
    free(j->image);
    free(j);
}

static void on_async(uv_async_t *h)
{
    struct bus_set *bs = h->data;

    for (;;) {
        struct bus_post *p;
        struct bus_job *j;
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
             * (cancelled) or after its done node, which bus_cancel() and
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
        job_free(j);
    }
}

/* ---- the bus thread ---------------------------------------------------- */

static void bus_disconnect(struct bus *b)
{
    if (b->mb && b->connected)
        modbus_close(b->mb); /* the context holds link_fd here */
    b->connected = 0;
    b->link_fd = -1;
}

/* Make sure the link is open. 0, or -errno (throttled: a dead TCP peer or
 * a missing tty is retried at most once per BUS_RECONNECT_MS). */
static int bus_connect(struct bus *b)
{
    int64_t now;
    int64_t ms = b->set->policy.response_timeout_ms;

    if (b->connected)
        return 0;
    now = gw_now_ms();
    if (b->last_connect_ms && now - b->last_connect_ms < BUS_RECONNECT_MS)
        return -ENOTCONN;
    b->last_connect_ms = now;
    if (!b->mb) {
        if (b->link.kind == MB_URI_TCP) {
            char port[8];

            /* The context frames; the socket comes from
             * mb_link_connect_tcp(). */
            snprintf(port, sizeof port, "%u", (unsigned)b->link.port);
            b->mb = modbus_new_tcp_pi(b->link.host, port);
        } else {
            b->mb = modbus_new_rtu(b->link.device, (int)b->link.baud,
                                   b->link.parity, (int)b->link.data_bits,
                                   (int)b->link.stop_bits);
        }
        if (!b->mb)
            return -(errno ? errno : ENOMEM);
        modbus_set_response_timeout(b->mb, (uint32_t)(ms / 1000),
                                    (uint32_t)(ms % 1000) * 1000);
    }
    if (b->link.kind == MB_URI_TCP) {
        int fd =
            mb_link_connect_tcp(b->mb, b->link.host, b->link.port, (int)ms);

        if (fd < 0) {
            GW_LOG(GW_LOG_WARN, b->name, "connect: %s", gw_strerror(fd));
            return fd;
        }
        b->link_fd = fd;
    } else {
        if (modbus_connect(b->mb) != 0) {
            int err = errno ? errno : EIO;

            GW_LOG(GW_LOG_WARN, b->name, "connect: %s", modbus_strerror(err));
            return -err;
        }
        b->link_fd = fd_move_high(modbus_get_socket(b->mb));
        modbus_set_socket(b->mb, b->link_fd);
    }
    b->connected = 1;
    GW_LOG(GW_LOG_INFO, b->name, "link open");
    return 0;
}

/* Point a low slot at the open link and the context at the slot, for one
 * exchange. 0, or -errno with nothing borrowed: -EMFILE (no number below
 * FD_SETSIZE is free), -EAGAIN (every slot stayed lent), -ECANCELED
 * (stopping). A failure is logged once until a borrow succeeds again. */
static int bus_borrow(struct bus *b)
{
    int64_t ms = b->set->policy.response_timeout_ms;
    int slot =
        fd_slots_get(b->set->slots, b->link_fd, gw_now_ms() + 2 * ms, &b->quit);

    if (slot < 0) {
        if (!b->slot_failed && slot != -ECANCELED)
            GW_LOG(GW_LOG_ERR, b->name,
                   "%s: libmodbus waits with select(), "
                   "which takes only descriptors below %d, and %s; requests "
                   "on this bus fail until one is free",
                   gw_strerror(slot), FD_SETSIZE,
                   slot == -EMFILE ? "none is free"
                                   : "all the buses' slots stayed busy");
        b->slot_failed = slot != -ECANCELED;
        return slot;
    }
    if (b->slot_failed)
        GW_LOG(GW_LOG_INFO, b->name, "a descriptor below %d is free again",
               FD_SETSIZE);
    b->slot_failed = 0;
    b->slot = slot;
    modbus_set_socket(b->mb, slot);
    return 0;
}

/* The end of an exchange on a borrowed slot. After a failure: a timeout
 * on a shared RTU line drops any late bytes (still on the slot), so a late
 * reply is never read as the next unit's answer; a link error closes the
 * link (reconnect on the next request). */
static void bus_exchange_end(struct bus *b, enum mb_res_kind kind)
{
    if (kind == MB_RES_TIMEOUT && b->link.kind == MB_URI_RTU)
        modbus_flush(b->mb);
    modbus_set_socket(b->mb, b->link_fd);
    fd_slots_put(b->set->slots, b->slot);
    b->slot = -1;
    if (kind == MB_RES_IO_ERROR)
        bus_disconnect(b);
}

/* Normalise mb_link_read_ident()'s libmodbus codes to the contract of
 * bus_read_ident(): an exception saying the registers do not exist is a
 * device that is not profile 1 (GW_E_PROTO), busy is -EBUSY, a gateway
 * whose target did not answer is -ETIMEDOUT, a garbled reply -EBADMSG. */
static int ident_rc_normalise(int rc)
{
    int e = -rc;

    if (rc >= 0 || rc > GW_E_BASE || (rc <= GW_E_BASE && rc > GW_E_LAST))
        return rc; /* 0, -errno or GW_E_* already */
    switch (e) {
    case EMBXSBUSY: return -EBUSY;
    case EMBXGPATH:
    case EMBXGTAR: return -ETIMEDOUT;
    case EMBBADCRC:
    case EMBBADDATA:
    case EMBBADEXC:
    case EMBMDATA:
    case EMBBADSLAVE: return -EBADMSG;
    default: return GW_E_PROTO; /* illegal function/address/... */
    }
}

static void bus_do_ident(struct bus *b, struct bus_job *j)
{
    int rc = bus_connect(b);

    if (rc == 0)
        rc = bus_borrow(b);
    if (rc == 0) {
        enum mb_res_kind kind = MB_RES_OK;

        modbus_set_slave(b->mb, (int)j->unit);
        rc = ident_rc_normalise(mb_link_read_ident(b->mb, &j->ident));
        if (rc == -ETIMEDOUT || rc == -EBADMSG)
            kind = MB_RES_TIMEOUT;
        else if (rc < 0 && rc > GW_E_BASE && rc != -EBUSY)
            kind = MB_RES_IO_ERROR;
        bus_exchange_end(b, kind);
    }
    j->ident_rc = rc;
}

/* Read and check the staged image (bus thread: the loop must not block on
 * a file of megabytes). Returns 0 or fills the flash's failure reason. */
static int job_load_image(struct bus_job *j)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd, rc = 0;
    uLong crc;

    if (j->f.size == 0 || j->f.size > BUS_IMAGE_MAX) {
        rc = GW_E_RANGE;
        goto fail;
    }
    fd = open(j->image_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (fstat(fd, &st) != 0 || st.st_size != (off_t)j->f.size) {
        rc = GW_E_INTEGRITY;
        close(fd);
        goto fail;
    }
    buf = malloc(j->f.size);
    if (!buf) {
        rc = -ENOMEM;
        close(fd);
        goto fail;
    }
    while (got < j->f.size) {
        ssize_t n = read(fd, buf + got, j->f.size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : GW_E_TRUNC;
            close(fd);
            goto fail;
        }
        got += (size_t)n;
    }
    close(fd);
    crc = crc32(0L, buf, (uInt)j->f.size);
    if ((uint32_t)crc != j->f.crc) {
        rc = GW_E_INTEGRITY;
        goto fail;
    }
    j->image = buf;
    return 0;

fail:
    free(buf);
    j->f.phase = MB_PH_DONE;
    j->f.result = MB_FLASH_FAILED;
    snprintf(j->f.reason, sizeof j->f.reason, "staged image %s: %s",
             rc == GW_E_INTEGRITY ? "does not match its size and CRC"
                                  : "unreadable",
             gw_strerror(rc));
    return rc;
}

/* Execute the request the planner asked for in j->req: 0 with j->res
 * filled, or 1 when it was not sent because every slot stayed lent or the
 * bus is stopping: the same request is tried again, and the device, which
 * saw nothing, is not charged a try. */
static int bus_exec_flash_req(struct bus *b, struct bus_job *j)
{
    int rc = bus_connect(b);

    memset(&j->res, 0, sizeof j->res);
    if (rc == 0)
        rc = bus_borrow(b);
    if (rc == -EAGAIN || rc == -ECANCELED)
        return 1;
    if (rc < 0) {
        j->res.kind = MB_RES_IO_ERROR;
        return 0;
    }
    modbus_set_slave(b->mb, (int)j->unit);
    rc = mb_link_exec(b->mb, &j->f, &j->req, j->image, &j->res, &j->res_ident);
    if (rc < 0) { /* a request the planner cannot make */
        bus_exchange_end(b, MB_RES_OK);
        j->res.kind = MB_RES_IO_ERROR;
        return 0;
    }
    bus_exchange_end(b, j->res.kind);
    return 0;
}

/* Ask the planner for the next request; 1 when the flash is finished. */
static int job_plan(struct bus_job *j, int64_t now)
{
    if (mb_flash_next(&j->f, &j->res, now, &j->req) < 0 ||
        j->req.kind == MB_REQ_DONE)
        return 1;
    return 0;
}

/* Unlink j from the running list. Caller holds b->mtx. */
static void bus_running_remove_locked(struct bus *b, struct bus_job *j)
{
    struct bus_job **pp;

    for (pp = &b->running; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            b->nrunning--;
            return;
        }
    }
}

/* A running flash ended (done != 0) or was cancelled: post or free it.
 * Caller holds b->mtx. */
static void bus_flash_retire_locked(struct bus *b, struct bus_job *j)
{
    bus_running_remove_locked(b, j);
    j->next = NULL;
    if (j->cancelled) {
        job_free(j);
        return;
    }
    GW_LOG(GW_LOG_INFO, b->name, "unit %u: flash ended: result %d (%s)",
           j->unit, (int)j->f.result, j->f.reason);
    set_post(b->set, &j->done_node, j->f.acked, j->f.phase);
}

/* One step of flash j: returns 1 when it made a request or finished. */
static int bus_step_flash_locked(struct bus *b, struct bus_job *j, int64_t now)
{
    int finished = 0;

    if (j->started && j->req.kind == MB_REQ_WAIT && j->req.at > now)
        return 0;
    pthread_mutex_unlock(&b->mtx);
    if (!j->started) {
        j->started = 1;
        if (job_load_image(j) < 0) {
            finished = 1;
        } else {
            j->res = (struct mb_res){.kind = MB_RES_START};
            finished = job_plan(j, now);
        }
    } else if (j->req.kind == MB_REQ_WAIT) {
        j->res = (struct mb_res){.kind = MB_RES_WAITED};
        finished = job_plan(j, gw_now_ms());
    }
    if (!finished && j->req.kind != MB_REQ_WAIT &&
        bus_exec_flash_req(b, j) == 0)
        finished = job_plan(j, gw_now_ms());
    pthread_mutex_lock(&b->mtx);
    if (finished || j->cancelled) {
        bus_flash_retire_locked(b, j);
        return 1;
    }
    set_post(b->set, &j->prog_node, j->f.acked, j->f.phase);
    return 1;
}

static void *bus_main(void *arg)
{
    struct bus *b = arg;
    struct bus_job *rr = NULL; /* next flash to step (round robin) */

    pthread_mutex_lock(&b->mtx);
    while (!b->stop) {
        int64_t now = gw_now_ms(), wake = INT64_MAX;
        int worked = 0;
        size_t n;
        struct bus_job *j;

        while (b->flashes && b->nrunning < b->set->policy.flash_per_bus) {
            j = b->flashes;
            b->flashes = j->next;
            if (!b->flashes)
                b->flashes_tail = &b->flashes;
            b->nflashes--;
            j->next = b->running;
            b->running = j;
            b->nrunning++;
            GW_LOG(GW_LOG_INFO, b->name,
                   "unit %u: flash of %" PRIu32 " bytes starts", j->unit,
                   j->f.size);
        }

        if (b->idents) {
            j = b->idents;
            b->idents = j->next;
            if (!b->idents)
                b->idents_tail = &b->idents;
            b->nidents--;
            j->next = NULL;
            b->cur_ident = j;
            pthread_mutex_unlock(&b->mtx);
            bus_do_ident(b, j);
            pthread_mutex_lock(&b->mtx);
            b->cur_ident = NULL;
            if (j->cancelled)
                job_free(j);
            else
                set_post(b->set, &j->done_node, 0, MB_PH_DONE);
            worked = 1;
        }

        /* One request of one runnable flash, round robin. */
        n = b->nrunning;
        for (size_t k = 0; k < n && !b->stop; k++) {
            int found = 0;

            for (j = b->running; j; j = j->next)
                if (j == rr)
                    found = 1;
            j = found ? rr : b->running;
            rr = j->next;
            if (j->cancelled) {
                bus_flash_retire_locked(b, j);
                worked = 1;
                break;
            }
            if (bus_step_flash_locked(b, j, now)) {
                worked = 1;
                break;
            }
            if (j->req.at < wake)
                wake = j->req.at;
        }
        if (worked || b->stop)
            continue;
        if (wake == INT64_MAX) {
            pthread_cond_wait(&b->cond, &b->mtx);
        } else {
            struct timespec ts;
            int64_t ms;

            /* The planner's times are CLOCK_MONOTONIC; so is the cond. */
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ms = wake - gw_now_ms();
            if (ms < 0)
                ms = 0;
            ts.tv_sec += (time_t)(ms / 1000);
            ts.tv_nsec += (long)(ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&b->cond, &b->mtx, &ts);
        }
    }
    /* Stopping: a running flash stops between two requests; the device
     * keeps what it acknowledged. The jobs are freed by bus_free(), after
     * the completion list no longer names them. */
    pthread_mutex_unlock(&b->mtx);
    bus_disconnect(b);
    if (b->mb)
        modbus_free(b->mb);
    b->mb = NULL;
    return NULL;
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

static void bus_join(struct bus *b)
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
static void bus_free(struct bus *b)
{
    if (!b)
        return;
    bus_join(b);
    while (b->running) {
        struct bus_job *j = b->running;

        b->running = j->next;
        job_free(j);
    }
    while (b->idents) {
        struct bus_job *j = b->idents;

        b->idents = j->next;
        job_free(j);
    }
    while (b->flashes) {
        struct bus_job *j = b->flashes;

        b->flashes = j->next;
        job_free(j);
    }
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mtx);
    free(b);
}

static int bus_new(struct bus **out, struct bus_set *bs,
                   const struct mb_uri *uri)
{
    pthread_condattr_t ca;
    struct bus *b = calloc(1, sizeof *b);
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
    rc = -pthread_create(&b->thread, NULL, bus_main, b);
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

int bus_set_new(struct bus_set **out, uv_loop_t *loop,
                const struct bus_policy *policy)
{
    struct bus_set *bs;
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

void bus_set_free(struct bus_set *bs)
{
    if (!bs)
        return;
    for (struct bus *b = bs->buses; b; b = b->next)
        bus_join(b);
    /* Threads are joined: nothing posts any more. Drop what is listed
     * (a progress node belongs to a running job, freed with its bus). */
    while (bs->posted) {
        struct bus_post *p = bs->posted;

        bs->posted = p->next;
        p->queued = 0;
        if (p == &p->job->done_node)
            job_free(p->job);
    }
    while (bs->buses) {
        struct bus *b = bs->buses;

        bs->buses = b->next;
        bus_free(b);
    }
    while (bs->devs) {
        struct bus_dev *d = bs->devs;

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

int bus_dev_get(struct bus_set *bs, const struct mb_uri *uri,
                struct bus_dev **out)
{
    struct bus *b;
    struct bus_dev *d;
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

void bus_dev_put(struct bus_dev *d)
{
    struct bus_set *bs;
    struct bus_dev **pp;

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

const char *bus_dev_name(const struct bus_dev *d)
{
    return d->name;
}

static struct bus_job *job_new(struct bus_dev *d, enum bus_job_kind kind,
                               void *ctx)
{
    struct bus_job *j = calloc(1, sizeof *j);

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

int bus_read_ident(struct bus_dev *d, bus_ident_fn *cb, void *ctx)
{
    struct bus *b = d->bus;
    struct bus_job *j;

    if (!cb)
        return GW_E_INVAL;
    j = job_new(d, BUS_JOB_IDENT, ctx);
    if (!j)
        return -ENOMEM;
    j->ident_cb = cb;
    pthread_mutex_lock(&b->mtx);
    if (b->nidents >= BUS_IDENT_QUEUE_MAX) {
        pthread_mutex_unlock(&b->mtx);
        job_free(j);
        return GW_E_FULL;
    }
    *b->idents_tail = j;
    b->idents_tail = &j->next;
    b->nidents++;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mtx);
    return 0;
}

int bus_flash(struct bus_dev *d, const struct bus_flash_req *req,
              bus_flash_progress_fn *progress, bus_flash_done_fn *done,
              void *ctx)
{
    struct bus *b = d->bus;
    struct bus_job *j;
    size_t len;

    if (!req || !req->image_path || !done)
        return GW_E_INVAL;
    len = strlen(req->image_path);
    if (len == 0 || len >= GW_CONFIG_PATH_MAX)
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
        job_free(j);
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
static void queue_cancel_locked(struct bus_job **head, struct bus_job ***tail,
                                size_t *n, void *ctx)
{
    struct bus_job **pp = head;

    while (*pp) {
        struct bus_job *j = *pp;

        if (j->ctx == ctx) {
            *pp = j->next;
            (*n)--;
            job_free(j);
        } else {
            pp = &j->next;
        }
    }
    *tail = head;
    while (**tail)
        *tail = &(**tail)->next;
}

void bus_cancel(struct bus_dev *d, void *ctx)
{
    struct bus *b = d->bus;
    struct bus_set *bs = b->set;
    struct bus_job *j;
    struct bus_post **pp;

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
        struct bus_post *p = *pp;

        if (p->job->bus == b && p->job->ctx == ctx) {
            set_unpost_locked(bs, p);
            if (p == &p->job->done_node)
                job_free(p->job);
            pp = &bs->posted; /* the list changed: start over */
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&bs->mtx);
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mtx);
}
