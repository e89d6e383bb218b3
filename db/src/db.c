/* db.c: opening the database, the prepared statements, transactions and
 * the mapping of SQLite's errors to ours.
 *
 * Open order (see db_open() in db.h): read the header and user_version
 * first, so that a file that is not a database, or one from a newer
 * sotagw, is refused before anything writes to it (switching to WAL
 * writes the header); then quick_check; then pragmas and migrations; then
 * every statement is prepared, so a query that no longer matches the schema
 * fails at start-up rather than in the middle of an upgrade. */
#define GW_LOG_TAG "db"

#include "db_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw/err.h"
#include "gw/log.h"

#define DEVICE_COLS                                                            \
    "imei, state, port, usb_hub, usb_port, iccid, imsi, rssi, reg_status, "    \
    "target_uri, sw_version, battery, free_kib, first_seen_ms, "               \
    "last_seen_ms, fault, readings_ms"
#define JOB_COLS                                                               \
    "id, device_imei, IFNULL(package_id, 0), version, phase, oma_state, "      \
    "oma_result, bytes_durable, image_size, md5, sha256, staging_file, "       \
    "last_msgid, flash_acked, attempt, retries, created_ms, started_ms, "      \
    "progress_ms, ended_ms, reason"
#define PKG_COLS "id, version, md5, sha256, size, notes, created_ms"
#define EVENT_COLS                                                             \
    "id, time_ms, IFNULL(device_imei, ''), IFNULL(job_id, 0), kind, "          \
    "actor, detail"

static const char *const stmt_sql[DB_ST_COUNT] = {
    [DB_ST_BEGIN] = "BEGIN IMMEDIATE",
    [DB_ST_COMMIT] = "COMMIT",
    [DB_ST_ROLLBACK] = "ROLLBACK",

    [DB_ST_DEVICE_UPSERT] =
        "INSERT INTO devices (imei, state, port, usb_hub, usb_port, iccid,"
        " imsi, rssi, reg_status, sw_version, battery, free_kib,"
        " first_seen_ms, last_seen_ms, fault, readings_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13,"
        " ?14, ?15)"
        " ON CONFLICT (imei) DO UPDATE SET state = excluded.state,"
        " port = excluded.port, usb_hub = excluded.usb_hub,"
        " usb_port = excluded.usb_port, iccid = excluded.iccid,"
        " imsi = excluded.imsi, rssi = excluded.rssi,"
        " reg_status = excluded.reg_status,"
        " sw_version = excluded.sw_version, battery = excluded.battery,"
        " free_kib = excluded.free_kib,"
        " last_seen_ms = excluded.last_seen_ms, fault = excluded.fault,"
        " readings_ms = excluded.readings_ms",
    [DB_ST_DEVICE_SET_TARGET] =
        "UPDATE devices SET target_uri = ?2 WHERE imei = ?1",
    [DB_ST_DEVICE_GET] = "SELECT " DEVICE_COLS " FROM devices WHERE imei = ?1",
    [DB_ST_DEVICE_LIST] =
        "SELECT " DEVICE_COLS " FROM devices WHERE imei > ?1"
        " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR usb_hub = ?3)"
        " ORDER BY imei LIMIT ?4",

    [DB_ST_JOB_CREATE] =
        "INSERT INTO jobs (device_imei, package_id, version, image_size, md5,"
        " sha256, staging_file, attempt, created_ms)"
        " VALUES (?1, NULLIF(?2, 0), ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [DB_ST_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [DB_ST_JOB_ACTIVE] = "SELECT " JOB_COLS " FROM jobs WHERE device_imei = ?1"
                         " AND phase NOT IN ('done', 'failed')",
    [DB_ST_JOB_UPDATE] =
        "UPDATE jobs SET package_id = NULLIF(?2, 0), version = ?3,"
        " phase = ?4, oma_state = ?5, oma_result = ?6, bytes_durable = ?7,"
        " image_size = ?8, md5 = ?9, sha256 = ?10, staging_file = ?11,"
        " last_msgid = ?12, flash_acked = ?13, attempt = ?14, retries = ?15,"
        " started_ms = ?16, progress_ms = ?17, ended_ms = ?18, reason = ?19"
        " WHERE id = ?1",
    [DB_ST_JOB_PROGRESS] =
        "UPDATE jobs SET bytes_durable = ?2, last_msgid = ?3,"
        " progress_ms = ?4 WHERE id = ?1",
    [DB_ST_JOB_LIST] =
        "SELECT " JOB_COLS " FROM jobs WHERE id > ?1"
        " AND (?2 IS NULL OR device_imei = ?2) ORDER BY id LIMIT ?3",

    [DB_ST_CHUNK_APPEND] =
        "INSERT INTO progress (job_id, idx, offset, length, crc32, msgid)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [DB_ST_CHUNK_LIST] =
        "SELECT job_id, idx, offset, length, crc32, msgid FROM progress"
        " WHERE job_id = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
    [DB_ST_CHUNK_TRUNCATE] =
        "DELETE FROM progress WHERE job_id = ?1 AND idx >= ?2",

    [DB_ST_PKG_ADD] =
        "INSERT INTO packages (version, md5, sha256, size, notes, created_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [DB_ST_PKG_GET] = "SELECT " PKG_COLS " FROM packages WHERE id = ?1",
    [DB_ST_PKG_LIST] =
        "SELECT " PKG_COLS " FROM packages WHERE id > ?1 ORDER BY id"
        " LIMIT ?2",
    [DB_ST_PKG_REMOVE] = "DELETE FROM packages WHERE id = ?1",
    [DB_ST_PKG_FIND_MD5] =
        "SELECT " PKG_COLS " FROM packages WHERE md5 = ?1 ORDER BY id"
        " LIMIT 1",
    [DB_ST_PKG_FIND] =
        "SELECT " PKG_COLS " FROM packages WHERE size = ?1 AND md5 = ?2",

    [DB_ST_EVENT_APPEND] =
        "INSERT INTO events (time_ms, device_imei, job_id, kind, actor,"
        " detail) VALUES (?1, NULLIF(?2, ''), NULLIF(?3, 0), ?4, ?5, ?6)",
    [DB_ST_EVENT_LIST] =
        "SELECT " EVENT_COLS " FROM events WHERE id > ?1"
        " AND (?2 IS NULL OR device_imei = ?2) ORDER BY id LIMIT ?3",
};

