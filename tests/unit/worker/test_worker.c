/* test_worker.c: the SOTA worker (worker.h) against a scripted modem on a
 * pty and the in-memory bus (fake_bus.c), with the real database, staging
 * files, group commit and state machine.
 *
 * The test plays the module on the pty's master side: '>' lines are
 * commands the worker must send, byte for byte and in order; '<' lines are
 * what the module prints. The seed transcript (tests/data/seed) drives the
 * full upgrade. The worker runs on a clock the test moves by hand
 * (worker_ops.now_ms, "~ <ms>" in a script): its timers take no real time.
 * A 20 s guard per wait turns a hang into a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>
#include <zlib.h>

#include "app.h"
#include "db/db_devices.h"
#include "db/db_events.h"
#include "db/db_jobs.h"
#include "fake_bus.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "staging.h"
#include "worker.h"

#define IMEI       "861234045678904"
#define TRANSCRIPT GW_TEST_DATA_DIR "/seed/seed-transcript.txt"
#define GUARD_MS   20000

struct fx {
    char dir[64];
    uv_loop_t loop;
    struct gw_config *cfg;
    struct app app;
    int master;
    char slave[64];
    struct worker *w;
    int exited;
    enum worker_exit why;
    char inbuf[16384];
    size_t inlen;
    int64_t now; /* the worker's clock, ms */
};

static const char bringup[] = "> AT\n< OK\n"
                              "> ATE0\n< OK\n"
                              "> AT+CGSN=1\n< +CGSN: " IMEI "\n< OK\n"
                              "> AT+CIMI\n< 460040123456789\n< OK\n"
                              "> AT+ICCID\n< +ICCID: 89860412345678901234\n"
                              "< OK\n"
                              "> AT+CSQ\n< +CSQ: 21,99\n< OK\n"
                              "> AT+CEREG?\n< +CEREG: 0,1\n< OK\n"
                              "> AT+CGATT?\n< +CGATT: 1\n< OK\n"
                              "> AT+SM=LOCK\n< OK\n";

static const char registration[] = "> AT+MIPLCREATE\n< OK\n"
                                   "> AT+MIPLSOTAVER=\"test0\"\n< OK\n"
                                   "> AT+MIPLOPEN=0,600,60\n< OK\n"
                                   "< +MIPLEVENT:0,6\n"
                                   "< +MIPLEXECUTE:0,1,5,0,26550,0,\"\"\n"
                                   "> AT+MIPLEXECUTERSP=0,1,2\n< OK\n"
                                   "< +MIPLEXECUTE:0,2,5,0,26501,0,\"\"\n"
                                   "> AT+MIPLSOTA=3\n< OK\n";

/* ---- the fixture ------------------------------------------------------- */

static int identified(void *ctx, struct worker *w, const char *imei)
{
    (void)ctx;
    (void)w;
    assert_string_equal(imei, IMEI);
    return 0;
}

static void exited(void *ctx, struct worker *w, enum worker_exit why,
                   const char *detail)
{
    struct fx *f = ctx;

    (void)w;
    (void)detail;
    f->exited = 1;
    f->why = why;
}

static int64_t fx_now(void *ctx)
{
    return ((struct fx *)ctx)->now;
}

static const struct worker_ops wops = {identified, exited, fx_now};

/* modems: more [modems] keys; extra: more sections */
static void fx_config(struct fx *f, const char *modems, const char *extra)
{
    char text[2048];
    struct gw_config_error err;

    snprintf(text, sizeof text,
             "[gateway]\nstate_dir = %s\n"
             "[modems]\nports = /dev/pts/*\n%s"
             "[policy]\nmin_staging_free_kib = 0\n%s",
             f->dir, modems, extra);
    assert_int_equal(
        gw_config_parse(&f->cfg, "test.ini", text, strlen(text), &err), 0);
}

static struct fx *fx_new_modems(const char *modems, const char *config_extra)
{
    struct fx *f = calloc(1, sizeof *f);
    struct mb_bus_policy pol;
    char path[256];
    int slave;

    assert_non_null(f);
    f->now = 1000000;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_worker.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fx_config(f, modems, config_extra);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->app.loop = &f->loop;
    f->app.cfg = f->cfg;
    snprintf(path, sizeof path, "%s/sotagw.db", f->dir);
    assert_int_equal(db_open(&f->app.db, path, DB_OPEN_NO_CHECK), 0);
    snprintf(f->app.staging_dir, sizeof f->app.staging_dir, "%s/staging",
             f->dir);
    memset(&pol, 0, sizeof pol);
    pol.flash_per_bus = 1;
    mb_flash_config_default(&pol.flash);
    assert_int_equal(mb_bus_set_new(&f->app.buses, &f->loop, &pol), 0);
    assert_int_equal(app_commit_init(&f->app), 0);
    assert_int_equal(openpty(&f->master, &slave, f->slave, NULL, NULL), 0);
    close(slave);
    return f;
}

