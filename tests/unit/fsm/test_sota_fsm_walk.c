/* test_sota_fsm_walk.c: long pseudo-random walks (fixed seeds) of events a
 * broken modem, platform, disk or field device could produce, with a
 * model of the shell that checks the contract after every step:
 *   - sota_fsm_step() consumes every event (returns 0);
 *   - at most one SEND per step, and only when no command is in flight;
 *   - STORE_CHUNK appends exactly at the end of what is staged;
 *   - every PERSIST is a valid checkpoint and never claims bytes that are
 *     not staged;
 *   - a read of 5/0/26500 is answered with the durable count;
 *   - the FSM's own view of the command in flight matches the model.
 * Deterministic: the same seeds give the same walk on every run. */
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

#define STEPS 20000

struct model {
    struct sota_config cfg;
    struct sota_fsm fsm;
    struct sota_actions act;
    uint32_t rng;
    int64_t now;
    int in_flight;
    uint64_t staged; /* bytes the fake staging holds */
    int store_pending;
    int32_t store_msgid;
    uint32_t store_len;
    int cmd_timer_armed;
    int64_t cmd_timer_at;
    int bytes_read;   /* this step reads 5/0/26500 */
    uint32_t durable; /* bytes of the last PERSIST */
    uint8_t data[M531X_OPAQUE_MAX];
    unsigned sends, stores, persists, job_ends, flashes, bytes_reads;
};

/* The machine read through its API. */
static struct sota_snapshot snap(const struct model *x)
{
    struct sota_snapshot sn;

    sota_fsm_snapshot(&x->fsm, &sn);
    return sn;
}

static uint32_t rnd(struct model *m, uint32_t n)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 17;
    m->rng ^= m->rng << 5;
    return m->rng % n;
}

/* Digits of the 5/0/26500 value in a READRSP line; -1 if not one. */
static long bytes_answer(const char *text)
{
    const char *p = strstr(text, ",5,0,26500,3,");
    const char *q;

    if (p == NULL)
        return -1;
    q = strchr(p + 13, '"');
    assert_non_null(q);
    return strtol(q + 1, NULL, 10);
}

static void check_actions(struct model *m)
{
    unsigned sends = 0;

    assert_true(m->act.n <= SOTA_ACTIONS_MAX);
    for (size_t i = 0; i < m->act.n; i++) {
        const struct sota_action *a = &m->act.v[i];

        switch (a->kind) {
        case SOTA_ACT_SEND:
            assert_false(m->in_flight);
            assert_int_equal(a->u.send.len, strlen(a->u.send.text));
            assert_true(a->u.send.len < SOTA_CMD_TEXT_MAX);
            /* the first line of this step's answer goes out at once */
            if (m->bytes_read) {
                assert_int_equal(bytes_answer(a->u.send.text), m->durable);
                m->bytes_reads++;
            }
            m->in_flight = 1;
            sends++;
            m->sends++;
            break;
        case SOTA_ACT_STORE_CHUNK:
            assert_false(m->store_pending);
            assert_int_equal(a->u.store.offset, m->staged);
            assert_non_null(a->u.store.data);
            assert_true(a->u.store.len > 0);
            m->store_pending = 1;
            m->store_msgid = a->u.store.msgid;
            m->store_len = (uint32_t)a->u.store.len;
            m->stores++;
            break;
        case SOTA_ACT_RESET_STAGING:
            m->staged = 0;
            m->store_pending = 0; /* the shell abandons it */
            break;
        case SOTA_ACT_PERSIST:
            assert_int_equal(
                sota_checkpoint_validate(&a->u.persist, m->cfg.image_max), 0);
            assert_true(a->u.persist.bytes <= m->staged);
            m->durable = a->u.persist.bytes;
            m->persists++;
            break;
        case SOTA_ACT_JOB_END: m->job_ends++; break;
        case SOTA_ACT_ARM_TIMER:
            if (a->u.timer.id == SOTA_TIMER_CMD) {
                m->cmd_timer_armed = 1;
                m->cmd_timer_at = a->u.timer.at;
            }
            break;
        case SOTA_ACT_CANCEL_TIMER:
            if (a->u.timer.id == SOTA_TIMER_CMD)
                m->cmd_timer_armed = 0;
            break;
        case SOTA_ACT_FLASH: m->flashes++; break;
        case SOTA_ACT_CHECK_IMAGE:
        case SOTA_ACT_NOTE: break;
        }
    }
    assert_true(sends <= 1);
}

