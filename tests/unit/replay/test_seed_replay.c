/* test_seed_replay.c: the seed's steps 8 to 16, end to end.
 *
 * tests/data/seed/seed-transcript.txt is walked in order. Runs of '<' lines
 * are fed as raw bytes (CR LF appended, empty lines too) through the real
 * framer and decoder into the state machine; a small in-test shell executes
 * its actions. Every SEND must equal the next '>' or '>!' line byte for
 * byte, and must come after the module lines that precede it in the
 * transcript and before those that follow it. Each run is fed whole, one
 * byte at a time, and cut at pseudo-random points (fixed seeds).
 *
 * The in-test shell: STORE_CHUNK appends to a buffer and answers STORED ok;
 * CHECK_IMAGE compares the buffer with seed-image.bin; FLASH answers
 * FLASHED with the "@ after_flash" data. Results of the shell's work are
 * queued and delivered after the current action list, as a real shell's
 * event loop would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dio/at_frame.h"
#include "dio/m531x.h"
#include "gw/err.h"
#include "orch/sota_fsm.h"

#define TRANSCRIPT   GW_TEST_DATA_DIR "/seed/seed-transcript.txt"
#define IMAGE        GW_TEST_DATA_DIR "/seed/seed-image.bin"
#define ITEMS_MAX    512
#define FILE_MAX     (256 * 1024)
#define PENDING_MAX  8
#define LINE_STEP_MS 20 /* fake time between two module lines */

/* ---- the transcript ---------------------------------------------------- */

struct item {
    char kind;        /* '<', '>', '@' or '#' */
    const char *text; /* after the marker and one space; NUL-terminated */
    size_t len;
};

struct script {
    char *buf;   /* the transcript, NULs written at line ends */
    char *extra; /* a spliced block, same treatment */
    struct item items[ITEMS_MAX];
    size_t n;
};

static uint8_t *read_file(const char *path, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(cap + 1);
    size_t n;

    assert_non_null(f);
    assert_non_null(buf);
    n = fread(buf, 1, cap + 1, f);
    fclose(f);
    assert_true(n <= cap);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Split buf (len bytes, NUL-terminated) into items appended to out. */
static void parse_items(char *buf, size_t len, struct item *out, size_t cap,
                        size_t *n)
{
    char *p = buf, *end = buf + len;

    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        struct item *it;
        size_t skip;

        if (nl == NULL)
            nl = end;
        *nl = '\0';
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*p != '\0') {
            assert_true(*n < cap);
            it = &out[(*n)++];
            it->kind = *p;
            assert_non_null(strchr("<>@#", it->kind));
            skip = 1;
            if (it->kind == '>' && p[1] == '!')
                skip = 2; /* the corrected form of a seed slip */
            if (p[skip] == ' ')
                skip++;
            it->text = p + skip;
            it->len = strlen(it->text);
        }
        p = nl + 1;
    }
}

static void script_load(struct script *sc)
{
    size_t len;

    memset(sc, 0, sizeof *sc);
    sc->buf = (char *)read_file(TRANSCRIPT, FILE_MAX, &len);
    parse_items(sc->buf, len, sc->items, ITEMS_MAX, &sc->n);
}

/* Insert the lines of block before the first item whose text starts with
 * `before`. */
static void script_splice(struct script *sc, const char *before,
                          const char *block)
{
    struct item add[64];
    size_t k = 0, nadd = 0, len = strlen(block);

    while (k < sc->n && strncmp(sc->items[k].text, before, strlen(before)) != 0)
        k++;
    assert_true(k < sc->n);
    sc->extra = malloc(len + 1);
    assert_non_null(sc->extra);
    memcpy(sc->extra, block, len + 1);
    parse_items(sc->extra, len, add, 64, &nadd);
    assert_true(sc->n + nadd <= ITEMS_MAX);
    memmove(&sc->items[k + nadd], &sc->items[k],
            (sc->n - k) * sizeof sc->items[0]);
    memcpy(&sc->items[k], add, nadd * sizeof add[0]);
    sc->n += nadd;
}

/* "key=value" in a directive, copied into out; 0 if absent. */
static int directive_get(const struct item *it, const char *key, char *out,
                         size_t cap)
{
    size_t klen = strlen(key);
    const char *p = it->text;

    while ((p = strstr(p, key)) != NULL) {
        if ((p == it->text || p[-1] == ' ') && p[klen] == '=') {
            size_t n = strcspn(p + klen + 1, " ");
            assert_true(n < cap);
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return 1;
        }
        p += klen;
    }
    return 0;
}

