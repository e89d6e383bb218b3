/* test_sota_fsm.c: the SOTA state machine, event by event.
 *
 * URCs are built here as decoded structs, so these tests do not depend on
 * the decoder; tests/unit/replay runs the seed through the real framer and
 * decoder. Time is a number the tests advance by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw/err.h"
#include "orch/sota_fsm.h"

#define T0 1000000

struct rig {
    struct sota_config cfg;
    struct sota_fsm fsm;
    struct sota_actions act;
    int64_t now;
    uint8_t chunk[1024];
};

/* The machine read through its API. */
static struct sota_snapshot snap(const struct rig *x)
{
    struct sota_snapshot sn;

    sota_fsm_snapshot(&x->fsm, &sn);
    return sn;
}

static struct sota_checkpoint cp_of(const struct rig *x)
{
    struct sota_checkpoint cp;

    sota_fsm_checkpoint(&x->fsm, &cp);
    return cp;
}

/* ---- building events --------------------------------------------------- */

static void step(struct rig *r, const struct sota_event *ev)
{
    assert_int_equal(sota_fsm_step(&r->fsm, ev, r->now, &r->act), 0);
}

static void ev_simple(struct rig *r, enum sota_event_kind kind)
{
    struct sota_event ev = {.kind = kind};

    step(r, &ev);
}

static void ev_done(struct rig *r, enum sota_cmd_status st, int code)
{
    struct sota_event ev = {.kind = SOTA_EV_CMD_DONE};

    ev.u.cmd.status = st;
    ev.u.cmd.code = code;
    step(r, &ev);
}

static void ok(struct rig *r)
{
    ev_done(r, SOTA_CMD_OK, -1);
}

static void ev_urc(struct rig *r, const struct m531x_urc *u,
                   const uint8_t *data, size_t len)
{
    struct sota_event ev = {.kind = SOTA_EV_URC};

    ev.u.urc.urc = u;
    ev.u.urc.data = data;
    ev.u.urc.data_len = len;
    step(r, &ev);
}

static void urc_req(struct rig *r, enum m531x_urc_kind kind, int32_t msgid,
                    int32_t obj, int32_t ins, int32_t res)
{
    struct m531x_urc u;

    memset(&u, 0, sizeof u);
    u.kind = kind;
    u.msgid = msgid;
    u.obj = obj;
    u.ins = ins;
    u.res = res;
    if (kind == M531X_URC_READ)
        u.u.read.count = -1;
    ev_urc(r, &u, NULL, 0);
}

static void rd(struct rig *r, int32_t msgid, int32_t obj, int32_t res)
{
    urc_req(r, M531X_URC_READ, msgid, obj, 0, res);
}

static void ex(struct rig *r, int32_t msgid, int32_t obj, int32_t res)
{
    urc_req(r, M531X_URC_EXECUTE, msgid, obj, 0, res);
}

static void mevent(struct rig *r, int32_t evt)
{
    struct m531x_urc u;

    memset(&u, 0, sizeof u);
    u.kind = M531X_URC_EVENT;
    u.msgid = -1;
    u.obj = u.ins = u.res = -1;
    u.u.event.evt = evt;
    ev_urc(r, &u, NULL, 0);
}

/* A chunk of len bytes (len 0: the empty write) with the given flag. */
static void wr(struct rig *r, int32_t msgid, int flag, size_t len)
{
    struct m531x_urc u;
    static const char hex[] = "00";

    memset(&u, 0, sizeof u);
    u.kind = M531X_URC_WRITE;
    u.msgid = msgid;
    u.obj = 5;
    u.res = 0;
    u.u.write.type = M531X_TYPE_OPAQUE;
    u.u.write.len = (int32_t)len;
    u.u.write.value = len ? hex : "";
    u.u.write.value_len = len * 2;
    u.u.write.flag = flag;
    u.u.write.index = -1;
    u.u.write.data_len = len;
    assert_true(len <= sizeof r->chunk);
    memset(r->chunk, (int)(msgid & 0xff), sizeof r->chunk);
    ev_urc(r, &u, len ? r->chunk : NULL, len);
}

static void stored(struct rig *r, int32_t msgid, int rc)
{
    struct sota_event ev = {.kind = SOTA_EV_STORED};

    ev.u.stored.msgid = msgid;
    ev.u.stored.rc = rc;
    step(r, &ev);
}

static void checked(struct rig *r, enum sota_result res)
{
    struct sota_event ev = {.kind = SOTA_EV_CHECKED};

    ev.u.checked.result = res;
    step(r, &ev);
}

static void fill_dev(struct sota_device_info *d, const char *ver, int batt,
                     int64_t free_kib)
{
    memset(d, 0, sizeof *d);
    d->known = 1;
    snprintf(d->version, sizeof d->version, "%s", ver);
    d->battery_pct = batt;
    d->free_kib = free_kib;
    d->staging_free_kib = 100000;
}

static void device(struct rig *r, const char *ver, int batt, int64_t kib)
{
    struct sota_event ev = {.kind = SOTA_EV_DEVICE};

    fill_dev(&ev.u.device, ver, batt, kib);
    step(r, &ev);
}

static void flashed(struct rig *r, enum sota_result res, const char *ver)
{
    struct sota_event ev = {.kind = SOTA_EV_FLASHED};

    ev.u.flashed.result = res;
    fill_dev(&ev.u.flashed.dev, ver, 100, 128);
    step(r, &ev);
}

static void fire(struct rig *r, enum sota_timer id)
{
    struct sota_event ev = {.kind = SOTA_EV_TIMER};

    ev.u.timer = id;
    step(r, &ev);
}

/* ---- inspecting actions ------------------------------------------------ */

static const struct sota_action *find(const struct rig *r,
                                      enum sota_action_kind k)
{
    for (size_t i = 0; i < r->act.n; i++)
        if (r->act.v[i].kind == k)
            return &r->act.v[i];
    return NULL;
}

static size_t count(const struct rig *r, enum sota_action_kind k)
{
    size_t n = 0;

    for (size_t i = 0; i < r->act.n; i++)
        n += r->act.v[i].kind == k;
    return n;
}

static int has_note(const struct rig *r, enum sota_note_kind k)
{
    for (size_t i = 0; i < r->act.n; i++)
        if (r->act.v[i].kind == SOTA_ACT_NOTE && r->act.v[i].u.note.kind == k)
            return 1;
    return 0;
}

static size_t index_of(const struct rig *r, enum sota_action_kind k)
{
    for (size_t i = 0; i < r->act.n; i++)
        if (r->act.v[i].kind == k)
            return i;
    fail_msg("no %s action", sota_action_kind_name(k));
    return 0;
}

static void expect_send(const struct rig *r, const char *text)
{
    const struct sota_action *a = find(r, SOTA_ACT_SEND);

    if (a == NULL)
        fail_msg("expected SEND %s, got none", text);
    assert_int_equal(count(r, SOTA_ACT_SEND), 1);
    assert_string_equal(a->u.send.text, text);
    assert_int_equal(a->u.send.len, strlen(text));
}

static void expect_no_send(const struct rig *r)
{
    const struct sota_action *a = find(r, SOTA_ACT_SEND);

    if (a != NULL)
        fail_msg("unexpected SEND %s", a->u.send.text);
}

static enum sota_result job_result(const struct rig *r)
{
    const struct sota_action *a = find(r, SOTA_ACT_JOB_END);

    assert_non_null(a);
    return a->u.job_end.result;
}

/* Send, answer OK, and check the text. */
static void sent_ok(struct rig *r, const char *text)
{
    expect_send(r, text);
    ok(r);
}

static void read_state(struct rig *r, int32_t msgid, int st, int res,
                       uint32_t bytes)
{
    char l1[96], l2[96], l3[96];

    snprintf(l1, sizeof l1, "AT+MIPLREADRSP=0,%d,1,5,0,3,3,1,\"%d\",2,1",
             (int)msgid, st);
    snprintf(l2, sizeof l2, "AT+MIPLREADRSP=0,%d,1,5,0,5,3,%d,\"%d\",1,2",
             (int)msgid, res >= 10 ? 2 : 1, res);
    snprintf(l3, sizeof l3,
             "AT+MIPLREADRSP=0,%d,1,5,0,26500,3,%d,\"%u\","
             "0,0",
             (int)msgid, snprintf(NULL, 0, "%u", bytes), bytes);
    rd(r, msgid, 5, -1);
    sent_ok(r, l1);
    sent_ok(r, l2);
    sent_ok(r, l3);
    expect_no_send(r);
}

/* ---- set-up ------------------------------------------------------------ */

static void rig_start(struct rig *r, const struct sota_checkpoint *cp)
{
    memset(r, 0, sizeof *r);
    r->now = T0;
    sota_config_default(&r->cfg);
    assert_int_equal(sota_fsm_init(&r->fsm, &r->cfg, cp, r->now), 0);
}

