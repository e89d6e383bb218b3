/* test_mb_link_fieldsim.c: the flash planner and its libmodbus executor
 * against fieldsim, a separate process implementing the profile: over TCP
 * and over RTU on a shared pty line, through power cuts, a lossy link,
 * busy periods, a CRC mismatch and a failed APPLY. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "dio/mb_link.h"

#define IMG_SIZE 5000

struct fsim {
    pid_t pid;
    int port; /* TCP port, 0 when none */
    char dir[64];
};

static uint8_t image[IMG_SIZE];
static uint32_t image_crc;

/* Start fieldsim with the given --device specs; wait for "ready". */
static void fsim_start(struct fsim *fs, const char *const *specs, int n)
{
    static char bin[] = FIELDSIM_BIN, opt_dir[] = "--state-dir",
                opt_seed[] = "--seed", seed[] = "7", opt_dev[] = "--device",
                opt_log[] = "--log-level", level[] = "warn";
    char specbuf[8][192];
    char *argv[32];
    int out[2], k = 0;
    FILE *f;
    char line[256];

    assert_true(n <= 8);
    argv[k++] = bin;
    argv[k++] = opt_dir;
    argv[k++] = fs->dir;
    argv[k++] = opt_seed;
    argv[k++] = seed;
    argv[k++] = opt_log;
    argv[k++] = level;
    for (int i = 0; i < n; i++) {
        snprintf(specbuf[i], sizeof specbuf[i], "%s", specs[i]);
        argv[k++] = opt_dev;
        argv[k++] = specbuf[i];
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
    close(out[1]);
    f = fdopen(out[0], "r");
    fs->port = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "fieldsim: tcp 127.0.0.1:");

        if (p)
            fs->port = atoi(p + strlen("fieldsim: tcp 127.0.0.1:"));
        if (strstr(line, "fieldsim: ready"))
            break;
    }
    fclose(f);
}

static void fsim_kill(struct fsim *fs, int sig)
{
    int st;

    if (fs->pid > 0) {
        kill(fs->pid, sig);
        waitpid(fs->pid, &st, 0);
        fs->pid = 0;
    }
}

static modbus_t *tcp_ctx(const struct fsim *fs, int unit)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", fs->port);

    assert_non_null(ctx);
    modbus_set_slave(ctx, unit);
    modbus_set_response_timeout(ctx, 0, 300000);
    assert_int_equal(modbus_connect(ctx), 0);
    return ctx;
}

static void fast_cfg(struct mb_flash_config *cfg)
{
    mb_flash_config_default(cfg);
    cfg->poll_interval_ms = 50;
    cfg->busy_wait_ms = 50;
}

static int setup(void **state)
{
    char cmd[512];
    char path[] = "/tmp/sotagw-mbimg-XXXXXX";
    FILE *p;
    int fd = mkstemp(path);
    unsigned long crc = 0;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s --version 2.0.0 --size %d -o %s", MKIMAGE_BIN,
             IMG_SIZE, path);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "size=%*d crc32=0x%lx", &crc), 1);
    pclose(p);
    image_crc = (uint32_t)crc;
    p = fopen(path, "rb");
    assert_int_equal(fread(image, 1, IMG_SIZE, p), IMG_SIZE);
    fclose(p);
    unlink(path);
    return 0;
}

static void new_dir(struct fsim *fs)
{
    strcpy(fs->dir, "/tmp/sotagw-fsim-XXXXXX");
    assert_non_null(mkdtemp(fs->dir));
}

static void rm_dir(struct fsim *fs)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf %s", fs->dir);
    assert_int_equal(system(cmd), 0);
}

