/* test_worker_sim.c: workers against the simulators, end to end.
 *
 * m531x-sim plays two M531x modules and the OneNET platform running a SOTA
 * task (target test000, a 20000-byte image made by fieldsim-mkimage so the
 * field device's new version is the task's target); fieldsim plays the two
 * field devices behind them on one Modbus TCP endpoint (one bus: the
 * flashes are serialised). Two workers run on one loop with the real bus
 * threads, database, staging and group commit. The simulator's report must
 * say success for both modules, with no protocol violation, no missed
 * deadline and no damaged chunk acknowledged.
 *
 * The second case adds the simulator's faults (split writes, noise lines,
 * corrupt and duplicate chunks, a module reboot, an unplug and replug); a
 * minimal stand-in for the supervisor starts a worker again when its port
 * comes back, and the job resumes from the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "app.h"
#include "dio/mb_bus.h"
#include "db/db_jobs.h"
#include "gw/clock.h"
#include "gw/err.h"
#include "worker.h"

#define MODEMS   2
#define GUARD_MS 240000

struct slot {
    struct run *r;
    struct worker *w;
    char path[256];
    int exited;
    enum worker_exit why;
    int starts;
};

struct run {
    char dir[64];
    pid_t fieldsim, msim;
    int tcp_port;
    char md5[33];
    int identified;
    const char *faults; /* scenario JSON fragment, "" for none */
    struct slot slots[MODEMS];
};

static pid_t spawn(char *const argv[], int out_fd)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Run fieldsim with units 1..units on one TCP endpoint at port (0: any);
 * returns the port it serves. */
static int fieldsim_run(struct run *r, int units, int port)
{
    char sdir[128], spec[MODEMS][160], line[256];
    char *argv[4 + 2 * MODEMS];
    int out[2], k = 0, got = 0;
    FILE *f;

    snprintf(sdir, sizeof sdir, "%s/fs", r->dir);
    mkdir(sdir, 0700);
    argv[k++] = FIELDSIM_BIN;
    argv[k++] = "--state-dir";
    argv[k++] = sdir;
    for (int i = 0; i < units; i++) {
        snprintf(spec[i], sizeof spec[i],
                 "unit=%d,tcp=127.0.0.1:%d,version=test0,battery=90,"
                 "apply_ms=300,verify_ms=50",
                 i + 1, port);
        argv[k++] = "--device";
        argv[k++] = spec[i];
    }
    argv[k] = NULL;
    assert_int_equal(pipe(out), 0);
    r->fieldsim = spawn(argv, out[1]);
    close(out[1]);
    f = fdopen(out[0], "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = strstr(line, "fieldsim: tcp 127.0.0.1:");

        if (p != NULL)
            got = atoi(p + strlen("fieldsim: tcp 127.0.0.1:"));
        if (strstr(line, "fieldsim: ready") != NULL)
            break;
    }
    fclose(f);
    assert_true(got > 0);
    return got;
}

/* One endpoint for every unit: learn a free port with one unit, then
 * serve all of them on it (a kill of fieldsim is a power cycle only). */
static void start_fieldsim(struct run *r)
{
    int port = fieldsim_run(r, 1, 0);

    kill(r->fieldsim, SIGTERM);
    waitpid(r->fieldsim, NULL, 0);
    r->tcp_port = fieldsim_run(r, MODEMS, port);
}

static void make_package(struct run *r, char *pkg, size_t cap)
{
    char cmd[512], line[256];
    FILE *p;
    char *m;

    snprintf(pkg, cap, "%s/pkg.bin", r->dir);
    snprintf(cmd, sizeof cmd, "%s --version test000 --size 20000 -o %s",
             MKIMAGE_BIN, pkg);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    m = strstr(line, "md5=");
    assert_non_null(m);
    memcpy(r->md5, m + 4, 32);
    r->md5[32] = '\0';
}

static void start_msim(struct run *r)
{
    char pkg[256], scn[256], simdir[128], report[128], modems[8];
    char *argv[12];
    FILE *f;
    int k = 0;

    make_package(r, pkg, sizeof pkg);
    snprintf(scn, sizeof scn, "%s/scenario.json", r->dir);
    f = fopen(scn, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"seed\": 7,\n"
            " \"platform\": {\"chunk_size\": 1024, \"deadline_ms\": 3000,"
            " \"update_wait_s\": 120, \"task_timeout_s\": 200},\n"
            " \"software\": [{\"name\": \"fw\", \"target_version\":"
            " \"test000\", \"package\": {\"file\": \"%s\", \"md5\":"
            " \"%s\"}}],\n"
            " \"groups\": [{\"name\": \"g\", \"devices\": \"all\"}],\n"
            " \"tasks\": [{\"name\": \"t\", \"group\": \"g\", \"software\":"
            " \"fw\", \"min_battery\": 20, \"start_s\": 0}]%s}\n",
            pkg, r->md5, r->faults);
    fclose(f);
    snprintf(simdir, sizeof simdir, "%s/sim", r->dir);
    snprintf(report, sizeof report, "%s/report.json", r->dir);
    snprintf(modems, sizeof modems, "%d", MODEMS);
    argv[k++] = MSIM_BIN;
    argv[k++] = "--dir";
    argv[k++] = simdir;
    argv[k++] = "--modems";
    argv[k++] = modems;
    argv[k++] = "--scenario";
    argv[k++] = scn;
    argv[k++] = "--report";
    argv[k++] = report;
    argv[k] = NULL;
    mkdir(simdir, 0700);
    r->msim = spawn(argv, -1);
}

