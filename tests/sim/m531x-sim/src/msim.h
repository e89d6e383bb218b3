/* msim.h: the pure core of m531x-sim.
 *
 * One struct msim_mod is one M531x module plus the OneNET SOTA platform's
 * view of it. It does no I/O: the shell feeds it the bytes the MCU wrote
 * (msim_mod_input), the current time (every call takes now_us, a monotonic
 * microsecond count), and reports what it has written to the wire
 * (msim_mod_output_done). The module queues the bytes it wants to send in a
 * bounded output buffer and tells the shell when it next needs a tick.
 *
 * The platform flow is the seed's steps 8 to 16 (docs/M531X-REFERENCE.md
 * sections 3 and 9), with the resume rules of its section 3.4. Everything the
 * protocol reference tags [I]/[X]/[?] is a knob in struct msim_dialect or
 * struct msim_platform_cfg, never a constant. */
#ifndef MSIM_H
#define MSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSIM_VERSION_MAX    64 /* AT+MIPLSOTAVER / 3/0/19 strings */
#define MSIM_REASON_MAX     128
#define MSIM_LINE_MAX       512 /* longest command line the module accepts */
#define MSIM_OUT_CAP        (64 * 1024) /* module -> MCU queue */
#define MSIM_LAT_MAX        8192        /* latency samples kept per module */
#define MSIM_VIOL_KEEP      16          /* violation messages kept per module */
#define MSIM_FAULT_LIST_MAX 16
#define MSIM_PENDING_MAX    16 /* URCs held back by the adversarial timing */

/* What <len> counts in an opaque +MIPLWRITE ([X] in the reference, 2.4). */
enum msim_len_unit { MSIM_LEN_BYTES, MSIM_LEN_HEXCHARS };

/* Per-module formatting variants (reference section 7). */
struct msim_dialect {
    enum msim_len_unit opaque_len;
    bool value_next_line;   /* seed layout: "...,1024," CRLF CRLF "hex,flag" */
    bool write_index_field; /* "...,<flag>,<index>" instead of "...,<flag>" */
    bool spaced;            /* "+MIPLREAD: 0, 1, 3", not "+MIPLREAD:0,1,3" */
    bool create_prints_ref; /* "+MIPLCREATE:0" before OK (M5310-DOC) */
    bool read_all_count;    /* ",<count>" on +MIPLREAD ...,-1 (SPEC24) */
    bool reuse_mode_msgid;  /* step 15's 26550 reuses step 10's msgid (seed) */
    int sota_erase_ok;      /* AT+MIPLSOTA values; defaults from the seed */
    int sota_write_ok;
    int sota_erase_fail;
    int sota_write_fail;
    unsigned open_event_delay_ms[4]; /* events 1, 2, 4, 6 after AT+MIPLOPEN */
};

/* Per-module faults. Lists name chunk indexes (offset / chunk size); the
 * *_permille fields fire at random from the module's seeded generator. */
struct msim_faults {
    bool split_lines;          /* shell: writes cut at random byte offsets */
    unsigned noise_permille;   /* unrelated URC/noise before URCs, after OK */
    unsigned corrupt_permille; /* per chunk, first send only */
    unsigned duplicate_permille;
    int corrupt_chunks[MSIM_FAULT_LIST_MAX];
    size_t n_corrupt;
    int duplicate_chunks[MSIM_FAULT_LIST_MAX];
    size_t n_duplicate;
    int reboot_after_chunk; /* -1: never; fires once */
    int unplug_after_chunk; /* -1: never; fires once */
    unsigned unplug_ms;
    bool unplug_reboots;    /* the module loses power with the cable */
    unsigned baud;          /* 0: no pacing; else 9600, 115200, ... */
    int open_fails;         /* the next N AT+MIPLOPENs fail; -1: every one */
    bool open_fail_silent;  /* a failed open ends after event 4, no 7 */
    bool create_602_always; /* the instance is stuck: CREATE always 602 */
};

