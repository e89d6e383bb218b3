/* db_jobs.c: jobs and their chunk records. */
#define GW_LOG_TAG "db"

#include "db/db_jobs.h"

#include <string.h>

#include "db_internal.h"
#include "gw/err.h"

static const char *const phase_names[] = {
    [DB_JOB_DOWNLOAD] = "download", [DB_JOB_CHECK] = "check",
    [DB_JOB_FLASH] = "flash",       [DB_JOB_CONFIRM] = "confirm",
    [DB_JOB_DONE] = "done",         [DB_JOB_FAILED] = "failed",
};

const char *db_job_phase_name(enum db_job_phase p)
{
    switch (p) {
    case DB_JOB_DOWNLOAD:
    case DB_JOB_CHECK:
    case DB_JOB_FLASH:
    case DB_JOB_CONFIRM:
    case DB_JOB_DONE:
    case DB_JOB_FAILED: return phase_names[p];
    }
    return NULL;
}

int db_job_phase_final(enum db_job_phase p)
{
    return p == DB_JOB_DONE || p == DB_JOB_FAILED;
}

static int phase_parse(const char *name, enum db_job_phase *out)
{
    for (size_t i = 0; i < sizeof phase_names / sizeof phase_names[0]; i++) {
        if (strcmp(name, phase_names[i]) == 0) {
            *out = (enum db_job_phase)i;
            return 0;
        }
    }
    return GW_E_CORRUPT;
}

/* Fields db_job_create() and db_job_update() both write. */
static int check_common(const struct db_job *j)
{
    int rc;

    if ((rc = db__ident_ok(j->version, 1, DB_VERSION_MAX)) < 0)
        return rc;
    if ((j->md5[0] != '\0' && db__hex_ok(j->md5, DB_MD5_HEX) < 0) ||
        (j->sha256[0] != '\0' && db__hex_ok(j->sha256, DB_SHA256_HEX) < 0))
        return GW_E_INVAL;
    if ((rc = db__text_ok(j->staging_file, DB_STAGING_MAX)) < 0)
        return rc;
    if (j->package_id < 0 || j->image_size < -1 || j->attempt < 1)
        return GW_E_RANGE;
    return 0;
}

int db_job_create(struct db *db, struct db_job *j)
{
    sqlite3_stmt *st;
    int rc;

    if (db__imei_ok(j->imei) < 0)
        return GW_E_INVAL;
    rc = check_common(j);
    if (rc < 0)
        return rc;
    if (j->created_ms < 0)
        return GW_E_RANGE;
    st = db__stmt(db, DB_ST_JOB_CREATE);
    if (sqlite3_bind_text(st, 1, j->imei, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 2, j->package_id) ||
        sqlite3_bind_text(st, 3, j->version, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 4, j->image_size) ||
        sqlite3_bind_text(st, 5, j->md5, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 6, j->sha256, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 7, j->staging_file, -1, SQLITE_STATIC) ||
        sqlite3_bind_int(st, 8, j->attempt) ||
        sqlite3_bind_int64(st, 9, j->created_ms))
        return db__err(db, sqlite3_errcode(db->conn), "job create bind");
    rc = db__exec_write(db, st, "job create");
    if (rc < 0)
        return rc;
    j->id = sqlite3_last_insert_rowid(db->conn);
    j->phase = DB_JOB_DOWNLOAD;
    j->oma_state = 0;
    j->oma_result = 0;
    j->bytes_durable = 0;
    j->last_msgid = -1;
    j->flash_acked = 0;
    j->retries = 0;
    j->started_ms = 0;
    j->progress_ms = 0;
    j->ended_ms = 0;
    j->reason[0] = '\0';
    return 0;
}

