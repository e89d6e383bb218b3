/* hex.c: strict hex text <-> bytes. */
#include "gw/hex.h"

#include <limits.h>

#include "gw/err.h"

int gw_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int gw_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t cap,
                  size_t *bad_pos)
{
    for (size_t i = 0; i < hex_len; i++) {
        if (gw_hex_digit(hex[i]) < 0) {
            if (bad_pos)
                *bad_pos = i;
            return GW_E_INVAL;
        }
    }
    if (hex_len % 2 != 0) {
        if (bad_pos)
            *bad_pos = hex_len;
        return GW_E_INVAL;
    }
    if (hex_len / 2 > cap)
        return GW_E_NOSPACE;
    if (hex_len / 2 > (size_t)INT_MAX)
        return GW_E_TOOLONG; /* keeps the int return meaningful */
    for (size_t i = 0; i < hex_len / 2; i++)
        out[i] = (uint8_t)((gw_hex_digit(hex[2 * i]) << 4) |
                           gw_hex_digit(hex[2 * i + 1]));
    return (int)(hex_len / 2);
}

int gw_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    static const char digits[] = "0123456789ABCDEF";

    if (cap < 2 * len + 1 || len > 0x3fffffff)
        return GW_E_NOSPACE;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return (int)(2 * len);
}