static struct fx *fx_new(const char *config_extra)
{
    return fx_new_modems("", config_extra);
}

static void run_until_exit(struct fx *f)
{
    int64_t end = gw_now_ms() + GUARD_MS;

    while (!f->exited && gw_now_ms() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(f->exited);
}

static void fx_stop_worker(struct fx *f)
{
    if (f->w == NULL)
        return;
    if (!f->exited)
        worker_stop(f->w);
    run_until_exit(f);
    worker_free(f->w);
    f->w = NULL;
    f->exited = 0;
    f->inlen = 0;
}

static void fx_free(struct fx *f)
{
    char cmd[128];

    fx_stop_worker(f);
    app_commit_cleanup(&f->app);
    mb_bus_set_free(f->app.buses);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    db_close(f->app.db);
    gw_config_free(f->cfg);
    close(f->master);
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

static void fx_start(struct fx *f)
{
    assert_int_equal(worker_start(&f->w, &f->app, f->slave, NULL, &wops, f), 0);
}

/* ---- the scripted module ----------------------------------------------- */

/* Time passes on the worker's clock; timers now due run at once. */
static void fx_advance(struct fx *f, int64_t ms)
{
    f->now += ms;
    worker_clock_moved(f->w);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Run the loop until the worker wrote a whole command; compare it. */
static void expect_cmd(struct fx *f, const char *want)
{
    int64_t end = gw_now_ms() + GUARD_MS;

    for (;;) {
        char *cr = memchr(f->inbuf, '\r', f->inlen);
        struct pollfd p = {.fd = f->master, .events = POLLIN};

        if (cr != NULL) {
            size_t n = (size_t)(cr - f->inbuf);

            *cr = '\0';
            if (strcmp(f->inbuf, want) != 0)
                fail_msg("worker sent \"%s\", script wants \"%s\"", f->inbuf,
                         want);
            memmove(f->inbuf, cr + 1, f->inlen - n - 1);
            f->inlen -= n + 1;
            return;
        }
        assert_false(f->exited);
        if (gw_now_ms() > end)
            fail_msg("timeout waiting for \"%s\"", want);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (poll(&p, 1, 5) == 1) {
            ssize_t r = read(f->master, f->inbuf + f->inlen,
                             sizeof f->inbuf - 1 - f->inlen);

            assert_true(r > 0);
            f->inlen += (size_t)r;
        }
    }
}

static void module_says(struct fx *f, const char *text, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(f->master, text + done, len - done);

        if (n < 0 && errno == EAGAIN) {
            uv_run(&f->loop, UV_RUN_NOWAIT);
            continue;
        }
        assert_true(n > 0);
        done += (size_t)n;
    }
    assert_int_equal(write(f->master, "\r\n", 2), 2);
}

/* Play lines of a script: "> cmd", "< text", "~ ms" (time passes); others
 * are skipped. Stops
 * before the first line starting with `stop` (NULL: runs to the end). */
static const char *play(struct fx *f, const char *script, const char *stop)
{
    const char *p = script;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char line[8192];

        assert_true(len < sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        if (stop != NULL && len > 2 &&
            strncmp(line + 2, stop, strlen(stop)) == 0)
            return p;
        if (line[0] == '>') {
            const char *cmd = line + (line[1] == '!' ? 2 : 1);

            expect_cmd(f, cmd + (*cmd == ' '));
        } else if (line[0] == '<') {
            const char *t = line + 1 + (line[1] == ' ');

            module_says(f, t, strlen(t));
        } else if (line[0] == '~') {
            fx_advance(f, strtoll(line + 1, NULL, 10));
        }
        p += len + (nl != NULL);
    }
    return p;
}

static char *load_transcript(void)
{
    FILE *fp = fopen(TRANSCRIPT, "rb");
    char *buf = malloc(256 * 1024);
    size_t n;

    assert_non_null(fp);
    assert_non_null(buf);
    n = fread(buf, 1, 256 * 1024 - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* Platform requests in a script: "< +MIPLREAD:", WRITE, EXECUTE lines. */
static int count_requests(const char *script)
{
    static const char *const req[] = {
        "< +MIPLREAD:", "< +MIPLWRITE:", "< +MIPLEXECUTE:"};
    int n = 0;

    for (const char *p = script; p != NULL && *p != '\0';) {
        for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
            n += strncmp(p, req[i], strlen(req[i])) == 0;
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return n;
}

static void settle(struct fx *f, int turns)
{
    for (int i = 0; i < turns; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

static int count_events(struct fx *f, const char *kind)
{
    struct db_event ev[64];
    size_t n = 0;
    int64_t after = 0;
    int count = 0;

    do {
        assert_int_equal(db_event_list(f->app.db, IMEI, after, ev, 64, &n), 0);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(ev[i].kind, kind) == 0)
                count++;
            after = ev[i].id;
        }
    } while (n == 64);
    return count;
}

/* Run the loop until the events table holds n events of kind. */
static void run_until_events(struct fx *f, const char *kind, int n)
{
    int64_t end = gw_now_ms() + GUARD_MS;

    while (count_events(f, kind) < n) {
        assert_false(f->exited);
        if (gw_now_ms() > end)
            fail_msg("timeout waiting for %d \"%s\" events", n, kind);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static void last_job(struct fx *f, struct db_job *out)
{
    struct db_job jobs[8];
    size_t n = 0;

    assert_int_equal(db_job_list(f->app.db, IMEI, 0, jobs, 8, &n), 0);
    assert_true(n > 0);
    *out = jobs[n - 1];
}

/* ---- tests ------------------------------------------------------------- */

/* A worker brought up and registered, the download prepared (erase ok). */
static void fx_start_registered(struct fx *f)
{
    fx_start(f);
    play(f, bringup, NULL);
    play(f, registration, NULL);
}

static const char target[] = "[target imei:" IMEI "]\n"
                             "uri = modbus-tcp://127.0.0.1:1502?unit=1\n";

static void seed_upgrade_end_to_end(void **state)
{
    struct fx *f = fx_new(target);
    char *tr = load_transcript();
    struct db_job job;
    struct db_device dev;

    (void)state;
    fx_start(f);
    play(f, bringup, NULL);
    play(f, tr, NULL);
    settle(f, 5);
    last_job(f, &job);
    assert_int_equal(job.phase, DB_JOB_DONE);
    assert_int_equal(job.oma_result, 1);
    assert_int_equal(job.image_size, 13658);
    assert_string_equal(job.md5, "1c3ec901b8e29f489738da8a777387ba");
    assert_string_equal(job.version, "test000");
    assert_int_equal(fake_bus_dev(f->app.buses)->flashes, 1);
    assert_string_equal(fake_bus_dev(f->app.buses)->id.sw_version, "test000");
    assert_int_equal(count_events(f, "job.done"), 1);
    /* every platform request's answer was timed once, matched by msgid */
    assert_int_equal(f->app.stats.answer_count, count_requests(tr));
    assert_int_equal(db_device_get(f->app.db, IMEI, &dev), 0);
    assert_string_equal(dev.sw_version, "test000");
    assert_string_equal(dev.imsi, "460040123456789");
    assert_int_equal(dev.rssi, 21);
    /* chunk records are grouped: one commit and one staging fsync per
     * chunk at most here (one modem answering one chunk at a time) */
    print_message("seed: %llu commits, %llu staging fsyncs, %d sota.state "
                  "events\n",
                  (unsigned long long)f->app.commits,
                  (unsigned long long)f->app.commit_fsyncs,
                  count_events(f, "sota.state"));
    /* idle -> downloading -> checking -> downloaded -> flashing -> done,
     * each one an audit record of its own kind */
    assert_true(count_events(f, "sota.state") >= 5);
    assert_true(f->app.commits > 0);
    assert_true(f->app.commit_fsyncs <= 14 + 2);
    fx_stop_worker(f);
    assert_int_equal(f->why, 0);
    assert_int_equal(db_device_get(f->app.db, IMEI, &dev), 0);
    assert_int_equal(dev.state, DB_DEVICE_ABSENT);
    free(tr);
    fx_free(f);
}

/* docs/M531X-REFERENCE.md 3.4: the restarted gateway's AT+MIPLCREATE gets 602,
 * the instance is deleted and registered again, and the platform's new attempt
 * reads 5/0/-1: state 1 (downloading), result 0, then the byte count. */
#define RESUME_READ                                                            \
    "> AT+MIPLCREATE\n< +CIS ERROR:602\n"                                      \
    "> AT+MIPLDELETE=0\n< OK\n"                                                \
    "> AT+MIPLCREATE\n< OK\n"                                                  \
    "> AT+MIPLSOTAVER=\"test0\"\n< OK\n"                                       \
    "> AT+MIPLOPEN=0,600,60\n< OK\n< +MIPLEVENT:0,6\n"                         \
    "< +MIPLEXECUTE:0,60001,5,0,26550,0,\"\"\n"                                \
    "> AT+MIPLEXECUTERSP=0,60001,2\n< OK\n"                                    \
    "< +MIPLREAD:0,60002,5,0,-1\n"                                             \
    "> AT+MIPLREADRSP=0,60002,1,5,0,3,3,1,\"1\",2,1\n< OK\n"                   \
    "> AT+MIPLREADRSP=0,60002,1,5,0,5,3,1,\"0\",1,2\n< OK\n"

/* Killed after 7 chunks: the next worker verifies the staged prefix and
 * answers 5/0/-1 with state 1 and 7168 bytes (reference 3.4). */
static void restart_mid_download_resumes(void **state)
{
    struct fx *f = fx_new(target);
    char *tr = load_transcript();
    const char *rest;
    struct db_job job;

    (void)state;
    fx_start(f);
    play(f, bringup, NULL);
    rest = play(f, tr, "+MIPLWRITE:0,27503,");
    settle(f, 5);
    fx_stop_worker(f);
    last_job(f, &job);
    assert_int_equal(job.phase, DB_JOB_DOWNLOAD);
    assert_int_equal(job.bytes_durable, 7168);

    fx_start(f);
    play(f, bringup, NULL);
    play(f,
         RESUME_READ
         "> AT+MIPLREADRSP=0,60002,1,5,0,26500,3,4,\"7168\",0,0\n< OK\n"
         "< +MIPLEXECUTE:0,60003,5,0,26501,0,\"\"\n"
         "> AT+MIPLSOTA=3\n< OK\n",
         NULL);
    play(f, rest, NULL);
    settle(f, 5);
    last_job(f, &job);
    assert_int_equal(job.phase, DB_JOB_DONE);
    assert_string_equal(job.md5, "1c3ec901b8e29f489738da8a777387ba");
    assert_int_equal(count_events(f, "job.resumed"), 1);
    free(tr);
    fx_free(f);
}

/* The same, with the last staged chunk damaged on disk while the gateway
 * was down: only 6 chunks are reported. */
static void restart_cuts_damaged_chunk(void **state)
{
    struct fx *f = fx_new(target);
    char *tr = load_transcript();
    char path[512];
    struct db_job job;
    int fd;

    (void)state;
    fx_start(f);
    play(f, bringup, NULL);
    play(f, tr, "+MIPLWRITE:0,27503,");
    settle(f, 5);
    fx_stop_worker(f);
    last_job(f, &job);
    snprintf(path, sizeof path, "%s/%s", f->dir, job.staging_file);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\xff\xfe", 2, 7000), 2);
    close(fd);

    fx_start(f);
    play(f, bringup, NULL);
    play(f,
         RESUME_READ
         "> AT+MIPLREADRSP=0,60002,1,5,0,26500,3,4,\"6144\",0,0\n< OK\n",
         NULL);
    free(tr);
    fx_free(f);
}

/* A chunk whose payload does not decode is refused with write-fail; the
 * platform's resend (new msgid) is stored. */
static void bad_chunk_then_resend(void **state)
{
    struct fx *f = fx_new(target);
    struct db_job job;

    (void)state;
    fx_start_registered(f);
    play(f,
         "< +MIPLWRITE:0,3,5,0,0,2,4,0102X304,1\n"
         "> AT+MIPLSOTA=2\n< OK\n"
         "< +MIPLWRITE:0,4,5,0,0,2,4,01020304,1\n"
         "> AT+MIPLSOTA=1\n< OK\n",
         NULL);
    settle(f, 5);
    last_job(f, &job);
    assert_int_equal(job.bytes_durable, 4);
    assert_int_equal(job.last_msgid, 4);
    fx_free(f);
}

/* The staging reserve cannot be kept: the chunk is answered write-fail and
 * nothing is recorded. */
static void disk_full_is_write_fail(void **state)
{
    struct fx *f = fx_new(target);
    char extra[512];

    (void)state;
    gw_config_free(f->cfg);
    snprintf(extra, sizeof extra, "%s", target);
    /* replace the config: a reserve no disk has */
    {
        char text[1024];
        struct gw_config_error err;

        snprintf(text, sizeof text,
                 "[gateway]\nstate_dir = %s\n[modems]\nports = /dev/pts/*\n"
                 "[policy]\nmin_staging_free_kib = 4294967296\n%s",
                 f->dir, extra);
        assert_int_equal(
            gw_config_parse(&f->cfg, "t.ini", text, strlen(text), &err), 0);
        f->app.cfg = f->cfg;
    }
    fx_start_registered(f);
    play(f,
         "< +MIPLWRITE:0,3,5,0,0,2,4,01020304,1\n"
         "> AT+MIPLSOTA=2\n< OK\n",
         NULL);
    fx_free(f);
}

/* No field device configured: the upgrade ends with result 8 and a reason
 * that says so, never as a success. */
static void no_target_fails_clearly(void **state)
{
    struct fx *f = fx_new("");
    struct db_device d;
    struct db_job job;

    (void)state;
    memset(&d, 0, sizeof d);
    memcpy(d.imei, IMEI, sizeof d.imei);
    d.state = DB_DEVICE_ABSENT;
    snprintf(d.sw_version, sizeof d.sw_version, "test0");
    d.rssi = 99;
    d.reg_status = -1;
    d.battery = -1;
    d.free_kib = -1;
    assert_int_equal(db_device_upsert(f->app.db, &d), 0);
    fx_start_registered(f);
    play(f,
         "< +MIPLWRITE:0,3,5,0,0,2,4,01020304,1\n"
         "> AT+MIPLSOTA=1\n< OK\n"
         "< +MIPLWRITE:0,4,5,0,0,2,2,0506,0\n"
         "> AT+MIPLSOTA=1\n< OK\n"
         "< +MIPLEXECUTE:0,5,5,0,2,0,\"\"\n"
         "> AT+MIPLEXECUTERSP=0,5,2\n< OK\n"
         "> AT+MIPLUPDATE=0,0,0\n< OK\n< +MIPLEVENT:0,11\n"
         "< +MIPLWRITE:0,6,5,0,0,2,0,,0\n"
         "> AT+MIPLWRITERSP=0,6,2\n< OK\n",
         NULL);
    settle(f, 5);
    last_job(f, &job);
    assert_int_equal(job.phase, DB_JOB_FAILED);
    assert_int_equal(job.oma_result, 8);
    assert_non_null(strstr(job.reason, "no target"));
    fx_free(f);
}

/* ---- staging and the group commit, without a modem --------------------- */

static int64_t make_job_for(struct fx *f, const char *imei)
{
    struct db_device d;
    struct db_job j;

    memset(&d, 0, sizeof d);
    memcpy(d.imei, imei, sizeof d.imei);
    d.rssi = 99;
    d.reg_status = -1;
    d.battery = -1;
    d.free_kib = -1;
    assert_int_equal(db_device_upsert(f->app.db, &d), 0);
    memset(&j, 0, sizeof j);
    memcpy(j.imei, imei, sizeof j.imei);
    snprintf(j.version, sizeof j.version, "unknown");
    j.image_size = -1;
    j.attempt = 1;
    assert_int_equal(db_job_create(f->app.db, &j), 0);
    return j.id;
}

static int64_t make_job(struct fx *f)
{
    return make_job_for(f, IMEI);
}

struct waiter_rec {
    struct app_commit_waiter w;
    int calls, rc;
};

static void on_commit(struct app_commit_waiter *w, int rc)
{
    struct waiter_rec *r = (struct waiter_rec *)w;

    r->calls++;
    r->rc = rc;
}

static void group_commit_one_per_turn(void **state)
{
    struct fx *f = fx_new("");
    struct staging *a, *b;
    struct staging_recovered rec;
    struct waiter_rec wa = {0}, wb = {0};
    uint8_t chunk[1024];
    uint64_t commits, fsyncs;
    int64_t job = make_job(f), job_b = make_job_for(f, "490154203237518");
    struct db_chunk c[8];
    size_t n;

    (void)state;
    memset(chunk, 0x5a, sizeof chunk);
    /* two modems' jobs, two staging files */
    assert_int_equal(staging_open(&a, &f->app, job, "a.img", 0), 0);
    assert_int_equal(staging_open(&b, &f->app, job_b, "b.img", 0), 0);
    assert_int_equal(staging_recover(a, &rec), 0);
    settle(f, 1);
    commits = f->app.commits;
    fsyncs = f->app.commit_fsyncs;
    assert_int_equal(staging_write(a, 0, chunk, sizeof chunk, 10), 0);
    assert_int_equal(staging_write(a, 1024, chunk, 100, 11), 0);
    app_commit_after(&f->app, &wa.w, on_commit);
    app_commit_after(&f->app, &wb.w, on_commit);
    app_commit_after(&f->app, &wb.w, on_commit); /* not queued twice */
    assert_int_equal(staging_write(b, 0, chunk, 10, 12), 0);
    /* nothing is acknowledged inside the turn that wrote it */
    assert_int_equal(wa.calls, 0);
    assert_int_equal(wb.calls, 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(wa.calls, 1);
    assert_int_equal(wb.calls, 1);
    assert_int_equal(wa.rc, 0);
    assert_int_equal(f->app.commits, commits + 1);
    /* three chunks in two files: one commit, one sync per file */
    assert_int_equal(f->app.commit_fsyncs, fsyncs + 2);
    assert_int_equal(db_chunk_list(f->app.db, job, 0, c, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(c[1].offset, 1024);
    assert_int_equal(c[1].crc32, (uint32_t)crc32(0, chunk, 100));
    assert_int_equal(db_chunk_list(f->app.db, job_b, 0, c, 8, &n), 0);
    assert_int_equal(n, 1);
    staging_free(a);
    staging_free(b);
    fx_free(f);
}

static void staging_recovery_cuts(void **state)
{
    struct fx *f = fx_new("");
    struct staging *st;
    struct staging_recovered rec;
    uint8_t chunk[512];
    int64_t job = make_job(f);
    char path[256];
    int fd;

    (void)state;
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)i;
    assert_int_equal(staging_open(&st, &f->app, job, "r.img", 0), 0);
    assert_int_equal(staging_recover(st, &rec), 0);
    assert_int_equal(rec.file_missing, 1);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(staging_write(st, i * 512, chunk, 512, (int32_t)i), 0);
    assert_int_equal(app_commit_flush(&f->app), 0);
    snprintf(path, sizeof path, "%s", staging_path(st));
    staging_free(st);

    /* the last chunk damaged */
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 1500), 1);
    close(fd);
    assert_int_equal(staging_open(&st, &f->app, job, "r.img", 0), 0);
    assert_int_equal(staging_recover(st, &rec), 0);
    assert_int_equal(rec.bytes, 1024);
    assert_int_equal(rec.last_msgid, 1);
    assert_int_equal(rec.dropped, 1);
    assert_int_equal(app_commit_flush(&f->app), 0);
    staging_free(st);

    /* the file cut inside the second chunk */
    assert_int_equal(truncate(path, 700), 0);
    assert_int_equal(staging_open(&st, &f->app, job, "r.img", 0), 0);
    assert_int_equal(staging_recover(st, &rec), 0);
    assert_int_equal(rec.bytes, 512);
    assert_int_equal(rec.last_msgid, 0);
    /* a chunk stored again over a cut one leaves no junk behind it */
    assert_int_equal(staging_write(st, 512, chunk, 100, 7), 0);
    assert_int_equal(staging_bytes(st), 612);
    assert_int_equal(app_commit_flush(&f->app), 0);
    staging_free(st);

    /* the file gone */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(staging_open(&st, &f->app, job, "r.img", 0), 0);
    assert_int_equal(staging_recover(st, &rec), 0);
    assert_int_equal(rec.bytes, 0);
    assert_int_equal(rec.last_msgid, -1);
    assert_int_equal(rec.file_missing, 1);
    assert_int_equal(staging_write(st, 100, chunk, 10, 1), GW_E_RANGE);
    app_commit_flush(&f->app);
    staging_free(st);
    assert_int_equal(staging_open(&st, &f->app, job, "../x", 0), GW_E_INVAL);
    assert_null(st);
    fx_free(f);
}

/* A reboot banner while running: once the module is quiet, echo off and
 * the sleep lock again (both are lost in a reboot), then the machine
 * registers again after its backoff, reporting the same version. */
static void reboot_banner_brings_up_again(void **state)
{
    struct fx *f = fx_new(target);

    (void)state;
    fx_start_registered(f);
    play(f, "< REBOOTING..\n< *ATREADY: 1\n< +CFUN: 1\n", NULL);
    run_until_events(f, "modem.reboot", 3);
    /* quiet for BOOT_SETTLE_MS (1.5 s), then the registration backoff
     * (retry_min_ms, 5 s from the reset) */
    play(f,
         "~ 1500\n"
         "> ATE0\n< OK\n> AT+SM=LOCK\n< OK\n"
         "~ 3500\n"
         "> AT+MIPLCREATE\n< OK\n"
         "> AT+MIPLSOTAVER=\"test0\"\n< OK\n"
         "> AT+MIPLOPEN=0,600,60\n< OK\n",
         NULL);
    assert_int_equal(count_events(f, "modem.reboot"), 3);
    fx_free(f);
}

/* Registration that keeps failing escalates (delete and create, the
 * configured reboot, then "failed: registration"), and the device row says
 * so with the reason until a registration works again. */
static void registration_failure_is_visible(void **state)
{
    struct fx *f = fx_new_modems("reg_retries = 0\nreboot_command = AT+NRB\n"
                                 "reg_fail_backoff = 60\nreadings = 3600\n",
                                 target);
    struct db_device dev;
    static const char attempt[] = "> AT+MIPLCREATE\n< OK\n"
                                  "> AT+MIPLSOTAVER=\"test0\"\n< OK\n"
                                  "> AT+MIPLOPEN=0,600,60\n< OK\n";

    (void)state;
    fx_start(f);
    play(f, bringup, NULL);
    play(f, attempt, NULL);
    play(f, "< +MIPLEVENT:0,7\n", NULL);
    run_until_events(f, "sota.register", 1); /* registering again in 5 s */
    play(f, "~ 5000\n> AT+MIPLDELETE=0\n< OK\n", NULL);
    play(f, attempt, NULL);
    play(f,
         "< +MIPLEVENT:0,8\n> AT+NRB\n< OK\n< REBOOTING..\n"
         "< *ATREADY: 1\n",
         NULL);
    run_until_events(f, "modem.reboot", 2);
    run_until_events(f, "sota.register", 3); /* rebooted; registering */
    play(f, "~ 1500\n> ATE0\n< OK\n> AT+SM=LOCK\n< OK\n~ 3500\n", NULL);
    play(f, attempt, NULL);
    play(f, "< +MIPLEVENT:0,7\n", NULL);
    run_until_events(f, "sota.reg-failed", 1);
    settle(f, 10);
    assert_int_equal(db_device_get(f->app.db, IMEI, &dev), 0);
    assert_int_equal(dev.state, DB_DEVICE_FAULT);
    assert_non_null(strstr(dev.fault, "registration: +MIPLEVENT 7"));
    /* after reg_fail_backoff, from the top; a registration that works
     * ends the fault */
    play(f, "~ 60000\n", NULL);
    play(f, attempt, NULL);
    play(f, "< +MIPLEVENT:0,6\n", NULL);
    run_until_events(f, "sota.register", 5);
    settle(f, 10);
    assert_int_equal(db_device_get(f->app.db, IMEI, &dev), 0);
    assert_int_equal(dev.state, DB_DEVICE_IDLE);
    assert_string_equal(dev.fault, "");
    fx_free(f);
}

/* Signal and network registration are read again every `readings`
 * seconds, and carry the time they were read. */
static void readings_refresh(void **state)
{
    struct fx *f = fx_new_modems("readings = 10\n", target);
    struct worker_info wi;
    int64_t first;

    (void)state;
    fx_start_registered(f);
    worker_info(f->w, &wi);
    assert_int_equal(wi.rssi, 21);
    first = wi.readings_ms;
    assert_true(first > 0);
    /* the erase's OK taken before time moves (else its timer fires) */
    for (int64_t end = gw_now_ms() + GUARD_MS;
         worker_info(f->w, &wi), wi.sota.cmd_in_flight;) {
        assert_true(gw_now_ms() < end);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    play(f,
         "~ 10000\n> AT+CSQ\n< +CSQ: 9,99\n< OK\n"
         "> AT+CEREG?\n< +CEREG: 0,5\n< OK\n",
         NULL);
    for (int64_t end = gw_now_ms() + GUARD_MS;
         worker_info(f->w, &wi), wi.reg_status != 5;) {
        if (gw_now_ms() > end)
            fail_msg("readings: rssi %d, reg_status %d", wi.rssi,
                     wi.reg_status);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(wi.rssi, 9);
    assert_int_equal(wi.reg_status, 5);
    assert_true(wi.readings_ms >= first);
    fx_free(f);
}

/* ---- policies ---------------------------------------------------------- */

static const char reg_until_prepare[] = "> AT+MIPLCREATE\n< OK\n"
                                        "> AT+MIPLSOTAVER=\"test0\"\n< OK\n"
                                        "> AT+MIPLOPEN=0,600,60\n< OK\n"
                                        "< +MIPLEVENT:0,6\n"
                                        "< +MIPLEXECUTE:0,1,5,0,26550,0,\"\"\n"
                                        "> AT+MIPLEXECUTERSP=0,1,2\n< OK\n"
                                        "< +MIPLEXECUTE:0,2,5,0,26501,0,\"\"\n";

static void add_failed_job(struct fx *f, const char *imei)
{
    struct db_job j;

    memset(&j, 0, sizeof j);
    memcpy(j.imei, imei, sizeof j.imei);
    snprintf(j.version, sizeof j.version, "unknown");
    j.image_size = -1;
    j.attempt = 1;
    assert_int_equal(db_job_create(f->app.db, &j), 0);
    j.phase = DB_JOB_FAILED;
    snprintf(j.reason, sizeof j.reason, "test");
    assert_int_equal(db_job_update(f->app.db, &j), 0);
}

static void add_device(struct fx *f, const char *imei, const char *hub,
                       enum db_device_state st)
{
    struct db_device d;

    memset(&d, 0, sizeof d);
    memcpy(d.imei, imei, sizeof d.imei);
    d.state = st;
    snprintf(d.usb_hub, sizeof d.usb_hub, "%s", hub);
    d.rssi = 99;
    d.reg_status = -1;
    d.battery = -1;
    d.free_kib = -1;
    assert_int_equal(db_device_upsert(f->app.db, &d), 0);
}

/* Run the loop until the device's last job is in phase want. */
static void run_until_job(struct fx *f, enum db_job_phase want)
{
    int64_t end = gw_now_ms() + GUARD_MS;
    struct db_job job;

    for (last_job(f, &job); job.phase != want; last_job(f, &job)) {
        assert_false(f->exited);
        if (gw_now_ms() > end)
            fail_msg("timeout waiting for job phase %s, it is %s",
                     db_job_phase_name(want), db_job_phase_name(job.phase));
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

/* job_stall_timeout 60 s: a download without progress for that long ends
 * failed ("stalled"), checked at the device refresh (every 60 s), and the
 * machine registers again from idle. One second short of it, nothing. */
static void stalled_job_ends_failed(void **state)
{
    char extra[256];
    struct fx *f;
    struct db_job job;

    (void)state;
    snprintf(extra, sizeof extra, "job_stall_timeout = 60\n%s", target);
    f = fx_new(extra);
    fx_start_registered(f);
    play(f,
         "< +MIPLWRITE:0,3,5,0,0,2,4,01020304,1\n"
         "> AT+MIPLSOTA=1\n< OK\n",
         NULL);
    settle(f, 5);
    fx_advance(f, 59 * 1000);
    settle(f, 5);
    last_job(f, &job);
    assert_int_equal(job.phase, DB_JOB_DOWNLOAD);
    assert_int_equal(job.bytes_durable, 4);
    fx_advance(f, 1000);
    run_until_job(f, DB_JOB_FAILED);
    last_job(f, &job);
    assert_int_equal(job.oma_result, 8);
    assert_non_null(strstr(job.reason, "stalled"));
    play(f, "> AT+MIPLCREATE\n< OK\n", NULL);
    fx_free(f);
}

/* retry_budget 1: two failed jobs since the last success refuse a new
 * download with erase-fail (4) and an audit event. */
static void retry_budget_refuses_download(void **state)
{
    char extra[256];
    struct fx *f;

    (void)state;
    snprintf(extra, sizeof extra, "retry_budget = 1\n%s", target);
    f = fx_new(extra);
    add_device(f, IMEI, "", DB_DEVICE_ABSENT);
    add_failed_job(f, IMEI);
    add_failed_job(f, IMEI);
    fx_start(f);
    play(f, bringup, NULL);
    play(f, reg_until_prepare, NULL);
    play(f, "> AT+MIPLSOTA=4\n< OK\n", NULL);
    settle(f, 3);
    assert_int_equal(count_events(f, "sota.refused"), 1);
    fx_free(f);
}

/* downloads_per_hub 1: another modem on the hub is upgrading. */
static void hub_budget_refuses_download(void **state)
{
    char extra[256];
    struct usb_location loc = {.hub = "1-1.2", .port = 3};
    struct fx *f;

    (void)state;
    snprintf(extra, sizeof extra, "downloads_per_hub = 1\n%s", target);
    f = fx_new(extra);
    add_device(f, "490154203237518", "1-1.2", DB_DEVICE_UPGRADING);
    assert_int_equal(worker_start(&f->w, &f->app, f->slave, &loc, &wops, f), 0);
    play(f, bringup, NULL);
    play(f, reg_until_prepare, NULL);
    play(f, "> AT+MIPLSOTA=4\n< OK\n", NULL);
    /* the other modem is done: the platform's next try is accepted */
    add_device(f, "490154203237518", "1-1.2", DB_DEVICE_IDLE);
    play(f,
         "< +MIPLEXECUTE:0,3,5,0,26501,0,\"\"\n"
         "> AT+MIPLSOTA=3\n< OK\n",
         NULL);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(group_commit_one_per_turn),
        cmocka_unit_test(staging_recovery_cuts),
        cmocka_unit_test(seed_upgrade_end_to_end),
        cmocka_unit_test(restart_mid_download_resumes),
        cmocka_unit_test(restart_cuts_damaged_chunk),
        cmocka_unit_test(bad_chunk_then_resend),
        cmocka_unit_test(disk_full_is_write_fail),
        cmocka_unit_test(no_target_fails_clearly),
        cmocka_unit_test(reboot_banner_brings_up_again),
        cmocka_unit_test(registration_failure_is_visible),
        cmocka_unit_test(readings_refresh),
        cmocka_unit_test(stalled_job_ends_failed),
        cmocka_unit_test(retry_budget_refuses_download),
        cmocka_unit_test(hub_budget_refuses_download),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