static int identified(void *ctx, struct worker *w, const char *imei)
{
    struct slot *sl = ctx;

    (void)w;
    (void)imei;
    sl->r->identified++;
    return 0;
}

static void exited(void *ctx, struct worker *w, enum worker_exit why,
                   const char *detail)
{
    struct slot *sl = ctx;

    (void)w;
    (void)detail;
    sl->exited = 1;
    sl->why = why;
}

/* the loop's clock: the simulators run in real time */
static const struct worker_ops wops = {identified, exited, NULL};

static void check_report(const struct run *r, int strict_deadlines,
                         int want_resume)
{
    char path[128];
    json_error_t err;
    json_t *root, *mods;
    size_t i;
    json_t *m;

    snprintf(path, sizeof path, "%s/report.json", r->dir);
    root = json_load_file(path, 0, &err);
    assert_non_null(root);
    mods = json_object_get(root, "modules");
    assert_true(json_is_array(mods));
    assert_int_equal(json_array_size(mods), MODEMS);
    json_array_foreach(mods, i, m)
    {
        const char *outcome = json_string_value(json_object_get(m, "outcome"));
        json_t *ch = json_object_get(m, "chunks");

        print_message(
            "module %zu: %s (%s), %lld requests, %lld resends, %lld missed, "
            "p99 %lld ms, max %lld ms, resumed at %lld, reboots %lld, "
            "unplugs %lld, corrupted %lld, duplicated %lld\n",
            i, outcome, json_string_value(json_object_get(m, "reason")),
            json_integer_value(json_object_get(m, "requests")),
            json_integer_value(json_object_get(m, "resends")),
            json_integer_value(json_object_get(m, "missed_deadlines")),
            json_integer_value(
                json_object_get(json_object_get(m, "latency"), "p99_ms")),
            json_integer_value(
                json_object_get(json_object_get(m, "latency"), "max_ms")),
            json_integer_value(json_object_get(ch, "resume_offset")),
            json_integer_value(json_object_get(m, "reboots")),
            json_integer_value(json_object_get(m, "unplugs")),
            json_integer_value(json_object_get(ch, "corrupted")),
            json_integer_value(json_object_get(ch, "duplicated")));
        assert_string_equal(outcome, "success");
        assert_int_equal(
            json_integer_value(json_object_get(m, "protocol_violations")), 0);
        assert_int_equal(
            json_integer_value(json_object_get(ch, "corrupt_acked")), 0);
        if (strict_deadlines)
            assert_int_equal(
                json_integer_value(json_object_get(m, "missed_deadlines")), 0);
        /* a reboot or an unplug mid-download resumed from durable bytes */
        if (want_resume)
            assert_true(
                json_integer_value(json_object_get(ch, "resume_offset")) > 0);
    }
    json_decref(root);
}

/* Start the slot's worker when its port is there and nobody holds it. */
static void slot_try_start(struct run *r, struct app *app, struct slot *sl)
{
    (void)r;
    if (sl->w != NULL || access(sl->path, F_OK) != 0)
        return;
    if (worker_start(&sl->w, app, sl->path, NULL, &wops, sl) == 0)
        sl->starts++;
    else
        sl->w = NULL;
}