static void step(struct model *m, const struct sota_event *ev)
{
    struct sota_snapshot sn;

    m->bytes_read = ev->kind == SOTA_EV_URC &&
                    ev->u.urc.urc->kind == M531X_URC_READ &&
                    ev->u.urc.urc->ref == 0 && ev->u.urc.urc->obj == 5 &&
                    ev->u.urc.urc->res == 26500 && !m->in_flight;
    assert_int_equal(sota_fsm_step(&m->fsm, ev, m->now, &m->act), 0);
    check_actions(m);
    sota_fsm_snapshot(&m->fsm, &sn);
    assert_int_equal(sn.cmd_in_flight, m->in_flight);
    assert_int_equal(sn.store_pending, m->store_pending);
    assert_int_equal(sn.bytes, m->durable);
}

static void random_urc(struct model *m, struct m531x_urc *u,
                       struct sota_event *ev)
{
    static const int32_t reads[][2] = {{3, 9},     {3, 19}, {3, 26261},
                                       {5, -1},    {5, 3},  {5, 5},
                                       {5, 26500}, {3, 1},  {9, 9}};
    static const int32_t execs[] = {26550, 26501, 2, 2, 2, 26600};
    static const int32_t events[] = {6, 6, 6, 3, 5, 7, 8, 9, 11, 14, 15, 26};
    size_t len;

    memset(u, 0, sizeof *u);
    u->msgid = (int32_t)rnd(m, 40);
    u->ins = 0;
    u->ref = rnd(m, 50) == 0 ? 1 : 0;
    switch (rnd(m, 5)) {
    case 0:
        u->kind = M531X_URC_READ;
        u->obj = reads[rnd(m, 9)][0];
        u->res = reads[rnd(m, 9)][1];
        break;
    case 1:
        u->kind = M531X_URC_EXECUTE;
        u->obj = 5;
        u->res = execs[rnd(m, 6)];
        break;
    case 2:
        u->kind = M531X_URC_EVENT;
        u->msgid = -1;
        u->u.event.evt = events[rnd(m, 12)];
        break;
    default:
        u->kind = M531X_URC_WRITE;
        u->obj = 5;
        u->res = rnd(m, 20) == 0 ? 1 : 0;
        u->u.write.type =
            rnd(m, 30) == 0 ? M531X_TYPE_STRING : M531X_TYPE_OPAQUE;
        u->u.write.flag = (int)rnd(m, 3);
        len = rnd(m, 8) == 0 ? 0 : 1 + rnd(m, M531X_OPAQUE_MAX);
        u->u.write.value = "00";
        u->u.write.value_len = len * 2;
        u->u.write.data_len = len;
        ev->u.urc.data = len ? m->data : NULL;
        ev->u.urc.data_len = len;
        break;
    }
    ev->u.urc.urc = u;
}

static void random_device(struct model *m, struct sota_device_info *d)
{
    memset(d, 0, sizeof *d);
    d->known = rnd(m, 6) != 0;
    snprintf(d->version, sizeof d->version, "v%u", (unsigned)rnd(m, 3));
    d->battery_pct = (int)rnd(m, 130) - 10;
    d->free_kib = (int64_t)rnd(m, 40) - 2;
    d->staging_free_kib = (int64_t)rnd(m, 60) - 2;
}

/* Requests count only on a registered instance (the machine ignores them
 * otherwise), so half the time an unregistered machine is helped along:
 * the command in flight succeeds, device data arrives, event 6 comes, the
 * backoff timer fires. Returns 1 when it produced an event. */
static int drive_registration(struct model *m, struct sota_event *ev,
                              struct m531x_urc *u)
{
    memset(ev, 0, sizeof *ev);
    if (m->in_flight) {
        ev->kind = SOTA_EV_CMD_DONE;
        ev->u.cmd.status = SOTA_CMD_OK;
        ev->u.cmd.code = -1;
        m->in_flight = 0;
        return 1;
    }
    switch (snap(m).reg) {
    case SOTA_REG_WAIT_EVENT:
        memset(u, 0, sizeof *u);
        u->kind = M531X_URC_EVENT;
        u->msgid = -1;
        u->obj = u->ins = u->res = -1;
        u->u.event.evt = 6;
        ev->kind = SOTA_EV_URC;
        ev->u.urc.urc = u;
        return 1;
    case SOTA_REG_WAIT_DEVICE:
        ev->kind = SOTA_EV_DEVICE;
        random_device(m, &ev->u.device);
        ev->u.device.known = 1;
        return 1;
    case SOTA_REG_REBOOTING: /* the boot banner */
        ev->kind = SOTA_EV_MODEM_RESET;
        m->in_flight = 0; /* no final will come */
        return 1;
    case SOTA_REG_BACKOFF:
    case SOTA_REG_FAILED:
        if (!(sota_fsm_timer_deadline(&m->fsm, SOTA_TIMER_BACKOFF) !=
              INT64_MAX))
            return 0;
        if (m->now < sota_fsm_timer_deadline(&m->fsm, SOTA_TIMER_BACKOFF))
            m->now = sota_fsm_timer_deadline(&m->fsm, SOTA_TIMER_BACKOFF);
        ev->kind = SOTA_EV_TIMER;
        ev->u.timer = SOTA_TIMER_BACKOFF;
        return 1;
    case SOTA_REG_STOPPED:
    case SOTA_REG_CREATING:
    case SOTA_REG_DELETING:
    case SOTA_REG_VERSION:
    case SOTA_REG_OPENING:
    case SOTA_REG_REGISTERED: break;
    }
    return 0;
}