/* A rig built from a checkpoint: phase, durable bytes (the whole image
 * beyond DOWNLOADING), result and the version a flash installed. */
static void rig_from(struct rig *r, enum sota_phase phase, uint32_t bytes,
                     enum sota_result result, const char *new_version)
{
    struct sota_checkpoint cp;

    sota_checkpoint_init(&cp);
    cp.phase = phase;
    cp.bytes = bytes;
    cp.image_size = phase == SOTA_PHASE_DOWNLOADING ? 0 : bytes;
    cp.last_msgid = bytes ? 27509 : -1;
    cp.result = result;
    snprintf(cp.new_version, sizeof cp.new_version, "%s", new_version);
    rig_start(r, &cp);
}

/* START, device data, CREATE / SOTAVER / OPEN, event 6. */
static void rig_register(struct rig *r, const char *ver)
{
    char sotaver[64];

    ev_simple(r, SOTA_EV_START);
    sent_ok(r, "AT+MIPLCREATE");
    snprintf(sotaver, sizeof sotaver, "AT+MIPLSOTAVER=\"%s\"", ver);
    device(r, ver, 100, 256);
    sent_ok(r, sotaver);
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    expect_no_send(r);
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
}

/* Fresh, registered, and the staging erased by execute 26501. */
static void rig_erased(struct rig *r)
{
    rig_start(r, NULL);
    rig_register(r, "test0");
    ex(r, 100, 5, 26501);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLSOTA=3");
}

static void *fresh_rig(void)
{
    struct rig *r = calloc(1, sizeof *r);

    assert_non_null(r);
    return r;
}

static int setup(void **state)
{
    *state = fresh_rig();
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* Download n chunks of 1024 bytes, the last one of last_len, from idle. */
static void download(struct rig *r, int32_t first_msgid, int n, size_t last_len)
{
    for (int i = 0; i < n; i++) {
        int flag = i == 0 ? 1 : i == n - 1 ? 0 : 2;
        size_t len = i == n - 1 ? last_len : 1024;
        const struct sota_action *a;

        wr(r, first_msgid + i, flag, len);
        a = find(r, SOTA_ACT_STORE_CHUNK);
        assert_non_null(a);
        assert_int_equal(a->u.store.offset, (uint32_t)i * 1024u);
        assert_int_equal(a->u.store.len, len);
        expect_no_send(r);
        stored(r, first_msgid + i, 0);
        /* the checkpoint precedes the answer */
        assert_true(index_of(r, SOTA_ACT_PERSIST) < index_of(r, SOTA_ACT_SEND));
        sent_ok(r, "AT+MIPLSOTA=1");
    }
}

/* ---- the seed, step by step -------------------------------------------- */

static void happy_path(void **state)
{
    struct rig *r = *state;
    struct sota_snapshot sn;
    const struct sota_action *a;

    rig_start(r, NULL);
    ev_simple(r, SOTA_EV_START);
    sent_ok(r, "AT+MIPLCREATE");
    /* no version known yet: SOTAVER waits for the device */
    expect_no_send(r);
    assert_int_equal(snap(r).reg, SOTA_REG_WAIT_DEVICE);
    device(r, "test0", 100, 256);
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    expect_send(r, "AT+MIPLOPEN=0,600,60");
    ok(r);
    assert_non_null(find(r, SOTA_ACT_ARM_TIMER));
    mevent(r, 6);
    assert_true(has_note(r, SOTA_NOTE_REGISTER));

    ex(r, 54077, 5, 26550);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,54077,2");
    rd(r, 54078, 3, 26261);
    sent_ok(r, "AT+MIPLREADRSP=0,54078,1,3,0,26261,3,3,\"256\",0,0");
    rd(r, 54079, 3, 19);
    sent_ok(r, "AT+MIPLREADRSP=0,54079,1,3,0,19,1,5,\"test0\",0,0");
    read_state(r, 54080, 0, 0, 0);
    rd(r, 54081, 3, 9);
    sent_ok(r, "AT+MIPLREADRSP=0,54081,1,3,0,9,3,3,\"100\",0,0");

    ex(r, 27495, 5, 26501);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLSOTA=3");

    download(r, 27496, 14, 346);
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_CHECKING);
    assert_int_equal(cp_of(r).bytes, 13658);
    checked(r, SOTA_RESULT_SUCCESS);
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_DOWNLOADED);
    read_state(r, 27600, 2, 0, 13658);

    rd(r, 27510, 3, 9);
    sent_ok(r, "AT+MIPLREADRSP=0,27510,1,3,0,9,3,3,\"100\",0,0");
    ex(r, 27511, 5, 2);
    /* write-ahead: PERSIST(flashing) before FLASH */
    a = find(r, SOTA_ACT_PERSIST);
    assert_non_null(a);
    assert_int_equal(a->u.persist.phase, SOTA_PHASE_FLASHING);
    assert_true(index_of(r, SOTA_ACT_PERSIST) < index_of(r, SOTA_ACT_FLASH));
    assert_int_equal(find(r, SOTA_ACT_FLASH)->u.image.size, 13658);
    expect_send(r, "AT+MIPLEXECUTERSP=0,27511,2");
    /* the flash ends before the answer's OK: UPDATE waits for the line */
    flashed(r, SOTA_RESULT_SUCCESS, "test000");
    expect_no_send(r);
    ok(r);
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    mevent(r, 11);

    ex(r, 54077, 5, 26550);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,54077,2");
    rd(r, 17502, 3, 26261);
    sent_ok(r, "AT+MIPLREADRSP=0,17502,1,3,0,26261,3,3,\"128\",0,0");
    rd(r, 17503, 3, 19);
    sent_ok(r, "AT+MIPLREADRSP=0,17503,1,3,0,19,1,7,\"test000\",0,0");
    wr(r, 17507, 0, 0);
    assert_int_equal(job_result(r), SOTA_RESULT_SUCCESS);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    a = find(r, SOTA_ACT_PERSIST);
    assert_non_null(a);
    assert_int_equal(a->u.persist.phase, SOTA_PHASE_IDLE);
    assert_int_equal(a->u.persist.result, SOTA_RESULT_SUCCESS);
    sent_ok(r, "AT+MIPLWRITERSP=0,17507,2");
    expect_no_send(r);
    /* the recorded result stays readable */
    rd(r, 17600, 5, 5);
    sent_ok(r, "AT+MIPLREADRSP=0,17600,1,5,0,5,3,1,\"1\",0,0");
    /* the final write resent: same answer, no second JOB_END */
    wr(r, 17507, 0, 0);
    assert_null(find(r, SOTA_ACT_JOB_END));
    sent_ok(r, "AT+MIPLWRITERSP=0,17507,2");
    sota_fsm_snapshot(&r->fsm, &sn);
    assert_int_equal(sn.phase, SOTA_PHASE_IDLE);
    assert_int_equal(sn.cmd_in_flight, 0);
    /* only the keep-alive is armed: the completion update restarted it */
    assert_int_equal(sota_fsm_next_deadline(&r->fsm),
                     sota_fsm_timer_deadline(&r->fsm, SOTA_TIMER_KEEPALIVE));
}

/* One command at a time: a second request queues behind the first. */
static void one_command_at_a_time(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    rig_register(r, "test0");
    rd(r, 1, 3, 9);
    expect_send(r, "AT+MIPLREADRSP=0,1,1,3,0,9,3,3,\"100\",0,0");
    rd(r, 2, 3, 26261);
    expect_no_send(r);
    ok(r);
    sent_ok(r, "AT+MIPLREADRSP=0,2,1,3,0,26261,3,3,\"256\",0,0");
    /* a stray final is ignored */
    ok(r);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    expect_no_send(r);
}

/* The command queue is bounded: overflow drops answers with a note, and a
 * three-line answer goes out whole or not at all. */
static void queue_bounded(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    rig_register(r, "test0");
    rd(r, 1, 3, 9); /* in flight */
    for (int32_t i = 0; i < SOTA_QUEUE_MAX - 2; i++)
        rd(r, 10 + i, 3, 9);
    rd(r, 50, 5, -1);
    assert_true(has_note(r, SOTA_NOTE_CMD_FAILED));
    assert_int_equal(snap(r).cmds_queued, SOTA_QUEUE_MAX - 2);
    rd(r, 51, 3, 9);
    rd(r, 52, 3, 9);
    assert_int_equal(snap(r).cmds_queued, SOTA_QUEUE_MAX);
    rd(r, 53, 3, 9);
    assert_true(has_note(r, SOTA_NOTE_CMD_FAILED));
    assert_int_equal(snap(r).cmds_queued, SOTA_QUEUE_MAX);
    /* drain: one SEND per final, 52 last, 53 never */
    for (int i = 0; i < SOTA_QUEUE_MAX; i++) {
        ok(r);
        assert_non_null(find(r, SOTA_ACT_SEND));
    }
    assert_string_equal(find(r, SOTA_ACT_SEND)->u.send.text,
                        "AT+MIPLREADRSP=0,52,1,3,0,9,3,3,\"100\",0,0");
    ok(r);
    expect_no_send(r);
}

