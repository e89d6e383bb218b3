/* m531x.c: the +MIPL* URC decoders (docs/M531X-REFERENCE.md 2.2, 2.6, 7).
 *
 * Each decoder walks the line once, left to right, with the strict scanner
 * of m531x_scan.c. The one place where the layout is not fixed from the
 * left is the tail of +MIPLWRITE (<value>,<flag>[,<index>]): a value that
 * is not a quoted string cannot hold a comma (hex, a number, a bool), so it
 * ends at the next comma and one or two numbers follow; a quoted string
 * ends at the last '"' of the line. Both read the trailing fields from the
 * right end of the value, whatever the firmware puts after it.
 *
 * Opaque <len>: the sources disagree whether it counts bytes or hex
 * characters (reference 2.4, [X]). We count the hex characters received
 * and accept len == count (hex characters) or 2 * len == count (bytes), as
 * far as the dialect allows; anything else is rejected, never truncated or
 * padded.
 */
#include "dio/m531x.h"

#include <string.h>

#include "dio/at_frame.h"
#include "gw/compiler.h"
#include "gw/err.h"
#include "gw/hex.h"
#include "m531x_scan.h"

_Static_assert(M531X_MSGID_MAX == 2147483647, "F_MSGID below spells it out");

static const struct m531x__field F_REF = M531X__FIELD("ref", 0, 255);
static const struct m531x__field F_MSGID = M531X__FIELD("msgid", 0, 2147483647);
static const struct m531x__field F_OBJ = M531X__FIELD("obj", 0, 65535);
static const struct m531x__field F_INS = M531X__FIELD("ins", 0, 65535);
/* +MIPLOBSERVE may target a whole object: ins -1 like res -1. */
static const struct m531x__field F_OBS_INS = M531X__FIELD("ins", -1, 65535);
static const struct m531x__field F_RES = M531X__FIELD("res", -1, 65535);
static const struct m531x__field F_COUNT = M531X__FIELD("count", 0, 65535);
static const struct m531x__field F_TYPE = M531X__FIELD("type", 1, 5);
static const struct m531x__field F_LEN = M531X__FIELD("len", 0, 65535);
static const struct m531x__field F_FLAG = M531X__FIELD("flag", 0, 2);
static const struct m531x__field F_INDEX = M531X__FIELD("index", 0, 65535);
static const struct m531x__field F_OPER = M531X__FIELD("oper", 0, 1);
static const struct m531x__field F_EVT = M531X__FIELD("evt", 0, 255);
static const struct m531x__field F_PARAM =
    M531X__FIELD("event param", 0, 4294967295);
static const struct m531x__field F_STATUS = M531X__FIELD("status", 0, 255);
static const struct m531x__field F_NUM = M531X__FIELD("num", 0, 65535);

struct urc_name {
    const char *name;
    enum m531x_urc_kind kind;
};

static const struct urc_name urc_names[] = {
    {"+MIPLREAD", M531X_URC_READ},
    {"+MIPLWRITE", M531X_URC_WRITE},
    {"+MIPLEXECUTE", M531X_URC_EXECUTE},
    {"+MIPLOBSERVE", M531X_URC_OBSERVE},
    {"+MIPLDISCOVER", M531X_URC_DISCOVER},
    {"+MIPLPARAMETER", M531X_URC_PARAMETER},
    {"+MIPLEVENT", M531X_URC_EVENT},
    {"+MIPLCREATE", M531X_URC_CREATE},
    {"+MIPLCREATEEX", M531X_URC_CREATE},
    {"+MIPLNSMI", M531X_URC_NSMI},
};

/* The entry whose name is exactly the text before the line's ':'. */
static const struct urc_name *urc_lookup(const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);

    if (colon == NULL)
        return NULL;
    for (size_t i = 0; i < GW_ARRAY_LEN(urc_names); i++) {
        size_t n = strlen(urc_names[i].name);

        if ((size_t)(colon - line) == n &&
            memcmp(line, urc_names[i].name, n) == 0)
            return &urc_names[i];
    }
    return NULL;
}

int m531x_is_mipl_urc(const char *line, size_t len)
{
    return urc_lookup(line, len) != NULL;
}