static int directive_is(const struct item *it, const char *name)
{
    size_t n = strlen(name);

    return it->kind == '@' && strncmp(it->text, name, n) == 0 &&
           (it->text[n] == ' ' || it->text[n] == '\0');
}

static void device_from(const struct item *it, struct sota_device_info *d)
{
    char v[64];

    if (directive_get(it, "version", v, sizeof v)) {
        assert_true(strlen(v) < sizeof d->version);
        memcpy(d->version, v, strlen(v) + 1);
    }
    if (directive_get(it, "battery", v, sizeof v))
        d->battery_pct = atoi(v);
    if (directive_get(it, "free_kib", v, sizeof v))
        d->free_kib = atoll(v);
    d->known = 1;
    d->staging_free_kib = 1 << 20;
}

/* ---- the in-test shell ------------------------------------------------- */

struct shell {
    struct sota_fsm fsm;
    struct at_framer *fr;
    const struct script *sc;
    enum m531x_opaque_len opaque;
    int64_t now;
    size_t next_send; /* items[] index after the last matched '>' */
    size_t limit;     /* index of the first '<' item not fed yet */
    struct sota_event pending[PENDING_MAX];
    size_t npending;
    struct sota_device_info dev, after_flash;
    uint8_t *image;
    size_t image_len;
    uint8_t staged[32 * 1024];
    size_t staged_len;
    uint8_t feedbuf[64 * 1024]; /* one run of module lines */
    struct sota_checkpoint persisted;
    uint8_t chunk[M531X_OPAQUE_MAX];
    int64_t timer_at[SOTA_TIMER_COUNT];
    int timer_armed[SOTA_TIMER_COUNT];
    int flashes, job_ends, sends;
    enum sota_result job_result;
    int notes[SOTA_NOTE_IGNORED + 1]; /* count per kind */
    struct sota_config cfg;
};

static void later(struct shell *sh, const struct sota_event *ev)
{
    assert_true(sh->npending < PENDING_MAX);
    sh->pending[sh->npending++] = *ev;
}

static void check_send(struct shell *sh, const char *text, size_t len)
{
    const struct script *sc = sh->sc;
    size_t i = sh->next_send;

    while (i < sc->n && sc->items[i].kind != '>')
        i++;
    if (i >= sc->n)
        fail_msg("extra command: %s", text);
    if (i > sh->limit)
        fail_msg("%s sent before the module lines at item %zu", text,
                 sh->limit);
    if (len != sc->items[i].len || memcmp(text, sc->items[i].text, len) != 0)
        fail_msg("sent     %s\nexpected %s", text, sc->items[i].text);
    sh->next_send = i + 1;
    sh->sends++;
    at_framer_set_pending(sh->fr, text);
}

static void execute(struct shell *sh, const struct sota_actions *acts)
{
    for (size_t i = 0; i < acts->n; i++) {
        const struct sota_action *a = &acts->v[i];
        struct sota_event ev;

        memset(&ev, 0, sizeof ev);
        switch (a->kind) {
        case SOTA_ACT_SEND:
            check_send(sh, a->u.send.text, a->u.send.len);
            break;
        case SOTA_ACT_STORE_CHUNK:
            assert_int_equal(a->u.store.offset, sh->staged_len);
            assert_true(sh->staged_len + a->u.store.len <= sizeof sh->staged);
            memcpy(sh->staged + sh->staged_len, a->u.store.data,
                   a->u.store.len);
            sh->staged_len += a->u.store.len;
            ev.kind = SOTA_EV_STORED;
            ev.u.stored.msgid = a->u.store.msgid;
            later(sh, &ev);
            break;
        case SOTA_ACT_RESET_STAGING: sh->staged_len = 0; break;
        case SOTA_ACT_CHECK_IMAGE:
            ev.kind = SOTA_EV_CHECKED;
            ev.u.checked.result =
                a->u.image.size == sh->image_len &&
                        sh->staged_len == sh->image_len &&
                        memcmp(sh->staged, sh->image, sh->image_len) == 0
                    ? SOTA_RESULT_SUCCESS
                    : SOTA_RESULT_INTEGRITY;
            later(sh, &ev);
            break;
        case SOTA_ACT_FLASH:
            assert_int_equal(a->u.image.size, sh->image_len);
            sh->flashes++;
            ev.kind = SOTA_EV_FLASHED;
            ev.u.flashed.result = SOTA_RESULT_SUCCESS;
            ev.u.flashed.dev = sh->after_flash;
            later(sh, &ev);
            break;
        case SOTA_ACT_PERSIST:
            /* never more than what is durable */
            assert_true(a->u.persist.bytes <= sh->staged_len);
            sh->persisted = a->u.persist;
            break;
        case SOTA_ACT_ARM_TIMER:
            sh->timer_armed[a->u.timer.id] = 1;
            sh->timer_at[a->u.timer.id] = a->u.timer.at;
            break;
        case SOTA_ACT_CANCEL_TIMER: sh->timer_armed[a->u.timer.id] = 0; break;
        case SOTA_ACT_NOTE: sh->notes[a->u.note.kind]++; break;
        case SOTA_ACT_JOB_END:
            sh->job_ends++;
            sh->job_result = a->u.job_end.result;
            break;
        }
    }
}