#define QUICK_CHECK_LINES 10

static int map_rc(struct db *db, int rc)
{
    int sys;

    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return GW_E_NOTFOUND;
    case SQLITE_CONSTRAINT_TRIGGER: return GW_E_STATE;
    default: break;
    }
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return GW_E_RANGE;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return GW_E_CORRUPT;
    case SQLITE_READONLY: return -EROFS;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_TOOBIG: return GW_E_TOOLONG;
    case SQLITE_RANGE:
    case SQLITE_MISUSE: return GW_E_INVAL;
    default: break;
    }
    sys = db->conn != NULL ? sqlite3_system_errno(db->conn) : 0;
    return sys > 0 ? -sys : -EIO;
}

int db__err(struct db *db, int rc, const char *what)
{
    int err = map_rc(db, rc);
    const char *msg =
        db->conn != NULL ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc);

    /* A constraint is a refusal the caller handles (duplicate, unknown
     * device); anything else is a fault of the file or the system. */
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        GW_LOG(GW_LOG_DEBUG, db->name, "%s: %s", what, msg);
    else
        GW_LOG(GW_LOG_ERR, db->name, "%s: %s (sqlite %d)", what, msg, rc);
    return err;
}

sqlite3_stmt *db__stmt(struct db *db, enum db__stmt id)
{
    sqlite3_stmt *st = db->st[id];

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int db__exec_write(struct db *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db__err(db, rc, what);
    if (db->in_tx)
        db->pending++;
    return 0;
}

int db__one(struct db *db, sqlite3_stmt *st, db__row_fn *row, void *dst,
            const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        rc = row(db, st, dst);
    else if (rc == SQLITE_DONE)
        rc = GW_E_NOTFOUND;
    else
        rc = db__err(db, rc, what);
    sqlite3_reset(st);
    return rc;
}

int db__list(struct db *db, sqlite3_stmt *st, db__row_fn *row, void *out,
             size_t elem, size_t cap, size_t *n, const char *what)
{
    int rc;

    *n = 0;
    for (;;) {
        if (*n == cap) {
            rc = 0;
            break;
        }
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (rc != SQLITE_ROW) {
            rc = db__err(db, rc, what);
            break;
        }
        rc = row(db, st, (char *)out + *n * elem);
        if (rc < 0)
            break;
        (*n)++;
    }
    sqlite3_reset(st);
    return rc;
}

int db__col_text(struct db *db, sqlite3_stmt *st, int col, char *dst,
                 size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);

    if (s == NULL || len < 0 || (size_t)len >= cap) {
        GW_LOG(GW_LOG_ERR, db->name,
               "column %s: value is NULL or longer than %zu bytes",
               sqlite3_column_name(st, col), cap - 1);
        dst[0] = '\0';
        return GW_E_CORRUPT;
    }
    memcpy(dst, s, (size_t)len);
    dst[len] = '\0';
    return 0;
}

