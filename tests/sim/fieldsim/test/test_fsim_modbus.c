/* test_fsim_modbus.c: fieldsim end to end, through a libmodbus client, over
 * the whole profile: BEGIN, blocks, retransmission, out-of-order, resume
 * after SIGKILL and restart, VERIFY, APPLY, ABORT, faults, RTU with two
 * unit ids on one pty, and 1024 devices in one process.
 *
 * Each test starts fieldsim in a fresh state directory and reads the
 * endpoints it prints. Waiting for the device (VERIFY, APPLY) polls with a
 * generous bound; nothing asserts on elapsed time. */
#define _GNU_SOURCE

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <modbus.h>

#include "fsim_image.h"

#define IMG_SIZE  500
#define IMG_CRC   0x1C291CA3u
#define WAIT_MS   8000
#define PORTS_MAX 1100
#define LINES_MAX 16

struct sim {
    pid_t pid;
    char dir[64];
    int port;             /* the last TCP endpoint printed */
    char rtu[128];        /* the last RTU line printed */
    int ports[PORTS_MAX]; /* every TCP endpoint, in order */
    size_t nports;
    char lines[LINES_MAX][128];
    size_t nlines;
    modbus_t *mb;
    uint8_t img[IMG_SIZE];
};

/* Start fieldsim with the given --device specs ("%D" in a spec is replaced
 * by the state directory). */
static void sim_start(struct sim *s, const char *const *specs, size_t n)
{
    char **argv = calloc(2 * n + 6, sizeof *argv);
    char(*specbuf)[256] = calloc(n, sizeof *specbuf);
    int fds[2];
    FILE *out;
    char line[512];
    size_t i;
    size_t a = 0;

    s->port = 0;
    s->rtu[0] = '\0';
    s->nports = 0;
    s->nlines = 0;
    assert_non_null(argv);
    assert_non_null(specbuf);
    argv[a++] = (char *)FSIM_BIN;
    argv[a++] = (char *)"--state-dir";
    argv[a++] = s->dir;
    argv[a++] = (char *)"--log-level";
    argv[a++] = (char *)(getenv("FSIM_DEBUG") ? "debug" : "warn");
    for (i = 0; i < n; i++) {
        const char *d = strstr(specs[i], "%D");

        if (d)
            snprintf(specbuf[i], sizeof specbuf[i], "%.*s%s%s",
                     (int)(d - specs[i]), specs[i], s->dir, d + 2);
        else
            snprintf(specbuf[i], sizeof specbuf[i], "%s", specs[i]);
        argv[a++] = (char *)"--device";
        argv[a++] = specbuf[i];
    }
    argv[a] = NULL;
    assert_int_equal(pipe(fds), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(FSIM_BIN, argv);
        _exit(127);
    }
    close(fds[1]);
    out = fdopen(fds[0], "r");
    assert_non_null(out);
    while (fgets(line, sizeof line, out)) {
        char link[128];

        if (sscanf(line, "fieldsim: tcp 127.0.0.1:%d", &s->port) == 1) {
            if (s->nports < PORTS_MAX)
                s->ports[s->nports++] = s->port;
            continue;
        }
        if (sscanf(line, "fieldsim: rtu %127s", link) == 1) {
            snprintf(s->rtu, sizeof s->rtu, "%s", link);
            if (s->nlines < LINES_MAX)
                snprintf(s->lines[s->nlines++], sizeof s->lines[0], "%s", link);
        }
        if (strncmp(line, "fieldsim: ready", 15) == 0)
            break;
    }
    fclose(out);
    free(argv);
    free(specbuf);
}

