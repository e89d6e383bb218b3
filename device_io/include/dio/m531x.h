/* dio/m531x.h: M531x / OneNET MIPL command builders, URC decoders and the
 * reply parsers for the identity and signal commands.
 *
 * Pure: strings in, values out. Sources and [I]/[X]/[?] points are in
 * docs/M531X-REFERENCE.md; the choices made here are listed
 * in docs/PROTOCOL.md.
 *
 * Decoders take one complete line (no CR/LF) as delivered by the framer.
 * They accept every variant of reference section 7: no space, one space or
 * ", " after the colon and between fields; one or two trailing fields on
 * +MIPLWRITE (parsed from the right); an optional <count> on +MIPLREAD;
 * absent, empty or unquoted args on +MIPLEXECUTE. Any other deviation is
 * rejected with a GW_E_* code and a static reason string; nothing is
 * guessed.
 *
 * Pointers in decoded structs point into the caller's line and are valid as
 * long as that buffer is.
 *
 * Builders write the command text without the trailing CR and NUL-terminate
 * it. They return the text length, GW_E_NOSPACE when cap is too small (out
 * then holds ""), or GW_E_INVAL/GW_E_RANGE/GW_E_TOOLONG for an argument
 * that cannot be sent (a version with a quote or control character, a
 * negative msgid, a version over M531X_VERSION_MAX, ...).
 */
#ifndef DIO_M531X_H
#define DIO_M531X_H

#include <stddef.h>
#include <stdint.h>

#define M531X_CMD_MAX     8300       /* longest command a builder produces */
#define M531X_VERSION_MAX 32         /* longest version string we send */
#define M531X_MSGID_MAX   2147483647 /* msgids are 0..2^31-1 */
#define M531X_IMEI_LEN    15
#define M531X_IMSI_MAX    15
#define M531X_ICCID_MAX   20
#define M531X_OPAQUE_MAX                                                       \
    2048 /* largest opaque write value, bytes: the                             \
            CIS SDK's CIS_CONFIG_BLOCK1_SIZE_MAX */

/* ---- the dialect table: what the sources leave open -------------------- */

/* What <len> counts for a string value in READRSP/NOTIFY. */
enum m531x_strlen_mode {
    M531X_STRLEN_CHARS, /* the characters of the string (SPEC24; default) */
    M531X_STRLEN_QUOTED /* characters + 2 for the quotes (AIO adapter) */
};

/* What <len> of an opaque +MIPLWRITE may count. */
enum m531x_opaque_len {
    M531X_OPAQUE_AUTO,  /* accept either, tell from the payload (default) */
    M531X_OPAQUE_BYTES, /* <len> is the byte count */
    M531X_OPAQUE_HEX    /* <len> is the hex-character count */
};

enum m531x_delete_cmd {
    M531X_DELETE_MIPLDELETE, /* AT+MIPLDELETE=<ref> (M5310, AIO; default) */
    M531X_DELETE_MIPLDEL     /* AT+MIPLDEL=<ref> (SPEC24 M5311) */
};

struct m531x_dialect {
    int sota_erase_ok;   /* AT+MIPLSOTA value: flash erased (seed: 3) */
    int sota_erase_fail; /* (assumed 4, see docs/PROTOCOL.md) */
    int sota_write_ok;   /* chunk stored (seed: 1) */
    int sota_write_fail; /* (assumed 2) */
    enum m531x_strlen_mode strlen_mode;
    enum m531x_opaque_len opaque_len;
    enum m531x_delete_cmd delete_cmd;
};

/* The defaults: erase ok 3, write ok 1 (seed), write fail 2, erase fail 4,
 * string len = characters, opaque len auto, AT+MIPLDELETE. */
void m531x_dialect_default(struct m531x_dialect *d);

/* 0 if d can be used: the four AT+MIPLSOTA values are 0..255 and pairwise
 * different, the enums hold known values. GW_E_RANGE for a value out of
 * range, GW_E_INVAL for two equal values. *reason gets static text. */
int m531x_dialect_check(const struct m531x_dialect *d, const char **reason);

/* ---- values, result codes --------------------------------------------- */

enum m531x_type {
    M531X_TYPE_STRING = 1,
    M531X_TYPE_OPAQUE = 2,
    M531X_TYPE_INTEGER = 3,
    M531X_TYPE_FLOAT = 4,
    M531X_TYPE_BOOL = 5
};

/* Result codes of the *RSP commands (reference 2.5). */
enum m531x_result {
    M531X_RESULT_CONTENT = 1, /* 2.05: READRSP, OBSERVERSP success */
    M531X_RESULT_CHANGED = 2, /* 2.04: WRITERSP, EXECUTERSP success */
    M531X_RESULT_BAD_REQUEST = 11,
    M531X_RESULT_UNAUTHORIZED = 12,
    M531X_RESULT_NOT_FOUND = 13,
    M531X_RESULT_NOT_ALLOWED = 14,
    M531X_RESULT_NOT_ACCEPTABLE = 15
};

