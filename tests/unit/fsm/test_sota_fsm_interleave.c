/* test_sota_fsm_interleave.c: seeded random interleavings of finals, URCs
 * and timer expiries through registration, a download, a flash and
 * gateway restarts, against a truthful model of one module and of the
 * OneNET platform (docs/PROTOCOL.md, "Registration"; "reference N" is
 * section N of docs/M531X-REFERENCE.md).
 *
 * The module answers every command at once, but its final and its URCs
 * reach the machine in any order the adversary picks: URCs late, early,
 * repeated, events of a deleted instance after the next OPEN, stale
 * failure events, lost finals, a lapsed lifetime, a module reboot, a
 * gateway restart from the last PERSIST. Then a calm phase lets the world
 * behave and the task must finish.
 *
 * Checked after every step:
 *   - never an answer to a request of a deleted instance;
 *   - never AT+MIPLOPEN without AT+MIPLSOTAVER since the CREATE ("no
 *     entity");
 *   - never AT+MIPLUPDATE while the field device is flashed, nor a second
 *     one before the job has ended (it means "flashing finished");
 *   - the staged bytes are the image's bytes, stored in order;
 * and at the end of the calm phase, within a bounded number of steps:
 *   - the task succeeded (the device runs the new version), and the
 *     machine is registered while the module is (in step), or the machine
 *     says "failed: registration".
 * Deterministic: the same seed gives the same run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "orch/sota_fsm.h"

#define RUNS        3000
#define WILD_STEPS  400              /* steps with faults */
#define CALM_STEPS  6000             /* bound for the task to end afterwards */
#define CALM_MS     (10 * 60 * 1000) /* and in model time */
#define QMAX        48               /* URCs in the air */
#define CHUNK       256
#define IMAGE       (4 * CHUNK - 40)
#define RESEND_MS   3000
#define MAX_RESENDS 3
#define GEN_MAX     4096 /* instances one run may create */
#define OLD_VER     "1.0"
#define NEW_VER     "2.0"

enum item_kind { IT_URC, IT_BANNER };

struct item {
    enum item_kind kind;
    int gen;            /* the instance it belongs to */
    int32_t msgid;      /* a platform request's, -1 otherwise */
    int64_t not_before; /* a network answer takes time */
    char text[2 * CHUNK + 64];
};

/* Platform steps of one attempt (seed steps 10 to 16). */
enum pstep {
    P_MODE,    /* execute 5/0/26550 */
    P_VERSION, /* read 3/0/19: at target already? */
    P_STATE,   /* read 5/0/-1 */
    P_ERASE,   /* execute 5/0/26501 */
    P_CHUNK,   /* the chunks */
    P_UPDATE,  /* execute 5/0/2 */
    P_WAIT,    /* AT+MIPLUPDATE */
    P_CONFIRM, /* read 3/0/19 */
    P_FINAL,   /* the empty write */
    P_DONE
};

struct run {
    struct sota_config cfg;
    struct sota_fsm fsm;
    struct sota_actions act;
    uint32_t rng;
    int64_t now;
    int wild;

    /* the module */
    uint32_t seed;
    int late15; /* this module prints 15 well after the DELETE's OK */
    int inst, gen_next, opened, registered, versioned;
    uint8_t deleted[GEN_MAX];  /* instances the machine itself deleted */
    int held_gen, held_finals; /* a deleted instance's requests may still
                                  come out until this many finals */
    int inflight;              /* a command the machine waits for */
    enum sota_cmd_status final_st;
    int final_code;
    struct item q[QMAX];
    size_t qn;
    int timers[SOTA_TIMER_COUNT];
    int64_t timer_at[SOTA_TIMER_COUNT];

    /* the platform */
    enum pstep ps;
    int attempt_gen; /* the registration the attempt runs on */
    int32_t msgid_next, waiting, resends;
    char last_req[2 * CHUNK + 64];
    int64_t asked_at;
    int state_seen, bytes_seen, answer_lines;
    uint32_t offset;
    int task_done;