static void run_fleet(const char *faults, int strict_deadlines, int want_resume)
{
    struct run r;
    struct app app;
    struct gw_config *cfg;
    struct gw_config_error cerr;
    struct mb_bus_policy pol;
    uv_loop_t loop;
    char text[2048], path[256];
    int64_t end;
    int status = -1, msim_done = 0, restarts = 0;
    size_t len = 0;

    memset(&r, 0, sizeof r);
    r.faults = faults;
    snprintf(r.dir, sizeof r.dir, "/tmp/test_worker_sim.XXXXXX");
    assert_non_null(mkdtemp(r.dir));
    start_fieldsim(&r);
    start_msim(&r);

    len += (size_t)snprintf(text + len, sizeof text - len,
                            "[gateway]\nstate_dir = %s\n"
                            "[modems]\nports = %s/sim/ttyM*\n"
                            "[policy]\nmin_staging_free_kib = 0\n",
                            r.dir, r.dir);
    for (int i = 0; i < MODEMS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "[target port:%s/sim/ttyM%03d]\n"
                                "uri = modbus-tcp://127.0.0.1:%d?unit=%d\n",
                                r.dir, i, r.tcp_port, i + 1);
    assert_int_equal(gw_config_parse(&cfg, "it.ini", text, len, &cerr), 0);

    memset(&app, 0, sizeof app);
    assert_int_equal(uv_loop_init(&loop), 0);
    app.loop = &loop;
    app.cfg = cfg;
    snprintf(path, sizeof path, "%s/sotagw.db", r.dir);
    assert_int_equal(db_open(&app.db, path, DB_OPEN_NO_CHECK), 0);
    snprintf(app.staging_dir, sizeof app.staging_dir, "%s/staging", r.dir);
    memset(&pol, 0, sizeof pol);
    pol.flash_per_bus = 1;
    pol.response_timeout_ms = 1000;
    mb_flash_config_default(&pol.flash);
    assert_int_equal(mb_bus_set_new(&app.buses, &loop, &pol), 0);
    assert_int_equal(app_commit_init(&app), 0);
    for (int i = 0; i < MODEMS; i++) {
        r.slots[i].r = &r;
        snprintf(r.slots[i].path, sizeof r.slots[i].path, "%s/sim/ttyM%03d",
                 r.dir, i);
    }

    end = gw_now_ms() + GUARD_MS;
    while (!msim_done && gw_now_ms() < end) {
        for (int i = 0; i < MODEMS; i++) {
            struct slot *sl = &r.slots[i];

            if (sl->w != NULL && sl->exited) {
                /* the supervisor's part: free, and start again when the
                 * port is back (UNPLUGGED) or at once (FAILED) */
                worker_free(sl->w);
                sl->w = NULL;
                sl->exited = 0;
                restarts++;
            }
            slot_try_start(&r, &app, sl);
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        if (waitpid(r.msim, &status, WNOHANG) == r.msim)
            msim_done = 1;
        else
            usleep(1000);
    }
    if (!msim_done) {
        kill(r.msim, SIGTERM);
        waitpid(r.msim, &status, 0);
    }
    for (int i = 0; i < MODEMS; i++)
        if (r.slots[i].w != NULL && !r.slots[i].exited)
            worker_stop(r.slots[i].w);
    end = gw_now_ms() + 10000;
    for (int i = 0; i < MODEMS; i++) {
        while (r.slots[i].w != NULL && !r.slots[i].exited && gw_now_ms() < end)
            uv_run(&loop, UV_RUN_ONCE);
        worker_free(r.slots[i].w);
    }
    kill(r.fieldsim, SIGTERM);
    waitpid(r.fieldsim, NULL, 0);
    assert_true(msim_done);
    print_message("worker exits: %d\n", restarts);
    check_report(&r, strict_deadlines, want_resume);
    {
        struct db_job jobs[16];
        size_t n = 0, done = 0;

        assert_int_equal(db_job_list(app.db, NULL, 0, jobs, 16, &n), 0);
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].phase != DB_JOB_DONE)
                continue;
            done++;
            assert_string_equal(jobs[i].md5, r.md5);
            assert_string_equal(jobs[i].version, "test000");
        }
        assert_int_equal(done, MODEMS);
    }
    app_commit_cleanup(&app);
    mb_bus_set_free(app.buses);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    db_close(app.db);
    gw_config_free(cfg);
    snprintf(text, sizeof text, "rm -rf -- '%s'", r.dir);
    assert_int_equal(system(text), 0);
}

static void two_modems_upgrade(void **state)
{
    (void)state;
    run_fleet("", 1, 0);
}

static void two_modems_with_faults(void **state)
{
    (void)state;
    /* deadlines are asserted here too: every request the simulator sent
     * was answered within deadline_ms, and none had to be resent */
    run_fleet(",\n \"module_defaults\": {\"faults\": {\"split_lines\": true,"
              " \"noise_permille\": 200, \"corrupt_chunks\": [3],"
              " \"duplicate_chunks\": [5]}},\n"
              " \"modules\": [{\"index\": 0, \"faults\":"
              " {\"reboot_after_chunk\": 8}},\n"
              "  {\"index\": 1, \"faults\": {\"unplug_after_chunk\": 10,"
              " \"unplug_ms\": 1000}}]",
              1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_modems_upgrade),
        cmocka_unit_test(two_modems_with_faults),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