/* Multi-part flags (reference 2.4): 1 first, 2 middle, 0 last/only. */
enum m531x_flag {
    M531X_FLAG_LAST = 0,
    M531X_FLAG_FIRST = 1,
    M531X_FLAG_MIDDLE = 2
};

/* ---- URCs --------------------------------------------------------------- */

enum m531x_urc_kind {
    M531X_URC_READ,      /* +MIPLREAD */
    M531X_URC_WRITE,     /* +MIPLWRITE */
    M531X_URC_EXECUTE,   /* +MIPLEXECUTE */
    M531X_URC_OBSERVE,   /* +MIPLOBSERVE */
    M531X_URC_DISCOVER,  /* +MIPLDISCOVER */
    M531X_URC_PARAMETER, /* +MIPLPARAMETER */
    M531X_URC_EVENT,     /* +MIPLEVENT */
    M531X_URC_CREATE,    /* +MIPLCREATE:<ref> / +MIPLCREATEEX:<ref> */
    M531X_URC_NSMI       /* +MIPLNSMI:<ref>,<status>,<num> (buffered mode) */
};

/* What an opaque <len> turned out to count. */
enum m531x_len_unit {
    M531X_LEN_NONE, /* not opaque, or empty (len 0) */
    M531X_LEN_BYTES,
    M531X_LEN_HEXCHARS
};

struct m531x_urc {
    enum m531x_urc_kind kind;
    int32_t ref;           /* instance, 0..255 */
    int32_t msgid;         /* -1 for EVENT, CREATE, NSMI */
    int32_t obj, ins, res; /* -1 where the URC has none; res -1 = all */

    union {
        struct {
            int32_t count; /* -1 when absent */
        } read;
        struct {
            enum m531x_type type;
            int32_t len;       /* as sent */
            const char *value; /* raw value text, quotes stripped for
                                  strings; hex text for opaque */
            size_t value_len;
            int flag;                     /* 0, 1 or 2 */
            int32_t index;                /* -1 when absent (M5311 format) */
            enum m531x_len_unit len_unit; /* opaque only */
            size_t data_len;              /* opaque: bytes the hex decodes to */
        } write;
        struct {
            int32_t len;      /* -1 when absent */
            const char *args; /* quotes stripped; "" when none */
            size_t args_len;
        } execute;
        struct {
            int oper; /* 1 observe, 0 cancel */
        } observe;
        struct {
            int32_t len;
            const char *params; /* "pmin=..;pmax=.." quotes stripped */
            size_t params_len;
        } parameter;
        struct {
            int32_t evt;
            int has_param;
            int64_t param; /* ackid, seconds, ... */
        } event;
        struct {
            int32_t status, num;
        } nsmi;
    } u;

    const char *reason; /* set on failure: static text for logs/tests */
};

/* Is this line a +MIPL* URC name we decode? (cheap prefix test) */
int m531x_is_mipl_urc(const char *line, size_t len);

/* Decode one line. 0 on success; GW_E_INVAL (syntax, a control byte,
 * non-hex opaque payload, odd hex count, payload length fitting neither
 * count), GW_E_RANGE (a number out of range: negative msgid, flag not 0..2,
 * type not 1..5, ...), GW_E_TRUNC (missing fields), GW_E_TOOLONG (a line
 * over AT_LINE_MAX, an opaque value over M531X_OPAQUE_MAX bytes) or
 * GW_E_UNKNOWN (not a +MIPL URC we know).
 * out->reason says why in words. `opaque` selects what an opaque <len> may
 * count (dialect).
 * A refused request can still be answered: once the URC's name is
 * recognised (any failure but GW_E_UNKNOWN and the whole-line checks, too
 * long or a control byte, which no line from the framer fails), out->kind
 * is its kind, and out->ref and out->msgid hold their values when they
 * decoded before the failing field, -1 otherwise. */
int m531x_decode_urc(const char *line, size_t len, enum m531x_opaque_len opaque,
                     struct m531x_urc *out);

/* Decode the hex payload of a decoded opaque write into out (cap bytes).
 * Returns the byte count or a GW_E_* code. */
int m531x_write_data(const struct m531x_urc *urc, uint8_t *out, size_t cap);

const char *m531x_urc_kind_name(enum m531x_urc_kind kind);

/* Names of the +MIPLEVENT codes of reference 2.6 ("register success"), or
 * NULL for a code not in the table. */
const char *m531x_event_name(int32_t evt);

/* ---- reply parsers (information lines) --------------------------------- */

/* "+CGSN: <imei>", "+CGSN:<imei>" or a bare 15-digit line. imei gets 15
 * digits + NUL. The Luhn check digit is verified (GW_E_INTEGRITY).
 * The reply parsers return 0, GW_E_INVAL, GW_E_RANGE, GW_E_TRUNC or
 * GW_E_UNKNOWN (another reply's name) and write their outputs only on
 * success. */
int m531x_parse_cgsn(const char *line, size_t len, char imei[16]);

/* AT+CIMI answer: 6..15 digits. */
int m531x_parse_cimi(const char *line, size_t len, char imsi[16]);