static void flash_tcp(void **state)
{
    const char *spec[] = {"unit=1,tcp=127.0.0.1:0,version=1.0.0,apply_ms=300"};
    struct fsim fs;
    struct mb_flash_config cfg;
    struct mb_flash f;
    struct mb_ident id;
    modbus_t *ctx;

    (void)state;
    new_dir(&fs);
    fsim_start(&fs, spec, 1);
    assert_true(fs.port > 0);
    ctx = tcp_ctx(&fs, 1);
    assert_int_equal(mb_link_read_ident(ctx, &id), 0);
    assert_string_equal(id.sw_version, "1.0.0");
    fast_cfg(&cfg);
    mb_flash_init(&f, &cfg, IMG_SIZE, image_crc, "2.0.0");
    assert_int_equal(mb_link_flash(ctx, &f, image, NULL, NULL), 0);
    assert_int_equal(f.result, MB_FLASH_SUCCESS);
    assert_string_equal(f.new_version, "2.0.0");
    assert_int_equal(f.blocks_sent, (IMG_SIZE + 239) / 240);
    assert_int_equal(mb_link_read_ident(ctx, &id), 0);
    assert_string_equal(id.sw_version, "2.0.0");
    assert_int_equal(id.state, MB_DEV_IDLE);
    modbus_close(ctx);
    modbus_free(ctx);
    fsim_kill(&fs, SIGTERM);
    rm_dir(&fs);
}

/* Power cut after the 8th block is stored but before its reply: the
 * gateway gives up on the dead link; after the device is back, a new flash
 * resumes from the device's `received` (8 blocks) and sends only the rest:
 * nothing the device acknowledged, nor the stored block, goes again. */
static void power_cut_resumes(void **state)
{
    const char *spec1[] = {
        "unit=1,tcp=127.0.0.1:0,apply_ms=200,die_block_stored=8"};
    const char *spec2[] = {"unit=1,tcp=127.0.0.1:0,apply_ms=200"};
    struct fsim fs;
    struct mb_flash_config cfg;
    struct mb_flash f;
    struct mb_ident id;
    modbus_t *ctx;
    int st;

    (void)state;
    new_dir(&fs);
    fsim_start(&fs, spec1, 1);
    ctx = tcp_ctx(&fs, 1);
    fast_cfg(&cfg);
    mb_flash_init(&f, &cfg, IMG_SIZE, image_crc, "2.0.0");
    assert_int_equal(mb_link_flash(ctx, &f, image, NULL, NULL), 0);
    assert_int_equal(f.result, MB_FLASH_FAILED);
    assert_int_equal(f.acked, 7 * 240);
    modbus_close(ctx);
    modbus_free(ctx);
    waitpid(fs.pid, &st, 0); /* it died by itself */
    fs.pid = 0;

    fsim_start(&fs, spec2, 1);
    ctx = tcp_ctx(&fs, 1);
    assert_int_equal(mb_link_read_ident(ctx, &id), 0);
    assert_int_equal(id.state, MB_DEV_RECEIVING);
    assert_int_equal(id.received, 8 * 240);
    mb_flash_init(&f, &cfg, IMG_SIZE, image_crc, "2.0.0");
    assert_int_equal(mb_link_flash(ctx, &f, image, NULL, NULL), 0);
    assert_int_equal(f.result, MB_FLASH_SUCCESS);
    assert_true(f.resumed);
    assert_int_equal(f.resumed_from, 8 * 240);
    assert_int_equal(f.blocks_sent, (IMG_SIZE + 239) / 240 - 8);
    modbus_close(ctx);
    modbus_free(ctx);
    fsim_kill(&fs, SIGTERM);
    rm_dir(&fs);
}

static void lossy_link_completes(void **state)
{
    const char *spec[] = {"unit=1,tcp=127.0.0.1:0,apply_ms=200,"
                          "drop_p=0.1,ignore_p=0.05,busy_p=0.05"};
    struct fsim fs;
    struct mb_flash_config cfg;
    struct mb_flash f;
    modbus_t *ctx;

    (void)state;
    new_dir(&fs);
    fsim_start(&fs, spec, 1);
    ctx = tcp_ctx(&fs, 1);
    fast_cfg(&cfg);
    cfg.tries = 6;
    mb_flash_init(&f, &cfg, IMG_SIZE, image_crc, "2.0.0");
    assert_int_equal(mb_link_flash(ctx, &f, image, NULL, NULL), 0);
    assert_int_equal(f.result, MB_FLASH_SUCCESS);
    assert_true(f.retries + f.busy_waits > 0);
    print_message("lossy link: %u blocks, %u retries, %u busy waits\n",
                  f.blocks_sent, f.retries, f.busy_waits);
    modbus_close(ctx);
    modbus_free(ctx);
    fsim_kill(&fs, SIGTERM);
    rm_dir(&fs);
}