/* Step the machine, then deliver what the shell's work produced. */
static void deliver(struct shell *sh, const struct sota_event *ev)
{
    struct sota_actions acts;
    struct sota_event next;

    assert_int_equal(sota_fsm_step(&sh->fsm, ev, sh->now, &acts), 0);
    execute(sh, &acts);
    while (sh->npending > 0) {
        next = sh->pending[0];
        memmove(sh->pending, sh->pending + 1,
                --sh->npending * sizeof sh->pending[0]);
        assert_int_equal(sota_fsm_step(&sh->fsm, &next, sh->now, &acts), 0);
        execute(sh, &acts);
    }
}

static void fire_due_timers(struct shell *sh)
{
    for (int id = 0; id < SOTA_TIMER_COUNT; id++) {
        if (sh->timer_armed[id] && sh->now >= sh->timer_at[id]) {
            struct sota_event ev = {.kind = SOTA_EV_TIMER};

            sh->timer_armed[id] = 0;
            ev.u.timer = (enum sota_timer)id;
            deliver(sh, &ev);
        }
    }
}

static enum sota_cmd_status final_status(enum at_final_kind k)
{
    switch (k) {
    case AT_FINAL_OK: return SOTA_CMD_OK;
    case AT_FINAL_CIS_ERROR: return SOTA_CMD_CIS_ERROR;
    case AT_FINAL_CME_ERROR: return SOTA_CMD_CME_ERROR;
    case AT_FINAL_ERROR:
    case AT_FINAL_CMS_ERROR:
    case AT_FINAL_NONE: break;
    }
    return SOTA_CMD_ERROR;
}

static void on_urc_line(struct shell *sh, const struct at_line *line)
{
    struct sota_event ev;
    struct m531x_urc u;
    int rc, n;

    memset(&ev, 0, sizeof ev);
    rc = m531x_decode_urc(line->text, line->len, sh->opaque, &u);
    if (rc != 0)
        fail_msg("seed URC does not decode (%s): %.80s", u.reason, line->text);
    ev.kind = SOTA_EV_URC;
    ev.u.urc.urc = &u;
    if (u.kind == M531X_URC_WRITE && u.u.write.type == M531X_TYPE_OPAQUE &&
        u.u.write.value_len > 0) {
        n = m531x_write_data(&u, sh->chunk, sizeof sh->chunk);
        assert_true(n > 0);
        assert_int_equal((size_t)n, u.u.write.data_len);
        ev.u.urc.data = sh->chunk;
        ev.u.urc.data_len = (size_t)n;
    }
    deliver(sh, &ev);
}

static void on_line(const struct at_line *line, void *ctx)
{
    struct shell *sh = ctx;
    struct sota_event ev;

    sh->now += LINE_STEP_MS;
    fire_due_timers(sh);
    switch (line->kind) {
    case AT_LINE_FINAL:
        memset(&ev, 0, sizeof ev);
        ev.kind = SOTA_EV_CMD_DONE;
        ev.u.cmd.status = final_status(line->final);
        ev.u.cmd.code = line->code;
        deliver(sh, &ev);
        return;
    case AT_LINE_URC: on_urc_line(sh, line); return;
    case AT_LINE_COMMAND:
    case AT_LINE_INFO:
    case AT_LINE_UNKNOWN:
    case AT_LINE_GARBAGE:
    case AT_LINE_OVERLONG: break;
    }
    fail_msg("unexpected %s line in the seed: %.80s",
             at_line_kind_name(line->kind), line->text);
}

