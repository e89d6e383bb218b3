/* db/db_devices.h: the modem inventory, keyed on IMEI.
 *
 * A modem that comes back on another port keeps its row (and its jobs).
 * The field-device target URI is set only by db_device_set_target() (the
 * API's override of the config); db_device_upsert() never touches it. */
#ifndef DB_DB_DEVICES_H
#define DB_DB_DEVICES_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define DB_IMEI_LEN    15
#define DB_PORT_MAX    255
#define DB_HUB_MAX     63
#define DB_ICCID_MAX   20
#define DB_IMSI_MAX    15
#define DB_URI_MAX     255
#define DB_VERSION_MAX 32
#define DB_FAULT_MAX   120

enum db_device_state {
    DB_DEVICE_ABSENT,    /* not connected now */
    DB_DEVICE_IDLE,      /* connected, no upgrade running */
    DB_DEVICE_UPGRADING, /* a job is running */
    DB_DEVICE_FAULT      /* connected, but not usable (see events) */
};

struct db_device {
    char imei[DB_IMEI_LEN + 1]; /* 15 digits */
    enum db_device_state state;
    char port[DB_PORT_MAX + 1];   /* tty path, "" unknown */
    char usb_hub[DB_HUB_MAX + 1]; /* sysfs hub name, e.g. "1-1.2" */
    int usb_port;                 /* port on that hub, 0 unknown */
    char iccid[DB_ICCID_MAX + 1];
    char imsi[DB_IMSI_MAX + 1];
    int rssi;                        /* +CSQ 0..31, 99 unknown */
    int reg_status;                  /* +CEREG <stat> 0..10, -1 unknown */
    char target_uri[DB_URI_MAX + 1]; /* override, "" = from the config */
    char sw_version[DB_VERSION_MAX + 1];
    int battery;           /* 0..100 %, -1 unknown */
    int64_t free_kib;      /* -1 unknown */
    int64_t first_seen_ms; /* set by the first upsert */
    int64_t last_seen_ms;
    /* what is wrong in state FAULT, kept while ABSENT; "" otherwise */
    char fault[DB_FAULT_MAX + 1];
    int64_t readings_ms; /* rssi, reg_status read; 0 never */
};

/* Filter for db_device_list(). */
struct db_device_filter {
    int state;           /* an enum db_device_state, or -1 for any */
    const char *usb_hub; /* NULL for any */
};

const char *db_device_state_name(enum db_device_state s);

/* Insert or update the row of d->imei with every field of d except
 * target_uri and first_seen_ms (kept from the stored row; first_seen_ms is
 * last_seen_ms on insert). An invalid IMEI is GW_E_INVAL; an unterminated
 * string field GW_E_TOOLONG; a number out of its range GW_E_RANGE. */
int db_device_upsert(struct db *db, const struct db_device *d);

/* Set (uri non-empty) or clear (uri NULL or "") the target URI override.
 * Syntax is the caller's business (the config parser validates URIs).
 * GW_E_NOTFOUND when no such device; GW_E_TOOLONG over DB_URI_MAX. */
int db_device_set_target(struct db *db, const char *imei, const char *uri);

/* Read one device. GW_E_NOTFOUND when absent. */
int db_device_get(struct db *db, const char *imei, struct db_device *out);

/* Devices in IMEI order after the cursor `after` (NULL or "" from the
 * start), matching f (NULL: all), at most cap. *n gets the count; the next
 * page starts after out[*n - 1].imei. A device inserted while paging shows
 * up in a later page iff its IMEI sorts after the cursor. */
int db_device_list(struct db *db, const struct db_device_filter *f,
                   const char *after, struct db_device *out, size_t cap,
                   size_t *n);

#endif
