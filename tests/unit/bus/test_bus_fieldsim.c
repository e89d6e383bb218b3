/* test_bus_fieldsim.c: the bus threads (dio/mb_bus.h) on a libuv loop against
 * fieldsim: two units on one RTU line (identity reads of one answered
 * while the other flashes), TCP, cancel mid-flash then resume, the
 * flash_per_bus FIFO, a dead device (timeouts reported, no hang), and
 * buses in a process holding more than FD_SETSIZE descriptors: libmodbus
 * waits with select(), so the test wraps select() and records the highest
 * descriptor it was ever given (dio/fd_place.h).
 *
 * No timing asserts: tests assert outcomes, counts and orders. A watchdog
 * timer fails a test that would otherwise hang. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "dio/mb_bus.h"
#include "gw/err.h"

#define IMG_SIZE    6000
#define WATCHDOG_MS 120000

struct fsim {
    pid_t pid;
    int port;     /* first TCP port, 0 when none */
    int ports[4]; /* the first TCP ports, in order */
    int nports;
    char dir[64];
    char line[96]; /* RTU line path */
};

/* ---- select() as libmodbus calls it ----------------------------------------
 */

static atomic_int select_calls;
static atomic_int select_max_fd = -1;
static atomic_int select_min_fd = INT32_MAX;

/* Every descriptor libmodbus waits on passes here (the executable's
 * definition comes first in symbol lookup). A descriptor >= FD_SETSIZE
 * would already have aborted in libmodbus's FD_SET (fortify) or
 * overflowed its fd_set; the record shows which ones it got. */
int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    typedef int select_fn(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    static select_fn *real;
    int fd = nfds - 1, v;

    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "select");
    atomic_fetch_add(&select_calls, 1);
    v = atomic_load(&select_max_fd);
    while (fd > v && !atomic_compare_exchange_weak(&select_max_fd, &v, fd))
        ;
    v = atomic_load(&select_min_fd);
    while (fd < v && !atomic_compare_exchange_weak(&select_min_fd, &v, fd))
        ;
    return real(nfds, r, w, e, tv);
}

static void select_record_reset(void)
{
    atomic_store(&select_calls, 0);
    atomic_store(&select_max_fd, -1);
    atomic_store(&select_min_fd, INT32_MAX);
}

static char image_path[64];
static pid_t live_pid; /* killed by the teardown if a test failed */
static uint32_t image_crc;

/* ---- fieldsim process ---------------------------------------------------- */

/* Start fieldsim with specs in which "@LINE" is replaced by the RTU line
 * path and wait for its "ready" line. */
static void fsim_start(struct fsim *fs, const char *const *specs, int n)
{
    char buf[8][256];
    char *argv[32];
    char line[256];
    int out[2], k = 0;
    FILE *f;

    assert_true(n <= 8);
    strcpy(fs->dir, "/tmp/sotagw-bus-XXXXXX");
    assert_non_null(mkdtemp(fs->dir));
    snprintf(fs->line, sizeof fs->line, "%s/ttyFS0", fs->dir);
    argv[k++] = (char *)(uintptr_t)FIELDSIM_BIN;
    argv[k++] = (char *)(uintptr_t) "--state-dir";
    argv[k++] = fs->dir;
    argv[k++] = (char *)(uintptr_t) "--log-level";
    argv[k++] = (char *)(uintptr_t) "warn";
    for (int i = 0; i < n; i++) {
        const char *at = strstr(specs[i], "@LINE");

        if (at)
            snprintf(buf[i], sizeof buf[i], "%.*s%s%s", (int)(at - specs[i]),
                     specs[i], fs->line, at + 5);
        else
            snprintf(buf[i], sizeof buf[i], "%s", specs[i]);
        argv[k++] = (char *)(uintptr_t) "--device";
        argv[k++] = buf[i];
    }
    argv[k] = NULL;
    assert_int_equal(pipe(out), 0);
    fs->pid = fork();
    assert_true(fs->pid >= 0);
    if (fs->pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    live_pid = fs->pid;
    close(out[1]);
    f = fdopen(out[0], "r");
    fs->port = 0;
    fs->nports = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "fieldsim: tcp 127.0.0.1:");

        if (p && fs->nports < 4)
            fs->ports[fs->nports++] =
                atoi(p + strlen("fieldsim: tcp 127.0.0.1:"));
        fs->port = fs->ports[0];
        if (strstr(line, "fieldsim: ready"))
            break;
    }
    fclose(f);
}

