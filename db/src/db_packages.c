/* db_packages.c: uploaded images. */
#define GW_LOG_TAG "db"

#include "db/db_packages.h"

#include <string.h>

#include "db_internal.h"
#include "gw/err.h"

static int check_package(const struct db_package *p)
{
    int rc;

    if ((rc = db__ident_ok(p->version, 1, DB_VERSION_MAX)) < 0)
        return rc;
    if (db__hex_ok(p->md5, DB_MD5_HEX) < 0 ||
        (p->sha256[0] != '\0' && db__hex_ok(p->sha256, DB_SHA256_HEX) < 0))
        return GW_E_INVAL;
    if ((rc = db__text_ok(p->notes, DB_NOTES_MAX)) < 0)
        return rc;
    if (p->size <= 0 || p->created_ms < 0)
        return GW_E_RANGE;
    return 0;
}

int db_package_add(struct db *db, struct db_package *p)
{
    sqlite3_stmt *st;
    int rc = check_package(p);

    if (rc < 0)
        return rc;
    st = db__stmt(db, DB_ST_PKG_ADD);
    if (sqlite3_bind_text(st, 1, p->version, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 2, p->md5, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 3, p->sha256, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 4, p->size) ||
        sqlite3_bind_text(st, 5, p->notes, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 6, p->created_ms))
        return db__err(db, sqlite3_errcode(db->conn), "package add bind");
    rc = db__exec_write(db, st, "package add");
    if (rc == 0)
        p->id = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

static int package_from_row(struct db *db, sqlite3_stmt *st, void *dst)
{
    struct db_package *p = dst;
    int rc;

    memset(p, 0, sizeof *p);
    if ((rc = db__col_int(db, st, 0, 1, INT64_MAX, &p->id)) < 0 ||
        (rc = db__col_text(db, st, 1, p->version, sizeof p->version)) < 0 ||
        (rc = db__col_text(db, st, 2, p->md5, sizeof p->md5)) < 0 ||
        (rc = db__col_text(db, st, 3, p->sha256, sizeof p->sha256)) < 0 ||
        (rc = db__col_int(db, st, 4, 1, INT64_MAX, &p->size)) < 0 ||
        (rc = db__col_text(db, st, 5, p->notes, sizeof p->notes)) < 0 ||
        (rc = db__col_int(db, st, 6, 0, INT64_MAX, &p->created_ms)) < 0)
        return rc;
    return 0;
}

int db_package_get(struct db *db, int64_t id, struct db_package *out)
{
    sqlite3_stmt *st = db__stmt(db, DB_ST_PKG_GET);

    if (sqlite3_bind_int64(st, 1, id))
        return db__err(db, sqlite3_errcode(db->conn), "package get bind");
    return db__one(db, st, package_from_row, out, "package get");
}

int db_package_list(struct db *db, int64_t after_id, struct db_package *out,
                    size_t cap, size_t *n)
{
    sqlite3_stmt *st = db__stmt(db, DB_ST_PKG_LIST);

    *n = 0;
    if (cap == 0 || cap > INT32_MAX)
        return GW_E_RANGE;
    if (sqlite3_bind_int64(st, 1, after_id) ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)cap))
        return db__err(db, sqlite3_errcode(db->conn), "package list bind");
    return db__list(db, st, package_from_row, out, sizeof *out, cap, n,
                    "package list");
}

int db_package_remove(struct db *db, int64_t id)
{
    sqlite3_stmt *st = db__stmt(db, DB_ST_PKG_REMOVE);
    int rc;

    if (sqlite3_bind_int64(st, 1, id))
        return db__err(db, sqlite3_errcode(db->conn), "package remove bind");
    rc = db__exec_write(db, st, "package remove");
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = GW_E_NOTFOUND;
    return rc;
}

int db_package_find_md5(struct db *db, const char *md5, struct db_package *out)
{
    sqlite3_stmt *st;

    if (db__hex_ok(md5, DB_MD5_HEX) < 0)
        return GW_E_INVAL;
    st = db__stmt(db, DB_ST_PKG_FIND_MD5);
    if (sqlite3_bind_text(st, 1, md5, -1, SQLITE_STATIC))
        return db__err(db, sqlite3_errcode(db->conn), "package find bind");
    return db__one(db, st, package_from_row, out, "package find");
}

int db_package_find(struct db *db, int64_t size, const char *md5,
                    struct db_package *out)
{
    sqlite3_stmt *st;

    if (db__hex_ok(md5, DB_MD5_HEX) < 0)
        return GW_E_INVAL;
    st = db__stmt(db, DB_ST_PKG_FIND);
    if (sqlite3_bind_int64(st, 1, size) ||
        sqlite3_bind_text(st, 2, md5, -1, SQLITE_STATIC))
        return db__err(db, sqlite3_errcode(db->conn), "package find bind");
    return db__one(db, st, package_from_row, out, "package find");
}