int db__col_int(struct db *db, sqlite3_stmt *st, int col, int64_t min,
                int64_t max, int64_t *out)
{
    int64_t v = sqlite3_column_int64(st, col);

    if (sqlite3_column_type(st, col) != SQLITE_INTEGER || v < min || v > max) {
        GW_LOG(GW_LOG_ERR, db->name, "column %s: not an integer in %lld..%lld",
               sqlite3_column_name(st, col), (long long)min, (long long)max);
        *out = min;
        return GW_E_CORRUPT;
    }
    *out = v;
    return 0;
}

int db__text_ok(const char *s, size_t max)
{
    return strnlen(s, max + 1) <= max ? 0 : GW_E_TOOLONG;
}

int db__ident_ok(const char *s, size_t min, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len > max)
        return GW_E_TOOLONG;
    if (len < min)
        return GW_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return GW_E_INVAL;
    }
    return 0;
}

int db__imei_ok(const char *imei)
{
    if (imei == NULL || strnlen(imei, 16) != 15)
        return GW_E_INVAL;
    for (size_t i = 0; i < 15; i++) {
        if (imei[i] < '0' || imei[i] > '9')
            return GW_E_INVAL;
    }
    return 0;
}

int db__hex_ok(const char *s, size_t len)
{
    if (strnlen(s, len + 1) != len)
        return GW_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return GW_E_INVAL;
    }
    return 0;
}

void db__truncate_utf8(char *dst, size_t cap, const char *src, const char *mark)
{
    size_t len = strnlen(src, cap);
    size_t mlen = strlen(mark);
    size_t cut;

    if (len < cap) {
        memcpy(dst, src, len + 1);
        return;
    }
    /* Too long: keep cap - 1 - mlen bytes, backing off continuation bytes
     * (10xxxxxx) so that no character is cut in half. */
    cut = cap - 1 - mlen;
    while (cut > 0 && ((unsigned char)src[cut] & 0xc0) == 0x80)
        cut--;
    memcpy(dst, src, cut);
    memcpy(dst + cut, mark, mlen + 1);
}

/* ---- opening ----------------------------------------------------------- */

int db__exec_sql(struct db *db, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->conn, sql, NULL, NULL, &msg);

    sqlite3_free(msg); /* the same text is in sqlite3_errmsg() */
    return rc == SQLITE_OK ? 0 : db__err(db, rc, what);
}

/* Run a one-value pragma; copy its first column as text. */
static int pragma_text(struct db *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return db__err(db, rc, sql);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", s != NULL ? (const char *)s : "");
        rc = 0;
    } else {
        rc = db__err(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql);
    }
    sqlite3_finalize(st);
    return rc;
}

