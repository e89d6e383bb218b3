/* test_at_chan.c: the AT channel (dio/at_chan.h) on a pty pair.
 *
 * The channel opens the slave side like a /dev/ttyUSB port; the test plays
 * the module on the master side: it reads what the channel wrote and writes
 * the module's lines, split at awkward points. The loop runs until the
 * condition under test holds; a 5 s guard timer turns a hang into a
 * failure, never into a pass. */
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
#include <unistd.h>

#include <uv.h>

#include "dio/at_chan.h"
#include "gw/err.h"

#define DONE_MAX  32
#define LINES_MAX 16

struct done_rec {
    int rc;
    enum at_final_kind final;
    int code;
    size_t ninfo, dropped;
    char info0[AT_CHAN_INFO_LEN];
    int tag;
};

struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    int guard_fired;
    int master;
    char path[64];
    struct at_chan *ch;
    struct done_rec done[DONE_MAX];
    size_t ndone;
    struct {
        enum at_line_kind kind;
        char text[64];
        size_t len;
    } lines[LINES_MAX];
    size_t nlines;
    int boots, hangups, hangup_err, closed;
    int tags[DONE_MAX];
};

static void on_line(void *ctx, const struct at_line *line)
{
    struct fx *f = ctx;

    assert_true(f->nlines < LINES_MAX);
    f->lines[f->nlines].kind = line->kind;
    f->lines[f->nlines].len = line->len;
    snprintf(f->lines[f->nlines].text, sizeof f->lines[0].text, "%s",
             line->text);
    f->nlines++;
}

static void on_boot(void *ctx, const char *text)
{
    struct fx *f = ctx;

    (void)text;
    f->boots++;
}

static void on_hangup(void *ctx, int err)
{
    struct fx *f = ctx;

    f->hangups++;
    f->hangup_err = err;
}

static const struct at_chan_ops ops = {on_line, on_boot, on_hangup};

static void on_done(void *ctx, int rc, const struct at_reply *r)
{
    int *tag = ctx;
    struct fx *f =
        (struct fx *)((char *)(tag - *tag) - offsetof(struct fx, tags));
    struct done_rec *d;

    assert_true(f->ndone < DONE_MAX);
    d = &f->done[f->ndone++];
    d->rc = rc;
    d->final = r->final;
    d->code = r->code;
    d->ninfo = r->ninfo;
    d->dropped = r->info_dropped;
    d->info0[0] = '\0';
    if (r->ninfo > 0)
        snprintf(d->info0, sizeof d->info0, "%s", r->info[0]);
    d->tag = *tag;
}

static void on_guard(uv_timer_t *t)
{
    struct fx *f = t->data;

    f->guard_fired = 1;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    int slave;

    assert_non_null(f);
    for (int i = 0; i < DONE_MAX; i++)
        f->tags[i] = i;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(openpty(&f->master, &slave, f->path, NULL, NULL), 0);
    assert_int_equal(
        at_chan_open(&f->ch, &f->loop, f->path, 115200, "pty", &ops, f), 0);
    close(slave);
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;
    uv_timer_start(&f->guard, on_guard, 5000, 0);
    *state = f;
    return 0;
}

static void closed_cb(void *ctx)
{
    struct fx *f = ctx;

    f->closed = 1;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f->ch != NULL)
        at_chan_close(f->ch, closed_cb, f);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (f->master >= 0)
        close(f->master);
    free(f);
    return 0;
}

