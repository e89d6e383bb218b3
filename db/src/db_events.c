/* db_events.c: the append-only audit trail. */
#define GW_LOG_TAG "db"

#include "db/db_events.h"

#include <string.h>

#include "db_internal.h"
#include "gw/err.h"

int db_event_append(struct db *db, int64_t time_ms, const char *imei,
                    int64_t job_id, const char *kind, const char *actor,
                    const char *detail, int64_t *id)
{
    char text[DB_DETAIL_MAX + 1];
    sqlite3_stmt *st;
    int rc;

    if (imei == NULL)
        imei = "";
    if (imei[0] != '\0' && db__imei_ok(imei) < 0)
        return GW_E_INVAL;
    if ((rc = db__ident_ok(kind, 1, DB_KIND_MAX)) < 0 ||
        (rc = db__ident_ok(actor, 1, DB_ACTOR_MAX)) < 0)
        return rc;
    if (time_ms < 0 || job_id < 0)
        return GW_E_RANGE;
    db__truncate_utf8(text, sizeof text, detail != NULL ? detail : "",
                      DB_DETAIL_TRUNC_MARK);
    st = db__stmt(db, DB_ST_EVENT_APPEND);
    if (sqlite3_bind_int64(st, 1, time_ms) ||
        sqlite3_bind_text(st, 2, imei, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 3, job_id) ||
        sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 5, actor, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC))
        return db__err(db, sqlite3_errcode(db->conn), "event append bind");
    rc = db__exec_write(db, st, "event append");
    if (rc == 0 && id != NULL)
        *id = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

static int event_from_row(struct db *db, sqlite3_stmt *st, void *dst)
{
    struct db_event *e = dst;
    int rc;

    memset(e, 0, sizeof *e);
    if ((rc = db__col_int(db, st, 0, 1, INT64_MAX, &e->id)) < 0 ||
        (rc = db__col_int(db, st, 1, 0, INT64_MAX, &e->time_ms)) < 0 ||
        (rc = db__col_text(db, st, 2, e->imei, sizeof e->imei)) < 0 ||
        (rc = db__col_int(db, st, 3, 0, INT64_MAX, &e->job_id)) < 0 ||
        (rc = db__col_text(db, st, 4, e->kind, sizeof e->kind)) < 0 ||
        (rc = db__col_text(db, st, 5, e->actor, sizeof e->actor)) < 0 ||
        (rc = db__col_text(db, st, 6, e->detail, sizeof e->detail)) < 0)
        return rc;
    return 0;
}

int db_event_list(struct db *db, const char *imei, int64_t after_id,
                  struct db_event *out, size_t cap, size_t *n)
{
    sqlite3_stmt *st;

    *n = 0;
    if (cap == 0 || cap > INT32_MAX)
        return GW_E_RANGE;
    if (imei != NULL && db__imei_ok(imei) < 0)
        return GW_E_INVAL;
    st = db__stmt(db, DB_ST_EVENT_LIST);
    if (sqlite3_bind_int64(st, 1, after_id) ||
        (imei != NULL && sqlite3_bind_text(st, 2, imei, -1, SQLITE_STATIC)) ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)cap))
        return db__err(db, sqlite3_errcode(db->conn), "event list bind");
    return db__list(db, st, event_from_row, out, sizeof *out, cap, n,
                    "event list");
}