/* The first field (no separator before it). */
static int get_first(struct m531x__scan *sc, const struct m531x__field *f,
                     int32_t *dst)
{
    int64_t v;
    int rc = m531x__scan_int(sc, f, &v);

    if (rc == 0)
        *dst = (int32_t)v;
    return rc;
}

/* A separator and a field; every range we check fits in int32_t. */
static int get(struct m531x__scan *sc, const struct m531x__field *f,
               int32_t *dst)
{
    int64_t v;
    int rc = m531x__scan_next_int(sc, f, &v);

    if (rc == 0)
        *dst = (int32_t)v;
    return rc;
}

/* <ref>,<msgid>,<obj>,<ins>,<res>: the head of READ/WRITE/EXECUTE/
 * PARAMETER. */
static int get_head(struct m531x__scan *sc, struct m531x_urc *u)
{
    int rc;

    if ((rc = get_first(sc, &F_REF, &u->ref)) < 0 ||
        (rc = get(sc, &F_MSGID, &u->msgid)) < 0 ||
        (rc = get(sc, &F_OBJ, &u->obj)) < 0 ||
        (rc = get(sc, &F_INS, &u->ins)) < 0 ||
        (rc = get(sc, &F_RES, &u->res)) < 0)
        return rc;
    return 0;
}

/* The last field of EXECUTE/PARAMETER: the rest of the line, either one
 * quoted string ("" allowed) or unquoted text. A '"' anywhere inside is
 * rejected: there is no escape syntax to tell where the text ends. Blanks
 * after the closing quote are not text (the seed's `,""` is followed by
 * spaces before the line end). */
static int get_text(struct m531x__scan *sc, const char *missing,
                    const char **text, size_t *text_len)
{
    const char *p = sc->s + sc->pos;
    size_t n = sc->len - sc->pos;

    if (n == 0) {
        sc->reason = missing;
        return GW_E_TRUNC;
    }
    if (p[0] == '"') {
        while (n > 1 && p[n - 1] == ' ')
            n--;
        if (n < 2 || p[n - 1] != '"') {
            sc->reason = "unterminated quoted text";
            return GW_E_INVAL;
        }
        p++;
        n -= 2;
    }
    if (memchr(p, '"', n) != NULL) {
        sc->reason = "quote inside text";
        return GW_E_INVAL;
    }
    *text = p;
    *text_len = n;
    sc->pos = sc->len;
    return 0;
}

static int decode_read(struct m531x__scan *sc, struct m531x_urc *u)
{
    int rc;

    u->u.read.count = -1;
    if ((rc = get_head(sc, u)) < 0)
        return rc;
    if (!m531x__scan_at_end(sc)) {
        /* SPEC24 sends <count> only with res -1; a count after a single
         * resource has no documented meaning. */
        if ((rc = get(sc, &F_COUNT, &u->u.read.count)) < 0)
            return rc;
        if (u->res != -1) {
            sc->reason = "count is only sent with res -1";
            return GW_E_INVAL;
        }
    }
    return m531x__scan_end(sc);
}

static int check_opaque(struct m531x__scan *sc, enum m531x_opaque_len mode,
                        struct m531x_urc *u)
{
    const char *v = u->u.write.value;
    size_t hex = u->u.write.value_len;
    size_t len = (size_t)u->u.write.len;

