/* m531x_build.c: the dialect table and the MIPL command builders.
 *
 * The builders produce the commands of the seed byte for byte
 * (tests/data/seed/seed-transcript.txt, lines starting with '>'). Every
 * argument is range-checked before anything is formatted, so a command
 * that reaches the module is always one the module documents.
 */
#include "dio/m531x.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gw/err.h"

#define REF_MAX        255
#define ID_MAX         65535 /* object, instance, resource ids, index */
#define SOTA_VALUE_MAX 255

void m531x_dialect_default(struct m531x_dialect *d)
{
    d->sota_erase_ok = 3;   /* [C] SOTA-DOC step 12 */
    d->sota_erase_fail = 4; /* [?] docs/M531X-REFERENCE.md 3.2, option (a) */
    d->sota_write_ok = 1;   /* [C] SOTA-DOC step 12 */
    d->sota_write_fail = 2; /* [?] reference 3.2 option (a) */
    d->strlen_mode = M531X_STRLEN_CHARS;
    d->opaque_len = M531X_OPAQUE_AUTO;
    d->delete_cmd = M531X_DELETE_MIPLDELETE;
}

static int sota_value_ok(int v)
{
    return v >= 0 && v <= SOTA_VALUE_MAX;
}

int m531x_dialect_check(const struct m531x_dialect *d, const char **reason)
{
    const int v[4] = {d->sota_erase_ok, d->sota_erase_fail, d->sota_write_ok,
                      d->sota_write_fail};
    const char *why = NULL;
    int rc = 0;

    for (size_t i = 0; i < 4 && rc == 0; i++) {
        if (!sota_value_ok(v[i])) {
            why = "AT+MIPLSOTA value out of range 0..255";
            rc = GW_E_RANGE;
        }
        for (size_t j = i + 1; j < 4 && rc == 0; j++) {
            if (v[i] == v[j]) {
                why = "two AT+MIPLSOTA results share one value";
                rc = GW_E_INVAL;
            }
        }
    }
    if (rc == 0 && (d->strlen_mode < M531X_STRLEN_CHARS ||
                    d->strlen_mode > M531X_STRLEN_QUOTED ||
                    d->opaque_len < M531X_OPAQUE_AUTO ||
                    d->opaque_len > M531X_OPAQUE_HEX ||
                    d->delete_cmd < M531X_DELETE_MIPLDELETE ||
                    d->delete_cmd > M531X_DELETE_MIPLDEL)) {
        why = "unknown dialect mode";
        rc = GW_E_INVAL;
    }
    if (reason != NULL)
        *reason = why;
    return rc;
}

const char *m531x_simple_cmd_text(enum m531x_simple_cmd cmd)
{
    switch (cmd) {
    case M531X_CMD_AT: return "AT";
    case M531X_CMD_ECHO_OFF: return "ATE0";
    case M531X_CMD_IMEI: return "AT+CGSN=1";
    case M531X_CMD_IMSI: return "AT+CIMI";
    case M531X_CMD_ICCID: return "AT+ICCID";
    case M531X_CMD_CSQ: return "AT+CSQ";
    case M531X_CMD_CESQ: return "AT+CESQ";
    case M531X_CMD_CEREG: return "AT+CEREG?";
    case M531X_CMD_CGATT: return "AT+CGATT?";
    case M531X_CMD_SLEEP_LOCK: return "AT+SM=LOCK";
    case M531X_CMD_SLEEP_UNLOCK: return "AT+SM=UNLOCK";
    case M531X_CMD_REBOOT: return "AT+CMRB";
    case M531X_CMD_CREATE: return "AT+MIPLCREATE";
    case M531X_CMD_VER: return "AT+MIPLVER?";
    }
    return NULL;
}

/* Turn an snprintf result into the builder's return value. A command that
 * does not fit is never left half-written in out. */
static int finish(char *out, size_t cap, int n)
{
    if (n >= 0 && (size_t)n < cap)
        return n;
    if (cap > 0)
        out[0] = '\0';
    return n < 0 ? GW_E_INVAL : GW_E_NOSPACE;
}

static int ref_ok(int ref)
{
    return ref >= 0 && ref <= REF_MAX;
}

static int msgid_ok(int32_t msgid)
{
    return msgid >= 0; /* M531X_MSGID_MAX is INT32_MAX */
}

static int id_ok(int id)
{
    return id >= 0 && id <= ID_MAX;
}

/* The result codes of reference 2.5 (0, "fail" in OCPU only, excluded). */
static int result_ok(int result)
{
    return result == M531X_RESULT_CONTENT || result == M531X_RESULT_CHANGED ||
           (result >= M531X_RESULT_BAD_REQUEST && result <= 19);
}

/* A quoted text we may send: printable ASCII without '"' or '\\', at most
 * max characters. Returns its length or a GW_E_* code. */
static int text_check(const char *s, size_t min, size_t max, size_t *len)
{
    size_t n = strnlen(s, max + 1);

    if (n > max)
        return GW_E_TOOLONG;
    if (n < min)
        return GW_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return GW_E_INVAL;
    }
    *len = n;
    return 0;
}

