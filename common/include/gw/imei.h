/* gw/imei.h: the IMEI check, shared by the config parser, the CLI and the
 * web API. Pure. */
#ifndef GW_IMEI_H
#define GW_IMEI_H

/* 1 if s is 15 decimal digits whose last is the Luhn check digit. */
int gw_imei_valid(const char *s);

#endif
