/* db_migrate.c: bring the schema up to date.
 *
 * Each embedded migration whose number is above PRAGMA user_version runs in
 * its own transaction, which also sets user_version to its number: a crash
 * between two migrations leaves a consistent database at the earlier
 * version, and the next start continues from there. Forward only: there is
 * no "down". */
#define GW_LOG_TAG "db"

#include "db_internal.h"

#include <stdio.h>

#include "gw/err.h"
#include "gw/log.h"

/* A file at version 0 must be empty: we do not add our tables to some
 * other program's database. */
static int check_empty(struct db *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, "SELECT count(*) FROM sqlite_schema",
                                -1, &st, NULL);

    if (rc != SQLITE_OK)
        return db__err(db, rc, "schema count");
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = db__err(db, rc, "schema count");
    } else if (sqlite3_column_int64(st, 0) != 0) {
        GW_LOG(GW_LOG_ERR, db->name,
               "schema version 0 but the file has tables: not a sotagw"
               " database");
        rc = GW_E_UNKNOWN;
    } else {
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

static int apply(struct db *db, const struct db__migration *m)
{
    char sql[64];
    int rc;

    rc = db__exec_sql(db, "BEGIN IMMEDIATE", "migration begin");
    if (rc < 0)
        return rc;
    rc = db__exec_sql(db, m->sql, m->name);
    if (rc == 0 && m->number == 1) {
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d",
                 DB_APPLICATION_ID);
        rc = db__exec_sql(db, sql, m->name);
    }
    if (rc == 0) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", m->number);
        rc = db__exec_sql(db, sql, m->name);
    }
    if (rc == 0)
        rc = db__exec_sql(db, "COMMIT", m->name);
    if (rc < 0) {
        if (!sqlite3_get_autocommit(db->conn))
            sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
        GW_LOG(GW_LOG_ERR, db->name, "migration %s failed, rolled back",
               m->name);
        return rc;
    }
    GW_LOG(GW_LOG_INFO, db->name, "applied migration %s", m->name);
    return 0;
}

int db__migrate(struct db *db, int from)
{
    int rc;

    if (from == 0) {
        rc = check_empty(db);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < db__migration_count; i++) {
        const struct db__migration *m = &db__migrations[i];

        if (m->number <= from)
            continue;
        rc = apply(db, m);
        if (rc < 0)
            return rc;
    }
    return 0;
}
