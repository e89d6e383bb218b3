/* mb_bus_internal.h: what the files of the Modbus buses share
 * (dio/mb_bus.h): the limits, the request (struct mb_bus_job), the bus and
 * the set, and the calls between the loop side (mb_bus.c) and the bus
 * thread (mb_bus_thread.c). Private to device_io/io. */
#ifndef DIO_MB_BUS_INTERNAL_H
#define DIO_MB_BUS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <modbus.h>
#include <uv.h>

#include "dio/mb_bus.h"

/* The profile's free_kib is 16 bits of KiB: no device can take more. */
#define BUS_IMAGE_MAX       ((uint32_t)65535 * 1024)
#define BUS_IDENT_QUEUE_MAX 256 /* identity reads waiting on one bus */
#define BUS_FLASH_QUEUE_MAX 256 /* flashes waiting on one bus */
#define BUS_NAME_MAX        (MB_URI_DEVICE_MAX + 64)
#define BUS_RECONNECT_MS    1000 /* least time between connect attempts */
/* Descriptor numbers below FD_SETSIZE that the buses may hold at once for
 * libmodbus (one per exchange in progress). The rest of the low range is
 * left to the other select() users and short-lived files. */
#define BUS_SLOTS_MAX 768

enum mb_bus_job_kind { BUS_JOB_IDENT, BUS_JOB_FLASH };

struct mb_bus;

/* A node of the completion list. */
struct mb_bus_post {
    struct mb_bus_job *job;
    int queued;
    struct mb_bus_post *next;
};

struct mb_bus_job {
    enum mb_bus_job_kind kind;
    struct mb_bus *bus;
    unsigned unit;
    void *ctx;
    int cancelled;           /* under bus->mtx */
    struct mb_bus_job *next; /* queue / running list */

    /* ident */
    mb_bus_ident_fn *ident_cb;
    int ident_rc;
    struct mb_ident ident;

    /* flash */
    mb_bus_flash_progress_fn *progress_cb;
    mb_bus_flash_done_fn *done_cb;
    char image_path[MB_BUS_PATH_MAX];
    uint8_t *image;
    int started;
    struct mb_flash f;
    struct mb_req req; /* the planner's next request */
    struct mb_res res; /* the outcome of the last one */
    struct mb_ident res_ident;
    uint32_t prog_acked;            /* under set->mtx */
    enum mb_flash_phase prog_phase; /* under set->mtx */

    struct mb_bus_post done_node;
    struct mb_bus_post prog_node;
};

struct mb_bus {
    struct mb_bus_set *set;
    struct mb_uri link; /* unit ignored */
    char name[BUS_NAME_MAX];
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mtx;
    pthread_cond_t cond;
    int stop;
    atomic_int quit; /* = stop, read without the mutex */
    struct mb_bus_job *idents, **idents_tail;
    size_t nidents;
    struct mb_bus_job *flashes, **flashes_tail; /* waiting, FIFO */
    size_t nflashes;
    struct mb_bus_job *running; /* at most flash_per_bus */
    size_t nrunning;
    struct mb_bus_job *cur_ident; /* being read right now */
    /* bus thread only */
    modbus_t *mb;
    int connected;
    int link_fd;     /* the link's own descriptor */
    int slot;        /* borrowed low descriptor, or -1 */
    int slot_failed; /* the last borrow failed (logged) */
    int64_t last_connect_ms;
    struct mb_bus *next;
};

struct mb_bus_dev {
    struct mb_bus *bus;
    unsigned unit;
    unsigned refs;
    char name[BUS_NAME_MAX + 16];
    struct mb_bus_dev *next;
};

struct mb_bus_set {
    uv_loop_t *loop;
    uv_async_t *async; /* freed by its close callback */
    struct mb_bus_policy policy;
    struct fd_slots *slots;  /* low descriptors for libmodbus */
    struct mb_bus *buses;    /* loop thread only */
    struct mb_bus_dev *devs; /* loop thread only */
    pthread_mutex_t mtx;     /* guards the completion list */
    struct mb_bus_post *posted, **posted_tail;
};

/* Queue p on the set's completion list for the loop (mb_bus.c). The bus
 * thread calls it holding its bus's mutex, so mb_bus_cancel() (which holds
 * the same mutex) sees a job either running or posted, never in between.
 * Lock order: bus, then set. acked/phase are the progress values (ignored
 * for a done node). */
void mb_bus_set_post(struct mb_bus_set *bs, struct mb_bus_post *p,
                     uint32_t acked, enum mb_flash_phase phase);

/* Free a request and its image. NULL-safe. */
void mb_bus_job_free(struct mb_bus_job *j);

/* The bus thread (mb_bus_thread.c): arg is the struct mb_bus. It runs until
 * b->stop, then closes and frees the libmodbus context; the jobs still held
 * are freed by the loop side after the join. */
void *mb_bus_thread_main(void *arg);

#endif
