/* msim_core.c: one simulated M531x module and the OneNET SOTA platform's
 * view of it. Pure: no I/O, no clocks; time comes in as now_us.
 *
 * Design note. The module side is a line-oriented AT interpreter with the
 * state a real module keeps across MCU restarts (echo, MIPL instance,
 * registration, the version last reported with AT+MIPLSOTAVER). The platform
 * side is a step machine that walks the seed's steps 10 to 16. It sends one
 * request at a time and waits for its answer; an unanswered request is sent
 * again (same msgid) every resend_ms, up to max_resends times, then the task
 * fails. Answers without a msgid (AT+MIPLSOTA) are matched to the one request
 * that waits for them, which is how the real module works too.
 *
 * Timing: a request's clock starts when the shell reports that the URC's
 * last byte went out (msim_mod_output_done), so line-rate pacing and a
 * gateway that does not read do not count against the gateway's answer time.
 */
#include "msim.h"

#include <gw/hex.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_MS     1000u
#define US_PER_S      1000000u
#define MAX_FIELDS    16
#define RECENT_MSGIDS 8
#define URC_MAX       256
#define CHUNK_MAX     4096   /* package bytes per +MIPLWRITE the sim accepts */
#define CHUNK_BITS    65536u /* chunk indexes the one-shot faults track */

enum step {
    ST_IDLE,         /* no attempt: waiting for start time or registration */
    ST_MODE,         /* execute 5/0/26550 */
    ST_SPACE,        /* read 3/0/26261 */
    ST_VERSION,      /* read 3/0/19 */
    ST_STATE,        /* read 5/0/-1 */
    ST_BATTERY,      /* read 3/0/9 */
    ST_ERASE,        /* execute 5/0/26501, answered by AT+MIPLSOTA */
    ST_CHUNK,        /* write 5/0/0, answered by AT+MIPLSOTA */
    ST_BATTERY2,     /* read 3/0/9 before the update */
    ST_UPDATE,       /* execute 5/0/2 */
    ST_WAIT_UPDATE,  /* no request: waiting for AT+MIPLUPDATE */
    ST_POST_MODE,    /* execute 5/0/26550 */
    ST_POST_SPACE,   /* read 3/0/26261 */
    ST_POST_VERSION, /* read 3/0/19, compared with the target */
    ST_FINAL,        /* empty write 5/0/0: the flow is over */
    ST_DONE
};

enum answer_kind { ANS_READ, ANS_EXEC, ANS_WRITE, ANS_SOTA };

struct request {
    bool active;
    bool optional;      /* a duplicate: an answer is welcome, not required */
    bool corrupted;     /* this send of the chunk was damaged on the wire */
    bool retransmitted; /* sent again with the same msgid after a timeout */
    uint16_t msgid;
    unsigned sends;
    uint64_t marker; /* out_total just after the URC */
    bool urc_done;
    uint64_t urc_done_us;
    uint64_t resend_us;
    size_t chunk_offset; /* ST_CHUNK */
    size_t chunk_len;
    /* 5/0/-1 collection */
    unsigned rd_seen; /* bit 0: 5/0/3, bit 1: 5/0/5, bit 2: 5/0/26500 */
    long rd_state, rd_result, rd_bytes;
};

/* A +MIPLEVENT the adversarial timing holds back until due_us (at the
 * latest: it may come out earlier, inside a multi-line answer). */
struct pending {
    uint64_t due_us;
    int evt;
    bool may_dup; /* a duplicate is not duplicated again */
};

struct msim_mod {
    struct msim_mod_cfg cfg;
    uint64_t rng;
    uint64_t trng;   /* adversarial timing: its own generator */
    uint64_t now_us; /* the latest time the shell gave */

    /* module side */
    char line[MSIM_LINE_MAX];
    size_t line_len;
    bool line_overflow;
    bool echo;
    bool booting;
    uint64_t boot_done_us;
    bool instance;
    bool sotaver_set; /* on this instance */
    char mcu_version[MSIM_VERSION_MAX];
    bool opening;
    unsigned open_stage; /* next of events 1, 2, 4, 6 */
    uint64_t open_next_us;
    bool registered;
    bool reg_with_sotaver; /* AT+MIPLSOTAVER came before AT+MIPLOPEN */
    bool open_failing;     /* this open ends with 7 (or nothing), not 6 */
    int open_fails_left;   /* fault open_fails; -1: every open */
    unsigned lifetime_s;   /* the registration's <lifetime> */
    uint64_t expire_us;    /* lifetime enforced: event 9 then */
    uint64_t warn_us;      /* update_needed_event: event 14 then */
    struct pending pend[MSIM_PENDING_MAX];
    size_t n_pend;
    unsigned unplug_pending_ms;

    /* output */
    uint8_t *out;
    size_t out_len;
    uint64_t out_total;
    uint64_t out_written;

    /* platform side */
    enum step step;
    uint64_t next_req_us; /* UINT64_MAX: none scheduled */
    uint64_t update_deadline_us;
    uint64_t task_deadline_us;
    uint16_t next_msgid;
    struct request req;
    struct recent {
        uint16_t msgid;
        enum answer_kind kind;
    } recent[RECENT_MSGIDS]; /* answered requests: a repeat is harmless */
    size_t n_recent;
    uint64_t optional_sota_until_us; /* a 2nd AT+MIPLSOTA is harmless */
    size_t dl_offset;
    size_t acked_max;    /* bytes the MCU acknowledged in this run */
    uint16_t mode_msgid; /* msgid of the attempt's first execute 26550 */
    bool skip_download;
    enum msim_outcome pending_outcome; /* reported after ST_FINAL */
    char pending_reason[MSIM_REASON_MAX];
    bool fault_reboot_done, fault_unplug_done;
    uint32_t corrupt_done[CHUNK_BITS / 32]; /* one-shot faults by chunk */
    uint32_t dup_done[CHUNK_BITS / 32];

    struct msim_stats st;
};

/* ---- small helpers ---------------------------------------------------- */

uint64_t msim_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool chance(struct msim_mod *m, unsigned permille)
{
    if (permille == 0)
        return false;
    return msim_rand_next(&m->rng) % 1000u < permille;
}

static uint64_t ms_to_us(unsigned ms)
{
    return (uint64_t)ms * US_PER_MS;
}

static bool bit_test(const uint32_t *set, size_t i)
{
    return i < CHUNK_BITS && (set[i / 32] >> (i % 32)) & 1u;
}

static void bit_set(uint32_t *set, size_t i)
{
    if (i < CHUNK_BITS)
        set[i / 32] |= 1u << (i % 32);
}

static bool int_in_list(const int *list, size_t n, size_t v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] >= 0 && (size_t)list[i] == v)
            return true;
    return false;
}

const char *msim_outcome_name(enum msim_outcome o)
{
    switch (o) {
    case MSIM_OUTCOME_NO_TASK: return "no_task";
    case MSIM_OUTCOME_PENDING: return "pending";
    case MSIM_OUTCOME_SUCCESS: return "success";
    case MSIM_OUTCOME_FAILED: return "failed";
    case MSIM_OUTCOME_SKIPPED: return "skipped";
    }
    return "?";
}

void msim_dialect_defaults(struct msim_dialect *d)
{
    memset(d, 0, sizeof(*d));
    d->opaque_len = MSIM_LEN_BYTES;
    d->value_next_line = true;        /* the seed's layout */
    d->sota_erase_ok = 3;             /* SOTA-DOC */
    d->sota_write_ok = 1;             /* SOTA-DOC */
    d->sota_erase_fail = 4;           /* [?] reading (a) of reference 3.2 */
    d->sota_write_fail = 2;           /* [?] reading (a) of reference 3.2 */
    d->open_event_delay_ms[0] = 500;  /* bootstrap start */
    d->open_event_delay_ms[1] = 1500; /* bootstrap done */
    d->open_event_delay_ms[2] = 800;  /* connected */
    d->open_event_delay_ms[3] = 1200; /* registered: about 4 s in all */
}

void msim_faults_defaults(struct msim_faults *f)
{
    memset(f, 0, sizeof(*f));
    f->reboot_after_chunk = -1;
    f->unplug_after_chunk = -1;
    f->unplug_ms = 2000;
}

void msim_timing_defaults(struct msim_timing *t)
{
    memset(t, 0, sizeof(*t));
    t->max_delay_ms = 300;
    t->early_permille = 300;
    t->duplicate_permille = 150;
    t->interleave_permille = 500;
}

void msim_timing_adversarial(struct msim_timing *t)
{
    msim_timing_defaults(t);
    t->adversarial = true;
}

void msim_registration_defaults(struct msim_registration *r)
{
    memset(r, 0, sizeof(*r));
    r->update_needed_lead_s = 5;
}