static void sim_kill(struct sim *s, int sig)
{
    int st;

    if (s->pid > 0) {
        kill(s->pid, sig);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
}

static void client_close(struct sim *s)
{
    if (s->mb) {
        modbus_close(s->mb);
        modbus_free(s->mb);
        s->mb = NULL;
    }
}

static void client_tcp(struct sim *s, int unit, uint32_t timeout_ms)
{
    client_close(s);
    assert_true(s->port > 0);
    s->mb = modbus_new_tcp("127.0.0.1", s->port);
    assert_non_null(s->mb);
    assert_int_equal(modbus_connect(s->mb), 0);
    modbus_set_slave(s->mb, unit);
    modbus_set_response_timeout(s->mb, 0, timeout_ms * 1000);
}

static int setup(void **state)
{
    struct sim *s = calloc(1, sizeof *s);
    size_t pos;

    assert_non_null(s);
    snprintf(s->dir, sizeof s->dir, "/tmp/fsim-test-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    assert_int_equal(fsim_image_make(s->img, IMG_SIZE, "2.0.0", 7), 0);
    assert_int_equal(fsim_image_crc_patch_pos(IMG_SIZE, &pos), 0);
    assert_int_equal(fsim_image_force_crc(s->img, IMG_SIZE, pos, IMG_CRC), 0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct sim *s = *state;
    char cmd[128];

    client_close(s);
    sim_kill(s, SIGTERM);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s->dir);
    free(s);
    return 0;
}

/* ---- profile operations ------------------------------------------------ */

static int read_ir(struct sim *s, uint16_t *ir)
{
    return modbus_read_input_registers(s->mb, 0, 28, ir) == 28 ? 0 : -errno;
}

static uint32_t u32(const uint16_t *r)
{
    return ((uint32_t)r[0] << 16) | r[1];
}

static int begin(struct sim *s, uint32_t size, uint32_t crc)
{
    uint16_t r[5] = {1, (uint16_t)(size >> 16), (uint16_t)size,
                     (uint16_t)(crc >> 16), (uint16_t)crc};

    return modbus_write_registers(s->mb, 256, 5, r) == 5 ? 0 : -errno;
}

static int command(struct sim *s, uint16_t cmd)
{
    return modbus_write_registers(s->mb, 256, 1, &cmd) == 1 ? 0 : -errno;
}

static int block(struct sim *s, uint32_t off, const uint8_t *p, uint16_t len)
{
    uint16_t r[123];
    int n = 3 + (len + 1) / 2;
    uint16_t i;

    memset(r, 0, sizeof r);
    r[0] = (uint16_t)(off >> 16);
    r[1] = (uint16_t)off;
    r[2] = len;
    for (i = 0; i < len; i++)
        r[3 + i / 2] |= (uint16_t)(i % 2 ? p[i] : p[i] << 8);
    return modbus_write_registers(s->mb, 512, n, r) == n ? 0 : -errno;
}

/* Length of the block at `off` for blocks of at most `max` bytes. */
static uint16_t blen_max(uint32_t off, uint16_t max)
{
    return (uint16_t)(IMG_SIZE - off < max ? IMG_SIZE - off : max);
}

static uint16_t blen(uint32_t off)
{
    return blen_max(off, 240);
}

/* Poll the identity block until state is `want` (errors and other states:
 * keep polling) or WAIT_MS passes. Leaves the last registers read in ir. */
static int wait_state(struct sim *s, uint16_t want, uint16_t *ir)
{
    int waited;

    for (waited = 0; waited < WAIT_MS; waited += 20) {
        if (read_ir(s, ir) == 0 && ir[20] == want)
            return 0;
        usleep(20000);
    }
    return -1;
}

static void version_of(const uint16_t *ir, char *out)
{
    int i;

    for (i = 0; i < 32; i++)
        out[i] = (char)(i % 2 == 0 ? ir[1 + i / 2] >> 8 : ir[1 + i / 2]);
    out[32] = '\0';
}

static void send_all(struct sim *s)
{
    uint32_t off;

    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    for (off = 0; off < IMG_SIZE; off += blen(off))
        assert_int_equal(block(s, off, s->img + off, blen(off)), 0);
}

static const char *const one_tcp[] = {
    "unit=1,tcp=127.0.0.1:0,version=1.0.0,verify_ms=100,apply_ms=300"};

/* ---- tests ------------------------------------------------------------- */

/* The profile's worked example: 500 bytes, CRC-32 0x1C291CA3, blocks of
 * 240, 240 and 20 bytes; the device comes back with the marker's version. */
static void test_identity_and_worked_example(void **state)
{
    struct sim *s = *state;
    uint16_t ir[28];
    char v[33];
    uint32_t off;

    sim_start(s, one_tcp, 1);
    client_tcp(s, 1, 1000);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[0], 0x5301);
    version_of(ir, v);
    assert_string_equal(v, "1.0.0");
    assert_int_equal(ir[17], 0xFFFF);
    assert_int_equal(ir[18], 256);
    assert_int_equal(ir[19], 240);
    assert_int_equal(ir[20], 0);

    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 1);
    assert_int_equal(u32(&ir[22]), 0);
    assert_int_equal(u32(&ir[24]), IMG_SIZE);
    assert_int_equal(u32(&ir[26]), IMG_CRC);
    for (off = 0; off < IMG_SIZE; off += blen(off)) {
        assert_int_equal(block(s, off, s->img + off, blen(off)), 0);
        assert_int_equal(read_ir(s, ir), 0);
        assert_int_equal(u32(&ir[22]), off + blen(off));
    }
    assert_int_equal(command(s, 2), 0);
    assert_int_equal(wait_state(s, 3, ir), 0);
    assert_int_equal(command(s, 3), 0);
    assert_int_equal(wait_state(s, 0, ir), 0);
    version_of(ir, v);
    assert_string_equal(v, "2.0.0");
    assert_int_equal(ir[21], 0);
}

