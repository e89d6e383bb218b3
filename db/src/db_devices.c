/* db_devices.c: the modem inventory. */
#define GW_LOG_TAG "db"

#include "db/db_devices.h"

#include <string.h>

#include "db_internal.h"
#include "gw/err.h"

static const char *const state_names[] = {
    [DB_DEVICE_ABSENT] = "absent",
    [DB_DEVICE_IDLE] = "idle",
    [DB_DEVICE_UPGRADING] = "upgrading",
    [DB_DEVICE_FAULT] = "fault",
};

const char *db_device_state_name(enum db_device_state s)
{
    switch (s) {
    case DB_DEVICE_ABSENT:
    case DB_DEVICE_IDLE:
    case DB_DEVICE_UPGRADING:
    case DB_DEVICE_FAULT: return state_names[s];
    }
    return NULL;
}

static int state_parse(const char *name, enum db_device_state *out)
{
    for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum db_device_state)i;
            return 0;
        }
    }
    return GW_E_CORRUPT;
}

static int check_device(const struct db_device *d)
{
    int rc;

    if (db__imei_ok(d->imei) < 0)
        return GW_E_INVAL;
    if (db_device_state_name(d->state) == NULL)
        return GW_E_RANGE;
    if ((rc = db__text_ok(d->port, DB_PORT_MAX)) < 0 ||
        (rc = db__text_ok(d->usb_hub, DB_HUB_MAX)) < 0 ||
        (rc = db__text_ok(d->iccid, DB_ICCID_MAX)) < 0 ||
        (rc = db__text_ok(d->imsi, DB_IMSI_MAX)) < 0 ||
        (rc = db__text_ok(d->sw_version, DB_VERSION_MAX)) < 0 ||
        (rc = db__text_ok(d->fault, DB_FAULT_MAX)) < 0)
        return rc;
    if (d->usb_port < 0 || d->usb_port > 255 || d->rssi < 0 || d->rssi > 99 ||
        d->reg_status < -1 || d->reg_status > 10 || d->battery < -1 ||
        d->battery > 100 || d->free_kib < -1 || d->last_seen_ms < 0 ||
        d->readings_ms < 0)
        return GW_E_RANGE;
    return 0;
}

int db_device_upsert(struct db *db, const struct db_device *d)
{
    sqlite3_stmt *st;
    int rc = check_device(d);

    if (rc < 0)
        return rc;
    st = db__stmt(db, DB_ST_DEVICE_UPSERT);
    if (sqlite3_bind_text(st, 1, d->imei, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 2, state_names[d->state], -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 3, d->port, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 4, d->usb_hub, -1, SQLITE_STATIC) ||
        sqlite3_bind_int(st, 5, d->usb_port) ||
        sqlite3_bind_text(st, 6, d->iccid, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 7, d->imsi, -1, SQLITE_STATIC) ||
        sqlite3_bind_int(st, 8, d->rssi) ||
        sqlite3_bind_int(st, 9, d->reg_status) ||
        sqlite3_bind_text(st, 10, d->sw_version, -1, SQLITE_STATIC) ||
        sqlite3_bind_int(st, 11, d->battery) ||
        sqlite3_bind_int64(st, 12, d->free_kib) ||
        sqlite3_bind_int64(st, 13, d->last_seen_ms) ||
        sqlite3_bind_text(st, 14, d->fault, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 15, d->readings_ms))
        return db__err(db, sqlite3_errcode(db->conn), "device upsert bind");
    return db__exec_write(db, st, "device upsert");
}

int db_device_set_target(struct db *db, const char *imei, const char *uri)
{
    sqlite3_stmt *st;
    int rc;

    if (db__imei_ok(imei) < 0)
        return GW_E_INVAL;
    if (uri == NULL)
        uri = "";
    if (db__text_ok(uri, DB_URI_MAX) < 0)
        return GW_E_TOOLONG;
    st = db__stmt(db, DB_ST_DEVICE_SET_TARGET);
    if (sqlite3_bind_text(st, 1, imei, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 2, uri, -1, SQLITE_STATIC))
        return db__err(db, sqlite3_errcode(db->conn), "device target bind");
    rc = db__exec_write(db, st, "device target");
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = GW_E_NOTFOUND;
    return rc;
}