/* ---- registration ------------------------------------------------------ */

static void restart_with_cis_602(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    expect_send(r, "AT+MIPLCREATE");
    ev_done(r, SOTA_CMD_CIS_ERROR, 602);
    expect_send(r, "AT+MIPLDELETE=0");
    /* the platform resends a request of the old attempt on the surviving
     * instance; its answer must not go out after the instance is deleted
     * (m531x-sim: "+CIS ERROR:601, waits for nothing") */
    ex(r, 77, 5, 26550);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    expect_no_send(r);
    /* some modules print event 15 before the OK of the delete */
    mevent(r, 15);
    assert_int_equal(snap(r).reg, SOTA_REG_DELETING);
    ok(r);
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
}

static void cis_602_bounded(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    for (int i = 0; i < r->cfg.create_retries; i++) {
        expect_send(r, "AT+MIPLCREATE");
        ev_done(r, SOTA_CMD_CIS_ERROR, 602);
        sent_ok(r, "AT+MIPLDELETE=0");
    }
    expect_send(r, "AT+MIPLCREATE");
    ev_done(r, SOTA_CMD_CIS_ERROR, 602);
    expect_no_send(r);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
    assert_int_equal(sota_fsm_next_deadline(&r->fsm),
                     r->now + r->cfg.retry_min_ms);
}

static void registration_timeout_backs_off(void **state)
{
    struct rig *r = *state;
    int64_t delay;

    rig_start(r, NULL);
    delay = r->cfg.retry_min_ms;
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    for (int round = 0; round < 3; round++) {
        sent_ok(r, "AT+MIPLCREATE");
        sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
        sent_ok(r, "AT+MIPLOPEN=0,600,60");
        /* early or stale timer events change nothing */
        r->now += r->cfg.register_timeout_ms - 1;
        fire(r, SOTA_TIMER_REGISTER);
        assert_int_equal(r->act.n, 0);
        fire(r, SOTA_TIMER_BACKOFF);
        assert_int_equal(r->act.n, 0);
        r->now += 1;
        fire(r, SOTA_TIMER_REGISTER);
        assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
        assert_true(has_note(r, SOTA_NOTE_REGISTER));
        assert_int_equal(sota_fsm_next_deadline(&r->fsm), r->now + delay);
        r->now += delay;
        fire(r, SOTA_TIMER_BACKOFF);
        delay *= 2;
    }
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
    /* registered, but not yet proven: a platform request proves it */
    assert_int_equal(snap(r).reg_failures, 3);
    rd(r, 1, 3, 9);
    assert_int_equal(snap(r).reg_failures, 0);
}

static void command_timeout(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    rig_register(r, "test0");
    rd(r, 1, 3, 9);
    expect_send(r, "AT+MIPLREADRSP=0,1,1,3,0,9,3,3,\"100\",0,0");
    rd(r, 2, 3, 9);
    /* the answer's final never comes: the next answer goes out */
    r->now += r->cfg.cmd_timeout_ms;
    fire(r, SOTA_TIMER_CMD);
    assert_true(has_note(r, SOTA_NOTE_CMD_FAILED));
    sent_ok(r, "AT+MIPLREADRSP=0,2,1,3,0,9,3,3,\"100\",0,0");
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);

    /* a registration command that times out: register again later */
    rig_start(r, NULL);
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    expect_send(r, "AT+MIPLCREATE");
    r->now += r->cfg.cmd_timeout_ms;
    fire(r, SOTA_TIMER_CMD);
    expect_no_send(r);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
    /* the late OK is a stray */
    ok(r);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
}

/* Lifetime timeout and deletion by the platform end a registration. */
static void registration_lost_events(void **state)
{
    static const int32_t lost[] = {9, 31};
    struct rig *r = *state;

    for (size_t i = 0; i < sizeof lost / sizeof lost[0]; i++) {
        rig_start(r, NULL);
        rig_register(r, "test0");
        rd(r, 1, 3, 9);
        rd(r, 2, 3, 9); /* queued; dropped with the registration */
        mevent(r, lost[i]);
        assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
        ok(r); /* the in-flight answer completes */
        expect_no_send(r);
        r->now += r->cfg.retry_min_ms;
        fire(r, SOTA_TIMER_BACKOFF);
        expect_send(r, "AT+MIPLCREATE");
    }
}

/* Failure and unregister events once registered may be an older
 * instance's: AT+MIPLUPDATE asks the module, and its answer decides. */
static void doubtful_events_checked(void **state)
{
    static const int32_t doubtful[] = {3, 5, 7, 8, 10, 15};
    struct rig *r = *state;

    for (size_t i = 0; i < sizeof doubtful / sizeof doubtful[0]; i++) {
        rig_start(r, NULL);
        rig_register(r, "test0");
        rd(r, 1, 3, 9);
        rd(r, 2, 3, 9);
        mevent(r, doubtful[i]);
        assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
        assert_true(has_note(r, SOTA_NOTE_IGNORED));
        ok(r); /* the answer to 1; then 2's, then the check */
        sent_ok(r, "AT+MIPLREADRSP=0,2,1,3,0,9,3,3,\"100\",0,0");
        expect_send(r, "AT+MIPLUPDATE=0,0,0");
        if (i % 2 == 0) {
            /* still registered: OK and event 11 */
            ok(r);
            mevent(r, 11);
            assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
        } else if (i == 1) {
            /* OK, then the update fails */
            ok(r);
            mevent(r, 12);
            assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
        } else {
            ev_done(r, SOTA_CMD_CIS_ERROR, 602);
            assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
        }
    }
    /* while flashing no update may go out: the event is only logged */
    rig_from(r, SOTA_PHASE_FLASHING, 100, SOTA_RESULT_INITIAL, "");
    rig_register(r, "test0");
    mevent(r, 15);
    expect_no_send(r);
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
}

/* The livelock an independent emulator found: after a restart the old
 * instance is deleted, and its event 15 arrives after the next OPEN's OK,
 * and after the new registration's event 6. */
static void late_unregister_of_deleted_instance(void **state)
{
    struct rig *r = *state;

    for (int late_after_6 = 0; late_after_6 < 2; late_after_6++) {
        rig_start(r, NULL);
        device(r, "test0", 100, 256);
        ev_simple(r, SOTA_EV_START);
        expect_send(r, "AT+MIPLCREATE");
        ev_done(r, SOTA_CMD_CIS_ERROR, 602);
        sent_ok(r, "AT+MIPLDELETE=0");
        sent_ok(r, "AT+MIPLCREATE");
        sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
        sent_ok(r, "AT+MIPLOPEN=0,600,60");
        if (!late_after_6) {
            mevent(r, 15);
            assert_int_equal(snap(r).reg, SOTA_REG_WAIT_EVENT);
            assert_true(has_note(r, SOTA_NOTE_IGNORED));
        }
        mevent(r, 1);
        mevent(r, 2);
        mevent(r, 4);
        mevent(r, 6);
        assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
        r->now += 20;
        mevent(r, 15);
        assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
        expect_no_send(r); /* within late_event_ms: no check needed */
        mevent(r, 15);     /* and repeated */
        assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
        rd(r, 5, 3, 9);
        expect_send(r, "AT+MIPLREADRSP=0,5,1,3,0,9,3,3,\"100\",0,0");
    }
}

/* Events before the new OPEN cannot be its own; event 6 may come before
 * the OPEN's OK; failure events between OPEN and 6 end the attempt. */
static void events_judged_by_state(void **state)
{
    static const int32_t stale[] = {3, 5, 6, 7, 8, 9, 12, 13, 15, 31};
    struct rig *r = *state;

    rig_start(r, NULL);
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    expect_send(r, "AT+MIPLCREATE");
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        mevent(r, stale[i]);
        assert_int_equal(snap(r).reg, SOTA_REG_CREATING);
        expect_no_send(r);
    }
    ok(r);
    expect_send(r, "AT+MIPLSOTAVER=\"test0\"");
    mevent(r, 7);
    assert_int_equal(snap(r).reg, SOTA_REG_VERSION);
    ok(r);
    expect_send(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6); /* before the OPEN's OK */
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
    ok(r); /* the OPEN's OK changes nothing */
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
    expect_no_send(r);

    /* a failure event of this OPEN ends the attempt */
    rig_start(r, NULL);
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 8);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
    /* ... but if the instance registers after all, it is used, and
     * checked (a repeated older 6 looks the same) */
    mevent(r, 6);
    assert_int_equal(snap(r).reg, SOTA_REG_REGISTERED);
    expect_send(r, "AT+MIPLUPDATE=0,0,0");
    ev_done(r, SOTA_CMD_CIS_ERROR, 602);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
}