static void test_retransmission_and_order(void **state)
{
    struct sim *s = *state;
    uint16_t ir[28];
    uint8_t bad[240];

    sim_start(s, one_tcp, 1);
    client_tcp(s, 1, 1000);
    /* A block before BEGIN and commands in the wrong state: 03. */
    assert_int_equal(block(s, 0, s->img, 240), -EMBXILVAL);
    assert_int_equal(command(s, 2), -EMBXILVAL);
    assert_int_equal(command(s, 3), -EMBXILVAL);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 0);
    assert_int_equal(ir[21], 0);

    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    assert_int_equal(block(s, 0, s->img, 240), 0);
    assert_int_equal(block(s, 240, s->img + 240, 240), 0);
    /* The reply to block 2 was "lost": the gateway sends it again. */
    assert_int_equal(block(s, 240, s->img + 240, 240), 0);
    assert_int_equal(block(s, 0, s->img, 240), 0);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(u32(&ir[22]), 480);
    assert_int_equal(ir[21], 0);
    /* Same place, other bytes: rejected, error 1, nothing else changes. */
    memset(bad, 0x5A, sizeof bad);
    assert_int_equal(block(s, 240, bad, 240), -EMBXILVAL);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 1);
    assert_int_equal(ir[21], 1);
    assert_int_equal(u32(&ir[22]), 480);
    /* Out of order (a gap), too long, past the end: rejected. */
    assert_int_equal(block(s, 490, s->img + 490, 10), -EMBXILVAL);
    assert_int_equal(block(s, 480, s->img + 480, 22), -EMBXILVAL);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(u32(&ir[22]), 480);
    assert_int_equal(block(s, 480, s->img + 480, 20), 0);
    assert_int_equal(block(s, 500, s->img, 2), -EMBXILVAL);
    /* APPLY before VERIFY: 03. */
    assert_int_equal(command(s, 3), -EMBXILVAL);
    /* ABORT: state 0, error 7, received 0. */
    assert_int_equal(command(s, 4), 0);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 0);
    assert_int_equal(ir[21], 7);
    assert_int_equal(u32(&ir[22]), 0);
    /* Register addresses outside the profile: 02. */
    assert_int_equal(modbus_read_input_registers(s->mb, 20, 9, ir), -1);
    assert_int_equal(errno, EMBXILADD);
}