/* "+ICCID: <id>" (M5311) or "+NCCID:<id>" (M5310-A); 18..20 characters,
 * digits with an optional trailing F. */
int m531x_parse_iccid(const char *line, size_t len, char iccid[21]);

/* "+CSQ: <rssi>,<ber>": rssi 0..31 or 99, ber 0..7 or 99. */
int m531x_parse_csq(const char *line, size_t len, int *rssi, int *ber);

/* "+CESQ: rxlev,ber,rscp,ecno,rsrq,rsrp": six integers, 255/99 unknown. */
int m531x_parse_cesq(const char *line, size_t len, int vals[6]);

/* "+CEREG: <n>,<stat>[,...]" (read answer, with_n = 1) or
 * "+CEREG: <stat>[,...]" (URC, with_n = 0). stat 0..5 (1 home, 5 roaming). */
int m531x_parse_cereg(const char *line, size_t len, int with_n, int *stat);

/* "+CGATT: <0|1>". */
int m531x_parse_cgatt(const char *line, size_t len, int *attached);

/* ---- builders ----------------------------------------------------------- */

/* Commands with no argument that sotagw sends. */
enum m531x_simple_cmd {
    M531X_CMD_AT,           /* "AT" */
    M531X_CMD_ECHO_OFF,     /* "ATE0" */
    M531X_CMD_IMEI,         /* "AT+CGSN=1" */
    M531X_CMD_IMSI,         /* "AT+CIMI" */
    M531X_CMD_ICCID,        /* "AT+ICCID" */
    M531X_CMD_CSQ,          /* "AT+CSQ" */
    M531X_CMD_CESQ,         /* "AT+CESQ" */
    M531X_CMD_CEREG,        /* "AT+CEREG?" */
    M531X_CMD_CGATT,        /* "AT+CGATT?" */
    M531X_CMD_SLEEP_LOCK,   /* "AT+SM=LOCK" */
    M531X_CMD_SLEEP_UNLOCK, /* "AT+SM=UNLOCK" */
    M531X_CMD_REBOOT,       /* "AT+CMRB" */
    M531X_CMD_CREATE,       /* "AT+MIPLCREATE" (built-in OneNET config) */
    M531X_CMD_VER           /* "AT+MIPLVER?" */
};

/* The text of a simple command (static). */
const char *m531x_simple_cmd_text(enum m531x_simple_cmd cmd);

/* A READRSP value. */
struct m531x_value {
    enum m531x_type type; /* STRING or INTEGER (the SOTA reads); others
                             return GW_E_INVAL for now */
    const char *str;      /* STRING: the text, no quote or control char */
    int64_t num;          /* INTEGER */
};

/* AT+MIPLDELETE=<ref> or AT+MIPLDEL=<ref>, per dialect. */
int m531x_build_delete(char *out, size_t cap, const struct m531x_dialect *d,
                       int ref);

/* AT+MIPLSOTAVER="<version>"; version is 1..M531X_VERSION_MAX printable
 * ASCII characters without '"' or '\\'. */
int m531x_build_sotaver(char *out, size_t cap, const char *version);

/* AT+MIPLOPEN=<ref>,<lifetime>,<timeout>  (seed: 0,600,60). */
int m531x_build_open(char *out, size_t cap, int ref, int lifetime, int timeout);

/* AT+MIPLUPDATE=<ref>,<lifetime>,<withobj>  (seed: 0,0,0). */
int m531x_build_update(char *out, size_t cap, int ref, int lifetime,
                       int with_objects);

/* AT+MIPLCLOSE=<ref>. */
int m531x_build_close(char *out, size_t cap, int ref);

/* AT+MIPLREADRSP=<ref>,<msgid>,<result>,<obj>,<ins>,<res>,<type>,<len>,
 *                <value>,<index>,<flag>
 * Integers go as type 3 with a quoted decimal string and len = its digit
 * count (seed: 3,3,"256"). Strings as type 1, quoted, len per dialect. */
int m531x_build_readrsp(char *out, size_t cap, const struct m531x_dialect *d,
                        int ref, int32_t msgid, int result, int obj, int ins,
                        int res, const struct m531x_value *v, int index,
                        int flag);

/* AT+MIPLREADRSP=<ref>,<msgid>,<result> with no value (an error answer). */
int m531x_build_readrsp_error(char *out, size_t cap, int ref, int32_t msgid,
                              int result);

/* AT+MIPLWRITERSP=<ref>,<msgid>,<result>. */
int m531x_build_writersp(char *out, size_t cap, int ref, int32_t msgid,
                         int result);

/* AT+MIPLEXECUTERSP=<ref>,<msgid>,<result>. */
int m531x_build_executersp(char *out, size_t cap, int ref, int32_t msgid,
                           int result);

/* AT+MIPLOBSERVERSP=<ref>,<msgid>,<result>. */
int m531x_build_observersp(char *out, size_t cap, int ref, int32_t msgid,
                           int result);

/* AT+MIPLSOTA=<value>. */
int m531x_build_sota(char *out, size_t cap, int value);

#endif
