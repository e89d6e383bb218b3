/* gw/hex.h: hex text <-> bytes. Strict: no spaces, no prefixes. */
#ifndef GW_HEX_H
#define GW_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0..15 for a hex digit of either case, -1 otherwise. */
int gw_hex_digit(char c);

/* Decode exactly hex_len characters (must be even) into out (cap bytes).
 * Returns the byte count, GW_E_INVAL for an odd length or a non-hex
 * character (*bad_pos, if not NULL, gets its index), GW_E_NOSPACE when
 * out is too small. */
int gw_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t cap,
                  size_t *bad_pos);

/* Encode len bytes as upper-case hex plus a NUL into out (cap >= 2*len+1).
 * Returns 2*len or GW_E_NOSPACE. */
int gw_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