/* ---- feeding ----------------------------------------------------------- */

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

struct feed {
    enum feed_mode mode;
    uint32_t seed;
};

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void feed(struct shell *sh, const uint8_t *buf, size_t len,
                 struct feed *f)
{
    size_t off = 0;

    while (off < len) {
        size_t n = len - off;

        if (f->mode == FEED_BYTES)
            n = 1;
        else if (f->mode == FEED_RANDOM)
            n = 1 + xorshift(&f->seed) % 97;
        if (n > len - off)
            n = len - off;
        at_framer_feed(sh->fr, buf + off, n, on_line, sh);
        off += n;
    }
}

/* Feed items[from, to) ('<' and '#'), then return. */
static void feed_run(struct shell *sh, size_t from, size_t to, struct feed *f)
{
    uint8_t *buf = sh->feedbuf;
    size_t len = 0;

    for (size_t i = from; i < to; i++) {
        const struct item *it = &sh->sc->items[i];

        if (it->kind != '<')
            continue;
        assert_true(len + it->len + 2 <= sizeof sh->feedbuf);
        memcpy(buf + len, it->text, it->len);
        len += it->len;
        buf[len++] = '\r';
        buf[len++] = '\n';
    }
    sh->limit = to;
    while (sh->limit < sh->sc->n && sh->sc->items[sh->limit].kind != '<')
        sh->limit++;
    feed(sh, buf, len, f);
}

/* A gateway restart: the machine is rebuilt from the last PERSIST, the
 * framer forgets its state, the staging keeps its durable bytes, and the
 * field device is read again. */
static void restart(struct shell *sh)
{
    struct sota_event ev;

    sota_fsm_cleanup(&sh->fsm);
    assert_int_equal(sota_fsm_init(&sh->fsm, &sh->cfg, &sh->persisted, sh->now),
                     0);
    at_framer_reset(sh->fr);
    memset(sh->timer_armed, 0, sizeof sh->timer_armed);
    assert_int_equal(sh->npending, 0);
    assert_true(sh->persisted.bytes <= sh->staged_len);
    sh->staged_len = sh->persisted.bytes;
    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_DEVICE;
    ev.u.device = sh->flashes ? sh->after_flash : sh->dev;
    deliver(sh, &ev);
    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_START;
    deliver(sh, &ev);
}

/* Walk the script; the directives are checks or, for restart, events. */
static void walk(struct shell *sh, struct feed *f)
{
    const struct script *sc = sh->sc;
    size_t i = 0;

    while (i < sc->n) {
        const struct item *it = &sc->items[i];

        if (it->kind == '<' || it->kind == '#') {
            size_t j = i;

            while (j < sc->n &&
                   (sc->items[j].kind == '<' || sc->items[j].kind == '#'))
                j++;
            feed_run(sh, i, j, f);
            i = j;
            continue;
        }
        if (it->kind == '>' && sh->next_send <= i)
            fail_msg("not sent (item %zu): %s", i, it->text);
        if (directive_is(it, "restart"))
            restart(sh);
        if (directive_is(it, "flash"))
            assert_int_equal(sh->flashes, 1);
        if (directive_is(it, "end")) {
            char v[32];

            assert_true(directive_get(it, "result", v, sizeof v));
            assert_string_equal(v, "success");
            assert_int_equal(sh->job_ends, 1);
            assert_int_equal(sh->job_result, SOTA_RESULT_SUCCESS);
        }
        i++;
    }
    at_framer_flush(sh->fr, on_line, sh);
}

/* The seed, optionally with a gateway restart spliced in before the item
 * that starts with `cut` (a block that begins with "@ restart"). */
struct scenario {
    const char *name;
    const char *cut;
    const char *block;
};

