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
    struct msim_mod_cfg cfg;
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
    f->cfg = cfg;
    f->m = msim_mod_new(&cfg);
    assert_non_null(f->m);
    *state = f;
    return 0;
}

/* A fresh module with f->cfg as the test changed it; output forgotten. */
static void remake(struct fx *f)
{
    msim_mod_free(f->m);
    f->m = msim_mod_new(&f->cfg);
    assert_non_null(f->m);
    f->out_len = 0;
    f->out[0] = '\0';
}

/* Adversarial timing with the given knobs, under rng seed. */
static void adversarial(struct fx *f, uint64_t seed, unsigned delay_ms,
                        unsigned early, unsigned dup, unsigned inter)
{
    msim_timing_adversarial(&f->cfg.timing);
    f->cfg.timing.max_delay_ms = delay_ms;
    f->cfg.timing.early_permille = early;
    f->cfg.timing.duplicate_permille = dup;
    f->cfg.timing.interleave_permille = inter;
    f->cfg.rng_seed = seed;
    remake(f);
}

/* Occurrences of needle in the output from pos on. */
static unsigned count_in(const struct fx *f, size_t pos, const char *needle)
{
    unsigned n = 0;
    for (const char *p = f->out + pos; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Offset of the first needle at or after pos; -1 if none. */
static long find_from(const struct fx *f, size_t pos, const char *needle)
{
    const char *p = strstr(f->out + pos, needle);
    return p == NULL ? -1 : (long)(p - f->out);
}

/* Virtual time runs in 10 ms steps until needle shows up after pos
 * (at most limit_ms); returns its offset. */
static long run_until(struct fx *f, size_t pos, const char *needle,
                      unsigned limit_ms)
{
    for (unsigned t = 0; t <= limit_ms; t += 10) {
        long at = find_from(f, pos, needle);
        if (at >= 0)
            return at;
        run_to(f, f->now + 10 * MS);
    }
    fail_msg("no \"%s\" within %u ms", needle, limit_ms);
    return -1;
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
    if (f->cfg.timing.adversarial) { /* the events come at random */
        run_until(f, 0, "+MIPLEVENT:0,6", 10000);
        run_until(f, 0, "+MIPLEXECUTE:", 10000);
    }
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

/* Walks the flow up to the erase (5/0/26501 sent) with correct answers. */
static void to_chunks_erase(struct fx *f, const char *version)
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
}

/* Walks the flow up to the chunks with correct answers. */
static void to_chunks(struct fx *f, const char *version)
{
    to_chunks_erase(f, version);
    if (msim_mod_finished(f->m))
        return;
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

/* ---- adversarial timing ------------------------------------------------ */

/* CREATE, SOTAVER, OPEN; then virtual time until the 6 (at most 10 s). */
static void open_instance(struct fx *f)
{
    size_t pos = f->out_len;
    send(f, "AT+MIPLCREATE");
    send(f, "AT+MIPLSOTAVER=\"v1\"");
    send(f, "AT+MIPLOPEN=0,600,60");
    run_until(f, pos, "+MIPLEVENT:0,6", 10000);
}

/* The 15 of a deleted instance comes late: never before DELETE's final
 * when early printing is off, within max_delay_ms, for some seeds after
 * the next OPEN's OK; and the new instance is registered all the same:
 * the platform's first request follows its 6. */
static void test_late_event_15(void **state)
{
    struct fx *f = *state;
    unsigned after_open = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        adversarial(f, seed, 300, 0, 0, 0);
        send(f, "ATE0");
        open_instance(f);
        size_t pos = f->out_len;
        send(f, "AT+MIPLDELETE=0");
        assert_string_equal(f->out + pos, "\r\nOK\r\n");
        send(f, "AT+MIPLCREATE");
        send(f, "AT+MIPLSOTAVER=\"v1\"");
        send(f, "AT+MIPLOPEN=0,600,60");
        long open_ok = (long)f->out_len;
        uint64_t t0 = f->now;
        long at15 = run_until(f, pos, "+MIPLEVENT:0,15", 400);
        assert_true(f->now - t0 <= 310 * MS);
        after_open += at15 >= open_ok;
        long at6 = run_until(f, pos, "+MIPLEVENT:0,6", 10000);
        long req = run_until(f, (size_t)at6, "+MIPLEXECUTE:0,", 10000);
        assert_true(req > at6);
        assert_int_equal(count_in(f, pos, "+MIPLEVENT:0,15"), 1);
        assert_int_equal(msim_mod_stats(f->m)->registrations, 2);
        assert_int_equal(msim_mod_stats(f->m)->events_delayed, 1);
    }
    assert_true(after_open > 0);
}

/* Events 1, 2, 4 and 6 may come before the OPEN's OK: the module is then
 * registered at once, and the platform starts after its 6 as always. */
static void test_early_open_events(void **state)
{
    struct fx *f = *state;
    unsigned six_first = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        adversarial(f, seed, 300, 1000, 0, 0);
        send(f, "ATE0");
        send(f, "AT+MIPLCREATE");
        send(f, "AT+MIPLSOTAVER=\"v1\"");
        size_t pos = f->out_len;
        send(f, "AT+MIPLOPEN=0,600,60");
        long ok = find_from(f, pos, "\r\nOK\r\n");
        long ev1 = find_from(f, pos, "+MIPLEVENT:0,1");
        assert_true(ok >= 0 && ev1 >= 0 && ev1 < ok);
        long at6 = run_until(f, pos, "+MIPLEVENT:0,6", 10000);
        six_first += at6 < ok;
        run_until(f, (size_t)at6, "+MIPLEXECUTE:0,", 10000);
        /* 1, 2, 4, 6 once each and in that order */
        assert_int_equal(count_in(f, pos, "+MIPLEVENT:0,"), 4);
        assert_true(find_from(f, pos, "+MIPLEVENT:0,2") >
                    find_from(f, pos, "+MIPLEVENT:0,1"));
        assert_true(find_from(f, pos, "+MIPLEVENT:0,4") >
                    find_from(f, pos, "+MIPLEVENT:0,2"));
    }
    assert_true(six_first > 0);
}

/* Duplicated events: each of 1, 2, 4, 6 twice, a duplicate never a third
 * time, and the registration counts once. */
static void test_duplicate_events(void **state)
{
    struct fx *f = *state;
    adversarial(f, 5, 200, 0, 1000, 0);
    send(f, "ATE0");
    open_instance(f);
    run_to(f, f->now + 1000 * MS);
    assert_int_equal(count_in(f, 0, "+MIPLEVENT:0,1\r"), 2);
    assert_int_equal(count_in(f, 0, "+MIPLEVENT:0,2\r"), 2);
    assert_int_equal(count_in(f, 0, "+MIPLEVENT:0,4\r"), 2);
    assert_int_equal(count_in(f, 0, "+MIPLEVENT:0,6\r"), 2);
    assert_int_equal(msim_mod_stats(f->m)->events_duplicated, 4);
    assert_int_equal(msim_mod_stats(f->m)->registrations, 1);
}

/* A held URC comes out between the lines of a multi-line answer:
 * +MIPLCREATE:0 / OK and +CGSN: / OK. */
static void test_urc_inside_multiline_answer(void **state)
{
    struct fx *f = *state;
    f->cfg.dialect.create_prints_ref = true;
    adversarial(f, 3, 60000, 0, 0, 1000);
    send(f, "ATE0");
    open_instance(f);
    size_t pos = f->out_len;
    send(f, "AT+MIPLDELETE=0");
    send(f, "AT+MIPLCREATE");
    assert_string_equal(f->out + pos, "\r\nOK\r\n\r\n+MIPLCREATE:0\r\n"
                                      "\r\n+MIPLEVENT:0,15\r\n\r\nOK\r\n");
    send(f, "AT+MIPLCLOSE=0"); /* not registered: 602, no event */
    pos = f->out_len;
    send(f, "AT+MIPLSOTAVER=\"v1\"");
    send(f, "AT+MIPLOPEN=0,600,60");
    run_until(f, pos, "+MIPLEVENT:0,6", 10000);
    pos = f->out_len;
    send(f, "AT+MIPLCLOSE=0");
    char want[128];
    snprintf(want, sizeof(want),
             "\r\n+CGSN: %s\r\n\r\n+MIPLEVENT:0,15\r\n\r\nOK\r\n",
             f->cfg.id.imei);
    size_t pos2 = f->out_len;
    send(f, "AT+CGSN=1");
    assert_string_equal(f->out + pos2, want);
    assert_int_equal(count_in(f, pos, "+MIPLEVENT:0,15"), 1);
    assert_int_equal(msim_mod_stats(f->m)->events_interleaved, 2);
}

/* A held URC between a +MIPLWRITE head and its value line (seed layout),
 * itself framed: head, empty line, URC, empty line, value. */
static void test_urc_between_write_head_and_value(void **state)
{
    struct fx *f = *state;
    adversarial(f, 7, 60000, 0, 0, 1000);
    to_chunks_erase(f, "v1");
    /* the 11 of a keep-alive is held back (60 s at most) */
    size_t pos = f->out_len;
    send(f, "AT+MIPLUPDATE=0,0,0");
    assert_string_equal(f->out + pos, "\r\nOK\r\n");
    send(f, "AT+MIPLSOTA=3");
    run_to(f, f->now + 100 * MS);
    assert_non_null(strstr(f->out + pos, ",1024,\r\n\r\n+MIPLEVENT:0,11\r\n"
                                         "\r\n"));
    assert_int_equal(msim_mod_stats(f->m)->keepalives, 1);
    assert_int_equal(msim_mod_stats(f->m)->events_interleaved, 1);
}

/* ---- lifetime ----------------------------------------------------------- */

static void test_lifetime_expires_without_update(void **state)
{
    struct fx *f = *state;
    f->cfg.registration.lifetime_cap_s = 20;
    remake(f);
    register_mcu(f); /* 6 at 4.0 s, the first request at 4.2 s */
    uint64_t reg_at = f->now - 200 * MS;
    size_t pos = f->out_len;
    run_to(f, reg_at + 19999 * MS);
    assert_null(strstr(f->out + pos, "+MIPLEVENT:0,9"));
    run_to(f, reg_at + 20000 * MS);
    assert_non_null(strstr(f->out + pos, "+MIPLEVENT:0,9"));
    assert_null(strstr(f->out, "+MIPLEVENT:0,14"));
    /* no longer registered: platform quiet, UPDATE refused, OPEN again */
    pos = f->out_len;
    run_to(f, f->now + 30000 * MS);
    assert_string_equal(f->out + pos, "");
    send(f, "AT+MIPLUPDATE=0,0,0");
    assert_string_equal(f->out + pos, "\r\n+CIS ERROR:602\r\n");
    send(f, "AT+MIPLOPEN=0,600,60");
    run_until(f, pos, "+MIPLEVENT:0,6", 10000);
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_int_equal(st->lifetime_expiries, 1);
    assert_int_equal(st->keepalives, 0);
    assert_int_equal(st->registrations, 2);
}

/* AT+MIPLUPDATE refreshes the lifetime (OK, 11); with the knob, event 14
 * comes update_needed_lead_s before the expiry. The OPEN's shorter
 * lifetime wins over the cap. */
static void test_update_refreshes_lifetime(void **state)
{
    struct fx *f = *state;
    f->cfg.registration.lifetime_cap_s = 20;
    f->cfg.registration.update_needed_event = true;
    f->cfg.registration.update_needed_lead_s = 5;
    remake(f);
    register_mcu(f);
    uint64_t reg_at = f->now - 200 * MS;
    run_to(f, reg_at + 14999 * MS);
    assert_null(strstr(f->out, "+MIPLEVENT:0,14"));
    run_to(f, reg_at + 15000 * MS);
    assert_non_null(strstr(f->out, "+MIPLEVENT:0,14"));
    size_t pos = f->out_len;
    send(f, "AT+MIPLUPDATE=0,0,0");
    assert_string_equal(f->out + pos, "\r\nOK\r\n\r\n+MIPLEVENT:0,11\r\n");
    uint64_t upd_at = f->now;
    run_to(f, upd_at + 19999 * MS);
    assert_null(strstr(f->out, "+MIPLEVENT:0,9"));
    assert_int_equal(count_in(f, 0, "+MIPLEVENT:0,14"), 2);
    send(f, "AT+MIPLUPDATE=0,12,0"); /* a new, shorter lifetime */
    upd_at = f->now;
    run_to(f, upd_at + 11999 * MS);
    assert_null(strstr(f->out, "+MIPLEVENT:0,9"));
    run_to(f, upd_at + 12000 * MS);
    assert_non_null(strstr(f->out, "+MIPLEVENT:0,9"));
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_int_equal(st->keepalives, 2);
    assert_int_equal(st->lifetime_expiries, 1);
    assert_int_equal(st->update_needed_events, 3);
}

/* ---- faults and reboot -------------------------------------------------- */

static void test_nrb_reboots_like_cmrb(void **state)
{
    struct fx *f = *state;
    register_mcu(f);
    size_t pos = f->out_len;
    send(f, "AT+NRB");
    assert_string_equal(f->out + pos, "\r\nOK\r\n\r\nREBOOTING..\r\n");
    send(f, "AT"); /* the UART is dead while it boots */
    assert_string_equal(f->out + pos, "\r\nOK\r\n\r\nREBOOTING..\r\n");
    run_to(f, f->now + 1500 * MS);
    assert_non_null(strstr(f->out + pos, "*ATREADY: 1\r\n"));
    assert_non_null(strstr(f->out + pos, "+CPIN: READY\r\n"));
    pos = f->out_len;
    send(f, "AT+MIPLSOTAVER=\"v1\""); /* echo back on; no instance */
    assert_string_equal(f->out + pos,
                        "AT+MIPLSOTAVER=\"v1\"\r\r\n+CIS ERROR:602\r\n");
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_int_equal(st->reboot_commands, 1);
    assert_int_equal(st->reboots, 1);
}

static void test_open_fails(void **state)
{
    struct fx *f = *state;
    f->cfg.faults.open_fails = 2;
    remake(f);
    send(f, "ATE0");
    send(f, "AT+MIPLCREATE");
    for (int i = 0; i < 2; i++) {
        size_t pos = f->out_len;
        send(f, "AT+MIPLOPEN=0,600,60");
        run_until(f, pos, "+MIPLEVENT:0,7", 10000);
        run_to(f, f->now + 5000 * MS);
        assert_null(strstr(f->out + pos, "+MIPLEVENT:0,6"));
        assert_null(strstr(f->out + pos, "+MIPLEXECUTE"));
    }
    send(f, "AT+MIPLOPEN=0,600,60");
    run_until(f, 0, "+MIPLEVENT:0,6", 10000);
    const struct msim_stats *st = msim_mod_stats(f->m);
    assert_int_equal(st->opens, 3);
    assert_int_equal(st->open_failures, 2);
    assert_int_equal(st->registrations, 1);

    /* silent and forever: no 7, no 6, after a reboot too */
    f->cfg.faults.open_fails = -1;
    f->cfg.faults.open_fail_silent = true;
    remake(f);
    send(f, "ATE0");
    send(f, "AT+MIPLCREATE");
    send(f, "AT+MIPLOPEN=0,600,60");
    run_to(f, f->now + 10000 * MS);
    send(f, "AT+CMRB");
    run_to(f, f->now + 2000 * MS);
    send(f, "ATE0");
    send(f, "AT+MIPLCREATE");
    send(f, "AT+MIPLOPEN=0,600,60");
    run_to(f, f->now + 10000 * MS);
    assert_null(strstr(f->out, "+MIPLEVENT:0,7"));
    assert_null(strstr(f->out, "+MIPLEVENT:0,6"));
    assert_int_equal(msim_mod_stats(f->m)->open_failures, 2);
}

static void test_create_602_always(void **state)
{
    struct fx *f = *state;
    f->cfg.faults.create_602_always = true;
    remake(f);
    send(f, "ATE0");
    size_t pos = f->out_len;
    send(f, "AT+MIPLCREATE");
    send(f, "AT+MIPLDELETE=0");
    send(f, "AT+MIPLCREATE");
    assert_string_equal(f->out + pos, "\r\n+CIS ERROR:602\r\n\r\nOK\r\n"
                                      "\r\n+CIS ERROR:602\r\n");
    send(f, "AT+CMRB");
    run_to(f, f->now + 2000 * MS);
    send(f, "ATE0");
    pos = f->out_len;
    send(f, "AT+MIPLCREATE");
    assert_string_equal(f->out + pos, "\r\n+CIS ERROR:602\r\n");
    assert_int_equal(msim_mod_stats(f->m)->creates, 3);
    assert_int_equal(msim_mod_stats(f->m)->deletes, 1);
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
        cmocka_unit_test_setup_teardown(test_late_event_15, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_open_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urc_inside_multiline_answer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_urc_between_write_head_and_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifetime_expires_without_update,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_refreshes_lifetime, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nrb_reboots_like_cmrb, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_602_always, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