static int pragma_int(struct db *db, const char *sql, int64_t *out)
{
    char buf[32];
    char *end;
    int rc = pragma_text(db, sql, buf, sizeof buf);

    if (rc < 0)
        return rc;
    *out = strtoll(buf, &end, 10);
    if (end == buf || *end != '\0') {
        GW_LOG(GW_LOG_ERR, db->name, "%s: unexpected answer '%s'", sql, buf);
        return GW_E_CORRUPT;
    }
    return 0;
}

static int quick_check(struct db *db)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int lines = 0;
    int bad = 0;

    rc = sqlite3_prepare_v2(db->conn, "PRAGMA quick_check(10)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db__err(db, rc, "quick_check");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 0);

        lines++;
        if (s != NULL && strcmp((const char *)s, "ok") == 0)
            continue;
        bad = 1;
        if (lines <= QUICK_CHECK_LINES)
            GW_LOG(GW_LOG_ERR, db->name, "quick_check: %s",
                   s != NULL ? (const char *)s : "(null)");
    }
    if (rc != SQLITE_DONE) {
        rc = db__err(db, rc, "quick_check");
    } else if (bad || lines == 0) {
        GW_LOG(GW_LOG_ERR, db->name,
               "database is corrupt; it was left as it is (restore a backup,"
               " or move it away to start empty)");
        rc = GW_E_CORRUPT;
    } else {
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

static int is_memory(const char *path)
{
    return path[0] == '\0' || strcmp(path, ":memory:") == 0;
}

static int set_pragmas(struct db *db, const char *path)
{
    char mode[16];
    int64_t fk = 0;
    int rc;

    rc = pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
    if (rc < 0)
        return rc;
    if (strcmp(mode, "wal") != 0 && !is_memory(path)) {
        GW_LOG(GW_LOG_ERR, db->name, "journal_mode is '%s', not 'wal'", mode);
        return -EIO;
    }
    rc = db__exec_sql(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
                      "pragmas");
    if (rc < 0)
        return rc;
    rc = pragma_int(db, "PRAGMA foreign_keys", &fk);
    if (rc < 0)
        return rc;
    if (fk != 1) {
        GW_LOG(GW_LOG_ERR, db->name, "this SQLite cannot enforce foreign keys");
        return -ENOTSUP;
    }
    return 0;
}

static int check_version(struct db *db, int64_t version, int64_t app_id)
{
    int latest = db_schema_latest();

    if (version > latest) {
        GW_LOG(GW_LOG_ERR, db->name,
               "database schema version %lld is newer than this sotagw "
               "knows (%d): it was written by a newer release; refusing to"
               " open it",
               (long long)version, latest);
        return GW_E_UNKNOWN;
    }
    if (version < 0 || (version > 0 && app_id != DB_APPLICATION_ID) ||
        (app_id != 0 && app_id != DB_APPLICATION_ID)) {
        GW_LOG(GW_LOG_ERR, db->name,
               "not a sotagw database (application_id %lld, user_version"
               " %lld)",
               (long long)app_id, (long long)version);
        return GW_E_UNKNOWN;
    }
    return 0;
}

static int prepare_all(struct db *db)
{
    for (size_t i = 0; i < DB_ST_COUNT; i++) {
        int rc =
            sqlite3_prepare_v3(db->conn, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &db->st[i], NULL);
        if (rc != SQLITE_OK)
            return db__err(db, rc, stmt_sql[i]);
    }
    return 0;
}

static void set_name(struct db *db, const char *path)
{
    const char *base = strrchr(path, '/');

    snprintf(db->name, sizeof db->name, "%s",
             base != NULL ? base + 1 : (is_memory(path) ? ":memory:" : path));
}

int db_open(struct db **out, const char *path, unsigned flags)
{
    struct db *db = NULL;
    int readonly = (flags & DB_OPEN_READONLY) != 0;
    int oflags = SQLITE_OPEN_NOMUTEX;
    int64_t version = 0;
    int64_t app_id = 0;
    int rc;

    *out = NULL;
    if (path == NULL)
        return GW_E_INVAL;
    db = calloc(1, sizeof *db);
    if (db == NULL)
        return -ENOMEM;
    db->readonly = readonly;
    set_name(db, path);
    oflags |= readonly ? SQLITE_OPEN_READONLY
                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &db->conn, oflags, NULL);
    if (rc != SQLITE_OK) {
        rc = db__err(db, rc, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(db->conn, 1);
    sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS);

    rc = pragma_int(db, "PRAGMA user_version", &version);
    if (rc < 0)
        goto fail;
    rc = pragma_int(db, "PRAGMA application_id", &app_id);
    if (rc < 0)
        goto fail;
    rc = check_version(db, version, app_id);
    if (rc < 0)
        goto fail;
    if (!(flags & DB_OPEN_NO_CHECK)) {
        rc = quick_check(db);
        if (rc < 0)
            goto fail;
    }
    if (readonly) {
        if (version != db_schema_latest()) {
            GW_LOG(GW_LOG_ERR, db->name,
                   "schema version %lld, this sotagw needs %d: open it"
                   " read-write once to migrate",
                   (long long)version, db_schema_latest());
            rc = GW_E_STATE;
            goto fail;
        }
        rc = db__exec_sql(db, "PRAGMA query_only = ON", "pragmas");
    } else {
        rc = set_pragmas(db, path);
        if (rc == 0 && version < db_schema_latest())
            rc = db__migrate(db, (int)version);
    }
    if (rc < 0)
        goto fail;
    rc = prepare_all(db);
    if (rc < 0)
        goto fail;
    *out = db;
    return 0;

fail:
    db_close(db);
    return rc;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    if (db->in_tx && db->conn != NULL)
        sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
    for (size_t i = 0; i < DB_ST_COUNT; i++)
        sqlite3_finalize(db->st[i]); /* NULL is a no-op */
    if (db->conn != NULL && sqlite3_close(db->conn) != SQLITE_OK)
        GW_LOG(GW_LOG_ERR, db->name, "close: %s", sqlite3_errmsg(db->conn));
    free(db);
}

int db_schema_latest(void)
{
    return db__migrations[db__migration_count - 1].number;
}

int db_schema_version(struct db *db)
{
    int64_t v = 0;
    int rc = pragma_int(db, "PRAGMA user_version", &v);

    if (rc < 0)
        return rc;
    return v >= 0 && v <= db_schema_latest() ? (int)v : GW_E_CORRUPT;
}

/* ---- transactions ------------------------------------------------------ */

static int run_simple(struct db *db, enum db__stmt id, const char *what)
{
    sqlite3_stmt *st = db__stmt(db, id);
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db__err(db, rc, what);
}

int db_tx_begin(struct db *db)
{
    int rc;

    if (db->in_tx)
        return GW_E_STATE;
    rc = run_simple(db, DB_ST_BEGIN, "begin");
    if (rc < 0)
        return rc;
    db->in_tx = 1;
    db->pending = 0;
    return 0;
}

int db_tx_commit(struct db *db)
{
    int rc;

    if (!db->in_tx)
        return GW_E_STATE;
    rc = run_simple(db, DB_ST_COMMIT, "commit");
    if (rc < 0) {
        /* SQLite may keep the transaction open after a failed COMMIT (for
         * example SQLITE_BUSY); we promise the caller a rollback. */
        if (!sqlite3_get_autocommit(db->conn))
            run_simple(db, DB_ST_ROLLBACK, "rollback");
    }
    db->in_tx = 0;
    db->pending = 0;
    return rc;
}

int db_tx_rollback(struct db *db)
{
    int rc = 0;

    if (!db->in_tx)
        return GW_E_STATE;
    if (!sqlite3_get_autocommit(db->conn))
        rc = run_simple(db, DB_ST_ROLLBACK, "rollback");
    db->in_tx = 0;
    db->pending = 0;
    return rc;
}

int db_tx_active(const struct db *db)
{
    return db->in_tx;
}

int db_group_begin(struct db *db)
{
    return db->in_tx ? 0 : db_tx_begin(db);
}

int db_group_commit(struct db *db)
{
    return db->in_tx ? db_tx_commit(db) : 0;
}

unsigned db_group_pending(const struct db *db)
{
    return db->in_tx ? db->pending : 0;
}