static void test_resume_after_kill(void **state)
{
    struct sim *s = *state;
    uint16_t ir[28];

    sim_start(s, one_tcp, 1);
    client_tcp(s, 1, 1000);
    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    assert_int_equal(block(s, 0, s->img, 240), 0);
    assert_int_equal(block(s, 240, s->img + 240, 240), 0);
    sim_kill(s, SIGKILL); /* power cut */
    sim_start(s, one_tcp, 1);
    client_tcp(s, 1, 1000);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 1);
    assert_int_equal(u32(&ir[22]), 480);
    assert_int_equal(u32(&ir[24]), IMG_SIZE);
    assert_int_equal(u32(&ir[26]), IMG_CRC);
    /* Same size and crc: a resume, nothing erased. */
    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(u32(&ir[22]), 480);
    assert_int_equal(block(s, 480, s->img + 480, 20), 0);
    assert_int_equal(command(s, 2), 0);
    assert_int_equal(wait_state(s, 3, ir), 0);
    /* Another crc: a new transfer from zero. */
    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC ^ 1u), 0);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 1);
    assert_int_equal(u32(&ir[22]), 0);
}

/* Power loss while a block is in flight: only the unacknowledged block may
 * be lost, and a stored-but-unacknowledged block is accepted again. */
static void test_power_loss_mid_block(void **state)
{
    struct sim *s = *state;
    static const char *const die_stored[] = {
        "unit=1,tcp=127.0.0.1:0,die_block_stored=2"};
    static const char *const die_before[] = {
        "unit=1,tcp=127.0.0.1:0,die_block=1"};
    uint16_t ir[28];
    int st;
    int rc;

    sim_start(s, die_stored, 1);
    client_tcp(s, 1, 500);
    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    assert_int_equal(block(s, 0, s->img, 240), 0);
    rc = block(s, 240, s->img + 240, 240);
    /* The kernel closes a dead process's socket: a reset, or silence. */
    assert_true(rc == -ETIMEDOUT || rc == -ECONNRESET);
    assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    s->pid = 0;

    sim_start(s, die_before, 1);
    client_tcp(s, 1, 500);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(u32(&ir[22]), 480);
    assert_int_equal(block(s, 240, s->img + 240, 240), 0);
    /* This run dies on its first new block, before storing it. */
    rc = block(s, 480, s->img + 480, 20);
    assert_true(rc == -ETIMEDOUT || rc == -ECONNRESET);
    assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
    s->pid = 0;

    sim_start(s, one_tcp, 1);
    client_tcp(s, 1, 1000);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 1);
    assert_int_equal(u32(&ir[22]), 480);
    assert_int_equal(block(s, 480, s->img + 480, 20), 0);
    assert_int_equal(command(s, 2), 0);
    assert_int_equal(wait_state(s, 3, ir), 0);
}

static void test_verify_and_apply_failures(void **state)
{
    struct sim *s = *state;
    static const char *const faulty[] = {
        "unit=1,tcp=127.0.0.1:0,verify_fail=1,apply_fail=1,verify_ms=50,"
        "apply_ms=200"};
    uint16_t ir[28];
    char v[33];

    sim_start(s, faulty, 1);
    client_tcp(s, 1, 1000);
    send_all(s);
    assert_int_equal(command(s, 2), 0);
    assert_int_equal(wait_state(s, 5, ir), 0);
    assert_int_equal(ir[21], 2);
    /* From state 5 VERIFY is refused; BEGIN starts over. */
    assert_int_equal(command(s, 2), -EMBXILVAL);
    send_all(s);
    assert_int_equal(command(s, 2), 0);
    assert_int_equal(wait_state(s, 3, ir), 0);
    assert_int_equal(command(s, 3), 0);
    assert_int_equal(wait_state(s, 5, ir), 0);
    assert_int_equal(ir[21], 6);
    version_of(ir, v);
    assert_string_equal(v, "1.0.0");

    /* A real mismatch: BEGIN announced another CRC. */
    assert_int_equal(begin(s, IMG_SIZE, 0x12345678u), 0);
    assert_int_equal(block(s, 0, s->img, 240), 0);
    assert_int_equal(block(s, 240, s->img + 240, 240), 0);
    assert_int_equal(block(s, 480, s->img + 480, 20), 0);
    assert_int_equal(command(s, 2), 0);
    assert_int_equal(wait_state(s, 5, ir), 0);
    assert_int_equal(ir[21], 2);
}