void msim_platform_defaults(struct msim_platform_cfg *p)
{
    memset(p, 0, sizeof(*p));
    p->chunk_size = 1024;
    p->first_request_ms = 200;
    p->request_gap_ms = 30;
    p->resend_ms = 3000;
    p->max_resends = 3;
    p->deadline_ms = 3000;
    p->update_wait_s = 300;
    p->task_timeout_s = 3600;
    p->reboot_banner_ms = 1500;
}

static char luhn_digit(const char *digits, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(digits[n - 1 - i] - '0');
        if (i % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

static void rand_digits(uint64_t *rng, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (char)('0' + msim_rand_next(rng) % 10u);
}

void msim_identity_derive(struct msim_identity *id, uint64_t seed,
                          unsigned index)
{
    uint64_t rng = seed ^ (0xA5A5A5A5ull * (index + 1u));
    memset(id, 0, sizeof(*id));
    /* IMEI: an 86xxxxxx type allocation code, a serial, the Luhn digit.
     * The serial carries the index, so IMEIs never collide within a run. */
    memcpy(id->imei, "86", 2);
    rand_digits(&rng, id->imei + 2, 6);
    snprintf(id->imei + 8, 7, "%06u", (index + 1u) % 1000000u);
    id->imei[14] = luhn_digit(id->imei, 14);
    /* IMSI: MCC 460, MNC 04 (China Mobile IoT), 10-digit MSIN. */
    memcpy(id->imsi, "46004", 5);
    rand_digits(&rng, id->imsi + 5, 10);
    /* ICCID: 89 86 04, 13 digits, the Luhn digit. */
    memcpy(id->iccid, "898604", 6);
    rand_digits(&rng, id->iccid + 6, 13);
    id->iccid[19] = luhn_digit(id->iccid, 19);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint32_t msim_percentile(uint32_t *samples, size_t n, unsigned p)
{
    if (n == 0)
        return 0;
    qsort(samples, n, sizeof(*samples), cmp_u32);
    size_t rank = (n * p + 99u) / 100u;
    if (rank == 0)
        rank = 1;
    return samples[rank - 1];
}

/* ---- output ----------------------------------------------------------- */

static void out_put(struct msim_mod *m, const char *s, size_t n)
{
    if (n > MSIM_OUT_CAP - m->out_len) {
        m->st.output_dropped += (unsigned)n;
        return;
    }
    memcpy(m->out + m->out_len, s, n);
    m->out_len += n;
    m->out_total += n;
}

static void out_str(struct msim_mod *m, const char *s)
{
    out_put(m, s, strlen(s));
}

/* A response or URC line in V.250 verbose framing: CR LF text CR LF. */
static void emit_line(struct msim_mod *m, const char *text)
{
    out_str(m, "\r\n");
    out_str(m, text);
    out_str(m, "\r\n");
}

static void emit_noise(struct msim_mod *m)
{
    static const char *const noise[] = {
        "+CEREG: 1", "+CSCON: 1", "+CSCON: 0", "NO CARRIER", "", "+CEREG: 5",
    };
    if (!chance(m, m->cfg.faults.noise_permille))
        return;
    emit_line(
        m, noise[msim_rand_next(&m->rng) % (sizeof(noise) / sizeof(noise[0]))]);
}

static void emit_final(struct msim_mod *m, const char *text)
{
    emit_line(m, text);
    emit_noise(m);
}

static void emit_urc(struct msim_mod *m, const char *text)
{
    emit_noise(m);
    emit_line(m, text);
}

/* Rewrites a compact URC ("+X:a,b") into the spaced dialect ("+X: a, b"). */
static void dialect_format(const struct msim_mod *m, const char *in, char *out,
                           size_t cap)
{
    size_t o = 0;
    bool quoted = false, after_colon = false;
    for (size_t i = 0; in[i] != '\0' && o + 2 < cap; i++) {
        char c = in[i];
        out[o++] = c;
        if (c == '"')
            quoted = !quoted;
        if (!m->cfg.dialect.spaced || quoted)
            continue;
        if ((c == ':' && !after_colon) || c == ',') {
            if (c == ':')
                after_colon = true;
            out[o++] = ' ';
        }
    }
    out[o] = '\0';
}

static void emit_urcf(struct msim_mod *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit_urcf(struct msim_mod *m, const char *fmt, ...)
{
    char raw[URC_MAX], text[2 * URC_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    dialect_format(m, raw, text, sizeof(text));
    emit_urc(m, text);
}

/* ---- adversarial timing ---------------------------------------------- */

static bool adversarial(const struct msim_mod *m)
{
    return m->cfg.timing.adversarial;
}

static bool tchance(struct msim_mod *m, unsigned permille)
{
    return permille != 0 && msim_rand_next(&m->trng) % 1000u < permille;
}

/* 0..max_delay_ms, uniformly. */
static uint64_t tdelay_us(struct msim_mod *m)
{
    uint64_t max = ms_to_us(m->cfg.timing.max_delay_ms);
    return msim_rand_next(&m->trng) % (max + 1u);
}

static void emit_event(struct msim_mod *m, int evt, bool may_dup);

static void pend_push(struct msim_mod *m, int evt, uint64_t due_us,
                      bool may_dup)
{
    size_t i;
    if (m->n_pend == MSIM_PENDING_MAX) { /* bounded: out it goes now */
        emit_event(m, evt, false);
        return;
    }
    /* kept sorted by due time; equal times keep their order */
    for (i = m->n_pend; i > 0 && m->pend[i - 1].due_us > due_us; i--)
        m->pend[i] = m->pend[i - 1];
    m->pend[i].due_us = due_us;
    m->pend[i].evt = evt;
    m->pend[i].may_dup = may_dup;
    m->n_pend++;
}

/* Prints the earliest held event. */
static void pend_pop(struct msim_mod *m)
{
    struct pending p = m->pend[0];
    m->n_pend--;
    memmove(&m->pend[0], &m->pend[1], m->n_pend * sizeof(m->pend[0]));
    emit_event(m, p.evt, p.may_dup);
}

/* +MIPLEVENT:0,<evt>; adversarial: sometimes once more, a little later. */
static void emit_event(struct msim_mod *m, int evt, bool may_dup)
{
    emit_urcf(m, "+MIPLEVENT:0,%d", evt);
    if (may_dup && adversarial(m) &&
        tchance(m, m->cfg.timing.duplicate_permille)) {
        m->st.events_duplicated++;
        pend_push(m, evt, m->now_us + tdelay_us(m), false);
    }
}

/* An event that reports a network exchange (15 after DELETE or CLOSE, 11
 * after UPDATE), called before the command's final. Adversarial: printed
 * here (early) or held back 0..max_delay_ms, possibly past the finals of
 * later commands (docs/M531X-REFERENCE.md 7.6). Otherwise the fixed order the
 * simulator always had: here when fixed_before, else after the final. Returns
 * true when the caller is to print it after the final. */
static bool event_async(struct msim_mod *m, int evt, bool fixed_before)
{
    if (!adversarial(m)) {
        if (fixed_before)
            emit_event(m, evt, false);
        return !fixed_before;
    }
    if (tchance(m, m->cfg.timing.early_permille)) {
        m->st.events_early++;
        emit_event(m, evt, true);
    } else {
        m->st.events_delayed++;
        pend_push(m, evt, m->now_us + tdelay_us(m), true);
    }
    return false;
}

/* Between the lines of a multi-line answer or a split +MIPLWRITE: a held
 * event may come out here, earlier than its latest moment. */
static void interleave(struct msim_mod *m)
{
    if (!adversarial(m) || m->n_pend == 0 ||
        !tchance(m, m->cfg.timing.interleave_permille))
        return;
    m->st.events_interleaved++;
    pend_pop(m);
}

size_t msim_mod_output_peek(const struct msim_mod *m, const uint8_t **data)
{
    *data = m->out;
    return m->out_len;
}

void msim_mod_output_done(struct msim_mod *m, size_t n, uint64_t now_us)
{
    if (n > m->out_len)
        n = m->out_len;
    memmove(m->out, m->out + n, m->out_len - n);
    m->out_len -= n;
    m->out_written += n;
    if (m->req.active && !m->req.urc_done && m->out_written >= m->req.marker) {
        m->req.urc_done = true;
        m->req.urc_done_us = now_us;
        m->req.resend_us = now_us + ms_to_us(m->cfg.platform.resend_ms);
    }
}

/* ---- bookkeeping ------------------------------------------------------ */

static void violation(struct msim_mod *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct msim_mod *m, const char *fmt, ...)
{
    m->st.violations++;
    if (m->st.n_viol_kept < MSIM_VIOL_KEEP) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->st.viol[m->st.n_viol_kept], MSIM_REASON_MAX, fmt, ap);
        va_end(ap);
        m->st.n_viol_kept++;
    }
}

static void task_end(struct msim_mod *m, enum msim_outcome o, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

static void task_end(struct msim_mod *m, enum msim_outcome o, const char *fmt,
                     ...)
{
    va_list ap;
    m->st.outcome = o;
    va_start(ap, fmt);
    vsnprintf(m->st.reason, sizeof(m->st.reason), fmt, ap);
    va_end(ap);
    m->step = ST_DONE;
    m->req.active = false;
    m->next_req_us = UINT64_MAX;
}

static void remember_msgid(struct msim_mod *m, uint16_t id,
                           enum answer_kind kind)
{
    m->recent[m->n_recent % RECENT_MSGIDS].msgid = id;
    m->recent[m->n_recent % RECENT_MSGIDS].kind = kind;
    m->n_recent++;
}

/* A repeat of an answer already given, of the same kind? (An EXECUTERSP
 * naming the msgid of execute 26501, answered by AT+MIPLSOTA, is not.) */
static bool msgid_recent(const struct msim_mod *m, long id,
                         enum answer_kind kind)
{
    size_t n = m->n_recent < RECENT_MSGIDS ? m->n_recent : RECENT_MSGIDS;
    for (size_t i = 0; i < n; i++)
        if (m->recent[i].msgid == id && m->recent[i].kind == kind)
            return true;
    return false;
}

static uint16_t msgid_alloc(struct msim_mod *m)
{
    uint16_t id = m->next_msgid;
    m->next_msgid = (uint16_t)(m->next_msgid == 65535 ? 1 : m->next_msgid + 1);
    return id;
}

/* ---- platform: sending requests --------------------------------------- */

static enum answer_kind step_answer(enum step s)
{
    switch (s) {
    case ST_MODE:
    case ST_UPDATE:
    case ST_POST_MODE: return ANS_EXEC;
    case ST_ERASE:
    case ST_CHUNK: return ANS_SOTA;
    case ST_FINAL: return ANS_WRITE;
    case ST_SPACE:
    case ST_VERSION:
    case ST_STATE:
    case ST_BATTERY:
    case ST_BATTERY2:
    case ST_POST_SPACE:
    case ST_POST_VERSION:
    case ST_IDLE:
    case ST_WAIT_UPDATE:
    case ST_DONE: break;
    }
    return ANS_READ;
}

static void send_exec(struct msim_mod *m, int res)
{
    emit_urcf(m, "+MIPLEXECUTE:0,%u,5,0,%d,0,\"\"", m->req.msgid, res);
}

static void send_read(struct msim_mod *m, int obj, int res)
{
    if (res == -1 && m->cfg.dialect.read_all_count)
        emit_urcf(m, "+MIPLREAD:0,%u,%d,0,-1,3", m->req.msgid, obj);
    else
        emit_urcf(m, "+MIPLREAD:0,%u,%d,0,%d", m->req.msgid, obj, res);
}

static size_t chunk_count(const struct msim_mod *m)
{
    size_t cs = m->cfg.platform.chunk_size;
    return (m->cfg.task->package_len + cs - 1) / cs;
}

/* The +MIPLWRITE for one chunk. corrupt: damage the hex on the wire. */
static void send_chunk(struct msim_mod *m, bool corrupt)
{
    const struct msim_dialect *d = &m->cfg.dialect;
    size_t off = m->req.chunk_offset, len = m->req.chunk_len;
    size_t total = m->cfg.task->package_len;
    size_t idx = off / m->cfg.platform.chunk_size;
    bool last = off + len >= total;
    /* 1 first, 2 middle, 0 last; a resumed download starts in the middle
     * (reference 3.4); a one-chunk package is a single message (flag 0). */
    int flag = last ? 0 : off == 0 ? 1 : 2;
    char head[URC_MAX], text[2 * URC_MAX], tail[64];
    char hex[2 * CHUNK_MAX + 1];
    size_t wire_len = d->opaque_len == MSIM_LEN_HEXCHARS ? 2 * len : len;

    snprintf(head, sizeof(head), "+MIPLWRITE:0,%u,5,0,0,2,%zu,", m->req.msgid,
             wire_len);
    dialect_format(m, head, text, sizeof(text));
    if (gw_hex_encode(m->cfg.task->package + off, len, hex, sizeof(hex)) < 0)
        return; /* chunk_size is capped at CHUNK_MAX: cannot happen */
    size_t hex_len = 2 * len;
    if (corrupt && hex_len >= 4) {
        size_t pos = (size_t)(msim_rand_next(&m->rng) % hex_len);
        if (msim_rand_next(&m->rng) & 1u) {
            hex[pos] = 'G'; /* not a hex digit */
        } else {            /* two characters lost on the wire */
            pos = pos > hex_len - 2 ? hex_len - 2 : pos;
            memmove(hex + pos, hex + pos + 2, hex_len - pos - 1);
            hex_len -= 2;
        }
        m->st.chunks_corrupted++;
    }
    if (d->write_index_field)
        snprintf(tail, sizeof(tail), d->spaced ? ", %d, %zu" : ",%d,%zu", flag,
                 chunk_count(m) - 1 - idx);
    else
        snprintf(tail, sizeof(tail), d->spaced ? ", %d" : ",%d", flag);

    emit_noise(m);
    out_str(m, "\r\n");
    out_str(m, text);
    if (d->value_next_line) {
        out_str(m, "\r\n");
        interleave(m); /* a framed URC between the head and its value */
        out_str(m, "\r\n");
    }
    out_put(m, hex, hex_len);
    out_str(m, tail);
    out_str(m, "\r\n");
}

static void send_current(struct msim_mod *m, bool corrupt)
{
    switch (m->step) {
    case ST_MODE:
    case ST_POST_MODE: send_exec(m, 26550); break;
    case ST_ERASE: send_exec(m, 26501); break;
    case ST_UPDATE: send_exec(m, 2); break;
    case ST_SPACE:
    case ST_POST_SPACE: send_read(m, 3, 26261); break;
    case ST_VERSION:
    case ST_POST_VERSION: send_read(m, 3, 19); break;
    case ST_STATE: send_read(m, 5, -1); break;
    case ST_BATTERY:
    case ST_BATTERY2: send_read(m, 3, 9); break;
    case ST_CHUNK: send_chunk(m, corrupt); break;
    case ST_FINAL:
        emit_urcf(m, "+MIPLWRITE:0,%u,5,0,0,2,0,,0%s", m->req.msgid,
                  m->cfg.dialect.write_index_field ? ",0" : "");
        break;
    case ST_IDLE:
    case ST_WAIT_UPDATE:
    case ST_DONE: return;
    }
    m->req.marker = m->out_total;
    m->req.urc_done = false;
    m->req.rd_seen = 0;
}

static size_t chunk_len_at(const struct msim_mod *m, size_t off)
{
    size_t left = m->cfg.task->package_len - off;
    return left < m->cfg.platform.chunk_size ? left
                                             : m->cfg.platform.chunk_size;
}

static void request_start(struct msim_mod *m)
{
    bool corrupt = false;
    memset(&m->req, 0, sizeof(m->req));
    m->req.active = true;
    m->req.msgid = msgid_alloc(m);
    m->req.sends = 1;
    m->st.requests++;
    if (m->step == ST_MODE)
        m->mode_msgid = m->req.msgid;
    if (m->step == ST_POST_MODE && m->cfg.dialect.reuse_mode_msgid)
        m->req.msgid = m->mode_msgid; /* as the seed's step 15 shows */
    if (m->step == ST_CHUNK) {
        const struct msim_faults *f = &m->cfg.faults;
        size_t idx = m->dl_offset / m->cfg.platform.chunk_size;
        m->req.chunk_offset = m->dl_offset;
        m->req.chunk_len = chunk_len_at(m, m->dl_offset);
        m->st.chunks_sent++;
        if (!bit_test(m->corrupt_done, idx) &&
            (int_in_list(f->corrupt_chunks, f->n_corrupt, idx) ||
             chance(m, f->corrupt_permille))) {
            bit_set(m->corrupt_done, idx);
            corrupt = true;
        }
    }
    m->req.corrupted = corrupt;
    send_current(m, corrupt);
}

static void schedule_next(struct msim_mod *m, enum step s, uint64_t now_us)
{
    uint64_t due = now_us + ms_to_us(m->cfg.platform.request_gap_ms);
    m->step = s;
    m->req.active = false;
    if (m->optional_sota_until_us > due)
        due = m->optional_sota_until_us;
    m->next_req_us = s == ST_WAIT_UPDATE || s == ST_DONE ? UINT64_MAX : due;
}

/* The answer to the pending request arrived: measure it. */
static void request_answered(struct msim_mod *m, uint64_t now_us)
{
    struct request *r = &m->req;
    if (r->urc_done && now_us >= r->urc_done_us) {
        uint64_t lat = now_us - r->urc_done_us;
        if (m->st.n_lat < MSIM_LAT_MAX)
            m->st.lat_us[m->st.n_lat++] =
                lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
        else
            m->st.lat_dropped++;
        if (lat > ms_to_us(m->cfg.platform.deadline_ms))
            m->st.missed_deadlines++;
    }
    remember_msgid(m, r->msgid, step_answer(m->step));
    /* A resent chunk or erase may be answered twice: the second
     * AT+MIPLSOTA is harmless for a while, so the next request waits. */
    if (r->retransmitted && step_answer(m->step) == ANS_SOTA)
        m->optional_sota_until_us =
            now_us + ms_to_us(m->cfg.platform.resend_ms);
    r->active = false;
}

/* Sends the same chunk once more with the same msgid (a CoAP resend whose
 * ACK was lost). Answering it is allowed, not required. */
static void send_duplicate(struct msim_mod *m, size_t off, size_t len,
                           uint16_t msgid)
{
    memset(&m->req, 0, sizeof(m->req));
    m->req.active = true;
    m->req.optional = true;
    m->req.msgid = msgid;
    m->req.sends = 1;
    m->req.chunk_offset = off;
    m->req.chunk_len = len;
    m->st.chunks_duplicated++;
    send_current(m, false);
}

/* ---- module: state changes that drop the platform's attempt ----------- */

static void attempt_drop(struct msim_mod *m)
{
    if (m->step != ST_DONE && m->step != ST_IDLE) {
        m->step = ST_IDLE;
        m->req.active = false;
        m->next_req_us = UINT64_MAX;
    }
}

static void instance_lose(struct msim_mod *m)
{
    /* a stuck instance (fault create_602_always) survives everything */
    m->instance = m->cfg.faults.create_602_always;
    m->sotaver_set = false;
    m->opening = false;
    m->registered = false;
    m->reg_with_sotaver = false;
    attempt_drop(m);
}

static void module_reboot(struct msim_mod *m, uint64_t now_us)
{
    instance_lose(m);
    m->n_pend = 0; /* what the old firmware held back is gone */
    m->echo = true;
    m->booting = true;
    m->line_len = 0;
    m->line_overflow = false;
    m->boot_done_us = now_us + ms_to_us(m->cfg.platform.reboot_banner_ms);
    m->st.reboots++;
}

static void platform_try_start(struct msim_mod *m, uint64_t now_us)
{
    const struct msim_task *t = m->cfg.task;
    if (m->step != ST_IDLE || !m->registered || t == NULL ||
        t->package == NULL || now_us < t->start_us)
        return;
    if (!m->reg_with_sotaver) {
        m->st.no_entity_registrations++;
        task_end(m, MSIM_OUTCOME_FAILED,
                 "no entity: AT+MIPLSOTAVER was not sent before AT+MIPLOPEN");
        return;
    }
    m->st.attempts++;
    m->skip_download = false;
    m->dl_offset = 0;
    m->step = ST_MODE;
    m->next_req_us = now_us + ms_to_us(m->cfg.platform.first_request_ms);
}

/* ---- module: field parsing -------------------------------------------- */

struct field {
    const char *p;
    size_t n;
    bool quoted;
};

/* Splits a,b,"c,d" into fields; quotes are kept out of the text. Returns
 * the count, or -1 for an unterminated quote or too many fields. */
static int split_fields(const char *s, struct field *f, int max)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        if (n == max)
            return -1;
        while (*p == ' ')
            p++;
        f[n].quoted = false;
        if (*p == '"') {
            const char *q = strchr(p + 1, '"');
            if (q == NULL)
                return -1;
            f[n].p = p + 1;
            f[n].n = (size_t)(q - p - 1);
            f[n].quoted = true;
            p = q + 1;
            while (*p == ' ')
                p++;
            if (*p != ',' && *p != '\0')
                return -1;
        } else {
            const char *q = p;
            while (*q != ',' && *q != '\0')
                q++;
            const char *e = q;
            while (e > p && e[-1] == ' ')
                e--;
            f[n].p = p;
            f[n].n = (size_t)(e - p);
            p = q;
        }
        n++;
        if (*p == '\0')
            return n;
        p++; /* the comma */
    }
}

/* A decimal integer field, optionally quoted; false when it is not one. */
static bool field_long(const struct field *f, long lo, long hi, long *out)
{
    char buf[24];
    char *end;
    if (f->n == 0 || f->n >= sizeof(buf))
        return false;
    memcpy(buf, f->p, f->n);
    buf[f->n] = '\0';
    for (size_t i = 0; i < f->n; i++)
        if (!isdigit((unsigned char)buf[i]) && !(i == 0 && buf[i] == '-'))
            return false;
    long v = strtol(buf, &end, 10);
    if (*end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* ---- platform: handling answers --------------------------------------- */

static bool is_read_step(enum step s, int *obj, int *res)
{
    switch (s) {
    case ST_SPACE:
    case ST_POST_SPACE:
        *obj = 3;
        *res = 26261;
        return true;
    case ST_VERSION:
    case ST_POST_VERSION:
        *obj = 3;
        *res = 19;
        return true;
    case ST_STATE:
        *obj = 5;
        *res = -1;
        return true;
    case ST_BATTERY:
    case ST_BATTERY2:
        *obj = 3;
        *res = 9;
        return true;
    case ST_IDLE:
    case ST_MODE:
    case ST_ERASE:
    case ST_CHUNK:
    case ST_UPDATE:
    case ST_WAIT_UPDATE:
    case ST_POST_MODE:
    case ST_FINAL:
    case ST_DONE: break;
    }
    return false;
}

/* The package is resumed from 5/0/26500 as reference 3.4 models it. */
static void decide_download(struct msim_mod *m)
{
    struct request *r = &m->req;
    size_t size = m->cfg.task->package_len;
    /* The platform trusts N; the report notes an N above what this run's
     * MCU acknowledged (a resume from bytes it may not hold). */
    if ((r->rd_state == 1 || r->rd_state == 2) && r->rd_bytes > 0 &&
        (size_t)r->rd_bytes > m->acked_max && m->acked_max > 0)
        m->st.resume_beyond_acked++;
    if (r->rd_state == 2 && r->rd_bytes >= 0 && (size_t)r->rd_bytes == size) {
        m->skip_download = true;
        m->st.chunks_resumed += (unsigned)chunk_count(m);
        m->st.last_resume_offset = size;
    } else if (r->rd_state == 1 && r->rd_bytes > 0 &&
               (size_t)r->rd_bytes < size) {
        m->dl_offset = (size_t)r->rd_bytes;
        m->st.chunks_resumed +=
            (unsigned)(m->dl_offset / m->cfg.platform.chunk_size);
        m->st.last_resume_offset = m->dl_offset;
    } else {
        m->dl_offset = 0; /* idle, or a state the platform cannot trust */
    }
}

/* One validated READRSP value for the pending single-resource read. */
static void read_value(struct msim_mod *m, int res, const struct field *val,
                       uint64_t now_us)
{
    const struct msim_task *t = m->cfg.task;
    long v = 0;
    char str[MSIM_VERSION_MAX];
    size_t n = val->n < sizeof(str) - 1 ? val->n : sizeof(str) - 1;
    memcpy(str, val->p, n);
    str[n] = '\0';

    if (res == 19) {
        bool equal = strcmp(str, t->target_version) == 0;
        request_answered(m, now_us);
        if (m->step == ST_VERSION) {
            if (equal)
                task_end(m, MSIM_OUTCOME_SUCCESS,
                         "already at target version %s", str);
            else
                schedule_next(m, ST_STATE, now_us);
            return;
        }
        if (equal) {
            m->pending_outcome = MSIM_OUTCOME_SUCCESS;
            snprintf(m->pending_reason, sizeof(m->pending_reason),
                     "version %s reported after the update", str);
        } else {
            m->pending_outcome = MSIM_OUTCOME_FAILED;
            snprintf(m->pending_reason, sizeof(m->pending_reason),
                     "version mismatch: MCU reports \"%.40s\", target "
                     "\"%.40s\"",
                     str, t->target_version);
        }
        schedule_next(m, ST_FINAL, now_us);
        return;
    }
    if (!field_long(val, 0, 100000000, &v)) {
        violation(m, "READRSP 3/0/%d: value \"%s\" is not an integer", res,
                  str);
        return;
    }
    request_answered(m, now_us);
    if (res == 26261) {
        if (m->step == ST_POST_SPACE)
            schedule_next(m, ST_POST_VERSION, now_us);
        else if ((uint64_t)v * 1024u < t->package_len)
            task_end(m, MSIM_OUTCOME_SKIPPED,
                     "too little space: %ld KiB free for a %zu-byte package", v,
                     t->package_len);
        else
            schedule_next(m, ST_VERSION, now_us);
        return;
    }
    if (v < t->min_battery)
        task_end(m, MSIM_OUTCOME_SKIPPED,
                 "low battery: %ld%% below the task minimum %d%%", v,
                 t->min_battery);
    else if (m->step == ST_BATTERY2 || m->skip_download)
        schedule_next(m, ST_UPDATE, now_us);
    else
        schedule_next(m, ST_ERASE, now_us);
}

/* Answers that name a msgid: is it the pending one? Emits the module's
 * reply for the other cases and returns false. */
static bool rsp_matches(struct msim_mod *m, long msgid, const char *cmd,
                        enum answer_kind kind)
{
    if (m->req.active && msgid == m->req.msgid)
        return true;
    if (msgid_recent(m, msgid, kind)) { /* the same answer again: harmless */
        m->st.duplicate_answers++;
        emit_final(m, "OK");
        return false;
    }
    violation(m, "%s for msgid %ld, which waits for nothing", cmd, msgid);
    emit_final(m, "+CIS ERROR:601");
    return false;
}

static void on_readrsp(struct msim_mod *m, const struct field *f, int n,
                       uint64_t now_us)
{
    long ref, msgid, result, obj, ins, res, type, len, index, flag, v;
    int want_obj = 0, want_res = 0;
    struct request *r = &m->req;

    if (n < 3 || !field_long(&f[0], 0, 0, &ref) ||
        !field_long(&f[1], 0, 65535, &msgid) ||
        !field_long(&f[2], 0, 255, &result) || (n != 3 && n != 11)) {
        violation(m, "malformed AT+MIPLREADRSP");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    if (!rsp_matches(m, msgid, "AT+MIPLREADRSP", ANS_READ))
        return;
    if (!is_read_step(m->step, &want_obj, &want_res)) {
        violation(m, "AT+MIPLREADRSP answers an execute or write");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    emit_final(m, "OK");
    if (n == 3) {
        request_answered(m, now_us);
        task_end(m, MSIM_OUTCOME_FAILED, "read %d/0/%d answered result %ld",
                 want_obj, want_res, result);
        return;
    }
    if (result != 1 || !field_long(&f[3], 0, 65535, &obj) ||
        !field_long(&f[4], 0, 65535, &ins) ||
        !field_long(&f[5], -1, 65535, &res) ||
        !field_long(&f[6], 1, 5, &type) || !field_long(&f[7], 0, 65535, &len) ||
        !field_long(&f[9], 0, 255, &index) ||
        !field_long(&f[10], 0, 2, &flag)) {
        violation(m, "AT+MIPLREADRSP msgid %ld: bad result or field", msgid);
        return;
    }
    bool res_ok = want_res == -1
                      ? obj == 5 && (res == 3 || res == 5 || res == 26500)
                      : obj == want_obj && res == want_res;
    if (!res_ok || ins != 0) {
        violation(m, "READRSP %ld/%ld/%ld answers a read of %d/0/%d", obj, ins,
                  res, want_obj, want_res);
        return;
    }
    bool is_string = res == 19;
    if ((is_string && type != 1) || (!is_string && type != 3)) {
        violation(m, "READRSP %ld/0/%ld has type %ld", obj, res, type);
        return;
    }
    /* <len>: the value's length, with or without the quotes ([X] 2.4). */
    if ((size_t)len != f[8].n && (size_t)len != f[8].n + 2) {
        violation(m, "READRSP %ld/0/%ld: len %ld for a %zu-character value",
                  obj, res, len, f[8].n);
        return;
    }
    if (want_res != -1) {
        if (index != 0 || flag != 0) {
            violation(m,
                      "READRSP %ld/0/%ld: index,flag %ld,%ld for one "
                      "resource",
                      obj, res, index, flag);
            return;
        }
        read_value(m, (int)res, &f[8], now_us);
        return;
    }
    /* 5/0/-1: three lines, index 2..0, flags 1, 2, 0 (SOTA-DOC). */
    if (!field_long(&f[8], 0, 100000000, &v)) {
        violation(m, "READRSP 5/0/%ld: value is not an integer", res);
        return;
    }
    unsigned bit = res == 3 ? 1u : res == 5 ? 2u : 4u;
    long seen = (long)((r->rd_seen & 1u) + ((r->rd_seen >> 1) & 1u) +
                       ((r->rd_seen >> 2) & 1u));
    long want_flag = seen == 2 ? 0 : seen == 0 ? 1 : 2;
    if ((r->rd_seen & bit) || index != 2 - seen || flag != want_flag) {
        violation(m, "READRSP 5/0/%ld: index,flag %ld,%ld out of sequence", res,
                  index, flag);
        r->rd_seen = 0;
        return;
    }
    r->rd_seen |= bit;
    if (res == 3)
        r->rd_state = v;
    else if (res == 5)
        r->rd_result = v;
    else
        r->rd_bytes = v;
    if (flag != 0)
        return;
    decide_download(m);
    request_answered(m, now_us);
    schedule_next(m, ST_BATTERY, now_us);
}

static void on_execrsp(struct msim_mod *m, const struct field *f, int n,
                       uint64_t now_us)
{
    long ref, msgid, result;
    if (n != 3 || !field_long(&f[0], 0, 0, &ref) ||
        !field_long(&f[1], 0, 65535, &msgid) ||
        !field_long(&f[2], 0, 255, &result)) {
        violation(m, "malformed AT+MIPLEXECUTERSP");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    if (!rsp_matches(m, msgid, "AT+MIPLEXECUTERSP", ANS_EXEC))
        return;
    switch (step_answer(m->step)) {
    case ANS_EXEC: break;
    case ANS_SOTA:
        /* The seed answers 5/0/26501 with AT+MIPLSOTA only. */
        emit_final(m, "OK");
        violation(m,
                  "AT+MIPLEXECUTERSP answers execute 5/0/26501, which "
                  "expects AT+MIPLSOTA=%d",
                  m->cfg.dialect.sota_erase_ok);
        return;
    case ANS_READ:
    case ANS_WRITE:
        violation(m, "AT+MIPLEXECUTERSP answers a read or write");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    emit_final(m, "OK");
    request_answered(m, now_us);
    if (m->step == ST_UPDATE) {
        if (result != 2) {
            task_end(m, MSIM_OUTCOME_FAILED,
                     "execute 5/0/2 answered result %ld", result);
            return;
        }
        m->update_deadline_us =
            now_us + (uint64_t)m->cfg.platform.update_wait_s * US_PER_S;
        schedule_next(m, ST_WAIT_UPDATE, now_us);
        return;
    }
    if (result != 2) {
        task_end(m, MSIM_OUTCOME_FAILED,
                 "execute 5/0/26550 answered result %ld", result);
        return;
    }
    schedule_next(m, m->step == ST_MODE ? ST_SPACE : ST_POST_SPACE, now_us);
}

static void on_writersp(struct msim_mod *m, const struct field *f, int n,
                        uint64_t now_us)
{
    long ref, msgid, result;
    if (n != 3 || !field_long(&f[0], 0, 0, &ref) ||
        !field_long(&f[1], 0, 65535, &msgid) ||
        !field_long(&f[2], 0, 255, &result)) {
        violation(m, "malformed AT+MIPLWRITERSP");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    if (!rsp_matches(m, msgid, "AT+MIPLWRITERSP", ANS_WRITE))
        return;
    if (m->step != ST_FINAL) {
        emit_final(m, "OK");
        violation(m,
                  "AT+MIPLWRITERSP answers a package chunk, which expects "
                  "AT+MIPLSOTA=%d",
                  m->cfg.dialect.sota_write_ok);
        return;
    }
    emit_final(m, "OK");
    request_answered(m, now_us);
    if (result != 2)
        violation(m, "final write answered result %ld", result);
    task_end(m, m->pending_outcome, "%s", m->pending_reason);
}

static enum step after_chunk(const struct msim_mod *m)
{
    return m->dl_offset >= m->cfg.task->package_len ? ST_BATTERY2 : ST_CHUNK;
}

static void chunk_acked(struct msim_mod *m, uint64_t now_us)
{
    const struct msim_faults *f = &m->cfg.faults;
    size_t off = m->req.chunk_offset, len = m->req.chunk_len;
    size_t idx = off / m->cfg.platform.chunk_size;
    uint16_t msgid = m->req.msgid;
    bool optional = m->req.optional;

    if (m->req.corrupted)
        m->st.corrupt_acked++; /* the platform cannot tell; the report can */
    request_answered(m, now_us);
    if (optional) { /* the answer to a duplicate */
        m->st.duplicate_answers++;
        schedule_next(m, after_chunk(m), now_us);
        return;
    }
    m->dl_offset = off + len;
    if (m->dl_offset > m->acked_max)
        m->acked_max = m->dl_offset;
    if (!m->fault_reboot_done && f->reboot_after_chunk >= 0 &&
        (size_t)f->reboot_after_chunk == idx) {
        m->fault_reboot_done = true;
        module_reboot(m, now_us);
        return;
    }
    if (!m->fault_unplug_done && f->unplug_after_chunk >= 0 &&
        (size_t)f->unplug_after_chunk == idx) {
        m->fault_unplug_done = true;
        m->unplug_pending_ms = f->unplug_ms;
        m->st.unplugs++;
    }
    if (!bit_test(m->dup_done, idx) &&
        (int_in_list(f->duplicate_chunks, f->n_duplicate, idx) ||
         chance(m, f->duplicate_permille))) {
        bit_set(m->dup_done, idx);
        send_duplicate(m, off, len, msgid);
        return;
    }
    schedule_next(m, after_chunk(m), now_us);
}

/* AT+MIPLSOTA=<write_fail>: the platform sends the same bytes again as a
 * new request (new msgid), within the retry budget. */
static void chunk_failed(struct msim_mod *m, uint64_t now_us)
{
    size_t off = m->req.chunk_offset;
    unsigned sends = m->req.sends + 1;

    if (m->req.optional) { /* a failed duplicate: the chunk is stored */
        request_answered(m, now_us);
        schedule_next(m, after_chunk(m), now_us);
        return;
    }
    m->st.write_fails++;
    request_answered(m, now_us);
    if (sends > m->cfg.platform.max_resends + 1) {
        task_end(m, MSIM_OUTCOME_FAILED, "chunk at byte %zu failed %u times",
                 off, sends - 1);
        return;
    }
    memset(&m->req, 0, sizeof(m->req));
    m->req.active = true;
    m->req.msgid = msgid_alloc(m);
    m->req.sends = sends;
    m->req.chunk_offset = off;
    m->req.chunk_len = chunk_len_at(m, off);
    m->dl_offset = off;
    m->st.chunks_resent++;
    m->st.requests++;
    send_current(m, false);
}

static void on_sota(struct msim_mod *m, const struct field *f, int n,
                    uint64_t now_us)
{
    const struct msim_dialect *d = &m->cfg.dialect;
    long v;
    if (n != 1 || !field_long(&f[0], 0, 255, &v)) {
        violation(m, "malformed AT+MIPLSOTA");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    if (!m->req.active || step_answer(m->step) != ANS_SOTA) {
        if (now_us < m->optional_sota_until_us) {
            m->optional_sota_until_us = 0;
            m->st.duplicate_answers++;
            emit_final(m, "OK");
            return;
        }
        violation(m, "AT+MIPLSOTA=%ld answers nothing", v);
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    emit_final(m, "OK");
    if (m->step == ST_ERASE) {
        if (v == d->sota_erase_ok) {
            request_answered(m, now_us);
            schedule_next(m, ST_CHUNK, now_us);
        } else if (v == d->sota_erase_fail) {
            request_answered(m, now_us);
            task_end(m, MSIM_OUTCOME_FAILED, "MCU reported erase failure");
        } else {
            violation(m,
                      "AT+MIPLSOTA=%ld after execute 5/0/26501 (erase ok "
                      "is %d)",
                      v, d->sota_erase_ok);
        }
        return;
    }
    if (v == d->sota_write_ok)
        chunk_acked(m, now_us);
    else if (v == d->sota_write_fail)
        chunk_failed(m, now_us);
    else
        violation(m,
                  "AT+MIPLSOTA=%ld after a package chunk (write ok is "
                  "%d)",
                  v, d->sota_write_ok);
}

/* ---- module: commands ------------------------------------------------- */

/* The delay before open event stage i (1, 2, 4, 6); adversarial: any
 * moment from at once to twice the dialect's delay. */
static uint64_t open_delay_us(struct msim_mod *m, unsigned i)
{
    uint64_t d = ms_to_us(m->cfg.dialect.open_event_delay_ms[i]);
    if (adversarial(m))
        d = msim_rand_next(&m->trng) % (2u * d + 1u);
    return d;
}

/* The registration now runs for its lifetime (when enforced). lifetime:
 * a new <lifetime> from AT+MIPLUPDATE, 0 to keep the current one. */
static void lifetime_start(struct msim_mod *m, long lifetime, uint64_t now_us)
{
    const struct msim_registration *r = &m->cfg.registration;
    m->expire_us = UINT64_MAX;
    m->warn_us = UINT64_MAX;
    if (lifetime > 0)
        m->lifetime_s = (unsigned)lifetime;
    if (!r->honour_lifetime && r->lifetime_cap_s == 0)
        return;
    unsigned lt = m->lifetime_s;
    if (r->lifetime_cap_s != 0 && (lt == 0 || lt > r->lifetime_cap_s))
        lt = r->lifetime_cap_s;
    if (lt == 0)
        return;
    m->expire_us = now_us + (uint64_t)lt * US_PER_S;
    if (r->update_needed_event) {
        unsigned lead =
            r->update_needed_lead_s < lt / 2 ? r->update_needed_lead_s : lt / 2;
        m->warn_us = m->expire_us - (uint64_t)lead * US_PER_S;
    }
}

/* The next of events 1, 2, 4, 6 of a running AT+MIPLOPEN. */
static void open_step(struct msim_mod *m, uint64_t now_us)
{
    static const int open_events[4] = {1, 2, 4, 6};
    if (m->open_stage == 3 && m->open_failing) {
        m->opening = false;
        m->st.open_failures++;
        if (!m->cfg.faults.open_fail_silent)
            emit_event(m, 7, true); /* register failed */
        return;
    }
    emit_event(m, open_events[m->open_stage], true);
    m->open_stage++;
    if (m->open_stage == 4) {
        m->opening = false;
        m->registered = true;
        m->st.registrations++;
        lifetime_start(m, 0, now_us);
        return;
    }
    m->open_next_us = (m->open_next_us > now_us ? m->open_next_us : now_us) +
                      open_delay_us(m, m->open_stage);
}

static void cmd_open(struct msim_mod *m, const struct field *f, int n,
                     uint64_t now_us)
{
    long ref, lifetime, tmo;
    if (n < 2 || n > 3 || !field_long(&f[0], 0, 0, &ref) ||
        !field_long(&f[1], 1, 0x7FFFFFFF, &lifetime) ||
        (n == 3 && !field_long(&f[2], 1, 65535, &tmo))) {
        violation(m, "malformed AT+MIPLOPEN");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    if (!m->instance) {
        emit_final(m, "+CIS ERROR:602");
        return;
    }
    if (m->opening || m->registered) {
        emit_final(m, "+CIS ERROR:651");
        return;
    }
    m->st.opens++;
    m->opening = true;
    m->open_stage = 0;
    m->reg_with_sotaver = m->sotaver_set;
    m->lifetime_s = (unsigned)lifetime;
    m->open_failing = m->open_fails_left != 0;
    if (m->open_fails_left > 0)
        m->open_fails_left--;
    m->open_next_us = now_us + open_delay_us(m, 0);
    /* adversarial: the first 1..4 events before the OK (reference 7.6) */
    if (adversarial(m) && tchance(m, m->cfg.timing.early_permille)) {
        unsigned k = 1u + (unsigned)(msim_rand_next(&m->trng) % 4u);
        m->st.events_early++;
        while (m->opening && k-- > 0)
            open_step(m, now_us);
    }
    emit_final(m, "OK");
}

static void cmd_update(struct msim_mod *m, const struct field *f, int n,
                       uint64_t now_us)
{
    long ref, lifetime, flag;
    if (n != 3 || !field_long(&f[0], 0, 0, &ref) ||
        !field_long(&f[1], 0, 0x7FFFFFFF, &lifetime) ||
        !field_long(&f[2], 0, 1, &flag)) {
        violation(m, "malformed AT+MIPLUPDATE");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    if (!m->registered) {
        emit_final(m, "+CIS ERROR:602");
        return;
    }
    lifetime_start(m, lifetime, now_us);
    bool later = event_async(m, 11, false);
    emit_final(m, "OK");
    if (later)
        emit_event(m, 11, false);
    /* Only after execute 5/0/2 is this the completion signal; at other
     * times it is a keep-alive. */
    if (m->step == ST_WAIT_UPDATE)
        schedule_next(m, ST_POST_MODE, now_us);
    else
        m->st.keepalives++;
}

static void cmd_sotaver(struct msim_mod *m, const struct field *f, int n)
{
    if (n < 1 || n > 2 || f[0].n == 0 || f[0].n >= MSIM_VERSION_MAX) {
        violation(m, "malformed AT+MIPLSOTAVER");
        emit_final(m, "+CIS ERROR:601");
        return;
    }
    if (!m->instance) {
        emit_final(m, "+CIS ERROR:602");
        return;
    }
    memcpy(m->mcu_version, f[0].p, f[0].n);
    m->mcu_version[f[0].n] = '\0';
    m->sotaver_set = true;
    emit_final(m, "OK");
}

static void cmd_create(struct msim_mod *m)
{
    m->st.creates++;
    if (m->instance) {
        emit_final(m, "+CIS ERROR:602");
        return;
    }
    m->instance = true;
    m->sotaver_set = false;
    if (m->cfg.dialect.create_prints_ref) {
        emit_line(m,
                  m->cfg.dialect.spaced ? "+MIPLCREATE: 0" : "+MIPLCREATE:0");
        interleave(m);
    }
    emit_final(m, "OK");
}

static void cmd_delete(struct msim_mod *m, const struct field *f, int n)
{
    long ref;
    m->st.deletes++;
    if (n != 1 || !field_long(&f[0], 0, 0, &ref)) {
        violation(m, "malformed AT+MIPLDELETE");
        emit_final(m, "+CIS ERROR:601");
    } else if (!m->instance) {
        emit_final(m, "+CIS ERROR:602");
    } else {
        /* the 15 is the deleted instance's, whenever it comes */
        bool later = m->registered && event_async(m, 15, true);
        instance_lose(m);
        emit_final(m, "OK");
        if (later)
            emit_event(m, 15, false);
    }
}

static void cmd_close(struct msim_mod *m, const struct field *f, int n)
{
    long ref;
    if (n != 1 || !field_long(&f[0], 0, 0, &ref)) {
        violation(m, "malformed AT+MIPLCLOSE");
        emit_final(m, "+CIS ERROR:601");
    } else if (!m->registered && !m->opening) {
        emit_final(m, "+CIS ERROR:602");
    } else {
        bool later = event_async(m, 15, false);
        emit_final(m, "OK");
        if (later)
            emit_event(m, 15, false);
        m->opening = false;
        m->registered = false;
        attempt_drop(m);
    }
}

static void info_final(struct msim_mod *m, const char *info)
{
    emit_line(m, info);
    interleave(m);
    emit_final(m, "OK");
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncmp(name, want, n) == 0;
}

/* 3GPP and vendor commands a gateway uses to identify and check a module. */
static bool exec_basic(struct msim_mod *m, const char *name, size_t nlen,
                       bool has_args, bool query, const struct field *f, int n,
                       uint64_t now_us)
{
    char b[64];
    if (name_is(name, nlen, "+CGSN") && has_args && n == 1) {
        snprintf(b, sizeof(b), "+CGSN: %s", m->cfg.id.imei);
        info_final(m, b);
    } else if (name_is(name, nlen, "+CIMI") && !has_args && !query) {
        info_final(m, m->cfg.id.imsi);
    } else if (name_is(name, nlen, "+ICCID") && !has_args && !query) {
        snprintf(b, sizeof(b), "+ICCID: %s", m->cfg.id.iccid);
        info_final(m, b);
    } else if (name_is(name, nlen, "+CSQ") && !has_args && !query) {
        info_final(m, "+CSQ: 20,99");
    } else if (name_is(name, nlen, "+CESQ") && !has_args && !query) {
        info_final(m, "+CESQ: 24,99,255,255,26,87");
    } else if (name_is(name, nlen, "+CEREG") && query) {
        info_final(m, "+CEREG: 0,1");
    } else if (name_is(name, nlen, "+CGATT") && query) {
        info_final(m, "+CGATT: 1");
    } else if (name_is(name, nlen, "+CGMR") && !has_args && !query) {
        info_final(m, "M5311-SIM-S04");
    } else if ((name_is(name, nlen, "+CMEE") || name_is(name, nlen, "+CSCON") ||
                name_is(name, nlen, "+CEREG") ||
                name_is(name, nlen, "+CPSMS") ||
                name_is(name, nlen, "+CEDRXS")) &&
               has_args) {
        emit_final(m, "OK");
    } else if (name_is(name, nlen, "+SM") && has_args && n == 1) {
        if (name_is(f[0].p, f[0].n, "LOCK") ||
            name_is(f[0].p, f[0].n, "UNLOCK") ||
            name_is(f[0].p, f[0].n, "LOCK_FOREVER") ||
            name_is(f[0].p, f[0].n, "UNLOCK_FOREVER"))
            emit_final(m, "OK");
        else
            emit_final(m, "+CME ERROR: 50");
    } else if ((name_is(name, nlen, "+CMRB") || name_is(name, nlen, "+NRB")) &&
               !has_args && !query) {
        /* AT+NRB is the M5310-A's reboot (reference 4): same behaviour */
        m->st.reboot_commands++;
        emit_final(m, "OK");
        emit_line(m, "REBOOTING..");
        module_reboot(m, now_us);
    } else {
        return false;
    }
    return true;
}

static bool exec_mipl(struct msim_mod *m, const char *name, size_t nlen,
                      bool has_args, bool query, const struct field *f, int n,
                      uint64_t now_us)
{
    if ((name_is(name, nlen, "+MIPLCREATE") ||
         name_is(name, nlen, "+MIPLCREATEEX")) &&
        !query)
        cmd_create(m);
    else if ((name_is(name, nlen, "+MIPLDELETE") ||
              name_is(name, nlen, "+MIPLDEL")) &&
             has_args)
        cmd_delete(m, f, n);
    else if (name_is(name, nlen, "+MIPLCLOSE") && has_args)
        cmd_close(m, f, n);
    else if (name_is(name, nlen, "+MIPLSOTAVER") && has_args)
        cmd_sotaver(m, f, n);
    else if (name_is(name, nlen, "+MIPLOPEN") && has_args)
        cmd_open(m, f, n, now_us);
    else if (name_is(name, nlen, "+MIPLOPEN") && query) {
        emit_final(m, "OK");
        if (m->registered)
            emit_urcf(m, "+MIPLEVENT:0,6");
    } else if (name_is(name, nlen, "+MIPLUPDATE") && has_args)
        cmd_update(m, f, n, now_us);
    else if (name_is(name, nlen, "+MIPLVER") && query)
        info_final(m, m->cfg.dialect.spaced ? "+MIPLVER: 2.3.0"
                                            : "+MIPLVER:2.3.0");
    else if (name_is(name, nlen, "+MIPLREADRSP") && has_args)
        on_readrsp(m, f, n, now_us);
    else if (name_is(name, nlen, "+MIPLEXECUTERSP") && has_args)
        on_execrsp(m, f, n, now_us);
    else if (name_is(name, nlen, "+MIPLWRITERSP") && has_args)
        on_writersp(m, f, n, now_us);
    else if (name_is(name, nlen, "+MIPLSOTA") && has_args)
        on_sota(m, f, n, now_us);
    else
        return false;
    return true;
}

/* One complete command line (no CR). */
static void exec_line(struct msim_mod *m, const char *line, uint64_t now_us)
{
    char up[MSIM_LINE_MAX];
    struct field f[MAX_FIELDS];
    size_t len = strlen(line);
    int n = 0;

    if (m->echo) {
        out_str(m, line);
        out_str(m, "\r");
    }
    for (size_t i = 0; i <= len; i++) /* ASCII only: no locale */
        up[i] =
            line[i] >= 'a' && line[i] <= 'z' ? (char)(line[i] - 32) : line[i];
    if (strncmp(up, "AT", 2) != 0) {
        m->st.unknown_commands++;
        emit_final(m, "ERROR");
        return;
    }
    if (len == 2) {
        emit_final(m, "OK");
        return;
    }
    if (strcmp(up, "ATE0") == 0 || strcmp(up, "ATE1") == 0) {
        m->echo = up[3] == '1';
        emit_final(m, "OK");
        return;
    }
    /* name: up to '=' or '?'; arguments after '=', from the original line */
    const char *name = up + 2;
    size_t nlen = strcspn(name, "=?");
    const char *tail = name + nlen;
    const char *args = *tail == '=' ? line + 2 + nlen + 1 : NULL;
    bool query = *tail == '?';
    bool mipl = strncmp(name, "+MIPL", 5) == 0;
    if (args != NULL && strcmp(args, "?") == 0) { /* test form */
        emit_final(m, "OK");
        return;
    }
    if (args != NULL) {
        n = split_fields(args, f, MAX_FIELDS);
        if (n < 0) {
            if (mipl)
                violation(m, "malformed %.*s arguments", (int)nlen, name);
            emit_final(m, mipl ? "+CIS ERROR:601" : "+CME ERROR: 50");
            return;
        }
    }
    if (exec_basic(m, name, nlen, args != NULL, query, f, n, now_us) ||
        exec_mipl(m, name, nlen, args != NULL, query, f, n, now_us))
        return;
    if (mipl) {
        violation(m, "unsupported or malformed %.*s", (int)nlen, name);
        emit_final(m, "+CIS ERROR:601");
    } else {
        m->st.unknown_commands++;
        emit_final(m, "ERROR");
    }
}

void msim_mod_input(struct msim_mod *m, const uint8_t *buf, size_t len,
                    uint64_t now_us)
{
    msim_mod_tick(m, now_us);
    m->now_us = now_us;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (m->booting)
            continue; /* the UART is dead while the module boots */
        if (c == '\r' || c == '\n') {
            if (m->line_overflow) {
                m->st.lines_too_long++;
                violation(m,
                          "command line over %d bytes or with control "
                          "bytes",
                          MSIM_LINE_MAX - 1);
                emit_final(m, "ERROR");
            } else if (m->line_len > 0) {
                m->line[m->line_len] = '\0';
                exec_line(m, m->line, now_us);
            }
            m->line_len = 0;
            m->line_overflow = false;
            continue;
        }
        if (c < 0x20 || c > 0x7E) {
            /* between commands: dropped; inside one: spoils it */
            m->line_overflow = m->line_overflow || m->line_len > 0;
            continue;
        }
        if (m->line_len + 1 >= MSIM_LINE_MAX) {
            m->line_overflow = true;
            continue;
        }
        m->line[m->line_len++] = (char)c;
    }
}

/* ---- timers ----------------------------------------------------------- */

void msim_mod_tick(struct msim_mod *m, uint64_t now_us)
{
    struct request *r = &m->req;

    if (now_us > m->now_us)
        m->now_us = now_us;

    if (m->booting && now_us >= m->boot_done_us) {
        char ip[40];
        m->booting = false;
        emit_line(m, "*ATREADY: 1");
        emit_line(m, "+CFUN: 1");
        emit_line(m, "+CPIN: READY");
        snprintf(ip, sizeof(ip), "+IP: 10.%u.%u.2", (m->cfg.index >> 8) & 0xFFu,
                 m->cfg.index & 0xFFu);
        emit_line(m, ip);
    }
    while (m->opening && now_us >= m->open_next_us)
        open_step(m, now_us);
    while (m->n_pend > 0 && now_us >= m->pend[0].due_us)
        pend_pop(m);
    if (m->registered && now_us >= m->warn_us) {
        m->warn_us = UINT64_MAX;
        m->st.update_needed_events++;
        emit_event(m, 14, true); /* update needed */
    }
    if (m->registered && now_us >= m->expire_us) {
        m->registered = false; /* the instance stays, unregistered */
        m->st.lifetime_expiries++;
        emit_event(m, 9, true); /* lifetime timeout */
        attempt_drop(m);
    }
    if (m->cfg.task == NULL || m->step == ST_DONE)
        return;
    if (m->task_deadline_us != 0 && now_us >= m->task_deadline_us) {
        task_end(m, MSIM_OUTCOME_FAILED, "task timed out after %u s",
                 m->cfg.platform.task_timeout_s);
        return;
    }
    platform_try_start(m, now_us);
    if (m->step == ST_WAIT_UPDATE && now_us >= m->update_deadline_us) {
        task_end(m, MSIM_OUTCOME_FAILED,
                 "no AT+MIPLUPDATE within %u s of execute 5/0/2",
                 m->cfg.platform.update_wait_s);
        return;
    }
    if (!r->active && m->next_req_us != UINT64_MAX &&
        now_us >= m->next_req_us) {
        m->next_req_us = UINT64_MAX;
        if (m->registered)
            request_start(m);
        else
            m->step = ST_IDLE; /* deregistered meanwhile: new attempt later */
    }
    if (r->active && r->urc_done && now_us >= r->resend_us) {
        if (r->optional) { /* an unanswered duplicate: fine, move on */
            schedule_next(m, after_chunk(m), now_us);
            return;
        }
        m->st.missed_deadlines++;
        if (r->sends > m->cfg.platform.max_resends) {
            task_end(m, MSIM_OUTCOME_FAILED,
                     "request msgid %u unanswered after %u sends", r->msgid,
                     r->sends);
            return;
        }
        r->sends++;
        m->st.resends++;
        if (m->step == ST_CHUNK)
            m->st.chunks_resent++;
        r->corrupted = false;
        r->retransmitted = true;
        send_current(m, false);
    }
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t msim_mod_next_due(const struct msim_mod *m)
{
    uint64_t due = UINT64_MAX;
    if (m->booting)
        due = min_u64(due, m->boot_done_us);
    if (m->opening)
        due = min_u64(due, m->open_next_us);
    if (m->n_pend > 0)
        due = min_u64(due, m->pend[0].due_us);
    if (m->registered)
        due = min_u64(due, min_u64(m->warn_us, m->expire_us));
    if (m->cfg.task == NULL || m->step == ST_DONE)
        return due;
    if (m->task_deadline_us != 0)
        due = min_u64(due, m->task_deadline_us);
    if (m->step == ST_IDLE && m->registered)
        due = min_u64(due, m->cfg.task->start_us);
    if (m->step == ST_WAIT_UPDATE)
        due = min_u64(due, m->update_deadline_us);
    if (!m->req.active)
        due = min_u64(due, m->next_req_us);
    else if (m->req.urc_done)
        due = min_u64(due, m->req.resend_us);
    return due;
}

/* ---- life cycle ------------------------------------------------------- */

struct msim_mod *msim_mod_new(const struct msim_mod_cfg *cfg)
{
    struct msim_mod *m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto fail;
    m->out = malloc(MSIM_OUT_CAP);
    if (m->out == NULL)
        goto fail;
    m->cfg = *cfg;
    if (m->cfg.platform.chunk_size == 0 ||
        m->cfg.platform.chunk_size > CHUNK_MAX)
        m->cfg.platform.chunk_size = 1024;
    m->rng = cfg->rng_seed;
    m->trng = cfg->rng_seed ^ 0x7143D5E1A2B3C4D5ull;
    m->echo = true;
    m->instance = cfg->faults.create_602_always;
    m->open_fails_left = cfg->faults.open_fails;
    m->expire_us = UINT64_MAX;
    m->warn_us = UINT64_MAX;
    m->next_msgid = (uint16_t)(1000u + msim_rand_next(&m->rng) % 60000u);
    m->step = ST_IDLE;
    m->next_req_us = UINT64_MAX;
    m->st.outcome = MSIM_OUTCOME_NO_TASK;
    if (cfg->task != NULL && cfg->task->package == NULL) {
        snprintf(m->st.reason, sizeof(m->st.reason), "%s",
                 cfg->task->refused_reason);
        m->step = ST_DONE;
    } else if (cfg->task != NULL) {
        m->st.outcome = MSIM_OUTCOME_PENDING;
        if (cfg->platform.task_timeout_s != 0)
            m->task_deadline_us =
                cfg->task->start_us +
                (uint64_t)cfg->platform.task_timeout_s * US_PER_S;
    }
    return m;
fail:
    msim_mod_free(m);
    return NULL;
}

void msim_mod_free(struct msim_mod *m)
{
    if (m == NULL)
        return;
    free(m->out);
    free(m);
}

unsigned msim_mod_take_unplug(struct msim_mod *m)
{
    unsigned ms = m->unplug_pending_ms;
    m->unplug_pending_ms = 0;
    return ms;
}

void msim_mod_replugged(struct msim_mod *m, uint64_t now_us)
{
    m->line_len = 0;
    m->line_overflow = false;
    if (m->cfg.faults.unplug_reboots)
        module_reboot(m, now_us);
}

bool msim_mod_finished(const struct msim_mod *m)
{
    return m->cfg.task == NULL || m->step == ST_DONE;
}

void msim_mod_progress(const struct msim_mod *m, size_t *done, size_t *total)
{
    *total = m->cfg.task != NULL ? m->cfg.task->package_len : 0;
    *done = m->dl_offset;
    if (m->st.outcome == MSIM_OUTCOME_SUCCESS)
        *done = *total;
}

const struct msim_stats *msim_mod_stats(const struct msim_mod *m)
{
    return &m->st;
}

const struct msim_mod_cfg *msim_mod_cfg_get(const struct msim_mod *m)
{
    return &m->cfg;
}
