/* db_internal.h: what the files of gw_db share. Not installed, not
 * included outside db/src. */
#ifndef DB_INTERNAL_H
#define DB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "db/db.h"

/* One embedded migrations/NNNN_*.sql (generated db_migrations.c). */
struct db__migration {
    int number;
    const char *name;
    const char *sql;
    size_t len;
};

extern const struct db__migration db__migrations[];
extern const size_t db__migration_count;

/* The statements prepared at open. The SQL is in db.c (stmt_sql[]). */
enum db__stmt {
    DB_ST_BEGIN,
    DB_ST_COMMIT,
    DB_ST_ROLLBACK,
    DB_ST_DEVICE_UPSERT,
    DB_ST_DEVICE_SET_TARGET,
    DB_ST_DEVICE_GET,
    DB_ST_DEVICE_LIST,
    DB_ST_JOB_CREATE,
    DB_ST_JOB_GET,
    DB_ST_JOB_ACTIVE,
    DB_ST_JOB_UPDATE,
    DB_ST_JOB_PROGRESS,
    DB_ST_JOB_LIST,
    DB_ST_CHUNK_APPEND,
    DB_ST_CHUNK_LIST,
    DB_ST_CHUNK_TRUNCATE,
    DB_ST_PKG_ADD,
    DB_ST_PKG_GET,
    DB_ST_PKG_LIST,
    DB_ST_PKG_REMOVE,
    DB_ST_PKG_FIND_MD5,
    DB_ST_PKG_FIND,
    DB_ST_EVENT_APPEND,
    DB_ST_EVENT_LIST,
    DB_ST_COUNT
};

#define DB_NAME_MAX 64

/* 'SOTA' in PRAGMA application_id marks a file as ours: set by the first
 * migration, checked at every open. */
#define DB_APPLICATION_ID 0x534f5441

struct db {
    sqlite3 *conn;
    sqlite3_stmt *st[DB_ST_COUNT];
    int readonly;
    int in_tx;
    unsigned pending;       /* writes in the open transaction */
    char name[DB_NAME_MAX]; /* file name for log lines */
};

/* The prepared statement, reset and with its bindings cleared. */
sqlite3_stmt *db__stmt(struct db *db, enum db__stmt id);

/* Log an SQLite failure (what: the operation) and map it to GW_E_* or
 * -errno, see db.h. */
int db__err(struct db *db, int rc, const char *what);

/* Step a write statement to SQLITE_DONE and reset it; count it in the open
 * transaction. Returns 0 or the mapped error. */
int db__exec_write(struct db *db, sqlite3_stmt *st, const char *what);

/* Decode the current row of st into *dst (one of the db_* row structs). */
typedef int db__row_fn(struct db *db, sqlite3_stmt *st, void *dst);

/* Step a bound SELECT that yields at most one row into *dst:
 * 0, GW_E_NOTFOUND, or an error. Resets st. */
int db__one(struct db *db, sqlite3_stmt *st, db__row_fn *row, void *dst,
            const char *what);

/* Step a bound SELECT (its LIMIT bound to cap) into the array out of
 * elements of elem bytes; *n gets the count. Resets st. */
int db__list(struct db *db, sqlite3_stmt *st, db__row_fn *row, void *out,
             size_t elem, size_t cap, size_t *n, const char *what);

/* sqlite3_exec() with the error logged and mapped. */
int db__exec_sql(struct db *db, const char *sql, const char *what);

/* Run the migrations the database lacks (db_migrate.c). */
int db__migrate(struct db *db, int from);

/* Reading a row: a value outside what the schema allows means the file was
 * changed behind our back, GW_E_CORRUPT (logged). */
int db__col_text(struct db *db, sqlite3_stmt *st, int col, char *dst,
                 size_t cap);
int db__col_int(struct db *db, sqlite3_stmt *st, int col, int64_t min,
                int64_t max, int64_t *out);

/* Input checks shared by the repositories. */
int db__text_ok(const char *s, size_t max);              /* 0 or GW_E_TOOLONG */
int db__ident_ok(const char *s, size_t min, size_t max); /* printable */
int db__imei_ok(const char *imei);                       /* 15 digits */
int db__hex_ok(const char *s, size_t len);               /* lower-case hex */

/* Copy src into dst (cap bytes) cutting at a UTF-8 boundary; when cut, the
 * copy ends with mark (which must fit in cap). */
void db__truncate_utf8(char *dst, size_t cap, const char *src,
                       const char *mark);

#endif
