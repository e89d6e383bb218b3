/* imei.c: the IMEI check (15 digits, Luhn). */
#include "gw/imei.h"

#include <string.h>

int gw_imei_valid(const char *s)
{
    unsigned sum = 0;

    if (strnlen(s, 16) != 15)
        return 0;
    for (size_t i = 0; i < 15; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return 0;
        d = (unsigned)(s[i] - '0');
        if (i % 2 == 1) { /* every second digit from the left, doubled */
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}
