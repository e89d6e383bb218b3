/* app.h: what every part of the running daemon shares (sotagw run).
 *
 * Threads
 *   - the loop thread runs one libuv loop: every modem's AT channel and
 *     worker (SOTA state machine), the supervisor, timers, signals, the
 *     group commit, and the read-write database connection;
 *   - one thread per Modbus bus (dio/mb_bus.h) runs the blocking libmodbus
 * calls and reports back to the loop through uv_async;
 *   - the web server (web/server.h) runs on its own threads with its own
 *     database connections (a read-only pool and one writer); what it
 *     needs from the daemon it asks through web_backend.c, which runs the
 *     request on the loop thread.
 * Nothing in struct app is touched from another thread.
 *
 * Group commit
 *   Chunks from many modems arrive in one loop turn. Each one is written to
 *   its staging file and recorded in the database inside the open group
 *   transaction (db_group_begin); nothing is acknowledged yet. Once per
 *   loop turn (a uv_check handle, i.e. after the turn's I/O callbacks) the
 *   group commit fdatasync()s every staging file written in the turn, then
 *   commits the database group, then runs the waiters registered with
 *   app_commit_after(): only then may a worker tell the modem "stored"
 *   (AT+MIPLSOTA=<write ok>). So the staged bytes are on disk before the
 *   database counts them, and the database counts them before the platform
 *   is told, with one fsync per file and one per commit per turn, however
 *   many chunks and modems. */
#ifndef SOTAGW_APP_H
#define SOTAGW_APP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "db/db.h"
#include "orch/config.h"

struct mb_bus_set;
struct sup;

#define APP_DIRTY_FDS_MAX 1024

struct app_commit_waiter;
typedef void app_commit_fn(struct app_commit_waiter *w, int rc);

/* Caller-embedded: a worker keeps one per pending acknowledgement batch.
 * rc is 0 when the commit covering the waiter's writes succeeded, else the
 * error (the writes are then not durable and must not be acknowledged). */
struct app_commit_waiter {
    app_commit_fn *fn;
    struct app_commit_waiter *next; /* private */
    int queued;                     /* private */
};

/* Counters since start, for /metrics (loop thread only; the web backend
 * copies them on the loop). Answer times are from a platform request's
 * URC to the completion (OK) of its answer, in seconds. */
#define APP_ANSWER_BUCKETS 12
struct app_stats {
    uint64_t chunks_stored, bytes_stored, chunks_resent, chunks_bad;
    uint64_t resumes, restarts;
    uint64_t failures_by_result[12];
    uint64_t flash_blocks, flash_retries;
    uint64_t answer_buckets[APP_ANSWER_BUCKETS]; /* not cumulative */
    uint64_t answer_count;
    double answer_sum_s;
};
extern const double app_answer_bounds_s[APP_ANSWER_BUCKETS];

/* Count one answer time. */
void app_stats_answer(struct app_stats *st, double seconds);

struct app {
    uv_loop_t *loop;
    const struct gw_config *cfg; /* immutable; replaced whole on SIGHUP */
    struct db *db;               /* read-write, loop thread only */
    struct mb_bus_set *buses;
    struct sup *sup;
    char staging_dir[GW_CONFIG_PATH_MAX + 16]; /* state_dir/staging */
    int stopping;                              /* SIGTERM/SIGINT seen */

    /* group commit (private to app_commit.c) */
    uv_check_t commit_check;
    int dirty_fds[APP_DIRTY_FDS_MAX];
    size_t ndirty;
    struct app_commit_waiter *waiters, **waiters_tail;
    uint64_t commits, commit_fsyncs; /* counters for metrics */
    struct app_stats stats;
};

/* Start the group-commit handle on app->loop. */
int app_commit_init(struct app *app);
void app_commit_cleanup(struct app *app);

/* Note that fd was written in this turn: it is fdatasync()ed (once, however
 * often it is noted) before the database group commits. */
void app_commit_dirty_fd(struct app *app, int fd);

/* Forget fd (it is being closed): a pending sync of it is done now. */
void app_commit_forget_fd(struct app *app, int fd);

/* Run w->fn after the next group commit (at the end of this loop turn).
 * A waiter already queued is not queued twice. */
void app_commit_after(struct app *app, struct app_commit_waiter *w,
                      app_commit_fn *fn);

/* Remove w if queued (its owner is going away): fn will not be called. */
void app_commit_cancel(struct app *app, struct app_commit_waiter *w);

/* Commit now (shutdown, and before irreversible steps that cannot wait for
 * the end of the turn). Runs the waiters. Returns the commit's rc. */
int app_commit_flush(struct app *app);

#endif
