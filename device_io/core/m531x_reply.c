/* m531x_reply.c: parsers for the information lines of the identity and
 * signal commands (docs/M531X-REFERENCE.md 4). M5311 puts a space after the
 * colon ("+CGATT: 1"), M5310-A does not ("+CGATT:1"); both are accepted,
 * nothing else is skipped.
 */
#include "dio/m531x.h"

#include <string.h>

#include "gw/err.h"
#include "m531x_scan.h"

static const struct m531x__field F_RSSI = M531X__FIELD("rssi", 0, 99);
static const struct m531x__field F_BER = M531X__FIELD("ber", 0, 99);
static const struct m531x__field F_CESQ[6] = {
    M531X__FIELD("rxlev", 0, 99), M531X__FIELD("ber", 0, 99),
    M531X__FIELD("rscp", 0, 255), M531X__FIELD("ecno", 0, 255),
    M531X__FIELD("rsrq", 0, 255), M531X__FIELD("rsrp", 0, 255),
};
/* 3GPP 27.007 +CESQ: the highest known value and the "unknown" value. */
static const int cesq_max[6] = {63, 7, 96, 49, 34, 97};
static const int cesq_unknown[6] = {99, 99, 255, 255, 255, 255};
static const struct m531x__field F_CEREG_N = M531X__FIELD("n", 0, 5);
static const struct m531x__field F_STAT = M531X__FIELD("stat", 0, 5);
static const struct m531x__field F_CGATT = M531X__FIELD("state", 0, 1);

/* Printable check, then "+NAME:" with an optional space. */
static int begin(struct m531x__scan *sc, const char *line, size_t len,
                 const char *name)
{
    int rc;

    m531x__scan_init(sc, line, len);
    if ((rc = m531x__scan_printable(sc)) < 0)
        return rc;
    return m531x__scan_prefix(sc, name);
}

/* The rest of the line is min..max decimal digits; copied with a NUL. */
static int take_digits(const struct m531x__scan *sc, size_t min, size_t max,
                       char *dst)
{
    size_t n = sc->len - sc->pos;
    const char *p = sc->s + sc->pos;

    if (n < min)
        return n == 0 ? GW_E_TRUNC : GW_E_INVAL;
    if (n > max)
        return GW_E_INVAL;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return GW_E_INVAL;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

/* Luhn over the 15 IMEI digits: every second digit from the right, the
 * check digit excluded, is doubled. */
static int luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)(d[n - 1 - i] - '0');

        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

int m531x_parse_cgsn(const char *line, size_t len, char imei[16])
{
    char digits[M531X_IMEI_LEN + 1];
    struct m531x__scan sc;
    int rc;

    rc = begin(&sc, line, len, "+CGSN");
    if (rc == GW_E_UNKNOWN) {
        sc.pos = 0; /* AT+GSN style: the bare number */
        rc = 0;
    }
    if (rc < 0)
        return rc;
    if ((rc = take_digits(&sc, M531X_IMEI_LEN, M531X_IMEI_LEN, digits)) < 0)
        return rc;
    if (!luhn_ok(digits, M531X_IMEI_LEN))
        return GW_E_INTEGRITY;
    memcpy(imei, digits, sizeof digits);
    return 0;
}

int m531x_parse_cimi(const char *line, size_t len, char imsi[16])
{
    struct m531x__scan sc;
    int rc;

    m531x__scan_init(&sc, line, len);
    if ((rc = m531x__scan_printable(&sc)) < 0)
        return rc;
    return take_digits(&sc, 6, M531X_IMSI_MAX, imsi);
}

int m531x_parse_iccid(const char *line, size_t len, char iccid[21])
{
    struct m531x__scan sc;
    const char *p;
    size_t n;
    int rc;

    rc = begin(&sc, line, len, "+ICCID");
    if (rc == GW_E_UNKNOWN)
        rc = begin(&sc, line, len, "+NCCID");
    if (rc < 0)
        return rc;
    p = sc.s + sc.pos;
    n = sc.len - sc.pos;
    if (n == 0)
        return GW_E_TRUNC;
    if (n < 18 || n > M531X_ICCID_MAX)
        return GW_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        int pad = i == n - 1 && (p[i] == 'F' || p[i] == 'f');

        if (!pad && (p[i] < '0' || p[i] > '9'))
            return GW_E_INVAL;
    }
    memcpy(iccid, p, n);
    iccid[n] = '\0';
    return 0;
}

int m531x_parse_csq(const char *line, size_t len, int *rssi, int *ber)
{
    struct m531x__scan sc;
    int64_t r, b;
    int rc;

    if ((rc = begin(&sc, line, len, "+CSQ")) < 0 ||
        (rc = m531x__scan_int(&sc, &F_RSSI, &r)) < 0 ||
        (rc = m531x__scan_next_int(&sc, &F_BER, &b)) < 0 ||
        (rc = m531x__scan_end(&sc)) < 0)
        return rc;
    if ((r > 31 && r != 99) || (b > 7 && b != 99))
        return GW_E_RANGE;
    *rssi = (int)r;
    *ber = (int)b;
    return 0;
}

int m531x_parse_cesq(const char *line, size_t len, int vals[6])
{
    struct m531x__scan sc;
    int64_t v[6];
    int rc;

    if ((rc = begin(&sc, line, len, "+CESQ")) < 0)
        return rc;
    for (size_t i = 0; i < 6; i++) {
        rc = i == 0 ? m531x__scan_int(&sc, &F_CESQ[i], &v[i])
                    : m531x__scan_next_int(&sc, &F_CESQ[i], &v[i]);
        if (rc < 0)
            return rc;
        if (v[i] > cesq_max[i] && v[i] != cesq_unknown[i])
            return GW_E_RANGE;
    }
    if ((rc = m531x__scan_end(&sc)) < 0)
        return rc;
    for (size_t i = 0; i < 6; i++)
        vals[i] = (int)v[i];
    return 0;
}

int m531x_parse_cereg(const char *line, size_t len, int with_n, int *stat)
{
    struct m531x__scan sc;
    int64_t n, s;
    int rc;

    if ((rc = begin(&sc, line, len, "+CEREG")) < 0)
        return rc;
    if (with_n) {
        if ((rc = m531x__scan_int(&sc, &F_CEREG_N, &n)) < 0 ||
            (rc = m531x__scan_next_int(&sc, &F_STAT, &s)) < 0)
            return rc;
    } else if ((rc = m531x__scan_int(&sc, &F_STAT, &s)) < 0) {
        return rc;
    }
    /* <tac>,<ci>,... may follow (n >= 2); this parser only wants stat. */
    if (!m531x__scan_at_end(&sc) &&
        (rc = m531x__scan_sep(&sc, "location missing")) < 0)
        return rc;
    *stat = (int)s;
    return 0;
}

int m531x_parse_cgatt(const char *line, size_t len, int *attached)
{
    struct m531x__scan sc;
    int64_t v;
    int rc;

    if ((rc = begin(&sc, line, len, "+CGATT")) < 0 ||
        (rc = m531x__scan_int(&sc, &F_CGATT, &v)) < 0 ||
        (rc = m531x__scan_end(&sc)) < 0)
        return rc;
    *attached = (int)v;
    return 0;
}