static void test_busy_low_battery_small_flash(void **state)
{
    struct sim *s = *state;
    static const char *const busy[] = {
        "unit=1,tcp=127.0.0.1:0,busy_ms=2000,battery=7,free_kib=1"};
    uint16_t ir[28];
    int rc = -1;
    int tries;

    sim_start(s, busy, 1);
    client_tcp(s, 1, 1000);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[17], 7);
    assert_int_equal(ir[18], 1);
    /* Larger than free space: 03, state 5, error 4. */
    assert_int_equal(begin(s, 1025, 1), -EMBXILVAL);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 5);
    assert_int_equal(ir[21], 4);
    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    /* Erasing: exception 06 to everything for a while, then answers. */
    assert_int_equal(read_ir(s, ir), -EMBXSBUSY);
    assert_int_equal(block(s, 0, s->img, 240), -EMBXSBUSY);
    for (tries = 0; rc != 0 && tries < WAIT_MS / 20; tries++) {
        rc = block(s, 0, s->img, 240);
        if (rc == -EMBXSBUSY)
            usleep(20000);
        else
            assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(u32(&ir[22]), 240);
}

/* Lost requests and lost replies (seeded): a client that retries like the
 * gateway must (re-read `received` after a failure) still completes, and
 * the faults are seen. */
static void test_lossy_link(void **state)
{
    struct sim *s = *state;
    static const char *const lossy[] = {
        "unit=1,tcp=127.0.0.1:0,ignore_p=0.2,drop_p=0.2,verify_ms=0,"
        "max_block=32"};
    uint16_t ir[28];
    uint16_t len;
    uint32_t off = 0;
    int failures = 0;
    int timeouts = 0;
    int rc;

    sim_start(s, lossy, 1);
    client_tcp(s, 1, 150);
    while (begin(s, IMG_SIZE, IMG_CRC) != 0)
        assert_true(++failures < 20);
    while (off < IMG_SIZE) {
        len = blen_max(off, 32);
        rc = block(s, off, s->img + off, len);
        if (rc == 0) {
            off += len;
            continue;
        }
        assert_true(++failures < 100);
        if (rc == -ETIMEDOUT) {
            timeouts++;
            modbus_flush(s->mb);
        } else {
            assert_int_equal(rc, -EMBXILVAL);
        }
        if (read_ir(s, ir) == 0)
            off = u32(&ir[22]);
    }
    assert_true(timeouts > 0);
    while (command(s, 2) != 0 && (read_ir(s, ir) != 0 || ir[20] != 3))
        assert_true(++failures < 120);
    while (read_ir(s, ir) != 0)
        assert_true(++failures < 140);
    assert_int_equal(ir[20], 3);
    assert_int_equal(u32(&ir[22]), IMG_SIZE);
}

static void test_rtu_two_units(void **state)
{
    struct sim *s = *state;
    static const char *const two[] = {
        "unit=5,rtu=%D/ttyFS0,version=5.5",
        "unit=6,rtu=%D/ttyFS0,version=6.6,max_block=128"};
    uint16_t ir[28];
    char v[33];

    sim_start(s, two, 2);
    assert_true(s->rtu[0] != '\0');
    s->mb = modbus_new_rtu(s->rtu, 115200, 'N', 8, 1);
    assert_non_null(s->mb);
    assert_int_equal(modbus_connect(s->mb), 0);
    modbus_set_response_timeout(s->mb, 0, 500000);
    modbus_set_slave(s->mb, 5);
    assert_int_equal(read_ir(s, ir), 0);
    version_of(ir, v);
    assert_string_equal(v, "5.5");
    assert_int_equal(begin(s, IMG_SIZE, IMG_CRC), 0);
    assert_int_equal(block(s, 0, s->img, 240), 0);
    modbus_set_slave(s->mb, 6);
    assert_int_equal(read_ir(s, ir), 0);
    version_of(ir, v);
    assert_string_equal(v, "6.6");
    assert_int_equal(ir[19], 128);
    assert_int_equal(ir[20], 0);
    /* Nobody at unit 7: silence, and the bus still works afterwards. */
    modbus_set_slave(s->mb, 7);
    assert_int_equal(read_ir(s, ir), -ETIMEDOUT);
    modbus_set_slave(s->mb, 5);
    assert_int_equal(read_ir(s, ir), 0);
    assert_int_equal(ir[20], 1);
    assert_int_equal(u32(&ir[22]), 240);
    /* SIGTERM removes the link. */
    client_close(s);
    sim_kill(s, SIGTERM);
    assert_int_equal(access(s->rtu, F_OK), -1);
}

