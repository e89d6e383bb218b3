/* test_core.c: the simulator's pure core under virtual time.
 *
 * These cases need the clock in the test's hand: the resend budget, late
 * answers, the update wait, the latency figures. The end-to-end behaviour
 * over real ptys is covered by the python tests next to this file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msim.h"

#define PKG_LEN 2500u
#define MS      1000u

struct fx {
    struct msim_task task;
    uint8_t pkg[PKG_LEN];
    struct msim_mod *m;
    uint64_t now;
    char out[256 * 1024];
    size_t out_len;
};

static void drain(struct fx *f)
{
    const uint8_t *data;
    size_t n = msim_mod_output_peek(f->m, &data);
    assert_true(f->out_len + n < sizeof(f->out));
    memcpy(f->out + f->out_len, data, n);
    f->out_len += n;
    f->out[f->out_len] = '\0';
    msim_mod_output_done(f->m, n, f->now);
}

/* Advance virtual time to t, ticking at every due point on the way. */
static void run_to(struct fx *f, uint64_t t)
{
    for (;;) {
        uint64_t due = msim_mod_next_due(f->m);
        if (due > t)
            break;
        if (due > f->now)
            f->now = due;
        msim_mod_tick(f->m, f->now);
        drain(f);
    }
    f->now = t;
    msim_mod_tick(f->m, f->now);
    drain(f);
}

static void send(struct fx *f, const char *cmd)
{
    char line[600];
    snprintf(line, sizeof(line), "%s\r", cmd);
    msim_mod_input(f->m, (const uint8_t *)line, strlen(line), f->now);
    drain(f);
}

static const char *after(struct fx *f, size_t *pos)
{
    const char *p = f->out + *pos;
    *pos = f->out_len;
    return p;
}

/* The msgid of the last URC of a kind ("+MIPLREAD:0," ...). */
static unsigned last_msgid(const struct fx *f, const char *kind)
{
    const char *p = f->out, *hit = NULL;
    while ((p = strstr(p, kind)) != NULL)
        hit = p++;
    assert_non_null(hit);
    return (unsigned)strtoul(hit + strlen(kind), NULL, 10);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct msim_mod_cfg cfg;
    assert_non_null(f);
    for (size_t i = 0; i < PKG_LEN; i++)
        f->pkg[i] = (uint8_t)(i * 7u);
    snprintf(f->task.name, sizeof(f->task.name), "t");
    snprintf(f->task.target_version, sizeof(f->task.target_version), "v2");
    f->task.min_battery = 20;
    f->task.package = f->pkg;
    f->task.package_len = PKG_LEN;
    memset(&cfg, 0, sizeof(cfg));
    msim_identity_derive(&cfg.id, 1, 0);
    msim_dialect_defaults(&cfg.dialect);
    msim_faults_defaults(&cfg.faults);
    msim_platform_defaults(&cfg.platform);
    cfg.task = &f->task;
    cfg.rng_seed = 99;
    f->now = 1000000;
    f->task.start_us = f->now;
    f->m = msim_mod_new(&cfg);
    assert_non_null(f->m);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    msim_mod_free(f->m);
    free(f);
    return 0;
}

static void register_mcu(struct fx *f)
{
    send(f, "ATE0");
    send(f, "AT+MIPLCREATE");
    send(f, "AT+MIPLSOTAVER=\"v1\"");
    send(f, "AT+MIPLOPEN=0,600,60");
    /* events 1, 2, 4, 6 after 500+1500+800+1200 ms, the first request
     * 200 ms later: it goes out exactly at the end of this run */
    run_to(f, f->now + 4200 * MS);
    assert_non_null(strstr(f->out, "+MIPLEVENT:0,6"));
    assert_non_null(strstr(f->out, "+MIPLEXECUTE:"));
}

static void test_unanswered_request_resent_then_failed(void **state)
{
    struct fx *f = *state;
    size_t pos = 0;
    register_mcu(f);
    assert_non_null(strstr(f->out, "+MIPLEXECUTE:"));
    unsigned id = last_msgid(f, "+MIPLEXECUTE:0,");
    after(f, &pos);
    /* 3 s later the same request comes again, same msgid; 3 times. */
    for (int i = 0; i < 3; i++) {
        run_to(f, f->now + 2999 * MS);
        assert_string_equal(after(f, &pos), "");
        run_to(f, f->now + 1 * MS);
        const char *p = after(f, &pos);
        char want[64];
        snprintf(want, sizeof(want), "+MIPLEXECUTE:0,%u,5,0,26550", id);
        assert_non_null(strstr(p, want));
    }
    assert_false(msim_mod_finished(f->m));
    run_to(f, f->now + 3000 * MS);
    assert_true(msim_mod_finished(f->m));
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_int_equal(st->outcome, MSIM_OUTCOME_FAILED);
    assert_non_null(strstr(st->reason, "unanswered after 4 sends"));
    assert_int_equal(st->resends, 3);
    assert_int_equal(st->missed_deadlines, 4);
}

static void test_latency_and_late_answer(void **state)
{
    struct fx *f = *state;
    char cmd[64];
    register_mcu(f);
    unsigned id = last_msgid(f, "+MIPLEXECUTE:0,");
    run_to(f, f->now + 12 * MS);
    snprintf(cmd, sizeof(cmd), "AT+MIPLEXECUTERSP=0,%u,2", id);
    send(f, cmd);
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_int_equal(st->n_lat, 1);
    assert_int_equal(st->lat_us[0], 12 * MS);
    /* The space read goes out 30 ms later; answered after 2.5 s, late
     * but within the 3 s deadline and before the resend. */
    run_to(f, f->now + 30 * MS);
    id = last_msgid(f, "+MIPLREAD:0,");
    run_to(f, f->now + 2500 * MS);
    snprintf(cmd, sizeof(cmd),
             "AT+MIPLREADRSP=0,%u,1,3,0,26261,3,3,\"256\",0,0", id);
    send(f, cmd);
    assert_int_equal(st->n_lat, 2);
    assert_int_equal(st->missed_deadlines, 0);
    assert_int_equal(st->violations, 0);
    uint32_t tmp[2] = {st->lat_us[0], st->lat_us[1]};
    assert_int_equal(msim_percentile(tmp, 2, 50), 12 * MS);
    assert_int_equal(msim_percentile(tmp, 2, 100), 2500 * MS);
}

