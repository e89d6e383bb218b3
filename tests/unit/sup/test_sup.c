/* test_sup.c: the supervisor with a fake worker (fake_worker.c) on ptys:
 * a port appears, disappears and reappears; a failing worker is restarted
 * with growing delays; a duplicate IMEI is refused; a stop ends every
 * worker; the device row of a gone modem is marked absent. And the pure
 * USB location parser on real /dev/serial/by-path names.
 *
 * Timing: the tests wait for events (with a watchdog) and assert counts
 * and orders; the only time checks are lower bounds on restart delays,
 * which a slow machine cannot break. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db_devices.h"
#include "fake_worker.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "gw/log.h"
#include "sup.h"

#define WATCHDOG_MS 60000
#define IMEI_A      "490154203237518"
#define IMEI_B      "356938035643809"

struct pty {
    int master;
    char link[96];
};

struct env {
    uv_loop_t loop;
    struct gw_config cfg;
    struct app app;
    struct sup *sup;
    char dir[64];
    int stopped;
};

static void pty_plug(struct pty *p, const char *dir, const char *name)
{
    p->master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(p->master >= 0);
    assert_int_equal(grantpt(p->master), 0);
    assert_int_equal(unlockpt(p->master), 0);
    snprintf(p->link, sizeof p->link, "%s/%s", dir, name);
    assert_int_equal(symlink(ptsname(p->master), p->link), 0);
}

/* Pull the plug: the link goes, the worker's port hangs up. */
static void pty_unplug(struct pty *p)
{
    unlink(p->link);
    close(p->master);
    p->master = -1;
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    fail_msg("watchdog: the supervisor did not get there");
}

/* Run the loop until fake_count(suffix, started, why) >= n. */
static void run_until_count(struct env *e, const char *suffix, int started,
                            int why, int n)
{
    uv_timer_t wd;

    uv_timer_init(&e->loop, &wd);
    uv_timer_start(&wd, on_watchdog, WATCHDOG_MS, 0);
    while (fake_count(suffix, started, why) < n)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wd, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void plan(const char *suffix, const char *imei, enum fake_mode mode)
{
    struct fake_plan *p = &fake_world.plans[fake_world.nplans++];

    snprintf(p->suffix, sizeof p->suffix, "%s", suffix);
    snprintf(p->imei, sizeof p->imei, "%s", imei);
    p->mode = mode;
}

static void env_init(struct env *e)
{
    memset(e, 0, sizeof *e);
    memset(&fake_world, 0, sizeof fake_world);
    strcpy(e->dir, "/tmp/sotagw-sup-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    snprintf(e->cfg.modems.ports[0], sizeof e->cfg.modems.ports[0], "%s/ttyM*",
             e->dir);
    e->cfg.modems.nports = 1;
    e->cfg.policy.retry_backoff_min_s = 1;
    e->cfg.policy.retry_backoff_max_s = 2;
    e->cfg.policy.flash_per_bus = 1;
    e->app.loop = &e->loop;
    e->app.cfg = &e->cfg;
    assert_int_equal(db_open(&e->app.db, ":memory:", DB_OPEN_NO_CHECK), 0);
    assert_int_equal(sup_new(&e->sup, &e->app), 0);
}

static void on_stopped(void *ctx)
{
    struct env *e = ctx;

    e->stopped++;
    uv_stop(&e->loop); /* called from a timer: do not block in the poll */
}

static void env_done(struct env *e)
{
    uv_timer_t wd;
    char cmd[128];

    sup_stop(e->sup, on_stopped, e);
    uv_timer_init(&e->loop, &wd);
    uv_timer_start(&wd, on_watchdog, WATCHDOG_MS, 0);
    while (!e->stopped)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wd, NULL);
    assert_int_equal(e->stopped, 1);
    assert_int_equal(fake_world.running, 0);
    sup_free(e->sup);
    uv_run(&e->loop, UV_RUN_DEFAULT); /* close callbacks */
    assert_int_equal(uv_loop_close(&e->loop), 0);
    db_close(e->app.db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    assert_int_equal(strncmp(e->dir, "/tmp/sotagw-sup-", 16), 0);
    assert_int_equal(system(cmd), 0);
}

struct visit {
    int n;
    char imei[16];
};

static void count_worker(void *ctx, struct worker *w)
{
    struct visit *v = ctx;
    struct worker_info wi;

    worker_info(w, &wi);
    v->n++;
    snprintf(v->imei, sizeof v->imei, "%s", wi.imei);
}

/* ---- tests ----------------------------------------------------------------
 */

static void port_appears_disappears_reappears(void **state)
{
    struct env e;
    struct pty p;
    struct db_device d;
    struct visit v = {0};

    (void)state;
    env_init(&e);
    plan("/ttyM0", IMEI_A, FAKE_RUN);
    memset(&d, 0, sizeof d);
    strcpy(d.imei, IMEI_A);
    d.state = DB_DEVICE_IDLE;
    d.rssi = 99;
    d.reg_status = -1;
    d.battery = -1;
    d.free_kib = -1;
    d.last_seen_ms = 1;
    assert_int_equal(db_device_upsert(e.app.db, &d), 0);

    assert_int_equal(sup_start(e.sup), 0);
    /* No port yet: nothing starts. Then it appears. */
    assert_int_equal(fake_count(NULL, 1, -1), 0);
    pty_plug(&p, e.dir, "ttyM0");
    run_until_count(&e, "/ttyM0", 1, -1, 1);
    uv_run(&e.loop, UV_RUN_NOWAIT); /* identification */
    sup_foreach(e.sup, count_worker, &v);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.imei, IMEI_A);

    pty_unplug(&p);
    run_until_count(&e, "/ttyM0", 0, WORKER_EXIT_UNPLUGGED, 1);
    uv_run(&e.loop, UV_RUN_NOWAIT); /* reaped */
    assert_int_equal(db_device_get(e.app.db, IMEI_A, &d), 0);
    assert_int_equal(d.state, DB_DEVICE_ABSENT);
    v.n = 0;
    sup_foreach(e.sup, count_worker, &v);
    assert_int_equal(v.n, 0);

    pty_plug(&p, e.dir, "ttyM0");
    run_until_count(&e, "/ttyM0", 1, -1, 2);
    /* started twice, ended once: no restart while unplugged */
    assert_int_equal(fake_count("/ttyM0", 1, -1), 2);
    assert_int_equal(fake_count("/ttyM0", 0, -1), 1);
    env_done(&e);
    assert_int_equal(fake_count("/ttyM0", 0, WORKER_EXIT_STOPPED), 1);
    pty_unplug(&p);
}