/* 1024 devices in one process: 1000 on their own TCP ports (unit ids
 * 1..247 repeat across ports, each device with its own state files) and
 * 24 on 8 RTU lines. Every one answers its identity with its own version.
 * Needs more than 1024 descriptors in fieldsim (a state file per device,
 * a listener per port), and no select() on any of the high ones. */
#define FLEET_TCP      1000
#define FLEET_LINES    8
#define FLEET_PER_LINE 3

static void test_fleet_1024(void **state)
{
    struct sim *s = *state;
    size_t n = FLEET_TCP + FLEET_LINES * FLEET_PER_LINE, k = 0, i;
    char(*text)[96] = calloc(n, sizeof *text);
    const char **specs = calloc(n, sizeof *specs);
    char path[128], want[16], v[33];
    uint16_t ir[28];

    assert_non_null(text);
    assert_non_null(specs);
    for (i = 0; i < FLEET_TCP; i++)
        snprintf(text[k++], sizeof text[0],
                 "unit=%zu,tcp=127.0.0.1:0,version=t%zu", i % 247 + 1, i);
    for (i = 0; i < FLEET_LINES * FLEET_PER_LINE; i++)
        snprintf(text[k++], sizeof text[0],
                 "unit=%zu,rtu=%%D/ttyL%zu,"
                 "version=r%zu",
                 i % FLEET_PER_LINE + 1, i / FLEET_PER_LINE, i);
    for (i = 0; i < n; i++)
        specs[i] = text[i];
    assert_int_equal(n, 1024);
    sim_start(s, specs, n);
    assert_int_equal(s->nports, FLEET_TCP);
    assert_int_equal(s->nlines, FLEET_LINES);

    for (i = 0; i < FLEET_TCP; i++) {
        s->port = s->ports[i];
        client_tcp(s, (int)(i % 247 + 1), 1000);
        assert_int_equal(read_ir(s, ir), 0);
        version_of(ir, v);
        snprintf(want, sizeof want, "t%zu", i);
        assert_string_equal(v, want);
    }
    client_close(s);
    for (i = 0; i < FLEET_LINES * FLEET_PER_LINE; i++) {
        if (i % FLEET_PER_LINE == 0) {
            client_close(s);
            s->mb =
                modbus_new_rtu(s->lines[i / FLEET_PER_LINE], 115200, 'N', 8, 1);
            assert_non_null(s->mb);
            assert_int_equal(modbus_connect(s->mb), 0);
            modbus_set_response_timeout(s->mb, 0, 500000);
        }
        modbus_set_slave(s->mb, (int)(i % FLEET_PER_LINE + 1));
        assert_int_equal(read_ir(s, ir), 0);
        version_of(ir, v);
        snprintf(want, sizeof want, "r%zu", i);
        assert_string_equal(v, want);
    }
    client_close(s);
    /* Unit 1 is on ports 0, 247, 494, 741 and 988 (and on every line):
     * state files unit-1.*, unit-1-2.* ... */
    snprintf(path, sizeof path, "%s/unit-1-5.img", s->dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/unit-1-13.img", s->dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/unit-1-14.img", s->dir);
    assert_int_equal(access(path, F_OK), -1);
    free(specs);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_and_worked_example, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retransmission_and_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_kill, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_power_loss_mid_block, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_and_apply_failures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_busy_low_battery_small_flash,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lossy_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rtu_two_units, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_1024, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