/* Run the loop until *flag reaches want (or the guard fires: failure). */
static void run_until(struct fx *f, const size_t *count, size_t want)
{
    while (*count < want && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_false(f->guard_fired);
}

static void run_until_int(struct fx *f, const int *v, int want)
{
    while (*v < want && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_false(f->guard_fired);
}

/* Read one command (up to CR) from the master and compare it. */
static void expect_cmd(struct fx *f, const char *want)
{
    char buf[512];
    size_t n = 0;

    while (n < sizeof buf - 1) {
        struct pollfd p = {.fd = f->master, .events = POLLIN};
        ssize_t r;

        if (poll(&p, 1, 0) != 1) {
            uv_run(&f->loop, UV_RUN_NOWAIT); /* let a pending write go */
            assert_int_equal(poll(&p, 1, 2000), 1);
        }
        r = read(f->master, buf + n, 1);
        assert_int_equal(r, 1);
        if (buf[n] == '\r')
            break;
        n++;
    }
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void module_says(struct fx *f, const char *text)
{
    size_t len = strlen(text);

    assert_int_equal(write(f->master, text, len), (ssize_t)len);
}

/* The module writes text one byte per loop turn. */
static void module_says_slowly(struct fx *f, const char *text)
{
    for (size_t i = 0; text[i] != '\0'; i++) {
        assert_int_equal(write(f->master, text + i, 1), 1);
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
}

static void ok_split_bytewise(void **state)
{
    struct fx *f = *state;

    assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[1]), 0);
    expect_cmd(f, "AT");
    module_says_slowly(f, "\r\nO");
    assert_int_equal(f->ndone, 0);
    module_says_slowly(f, "K\r\n");
    run_until(f, &f->ndone, 1);
    assert_int_equal(f->done[0].rc, 0);
    assert_int_equal(f->done[0].final, AT_FINAL_OK);
    assert_int_equal(f->done[0].tag, 1);
    assert_int_equal(at_chan_stats(f->ch)->commands, 1);
    assert_int_equal(at_chan_stats(f->ch)->bytes_out, 3);
}

static void info_and_urc_between(void **state)
{
    struct fx *f = *state;

    assert_int_equal(
        at_chan_send(f->ch, "AT+CGSN=1", 1000, on_done, &f->tags[1]), 0);
    /* queued behind the first: goes out only after its final */
    assert_int_equal(at_chan_send(f->ch, "AT+CSQ", 1000, on_done, &f->tags[2]),
                     0);
    assert_int_equal(at_chan_queued(f->ch), 1);
    expect_cmd(f, "AT+CGSN=1");
    module_says(f, "\r\n+CGSN: 863921034569872\r\n"
                   "\r\n+MIPLEVENT:0,6\r\n\r\nOK\r\n");
    run_until(f, &f->ndone, 1);
    assert_int_equal(f->done[0].rc, 0);
    assert_int_equal(f->done[0].ninfo, 1);
    assert_string_equal(f->done[0].info0, "+CGSN: 863921034569872");
    assert_int_equal(f->nlines, 1);
    assert_int_equal(f->lines[0].kind, AT_LINE_URC);
    assert_string_equal(f->lines[0].text, "+MIPLEVENT:0,6");
    expect_cmd(f, "AT+CSQ");
    module_says(f, "\r\n+CSQ: 17,99\r\n\r\n+CME ERROR: 50\r\n");
    run_until(f, &f->ndone, 2);
    assert_int_equal(f->done[1].rc, 0);
    assert_int_equal(f->done[1].final, AT_FINAL_CME_ERROR);
    assert_int_equal(f->done[1].code, 50);
    assert_int_equal(f->done[1].tag, 2);
}

static void timeout_then_stray_final(void **state)
{
    struct fx *f = *state;

    assert_int_equal(at_chan_send(f->ch, "AT+CEREG?", 30, on_done, &f->tags[1]),
                     0);
    assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[2]), 0);
    expect_cmd(f, "AT+CEREG?");
    run_until(f, &f->ndone, 1);
    assert_int_equal(f->done[0].rc, -ETIMEDOUT);
    assert_int_equal(f->done[0].final, AT_FINAL_NONE);
    assert_int_equal(at_chan_stats(f->ch)->timeouts, 1);
    /* the next command went out at once */
    expect_cmd(f, "AT");
    assert_int_equal(f->ndone, 1);
    module_says(f, "\r\nOK\r\n");
    run_until(f, &f->ndone, 2);
    assert_int_equal(f->done[1].rc, 0);
    /* a second, late final has no command: counted and dropped */
    module_says(f, "\r\nOK\r\n");
    while (at_chan_stats(f->ch)->stray_finals == 0 && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(at_chan_stats(f->ch)->stray_finals, 1);
    assert_int_equal(f->ndone, 2);
}

static void expire_gives_up(void **state)
{
    struct fx *f = *state;

    assert_int_equal(at_chan_expire(f->ch), GW_E_STATE);
    assert_int_equal(
        at_chan_send(f->ch, "AT+CGATT?", 10000, on_done, &f->tags[3]), 0);
    expect_cmd(f, "AT+CGATT?");
    assert_int_equal(at_chan_expire(f->ch), 0);
    assert_int_equal(f->ndone, 1);
    assert_int_equal(f->done[0].rc, -ETIMEDOUT);
    assert_false(at_chan_busy(f->ch));
}

static void overlong_line_then_ok(void **state)
{
    struct fx *f = *state;
    char *big = malloc(AT_LINE_MAX + 100);

    assert_non_null(big);
    memset(big, 'A', AT_LINE_MAX + 97);
    memcpy(big + AT_LINE_MAX + 97, "\r\n", 3);
    module_says(f, big);
    free(big);
    assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[1]), 0);
    expect_cmd(f, "AT");
    module_says(f, "OK\r\n");
    run_until(f, &f->ndone, 1);
    assert_int_equal(f->done[0].rc, 0);
    assert_int_equal(f->done[0].final, AT_FINAL_OK);
    assert_int_equal(f->nlines, 1);
    assert_int_equal(f->lines[0].kind, AT_LINE_OVERLONG);
}