/* Adversarial timing (reference 7.6): every asynchronous URC at a seeded
 * random moment inside what the documents allow. Off: the fixed order the
 * simulator always had (15 before DELETE's OK, 11 right after UPDATE's). */
struct msim_timing {
    bool adversarial;
    unsigned max_delay_ms;        /* 15 after DELETE/CLOSE, 11: 0..this late */
    unsigned early_permille;      /* a URC comes before its command's final */
    unsigned duplicate_permille;  /* an event is printed twice */
    unsigned interleave_permille; /* a held URC splits a multi-line answer */
};

/* Registration lifetime (reference 2.1 MIPLOPEN/MIPLUPDATE, 2.6 events 9
 * and 14). Off by default: a registration then never expires. */
struct msim_registration {
    bool honour_lifetime;          /* expire after the OPEN/UPDATE <lifetime> */
    unsigned lifetime_cap_s;       /* 0: none; else enforce at most this */
    bool update_needed_event;      /* +MIPLEVENT:0,14 before expiry */
    unsigned update_needed_lead_s; /* ... this long before (half at most) */
};

struct msim_platform_cfg {
    size_t chunk_size;         /* package bytes per +MIPLWRITE */
    unsigned first_request_ms; /* after +MIPLEVENT:0,6 */
    unsigned request_gap_ms;   /* after the previous answer */
    unsigned resend_ms;        /* an unanswered request is sent again */
    unsigned max_resends;      /* then the task fails */
    unsigned deadline_ms;      /* a later answer is a missed deadline */
    unsigned update_wait_s;    /* 5/0/2 executed -> AT+MIPLUPDATE */
    unsigned task_timeout_s;   /* 0: none */
    unsigned reboot_banner_ms; /* reboot -> *ATREADY */
};

/* One upgrade task as the platform holds it (borrowed by the modules). */
struct msim_task {
    char name[64];
    char software[64];
    char target_version[MSIM_VERSION_MAX];
    int min_battery;
    uint64_t start_us;      /* on the shell's clock */
    const uint8_t *package; /* NULL: refused (the MD5 did not match) */
    size_t package_len;
    char refused_reason[MSIM_REASON_MAX];
};

struct msim_identity {
    char imei[16];
    char imsi[16];
    char iccid[21];
};

struct msim_mod_cfg {
    unsigned index;
    struct msim_identity id;
    struct msim_dialect dialect;
    struct msim_faults faults;
    struct msim_timing timing;
    struct msim_registration registration;
    struct msim_platform_cfg platform;
    const struct msim_task *task; /* NULL: in no SOTA group */
    uint64_t rng_seed;
};

enum msim_outcome {
    MSIM_OUTCOME_NO_TASK,
    MSIM_OUTCOME_PENDING, /* task not started yet or still running */
    MSIM_OUTCOME_SUCCESS,
    MSIM_OUTCOME_FAILED,
    MSIM_OUTCOME_SKIPPED /* the platform left the device out */
};