/* Walks the flow up to the chunks with correct answers. */
static void to_chunks(struct fx *f, const char *version)
{
    char cmd[128];
    register_mcu(f);
    snprintf(cmd, sizeof(cmd), "AT+MIPLEXECUTERSP=0,%u,2",
             last_msgid(f, "+MIPLEXECUTE:0,"));
    send(f, cmd);
    run_to(f, f->now + 100 * MS);
    snprintf(cmd, sizeof(cmd),
             "AT+MIPLREADRSP=0,%u,1,3,0,26261,3,3,\"256\",0,0",
             last_msgid(f, "+MIPLREAD:0,"));
    send(f, cmd);
    run_to(f, f->now + 100 * MS);
    snprintf(cmd, sizeof(cmd), "AT+MIPLREADRSP=0,%u,1,3,0,19,1,%zu,\"%s\",0,0",
             last_msgid(f, "+MIPLREAD:0,"), strlen(version), version);
    send(f, cmd);
    if (msim_mod_finished(f->m))
        return;
    run_to(f, f->now + 100 * MS);
    unsigned id = last_msgid(f, "+MIPLREAD:0,");
    snprintf(cmd, sizeof(cmd), "AT+MIPLREADRSP=0,%u,1,5,0,3,3,1,\"0\",2,1", id);
    send(f, cmd);
    snprintf(cmd, sizeof(cmd), "AT+MIPLREADRSP=0,%u,1,5,0,5,3,1,\"0\",1,2", id);
    send(f, cmd);
    snprintf(cmd, sizeof(cmd), "AT+MIPLREADRSP=0,%u,1,5,0,26500,3,1,\"0\",0,0",
             id);
    send(f, cmd);
    run_to(f, f->now + 100 * MS);
    snprintf(cmd, sizeof(cmd), "AT+MIPLREADRSP=0,%u,1,3,0,9,3,2,\"90\",0,0",
             last_msgid(f, "+MIPLREAD:0,"));
    send(f, cmd);
    run_to(f, f->now + 100 * MS);
    assert_non_null(strstr(f->out, ",5,0,26501,0,\"\""));
    send(f, "AT+MIPLSOTA=3");
    run_to(f, f->now + 100 * MS);
}

static void test_write_fail_budget(void **state)
{
    struct fx *f = *state;
    to_chunks(f, "v1");
    /* Fail the first chunk 4 times: the 4th failure ends the task. */
    for (int i = 0; i < 4; i++) {
        assert_false(msim_mod_finished(f->m));
        send(f, "AT+MIPLSOTA=2");
        run_to(f, f->now + 50 * MS);
    }
    assert_true(msim_mod_finished(f->m));
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_int_equal(st->outcome, MSIM_OUTCOME_FAILED);
    assert_int_equal(st->write_fails, 4);
    assert_int_equal(st->chunks_resent, 3);
}

static void test_already_at_target(void **state)
{
    struct fx *f = *state;
    to_chunks(f, "v2");
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_true(msim_mod_finished(f->m));
    assert_int_equal(st->outcome, MSIM_OUTCOME_SUCCESS);
    assert_non_null(strstr(st->reason, "already at target"));
    assert_null(strstr(f->out, "26501"));
}

static void test_update_wait_timeout(void **state)
{
    struct fx *f = *state;
    char cmd[64];
    to_chunks(f, "v1");
    for (int i = 0; i < 3; i++) { /* 2500 bytes: 1024, 1024, 452 */
        send(f, "AT+MIPLSOTA=1");
        run_to(f, f->now + 50 * MS);
    }
    assert_non_null(strstr(f->out, ",452,\r\n\r\n"));
    snprintf(cmd, sizeof(cmd), "AT+MIPLREADRSP=0,%u,1,3,0,9,3,2,\"90\",0,0",
             last_msgid(f, "+MIPLREAD:0,"));
    send(f, cmd);
    run_to(f, f->now + 50 * MS);
    snprintf(cmd, sizeof(cmd), "AT+MIPLEXECUTERSP=0,%u,2",
             last_msgid(f, "+MIPLEXECUTE:0,"));
    send(f, cmd);
    run_to(f, f->now + 299 * 1000 * MS);
    assert_false(msim_mod_finished(f->m));
    run_to(f, f->now + 2000 * MS);
    assert_true(msim_mod_finished(f->m));
    assert_non_null(strstr(msim_mod_stats(f->m)->reason, "AT+MIPLUPDATE"));
}

static void test_output_is_bounded(void **state)
{
    struct fx *f = *state;
    /* Nobody drains: the queue stops at its cap and counts the loss. */
    for (int i = 0; i < 20000; i++)
        msim_mod_input(f->m, (const uint8_t *)"AT+CGSN=1\r", 10, f->now);
    const uint8_t *data;
    assert_true(msim_mod_output_peek(f->m, &data) <= MSIM_OUT_CAP);
    assert_true(msim_mod_stats(f->m)->output_dropped > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_unanswered_request_resent_then_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_and_late_answer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_fail_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_already_at_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_update_wait_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_output_is_bounded, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