/* Every retry is bounded: retries, then delete and create, then the
 * module reboot, then "failed: registration"; the top again much later. */
static void registration_escalates(void **state)
{
    struct rig *r = *state;
    unsigned attempts = 0;

    rig_start(r, NULL);
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    for (unsigned i = 0; i < r->cfg.reg_retries; i++) {
        sent_ok(r, "AT+MIPLCREATE");
        sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
        sent_ok(r, "AT+MIPLOPEN=0,600,60");
        mevent(r, 7);
        attempts++;
        assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
        r->now = sota_fsm_next_deadline(&r->fsm);
        fire(r, SOTA_TIMER_BACKOFF);
    }
    /* the attempt after the retries failed too: delete first */
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    r->now += r->cfg.register_timeout_ms;
    fire(r, SOTA_TIMER_REGISTER);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
    r->now = sota_fsm_next_deadline(&r->fsm);
    fire(r, SOTA_TIMER_BACKOFF);
    sent_ok(r, "AT+MIPLDELETE=0");
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    expect_send(r, "AT+MIPLOPEN=0,600,60");
    ev_done(r, SOTA_CMD_CIS_ERROR, 651);
    /* then the reboot, and its banner */
    expect_send(r, "AT+CMRB");
    assert_int_equal(snap(r).reg, SOTA_REG_REBOOTING);
    ok(r);
    ev_simple(r, SOTA_EV_MODEM_RESET);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
    r->now = sota_fsm_next_deadline(&r->fsm);
    fire(r, SOTA_TIMER_BACKOFF);
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 5);
    /* then failed, with the reason, visibly */
    assert_int_equal(snap(r).reg, SOTA_REG_FAILED);
    assert_true(has_note(r, SOTA_NOTE_REG_FAILED));
    {
        struct sota_snapshot sn;

        sota_fsm_snapshot(&r->fsm, &sn);
        assert_int_equal(sn.reg, SOTA_REG_FAILED);
        assert_non_null(strstr(sn.reg_reason, "+MIPLEVENT 5"));
    }
    expect_no_send(r);
    /* nothing happens until the long backoff is over */
    mevent(r, 6);
    assert_int_equal(snap(r).reg, SOTA_REG_FAILED);
    assert_int_equal(sota_fsm_next_deadline(&r->fsm),
                     r->now + r->cfg.reg_fail_backoff_ms);
    r->now += r->cfg.reg_fail_backoff_ms;
    fire(r, SOTA_TIMER_BACKOFF);
    expect_send(r, "AT+MIPLCREATE");
    assert_int_equal(snap(r).reg_failures, 0);

    /* no reboot command configured: straight to failed; a reboot that
     * never shows its banner counts as a failure */
    rig_start(r, NULL);
    r->cfg.reboot_cmd[0] = '\0';
    assert_int_equal(sota_fsm_init(&r->fsm, &r->cfg, NULL, r->now), 0);
    device(r, "test0", 100, 256);
    ev_simple(r, SOTA_EV_START);
    for (unsigned i = 0; i <= r->cfg.reg_retries + 1; i++) {
        if (snap(r).reg == SOTA_REG_BACKOFF) {
            r->now = sota_fsm_next_deadline(&r->fsm);
            fire(r, SOTA_TIMER_BACKOFF);
        }
        expect_send(r, snap(r).reg == SOTA_REG_DELETING ? "AT+MIPLDELETE=0"
                                                        : "AT+MIPLCREATE");
        ev_done(r, SOTA_CMD_ERROR, -1);
        if (snap(r).reg == SOTA_REG_CREATING) {
            expect_send(r, "AT+MIPLCREATE");
            ev_done(r, SOTA_CMD_ERROR, -1);
        }
    }
    assert_int_equal(snap(r).reg, SOTA_REG_FAILED);
    assert_true(attempts > 0);
}

static void downloaded_rig(struct rig *r);

/* The keep-alive goes out by timer at keepalive_pct of the lifetime, and
 * is held back between the flash and the final write. */
static void keepalive_by_timer(void **state)
{
    struct rig *r = *state;
    int64_t every;

    rig_start(r, NULL);
    rig_register(r, "test0");
    every = (int64_t)r->cfg.lifetime_s * 10 * r->cfg.keepalive_pct;
    assert_int_equal(sota_fsm_next_deadline(&r->fsm), r->now + every);
    for (int i = 0; i < 3; i++) {
        r->now += every;
        fire(r, SOTA_TIMER_KEEPALIVE);
        expect_send(r, "AT+MIPLUPDATE=0,0,0");
        ok(r);
        assert_int_equal(sota_fsm_next_deadline(&r->fsm), r->now + every);
        mevent(r, 11);
    }
    /* the update fails: register again */
    r->now += every;
    fire(r, SOTA_TIMER_KEEPALIVE);
    expect_send(r, "AT+MIPLUPDATE=0,0,0");
    ok(r);
    mevent(r, 13);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);

    /* flashing: held back, then sent once the job has ended */
    rig_start(r, NULL);
    rig_register(r, "test0");
    downloaded_rig(r);
    checked(r, SOTA_RESULT_SUCCESS);
    ex(r, 50, 5, 2);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,50,2");
    r->now = sota_fsm_timer_deadline(&r->fsm, SOTA_TIMER_KEEPALIVE);
    fire(r, SOTA_TIMER_KEEPALIVE);
    expect_no_send(r);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    flashed(r, SOTA_RESULT_SUCCESS, "test000");
    sent_ok(r, "AT+MIPLUPDATE=0,0,0"); /* the completion, once */
    mevent(r, 11);
    mevent(r, 14);
    expect_no_send(r);
    wr(r, 60, 0, 0); /* the final write ends the job */
    sent_ok(r, "AT+MIPLWRITERSP=0,60,2");
    /* event 14 came while DONE: its update goes out now, once */
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    expect_no_send(r);
    r->now = sota_fsm_timer_deadline(&r->fsm, SOTA_TIMER_KEEPALIVE);
    fire(r, SOTA_TIMER_KEEPALIVE);
    expect_send(r, "AT+MIPLUPDATE=0,0,0");
}

static void keepalive_rules(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    rig_register(r, "test0");
    mevent(r, 14);
    expect_send(r, "AT+MIPLUPDATE=0,0,0");
    mevent(r, 14); /* already in flight: not twice */
    expect_no_send(r);
    assert_int_equal(snap(r).cmds_queued, 0);
    ok(r);
    mevent(r, 11);

    /* while flashing and after it, the same text means "finished" */
    rig_from(r, SOTA_PHASE_FLASHING, 100, SOTA_RESULT_INITIAL, "");
    rig_register(r, "test0");
    mevent(r, 14);
    expect_no_send(r);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    /* flashed in this registration, waiting for the final write */
    downloaded_rig(r);
    checked(r, SOTA_RESULT_SUCCESS);
    ex(r, 50, 5, 2);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,50,2");
    flashed(r, SOTA_RESULT_UPDATE_FAILED, "test0");
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_DONE);
    mevent(r, 14);
    expect_no_send(r);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
}

/* ---- chunks ------------------------------------------------------------ */

/* Registered, erased, two chunks (flags 1, 2) of 1024 bytes stored. */
static void downloading_rig(struct rig *r)
{
    rig_erased(r);
    for (int32_t i = 0; i < 2; i++) {
        wr(r, 200 + i, i == 0 ? 1 : 2, 1024);
        stored(r, 200 + i, 0);
        sent_ok(r, "AT+MIPLSOTA=1");
    }
    assert_int_equal(cp_of(r).bytes, 2048);
}