int m531x_build_delete(char *out, size_t cap, const struct m531x_dialect *d,
                       int ref)
{
    const char *name = NULL;

    if (!ref_ok(ref))
        return GW_E_RANGE;
    switch (d->delete_cmd) {
    case M531X_DELETE_MIPLDELETE: name = "MIPLDELETE"; break;
    case M531X_DELETE_MIPLDEL: name = "MIPLDEL"; break;
    }
    if (name == NULL)
        return GW_E_INVAL;
    return finish(out, cap, snprintf(out, cap, "AT+%s=%d", name, ref));
}

int m531x_build_sotaver(char *out, size_t cap, const char *version)
{
    size_t n;
    int rc = text_check(version, 1, M531X_VERSION_MAX, &n);

    if (rc < 0)
        return rc;
    return finish(out, cap,
                  snprintf(out, cap, "AT+MIPLSOTAVER=\"%s\"", version));
}

int m531x_build_open(char *out, size_t cap, int ref, int lifetime, int timeout)
{
    /* SPEC24 4.6.3 gives no bounds; a lifetime must be positive, and the
     * registration timeout is a count of seconds well under a day. */
    if (!ref_ok(ref) || lifetime <= 0 || timeout <= 0 || timeout > 65535)
        return GW_E_RANGE;
    return finish(
        out, cap,
        snprintf(out, cap, "AT+MIPLOPEN=%d,%d,%d", ref, lifetime, timeout));
}

int m531x_build_update(char *out, size_t cap, int ref, int lifetime,
                       int with_objects)
{
    /* lifetime 0 keeps the current one (M5310-DOC "no-parameter update") */
    if (!ref_ok(ref) || lifetime < 0 || with_objects < 0 || with_objects > 1)
        return GW_E_RANGE;
    return finish(out, cap,
                  snprintf(out, cap, "AT+MIPLUPDATE=%d,%d,%d", ref, lifetime,
                           with_objects));
}

int m531x_build_close(char *out, size_t cap, int ref)
{
    if (!ref_ok(ref))
        return GW_E_RANGE;
    return finish(out, cap, snprintf(out, cap, "AT+MIPLCLOSE=%d", ref));
}

int m531x_build_readrsp(char *out, size_t cap, const struct m531x_dialect *d,
                        int ref, int32_t msgid, int result, int obj, int ins,
                        int res, const struct m531x_value *v, int index,
                        int flag)
{
    char num[24];
    const char *text = NULL;
    size_t len = 0;
    int type = 0;
    int rc;

    if (!ref_ok(ref) || !msgid_ok(msgid) || !result_ok(result) || !id_ok(obj) ||
        !id_ok(ins) || !id_ok(res) || !id_ok(index) || flag < M531X_FLAG_LAST ||
        flag > M531X_FLAG_MIDDLE)
        return GW_E_RANGE;

    switch (v->type) {
    case M531X_TYPE_INTEGER:
        /* SOTA-DOC: type 3, a quoted decimal, len = its characters */
        rc = snprintf(num, sizeof num, "%" PRId64, v->num);
        if (rc < 0 || (size_t)rc >= sizeof num)
            return GW_E_INVAL;
        text = num;
        len = (size_t)rc;
        type = M531X_TYPE_INTEGER;
        break;
    case M531X_TYPE_STRING:
        if (v->str == NULL)
            return GW_E_INVAL;
        rc = text_check(v->str, 0, M531X_CMD_MAX, &len);
        if (rc < 0)
            return rc;
        text = v->str;
        type = M531X_TYPE_STRING;
        if (d->strlen_mode == M531X_STRLEN_QUOTED)
            len += 2;
        break;
    case M531X_TYPE_OPAQUE:
    case M531X_TYPE_FLOAT:
    case M531X_TYPE_BOOL: return GW_E_INVAL;
    }
    if (text == NULL)
        return GW_E_INVAL; /* a type outside the enum */

    return finish(out, cap,
                  snprintf(out, cap,
                           "AT+MIPLREADRSP=%d,%" PRId32 ",%d,%d,%d,%d,%d,%zu,"
                           "\"%s\",%d,%d",
                           ref, msgid, result, obj, ins, res, type, len, text,
                           index, flag));
}

/* AT+MIPL<name>RSP=<ref>,<msgid>,<result> */
static int build_rsp(char *out, size_t cap, const char *name, int ref,
                     int32_t msgid, int result)
{
    if (!ref_ok(ref) || !msgid_ok(msgid) || !result_ok(result))
        return GW_E_RANGE;
    return finish(out, cap,
                  snprintf(out, cap, "AT+MIPL%sRSP=%d,%" PRId32 ",%d", name,
                           ref, msgid, result));
}

int m531x_build_readrsp_error(char *out, size_t cap, int ref, int32_t msgid,
                              int result)
{
    return build_rsp(out, cap, "READ", ref, msgid, result);
}

int m531x_build_writersp(char *out, size_t cap, int ref, int32_t msgid,
                         int result)
{
    return build_rsp(out, cap, "WRITE", ref, msgid, result);
}

int m531x_build_executersp(char *out, size_t cap, int ref, int32_t msgid,
                           int result)
{
    return build_rsp(out, cap, "EXECUTE", ref, msgid, result);
}

int m531x_build_observersp(char *out, size_t cap, int ref, int32_t msgid,
                           int result)
{
    return build_rsp(out, cap, "OBSERVE", ref, msgid, result);
}

int m531x_build_sota(char *out, size_t cap, int value)
{
    if (!sota_value_ok(value))
        return GW_E_RANGE;
    return finish(out, cap, snprintf(out, cap, "AT+MIPLSOTA=%d", value));
}