static void walk(uint32_t seed)
{
    struct model *m = calloc(1, sizeof *m);
    struct sota_event ev;
    struct m531x_urc u;

    assert_non_null(m);
    m->rng = seed;
    m->now = 1000;
    sota_config_default(&m->cfg);
    assert_int_equal(sota_fsm_init(&m->fsm, &m->cfg, NULL, m->now), 0);
    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_START;
    step(m, &ev);
    for (int i = 0; i < STEPS; i++) {
        memset(&ev, 0, sizeof ev);
        m->now += rnd(m, 3000);
        if (snap(m).reg != SOTA_REG_REGISTERED && rnd(m, 2) == 0 &&
            drive_registration(m, &ev, &u)) {
            step(m, &ev);
            continue;
        }
        switch (rnd(m, 12)) {
        case 0:
        case 1:
        case 2:
            ev.kind = SOTA_EV_CMD_DONE;
            ev.u.cmd.status =
                (enum sota_cmd_status)(rnd(m, 6) < 4 ? SOTA_CMD_OK : rnd(m, 5));
            ev.u.cmd.code = rnd(m, 4) == 0 ? 602 : -1;
            m->in_flight = 0; /* completes it, or is a stray */
            break;
        case 3:
        case 4:
        case 5:
            ev.kind = SOTA_EV_URC;
            random_urc(m, &u, &ev);
            break;
        case 6:
            ev.kind = SOTA_EV_STORED;
            ev.u.stored.msgid = m->store_pending && rnd(m, 8) != 0
                                    ? m->store_msgid
                                    : (int32_t)rnd(m, 40);
            ev.u.stored.rc = rnd(m, 6) == 0 ? GW_E_NOSPACE : 0;
            if (m->store_pending && ev.u.stored.msgid == m->store_msgid) {
                m->store_pending = 0;
                if (ev.u.stored.rc == 0)
                    m->staged += m->store_len;
            }
            break;
        case 7:
            ev.kind = SOTA_EV_CHECKED;
            ev.u.checked.result =
                rnd(m, 2) ? SOTA_RESULT_SUCCESS : (enum sota_result)rnd(m, 13);
            break;
        case 8:
            ev.kind = SOTA_EV_FLASHED;
            ev.u.flashed.result = (enum sota_result)rnd(m, 13);
            random_device(m, &ev.u.flashed.dev);
            break;
        case 9:
            ev.kind = SOTA_EV_DEVICE;
            random_device(m, &ev.u.device);
            break;
        case 10:
            ev.kind = SOTA_EV_TIMER;
            ev.u.timer = (enum sota_timer)rnd(m, SOTA_TIMER_COUNT);
            if (ev.u.timer == SOTA_TIMER_CMD && m->cmd_timer_armed &&
                m->now >= m->cmd_timer_at) {
                m->cmd_timer_armed = 0;
                m->in_flight = 0; /* the command times out */
            }
            break;
        default:
            if (rnd(m, 4) == 0) {
                ev.kind = SOTA_EV_MODEM_RESET;
                m->in_flight = 0; /* no final will come */
            } else {
                ev.kind = SOTA_EV_BAD_URC;
                ev.u.bad.msgid = (int32_t)rnd(m, 40) - 1;
            }
            break;
        }
        step(m, &ev);
    }
    print_message("seed %u: %u sends, %u stores, %u persists, %u flashes, "
                  "%u job ends, %u byte reads\n",
                  (unsigned)seed, m->sends, m->stores, m->persists, m->flashes,
                  m->job_ends, m->bytes_reads);
    /* the walk reached the interesting parts */
    assert_true(m->sends > 1000);
    assert_true(m->stores > 10);
    assert_true(m->flashes > 0);
    assert_true(m->bytes_reads > 3);
    free(m);
}

static void random_walks(void **state)
{
    static const uint32_t seeds[] = {1, 99, 4242, 0xC0FFEE};

    (void)state;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        walk(seeds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_walks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
