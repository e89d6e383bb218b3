/* test_db_open.c: opening, migrations, schema version refusal, corruption
 * detection, pragmas, transactions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/db_devices.h"
#include "db/db_events.h"
#include "db/db_jobs.h"
#include "db_test_util.h"
#include "gw/err.h"

struct fixture {
    struct tmp_dir dir;
    char path[TMP_PATH_MAX + 16];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    tmp_dir_make(&f->dir);
    tmp_path(&f->dir, "sotagw.db", f->path, sizeof f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    log_capture_stop();
    tmp_dir_remove(&f->dir);
    free(f);
    return 0;
}

static void fill_device(struct db_device *d, unsigned n)
{
    memset(d, 0, sizeof *d);
    test_imei(d->imei, n);
    d->state = DB_DEVICE_IDLE;
    d->rssi = 20;
    d->reg_status = 1;
    d->battery = -1;
    d->free_kib = -1;
    d->last_seen_ms = 1000;
}

/* A fresh file gets every migration; reopening applies nothing and keeps
 * the data. */
static void migrate_fresh_then_reopen(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;
    struct db_device d;

    assert_true(db_schema_latest() >= 1);
    assert_int_equal(db_open(&db, f->path, 0), 0);
    assert_int_equal(db_schema_version(db), db_schema_latest());
    fill_device(&d, 1);
    assert_int_equal(db_device_upsert(db, &d), 0);
    db_close(db);

    assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
                     db_schema_latest());
    assert_int_equal(raw_int(f->path, "PRAGMA application_id"), 0x534f5441);
    assert_int_equal(db_open(&db, f->path, 0), 0);
    assert_int_equal(db_schema_version(db), db_schema_latest());
    assert_int_equal(db_device_get(db, d.imei, &d), 0);
    db_close(db);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema"
                                      " WHERE name = 'devices'"),
                     1);
}

static void memory_database(void **state)
{
    struct db *db = NULL;

    (void)state;
    assert_int_equal(db_open(&db, ":memory:", 0), 0);
    assert_int_equal(db_schema_version(db), db_schema_latest());
    db_close(db);
    db_close(NULL); /* NULL-safe */
}

/* The journal mode is persistent in the file: a plain connection sees WAL;
 * foreign keys are enforced (a job for an unknown device is refused). */
static void wal_and_foreign_keys(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;
    struct db_job j;

    assert_int_equal(db_open(&db, f->path, 0), 0);
    memset(&j, 0, sizeof j);
    test_imei(j.imei, 77);
    snprintf(j.version, sizeof j.version, "1.0");
    j.image_size = -1;
    j.attempt = 1;
    assert_int_equal(db_job_create(db, &j), GW_E_NOTFOUND);
    db_close(db);
    assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'wal'"
                                      " FROM pragma_journal_mode"),
                     1);
}

static void newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;
    char want[64];

    assert_int_equal(db_open(&db, f->path, 0), 0);
    db_close(db);
    raw_exec(f->path, "PRAGMA user_version = 9999");

    log_capture_start();
    assert_int_equal(db_open(&db, f->path, 0), GW_E_UNKNOWN);
    assert_null(db);
    assert_non_null(strstr(log_capture_last(), "9999"));
    snprintf(want, sizeof want, "(%d)", db_schema_latest());
    assert_non_null(strstr(log_capture_last(), want));
    /* Read-only is refused the same way, and nothing was changed. */
    assert_int_equal(db_open(&db, f->path, DB_OPEN_READONLY), GW_E_UNKNOWN);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 9999);
}

