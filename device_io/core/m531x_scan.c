/* m531x_scan.c: strict field scanner for M531x lines (see m531x_scan.h). */
#include "m531x_scan.h"

#include <string.h>

#include "gw/err.h"

/* Larger than any field range we check, small enough that one more digit
 * cannot overflow int64_t. */
#define SCAN_SATURATE 1000000000000000LL

void m531x__scan_init(struct m531x__scan *sc, const char *s, size_t len)
{
    sc->s = s;
    sc->len = len;
    sc->pos = 0;
    sc->reason = NULL;
}

static int scan_fail(struct m531x__scan *sc, int rc, const char *reason)
{
    sc->reason = reason;
    return rc;
}

int m531x__scan_printable(struct m531x__scan *sc)
{
    for (size_t i = 0; i < sc->len; i++) {
        unsigned char c = (unsigned char)sc->s[i];

        if (c < 0x20 || c > 0x7e)
            return scan_fail(sc, GW_E_INVAL,
                             "control or non-ASCII byte in line");
    }
    return 0;
}

int m531x__scan_prefix(struct m531x__scan *sc, const char *name)
{
    size_t n = strlen(name);

    if (sc->len - sc->pos < n + 1 || memcmp(sc->s + sc->pos, name, n) != 0 ||
        sc->s[sc->pos + n] != ':')
        return scan_fail(sc, GW_E_UNKNOWN, "unexpected line name");
    sc->pos += n + 1;
    if (sc->pos < sc->len && sc->s[sc->pos] == ' ')
        sc->pos++;
    return 0;
}

int m531x__scan_at_end(const struct m531x__scan *sc)
{
    return sc->pos >= sc->len;
}

int m531x__scan_end(struct m531x__scan *sc)
{
    if (sc->pos != sc->len)
        return scan_fail(sc, GW_E_INVAL, "trailing characters");
    return 0;
}

int m531x__scan_int(struct m531x__scan *sc, const struct m531x__field *f,
                    int64_t *out)
{
    int neg = 0;
    int64_t v = 0;
    size_t digits = 0;

    if (sc->pos >= sc->len)
        return scan_fail(sc, GW_E_TRUNC, f->missing);
    if (sc->s[sc->pos] == ',')
        return scan_fail(sc, GW_E_INVAL, f->empty);
    if (sc->s[sc->pos] == '-') {
        neg = 1;
        sc->pos++;
    }
    while (sc->pos < sc->len && sc->s[sc->pos] != ',') {
        char c = sc->s[sc->pos];

        if (c < '0' || c > '9')
            return scan_fail(sc, GW_E_INVAL, f->bad);
        if (v < SCAN_SATURATE)
            v = v * 10 + (c - '0');
        digits++;
        sc->pos++;
    }
    if (digits == 0)
        return scan_fail(sc, GW_E_INVAL, f->bad);
    if (neg && f->min >= 0)
        return scan_fail(sc, GW_E_RANGE, f->range); /* even "-0" */
    if (neg)
        v = -v;
    if (v < f->min || v > f->max)
        return scan_fail(sc, GW_E_RANGE, f->range);
    *out = v;
    return 0;
}

int m531x__scan_sep(struct m531x__scan *sc, const char *missing)
{
    if (sc->pos >= sc->len)
        return scan_fail(sc, GW_E_TRUNC, missing);
    if (sc->s[sc->pos] != ',')
        return scan_fail(sc, GW_E_INVAL, "expected ','");
    sc->pos++;
    if (sc->pos < sc->len && sc->s[sc->pos] == ' ')
        sc->pos++;
    return 0;
}

int m531x__scan_next_int(struct m531x__scan *sc, const struct m531x__field *f,
                         int64_t *out)
{
    int rc = m531x__scan_sep(sc, f->missing);

    if (rc < 0)
        return rc;
    return m531x__scan_int(sc, f, out);
}