static int job_from_row(struct db *db, sqlite3_stmt *st, void *dst)
{
    struct db_job *j = dst;
    char phase[16];
    int64_t v[4];
    int rc;

    memset(j, 0, sizeof *j);
    if ((rc = db__col_int(db, st, 0, 1, INT64_MAX, &j->id)) < 0 ||
        (rc = db__col_text(db, st, 1, j->imei, sizeof j->imei)) < 0 ||
        (rc = db__col_int(db, st, 2, 0, INT64_MAX, &j->package_id)) < 0 ||
        (rc = db__col_text(db, st, 3, j->version, sizeof j->version)) < 0 ||
        (rc = db__col_text(db, st, 4, phase, sizeof phase)) < 0 ||
        (rc = db__col_int(db, st, 5, 0, 255, &v[0])) < 0 ||
        (rc = db__col_int(db, st, 6, 0, 255, &v[1])) < 0 ||
        (rc = db__col_int(db, st, 7, 0, INT64_MAX, &j->bytes_durable)) < 0 ||
        (rc = db__col_int(db, st, 8, -1, INT64_MAX, &j->image_size)) < 0 ||
        (rc = db__col_text(db, st, 9, j->md5, sizeof j->md5)) < 0 ||
        (rc = db__col_text(db, st, 10, j->sha256, sizeof j->sha256)) < 0 ||
        (rc = db__col_text(db, st, 11, j->staging_file,
                           sizeof j->staging_file)) < 0 ||
        (rc = db__col_int(db, st, 12, -1, INT32_MAX, &j->last_msgid)) < 0 ||
        (rc = db__col_int(db, st, 13, 0, INT64_MAX, &j->flash_acked)) < 0 ||
        (rc = db__col_int(db, st, 14, 1, INT32_MAX, &v[2])) < 0 ||
        (rc = db__col_int(db, st, 15, 0, INT32_MAX, &v[3])) < 0 ||
        (rc = db__col_int(db, st, 16, 0, INT64_MAX, &j->created_ms)) < 0 ||
        (rc = db__col_int(db, st, 17, 0, INT64_MAX, &j->started_ms)) < 0 ||
        (rc = db__col_int(db, st, 18, 0, INT64_MAX, &j->progress_ms)) < 0 ||
        (rc = db__col_int(db, st, 19, 0, INT64_MAX, &j->ended_ms)) < 0 ||
        (rc = db__col_text(db, st, 20, j->reason, sizeof j->reason)) < 0)
        return rc;
    if (phase_parse(phase, &j->phase) < 0)
        return GW_E_CORRUPT;
    j->oma_state = (int)v[0];
    j->oma_result = (int)v[1];
    j->attempt = (int)v[2];
    j->retries = (int)v[3];
    return 0;
}

int db_job_get(struct db *db, int64_t id, struct db_job *out)
{
    sqlite3_stmt *st = db__stmt(db, DB_ST_JOB_GET);

    if (sqlite3_bind_int64(st, 1, id))
        return db__err(db, sqlite3_errcode(db->conn), "job get bind");
    return db__one(db, st, job_from_row, out, "job get");
}

int db_job_active(struct db *db, const char *imei, struct db_job *out)
{
    sqlite3_stmt *st;

    if (db__imei_ok(imei) < 0)
        return GW_E_INVAL;
    st = db__stmt(db, DB_ST_JOB_ACTIVE);
    if (sqlite3_bind_text(st, 1, imei, -1, SQLITE_STATIC))
        return db__err(db, sqlite3_errcode(db->conn), "job active bind");
    return db__one(db, st, job_from_row, out, "job active");
}

int db_job_update(struct db *db, const struct db_job *j)
{
    char reason[DB_REASON_MAX + 1];
    const char *phase = db_job_phase_name(j->phase);
    sqlite3_stmt *st;
    int rc = check_common(j);

    if (rc < 0)
        return rc;
    if (phase == NULL || j->oma_state < 0 || j->oma_state > 255 ||
        j->oma_result < 0 || j->oma_result > 255 || j->bytes_durable < 0 ||
        j->last_msgid < -1 || j->last_msgid > INT32_MAX || j->flash_acked < 0 ||
        j->retries < 0 || j->started_ms < 0 || j->progress_ms < 0 ||
        j->ended_ms < 0)
        return GW_E_RANGE;
    db__truncate_utf8(reason, sizeof reason, j->reason, "...");
    st = db__stmt(db, DB_ST_JOB_UPDATE);
    if (sqlite3_bind_int64(st, 1, j->id) ||
        sqlite3_bind_int64(st, 2, j->package_id) ||
        sqlite3_bind_text(st, 3, j->version, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 4, phase, -1, SQLITE_STATIC) ||
        sqlite3_bind_int(st, 5, j->oma_state) ||
        sqlite3_bind_int(st, 6, j->oma_result) ||
        sqlite3_bind_int64(st, 7, j->bytes_durable) ||
        sqlite3_bind_int64(st, 8, j->image_size) ||
        sqlite3_bind_text(st, 9, j->md5, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 10, j->sha256, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(st, 11, j->staging_file, -1, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 12, j->last_msgid) ||
        sqlite3_bind_int64(st, 13, j->flash_acked) ||
        sqlite3_bind_int(st, 14, j->attempt) ||
        sqlite3_bind_int(st, 15, j->retries) ||
        sqlite3_bind_int64(st, 16, j->started_ms) ||
        sqlite3_bind_int64(st, 17, j->progress_ms) ||
        sqlite3_bind_int64(st, 18, j->ended_ms) ||
        sqlite3_bind_text(st, 19, reason, -1, SQLITE_STATIC))
        return db__err(db, sqlite3_errcode(db->conn), "job update bind");
    rc = db__exec_write(db, st, "job update");
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = GW_E_NOTFOUND;
    return rc;
}

int db_job_progress(struct db *db, int64_t id, int64_t bytes_durable,
                    int64_t last_msgid, int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc;

    if (bytes_durable < 0 || last_msgid < -1 || last_msgid > INT32_MAX ||
        now_ms < 0)
        return GW_E_RANGE;
    st = db__stmt(db, DB_ST_JOB_PROGRESS);
    if (sqlite3_bind_int64(st, 1, id) ||
        sqlite3_bind_int64(st, 2, bytes_durable) ||
        sqlite3_bind_int64(st, 3, last_msgid) ||
        sqlite3_bind_int64(st, 4, now_ms))
        return db__err(db, sqlite3_errcode(db->conn), "job progress bind");
    rc = db__exec_write(db, st, "job progress");
    if (rc == 0 && sqlite3_changes(db->conn) == 0)
        rc = GW_E_NOTFOUND;
    return rc;
}

int db_job_list(struct db *db, const char *imei, int64_t after_id,
                struct db_job *out, size_t cap, size_t *n)
{
    sqlite3_stmt *st;

    *n = 0;
    if (cap == 0 || cap > INT32_MAX)
        return GW_E_RANGE;
    if (imei != NULL && db__imei_ok(imei) < 0)
        return GW_E_INVAL;
    st = db__stmt(db, DB_ST_JOB_LIST);
    if (sqlite3_bind_int64(st, 1, after_id) ||
        (imei != NULL && sqlite3_bind_text(st, 2, imei, -1, SQLITE_STATIC)) ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)cap))
        return db__err(db, sqlite3_errcode(db->conn), "job list bind");
    return db__list(db, st, job_from_row, out, sizeof *out, cap, n, "job list");
}