    for (size_t i = 0; i < hex; i++) {
        if (gw_hex_digit(v[i]) < 0) {
            sc->reason = "non-hex character in opaque value";
            return GW_E_INVAL;
        }
    }
    if (hex % 2 != 0) {
        sc->reason = "odd number of hex characters in opaque value";
        return GW_E_INVAL;
    }
    if (hex / 2 > M531X_OPAQUE_MAX) {
        sc->reason = "opaque value longer than M531X_OPAQUE_MAX bytes";
        return GW_E_TOOLONG;
    }
    u->u.write.data_len = hex / 2;
    u->u.write.len_unit = M531X_LEN_NONE;
    if (hex == 0) {
        if (len != 0) {
            sc->reason = "opaque value empty but len is not 0";
            return GW_E_INVAL;
        }
        return 0;
    }
    sc->reason = "unknown opaque_len dialect";
    switch (mode) {
    case M531X_OPAQUE_AUTO:
        if (hex == 2 * len)
            u->u.write.len_unit = M531X_LEN_BYTES;
        else if (hex == len)
            u->u.write.len_unit = M531X_LEN_HEXCHARS;
        else
            sc->reason = "opaque value fits len neither as bytes nor as "
                         "hex characters";
        break;
    case M531X_OPAQUE_BYTES:
        if (hex == 2 * len)
            u->u.write.len_unit = M531X_LEN_BYTES;
        else
            sc->reason = "opaque value does not fit len as a byte count "
                         "(dialect: bytes)";
        break;
    case M531X_OPAQUE_HEX:
        if (hex == len)
            u->u.write.len_unit = M531X_LEN_HEXCHARS;
        else
            sc->reason = "opaque value does not fit len as a hex character "
                         "count (dialect: hex)";
        break;
    }
    if (u->u.write.len_unit == M531X_LEN_NONE)
        return GW_E_INVAL;
    sc->reason = NULL;
    return 0;
}

/* Values of the scalar types: one unquoted token. */
static int check_scalar(struct m531x__scan *sc, const struct m531x_urc *u)
{
    const char *v = u->u.write.value;
    size_t n = u->u.write.value_len;
    size_t i = 0;

    switch (u->u.write.type) {
    case M531X_TYPE_INTEGER:
        if (n > 0 && v[0] == '-')
            i = 1;
        if (n == i || n - i > 19)
            goto bad_integer;
        for (; i < n; i++)
            if (v[i] < '0' || v[i] > '9')
                goto bad_integer;
        return 0;
    case M531X_TYPE_FLOAT:
        if (n == 0)
            goto bad_float;
        for (; i < n; i++)
            if (strchr("0123456789+-.eE", v[i]) == NULL)
                goto bad_float;
        return 0;
    case M531X_TYPE_BOOL:
        if (n == 1 && (v[0] == '0' || v[0] == '1'))
            return 0;
        sc->reason = "bool value is not 0 or 1";
        return GW_E_INVAL;
    case M531X_TYPE_STRING:
    case M531X_TYPE_OPAQUE: break;
    }
    return 0;

bad_integer:
    sc->reason = "integer value is not a decimal number";
    return GW_E_INVAL;
bad_float:
    sc->reason = "float value is not a number";
    return GW_E_INVAL;
}

static int decode_write(struct m531x__scan *sc, enum m531x_opaque_len opaque,
                        struct m531x_urc *u)
{
    const char *rest;
    size_t n;
    int32_t type, flag;
    int rc;

    u->u.write.index = -1;
    if ((rc = get_head(sc, u)) < 0 || (rc = get(sc, &F_TYPE, &type)) < 0 ||
        (rc = get(sc, &F_LEN, &u->u.write.len)) < 0 ||
        (rc = m531x__scan_sep(sc, "value missing")) < 0)
        return rc;
    u->u.write.type = (enum m531x_type)type;

    rest = sc->s + sc->pos;
    n = sc->len - sc->pos;
    if (type == M531X_TYPE_STRING && n > 0 && rest[0] == '"') {
        size_t q = n - 1;

        while (q > 0 && rest[q] != '"')
            q--;
        if (q == 0) {
            sc->reason = "unterminated string value";
            return GW_E_INVAL;
        }
        u->u.write.value = rest + 1;
        u->u.write.value_len = q - 1;
        sc->pos += q + 1;
    } else {
        const char *comma = memchr(rest, ',', n);
        size_t vlen = comma != NULL ? (size_t)(comma - rest) : n;

        u->u.write.value = rest;
        u->u.write.value_len = vlen;
        sc->pos += vlen;
    }

    if ((rc = get(sc, &F_FLAG, &flag)) < 0)
        return rc;
    u->u.write.flag = flag;
    if (!m531x__scan_at_end(sc) &&
        (rc = get(sc, &F_INDEX, &u->u.write.index)) < 0)
        return rc;
    if ((rc = m531x__scan_end(sc)) < 0)
        return rc;