static void failing_worker_backs_off(void **state)
{
    struct env e;
    struct pty p;
    long long t[4];
    int k = 0;

    (void)state;
    env_init(&e);
    plan("/ttyM1", IMEI_A, FAKE_FAIL);
    pty_plug(&p, e.dir, "ttyM1");
    assert_int_equal(sup_start(e.sup), 0);
    run_until_count(&e, "/ttyM1", 1, -1, 4);
    for (int i = 0; i < fake_world.nlog && k < 4; i++)
        if (fake_world.log[i].started)
            t[k++] = fake_world.log[i].at_ms;
    assert_int_equal(k, 4);
    /* every start but the first follows a FAILED exit */
    assert_true(fake_count("/ttyM1", 0, WORKER_EXIT_FAILED) >= 3);
    /* delays 1 s, 2 s, 2 s (capped): lower bounds only */
    assert_true(t[1] - t[0] >= 900);
    assert_true(t[2] - t[1] >= 1900);
    assert_true(t[3] - t[2] >= 1900);
    env_done(&e);
    pty_unplug(&p);
}

static void duplicate_imei_refused(void **state)
{
    struct env e;
    struct pty p0, p1;
    struct visit v = {0};

    (void)state;
    env_init(&e);
    plan("/ttyM0", IMEI_B, FAKE_RUN);
    plan("/ttyM1", IMEI_B, FAKE_RUN);
    pty_plug(&p0, e.dir, "ttyM0");
    pty_plug(&p1, e.dir, "ttyM1");
    assert_int_equal(sup_start(e.sup), 0);
    run_until_count(&e, NULL, 0, WORKER_EXIT_DUPLICATE, 1);
    uv_run(&e.loop, UV_RUN_NOWAIT);
    sup_foreach(e.sup, count_worker, &v);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.imei, IMEI_B);
    assert_int_equal(fake_count(NULL, 0, WORKER_EXIT_DUPLICATE), 1);
    env_done(&e);
    assert_int_equal(fake_count(NULL, 0, WORKER_EXIT_STOPPED), 1);
    pty_unplug(&p0);
    pty_unplug(&p1);
}

static void stop_without_workers(void **state)
{
    struct env e;

    (void)state;
    env_init(&e);
    assert_int_equal(sup_start(e.sup), 0);
    env_done(&e);
}

static void location_from_by_path(void **state)
{
    static const struct {
        const char *name;
        const char *hub;
        int port;
    } ok[] = {
        {"pci-0000:00:14.0-usb-0:1.2.3:1.0-port0", "pci-0000:00:14.0-usb-0:1.2",
         3},
        {"pci-0000:00:14.0-usb-0:2:1.0-port0", "pci-0000:00:14.0-usb-0", 2},
        {"pci-0000:00:14.0-usbv2-0:1.4:1.2", "pci-0000:00:14.0-usbv2-0:1", 4},
        {"platform-3f980000.usb-usb-0:1.1.3:1.0-port0",
         "platform-3f980000.usb-usb-0:1.1", 3},
        {"platform-xhci-hcd.0.auto-usb-0:1.2:1.3-port0",
         "platform-xhci-hcd.0.auto-usb-0:1", 2},
        {"pci-0000:00:1d.0-usb-0:1.7.12:1.0-port0",
         "pci-0000:00:1d.0-usb-0:1.7", 12},
    };
    static const char *const bad[] = {
        "",
        "pci-0000:00:1f.2-ata-1",
        "platform-serial8250-port3",
        "pci-0000:00:14.0-usb-0:1.x:1.0-port0",
        "pci-0000:00:14.0-usb-0",
        "pci-0000:00:14.0-usb-:1.2:1.0",
        "pci-0000:00:14.0-usb-0:1.0:1.0",
        "pci-0000:00:14.0-usb-0:1.256:1.0",
        "pci-0000:00:14.0-usb-0:1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17."
        "18.19.20.21.22.23:1.0",
    };
    struct usb_location loc;

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (sup_location_from_by_path(ok[i].name, &loc) != 0)
            fail_msg("refused %s", ok[i].name);
        assert_string_equal(loc.hub, ok[i].hub);
        assert_int_equal(loc.port, ok[i].port);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sup_location_from_by_path(bad[i], &loc) == 0)
            fail_msg("accepted %s (hub %s port %d)", bad[i], loc.hub, loc.port);
        assert_string_equal(loc.hub, "");
        assert_int_equal(loc.port, 0);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(location_from_by_path),
        cmocka_unit_test(port_appears_disappears_reappears),
        cmocka_unit_test(failing_worker_backs_off),
        cmocka_unit_test(duplicate_imei_refused),
        cmocka_unit_test(stop_without_workers),
    };

    if (getenv("SUP_TEST_LOG"))
        gw_log_set_sink(gw_log_sink_stderr, NULL, GW_LOG_DEBUG);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
