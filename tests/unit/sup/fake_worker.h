/* fake_worker.h: a worker (worker.h) for the supervisor's tests. It opens
 * the port, reports the IMEI planned for it, and then behaves as planned:
 * runs until the port hangs up (UNPLUGGED) or worker_stop() (STOPPED), or
 * ends FAILED at once. It records what happened for the test. */
#ifndef FAKE_WORKER_H
#define FAKE_WORKER_H

#include "worker.h"

enum fake_mode {
    FAKE_RUN, /* identify, then run until hang-up or stop */
    FAKE_FAIL /* end FAILED right after start */
};

#define FAKE_PLANS_MAX 8
#define FAKE_LOG_MAX   64

struct fake_plan {
    char suffix[32]; /* a port path ending in this */
    char imei[16];
    enum fake_mode mode;
};

struct fake_record {
    char port[64];
    int started; /* 1: start, 0: exit */
    enum worker_exit why;
    long long at_ms; /* monotonic */
};

struct fake_world {
    struct fake_plan plans[FAKE_PLANS_MAX];
    int nplans;
    struct fake_record log[FAKE_LOG_MAX];
    int nlog;
    int running;
};

/* The one instance the fake workers read and write (test-only state). */
extern struct fake_world fake_world;

/* How many records match port suffix (NULL: any) and kind. */
int fake_count(const char *suffix, int started, int why);

#endif