/* ---- chunk records ----------------------------------------------------- */

int db_chunk_append(struct db *db, const struct db_chunk *c)
{
    sqlite3_stmt *st;

    if (c->length == 0 || c->length > DB_CHUNK_MAX || c->offset < 0 ||
        c->msgid < -1 || c->msgid > INT32_MAX)
        return GW_E_RANGE;
    st = db__stmt(db, DB_ST_CHUNK_APPEND);
    if (sqlite3_bind_int64(st, 1, c->job_id) ||
        sqlite3_bind_int64(st, 2, c->index) ||
        sqlite3_bind_int64(st, 3, c->offset) ||
        sqlite3_bind_int64(st, 4, c->length) ||
        sqlite3_bind_int64(st, 5, c->crc32) ||
        sqlite3_bind_int64(st, 6, c->msgid))
        return db__err(db, sqlite3_errcode(db->conn), "chunk append bind");
    return db__exec_write(db, st, "chunk append");
}

static int chunk_from_row(struct db *db, sqlite3_stmt *st, void *dst)
{
    struct db_chunk *c = dst;
    int64_t idx;
    int64_t len;
    int64_t crc;
    int rc;

    if ((rc = db__col_int(db, st, 0, 1, INT64_MAX, &c->job_id)) < 0 ||
        (rc = db__col_int(db, st, 1, 0, UINT32_MAX, &idx)) < 0 ||
        (rc = db__col_int(db, st, 2, 0, INT64_MAX, &c->offset)) < 0 ||
        (rc = db__col_int(db, st, 3, 1, DB_CHUNK_MAX, &len)) < 0 ||
        (rc = db__col_int(db, st, 4, 0, UINT32_MAX, &crc)) < 0 ||
        (rc = db__col_int(db, st, 5, -1, INT32_MAX, &c->msgid)) < 0)
        return rc;
    c->index = (uint32_t)idx;
    c->length = (uint32_t)len;
    c->crc32 = (uint32_t)crc;
    return 0;
}

int db_chunk_list(struct db *db, int64_t job_id, uint32_t from,
                  struct db_chunk *out, size_t cap, size_t *n)
{
    sqlite3_stmt *st;

    *n = 0;
    if (cap == 0 || cap > INT32_MAX)
        return GW_E_RANGE;
    st = db__stmt(db, DB_ST_CHUNK_LIST);
    if (sqlite3_bind_int64(st, 1, job_id) || sqlite3_bind_int64(st, 2, from) ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)cap))
        return db__err(db, sqlite3_errcode(db->conn), "chunk list bind");
    return db__list(db, st, chunk_from_row, out, sizeof *out, cap, n,
                    "chunk list");
}

int db_chunk_truncate(struct db *db, int64_t job_id, uint32_t from,
                      size_t *deleted)
{
    sqlite3_stmt *st = db__stmt(db, DB_ST_CHUNK_TRUNCATE);
    int rc;

    if (sqlite3_bind_int64(st, 1, job_id) || sqlite3_bind_int64(st, 2, from))
        return db__err(db, sqlite3_errcode(db->conn), "chunk truncate bind");
    rc = db__exec_write(db, st, "chunk truncate");
    if (rc == 0 && deleted != NULL)
        *deleted = (size_t)sqlite3_changes(db->conn);
    return rc;
}