static void device_faults(void **state)
{
    static const struct {
        const char *spec;
        enum mb_flash_result want;
        const char *reason_part;
    } cases[] = {
        {"unit=1,tcp=127.0.0.1:0,verify_fail=1", MB_FLASH_INTEGRITY,
         "CRC mismatch"},
        {"unit=1,tcp=127.0.0.1:0,apply_fail=1,apply_ms=200", MB_FLASH_FAILED,
         "keeps '1.0.0'"},
        {"unit=1,tcp=127.0.0.1:0,busy_ms=400,apply_ms=200", MB_FLASH_SUCCESS,
         "applied"},
        {"unit=1,tcp=127.0.0.1:0,free_kib=4", MB_FLASH_NO_SPACE, "exceeds"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *spec[] = {cases[i].spec};
        struct fsim fs;
        struct mb_flash_config cfg;
        struct mb_flash f;
        modbus_t *ctx;

        new_dir(&fs);
        fsim_start(&fs, spec, 1);
        ctx = tcp_ctx(&fs, 1);
        fast_cfg(&cfg);
        mb_flash_init(&f, &cfg, IMG_SIZE, image_crc, "2.0.0");
        assert_int_equal(mb_link_flash(ctx, &f, image, NULL, NULL), 0);
        if (f.result != cases[i].want ||
            !strstr(f.reason, cases[i].reason_part))
            fail_msg("%s: result %d (%s)", cases[i].spec, f.result, f.reason);
        modbus_close(ctx);
        modbus_free(ctx);
        fsim_kill(&fs, SIGTERM);
        rm_dir(&fs);
    }
}

/* Two devices on one RS-485 line (a pty): flash unit 2, unit 3 untouched. */
static void rtu_shared_line(void **state)
{
    char s2[192], s3[192], line[96];
    const char *spec[2] = {s2, s3};
    struct fsim fs;
    struct mb_flash_config cfg;
    struct mb_flash f;
    struct mb_ident id;
    modbus_t *ctx;

    (void)state;
    new_dir(&fs);
    snprintf(line, sizeof line, "%s/ttyFS0", fs.dir);
    snprintf(s2, sizeof s2, "unit=2,rtu=%s,apply_ms=200,version=a", line);
    snprintf(s3, sizeof s3, "unit=3,rtu=%s,version=b", line);
    fsim_start(&fs, spec, 2);
    ctx = modbus_new_rtu(line, 115200, 'N', 8, 1);
    assert_non_null(ctx);
    modbus_set_response_timeout(ctx, 0, 300000);
    assert_int_equal(modbus_connect(ctx), 0);
    modbus_set_slave(ctx, 2);
    fast_cfg(&cfg);
    mb_flash_init(&f, &cfg, IMG_SIZE, image_crc, "2.0.0");
    assert_int_equal(mb_link_flash(ctx, &f, image, NULL, NULL), 0);
    assert_int_equal(f.result, MB_FLASH_SUCCESS);
    modbus_set_slave(ctx, 3);
    assert_int_equal(mb_link_read_ident(ctx, &id), 0);
    assert_string_equal(id.sw_version, "b");
    assert_int_equal(id.state, MB_DEV_IDLE);
    modbus_close(ctx);
    modbus_free(ctx);
    fsim_kill(&fs, SIGTERM);
    rm_dir(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flash_tcp),
        cmocka_unit_test(power_cut_resumes),
        cmocka_unit_test(lossy_link_completes),
        cmocka_unit_test(device_faults),
        cmocka_unit_test(rtu_shared_line),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, NULL);
}