    if (u->u.write.type == M531X_TYPE_OPAQUE)
        return check_opaque(sc, opaque, u);
    return check_scalar(sc, u);
}

static int decode_execute(struct m531x__scan *sc, struct m531x_urc *u)
{
    int rc;

    u->u.execute.len = -1;
    u->u.execute.args = "";
    u->u.execute.args_len = 0;
    if ((rc = get_head(sc, u)) < 0)
        return rc;
    if (m531x__scan_at_end(sc))
        return 0; /* XY: no len, no args */
    if ((rc = get(sc, &F_LEN, &u->u.execute.len)) < 0 ||
        (rc = m531x__scan_sep(sc, "args missing")) < 0)
        return rc;
    return get_text(sc, "args missing", &u->u.execute.args,
                    &u->u.execute.args_len);
}

static int decode_observe(struct m531x__scan *sc, struct m531x_urc *u)
{
    int32_t oper;
    int rc;

    if ((rc = get_first(sc, &F_REF, &u->ref)) < 0 ||
        (rc = get(sc, &F_MSGID, &u->msgid)) < 0 ||
        (rc = get(sc, &F_OPER, &oper)) < 0 ||
        (rc = get(sc, &F_OBJ, &u->obj)) < 0 ||
        (rc = get(sc, &F_OBS_INS, &u->ins)) < 0 ||
        (rc = get(sc, &F_RES, &u->res)) < 0)
        return rc;
    u->u.observe.oper = oper;
    return m531x__scan_end(sc);
}

static int decode_discover(struct m531x__scan *sc, struct m531x_urc *u)
{
    int rc;

    if ((rc = get_first(sc, &F_REF, &u->ref)) < 0 ||
        (rc = get(sc, &F_MSGID, &u->msgid)) < 0 ||
        (rc = get(sc, &F_OBJ, &u->obj)) < 0)
        return rc;
    return m531x__scan_end(sc);
}

static int decode_parameter(struct m531x__scan *sc, struct m531x_urc *u)
{
    int rc;

    if ((rc = get_head(sc, u)) < 0 ||
        (rc = get(sc, &F_LEN, &u->u.parameter.len)) < 0 ||
        (rc = m531x__scan_sep(sc, "parameters missing")) < 0)
        return rc;
    return get_text(sc, "parameters missing", &u->u.parameter.params,
                    &u->u.parameter.params_len);
}

static int decode_event(struct m531x__scan *sc, struct m531x_urc *u)
{
    int64_t param;
    int rc;

    if ((rc = get_first(sc, &F_REF, &u->ref)) < 0 ||
        (rc = get(sc, &F_EVT, &u->u.event.evt)) < 0)
        return rc;
    if (!m531x__scan_at_end(sc)) {
        if ((rc = m531x__scan_next_int(sc, &F_PARAM, &param)) < 0)
            return rc;
        u->u.event.has_param = 1;
        u->u.event.param = param;
    }
    return m531x__scan_end(sc);
}

static int decode_create(struct m531x__scan *sc, struct m531x_urc *u)
{
    int rc = get_first(sc, &F_REF, &u->ref);

    if (rc < 0)
        return rc;
    return m531x__scan_end(sc);
}

static int decode_nsmi(struct m531x__scan *sc, struct m531x_urc *u)
{
    int rc;

    if ((rc = get_first(sc, &F_REF, &u->ref)) < 0 ||
        (rc = get(sc, &F_STATUS, &u->u.nsmi.status)) < 0 ||
        (rc = get(sc, &F_NUM, &u->u.nsmi.num)) < 0)
        return rc;
    return m531x__scan_end(sc);
}

int m531x_decode_urc(const char *line, size_t len, enum m531x_opaque_len opaque,
                     struct m531x_urc *out)
{
    struct m531x__scan sc;
    const struct urc_name *name;
    int rc;

    memset(out, 0, sizeof *out);
    out->ref = out->msgid = out->obj = out->ins = out->res = -1;
    m531x__scan_init(&sc, line, len);

