/* dio/mb_uri.h: field-device target URIs (docs/CONFIG.md, [target]).
 *
 *   modbus-tcp://HOST[:PORT]?unit=N
 *   modbus-rtu:///dev/X?unit=N[&baud=B][&parity=P][&data=D][&stop=S]
 *
 * Pure: text in, validated struct out, the reason of a rejection in the
 * caller's buffer. Used by the config parser and by the web API when an
 * operator sets a device's target. */
#ifndef DIO_MB_URI_H
#define DIO_MB_URI_H

#include <stddef.h>
#include <stdint.h>

#define MB_URI_TEXT_MAX   511 /* longest URI text, excluding the NUL */
#define MB_URI_HOST_MAX   254 /* host names, incl. the NUL */
#define MB_URI_DEVICE_MAX 256 /* RTU device paths, incl. the NUL */

enum mb_uri_kind {
    MB_URI_TCP, /* modbus-tcp://HOST[:PORT]?unit=N */
    MB_URI_RTU  /* modbus-rtu:///dev/X?baud=&parity=&data=&stop=&unit= */
};

struct mb_uri {
    enum mb_uri_kind kind;
    char host[MB_URI_HOST_MAX];     /* TCP: name, IPv4 or IPv6 literal */
    uint16_t port;                  /* TCP: 1..65535, default 502 */
    char device[MB_URI_DEVICE_MAX]; /* RTU: absolute tty path */
    unsigned baud;                  /* RTU: a standard rate, default 9600 */
    char parity;                    /* RTU: 'N', 'E' or 'O', default 'N' */
    unsigned data_bits;             /* RTU: 7 or 8, default 8 */
    unsigned stop_bits;             /* RTU: 1 or 2, default 1 */
    unsigned unit;                  /* 1..247, required */
};

/* Parse and validate a target URI. On error, returns GW_E_INVAL or
 * GW_E_RANGE and writes the reason into why (cap bytes); *out is then
 * unspecified. */
int mb_uri_parse(const char *text, struct mb_uri *out, char *why, size_t cap);

/* 1 if rate is one of the standard serial rates (1200 ... 921600). */
int mb_baud_valid(unsigned rate);

#endif
