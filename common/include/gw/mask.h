/* gw/mask.h: personal identifiers (IMEI, ICCID, IMSI) in logs and terminal
 * output: enough to tell devices apart, not the identity. */
#ifndef GW_MASK_H
#define GW_MASK_H

#include <stddef.h>

/* "86...1234" (first two and last four characters); "***" for an id of six
 * characters or fewer. out gets at most cap - 1 characters. */
void gw_mask_id(const char *id, char *out, size_t cap);

#endif