static void info_lines_are_bounded(void **state)
{
    struct fx *f = *state;
    char line[300];

    assert_int_equal(at_chan_send(f->ch, "AT+CIMI", 1000, on_done, &f->tags[1]),
                     0);
    expect_cmd(f, "AT+CIMI");
    for (int i = 0; i < AT_CHAN_INFO_MAX + 3; i++)
        module_says(f, "460001234567890\r\n");
    memset(line, '7', sizeof line - 3);
    memcpy(line + sizeof line - 3, "\r\n", 3);
    module_says(f, line);
    module_says(f, "OK\r\n");
    run_until(f, &f->ndone, 1);
    assert_int_equal(f->done[0].ninfo, AT_CHAN_INFO_MAX);
    assert_int_equal(f->done[0].dropped, 4);
    assert_string_equal(f->done[0].info0, "460001234567890");
}

static void boot_banner_resets_commands(void **state)
{
    struct fx *f = *state;

    assert_int_equal(
        at_chan_send(f->ch, "AT+MIPLOPEN=0,600,60", 1000, on_done, &f->tags[1]),
        0);
    assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[2]), 0);
    expect_cmd(f, "AT+MIPLOPEN=0,600,60");
    module_says(f, "\r\nREBOOTING..\r\n");
    run_until_int(f, &f->boots, 1);
    assert_int_equal(f->ndone, 2);
    assert_int_equal(f->done[0].rc, -ECONNRESET);
    assert_int_equal(f->done[1].rc, -ECONNRESET);
    /* *ATREADY and +CFUN: 1 after REBOOTING are banners too */
    module_says(f, "\r\n*ATREADY: 1\r\n\r\n+CFUN: 1\r\n");
    run_until_int(f, &f->boots, 3);
    assert_int_equal(f->nlines, 0);
    assert_int_equal(at_chan_stats(f->ch)->banners, 3);
}

static void cfun_alone_is_no_banner(void **state)
{
    struct fx *f = *state;

    module_says(f, "\r\n+CFUN: 1\r\n");
    run_until(f, &f->nlines, 1);
    assert_int_equal(f->boots, 0);
    assert_int_equal(f->lines[0].kind, AT_LINE_URC);
}

static void hangup_fails_everything(void **state)
{
    struct fx *f = *state;

    assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[1]), 0);
    assert_int_equal(at_chan_send(f->ch, "ATE0", 1000, on_done, &f->tags[2]),
                     0);
    expect_cmd(f, "AT");
    close(f->master);
    f->master = -1;
    run_until_int(f, &f->hangups, 1);
    assert_int_equal(f->ndone, 2);
    assert_int_equal(f->done[0].rc, -EIO);
    assert_int_equal(f->done[1].rc, -EIO);
    assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[3]),
                     GW_E_STATE);
}

static void close_cancels_queued(void **state)
{
    struct fx *f = *state;

    for (int i = 1; i <= 3; i++)
        assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[i]),
                         0);
    at_chan_close(f->ch, closed_cb, f);
    f->ch = NULL;
    assert_int_equal(f->ndone, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->done[i].rc, -ECANCELED);
        assert_int_equal(f->done[i].tag, i + 1);
    }
    run_until_int(f, &f->closed, 1);
}

static void rejects_bad_commands(void **state)
{
    struct fx *f = *state;
    char big[AT_CHAN_CMD_MAX + 8];

    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(at_chan_send(f->ch, big, 1000, on_done, &f->tags[1]),
                     GW_E_TOOLONG);
    assert_int_equal(at_chan_send(f->ch, "", 1000, on_done, &f->tags[1]),
                     GW_E_INVAL);
    assert_int_equal(
        at_chan_send(f->ch, "AT\rATE1", 1000, on_done, &f->tags[1]),
        GW_E_INVAL);
    /* one in flight + AT_CHAN_QUEUE_MAX queued, then full */
    for (int i = 0; i <= AT_CHAN_QUEUE_MAX; i++)
        assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[1]),
                         0);
    assert_int_equal(at_chan_send(f->ch, "AT", 1000, on_done, &f->tags[1]),
                     GW_E_FULL);
    assert_int_equal(f->ndone, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ok_split_bytewise, setup, teardown),
        cmocka_unit_test_setup_teardown(info_and_urc_between, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_then_stray_final, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(expire_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(overlong_line_then_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(info_lines_are_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(boot_banner_resets_commands, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cfun_alone_is_no_banner, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(hangup_fails_everything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(close_cancels_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(rejects_bad_commands, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