    if (len > AT_LINE_MAX) {
        out->reason = "line longer than AT_LINE_MAX";
        return GW_E_TOOLONG;
    }
    if ((rc = m531x__scan_printable(&sc)) < 0) {
        out->reason = sc.reason;
        return rc;
    }
    name = urc_lookup(line, len);
    if (name == NULL) {
        out->reason = "not a +MIPL URC that is decoded";
        return GW_E_UNKNOWN;
    }
    out->kind = name->kind;
    rc = m531x__scan_prefix(&sc, name->name);
    if (rc == 0) {
        switch (name->kind) {
        case M531X_URC_READ: rc = decode_read(&sc, out); break;
        case M531X_URC_WRITE: rc = decode_write(&sc, opaque, out); break;
        case M531X_URC_EXECUTE: rc = decode_execute(&sc, out); break;
        case M531X_URC_OBSERVE: rc = decode_observe(&sc, out); break;
        case M531X_URC_DISCOVER: rc = decode_discover(&sc, out); break;
        case M531X_URC_PARAMETER: rc = decode_parameter(&sc, out); break;
        case M531X_URC_EVENT: rc = decode_event(&sc, out); break;
        case M531X_URC_CREATE: rc = decode_create(&sc, out); break;
        case M531X_URC_NSMI: rc = decode_nsmi(&sc, out); break;
        }
    }
    if (rc < 0)
        out->reason = sc.reason;
    return rc;
}

int m531x_write_data(const struct m531x_urc *urc, uint8_t *out, size_t cap)
{
    if (urc->kind != M531X_URC_WRITE || urc->u.write.type != M531X_TYPE_OPAQUE)
        return GW_E_INVAL;
    return gw_hex_decode(urc->u.write.value, urc->u.write.value_len, out, cap,
                         NULL);
}

const char *m531x_urc_kind_name(enum m531x_urc_kind kind)
{
    switch (kind) {
    case M531X_URC_READ: return "read";
    case M531X_URC_WRITE: return "write";
    case M531X_URC_EXECUTE: return "execute";
    case M531X_URC_OBSERVE: return "observe";
    case M531X_URC_DISCOVER: return "discover";
    case M531X_URC_PARAMETER: return "parameter";
    case M531X_URC_EVENT: return "event";
    case M531X_URC_CREATE: return "create";
    case M531X_URC_NSMI: return "nsmi";
    }
    return "?";
}

struct event_name {
    int32_t evt;
    const char *name;
};

/* CIS SDK cis_api.h CIS_EVENT_* (reference 2.6); 31/32 from ONEOS only. */
static const struct event_name event_names[] = {
    {1, "bootstrap start"},
    {2, "bootstrap success"},
    {3, "bootstrap failed"},
    {4, "connect success"},
    {5, "connect failed"},
    {6, "register success"},
    {7, "register failed"},
    {8, "register timeout"},
    {9, "lifetime timeout"},
    {10, "status halt"},
    {11, "update success"},
    {12, "update failed"},
    {13, "update timeout"},
    {14, "update needed"},
    {15, "unregister done"},
    {20, "response failed"},
    {21, "response success"},
    {25, "notify failed"},
    {26, "notify success"},
    {31, "instance deleted by platform"},
    {32, "DTLS IP aging"},
    {40, "FOTA downloading"},
    {41, "FOTA download failed"},
    {42, "FOTA downloaded"},
    {43, "FOTA updating"},
    {44, "FOTA update ok"},
    {45, "FOTA update failed"},
    {46, "FOTA update over"},
    {47, "FOTA download disconnected"},
    {48, "firmware erase success"},
    {49, "firmware erase failed"},
    {50, "firmware trigger"},
    {51, "SOTA downloading"},
    {52, "SOTA downloaded"},
    {53, "SOTA flash erase"},
    {54, "SOTA updating"},
    {60, "CMIOT OTA 60"},
    {61, "CMIOT OTA 61"},
    {62, "CMIOT OTA 62"},
    {63, "CMIOT OTA 63"},
};

const char *m531x_event_name(int32_t evt)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(event_names); i++)
        if (event_names[i].evt == evt)
            return event_names[i].name;
    return NULL;
}
