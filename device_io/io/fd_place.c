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

struct fd_slots {
    pthread_mutex_t mtx;
    pthread_cond_t cond; /* a slot was given back, or fd_slots_wake() */
    int null_fd;         /* /dev/null, what an idle slot refers to */
    unsigned max;
    unsigned count; /* reserved */
    unsigned nfree;
    int *free; /* max entries; the first nfree are idle */
};

int fd_slots_new(struct fd_slots **out, unsigned max)
{
    struct fd_slots *p;
    pthread_condattr_t ca;

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
    pthread_mutex_init(&p->mtx, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
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
    pthread_cond_destroy(&p->cond);
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

static void ts_of_ms(int64_t ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

int fd_slots_get(struct fd_slots *p, int fd, int64_t deadline_ms,
                 const atomic_int *quit)
{
    struct timespec deadline;
    int slot = -1;

    ts_of_ms(deadline_ms, &deadline);
    pthread_mutex_lock(&p->mtx);
    for (;;) {
        if (quit && atomic_load(quit)) {
            slot = -ECANCELED;
            break;
        }
        if (p->nfree > 0) {
            slot = p->free[--p->nfree];
            break;
        }
        if (p->count < p->max) {
            slot = slot_reserve_locked(p);
            if (slot >= 0 || p->count == 0)
                break; /* a new slot, or none can ever come back */
        }
        /* Every slot is lent: one comes back within a request's time. */
        if (pthread_cond_timedwait(&p->cond, &p->mtx, &deadline) == ETIMEDOUT) {
            slot = -EAGAIN;
            break;
        }
    }
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

    pthread_mutex_lock(&p->mtx);
    if (ok) {
        p->free[p->nfree++] = slot;
    } else {
        /* Cannot happen with valid numbers; never keep a slot that may
         * still refer to the borrower's file. */
        close(slot);
        p->count--;
    }
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mtx);
}

void fd_slots_wake(struct fd_slots *p)
{
    pthread_mutex_lock(&p->mtx);
    pthread_cond_broadcast(&p->cond);
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