static void fsim_stop(struct fsim *fs)
{
    char cmd[128];
    int st;

    if (fs->pid > 0) {
        kill(fs->pid, SIGTERM);
        waitpid(fs->pid, &st, 0);
        fs->pid = 0;
        live_pid = 0;
    }
    assert_int_equal(strncmp(fs->dir, "/tmp/sotagw-bus-", 16), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fs->dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    char cmd[256];
    unsigned long crc = 0;
    FILE *p;
    int fd;

    (void)state;
    strcpy(image_path, "/tmp/sotagw-busimg-XXXXXX");
    fd = mkstemp(image_path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s --version 2.0.0 --size %d -o %s", MKIMAGE_BIN,
             IMG_SIZE, image_path);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "size=%*d crc32=0x%lx", &crc), 1);
    pclose(p);
    image_crc = (uint32_t)crc;
    return 0;
}

static int test_teardown(void **state)
{
    int st;

    (void)state;
    if (live_pid > 0) {
        kill(live_pid, SIGKILL);
        waitpid(live_pid, &st, 0);
        live_pid = 0;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(image_path);
    return 0;
}

/* ---- the loop ------------------------------------------------------------ */

/* What one owner (ctx) saw, in order. */
struct seen {
    int idents, ident_rc;
    struct mb_ident ident;
    int progress;
    uint32_t max_acked;
    int done;
    struct mb_flash f;
    int seq_first_progress, seq_done; /* global order of events */
    /* the other owner to re-read while this one flashes */
    struct mb_bus_dev *reader_dev;
    struct seen *reader;
    int reads_during;
    int reader_idle; /* no read outstanding */
    /* cancel after this many acknowledged bytes (0: never) */
    struct mb_bus_dev *cancel_dev;
    uint32_t cancel_at;
    int cancelled;
};

static int seq;

static void on_ident(void *ctx, int rc, const struct mb_ident *id)
{
    struct seen *s = ctx;

    s->idents++;
    s->ident_rc = rc;
    if (rc == 0) {
        assert_non_null(id);
        s->ident = *id;
    } else {
        assert_null(id);
    }
}

static void on_progress(void *ctx, uint32_t acked, enum mb_flash_phase ph)
{
    struct seen *s = ctx;

    (void)ph;
    assert_false(s->cancelled); /* nothing after mb_bus_cancel() */
    assert_false(s->done);
    if (s->progress++ == 0)
        s->seq_first_progress = ++seq;
    if (acked > s->max_acked)
        s->max_acked = acked;
    if (s->cancel_at && acked >= s->cancel_at) {
        mb_bus_cancel(s->cancel_dev, s);
        s->cancelled = 1;
    }
}

static void on_done(void *ctx, const struct mb_flash *f)
{
    struct seen *s = ctx;

    assert_false(s->cancelled);
    s->done++;
    s->seq_done = ++seq;
    s->f = *f;
}

/* The reader re-reads its identity whenever the last read came back while
 * the flash is still running: how many answers did it get during it? */
static void on_reader_ident(void *ctx, int rc, const struct mb_ident *id)
{
    struct seen *flash = ctx;

    on_ident(flash->reader, rc, id);
    flash->reader_idle = 1;
    if (!flash->done) {
        if (rc == 0)
            flash->reads_during++;
        assert_int_equal(
            mb_bus_read_ident(flash->reader_dev, on_reader_ident, flash), 0);
        flash->reader_idle = 0;
    }
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    fail_msg("watchdog: the loop did not reach the condition");
}

/* Run the loop until *flag >= want. */
static void run_until(uv_loop_t *loop, const int *flag, int want)
{
    uv_timer_t wd;

    uv_timer_init(loop, &wd);
    uv_timer_start(&wd, on_watchdog, WATCHDOG_MS, 0);
    while (*flag < want)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wd, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void policy_fast(struct mb_bus_policy *p, unsigned flash_per_bus)
{
    memset(p, 0, sizeof *p);
    p->flash_per_bus = flash_per_bus;
    p->response_timeout_ms = 300;
    mb_flash_config_default(&p->flash);
    p->flash.poll_interval_ms = 50;
    p->flash.busy_wait_ms = 50;
}

static void uri_rtu(struct mb_uri *u, const struct fsim *fs, unsigned unit)
{
    memset(u, 0, sizeof *u);
    u->kind = MB_URI_RTU;
    snprintf(u->device, sizeof u->device, "%s", fs->line);
    u->baud = 115200;
    u->parity = 'N';
    u->data_bits = 8;
    u->stop_bits = 1;
    u->unit = unit;
}

static void uri_tcp(struct mb_uri *u, int port, unsigned unit)
{
    memset(u, 0, sizeof *u);
    u->kind = MB_URI_TCP;
    strcpy(u->host, "127.0.0.1");
    u->port = (uint16_t)port;
    u->unit = unit;
}

static void close_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_NOWAIT); /* the async handle's close callback */
    assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- tests --------------------------------------------------------------- */

/* Units 1 and 2 on one RS-485 line: unit 1 is flashed while unit 2's
 * identity is read over and over; unit 2 keeps being answered. */
static void rtu_two_units(void **state)
{
    const char *spec[] = {"unit=1,rtu=@LINE,apply_ms=200,version=1.0.0",
                          "unit=2,rtu=@LINE,version=b,battery=77"};
    struct fsim fs;
    struct mb_bus_policy pol;
    struct mb_bus_set *bs;
    struct mb_bus_dev *d1, *d2, *again;
    struct mb_uri u;
    struct seen s1 = {0}, s2 = {0};
    struct mb_bus_flash_req req = {image_path, IMG_SIZE, 0, "2.0.0"};
    uv_loop_t loop;

    (void)state;
    fsim_start(&fs, spec, 2);
    uv_loop_init(&loop);
    policy_fast(&pol, 1);
    assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
    uri_rtu(&u, &fs, 1);
    assert_int_equal(mb_bus_dev_get(bs, &u, &d1), 0);
    assert_int_equal(mb_bus_dev_get(bs, &u, &again), 0);
    assert_ptr_equal(d1, again); /* one handle per unit, counted */
    mb_bus_dev_put(again);
    uri_rtu(&u, &fs, 2);
    assert_int_equal(mb_bus_dev_get(bs, &u, &d2), 0);
    assert_non_null(strstr(mb_bus_dev_name(d2), "rtu:"));
    assert_non_null(strstr(mb_bus_dev_name(d2), "#2"));

    req.crc = image_crc;
    s1.reader = &s2;
    s1.reader_dev = d2;
    assert_int_equal(mb_bus_flash(d1, &req, on_progress, on_done, &s1), 0);
    assert_int_equal(mb_bus_read_ident(d2, on_reader_ident, &s1), 0);
    run_until(&loop, &s1.done, 1);
    assert_int_equal(s1.f.result, MB_FLASH_SUCCESS);
    assert_string_equal(s1.f.new_version, "2.0.0");
    assert_int_equal(s1.max_acked, IMG_SIZE);
    assert_true(s1.progress >= 1);
    /* Unit 2 was answered between unit 1's requests, many times. */
    assert_true(s1.reads_during >= 5);
    assert_int_equal(s2.ident_rc, 0);
    assert_string_equal(s2.ident.sw_version, "b");
    assert_int_equal(s2.ident.battery, 77);
    print_message("rtu: %d identity reads of unit 2 during the flash of "
                  "%u blocks\n",
                  s1.reads_during, s1.f.blocks_sent);

    /* Drain the reader's last read, then read unit 1's new version. */
    run_until(&loop, &s1.reader_idle, 1);
    memset(&s2, 0, sizeof s2);
    assert_int_equal(mb_bus_read_ident(d1, on_ident, &s2), 0);
    run_until(&loop, &s2.idents, 1);
    assert_int_equal(s2.ident_rc, 0);
    assert_string_equal(s2.ident.sw_version, "2.0.0");

    mb_bus_dev_put(d1);
    mb_bus_dev_put(d2);
    mb_bus_set_free(bs);
    close_loop(&loop);
    fsim_stop(&fs);
}

/* Modbus TCP: identity, a flash, and a second flash of the same image
 * recognised as applied without a transfer. */
static void tcp_flash(void **state)
{
    const char *spec[] = {"unit=5,tcp=127.0.0.1:0,apply_ms=200"};
    struct fsim fs;
    struct mb_bus_policy pol;
    struct mb_bus_set *bs;
    struct mb_bus_dev *d;
    struct mb_uri u;
    struct seen s = {0}, s2 = {0};
    struct mb_bus_flash_req req = {image_path, IMG_SIZE, 0, "2.0.0"};
    uv_loop_t loop;

    (void)state;
    fsim_start(&fs, spec, 1);
    assert_true(fs.port > 0);
    uv_loop_init(&loop);
    policy_fast(&pol, 1);
    assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
    uri_tcp(&u, fs.port, 5);
    assert_int_equal(mb_bus_dev_get(bs, &u, &d), 0);
    assert_non_null(strstr(mb_bus_dev_name(d), "tcp:127.0.0.1:"));
    assert_int_equal(mb_bus_read_ident(d, on_ident, &s), 0);
    run_until(&loop, &s.idents, 1);
    assert_int_equal(s.ident_rc, 0);
    assert_string_equal(s.ident.sw_version, "1.0.0");

    req.crc = image_crc;
    assert_int_equal(mb_bus_flash(d, &req, on_progress, on_done, &s), 0);
    run_until(&loop, &s.done, 1);
    assert_int_equal(s.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(s.f.blocks_sent, (IMG_SIZE + 239) / 240);

    assert_int_equal(mb_bus_flash(d, &req, on_progress, on_done, &s2), 0);
    run_until(&loop, &s2.done, 1);
    assert_int_equal(s2.f.result, MB_FLASH_SUCCESS);
    assert_int_equal(s2.f.blocks_sent, 0);

    /* A staged file that does not match its size and CRC is not sent. */
    memset(&s2, 0, sizeof s2);
    req.crc = image_crc ^ 1u;
    assert_int_equal(mb_bus_flash(d, &req, on_progress, on_done, &s2), 0);
    run_until(&loop, &s2.done, 1);
    assert_int_equal(s2.f.result, MB_FLASH_FAILED);
    assert_non_null(strstr(s2.f.reason, "staged image"));
    assert_int_equal(s2.f.blocks_sent, 0);
    req.size = 0;
    assert_int_equal(mb_bus_flash(d, &req, on_progress, on_done, &s2),
                     GW_E_RANGE);

    mb_bus_dev_put(d);
    mb_bus_set_free(bs);
    close_loop(&loop);
    fsim_stop(&fs);
}

/* Cancel a flash after some blocks: no callback follows; the next flash
 * resumes from what the device acknowledged. */
static void cancel_then_resume(void **state)
{
    const char *spec[] = {"unit=1,rtu=@LINE,apply_ms=200"};
    struct fsim fs;
    struct mb_bus_policy pol;
    struct mb_bus_set *bs;
    struct mb_bus_dev *d;
    struct mb_uri u;
    struct seen s = {0}, probe = {0}, s2 = {0};
    struct mb_bus_flash_req req = {image_path, IMG_SIZE, 0, "2.0.0"};
    uv_loop_t loop;

    (void)state;
    fsim_start(&fs, spec, 1);
    uv_loop_init(&loop);
    policy_fast(&pol, 1);
    assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
    uri_rtu(&u, &fs, 1);
    assert_int_equal(mb_bus_dev_get(bs, &u, &d), 0);
    req.crc = image_crc;
    s.cancel_dev = d;
    s.cancel_at = 5 * 240;
    assert_int_equal(mb_bus_flash(d, &req, on_progress, on_done, &s), 0);
    run_until(&loop, &s.cancelled, 1);
    /* A read queued now is served after the cancelled flash stopped (one
     * request at a time); when it is answered, the flash has stopped and
     * its callbacks (asserted in on_progress/on_done) never came. */
    assert_int_equal(mb_bus_read_ident(d, on_ident, &probe), 0);
    run_until(&loop, &probe.idents, 1);
    assert_int_equal(probe.ident_rc, 0);
    assert_int_equal(probe.ident.state, MB_DEV_RECEIVING);
    assert_true(probe.ident.received >= 5 * 240);
    assert_true(probe.ident.received < IMG_SIZE);
    assert_int_equal(s.done, 0);

    assert_int_equal(mb_bus_flash(d, &req, on_progress, on_done, &s2), 0);
    run_until(&loop, &s2.done, 1);
    assert_int_equal(s2.f.result, MB_FLASH_SUCCESS);
    assert_true(s2.f.resumed);
    assert_int_equal(s2.f.resumed_from, probe.ident.received);
    assert_int_equal(s2.f.blocks_sent,
                     (IMG_SIZE - probe.ident.received + 239) / 240);

    /* Cancelling an owner with nothing queued is harmless. */
    mb_bus_cancel(d, &s);
    mb_bus_dev_put(d);
    mb_bus_set_free(bs);
    close_loop(&loop);
    fsim_stop(&fs);
}

/* Three units on one RS-485 line, flash_per_bus 1: the flashes run one
 * after the other in FIFO order. With flash_per_bus 3 they overlap. */
static void flash_per_bus_fifo(void **state)
{
    const char *spec[] = {"unit=1,rtu=@LINE,apply_ms=100",
                          "unit=2,rtu=@LINE,apply_ms=100",
                          "unit=3,rtu=@LINE,apply_ms=100"};
    struct mb_bus_flash_req req = {image_path, IMG_SIZE, 0, "2.0.0"};

    (void)state;
    req.crc = image_crc;
    for (unsigned per_bus = 1; per_bus <= 3; per_bus += 2) {
        struct fsim fs;
        struct mb_bus_policy pol;
        struct mb_bus_set *bs;
        struct mb_bus_dev *d[3];
        struct mb_uri u;
        struct seen s[3];
        uv_loop_t loop;

        memset(s, 0, sizeof s);
        seq = 0;
        fsim_start(&fs, spec, 3);
        uv_loop_init(&loop);
        policy_fast(&pol, per_bus);
        assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
        for (unsigned i = 0; i < 3; i++) {
            uri_rtu(&u, &fs, i + 1);
            assert_int_equal(mb_bus_dev_get(bs, &u, &d[i]), 0);
        }
        for (int i = 0; i < 3; i++)
            assert_int_equal(
                mb_bus_flash(d[i], &req, on_progress, on_done, &s[i]), 0);
        run_until(&loop, &s[2].done, 1);
        run_until(&loop, &s[1].done, 1);
        run_until(&loop, &s[0].done, 1);
        for (int i = 0; i < 3; i++)
            if (s[i].f.result != MB_FLASH_SUCCESS)
                fail_msg("per_bus %u, unit %d: %s", per_bus, i + 1,
                         s[i].f.reason);
        if (per_bus == 1) {
            /* strictly one after the other, in submission order */
            assert_true(s[0].seq_done < s[1].seq_first_progress);
            assert_true(s[1].seq_done < s[2].seq_first_progress);
        } else {
            /* all three had started before the first one ended */
            int first_done = s[0].seq_done;

            for (int i = 1; i < 3; i++)
                if (s[i].seq_done < first_done)
                    first_done = s[i].seq_done;
            for (int i = 0; i < 3; i++)
                assert_true(s[i].seq_first_progress < first_done);
        }
        for (int i = 0; i < 3; i++)
            mb_bus_dev_put(d[i]);
        mb_bus_set_free(bs);
        close_loop(&loop);
        fsim_stop(&fs);
    }
}

/* Unit 9 is not on the line (nobody answers), a TCP port with nobody
 * listening: reads fail with a timeout / refused, a flash fails, and the
 * live unit on the same line is still answered afterwards. */
static void dead_device(void **state)
{
    const char *spec[] = {"unit=1,rtu=@LINE"};
    struct fsim fs;
    struct mb_bus_policy pol;
    struct mb_bus_set *bs;
    struct mb_bus_dev *dead, *live, *tcp;
    struct mb_uri u;
    struct seen s = {0}, sl = {0}, st = {0}, sf = {0};
    struct mb_bus_flash_req req = {image_path, IMG_SIZE, 0, "2.0.0"};
    uv_loop_t loop;

    (void)state;
    fsim_start(&fs, spec, 1);
    uv_loop_init(&loop);
    policy_fast(&pol, 1);
    pol.flash.tries = 2;
    assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
    uri_rtu(&u, &fs, 9);
    assert_int_equal(mb_bus_dev_get(bs, &u, &dead), 0);
    uri_rtu(&u, &fs, 1);
    assert_int_equal(mb_bus_dev_get(bs, &u, &live), 0);
    uri_tcp(&u, 1, 1); /* port 1: nobody listens */
    assert_int_equal(mb_bus_dev_get(bs, &u, &tcp), 0);

    assert_int_equal(mb_bus_read_ident(dead, on_ident, &s), 0);
    assert_int_equal(mb_bus_read_ident(tcp, on_ident, &st), 0);
    req.crc = image_crc;
    assert_int_equal(mb_bus_flash(dead, &req, on_progress, on_done, &sf), 0);
    assert_int_equal(mb_bus_read_ident(live, on_ident, &sl), 0);
    run_until(&loop, &s.idents, 1);
    run_until(&loop, &st.idents, 1);
    run_until(&loop, &sf.done, 1);
    run_until(&loop, &sl.idents, 1);
    assert_int_equal(s.ident_rc, -ETIMEDOUT);
    assert_true(st.ident_rc == -ECONNREFUSED || st.ident_rc == -ENOTCONN);
    assert_int_equal(sf.f.result, MB_FLASH_FAILED);
    assert_int_equal(sf.f.acked, 0);
    assert_int_equal(sl.ident_rc, 0);

    /* A line setting that contradicts the bus's is refused. */
    uri_rtu(&u, &fs, 3);
    u.baud = 9600;
    assert_int_equal(mb_bus_dev_get(bs, &u, &tcp), GW_E_CONFIG);

    mb_bus_dev_put(dead);
    mb_bus_dev_put(live);
    mb_bus_set_free(bs); /* tcp's handle is freed with the set */
    close_loop(&loop);
    fsim_stop(&fs);
}

/* Free the set while a flash is running: the thread stops between two
 * requests, no callback comes, nothing leaks (ASan). */
static void free_mid_flash(void **state)
{
    const char *spec[] = {"unit=1,tcp=127.0.0.1:0"};
    struct fsim fs;
    struct mb_bus_policy pol;
    struct mb_bus_set *bs;
    struct mb_bus_dev *d;
    struct mb_uri u;
    struct seen s = {0};
    struct mb_bus_flash_req req = {image_path, IMG_SIZE, 0, "2.0.0"};
    uv_loop_t loop;

    (void)state;
    fsim_start(&fs, spec, 1);
    uv_loop_init(&loop);
    policy_fast(&pol, 1);
    assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
    uri_tcp(&u, fs.port, 1);
    assert_int_equal(mb_bus_dev_get(bs, &u, &d), 0);
    req.crc = image_crc;
    assert_int_equal(mb_bus_flash(d, &req, on_progress, on_done, &s), 0);
    run_until(&loop, &s.progress, 3);
    mb_bus_dev_put(d);
    mb_bus_set_free(bs);
    close_loop(&loop);
    assert_int_equal(s.done, 0);
    fsim_stop(&fs);
}

/* ---- more descriptors than FD_SETSIZE
 * ---------------------------------------- */

#define DUMMY_FDS 1100
#define DUMMY_MAX 1400

struct dummies {
    int fd[DUMMY_MAX];
    int n;
};

/* Open /dev/null until at least want descriptors are held and the highest
 * is at or above FD_SETSIZE + 64: every number below FD_SETSIZE is then
 * taken. The soft RLIMIT_NOFILE is raised for it; a hard limit that does
 * not allow it fails the test (it cannot show anything below it). */
static void dummies_fill(struct dummies *d, int want)
{
    struct rlimit rl;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < DUMMY_MAX + 256) {
        if (rl.rlim_max < DUMMY_MAX + 256)
            fail_msg("hard RLIMIT_NOFILE %lu < %d: cannot open more than "
                     "FD_SETSIZE descriptors here",
                     (unsigned long)rl.rlim_max, DUMMY_MAX + 256);
        rl.rlim_cur = DUMMY_MAX + 256;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    d->n = 0;
    while (d->n < want || d->fd[d->n - 1] < FD_SETSIZE + 64) {
        assert_true(d->n < DUMMY_MAX);
        d->fd[d->n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(d->fd[d->n] >= 0);
        d->n++;
    }
    assert_true(d->n >= want);
}

/* Close k of the dummies below FD_SETSIZE (the lowest): k numbers of the
 * low range are free again. */
static void dummies_free_low(struct dummies *d, int k)
{
    for (int i = 0; i < d->n && k > 0; i++) {
        if (d->fd[i] >= 0 && d->fd[i] < FD_SETSIZE) {
            close(d->fd[i]);
            d->fd[i] = -1;
            k--;
        }
    }
    assert_int_equal(k, 0);
}

static void dummies_close(struct dummies *d)
{
    for (int i = 0; i < d->n; i++)
        if (d->fd[i] >= 0)
            close(d->fd[i]);
    d->n = 0;
}

/* A bus set that served one request (so it holds one slot below
 * FD_SETSIZE), then more than 1100 descriptors open and every number
 * below FD_SETSIZE taken: new TCP and RTU links (opened above FD_SETSIZE)
 * and the old one read identities and flash through that one slot, and
 * libmodbus only ever waits on descriptors below FD_SETSIZE. */
static void many_fds_bus_works(void **state)
{
    const char *spec[] = {"unit=3,tcp=127.0.0.1:0",
                          "unit=5,tcp=127.0.0.1:0,apply_ms=200",
                          "unit=4,rtu=@LINE,version=r"};
    static struct dummies dm;
    struct fsim fs;
    struct mb_bus_policy pol;
    struct mb_bus_set *bs;
    struct mb_bus_dev *dt, *dn, *dr;
    struct mb_uri u;
    struct seen st = {0}, sn = {0}, sr = {0}, sf = {0};
    struct mb_bus_flash_req req = {image_path, IMG_SIZE, 0, "2.0.0"};
    uv_loop_t loop;

    (void)state;
    fsim_start(&fs, spec, 3);
    assert_int_equal(fs.nports, 2);
    uv_loop_init(&loop);
    policy_fast(&pol, 1);
    assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
    uri_tcp(&u, fs.ports[0], 3);
    assert_int_equal(mb_bus_dev_get(bs, &u, &dt), 0);
    assert_int_equal(mb_bus_read_ident(dt, on_ident, &st), 0);
    run_until(&loop, &st.idents, 1);
    assert_int_equal(st.ident_rc, 0);

    dummies_fill(&dm, DUMMY_FDS);
    select_record_reset();
    uri_tcp(&u, fs.ports[1], 5);
    assert_int_equal(mb_bus_dev_get(bs, &u, &dn), 0);
    uri_rtu(&u, &fs, 4);
    assert_int_equal(mb_bus_dev_get(bs, &u, &dr), 0);
    assert_int_equal(mb_bus_read_ident(dt, on_ident, &st), 0);
    assert_int_equal(mb_bus_read_ident(dn, on_ident, &sn), 0);
    assert_int_equal(mb_bus_read_ident(dr, on_ident, &sr), 0);
    run_until(&loop, &st.idents, 2);
    run_until(&loop, &sn.idents, 1);
    run_until(&loop, &sr.idents, 1);
    assert_int_equal(st.ident_rc, 0);
    assert_int_equal(sn.ident_rc, 0);
    assert_string_equal(sn.ident.sw_version, "1.0.0");
    assert_int_equal(sr.ident_rc, 0);
    assert_string_equal(sr.ident.sw_version, "r");

    req.crc = image_crc;
    assert_int_equal(mb_bus_flash(dn, &req, on_progress, on_done, &sf), 0);
    run_until(&loop, &sf.done, 1);
    assert_int_equal(sf.f.result, MB_FLASH_SUCCESS);

    assert_true(atomic_load(&select_calls) > 0);
    assert_true(atomic_load(&select_max_fd) < FD_SETSIZE);
    print_message("%d descriptors open (highest %d): libmodbus waited %d "
                  "times on descriptors %d..%d\n",
                  dm.n, dm.fd[dm.n - 1], atomic_load(&select_calls),
                  atomic_load(&select_min_fd), atomic_load(&select_max_fd));

    mb_bus_dev_put(dt);
    mb_bus_dev_put(dn);
    mb_bus_dev_put(dr);
    mb_bus_set_free(bs);
    close_loop(&loop);
    dummies_close(&dm);
    fsim_stop(&fs);
}

/* Every number below FD_SETSIZE taken: the requests fail with -EMFILE
 * (the devices are unreachable), nothing aborts; once numbers are free
 * again, the same handles are answered. */
static void no_low_fd_left(void **state)
{
    const char *spec[] = {"unit=3,tcp=127.0.0.1:0",
                          "unit=4,rtu=@LINE,version=r"};
    static struct dummies dm;
    struct fsim fs;
    struct mb_bus_policy pol;
    struct mb_bus_set *bs;
    struct mb_bus_dev *dt, *dr;
    struct mb_uri u;
    struct seen st = {0}, sr = {0};
    uv_loop_t loop;

    (void)state;
    fsim_start(&fs, spec, 2);
    uv_loop_init(&loop);
    policy_fast(&pol, 1);
    assert_int_equal(mb_bus_set_new(&bs, &loop, &pol), 0);
    uri_tcp(&u, fs.port, 3);
    assert_int_equal(mb_bus_dev_get(bs, &u, &dt), 0);
    uri_rtu(&u, &fs, 4);
    assert_int_equal(mb_bus_dev_get(bs, &u, &dr), 0);
    dummies_fill(&dm, DUMMY_FDS);
    select_record_reset();

    assert_int_equal(mb_bus_read_ident(dt, on_ident, &st), 0);
    assert_int_equal(mb_bus_read_ident(dr, on_ident, &sr), 0);
    run_until(&loop, &st.idents, 1);
    run_until(&loop, &sr.idents, 1);
    assert_int_equal(st.ident_rc, -EMFILE);
    assert_int_equal(sr.ident_rc, -EMFILE);
    assert_int_equal(atomic_load(&select_calls), 0);

    /* The links stayed open (above FD_SETSIZE): with two low numbers free,
     * the next reads are answered. */
    dummies_free_low(&dm, 2);
    assert_int_equal(mb_bus_read_ident(dt, on_ident, &st), 0);
    assert_int_equal(mb_bus_read_ident(dr, on_ident, &sr), 0);
    run_until(&loop, &st.idents, 2);
    run_until(&loop, &sr.idents, 2);
    assert_int_equal(st.ident_rc, 0);
    assert_int_equal(sr.ident_rc, 0);
    assert_string_equal(sr.ident.sw_version, "r");
    assert_true(atomic_load(&select_calls) > 0);
    assert_true(atomic_load(&select_max_fd) < FD_SETSIZE);

    mb_bus_dev_put(dt);
    mb_bus_dev_put(dr);
    mb_bus_set_free(bs);
    close_loop(&loop);
    dummies_close(&dm);
    fsim_stop(&fs);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(rtu_two_units, test_teardown),
        cmocka_unit_test_teardown(tcp_flash, test_teardown),
        cmocka_unit_test_teardown(cancel_then_resume, test_teardown),
        cmocka_unit_test_teardown(flash_per_bus_fifo, test_teardown),
        cmocka_unit_test_teardown(dead_device, test_teardown),
        cmocka_unit_test_teardown(free_mid_flash, test_teardown),
        cmocka_unit_test_teardown(many_fds_bus_works, test_teardown),
        cmocka_unit_test_teardown(no_low_fd_left, test_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
