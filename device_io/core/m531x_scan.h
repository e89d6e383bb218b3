/* m531x_scan.h: the strict field scanner shared by the M531x URC decoders
 * and reply parsers. Internal to gw_dio_core.
 *
 * A scan walks one line of known length; it never reads past len and never
 * needs a NUL terminator. Every function returns 0 or a GW_E_* code and,
 * on failure, leaves a static reason in sc->reason.
 *
 * Separators: the fields of one line are separated by ',' with at most one
 * space after it, and the name's ':' may be followed by at most one space
 * (docs/M531X-REFERENCE.md 7.1). Nothing else is skipped.
 */
#ifndef DIO_M531X_SCAN_H
#define DIO_M531X_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* One numeric field: its range and the reasons reported for it. */
struct m531x__field {
    int64_t min, max;
    const char *missing; /* the line ends before it: GW_E_TRUNC */
    const char *empty;   /* nothing between the separators: GW_E_INVAL */
    const char *bad;     /* not a strict decimal number: GW_E_INVAL */
    const char *range;   /* outside min..max: GW_E_RANGE */
};

/* Builds a struct m531x__field initialiser; lo and hi must be literals so
 * the range appears in the reason text. */
#define M531X__FIELD(name, lo, hi)                                             \
    {                                                                          \
        (lo), (hi), name " missing", name " empty",                            \
            name " is not a decimal number",                                   \
            name " out of range " #lo ".." #hi                                 \
    }

struct m531x__scan {
    const char *s;
    size_t len;
    size_t pos;
    const char *reason;
};

void m531x__scan_init(struct m531x__scan *sc, const char *s, size_t len);

/* 0 if every byte is printable ASCII (0x20..0x7e), else GW_E_INVAL. */
int m531x__scan_printable(struct m531x__scan *sc);

/* Match "<name>:" at the start, then skip one optional space.
 * GW_E_UNKNOWN if the line does not start with it. */
int m531x__scan_prefix(struct m531x__scan *sc, const char *name);

int m531x__scan_at_end(const struct m531x__scan *sc);

/* GW_E_INVAL with "trailing characters" unless the whole line is used. */
int m531x__scan_end(struct m531x__scan *sc);

/* A strict decimal number ending at ',' or at the end of the line: an
 * optional '-' (only when f->min < 0, otherwise GW_E_RANGE), then digits.
 * No '+', no spaces, no other character. */
int m531x__scan_int(struct m531x__scan *sc, const struct m531x__field *f,
                    int64_t *out);

/* A separator (',' plus one optional space) followed by a number. */
int m531x__scan_next_int(struct m531x__scan *sc, const struct m531x__field *f,
                         int64_t *out);

/* A separator only; GW_E_TRUNC with `missing` at the end of the line. */
int m531x__scan_sep(struct m531x__scan *sc, const char *missing);

#endif