static int device_from_row(struct db *db, sqlite3_stmt *st, void *dst)
{
    struct db_device *d = dst;
    char state[16];
    int64_t v[8];
    int rc;

    memset(d, 0, sizeof *d);
    if ((rc = db__col_text(db, st, 0, d->imei, sizeof d->imei)) < 0 ||
        (rc = db__col_text(db, st, 1, state, sizeof state)) < 0 ||
        (rc = db__col_text(db, st, 2, d->port, sizeof d->port)) < 0 ||
        (rc = db__col_text(db, st, 3, d->usb_hub, sizeof d->usb_hub)) < 0 ||
        (rc = db__col_int(db, st, 4, 0, 255, &v[0])) < 0 ||
        (rc = db__col_text(db, st, 5, d->iccid, sizeof d->iccid)) < 0 ||
        (rc = db__col_text(db, st, 6, d->imsi, sizeof d->imsi)) < 0 ||
        (rc = db__col_int(db, st, 7, 0, 99, &v[1])) < 0 ||
        (rc = db__col_int(db, st, 8, -1, 10, &v[2])) < 0 ||
        (rc = db__col_text(db, st, 9, d->target_uri, sizeof d->target_uri)) <
            0 ||
        (rc = db__col_text(db, st, 10, d->sw_version, sizeof d->sw_version)) <
            0 ||
        (rc = db__col_int(db, st, 11, -1, 100, &v[3])) < 0 ||
        (rc = db__col_int(db, st, 12, -1, INT64_MAX, &v[4])) < 0 ||
        (rc = db__col_int(db, st, 13, 0, INT64_MAX, &v[5])) < 0 ||
        (rc = db__col_int(db, st, 14, 0, INT64_MAX, &v[6])) < 0 ||
        (rc = db__col_text(db, st, 15, d->fault, sizeof d->fault)) < 0 ||
        (rc = db__col_int(db, st, 16, 0, INT64_MAX, &v[7])) < 0)
        return rc;
    if (state_parse(state, &d->state) < 0)
        return GW_E_CORRUPT;
    d->usb_port = (int)v[0];
    d->rssi = (int)v[1];
    d->reg_status = (int)v[2];
    d->battery = (int)v[3];
    d->free_kib = v[4];
    d->first_seen_ms = v[5];
    d->last_seen_ms = v[6];
    d->readings_ms = v[7];
    return 0;
}

int db_device_get(struct db *db, const char *imei, struct db_device *out)
{
    sqlite3_stmt *st;

    if (db__imei_ok(imei) < 0)
        return GW_E_INVAL;
    st = db__stmt(db, DB_ST_DEVICE_GET);
    if (sqlite3_bind_text(st, 1, imei, -1, SQLITE_STATIC))
        return db__err(db, sqlite3_errcode(db->conn), "device get bind");
    return db__one(db, st, device_from_row, out, "device get");
}

int db_device_list(struct db *db, const struct db_device_filter *f,
                   const char *after, struct db_device *out, size_t cap,
                   size_t *n)
{
    sqlite3_stmt *st;
    const char *state = NULL;

    *n = 0;
    if (cap == 0 || cap > INT32_MAX)
        return GW_E_RANGE;
    if (after == NULL)
        after = "";
    if (db__text_ok(after, DB_IMEI_LEN) < 0)
        return GW_E_INVAL;
    if (f != NULL && f->state >= 0) {
        state = db_device_state_name((enum db_device_state)f->state);
        if (state == NULL)
            return GW_E_RANGE;
    }
    st = db__stmt(db, DB_ST_DEVICE_LIST);
    if (sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC) ||
        (state != NULL && sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC)) ||
        (f != NULL && f->usb_hub != NULL &&
         sqlite3_bind_text(st, 3, f->usb_hub, -1, SQLITE_STATIC)) ||
        sqlite3_bind_int64(st, 4, (sqlite3_int64)cap))
        return db__err(db, sqlite3_errcode(db->conn), "device list bind");
    return db__list(db, st, device_from_row, out, sizeof *out, cap, n,
                    "device list");
}