    /* the shell */
    struct sota_checkpoint durable;
    uint8_t image[IMAGE], staged[IMAGE];
    uint32_t nstaged;
    int store_pending, store_last;
    int32_t store_msgid;
    uint32_t store_off, store_len;
    uint8_t store_buf[CHUNK];
    int check_pending, flash_pending, flashing, completed, device_new;

    unsigned restarts, reg_failed_notes, answers, stale_events;
};

/* The machine read through its API. */
static struct sota_snapshot snap(const struct run *x)
{
    struct sota_snapshot sn;

    sota_fsm_snapshot(&x->fsm, &sn);
    return sn;
}

static struct sota_checkpoint cp_of(const struct run *x)
{
    struct sota_checkpoint cp;

    sota_fsm_checkpoint(&x->fsm, &cp);
    return cp;
}

static uint32_t rnd(struct run *r, uint32_t n)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 17;
    r->rng ^= r->rng << 5;
    return r->rng % n;
}

static void push(struct run *r, enum item_kind kind, int gen, int32_t msgid,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int advance(struct run *r);

static void push(struct run *r, enum item_kind kind, int gen, int32_t msgid,
                 const char *fmt, ...)
{
    struct item *it;
    va_list ap;

    if (r->qn == QMAX)
        return; /* the air is full: lost, as on a real line */
    it = &r->q[r->qn++];
    it->kind = kind;
    it->gen = gen;
    it->msgid = msgid;
    it->not_before = r->now;
    va_start(ap, fmt);
    vsnprintf(it->text, sizeof it->text, fmt, ap);
    va_end(ap);
}

static void event(struct run *r, int gen, int evt)
{
    push(r, IT_URC, gen, -1, "+MIPLEVENT:0,%d", evt);
}

/* An event that reports a network exchange: up to max_ms later. */
static void event_net(struct run *r, int gen, int evt, uint32_t max_ms)
{
    event(r, gen, evt);
    if (r->qn > 0)
        r->q[r->qn - 1].not_before = r->now + rnd(r, max_ms);
}

static void drop(struct run *r, size_t i)
{
    memmove(&r->q[i], &r->q[i + 1], (r->qn - i - 1) * sizeof r->q[0]);
    r->qn--;
}

/* ---- the module: every command as the documents describe it ---------- */

static void final(struct run *r, enum sota_cmd_status st, int code)
{
    r->inflight = 1;
    r->final_st = st;
    r->final_code = code;
}

static void platform_answer(struct run *r, const struct sota_action *a);

static void module_cmd(struct run *r, const struct sota_action *a)
{
    const char *t = a->u.send.text;

    assert_false(r->inflight);
    switch (a->u.send.cmd) {
    case SOTA_CMDK_CREATE:
        if (r->inst) {
            final(r, SOTA_CMD_CIS_ERROR, 602);
            return;
        }
        assert_true(r->gen_next + 1 < GEN_MAX);
        r->inst = ++r->gen_next;
        r->opened = r->registered = r->versioned = 0;
        final(r, SOTA_CMD_OK, -1);
        return;
    case SOTA_CMDK_DELETE:
        if (!r->inst) {
            final(r, SOTA_CMD_CIS_ERROR, 602);
            return;
        }
        if (r->registered)
            event_net(r, r->inst, 15, 600); /* when the network answers */
        if (r->late15 && r->qn > 0 && r->registered)
            r->q[r->qn - 1].not_before += 150; /* this module: always late */
        r->deleted[r->inst] = 1;
        r->held_gen = r->inst;
        r->held_finals = 2; /* the DELETE's, and the next command's */
        r->inst = r->opened = r->registered = 0;
        final(r, SOTA_CMD_OK, -1);
        return;
    case SOTA_CMDK_SOTAVER:
        r->versioned = r->inst != 0;
        final(r, r->inst ? SOTA_CMD_OK : SOTA_CMD_CIS_ERROR, 602);
        return;
    case SOTA_CMDK_OPEN:
        if (!r->inst || r->opened) {
            final(r, SOTA_CMD_CIS_ERROR, r->inst ? 651 : 602);
            return;
        }
        if (!r->versioned)
            fail_msg("seed %u: AT+MIPLOPEN without AT+MIPLSOTAVER", r->seed);
        r->opened = 1;
        final(r, SOTA_CMD_OK, -1);
        event_net(r, r->inst, 1, 300);
        event_net(r, r->inst, 2, 600);
        event_net(r, r->inst, 4, 900);
        if (r->wild && rnd(r, 8) == 0) {
            event_net(r, r->inst, 7, 1500); /* this registration fails */
            r->opened = 0;
        } else {
            event_net(r, r->inst, 6, 1500);
            r->registered = 1; /* the network said so; the URC is late */
        }
        return;
    case SOTA_CMDK_KEEPALIVE:
    case SOTA_CMDK_COMPLETE:
        if (r->flashing || r->durable.phase == SOTA_PHASE_FLASHING)
            fail_msg("seed %u: AT+MIPLUPDATE while flashing", r->seed);
        if (!r->registered) {
            final(r, SOTA_CMD_CIS_ERROR, 602);
            return;
        }
        final(r, SOTA_CMD_OK, -1);
        event(r, r->inst, 11);
        if (r->durable.phase == SOTA_PHASE_DONE)
            r->completed = 1;
        if (r->ps == P_WAIT && r->attempt_gen == r->inst)
            r->ps = P_CONFIRM;
        return;
    case SOTA_CMDK_REBOOT:
        final(r, SOTA_CMD_OK, -1);
        r->deleted[r->inst] = 1;
        r->inst = r->opened = r->registered = 0;
        push(r, IT_BANNER, 0, -1, "*ATREADY: 1");
        return;
    case SOTA_CMDK_ANSWER: platform_answer(r, a); return;
    }
    fail_msg("unknown command %s", t);
}

/* ---- the platform ------------------------------------------------------ */

/* A request: "+MIPL<kind>:0,<msgid>,<rest>", remembered for resends. */
static void ask(struct run *r, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ask(struct run *r, const char *kind, const char *fmt, ...)
{
    char rest[2 * CHUNK + 32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    r->waiting = r->msgid_next++;
    r->asked_at = r->now;
    r->resends = 0;
    snprintf(r->last_req, sizeof r->last_req, "+MIPL%s:0,%d,%s", kind,
             r->waiting, rest);
    push(r, IT_URC, r->inst, r->waiting, "%s", r->last_req);
}

static void ask_chunk(struct run *r)
{
    uint32_t len = IMAGE - r->offset < CHUNK ? IMAGE - r->offset : CHUNK;
    int flag = r->offset == 0 ? 1 : r->offset + len == IMAGE ? 0 : 2;
    char hex[2 * CHUNK + 1];

    for (uint32_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02X", r->image[r->offset + i]);
    ask(r, "WRITE", "5,0,0,2,%u,%s,%d", len, hex, flag);
}

static void platform_next(struct run *r)
{
    switch (r->ps) {
    case P_MODE: ask(r, "EXECUTE", "5,0,26550,0,\"\""); return;
    case P_VERSION: ask(r, "READ", "3,0,19"); return;
    case P_STATE: ask(r, "READ", "5,0,-1"); return;
    case P_ERASE: ask(r, "EXECUTE", "5,0,26501,0,\"\""); return;
    case P_CHUNK: ask_chunk(r); return;
    case P_UPDATE: ask(r, "EXECUTE", "5,0,2,0,\"\""); return;
    case P_CONFIRM: ask(r, "READ", "3,0,19"); return;
    case P_FINAL: ask(r, "WRITE", "5,0,0,2,0,,0"); return;
    case P_WAIT:
    case P_DONE: return;
    }
}

/* The value of a one-resource READRSP line, or NULL. */
static const char *rsp_value(const char *t, int res)
{
    char key[32];
    const char *p;

    snprintf(key, sizeof key, ",%d,", res);
    p = strstr(t, key);
    return p != NULL ? strchr(p, '"') : NULL;
}

static void platform_answer(struct run *r, const struct sota_action *a)
{
    const char *t = a->u.send.text;
    int32_t id = a->u.send.msgid;
    const char *v;

    final(r, SOTA_CMD_OK, -1);
    if (id < 0)
        fail_msg("an answer without its request: %s", t);
    r->answers++;
    /* the request waiting belongs to the instance of the attempt: once
     * the machine itself has deleted that instance, it must not answer */
    if (id == r->waiting && r->deleted[r->attempt_gen])
        fail_msg("seed %u: answer to msgid %d of deleted instance %d: %s",
                 r->seed, id, r->attempt_gen, t);
    if (id != r->waiting || !r->registered)
        return; /* a repeat, or an answer the platform no longer wants */
    r->answer_lines++;
    switch (r->ps) {
    case P_VERSION:
        v = rsp_value(t, 19);
        if (v != NULL && strncmp(v + 1, NEW_VER, strlen(NEW_VER)) == 0) {
            r->task_done = 1; /* already at the target (reference 3.4) */
            r->ps = P_DONE;
        } else {
            r->ps = P_STATE;
        }
        break;
    case P_STATE:
        if ((v = rsp_value(t, 3)) != NULL)
            r->state_seen = atoi(v + 1);
        if ((v = rsp_value(t, 26500)) != NULL)
            r->bytes_seen = atoi(v + 1);
        if (!a->u.send.completes)
            return;
        if (r->state_seen == 2 && r->bytes_seen == IMAGE) {
            r->ps = P_UPDATE;
        } else {
            r->offset =
                r->state_seen == 1 && r->bytes_seen > 0 && r->bytes_seen < IMAGE
                    ? (uint32_t)r->bytes_seen
                    : 0;
            r->ps = P_ERASE;
        }
        break;
    case P_ERASE:
        if (strcmp(t, "AT+MIPLSOTA=3") != 0)
            return; /* refused: the platform tries later */
        r->ps = P_CHUNK;
        break;
    case P_CHUNK:
        if (strcmp(t, "AT+MIPLSOTA=1") != 0)
            return; /* write-fail: resent after the timeout */
        r->offset += IMAGE - r->offset < CHUNK ? IMAGE - r->offset : CHUNK;
        r->ps = r->offset == IMAGE ? P_UPDATE : P_CHUNK;
        break;
    case P_UPDATE:
        if (strstr(t, ",2") == NULL)
            return;
        r->ps = r->completed ? P_CONFIRM : P_WAIT;
        break;
    case P_CONFIRM:
        v = rsp_value(t, 19);
        r->ps = v != NULL && strncmp(v + 1, NEW_VER, strlen(NEW_VER)) == 0
                    ? P_FINAL
                    : P_MODE;
        break;
    case P_FINAL:
        r->task_done = 1;
        r->ps = P_DONE;
        break;
    case P_MODE: r->ps = P_VERSION; break;
    case P_WAIT:
    case P_DONE: return;
    }
    if (!a->u.send.completes)
        return;
    r->waiting = -1;
    platform_next(r);
}

/* A registration of the module the platform has not started on yet. */
static void platform_tick(struct run *r)
{
    if (r->task_done || !r->registered)
        return;
    if (r->attempt_gen != r->inst) {
        r->attempt_gen = r->inst; /* a new attempt from the top */
        r->ps = P_MODE;
        r->waiting = -1;
        platform_next(r);
        return;
    }
    if (r->waiting >= 0 && r->now - r->asked_at >= RESEND_MS) {
        if (r->resends++ >= MAX_RESENDS) {
            r->ps = P_MODE; /* this attempt failed; a new one */
            platform_next(r);
            return;
        }
        /* the same request again, the same msgid */
        r->asked_at = r->now;
        push(r, IT_URC, r->inst, r->waiting, "%s", r->last_req);
        return;
    }
    if (r->waiting < 0 && r->ps != P_WAIT && r->ps != P_DONE)
        platform_next(r);
}

/* ---- the shell --------------------------------------------------------- */

static void feed(struct run *r, const struct sota_event *ev);

static void exec_actions(struct run *r)
{
    struct sota_actions acts = r->act;

    for (size_t i = 0; i < acts.n; i++) {
        const struct sota_action *a = &acts.v[i];

        switch (a->kind) {
        case SOTA_ACT_SEND: module_cmd(r, a); break;
        case SOTA_ACT_STORE_CHUNK:
            assert_false(r->store_pending);
            assert_true(a->u.store.len <= CHUNK);
            r->store_pending = 1;
            r->store_msgid = a->u.store.msgid;
            r->store_off = a->u.store.offset;
            r->store_len = (uint32_t)a->u.store.len;
            r->store_last = a->u.store.last;
            memcpy(r->store_buf, a->u.store.data, a->u.store.len);
            break;
        case SOTA_ACT_RESET_STAGING:
            r->nstaged = 0;
            r->store_pending = 0;
            break;
        case SOTA_ACT_CHECK_IMAGE: r->check_pending = 1; break;
        case SOTA_ACT_FLASH:
            assert_int_equal(a->u.image.size, IMAGE);
            assert_memory_equal(r->staged, r->image, IMAGE);
            r->flash_pending = r->flashing = 1;
            break;
        case SOTA_ACT_PERSIST:
            assert_int_equal(sota_checkpoint_validate(&a->u.persist, 1u << 20),
                             0);
            assert_true(a->u.persist.bytes <= r->nstaged);
            r->durable = a->u.persist;
            if (r->durable.phase != SOTA_PHASE_DONE)
                r->completed = 0;
            break;
        case SOTA_ACT_ARM_TIMER:
            r->timers[a->u.timer.id] = 1;
            r->timer_at[a->u.timer.id] = a->u.timer.at;
            break;
        case SOTA_ACT_CANCEL_TIMER: r->timers[a->u.timer.id] = 0; break;
        case SOTA_ACT_NOTE:
            if (a->u.note.kind == SOTA_NOTE_REG_FAILED)
                r->reg_failed_notes++;
            break;
        case SOTA_ACT_JOB_END: break;
        }
    }
}

static int trace; /* SOTA_TRACE=<seed>: print that run */

static void feed(struct run *r, const struct sota_event *ev)
{
    if (trace)
        printf("%8lld  [%s inst %d reg %d] in: %s %s %d\n", (long long)r->now,
               sota_reg_name(snap(r).reg), r->inst, r->registered,
               sota_event_kind_name(ev->kind),
               ev->kind == SOTA_EV_URC
                   ? m531x_urc_kind_name(ev->u.urc.urc->kind)
                   : "",
               ev->kind == SOTA_EV_URC        ? (int)ev->u.urc.urc->msgid
               : ev->kind == SOTA_EV_CMD_DONE ? ev->u.cmd.code
               : ev->kind == SOTA_EV_TIMER    ? (int)ev->u.timer
                                              : 0);
    if (trace && ev->kind == SOTA_EV_URC &&
        ev->u.urc.urc->kind == M531X_URC_EVENT)
        printf("            event %d\n", (int)ev->u.urc.urc->u.event.evt);
    assert_int_equal(sota_fsm_step(&r->fsm, ev, r->now, &r->act), 0);
    for (size_t i = 0; trace && i < r->act.n; i++)
        if (r->act.v[i].kind == SOTA_ACT_SEND)
            printf("            send %.70s\n", r->act.v[i].u.send.text);
        else if (r->act.v[i].kind == SOTA_ACT_NOTE)
            printf("            note %s\n", r->act.v[i].u.note.text);
    exec_actions(r);
}

static void device(struct run *r)
{
    struct sota_event ev = {.kind = SOTA_EV_DEVICE};

    ev.u.device.known = 1;
    snprintf(ev.u.device.version, sizeof ev.u.device.version, "%s",
             r->device_new ? NEW_VER : OLD_VER);
    ev.u.device.battery_pct = 90;
    ev.u.device.free_kib = 64;
    ev.u.device.staging_free_kib = -1;
    feed(r, &ev);
}

/* A gateway (re)start from what was durably stored. */
static void gateway_start(struct run *r)
{
    struct sota_event ev = {.kind = SOTA_EV_START};

    memset(r->timers, 0, sizeof r->timers);
    r->inflight = 0; /* a final of the old process is nobody's */
    r->store_pending = r->check_pending = r->flash_pending = 0;
    r->flashing = 0;
    r->nstaged = r->durable.bytes;
    assert_int_equal(sota_fsm_init(&r->fsm, &r->cfg, &r->durable, r->now), 0);
    feed(r, &ev);
    device(r);
}

/* A random URC that may come now, or -1. */
static int pick_item(struct run *r)
{
    size_t ready[QMAX], n = 0;

    for (size_t i = 0; i < r->qn; i++)
        if (r->q[i].not_before <= r->now)
            ready[n++] = i;
    return n > 0 ? (int)ready[rnd(r, (uint32_t)n)] : -1;
}

/* The next moment a URC may come, INT64_MAX if none is in the air. */
static int64_t next_item_at(const struct run *r)
{
    int64_t t = INT64_MAX;

    for (size_t i = 0; i < r->qn; i++)
        if (r->q[i].not_before < t)
            t = r->q[i].not_before;
    return t;
}

static void deliver_item(struct run *r, size_t i, int keep)
{
    struct item it = r->q[i];
    struct m531x_urc u;
    struct sota_event ev;
    uint8_t data[CHUNK];
    int n = 0;

    if (!keep)
        drop(r, i);
    /* A request of an instance that is gone comes out only if it was held
     * back while a command ran (3GPP TS 27.007: printed after the final):
     * at the latest before the final of the command after the DELETE. */
    if (it.msgid >= 0 && it.gen != r->inst &&
        !(it.gen == r->held_gen && r->held_finals > 0))
        return;
    if (it.kind == IT_BANNER) {
        memset(&ev, 0, sizeof ev);
        ev.kind = SOTA_EV_MODEM_RESET;
        r->inflight = 0; /* no final will come */
        feed(r, &ev);
        return;
    }
    assert_int_equal(
        m531x_decode_urc(it.text, strlen(it.text), M531X_OPAQUE_BYTES, &u), 0);
    if (u.kind == M531X_URC_WRITE && u.u.write.value_len > 0) {
        n = m531x_write_data(&u, data, sizeof data);
        assert_true(n > 0);
    }
    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_URC;
    ev.u.urc.urc = &u;
    ev.u.urc.data = n > 0 ? data : NULL;
    ev.u.urc.data_len = (size_t)n;
    feed(r, &ev);
}

static void deliver_final(struct run *r)
{
    struct sota_event ev = {.kind = SOTA_EV_CMD_DONE};

    if (r->held_finals > 0)
        r->held_finals--;
    r->inflight = 0;
    ev.u.cmd.status = r->final_st;
    ev.u.cmd.code = r->final_code;
    feed(r, &ev);
}

static void complete_store(struct run *r)
{
    struct sota_event ev = {.kind = SOTA_EV_STORED};

    assert_int_equal(r->store_off, r->nstaged);
    assert_memory_equal(r->store_buf, r->image + r->store_off, r->store_len);
    memcpy(r->staged + r->nstaged, r->store_buf, r->store_len);
    r->nstaged += r->store_len;
    r->store_pending = 0;
    ev.u.stored.msgid = r->store_msgid;
    ev.u.stored.rc = 0;
    feed(r, &ev);
}

static void complete_check(struct run *r)
{
    struct sota_event ev = {.kind = SOTA_EV_CHECKED};

    r->check_pending = 0;
    ev.u.checked.result =
        r->nstaged == IMAGE && memcmp(r->staged, r->image, IMAGE) == 0
            ? SOTA_RESULT_SUCCESS
            : SOTA_RESULT_INTEGRITY;
    feed(r, &ev);
}

static void complete_flash(struct run *r)
{
    struct sota_event ev = {.kind = SOTA_EV_FLASHED};

    r->flash_pending = r->flashing = 0;
    r->device_new = 1;
    ev.u.flashed.result = SOTA_RESULT_SUCCESS;
    ev.u.flashed.dev.known = 1;
    snprintf(ev.u.flashed.dev.version, sizeof ev.u.flashed.dev.version, "%s",
             NEW_VER);
    ev.u.flashed.dev.battery_pct = 90;
    ev.u.flashed.dev.free_kib = 64;
    ev.u.flashed.dev.staging_free_kib = -1;
    feed(r, &ev);
}

static int earliest_timer(const struct run *r)
{
    int id = -1;

    for (int i = 0; i < SOTA_TIMER_COUNT; i++)
        if (r->timers[i] && (id < 0 || r->timer_at[i] < r->timer_at[id]))
            id = i;
    return id;
}

/* Fire the earliest armed timer; 0 when none is armed. */
static int fire_timer(struct run *r)
{
    int id = earliest_timer(r);
    struct sota_event ev = {.kind = SOTA_EV_TIMER};

    if (id < 0)
        return 0;
    if (r->timer_at[id] > r->now)
        r->now = r->timer_at[id];
    r->timers[id] = 0;
    if (id == SOTA_TIMER_CMD)
        r->inflight = 0; /* given up: a late final is not reported */
    ev.u.timer = (enum sota_timer)id;
    feed(r, &ev);
    return 1;
}

/* Let time pass to the next thing that happens by itself: a timer, or the
 * platform's resend. 0 when nothing would ever happen. */
static int advance(struct run *r)
{
    int id = earliest_timer(r);
    int64_t resend = r->waiting >= 0 && !r->task_done && r->registered
                         ? r->asked_at + RESEND_MS
                         : INT64_MAX;
    int64_t urc = next_item_at(r);

    if (urc != INT64_MAX && (id < 0 || urc <= r->timer_at[id]) &&
        urc <= resend) {
        r->now = urc > r->now ? urc : r->now;
        return 1;
    }
    if (id >= 0 && r->timer_at[id] <= resend)
        return fire_timer(r);
    if (resend == INT64_MAX)
        return 0;
    if (resend > r->now)
        r->now = resend;
    platform_tick(r);
    return 1;
}

/* ---- the adversary ----------------------------------------------------- */

static void wild_step(struct run *r)
{
    uint32_t k = rnd(r, 100);

    r->now += rnd(r, 80);
    if (k < 25 && r->inflight) {
        if (rnd(r, 40) == 0)
            r->inflight = 0; /* a final lost on the line */
        else
            deliver_final(r);
    } else if (k < 55 && pick_item(r) >= 0) {
        deliver_item(r, (size_t)pick_item(r), rnd(r, 10) == 0);
    } else if (k < 62) {
        if (r->store_pending)
            complete_store(r);
        else if (r->check_pending)
            complete_check(r);
        else if (r->flash_pending)
            complete_flash(r);
    } else if (k < 70) {
        fire_timer(r);
    } else if (k < 85) {
        platform_tick(r);
    } else if (k < 90) {
        /* a stale event of an older instance, or of this one repeated */
        static const int evts[] = {3, 5, 6, 7, 8, 10, 11, 12, 13, 15};

        event(r, r->inst, evts[rnd(r, sizeof evts / sizeof evts[0])]);
        r->stale_events++;
    } else if (k < 92 && r->registered) {
        event(r, r->inst, 9); /* the lifetime lapsed */
        r->registered = 0;
    } else if (k == 92) {
        r->inst = r->opened = r->registered = 0; /* the module reboots */
        push(r, IT_BANNER, 0, -1, "*ATREADY: 1");
    } else if (k == 93 && rnd(r, 3) == 0) {
        r->restarts++;
        gateway_start(r);
    }
}

/* No more faults: every final, URC and job result comes, in any order;
 * time moves on only when nothing else is left to do. */
static int calm_step(struct run *r)
{
    uint32_t k = rnd(r, 4);

    r->now += rnd(r, 20);
    if (k == 0 && r->inflight) {
        deliver_final(r);
    } else if (k == 1 && pick_item(r) >= 0) {
        deliver_item(r, (size_t)pick_item(r), 0);
    } else if (k == 2 &&
               (r->store_pending || r->check_pending || r->flash_pending)) {
        if (r->store_pending)
            complete_store(r);
        else if (r->check_pending)
            complete_check(r);
        else
            complete_flash(r);
    } else if (r->inflight || pick_item(r) >= 0 || r->store_pending ||
               r->check_pending || r->flash_pending) {
        platform_tick(r);
    } else {
        platform_tick(r);
        if (pick_item(r) < 0 && !r->inflight && !advance(r))
            return 0; /* nothing can happen any more */
    }
    return 1;
}

static void one_run(uint32_t seed, unsigned *steps_out)
{
    struct run *r = calloc(1, sizeof *r);
    unsigned steps = 0;
    int64_t calm_end;
    int gave_up = 0;

    assert_non_null(r);
    r->seed = seed;
    r->late15 = seed % 3 == 0;
    r->rng = seed * 2654435761u + 1;
    r->now = 1000000;
    r->wild = 1;
    r->waiting = -1;
    r->msgid_next = 100;
    for (uint32_t i = 0; i < IMAGE; i++)
        r->image[i] = (uint8_t)(i * 7 + seed);
    sota_config_default(&r->cfg);
    snprintf(r->cfg.name, sizeof r->cfg.name, "seed-%u", seed);
    r->cfg.lifetime_s = 60;
    sota_checkpoint_init(&r->durable);
    /* the module kept an instance from before (reference 3.4) */
    if (seed % 2) {
        r->inst = ++r->gen_next;
        r->opened = r->registered = r->versioned = 1;
    }
    gateway_start(r);
    for (unsigned i = 0; i < WILD_STEPS; i++, steps++)
        wild_step(r);
    r->wild = 0;
    /* The task must end within CALM_MS of model time, counted from the end
     * of the long backoff if the machine gives up once (the wild phase may
     * have taken it to the last step of its escalation). */
    calm_end = r->now + CALM_MS;
    for (unsigned i = 0; i < CALM_STEPS && !r->task_done && r->now < calm_end;
         i++, steps++) {
        if (snap(r).reg == SOTA_REG_FAILED && !gave_up) {
            gave_up = 1;
            calm_end = r->timer_at[SOTA_TIMER_BACKOFF] + CALM_MS;
        }
        if (!calm_step(r))
            break;
    }
    /* let the last answers go out */
    for (unsigned i = 0; i < 200 && (r->inflight || r->qn > 0); i++)
        calm_step(r);
    if (!r->task_done)
        fail_msg("seed %u: task not done after %u steps (reg %s, phase %s, "
                 "platform step %d, module inst %d registered %d)",
                 seed, steps, sota_reg_name(snap(r).reg),
                 sota_phase_name(cp_of(r).phase), (int)r->ps, r->inst,
                 r->registered);
    assert_true(r->device_new);
    {
        struct sota_snapshot sn;

        sota_fsm_snapshot(&r->fsm, &sn);
        if (sn.reg != SOTA_REG_FAILED && !r->inflight && r->qn == 0 &&
            sn.reg == SOTA_REG_REGISTERED && !r->registered)
            fail_msg("seed %u: machine registered, module not", seed);
    }
    *steps_out = steps;
    free(r);
}

static void interleavings(void **state)
{
    unsigned long total = 0;

    (void)state;
    if (getenv("SOTA_TRACE") != NULL) {
        unsigned steps = 0;

        trace = 1;
        setvbuf(stdout, NULL, _IONBF, 0);
        one_run((uint32_t)atoi(getenv("SOTA_TRACE")), &steps);
        return;
    }
    for (uint32_t seed = 1; seed <= RUNS; seed++) {
        unsigned steps = 0;

        one_run(seed, &steps);
        total += steps;
    }
    printf("interleavings: %u runs, %lu steps\n", RUNS, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interleavings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