static void foreign_database_refused(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;

    raw_exec(f->path, "CREATE TABLE notes (x TEXT)");
    assert_int_equal(db_open(&db, f->path, 0), GW_E_UNKNOWN);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema"), 1);
    raw_exec(f->path, "PRAGMA application_id = 42; PRAGMA user_version = 1");
    assert_int_equal(db_open(&db, f->path, 0), GW_E_UNKNOWN);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static size_t read_file(const char *path, void *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static void garbage_file_is_corrupt(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;
    char junk[8192];
    char back[8192];

    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 37u + 11u);
    write_file(f->path, junk, sizeof junk);
    assert_int_equal(db_open(&db, f->path, 0), GW_E_CORRUPT);
    assert_null(db);
    /* Reported, never replaced. */
    assert_int_equal(read_file(f->path, back, sizeof back), sizeof junk);
    assert_memory_equal(back, junk, sizeof junk);
}

/* A valid header with a damaged b-tree page: quick_check finds it. */
static void damaged_page_is_corrupt(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;
    static unsigned char img[1 << 20];
    static unsigned char back[1 << 20];
    size_t len;
    size_t page;

    assert_int_equal(db_open(&db, f->path, 0), 0);
    for (unsigned i = 0; i < 200; i++) {
        char detail[200];

        snprintf(detail, sizeof detail,
                 "event %u with some padding text"
                 " to fill pages ..........................................",
                 i);
        assert_int_equal(db_event_append(db, 1000 + i, NULL, 0, "test",
                                         "daemon", detail, NULL),
                         0);
    }
    db_close(db);
    assert_int_equal(db_open(&db, f->path, 0), 0); /* still good */
    db_close(db);

    len = read_file(f->path, img, sizeof img);
    page = (size_t)raw_int(f->path, "PRAGMA page_size");
    /* Damage the events table's root page (and its leaves), keep page 1. */
    page *= (size_t)raw_int(f->path, "SELECT rootpage FROM sqlite_schema"
                                     " WHERE name = 'events'") -
            1;
    assert_true(page > 0 && page + 4096 <= len);
    for (size_t i = 0; i < 4096; i++)
        img[page + i] = (unsigned char)(0xA5u ^ i);
    write_file(f->path, img, len);

    log_capture_start();
    assert_int_equal(db_open(&db, f->path, 0), GW_E_CORRUPT);
    assert_null(db);
    assert_true(strlen(log_capture_last()) > 0);
    assert_int_equal(read_file(f->path, back, sizeof back), len);
    assert_memory_equal(back, img, len);
}

/* A value outside the schema's bounds (written by some other tool with
 * checks off) is reported as corrupt, not trusted. */
static void tampered_row_is_corrupt(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;
    struct db_device d;

    assert_int_equal(db_open(&db, f->path, 0), 0);
    fill_device(&d, 5);
    assert_int_equal(db_device_upsert(db, &d), 0);
    db_close(db);
    raw_exec(f->path, "PRAGMA ignore_check_constraints = ON;"
                      " UPDATE devices SET rssi = 1000, state = 'weird'");
    /* quick_check verifies CHECK constraints, so start-up reports it... */
    assert_int_equal(db_open(&db, f->path, 0), GW_E_CORRUPT);
    /* ...and without the check, the row decoder refuses the values. */
    assert_int_equal(db_open(&db, f->path, DB_OPEN_NO_CHECK), 0);
    assert_int_equal(db_device_get(db, d.imei, &d), GW_E_CORRUPT);
    db_close(db);
}

static void readonly_connection(void **state)
{
    struct fixture *f = *state;
    struct db *db = NULL;
    struct db *ro = NULL;
    struct db_device d;

    /* Missing file: read-only does not create it. */
    assert_true(db_open(&ro, f->path, DB_OPEN_READONLY) < 0);
    assert_null(ro);
    assert_int_equal(db_open(&db, f->path, 0), 0);
    assert_int_equal(db_open(&ro, f->path, DB_OPEN_READONLY), 0);
    fill_device(&d, 9);
    assert_int_equal(db_device_upsert(ro, &d), -EROFS);
    assert_int_equal(db_device_upsert(db, &d), 0);
    assert_int_equal(db_device_get(ro, d.imei, &d), 0);
    db_close(ro);
    db_close(db);

    /* An old schema cannot be migrated read-only. */
    raw_exec(f->path, "PRAGMA user_version = 0");
    assert_int_equal(db_open(&ro, f->path, DB_OPEN_READONLY), GW_E_STATE);
}

static void transaction_rules(void **state)
{
    struct db *db = NULL;
    struct db_device d;

    (void)state;
    assert_int_equal(db_open(&db, ":memory:", 0), 0);
    assert_int_equal(db_tx_commit(db), GW_E_STATE);
    assert_int_equal(db_tx_rollback(db), GW_E_STATE);
    assert_int_equal(db_tx_begin(db), 0);
    assert_int_equal(db_tx_begin(db), GW_E_STATE);
    assert_true(db_tx_active(db));
    fill_device(&d, 3);
    assert_int_equal(db_device_upsert(db, &d), 0);
    assert_int_equal(db_tx_rollback(db), 0);
    assert_false(db_tx_active(db));
    assert_int_equal(db_device_get(db, d.imei, &d), GW_E_NOTFOUND);

    assert_int_equal(db_tx_begin(db), 0);
    assert_int_equal(db_device_upsert(db, &d), 0);
    assert_int_equal(db_tx_commit(db), 0);
    assert_int_equal(db_device_get(db, d.imei, &d), 0);
    /* Closing with an open transaction rolls it back (no leak, no abort). */
    assert_int_equal(db_tx_begin(db), 0);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrate_fresh_then_reopen, setup,
                                        teardown),
        cmocka_unit_test(memory_database),
        cmocka_unit_test_setup_teardown(wal_and_foreign_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_database_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(garbage_file_is_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(damaged_page_is_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tampered_row_is_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(readonly_connection, setup, teardown),
        cmocka_unit_test(transaction_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
