/* web_fixture: the web server on a database filled through the db
 * repositories, with an optional fake backend, for the API tests and for
 * looking at the dashboard without the daemon.
 *
 *   web-fixture --db FILE --token-file FILE [--devices N] [--backend]
 *               [--open-reads] [--tick-ms MS] [--body-max BYTES]
 *               [--port P] [--conn-per-ip N] [--tls-cert PEM --tls-key PEM]
 *               [--host H]
 *
 * Creates and fills the database when it does not exist yet. Prints
 * "PORT <n>" on stdout once serving, then runs until SIGINT/SIGTERM or
 * until stdin closes (so a test that dies takes the fixture with it).
 * --tick-ms advances the downloading jobs by one chunk per tick, as a
 * running fleet would. The fake backend answers live records from the
 * rows, pauses and resumes (refusing what a real daemon refuses), and
 * fails actions on the IMEI ending in 0 with -ETIMEDOUT. */
#define GW_LOG_TAG "fixture"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_devices.h"
#include "db/db_events.h"
#include "db/db_jobs.h"
#include "db/db_packages.h"
#include "gw/err.h"
#include "gw/log.h"
#include "web/server.h"
#include "web/shape.h"

#define DEV_MAX 1024
#define CHUNK   512

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* IMEI number i: "86" + 12 digits of i + the Luhn check digit. */
static void make_imei(unsigned i, char out[16])
{
    int sum = 0;

    snprintf(out, 16, "86%012u", 100000 + i * 7);
    for (int k = 13; k >= 0; k--) {
        int d = out[k] - '0';

        if ((13 - k) % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    out[14] = (char)('0' + (10 - sum % 10) % 10);
    out[15] = '\0';
}

struct fake {
    pthread_mutex_t lock;
    struct db *db; /* its own read-only connection */
    unsigned n;
    char imei[DEV_MAX][16];
    int paused[DEV_MAX];
};

static int fake_find(struct fake *f, const char *imei)
{
    for (unsigned i = 0; i < f->n; i++)
        if (strcmp(f->imei[i], imei) == 0)
            return (int)i;
    return -1;
}

static void fake_fill(struct fake *f, unsigned i, struct web_live *out)
{
    struct db_job j;

    memset(out, 0, sizeof *out);
    memcpy(out->imei, f->imei[i], 16);
    out->connected = i % 7 != 6;
    out->paused = f->paused[i];
    out->rssi = 10 + (int)(i % 20);
    out->reg_status = 1;
    out->target_reachable = i % 5 != 4;
    snprintf(out->target_uri, sizeof out->target_uri,
             "modbus-tcp://127.0.0.1:15%03u?unit=1", i);
    if (db_job_active(f->db, f->imei[i], &j) == 0) {
        snprintf(out->phase, sizeof out->phase, "%s", web_phase_name(j.phase));
        out->bytes = (uint32_t)j.bytes_durable;
        out->image_size = j.image_size > 0 ? (uint32_t)j.image_size : 0;
        out->flash_acked = (uint32_t)j.flash_acked;
    }
}

static int fake_live_list(void *ctx, struct web_live *out, size_t cap,
                          size_t *n)
{
    struct fake *f = ctx;

    pthread_mutex_lock(&f->lock);
    *n = 0;
    for (unsigned i = 0; i < f->n && *n < cap; i++)
        fake_fill(f, i, &out[(*n)++]);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fake_live_get(void *ctx, const char *imei, struct web_live *out)
{
    struct fake *f = ctx;
    int i, rc = GW_E_NOTFOUND;

    pthread_mutex_lock(&f->lock);
    if ((i = fake_find(f, imei)) >= 0) {
        fake_fill(f, (unsigned)i, out);
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_action(void *ctx, const char *imei, enum web_action act,
                       const char *actor, char *why, size_t cap)
{
    struct fake *f = ctx;
    int i, rc = 0;

    (void)actor;
    pthread_mutex_lock(&f->lock);
    i = fake_find(f, imei);
    if (i < 0) {
        rc = GW_E_NOTFOUND;
        goto done;
    }
    if (imei[14] == '0') {
        rc = -ETIMEDOUT;
        goto done;
    }
    switch (act) {
    case WEB_ACTION_PAUSE:
        if (f->paused[i]) {
            snprintf(why, cap, "already paused");
            rc = GW_E_STATE;
        }
        f->paused[i] = 1;
        break;
    case WEB_ACTION_RESUME:
        if (!f->paused[i]) {
            snprintf(why, cap, "not paused");
            rc = GW_E_STATE;
        }
        f->paused[i] = 0;
        break;
    case WEB_ACTION_CANCEL:
    case WEB_ACTION_RETRY: break;
    }
done:
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static void fake_target_changed(void *ctx, const char *imei)
{
    (void)ctx;
    (void)imei;
}

static int fake_metrics(void *ctx, struct web_metrics *m)
{
    static const double bounds[WEB_HIST_BUCKETS] = {
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

    (void)ctx;
    memset(m, 0, sizeof *m);
    m->chunks_stored = 1234;
    m->bytes_stored = 1234 * CHUNK;
    m->chunks_resent = 5;
    m->resumes = 2;
    m->failures_by_result[5] = 1;
    for (unsigned b = 0; b < WEB_HIST_BUCKETS; b++) {
        m->answer_bounds_s[b] = bounds[b];
        m->answer_buckets[b] = 100 + b;
    }
    m->answer_count = 111;
    m->answer_sum_s = 4.5;
    m->ports_open = 7;
    return 0;
}

static const struct web_backend_ops fake_ops = {
    fake_live_list, fake_live_get, fake_action, fake_target_changed,
    fake_metrics};

static int must(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "web-fixture: %s: %s\n", what, gw_strerror(rc));
        exit(1);
    }
    return rc;
}

/* Device i gets: hub 1-1.(i/16 + 1), port i%16 + 1, and a job whose phase
 * cycles through download, flash, done, failed, check, none. */
static void fill(struct db *db, unsigned n)
{
    int64_t now = wall_ms();
    struct db_package p = {0};

    snprintf(p.version, sizeof p.version, "V2.0.0");
    snprintf(p.md5, sizeof p.md5, "%s", "0123456789abcdef0123456789abcdef");
    p.size = 65536;
    snprintf(p.notes, sizeof p.notes, "fixture image");
    p.created_ms = now;
    must(db_package_add(db, &p), "package");

    for (unsigned i = 0; i < n; i++) {
        struct db_device d = {0};
        struct db_job j = {0};
        int kind = (int)(i % 6);

        make_imei(i, d.imei);
        d.state = i % 7 == 6
                      ? DB_DEVICE_ABSENT
                      : (kind == 5 ? DB_DEVICE_IDLE : DB_DEVICE_UPGRADING);
        snprintf(d.port, sizeof d.port, "/dev/ttyM%03u", i);
        snprintf(d.usb_hub, sizeof d.usb_hub, "1-1.%u", i / 16 + 1);
        d.usb_port = (int)(i % 16) + 1;
        snprintf(d.iccid, sizeof d.iccid, "8986040000%010u", i);
        snprintf(d.imsi, sizeof d.imsi, "46004%010u", i);
        d.rssi = 99;
        d.reg_status = -1;
        snprintf(d.sw_version, sizeof d.sw_version, "V1.0.%u", i % 3);
        d.battery = 40 + (int)(i % 60);
        d.free_kib = 2048;
        d.last_seen_ms = now;
        must(db_device_upsert(db, &d), "device");
        must(db_event_append(db, now, d.imei, 0, "device.seen", "daemon",
                             "{\"port\":\"fixture\"}", NULL),
             "event");
        if (kind == 5)
            continue;
        memcpy(j.imei, d.imei, sizeof j.imei);
        j.package_id = p.id;
        snprintf(j.version, sizeof j.version, "V2.0.0");
        j.image_size = p.size;
        memcpy(j.md5, p.md5, sizeof j.md5);
        snprintf(j.staging_file, sizeof j.staging_file, "%s.img", d.imei);
        j.attempt = 1;
        j.created_ms = now - 60000;
        must(db_job_create(db, &j), "job");
        j.started_ms = now - 60000;
        j.progress_ms = now - 1000;
        j.bytes_durable = (int64_t)(i % 8) * 4096;
        j.phase = kind == 0   ? DB_JOB_DOWNLOAD
                  : kind == 1 ? DB_JOB_FLASH
                  : kind == 2 ? DB_JOB_DONE
                  : kind == 3 ? DB_JOB_FAILED
                              : DB_JOB_CHECK;
        if (kind == 1 || kind == 2 || kind == 4)
            j.bytes_durable = p.size;
        if (kind == 1)
            j.flash_acked = 8192;
        if (kind == 2 || kind == 3) {
            j.ended_ms = now - 500;
            j.oma_result = kind == 2 ? 1 : 5;
            snprintf(j.reason, sizeof j.reason, "%s",
                     kind == 2 ? "" : "CRC check failure");
        }
        if (kind == 4)
            j.progress_ms = now - 3600 * 1000; /* overdue */
        must(db_job_update(db, &j), "job update");
        must(db_event_append(db, now, d.imei, j.id, "job.created", "daemon",
                             NULL, NULL),
             "event");
    }
}

/* One tick: every downloading job gets a chunk more, wrapping at the
 * image size so the fleet keeps moving. */
static void tick(struct db *db)
{
    struct db_job jobs[64];
    int64_t after = 0;
    size_t n;

    do {
        if (db_job_list(db, NULL, after, jobs, 64, &n) < 0)
            return;
        for (size_t i = 0; i < n; i++) {
            struct db_job *j = &jobs[i];
            int64_t b = j->bytes_durable + CHUNK;

            after = j->id;
            if (j->phase != DB_JOB_DOWNLOAD)
                continue;
            if (b > j->image_size)
                b = CHUNK;
            (void)db_job_progress(db, j->id, b, j->last_msgid + 1, wall_ms());
        }
    } while (n == 64);
}

int main(int argc, char **argv)
{
    const char *db_path = NULL, *token_file = NULL, *cert = NULL;
    const char *key = NULL, *host = "127.0.0.1";
    unsigned devices = 8, tick_ms = 0, body_max = 0, port = 0, per_ip = 0;
    int backend = 0, open_reads = 0, created, rc;
    struct web_server_opts o = {0};
    struct web_server *srv = NULL;
    struct fake *f = NULL;
    struct db *db = NULL;
    char token[WEB_TOKEN_MAX + 1];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--backend") == 0) {
            backend = 1;
            continue;
        }
        if (strcmp(a, "--open-reads") == 0) {
            open_reads = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "web-fixture: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--db") == 0)
            db_path = v;
        else if (strcmp(a, "--token-file") == 0)
            token_file = v;
        else if (strcmp(a, "--devices") == 0)
            devices = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--tick-ms") == 0)
            tick_ms = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--body-max") == 0)
            body_max = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--port") == 0)
            port = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--conn-per-ip") == 0)
            per_ip = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--tls-cert") == 0)
            cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            key = v;
        else if (strcmp(a, "--host") == 0)
            host = v;
        else {
            fprintf(stderr, "web-fixture: unknown option %s\n", a);
            return 2;
        }
    }
    if (!db_path || !token_file || devices > DEV_MAX || port > 65535) {
        fprintf(stderr,
                "usage: web-fixture --db FILE --token-file FILE "
                "[--devices N<=%d] [--backend] [--open-reads] "
                "[--tick-ms MS] [--body-max B] [--port P] [--conn-per-ip N] "
                "[--tls-cert PEM --tls-key PEM] [--host H]\n",
                DEV_MAX);
        return 2;
    }
    gw_log_set_sink(gw_log_sink_stderr, NULL, GW_LOG_INFO);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (access(db_path, F_OK) != 0) {
        must(db_open(&db, db_path, DB_OPEN_READWRITE), "create db");
        fill(db, devices);
    } else {
        must(db_open(&db, db_path, DB_OPEN_READWRITE), "open db");
    }
    must(web_token_load(token_file, token, sizeof token, &created), "token");

    if (backend) {
        f = calloc(1, sizeof *f);
        if (!f)
            return 1;
        pthread_mutex_init(&f->lock, NULL);
        must(db_open(&f->db, db_path, DB_OPEN_READONLY | DB_OPEN_NO_CHECK),
             "fake backend db");
        f->n = devices;
        for (unsigned i = 0; i < devices; i++)
            make_imei(i, f->imei[i]);
        o.ops = &fake_ops;
        o.ops_ctx = f;
    }
    o.host = host;
    o.port = (uint16_t)port;
    o.token = token;
    o.read_requires_token = !open_reads;
    o.db_path = db_path;
    o.limits.body_max = body_max;
    o.limits.conn_per_ip = per_ip;
    o.tls_cert = cert;
    o.tls_key = key;
    o.limits.overdue_s = 600;
    rc = web_server_start(&srv, &o);
    if (rc < 0) {
        fprintf(stderr, "web-fixture: start: %s\n", gw_strerror(rc));
        return 1;
    }
    printf("PORT %u\n", (unsigned)web_server_port(srv));
    fflush(stdout);

    while (!stop_flag) {
        struct pollfd pfd = {0, POLLIN, 0};
        int pr = poll(&pfd, 1, tick_ms ? (int)tick_ms : 1000);

        if (pr > 0) {
            char b[64];

            if (read(0, b, sizeof b) <= 0)
                break;
        }
        if (tick_ms) {
            /* The stream test watches progress advance. */
            if (f)
                pthread_mutex_lock(&f->lock);
            tick(db);
            if (f)
                pthread_mutex_unlock(&f->lock);
        }
    }
    web_server_stop(srv);
    if (f) {
        db_close(f->db);
        pthread_mutex_destroy(&f->lock);
        free(f);
    }
    db_close(db);
    return 0;
}
