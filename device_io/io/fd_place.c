/* fd_place.c: descriptor placement around select() (dio/fd_place.h). */
#define _GNU_SOURCE  /* dup3: the slot is repointed atomically with O_CLOEXEC  \
                      */
#include "dio/fd_place.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "gw/err.h"

int fd_move_high(int fd)
{
    int high;

    if (fd < 0 || fd >= FD_SETSIZE)
        return fd;
    high = fcntl(fd, F_DUPFD_CLOEXEC, FD_SETSIZE);
    if (high < 0)
        return fd;
    close(fd);
    return high;
}

/* A borrower waiting for a slot, on its own stack. A slot given back goes
 * to the oldest waiter directly (FIFO): a bus that has just given one back
 * and asks again at once cannot overtake the buses already waiting. */
struct fd_waiter {
    pthread_cond_t cond;
    int slot; /* handed over, or -1 */
    struct fd_waiter *next;
};

struct fd_slots {
    pthread_mutex_t mtx;
    int null_fd; /* /dev/null, what an idle slot refers to */
    unsigned max;
    unsigned count; /* reserved */
    unsigned nfree;
    int *free; /* max entries; the first nfree are idle */
    struct fd_waiter *waiters, **waiters_tail;
};

int fd_slots_new(struct fd_slots **out, unsigned max)
{
    struct fd_slots *p;

    *out = NULL;
    if (max < 1 || max > FD_SETSIZE)
        return GW_E_RANGE;
    p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->free = calloc(max, sizeof *p->free);
    p->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (!p->free || p->null_fd < 0) {
        int rc = p->free ? -errno : -ENOMEM;

        if (p->null_fd >= 0)
            close(p->null_fd);
        free(p->free);
        free(p);
        return rc;
    }
    p->null_fd = fd_move_high(p->null_fd);
    p->max = max;
    p->waiters_tail = &p->waiters;
    pthread_mutex_init(&p->mtx, NULL);
    *out = p;
    return 0;
}

void fd_slots_free(struct fd_slots *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nfree; i++)
        close(p->free[i]);
    close(p->null_fd);
    pthread_mutex_destroy(&p->mtx);
    free(p->free);
    free(p);
}

/* Reserve one more number below FD_SETSIZE. The slot, or -EMFILE. Caller
 * holds p->mtx. */
static int slot_reserve_locked(struct fd_slots *p)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (fd >= FD_SETSIZE) {
        close(fd);
        return -EMFILE;
    }
    p->count++;
    return fd;
}

/* Unlink w if still queued. Caller holds p->mtx. */
static void waiter_unlink_locked(struct fd_slots *p, struct fd_waiter *w)
{
    for (struct fd_waiter **pp = &p->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            if (p->waiters_tail == &w->next)
                p->waiters_tail = pp;
            return;
        }
    }
}

/* Wait in line for a slot until deadline_ms or *quit. Caller holds
 * p->mtx. The slot, -EAGAIN or -ECANCELED. */
static int slot_wait_locked(struct fd_slots *p, int64_t deadline_ms,
                            const atomic_int *quit)
{
    struct timespec deadline = {.tv_sec = (time_t)(deadline_ms / 1000),
                                .tv_nsec =
                                    (long)(deadline_ms % 1000) * 1000000L};
    struct fd_waiter w = {.slot = -1, .next = NULL};
    pthread_condattr_t ca;
    int rc = 0;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &ca);
    pthread_condattr_destroy(&ca);
    *p->waiters_tail = &w;
    p->waiters_tail = &w.next;
    while (w.slot < 0 && rc != ETIMEDOUT && !(quit && atomic_load(quit)))
        rc = pthread_cond_timedwait(&w.cond, &p->mtx, &deadline);
    if (w.slot < 0)
        waiter_unlink_locked(p, &w);
    pthread_cond_destroy(&w.cond);
    if (w.slot >= 0)
        return w.slot; /* handed over, even at the deadline */
    return quit && atomic_load(quit) ? -ECANCELED : -EAGAIN;
}

int fd_slots_get(struct fd_slots *p, int fd, int64_t deadline_ms,
                 const atomic_int *quit)
{
    int slot;

    pthread_mutex_lock(&p->mtx);
    if (quit && atomic_load(quit))
        slot = -ECANCELED;
    else if (p->nfree > 0 && !p->waiters)
        slot = p->free[--p->nfree];
    else if (p->count < p->max &&
             ((slot = slot_reserve_locked(p)) >= 0 || p->count == 0))
        ; /* a new slot, or none can ever come back (-EMFILE) */
    else
        slot = slot_wait_locked(p, deadline_ms, quit);
    pthread_mutex_unlock(&p->mtx);
    if (slot < 0)
        return slot;
    if (dup3(fd, slot, O_CLOEXEC) < 0) {
        int rc = -errno;

        fd_slots_put(p, slot);
        return rc;
    }
    return slot;
}

void fd_slots_put(struct fd_slots *p, int slot)
{
    int ok = dup3(p->null_fd, slot, O_CLOEXEC) == slot;
    struct fd_waiter *w;

    pthread_mutex_lock(&p->mtx);
    if (!ok) {
        /* Cannot happen with valid numbers; never keep a slot that may
         * still refer to the borrower's file. */
        close(slot);
        p->count--;
    } else if ((w = p->waiters) != NULL) {
        p->waiters = w->next;
        if (!p->waiters)
            p->waiters_tail = &p->waiters;
        w->slot = slot;
        pthread_cond_signal(&w->cond);
    } else {
        p->free[p->nfree++] = slot;
    }
    pthread_mutex_unlock(&p->mtx);
}

void fd_slots_wake(struct fd_slots *p)
{
    pthread_mutex_lock(&p->mtx);
    for (struct fd_waiter *w = p->waiters; w; w = w->next)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&p->mtx);
}

unsigned fd_slots_count(struct fd_slots *p)
{
    unsigned n;

    pthread_mutex_lock(&p->mtx);
    n = p->count;
    pthread_mutex_unlock(&p->mtx);
    return n;
}

unsigned fd_slots_waiting(struct fd_slots *p)
{
    unsigned n = 0;

    pthread_mutex_lock(&p->mtx);
    for (struct fd_waiter *w = p->waiters; w; w = w->next)
        n++;
    pthread_mutex_unlock(&p->mtx);
    return n;
}