static void duplicate_chunks(void **state)
{
    struct rig *r = *state;

    rig_erased(r);
    wr(r, 200, 1, 1024);
    stored(r, 200, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    /* the last stored chunk again: write-ok, nothing stored */
    wr(r, 200, 1, 1024);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    assert_true(has_note(r, SOTA_NOTE_DUPLICATE));
    sent_ok(r, "AT+MIPLSOTA=1");
    assert_int_equal(cp_of(r).bytes, 1024);
    /* a resend while the store is pending: no second store, no answer */
    wr(r, 201, 2, 1024);
    assert_non_null(find(r, SOTA_ACT_STORE_CHUNK));
    wr(r, 201, 2, 1024);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    expect_no_send(r);
    assert_true(has_note(r, SOTA_NOTE_DUPLICATE));
    /* 5/0/26500 counts durable bytes only, never the pending chunk */
    read_state(r, 900, 1, 0, 1024);
    /* a stale STORED for another msgid is ignored */
    stored(r, 77, 0);
    assert_int_equal(cp_of(r).bytes, 1024);
    stored(r, 201, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    assert_int_equal(cp_of(r).bytes, 2048);
    assert_int_equal(cp_of(r).last_msgid, 201);
    /* a late resend of an older chunk is not appended again */
    wr(r, 200, 2, 1024);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    assert_true(has_note(r, SOTA_NOTE_DUPLICATE));
    sent_ok(r, "AT+MIPLSOTA=1");
    assert_int_equal(cp_of(r).bytes, 2048);
    /* after a new first chunk, old msgids are new again */
    wr(r, 500, 1, 1024);
    stored(r, 500, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    wr(r, 200, 2, 1024);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 1024);
}

struct order_case {
    const char *name;
    int whole_image; /* 0: nothing stored; 1: a whole image held */
    int flag;
};

static void out_of_order_chunks(void **state)
{
    static const struct order_case cases[] = {
        {"middle with nothing started", 0, 2},
        {"last with nothing started", 0, 0},
        {"middle after the last", 1, 2},
        {"last after the last", 1, 0},
    };
    struct rig *r = *state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct order_case *c = &cases[i];

        print_message("case: %s\n", c->name);
        rig_erased(r);
        if (c->whole_image) {
            download(r, 200, 2, 10);
            checked(r, SOTA_RESULT_SUCCESS);
        }
        wr(r, 300, c->flag, 1024);
        assert_null(find(r, SOTA_ACT_STORE_CHUNK));
        assert_true(has_note(r, SOTA_NOTE_BAD_CHUNK));
        sent_ok(r, "AT+MIPLSOTA=2");
    }
}

/* [?] A one-chunk image sent with flag 0 only: refused by default, taken
 * when the dialect says so. */
static void lone_last_chunk(void **state)
{
    struct rig *r = *state;

    rig_erased(r);
    wr(r, 200, 0, 300);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    sent_ok(r, "AT+MIPLSOTA=2");

    rig_start(r, NULL);
    r->cfg.lone_last_chunk = 1;
    assert_int_equal(sota_fsm_init(&r->fsm, &r->cfg, NULL, r->now), 0);
    rig_register(r, "test0");
    ex(r, 100, 5, 26501);
    sent_ok(r, "AT+MIPLSOTA=3");
    wr(r, 200, 0, 300);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 0);
    stored(r, 200, 0);
    assert_int_equal(find(r, SOTA_ACT_CHECK_IMAGE)->u.image.size, 300);
    sent_ok(r, "AT+MIPLSOTA=1");
    /* still out of order in the middle of a download */
    wr(r, 201, 1, 100);
    stored(r, 201, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    wr(r, 202, 0, 100);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 100);
}