struct msim_stats {
    enum msim_outcome outcome;
    char reason[MSIM_REASON_MAX];
    unsigned attempts;
    unsigned chunks_sent;       /* first sends */
    unsigned chunks_resent;     /* timeouts, write-fail, corrupt */
    unsigned chunks_resumed;    /* chunks skipped thanks to 5/0/26500 */
    unsigned chunks_duplicated; /* duplicate URCs sent (fault) */
    unsigned chunks_corrupted;  /* corrupted URCs sent (fault) */
    unsigned corrupt_acked;     /* ... that the MCU acknowledged as written */
    unsigned write_fails;       /* AT+MIPLSOTA=<write_fail> received */
    size_t last_resume_offset;
    unsigned resume_beyond_acked; /* N above the bytes the MCU acked */
    unsigned requests;
    unsigned resends;
    unsigned missed_deadlines;
    unsigned violations;
    unsigned unknown_commands;
    unsigned duplicate_answers; /* harmless second answers to a resend */
    unsigned no_entity_registrations;
    unsigned reboots;
    unsigned reboot_commands;   /* AT+CMRB / AT+NRB received */
    unsigned creates;           /* AT+MIPLCREATE[EX] received */
    unsigned deletes;           /* AT+MIPLDELETE / AT+MIPLDEL received */
    unsigned opens;             /* AT+MIPLOPEN=... received */
    unsigned open_failures;     /* opens that ended with 7 or in silence */
    unsigned registrations;     /* event 6 printed for a new registration */
    unsigned keepalives;        /* AT+MIPLUPDATE accepted, not the completion */
    unsigned lifetime_expiries; /* event 9: the registration ran out */
    unsigned update_needed_events; /* event 14 printed */
    unsigned events_delayed;       /* adversarial: URCs held back */
    unsigned events_early;         /* ... printed before their final */
    unsigned events_duplicated;
    unsigned events_interleaved; /* ... inside a multi-line answer */
    unsigned unplugs;
    unsigned output_dropped; /* bytes lost to a full output queue */
    unsigned lines_too_long;
    char viol[MSIM_VIOL_KEEP][MSIM_REASON_MAX];
    size_t n_viol_kept;
    uint32_t lat_us[MSIM_LAT_MAX];
    size_t n_lat;
    unsigned lat_dropped;
};

struct msim_mod;

/* Copies cfg (the task stays borrowed). NULL on allocation failure. */
struct msim_mod *msim_mod_new(const struct msim_mod_cfg *cfg);
void msim_mod_free(struct msim_mod *m);

/* Bytes the MCU sent. Lines end at CR (LF alone is accepted too). */
void msim_mod_input(struct msim_mod *m, const uint8_t *buf, size_t len,
                    uint64_t now_us);

/* Run timers. Call when msim_mod_next_due() has passed, or any time. */
void msim_mod_tick(struct msim_mod *m, uint64_t now_us);

/* Earliest time at which msim_mod_tick has work; UINT64_MAX for none. */
uint64_t msim_mod_next_due(const struct msim_mod *m);

/* Output queue: peek at what to write, then report what was written (or
 * dropped, if no one holds the port). Timestamps the request URCs. */
size_t msim_mod_output_peek(const struct msim_mod *m, const uint8_t **data);
void msim_mod_output_done(struct msim_mod *m, size_t n, uint64_t now_us);

/* The shell acts on these: returns an unplug duration in ms (0: none). */
unsigned msim_mod_take_unplug(struct msim_mod *m);
/* The port came back after an unplug; reboots the module if configured. */
void msim_mod_replugged(struct msim_mod *m, uint64_t now_us);

/* True when the task (if any) has ended. */
bool msim_mod_finished(const struct msim_mod *m);

/* Progress of the running download, bytes acknowledged and total. */
void msim_mod_progress(const struct msim_mod *m, size_t *done, size_t *total);

const struct msim_stats *msim_mod_stats(const struct msim_mod *m);
const struct msim_mod_cfg *msim_mod_cfg_get(const struct msim_mod *m);

const char *msim_outcome_name(enum msim_outcome o);

/* Defaults: the seed's dialect and timing, no faults. */
void msim_dialect_defaults(struct msim_dialect *d);
void msim_faults_defaults(struct msim_faults *f);
void msim_timing_defaults(struct msim_timing *t);    /* adversarial off */
void msim_timing_adversarial(struct msim_timing *t); /* on, default bounds */
void msim_registration_defaults(struct msim_registration *r);
void msim_platform_defaults(struct msim_platform_cfg *p);

/* IMEI (Luhn), IMSI and ICCID (Luhn) for module index under a run seed. */
void msim_identity_derive(struct msim_identity *id, uint64_t seed,
                          unsigned index);

/* splitmix64 step: the one random generator of the simulator. */
uint64_t msim_rand_next(uint64_t *state);

/* Percentile (nearest rank) over samples, sorted in place: p in 0..100. */
uint32_t msim_percentile(uint32_t *samples, size_t n, unsigned p);

#endif