static void replay(const struct scenario *sn, const struct feed *mode)
{
    struct script *sc = malloc(sizeof *sc);
    struct shell *sh = calloc(1, sizeof *sh);
    struct sota_event ev;
    struct sota_snapshot snap;
    struct feed f = *mode;
    size_t i, total_sends = 0;
    int ends = 0;

    assert_non_null(sc);
    assert_non_null(sh);
    script_load(sc);
    if (sn->cut != NULL)
        script_splice(sc, sn->cut, sn->block);
    sh->sc = sc;
    sh->now = 5000;
    sh->image = read_file(IMAGE, sizeof sh->staged, &sh->image_len);
    sh->fr = at_framer_new();
    assert_non_null(sh->fr);
    sota_config_default(&sh->cfg);
    snprintf(sh->cfg.name, sizeof sh->cfg.name, "seed");
    sh->opaque = sh->cfg.dialect.opaque_len;
    assert_int_equal(sota_fsm_init(&sh->fsm, &sh->cfg, NULL, sh->now), 0);

    /* the facts of the run */
    for (i = 0; i < sc->n; i++) {
        const struct item *it = &sc->items[i];
        char v[64];

        if (it->kind == '>')
            total_sends++;
        if (directive_is(it, "device"))
            device_from(it, &sh->dev);
        if (directive_is(it, "after_flash")) {
            sh->after_flash = sh->dev;
            device_from(it, &sh->after_flash);
        }
        if (directive_is(it, "image")) {
            assert_true(directive_get(it, "size", v, sizeof v));
            assert_int_equal(sh->image_len, (size_t)atol(v));
        }
        ends += directive_is(it, "end");
    }
    assert_int_equal(ends, 1);
    assert_true(sh->dev.known && sh->after_flash.known);

    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_DEVICE;
    ev.u.device = sh->dev;
    while (sh->limit < sc->n && sc->items[sh->limit].kind != '<')
        sh->limit++;
    deliver(sh, &ev);
    memset(&ev, 0, sizeof ev);
    ev.kind = SOTA_EV_START;
    deliver(sh, &ev);

    walk(sh, &f);

    assert_int_equal(sh->sends, (int)total_sends);
    assert_int_equal(sh->flashes, 1);
    assert_int_equal(sh->notes[SOTA_NOTE_BAD_CHUNK], 0);
    assert_int_equal(sh->notes[SOTA_NOTE_DUPLICATE], 0);
    assert_int_equal(sh->notes[SOTA_NOTE_REFUSED], 0);
    assert_int_equal(sh->notes[SOTA_NOTE_IGNORED], 0);
    if (sn->cut == NULL) {
        assert_int_equal(sh->notes[SOTA_NOTE_CMD_FAILED], 0);
        assert_int_equal(sh->notes[SOTA_NOTE_RESTART], 0);
        assert_int_equal(sh->notes[SOTA_NOTE_RESUME], 0);
    } else {
        /* the +CIS ERROR:602 of the second AT+MIPLCREATE */
        assert_int_equal(sh->notes[SOTA_NOTE_CMD_FAILED], 1);
        assert_int_equal(sh->notes[SOTA_NOTE_RESTART], 1);
    }
    /* the staging is dropped at the end; CHECK_IMAGE compared it whole */
    assert_int_equal(sh->persisted.phase, SOTA_PHASE_IDLE);
    assert_int_equal(sh->persisted.result, SOTA_RESULT_SUCCESS);
    assert_string_equal(sh->persisted.new_version, "test000");
    sota_fsm_snapshot(&sh->fsm, &snap);
    assert_int_equal(snap.cmd_in_flight, 0);
    assert_int_equal(snap.cmds_queued, 0);
    assert_int_equal(snap.reg, SOTA_REG_REGISTERED);
    assert_int_equal(at_framer_stats(sh->fr)->garbage, 0);
    assert_int_equal(at_framer_stats(sh->fr)->overlong, 0);

    sota_fsm_cleanup(&sh->fsm);
    at_framer_free(sh->fr);
    free(sh->image);
    free(sc->buf);
    free(sc->extra);
    free(sc);
    free(sh);
}

/* docs/M531X-REFERENCE.md 3.4: the module keeps its instance, so the new
 * gateway's AT+MIPLCREATE gets 602; the gateway deletes it and registers
 * again. */
