/* mask.c: masked personal identifiers. */
#include "gw/mask.h"

#include <stdio.h>
#include <string.h>

void gw_mask_id(const char *id, char *out, size_t cap)
{
    size_t n = strlen(id);

    if (n <= 6)
        snprintf(out, cap, "***");
    else
        snprintf(out, cap, "%.2s...%s", id, id + n - 4);
}
