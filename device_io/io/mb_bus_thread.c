/* mb_bus_thread.c: the thread of one Modbus bus (dio/mb_bus.h): the link,
 * the descriptor slot of each exchange, the identity reads and the steps of
 * the flashes. The loop side is mb_bus.c; both share mb_bus_internal.h.
 *
 * Design note
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
#include "mb_bus_internal.h"

/* ---- the bus thread ---------------------------------------------------- */

static void bus_disconnect(struct mb_bus *b)
{
    if (b->mb && b->connected)
        modbus_close(b->mb); /* the context holds link_fd here */
    b->connected = 0;
    b->link_fd = -1;
}

/* Make sure the link is open. 0, or -errno (throttled: a dead TCP peer or
 * a missing tty is retried at most once per BUS_RECONNECT_MS). */
static int bus_connect(struct mb_bus *b)
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
static int bus_borrow(struct mb_bus *b)
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
static void bus_exchange_end(struct mb_bus *b, enum mb_res_kind kind)
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
 * mb_bus_read_ident(): an exception saying the registers do not exist is a
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

static void bus_do_ident(struct mb_bus *b, struct mb_bus_job *j)
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
static int job_load_image(struct mb_bus_job *j)
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
static int bus_exec_flash_req(struct mb_bus *b, struct mb_bus_job *j)
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
static int job_plan(struct mb_bus_job *j, int64_t now)
{
    if (mb_flash_next(&j->f, &j->res, now, &j->req) < 0 ||
        j->req.kind == MB_REQ_DONE)
        return 1;
    return 0;
}

/* Unlink j from the running list. Caller holds b->mtx. */
static void bus_running_remove_locked(struct mb_bus *b, struct mb_bus_job *j)
{
    struct mb_bus_job **pp;

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
static void bus_flash_retire_locked(struct mb_bus *b, struct mb_bus_job *j)
{
    bus_running_remove_locked(b, j);
    j->next = NULL;
    if (j->cancelled) {
        mb_bus_job_free(j);
        return;
    }
    GW_LOG(GW_LOG_INFO, b->name, "unit %u: flash ended: result %d (%s)",
           j->unit, (int)j->f.result, j->f.reason);
    mb_bus_set_post(b->set, &j->done_node, j->f.acked, j->f.phase);
}

/* One step of flash j: returns 1 when it made a request or finished. */
static int bus_step_flash_locked(struct mb_bus *b, struct mb_bus_job *j,
                                 int64_t now)
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
    mb_bus_set_post(b->set, &j->prog_node, j->f.acked, j->f.phase);
    return 1;
}

void *mb_bus_thread_main(void *arg)
{
    struct mb_bus *b = arg;
    struct mb_bus_job *rr = NULL; /* next flash to step (round robin) */

    pthread_mutex_lock(&b->mtx);
    while (!b->stop) {
        int64_t now = gw_now_ms(), wake = INT64_MAX;
        int worked = 0;
        size_t n;
        struct mb_bus_job *j;

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
                mb_bus_job_free(j);
            else
                mb_bus_set_post(b->set, &j->done_node, 0, MB_PH_DONE);
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
     * keeps what it acknowledged. The jobs are freed by bus_free() (mb_bus.c),
     * after the completion list no longer names them. */
    pthread_mutex_unlock(&b->mtx);
    bus_disconnect(b);
    if (b->mb)
        modbus_free(b->mb);
    b->mb = NULL;
    return NULL;
}
