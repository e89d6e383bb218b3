/* web/backend.h: what the web server needs from the running daemon, beyond
 * the database it reads through its own connection.
 *
 * The web server runs on its own thread(s). These operations are called
 * from web threads; the daemon's implementation hands them to the loop
 * thread (uv_async) and waits for the answer with a bound, so a web thread
 * never touches a worker directly. A NULL ops table (the web server run
 * against a database alone, as in tests) makes the live routes answer
 * 503 "daemon not attached" and the control routes likewise. */
#ifndef WEB_BACKEND_H
#define WEB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Operator actions on a device's upgrade. What each does to the modem
 * conversation and to staged data is documented in the OpenAPI document
 * and docs/API.md; the daemon implements them. */
enum web_action {
    WEB_ACTION_PAUSE,  /* stop accepting new chunks / starting a flash;
                          never interrupts an APPLY; staged data kept */
    WEB_ACTION_RESUME, /* undo PAUSE */
    WEB_ACTION_CANCEL, /* end the job (result 10 cancelled); staged data
                          dropped; a running flash stops between blocks */
    WEB_ACTION_RETRY   /* clear a failed job and the retry budget so the
                          platform's next attempt is accepted */
};

/* Live data of one modem that the database does not hold (or holds late). */
struct web_live {
    char imei[16];
    int connected; /* a worker serves it now */
    int paused;
    int rssi;              /* 99 unknown */
    int reg_status;        /* -1 unknown */
    int64_t readings_ms;   /* when rssi, reg_status were read; 0 never */
    int target_reachable;  /* -1 unknown */
    char phase[16];        /* sota phase name */
    uint32_t bytes;        /* durable bytes of the download */
    uint32_t image_size;   /* 0 unknown */
    uint32_t flash_acked;  /* bytes the field device acknowledged */
    char target_uri[256];  /* the effective target (database override
                              or config), "" none */
    char registration[24]; /* OneNET registration: "registered",
                              "backoff", "failed", ... */
    unsigned reg_failures; /* failed attempts since it last worked */
    char reg_reason[112];  /* why the last attempt failed, "" */
};

/* Counters and the answer-time histogram for /metrics. Monotonic since
 * the daemon started. */
#define WEB_HIST_BUCKETS 12
struct web_metrics {
    uint64_t chunks_stored, bytes_stored, chunks_resent, chunks_bad;
    uint64_t resumes, restarts;
    uint64_t failures_by_result[12]; /* OMA result code 0..11 */
    uint64_t flash_blocks, flash_retries;
    double answer_bounds_s[WEB_HIST_BUCKETS];  /* upper bounds, seconds */
    uint64_t answer_buckets[WEB_HIST_BUCKETS]; /* cumulative counts */
    uint64_t answer_count;
    double answer_sum_s;
    uint64_t group_commits, fsyncs;
    unsigned ports_open, ports_failed;
    unsigned modems_registered; /* registered with OneNET now */
    unsigned modems_reg_failed; /* "failed: registration" */
};

struct web_backend_ops {
    /* Fill up to cap live records; *n gets the count. 0 or GW_E_*. */
    int (*live_list)(void *ctx, struct web_live *out, size_t cap, size_t *n);
    /* One device's live record; GW_E_NOTFOUND when no worker serves it. */
    int (*live_get)(void *ctx, const char *imei, struct web_live *out);
    /* Perform an action; actor names who asked ("api:<token id>"). 0,
     * GW_E_NOTFOUND (no such device), GW_E_STATE (not allowed now: the
     * message says why), -ETIMEDOUT (the loop did not answer in time). */
    int (*action)(void *ctx, const char *imei, enum web_action action,
                  const char *actor, char *why, size_t why_cap);
    /* The target URI was changed in the database: apply it. */
    void (*target_changed)(void *ctx, const char *imei);
    int (*metrics)(void *ctx, struct web_metrics *out);
};

#endif