static void invalid_chunk_data(void **state)
{
    struct rig *r = *state;
    struct sota_event ev = {.kind = SOTA_EV_BAD_URC};

    rig_erased(r);
    wr(r, 200, 1, 1024);
    stored(r, 200, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    ev.u.bad.msgid = 201;
    ev.u.bad.reason = "non-hex character";
    step(r, &ev);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    assert_true(has_note(r, SOTA_NOTE_BAD_CHUNK));
    sent_ok(r, "AT+MIPLSOTA=2");
    assert_int_equal(cp_of(r).bytes, 1024);
    /* the platform's resend is accepted at the right offset */
    wr(r, 201, 2, 1024);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 1024);
    /* a bad line while a store runs is not answered (no msgid in
     * AT+MIPLSOTA) */
    ev.u.bad.msgid = -1;
    step(r, &ev);
    expect_no_send(r);
    stored(r, 201, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    /* a value that is not opaque */
    {
        struct m531x_urc u;

        memset(&u, 0, sizeof u);
        u.kind = M531X_URC_WRITE;
        u.msgid = 202;
        u.obj = 5;
        u.u.write.type = M531X_TYPE_STRING;
        u.u.write.value = "ab";
        u.u.write.value_len = 2;
        u.u.write.flag = 2;
        ev_urc(r, &u, NULL, 0);
        sent_ok(r, "AT+MIPLSOTA=2");
    }
    assert_int_equal(cp_of(r).bytes, 2048);
}

/* A chunk over cfg.chunk_max is refused before anything is stored. */
static void oversize_chunk(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    r->cfg.chunk_max = 512;
    assert_int_equal(sota_fsm_init(&r->fsm, &r->cfg, NULL, r->now), 0);
    rig_register(r, "test0");
    wr(r, 200, 1, 513);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    assert_true(has_note(r, SOTA_NOTE_BAD_CHUNK));
    sent_ok(r, "AT+MIPLSOTA=2");
    wr(r, 200, 1, 512);
    assert_non_null(find(r, SOTA_ACT_STORE_CHUNK));
}

static void store_failure(void **state)
{
    struct rig *r = *state;

    rig_erased(r);
    wr(r, 200, 1, 1024);
    stored(r, 200, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    wr(r, 201, 2, 1024);
    stored(r, 201, -28); /* -ENOSPC */
    assert_null(find(r, SOTA_ACT_PERSIST));
    assert_true(has_note(r, SOTA_NOTE_BAD_CHUNK));
    sent_ok(r, "AT+MIPLSOTA=2");
    assert_int_equal(cp_of(r).bytes, 1024);
    read_state(r, 300, 1, 0, 1024);
    wr(r, 201, 2, 1024);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 1024);
    stored(r, 201, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    assert_int_equal(cp_of(r).bytes, 2048);
}

static void chunk_exceeding_space(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    rig_register(r, "test0");
    device(r, "test0", 100, 1); /* 1 KiB free on the device */
    rd(r, 1, 3, 26261);
    sent_ok(r, "AT+MIPLREADRSP=0,1,1,3,0,26261,3,1,\"1\",0,0");
    ex(r, 100, 5, 26501);
    sent_ok(r, "AT+MIPLSOTA=3");
    wr(r, 200, 1, 1024);
    stored(r, 200, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    wr(r, 201, 2, 1);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    assert_int_equal(job_result(r), SOTA_RESULT_NO_SPACE);
    sent_ok(r, "AT+MIPLSOTA=2");
    read_state(r, 300, 0, 2, 0);

    /* the gateway's staging capacity counts as well */
    rig_start(r, NULL);
    rig_register(r, "test0");
    {
        struct sota_event ev = {.kind = SOTA_EV_DEVICE};

        fill_dev(&ev.u.device, "test0", 100, 256);
        ev.u.device.staging_free_kib = 2;
        step(r, &ev);
    }
    rd(r, 1, 3, 26261);
    sent_ok(r, "AT+MIPLREADRSP=0,1,1,3,0,26261,3,1,\"2\",0,0");
    ex(r, 100, 5, 26501);
    sent_ok(r, "AT+MIPLSOTA=3");
    wr(r, 200, 1, 1024);
    stored(r, 200, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    wr(r, 201, 2, 1024);
    stored(r, 201, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    wr(r, 202, 0, 10);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    sent_ok(r, "AT+MIPLSOTA=2");
    assert_int_equal(cp_of(r).result, SOTA_RESULT_NO_SPACE);
}

/* The FSM reports what the device says; the platform decides. */
static void low_battery_and_unknown_device(void **state)
{
    struct rig *r = *state;
    struct sota_event ev = {.kind = SOTA_EV_DEVICE};

    rig_start(r, NULL);
    rig_register(r, "test0");
    device(r, "test0", 5, 0);
    rd(r, 1, 3, 9);
    sent_ok(r, "AT+MIPLREADRSP=0,1,1,3,0,9,3,1,\"5\",0,0");
    rd(r, 2, 3, 26261);
    sent_ok(r, "AT+MIPLREADRSP=0,2,1,3,0,26261,3,1,\"0\",0,0");
    /* the device stops answering */
    step(r, &ev);
    rd(r, 3, 3, 9);
    sent_ok(r, "AT+MIPLREADRSP=0,3,13");
    rd(r, 4, 3, 19);
    sent_ok(r, "AT+MIPLREADRSP=0,4,13");
    rd(r, 5, 3, 26261);
    sent_ok(r, "AT+MIPLREADRSP=0,5,13");
    /* out-of-range data from the device is not reported */
    fill_dev(&ev.u.device, "test0", 250, 256);
    step(r, &ev);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    rd(r, 6, 3, 9);
    sent_ok(r, "AT+MIPLREADRSP=0,6,13");
}

/* A version the module cannot be sent: never stall, never send it. */
static void unsendable_version(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    ev_simple(r, SOTA_EV_START);
    sent_ok(r, "AT+MIPLCREATE");
    device(r, "te\"st", 100, 256);
    expect_no_send(r);
    assert_true(has_note(r, SOTA_NOTE_CMD_FAILED));
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
    rd(r, 1, 3, 19); /* not registered: no instance of ours asks */
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    expect_no_send(r);
    /* fixed by the next reading */
    device(r, "test0", 100, 256);
    r->now += r->cfg.retry_min_ms;
    fire(r, SOTA_TIMER_BACKOFF);
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
}

static void unknown_resources(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    rig_register(r, "test0");
    rd(r, 1, 3, 1);
    sent_ok(r, "AT+MIPLREADRSP=0,1,13");
    rd(r, 2, 5, 7);
    sent_ok(r, "AT+MIPLREADRSP=0,2,13");
    rd(r, 3, 3303, 5700);
    sent_ok(r, "AT+MIPLREADRSP=0,3,13");
    ex(r, 4, 5, 26600);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,4,13");
    urc_req(r, M531X_URC_WRITE, 5, 3, 0, 19);
    sent_ok(r, "AT+MIPLWRITERSP=0,5,13");
    /* other instance */
    {
        struct m531x_urc u;

        memset(&u, 0, sizeof u);
        u.kind = M531X_URC_READ;
        u.ref = 1;
        u.msgid = 6;
        u.obj = 3;
        u.res = 9;
        ev_urc(r, &u, NULL, 0);
        expect_no_send(r);
        assert_true(has_note(r, SOTA_NOTE_IGNORED));
    }
}

/* ---- check, flash, results --------------------------------------------- */

static void downloaded_rig(struct rig *r)
{
    rig_erased(r);
    download(r, 200, 3, 500);
}

static void failed_check(void **state)
{
    struct rig *r = *state;

    downloaded_rig(r);
    checked(r, SOTA_RESULT_INTEGRITY);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    assert_int_equal(job_result(r), SOTA_RESULT_INTEGRITY);
    assert_int_equal(find(r, SOTA_ACT_PERSIST)->u.persist.phase,
                     SOTA_PHASE_IDLE);
    read_state(r, 300, 0, 5, 0);
    ex(r, 301, 5, 2);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,301,14");
    assert_null(find(r, SOTA_ACT_FLASH));

    /* a bogus code from the shell still records a failure */
    downloaded_rig(r);
    checked(r, SOTA_RESULT_INITIAL);
    assert_int_equal(cp_of(r).result, SOTA_RESULT_INTEGRITY);
    downloaded_rig(r);
    checked(r, SOTA_RESULT_NO_SPACE);
    assert_int_equal(cp_of(r).result, SOTA_RESULT_NO_SPACE);
}

static void update_only_when_checked(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL);
    rig_register(r, "test0");
    ex(r, 1, 5, 2);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,1,14");
    downloaded_rig(r);
    ex(r, 2, 5, 2); /* still checking */
    sent_ok(r, "AT+MIPLEXECUTERSP=0,2,14");
    checked(r, SOTA_RESULT_SUCCESS);
    ex(r, 3, 5, 2);
    assert_non_null(find(r, SOTA_ACT_FLASH));
    sent_ok(r, "AT+MIPLEXECUTERSP=0,3,2");
    /* the same request resent: same answer, no second flash */
    ex(r, 3, 5, 2);
    assert_null(find(r, SOTA_ACT_FLASH));
    sent_ok(r, "AT+MIPLEXECUTERSP=0,3,2");
    /* nothing may be erased, cancelled or written while flashing */
    ex(r, 4, 5, 26501);
    assert_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLSOTA=4");
    wr(r, 5, 0, 0);
    sent_ok(r, "AT+MIPLWRITERSP=0,5,14");
    wr(r, 6, 1, 100);
    sent_ok(r, "AT+MIPLSOTA=2");
    read_state(r, 7, 3, 0, 2548);
}

static void failed_flash(void **state)
{
    struct rig *r = *state;

    downloaded_rig(r);
    checked(r, SOTA_RESULT_SUCCESS);
    ex(r, 1, 5, 2);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,1,2");
    {
        struct sota_event ev = {.kind = SOTA_EV_FLASHED};

        ev.u.flashed.result = SOTA_RESULT_UPDATE_FAILED;
        fill_dev(&ev.u.flashed.dev, "test0", 90, 256);
        step(r, &ev);
    }
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_DONE);
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    rd(r, 2, 3, 19);
    sent_ok(r, "AT+MIPLREADRSP=0,2,1,3,0,19,1,5,\"test0\",0,0");
    read_state(r, 3, 0, 8, 2548);
    wr(r, 4, 0, 0);
    assert_int_equal(job_result(r), SOTA_RESULT_UPDATE_FAILED);
    sent_ok(r, "AT+MIPLWRITERSP=0,4,2");
    /* later reads still report the failure */
    rd(r, 5, 5, 5);
    sent_ok(r, "AT+MIPLREADRSP=0,5,1,5,0,5,3,1,\"8\",0,0");
    /* a FLASHED nobody asked for is ignored */
    flashed(r, SOTA_RESULT_SUCCESS, "x");
    assert_int_equal(cp_of(r).result, SOTA_RESULT_UPDATE_FAILED);
}

static void empty_write_mid_download(void **state)
{
    struct rig *r = *state;

    downloading_rig(r);
    wr(r, 400, 0, 0);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    assert_int_equal(job_result(r), SOTA_RESULT_CANCELLED);
    sent_ok(r, "AT+MIPLWRITERSP=0,400,2");
    read_state(r, 401, 0, 10, 0);
    /* the next attempt starts over */
    ex(r, 402, 5, 26501);
    sent_ok(r, "AT+MIPLSOTA=3");
    read_state(r, 403, 0, 0, 0);

    /* a reset while a chunk is being stored abandons that store */
    downloading_rig(r);
    wr(r, 600, 2, 1024);
    assert_non_null(find(r, SOTA_ACT_STORE_CHUNK));
    wr(r, 601, 0, 0);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLWRITERSP=0,601,2");
    stored(r, 600, 0);
    assert_null(find(r, SOTA_ACT_PERSIST));
    expect_no_send(r);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    read_state(r, 602, 0, 10, 0);
}

static void first_chunk_restarts(void **state)
{
    struct rig *r = *state;
    const struct sota_action *a;

    downloading_rig(r);
    assert_int_equal(cp_of(r).bytes, 2048);
    wr(r, 500, 1, 100);
    assert_true(index_of(r, SOTA_ACT_RESET_STAGING) <
                index_of(r, SOTA_ACT_STORE_CHUNK));
    a = find(r, SOTA_ACT_PERSIST);
    assert_non_null(a);
    assert_int_equal(a->u.persist.bytes, 0);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 0);
    stored(r, 500, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    assert_int_equal(cp_of(r).bytes, 100);
}

/* ---- restarts ---------------------------------------------------------- */

static void resume_downloading(void **state)
{
    struct rig *r = *state;
    rig_from(r, SOTA_PHASE_DOWNLOADING, 2048, SOTA_RESULT_INITIAL, "");
    ev_simple(r, SOTA_EV_START);
    assert_true(has_note(r, SOTA_NOTE_RESTART));
    assert_true(has_note(r, SOTA_NOTE_RESUME));
    ok(r);
    device(r, "test0", 100, 256);
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    ex(r, 1, 5, 26550);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,1,2");
    read_state(r, 2, 1, 0, 2048);
    ex(r, 3, 5, 26501);
    assert_null(find(r, SOTA_ACT_RESET_STAGING));
    assert_true(has_note(r, SOTA_NOTE_RESUME));
    sent_ok(r, "AT+MIPLSOTA=3");
    wr(r, 4, 2, 1024);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 2048);
    assert_false(find(r, SOTA_ACT_STORE_CHUNK)->u.store.last);
    stored(r, 4, 0);
    sent_ok(r, "AT+MIPLSOTA=1");
    wr(r, 5, 0, 10);
    /* the shell records the image size with the last chunk */
    assert_true(find(r, SOTA_ACT_STORE_CHUNK)->u.store.last);
    stored(r, 5, 0);
    assert_int_equal(find(r, SOTA_ACT_CHECK_IMAGE)->u.image.size, 3082);
    sent_ok(r, "AT+MIPLSOTA=1");
}

static void operator(struct rig *r, enum sota_event_kind kind)
{
    ev_simple(r, kind);
}

/* PAUSE withholds chunk answers (nothing stored) and holds the flash;
 * RESUME goes on from the durable offset and starts the held flash. */
static void operator_pause_resume(void **state)
{
    struct rig *r = *state;
    struct sota_snapshot sn;

    downloading_rig(r);
    operator(r, SOTA_EV_PAUSE);
    sota_fsm_snapshot(&r->fsm, &sn);
    assert_true(sn.paused);
    wr(r, 202, 2, 1024);
    assert_null(find(r, SOTA_ACT_STORE_CHUNK));
    expect_no_send(r);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    read_state(r, 300, 1, 0, 2048); /* reads are still answered */
    operator(r, SOTA_EV_PAUSE);     /* twice: ignored */
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    operator(r, SOTA_EV_RESUME);
    wr(r, 202, 2, 1024); /* the platform's resend */
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 2048);
    stored(r, 202, 0);
    sent_ok(r, "AT+MIPLSOTA=1");

    /* a flash asked for while paused is held until RESUME */
    downloaded_rig(r);
    checked(r, SOTA_RESULT_SUCCESS);
    operator(r, SOTA_EV_PAUSE);
    ex(r, 400, 5, 2);
    assert_null(find(r, SOTA_ACT_FLASH));
    sent_ok(r, "AT+MIPLEXECUTERSP=0,400,2");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_FLASHING);
    operator(r, SOTA_EV_RESUME);
    assert_non_null(find(r, SOTA_ACT_FLASH));

    /* a running flash stopped by the shell for PAUSE starts again */
    downloaded_rig(r);
    checked(r, SOTA_RESULT_SUCCESS);
    ex(r, 401, 5, 2);
    assert_non_null(find(r, SOTA_ACT_FLASH));
    sent_ok(r, "AT+MIPLEXECUTERSP=0,401,2");
    operator(r, SOTA_EV_PAUSE);
    sota_fsm_snapshot(&r->fsm, &sn);
    assert_false(sn.flash_running);
    operator(r, SOTA_EV_RESUME);
    assert_non_null(find(r, SOTA_ACT_FLASH));
    flashed(r, SOTA_RESULT_SUCCESS, "test000");
    expect_send(r, "AT+MIPLUPDATE=0,0,0");
}