#define RESTART_REGISTER(ver)                                                  \
    "@ restart\n"                                                              \
    "> AT+MIPLCREATE\n"                                                        \
    "< +CIS ERROR:602\n"                                                       \
    "> AT+MIPLDELETE=0\n"                                                      \
    "< OK\n"                                                                   \
    "> AT+MIPLCREATE\n"                                                        \
    "< OK\n"                                                                   \
    "> AT+MIPLSOTAVER=\"" ver "\"\n"                                           \
    "< OK\n"                                                                   \
    "> AT+MIPLOPEN=0,600,60\n"                                                 \
    "< OK\n"                                                                   \
    "< +MIPLEVENT:0,6\n"                                                       \
    "< +MIPLEXECUTE:0,60001,5,0,26550,0,\"\"\n"                                \
    "> AT+MIPLEXECUTERSP=0,60001,2\n"                                          \
    "< OK\n"

static const struct scenario plain = {"seed", NULL, NULL};

static const struct scenario restarts[] = {
    /* killed after 7 chunks: state 1 with 7168 bytes, erase-ok without
     * erasing, the chunks continue at flag 2 */
    {"killed while downloading", "+MIPLWRITE:0,27503,",
     RESTART_REGISTER(
         "test0") "< +MIPLREAD:0,60002,5,0,-1\n"
                  "> AT+MIPLREADRSP=0,60002,1,5,0,3,3,1,\"1\",2,1\n"
                  "< OK\n"
                  "> AT+MIPLREADRSP=0,60002,1,5,0,5,3,1,\"0\",1,2\n"
                  "< OK\n"
                  "> AT+MIPLREADRSP=0,60002,1,5,0,26500,3,4,\"7168\",0,0\n"
                  "< OK\n"
                  "< +MIPLEXECUTE:0,60003,5,0,26501,0,\"\"\n"
                  "> AT+MIPLSOTA=3\n"
                  "< OK\n"},
    /* killed with the whole image: state 2, the platform goes on with
     * the battery read and execute 5/0/2 */
    {"killed when downloaded", "+MIPLREAD:0,27510,",
     RESTART_REGISTER(
         "test0") "< +MIPLREAD:0,60002,5,0,-1\n"
                  "> AT+MIPLREADRSP=0,60002,1,5,0,3,3,1,\"2\",2,1\n"
                  "< OK\n"
                  "> AT+MIPLREADRSP=0,60002,1,5,0,5,3,1,\"0\",1,2\n"
                  "< OK\n"
                  "> AT+MIPLREADRSP=0,60002,1,5,0,26500,3,5,\"13658\",0,0\n"
                  "< OK\n"},
    /* killed after flashing and reporting: the new version is reported
     * at registration and read from 3/0/19 */
    {"killed after flashing", "STEP 15",
     "@ restart\n"
     "> AT+MIPLCREATE\n"
     "< +CIS ERROR:602\n"
     "> AT+MIPLDELETE=0\n"
     "< OK\n"
     "> AT+MIPLCREATE\n"
     "< OK\n"
     "> AT+MIPLSOTAVER=\"test000\"\n"
     "< OK\n"
     "> AT+MIPLOPEN=0,600,60\n"
     "< OK\n"
     "< +MIPLEVENT:0,6\n"},
};

static void replay_modes(const struct scenario *sn)
{
    static const uint32_t seeds[] = {1, 7, 42, 2024, 0x5eed, 0xdeadbeef};
    struct feed f;

    print_message("scenario: %s\n", sn->name);
    f.mode = FEED_WHOLE;
    f.seed = 0;
    replay(sn, &f);
    f.mode = FEED_BYTES;
    replay(sn, &f);
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        f.mode = FEED_RANDOM;
        f.seed = seeds[i];
        replay(sn, &f);
    }
}

/* The image the replay compares against holds the bytes the seed shows
 * (first two and last byte of chunks 1 and 14). */
static void seed_image_matches_seed(void **state)
{
    static const uint8_t c1[] = {0xC7, 0xAC}, c14[] = {0xCF, 0xA3};
    size_t len;
    uint8_t *img = read_file(IMAGE, 64 * 1024, &len);

    (void)state;
    assert_int_equal(len, 13658);
    assert_memory_equal(img, c1, 2);
    assert_int_equal(img[1023], 0xF8);
    assert_memory_equal(img + 13 * 1024, c14, 2);
    assert_int_equal(img[len - 1], 0x0A);
    free(img);
}

static void replay_seed(void **state)
{
    (void)state;
    replay_modes(&plain);
}

static void replay_with_restarts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof restarts / sizeof restarts[0]; i++)
        replay_modes(&restarts[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_image_matches_seed),
        cmocka_unit_test(replay_seed),
        cmocka_unit_test(replay_with_restarts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