/* CANCEL ends the job with result 10 and drops the staged image; the
 * platform's next reads see state 0, result 10. Nothing to cancel when
 * idle. */
static void operator_cancel(void **state)
{
    struct rig *r = *state;

    downloading_rig(r);
    operator(r, SOTA_EV_CANCEL);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    assert_non_null(find(r, SOTA_ACT_PERSIST));
    assert_int_equal(job_result(r), SOTA_RESULT_CANCELLED);
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_IDLE);
    read_state(r, 500, 0, 10, 0);

    operator(r, SOTA_EV_CANCEL); /* idle now */
    assert_null(find(r, SOTA_ACT_JOB_END));
    assert_true(has_note(r, SOTA_NOTE_IGNORED));

    downloaded_rig(r);
    checked(r, SOTA_RESULT_SUCCESS);
    ex(r, 401, 5, 2);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,401,2");
    operator(r, SOTA_EV_CANCEL); /* during the flash */
    assert_int_equal(job_result(r), SOTA_RESULT_CANCELLED);
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_IDLE);
}

static void load(struct rig *r, unsigned failed, unsigned hub)
{
    struct sota_event ev = {.kind = SOTA_EV_LOAD};

    ev.u.load.failed_attempts = failed;
    ev.u.load.hub_downloads = hub;
    step(r, &ev);
    expect_no_send(r);
}

/* retry_budget and downloads_per_hub refuse a new download with the
 * erase-fail value; the machine stays idle and a later attempt within the
 * budgets is accepted. A resume is never refused. */
static void download_policies(void **state)
{
    struct rig *r = *state;

    rig_start(r, NULL); /* default retry_budget 5 */
    rig_register(r, "test0");
    load(r, 5, 0);
    ex(r, 100, 5, 26501);
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLSOTA=3");

    rig_start(r, NULL);
    rig_register(r, "test0");
    load(r, 6, 0);
    ex(r, 100, 5, 26501);
    assert_null(find(r, SOTA_ACT_RESET_STAGING));
    assert_true(has_note(r, SOTA_NOTE_REFUSED));
    sent_ok(r, "AT+MIPLSOTA=4");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_IDLE);

    memset(r, 0, sizeof *r);
    r->now = T0;
    sota_config_default(&r->cfg);
    r->cfg.downloads_per_hub = 2;
    assert_int_equal(sota_fsm_init(&r->fsm, &r->cfg, NULL, r->now), 0);
    rig_register(r, "test0");
    load(r, 0, 2);
    ex(r, 100, 5, 26501);
    assert_true(has_note(r, SOTA_NOTE_REFUSED));
    sent_ok(r, "AT+MIPLSOTA=4");
    load(r, 0, 1);
    ex(r, 101, 5, 26501);
    assert_false(has_note(r, SOTA_NOTE_REFUSED));
    assert_non_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLSOTA=3");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_IDLE);

    /* a resume of durable bytes goes on whatever the counts say */
    rig_from(r, SOTA_PHASE_DOWNLOADING, 2048, SOTA_RESULT_INITIAL, "");
    ev_simple(r, SOTA_EV_START);
    ok(r);
    device(r, "test0", 100, 256);
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    load(r, 99, 99);
    ex(r, 3, 5, 26501);
    assert_false(has_note(r, SOTA_NOTE_REFUSED));
    assert_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLSOTA=3");
}

static void resume_checking(void **state)
{
    struct rig *r = *state;
    rig_from(r, SOTA_PHASE_CHECKING, 13658, SOTA_RESULT_INITIAL, "");
    ev_simple(r, SOTA_EV_START);
    assert_int_equal(find(r, SOTA_ACT_CHECK_IMAGE)->u.image.size, 13658);
    expect_send(r, "AT+MIPLCREATE");
    checked(r, SOTA_RESULT_SUCCESS);
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_DOWNLOADED);
}

static void resume_downloaded(void **state)
{
    struct rig *r = *state;
    rig_from(r, SOTA_PHASE_DOWNLOADED, 13658, SOTA_RESULT_INITIAL, "");
    rig_register(r, "test0");
    read_state(r, 1, 2, 0, 13658);
    rd(r, 2, 3, 9);
    sent_ok(r, "AT+MIPLREADRSP=0,2,1,3,0,9,3,3,\"100\",0,0");
    ex(r, 3, 5, 2);
    assert_int_equal(find(r, SOTA_ACT_FLASH)->u.image.size, 13658);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,3,2");
}

static void resume_flashing(void **state)
{
    struct rig *r = *state;
    rig_from(r, SOTA_PHASE_FLASHING, 13658, SOTA_RESULT_INITIAL, "");
    ev_simple(r, SOTA_EV_START);
    assert_null(find(r, SOTA_ACT_FLASH));
    ok(r);
    device(r, "test0", 100, 256);
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    assert_int_equal(find(r, SOTA_ACT_FLASH)->u.image.size, 13658);
    /* The platform's new attempt sees the image downloaded
     * (docs/M531X-REFERENCE.md 3.4: state 2 skips the download), and its
     * execute 5/0/2 continues the flash under way: no second FLASH. */
    read_state(r, 1, 2, 0, 13658);
    ex(r, 3, 5, 2);
    assert_null(find(r, SOTA_ACT_FLASH));
    assert_true(has_note(r, SOTA_NOTE_RESUME));
    sent_ok(r, "AT+MIPLEXECUTERSP=0,3,2");
    read_state(r, 4, 3, 0, 13658);
    flashed(r, SOTA_RESULT_SUCCESS, "test000");
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    rd(r, 2, 3, 19);
    sent_ok(r, "AT+MIPLREADRSP=0,2,1,3,0,19,1,7,\"test000\",0,0");
}

/* Restarted mid-flash, the flash finishes before this attempt asks for
 * it: the attempt reads 3/0/19 and ends the task by it (no final write),
 * so the job ends there; or it asks for 5/0/2 after all, and gets the
 * completion again. */
static void flash_finished_unasked(void **state)
{
    struct rig *r = *state;

    rig_from(r, SOTA_PHASE_FLASHING, 13658, SOTA_RESULT_INITIAL, "");
    ev_simple(r, SOTA_EV_START);
    ok(r);
    device(r, "test0", 100, 256);
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    assert_non_null(find(r, SOTA_ACT_FLASH));
    flashed(r, SOTA_RESULT_SUCCESS, "test000");
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_DONE);
    rd(r, 1, 3, 19);
    assert_int_equal(job_result(r), SOTA_RESULT_SUCCESS);
    sent_ok(r, "AT+MIPLREADRSP=0,1,1,3,0,19,1,7,\"test000\",0,0");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_IDLE);

    rig_from(r, SOTA_PHASE_FLASHING, 13658, SOTA_RESULT_INITIAL, "");
    ev_simple(r, SOTA_EV_START);
    ok(r);
    device(r, "test0", 100, 256);
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    read_state(r, 2, 2, 0, 13658); /* read while the flash went on */
    flashed(r, SOTA_RESULT_SUCCESS, "test000");
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    ex(r, 3, 5, 2);
    sent_ok(r, "AT+MIPLEXECUTERSP=0,3,2");
    sent_ok(r, "AT+MIPLUPDATE=0,0,0");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_DONE);
    rd(r, 4, 3, 19); /* now an attempt that asked: wait for the write */
    sent_ok(r, "AT+MIPLREADRSP=0,4,1,3,0,19,1,7,\"test000\",0,0");
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_DONE);
    wr(r, 5, 0, 0);
    assert_int_equal(job_result(r), SOTA_RESULT_SUCCESS);
    sent_ok(r, "AT+MIPLWRITERSP=0,5,2");
}

static void resume_done(void **state)
{
    struct rig *r = *state;
    rig_from(r, SOTA_PHASE_DONE, 13658, SOTA_RESULT_SUCCESS, "test000");
    ev_simple(r, SOTA_EV_START);
    /* the new version is known from the checkpoint */
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test000\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    expect_no_send(r); /* re-registering replaces the completion UPDATE */
    /* the attempt that would send the final write is gone: the job ends
     * now, and the platform's new attempt judges by 3/0/19 (reference
     * 3.4) */
    assert_int_equal(job_result(r), SOTA_RESULT_SUCCESS);
    assert_int_equal(cp_of(r).phase, SOTA_PHASE_IDLE);
    rd(r, 1, 3, 19);
    sent_ok(r, "AT+MIPLREADRSP=0,1,1,3,0,19,1,7,\"test000\",0,0");
    wr(r, 2, 0, 0); /* a late final write is still answered */
    sent_ok(r, "AT+MIPLWRITERSP=0,2,2");
}

static void modem_reset_mid_download(void **state)
{
    struct rig *r = *state;
    const struct sota_action *a;

    downloading_rig(r);
    wr(r, 600, 2, 1024);
    assert_non_null(find(r, SOTA_ACT_STORE_CHUNK));
    ev_simple(r, SOTA_EV_MODEM_RESET);
    assert_int_equal(snap(r).reg, SOTA_REG_BACKOFF);
    /* the chunk lands on disk: persisted, but not acknowledged to an
     * instance that is gone */
    stored(r, 600, 0);
    a = find(r, SOTA_ACT_PERSIST);
    assert_non_null(a);
    assert_int_equal(a->u.persist.bytes, 3072);
    expect_no_send(r);
    r->now += r->cfg.retry_min_ms;
    fire(r, SOTA_TIMER_BACKOFF);
    sent_ok(r, "AT+MIPLCREATE");
    sent_ok(r, "AT+MIPLSOTAVER=\"test0\"");
    sent_ok(r, "AT+MIPLOPEN=0,600,60");
    mevent(r, 6);
    read_state(r, 1, 1, 0, 3072);
    ex(r, 2, 5, 26501);
    assert_null(find(r, SOTA_ACT_RESET_STAGING));
    sent_ok(r, "AT+MIPLSOTA=3");
    /* the platform resends chunk 600 with a new msgid at offset 3072 */
    wr(r, 3, 2, 1024);
    assert_int_equal(find(r, SOTA_ACT_STORE_CHUNK)->u.store.offset, 3072);

    /* a reset while a command is in flight: the command is dropped */
    downloading_rig(r);
    rd(r, 7, 3, 9);
    ev_simple(r, SOTA_EV_MODEM_RESET);
    assert_null(find(r, SOTA_ACT_SEND));
    assert_int_equal(snap(r).cmd_in_flight, 0);
    assert_int_equal(snap(r).cmds_queued, 0);
}

static void checkpoint_validation(void **state)
{
    struct bad {
        const char *name;
        enum sota_phase phase;
        uint32_t bytes, size;
        int32_t last;
        int result;
    };
    static const struct bad cases[] = {
        {"idle with bytes", SOTA_PHASE_IDLE, 10, 0, 1, 0},
        {"downloading with a size", SOTA_PHASE_DOWNLOADING, 10, 10, 1, 0},
        {"downloaded without bytes", SOTA_PHASE_DOWNLOADED, 0, 0, -1, 0},
        {"checking size mismatch", SOTA_PHASE_CHECKING, 10, 11, 1, 0},
        {"bytes without msgid", SOTA_PHASE_DOWNLOADING, 10, 0, -1, 0},
        {"result out of range", SOTA_PHASE_IDLE, 0, 0, -1, 12},
        {"phase out of range", (enum sota_phase)9, 0, 0, -1, 0},
        {"bytes over the cap", SOTA_PHASE_DOWNLOADING, 0x7fffffff, 0, 1, 0},
    };
    struct sota_checkpoint cp;
    struct sota_config cfg;
    struct sota_fsm fsm;

    (void)state;
    sota_config_default(&cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sota_checkpoint_init(&cp);
        cp.phase = cases[i].phase;
        cp.bytes = cases[i].bytes;
        cp.image_size = cases[i].size;
        cp.last_msgid = cases[i].last;
        cp.result = (enum sota_result)cases[i].result;
        print_message("case: %s\n", cases[i].name);
        assert_int_equal(sota_checkpoint_validate(&cp, cfg.image_max),
                         GW_E_CORRUPT);
        assert_int_equal(sota_fsm_init(&fsm, &cfg, &cp, 0), GW_E_CORRUPT);
    }
    sota_checkpoint_init(&cp);
    memset(cp.new_version, 'x', sizeof cp.new_version);
    assert_int_equal(sota_checkpoint_validate(&cp, cfg.image_max),
                     GW_E_CORRUPT);
    /* a bad config */
    cfg.retry_max_ms = cfg.retry_min_ms - 1;
    assert_int_equal(sota_fsm_init(&fsm, &cfg, NULL, 0), GW_E_CONFIG);
    sota_config_default(&cfg);
    cfg.dialect.sota_write_ok = cfg.dialect.sota_erase_ok;
    assert_int_equal(sota_fsm_init(&fsm, &cfg, NULL, 0), GW_E_CONFIG);
}

static void bad_events(void **state)
{
    struct rig *r = *state;
    struct sota_event ev = {.kind = SOTA_EV_URC};

    rig_start(r, NULL);
    ev.u.urc.urc = NULL;
    assert_int_equal(sota_fsm_step(&r->fsm, &ev, r->now, &r->act), GW_E_INVAL);
    ev.kind = (enum sota_event_kind)99;
    assert_int_equal(sota_fsm_step(&r->fsm, &ev, r->now, &r->act), GW_E_INVAL);
    assert_int_equal(sota_fsm_step(&r->fsm, NULL, r->now, &r->act), GW_E_INVAL);
    /* START twice */
    ev_simple(r, SOTA_EV_START);
    ev_simple(r, SOTA_EV_START);
    assert_true(has_note(r, SOTA_NOTE_IGNORED));
    expect_no_send(r);
}

static void names(void **state)
{
    (void)state;
    for (int i = 0; i < SOTA_PHASE_COUNT; i++)
        assert_string_not_equal(sota_phase_name((enum sota_phase)i), "?");
    for (int i = 0; i <= SOTA_RESULT_MAX; i++)
        assert_string_not_equal(sota_result_name((enum sota_result)i), "?");
    assert_string_equal(sota_phase_name((enum sota_phase)77), "?");
    assert_int_equal(sota_phase_oma_state(SOTA_PHASE_CHECKING), 2);
    assert_int_equal(sota_phase_oma_state(SOTA_PHASE_DONE), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(happy_path),
        T(one_command_at_a_time),
        T(queue_bounded),
        T(restart_with_cis_602),
        T(cis_602_bounded),
        T(registration_timeout_backs_off),
        T(command_timeout),
        T(registration_lost_events),
        T(doubtful_events_checked),
        T(late_unregister_of_deleted_instance),
        T(events_judged_by_state),
        T(registration_escalates),
        T(keepalive_by_timer),
        T(keepalive_rules),
        T(duplicate_chunks),
        T(out_of_order_chunks),
        T(lone_last_chunk),
        T(invalid_chunk_data),
        T(oversize_chunk),
        T(store_failure),
        T(chunk_exceeding_space),
        T(low_battery_and_unknown_device),
        T(unsendable_version),
        T(unknown_resources),
        T(failed_check),
        T(update_only_when_checked),
        T(failed_flash),
        T(empty_write_mid_download),
        T(first_chunk_restarts),
        T(download_policies),
        T(operator_pause_resume),
        T(operator_cancel),
        T(resume_downloading),
        T(resume_checking),
        T(resume_downloaded),
        T(resume_flashing),
        T(flash_finished_unasked),
        T(resume_done),
        T(modem_reset_mid_download),
        T(checkpoint_validation),
        T(bad_events),
        T(names),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
