/* test_db_repo.c: the repository functions against a real :memory:
 * database: devices, jobs, chunk records, packages, events. */
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
#include "db/db_packages.h"
#include "db_test_util.h"
#include "gw/err.h"

#define MD5_A "0123456789abcdef0123456789abcdef"
#define MD5_B "fedcba9876543210fedcba9876543210"

static int setup(void **state)
{
    struct db *db = NULL;

    assert_int_equal(db_open(&db, ":memory:", 0), 0);
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    db_close(*state);
    return 0;
}

static void fill_device(struct db_device *d, unsigned n)
{
    memset(d, 0, sizeof *d);
    test_imei(d->imei, n);
    d->state = DB_DEVICE_IDLE;
    snprintf(d->port, sizeof d->port, "/dev/ttyUSB%u", n);
    snprintf(d->usb_hub, sizeof d->usb_hub, "1-1.%u", n % 2);
    d->usb_port = (int)(n % 7) + 1;
    snprintf(d->iccid, sizeof d->iccid, "89860000000000000%03u", n % 1000);
    snprintf(d->imsi, sizeof d->imsi, "460040000000%03u", n % 1000);
    d->rssi = 20;
    d->reg_status = 1;
    snprintf(d->sw_version, sizeof d->sw_version, "fw-1.0");
    d->battery = 80;
    d->free_kib = 512;
    d->last_seen_ms = 1000 + n;
}

static void add_device(struct db *db, unsigned n)
{
    struct db_device d;

    fill_device(&d, n);
    assert_int_equal(db_device_upsert(db, &d), 0);
}

static void fill_job(struct db_job *j, unsigned dev)
{
    memset(j, 0, sizeof *j);
    test_imei(j->imei, dev);
    snprintf(j->version, sizeof j->version, "2.0.%u", dev);
    j->image_size = 13658;
    snprintf(j->md5, sizeof j->md5, MD5_A);
    snprintf(j->staging_file, sizeof j->staging_file, "job-%u.img", dev);
    j->attempt = 1;
    j->created_ms = 5000;
}

/* ---- devices ----------------------------------------------------------- */

static void device_upsert_get(void **state)
{
    struct db *db = *state;
    struct db_device d;
    struct db_device g;

    fill_device(&d, 1);
    assert_int_equal(db_device_get(db, d.imei, &g), GW_E_NOTFOUND);
    assert_int_equal(db_device_upsert(db, &d), 0);
    assert_int_equal(db_device_get(db, d.imei, &g), 0);
    assert_string_equal(g.port, d.port);
    assert_string_equal(g.usb_hub, d.usb_hub);
    assert_int_equal(g.usb_port, d.usb_port);
    assert_string_equal(g.iccid, d.iccid);
    assert_string_equal(g.imsi, d.imsi);
    assert_int_equal(g.state, DB_DEVICE_IDLE);
    assert_int_equal(g.battery, 80);
    assert_int_equal(g.free_kib, 512);
    assert_int_equal(g.first_seen_ms, d.last_seen_ms);
    assert_string_equal(g.target_uri, "");

    /* The API's target survives the worker's next upsert; the modem comes
     * back on another port and keeps its row; first_seen stays. */
    assert_int_equal(
        db_device_set_target(db, d.imei, "modbus-tcp://10.0.0.5:502?unit=3"),
        0);
    snprintf(d.port, sizeof d.port, "/dev/ttyUSB9");
    d.last_seen_ms = 9000;
    d.state = DB_DEVICE_UPGRADING;
    assert_int_equal(db_device_upsert(db, &d), 0);
    assert_int_equal(db_device_get(db, d.imei, &g), 0);
    assert_string_equal(g.port, "/dev/ttyUSB9");
    assert_string_equal(g.target_uri, "modbus-tcp://10.0.0.5:502?unit=3");
    assert_int_equal(g.first_seen_ms, 1001);
    assert_int_equal(g.last_seen_ms, 9000);
    assert_int_equal(g.state, DB_DEVICE_UPGRADING);
    assert_int_equal(db_device_set_target(db, d.imei, NULL), 0);
    assert_int_equal(db_device_get(db, d.imei, &g), 0);
    assert_string_equal(g.target_uri, "");
    /* a fault says why; the readings carry their time */
    assert_string_equal(g.fault, "");
    assert_int_equal(g.readings_ms, 0);
    d.state = DB_DEVICE_FAULT;
    snprintf(d.fault, sizeof d.fault, "registration: +MIPLEVENT 7");
    d.readings_ms = 8500;
    assert_int_equal(db_device_upsert(db, &d), 0);
    assert_int_equal(db_device_get(db, d.imei, &g), 0);
    assert_int_equal(g.state, DB_DEVICE_FAULT);
    assert_string_equal(g.fault, "registration: +MIPLEVENT 7");
    assert_int_equal(g.readings_ms, 8500);
}

static void device_bounds(void **state)
{
    struct db *db = *state;
    struct db_device d;
    char uri[DB_URI_MAX + 2];

    fill_device(&d, 2);
    snprintf(d.imei, sizeof d.imei, "86000000000000X");
    assert_int_equal(db_device_upsert(db, &d), GW_E_INVAL);
    fill_device(&d, 2);
    memset(d.port, 'p', sizeof d.port); /* unterminated */
    assert_int_equal(db_device_upsert(db, &d), GW_E_TOOLONG);
    fill_device(&d, 2);
    d.rssi = 100;
    assert_int_equal(db_device_upsert(db, &d), GW_E_RANGE);
    fill_device(&d, 2);
    d.battery = 101;
    assert_int_equal(db_device_upsert(db, &d), GW_E_RANGE);
    fill_device(&d, 2);
    memset(d.fault, 'f', sizeof d.fault); /* unterminated */
    assert_int_equal(db_device_upsert(db, &d), GW_E_TOOLONG);
    fill_device(&d, 2);
    d.readings_ms = -1;
    assert_int_equal(db_device_upsert(db, &d), GW_E_RANGE);
    fill_device(&d, 2);
    d.state = (enum db_device_state)42;
    assert_int_equal(db_device_upsert(db, &d), GW_E_RANGE);
    fill_device(&d, 2);
    assert_int_equal(db_device_set_target(db, d.imei, "x"), GW_E_NOTFOUND);
    assert_int_equal(db_device_upsert(db, &d), 0);
    memset(uri, 'u', sizeof uri - 1);
    uri[sizeof uri - 1] = '\0';
    assert_int_equal(db_device_set_target(db, d.imei, uri), GW_E_TOOLONG);
    uri[DB_URI_MAX] = '\0';
    assert_int_equal(db_device_set_target(db, d.imei, uri), 0);
}

static void device_list_cursor_and_filters(void **state)
{
    struct db *db = *state;
    struct db_device page[4];
    struct db_device_filter f = {.state = -1, .usb_hub = NULL};
    char seen[64][16];
    size_t nseen = 0;
    size_t n;
    char after[16] = "";

    for (unsigned i = 10; i < 20; i++)
        add_device(db, i);
    /* Page through all ten, inserting while paging: a device that sorts
     * before the cursor is not seen (no repeats), one after it is. */
    for (int round = 0; round < 10; round++) {
        assert_int_equal(db_device_list(db, &f, after, page, 4, &n), 0);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (nseen > 0)
                assert_true(strcmp(page[i].imei, seen[nseen - 1]) > 0);
            snprintf(seen[nseen++], 16, "%s", page[i].imei);
        }
        snprintf(after, sizeof after, "%s", page[n - 1].imei);
        if (round == 0) {
            add_device(db, 5);  /* before the cursor */
            add_device(db, 30); /* after it */
        }
    }
    assert_int_equal(nseen, 11);
    assert_string_equal(seen[10], "860000000000030");

    /* Filters: hub "1-1.1" has the odd numbers 11..19 (5 of them). */
    f.usb_hub = "1-1.1";
    assert_int_equal(db_device_list(db, &f, NULL, page, 4, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(page[i].usb_hub, "1-1.1");
    f.usb_hub = NULL;
    f.state = DB_DEVICE_FAULT;
    assert_int_equal(db_device_list(db, &f, NULL, page, 4, &n), 0);
    assert_int_equal(n, 0);
    f.state = 17;
    assert_int_equal(db_device_list(db, &f, NULL, page, 4, &n), GW_E_RANGE);
    assert_int_equal(db_device_list(db, NULL, NULL, page, 0, &n), GW_E_RANGE);
}

/* ---- jobs -------------------------------------------------------------- */

static void job_lifecycle(void **state)
{
    struct db *db = *state;
    struct db_job j;
    struct db_job g;
    struct db_job second;

    add_device(db, 1);
    fill_job(&j, 1);
    assert_int_equal(db_job_create(db, &j), 0);
    assert_true(j.id > 0);
    assert_int_equal(j.phase, DB_JOB_DOWNLOAD);
    assert_int_equal(j.last_msgid, -1);
    assert_int_equal(db_job_get(db, j.id, &g), 0);
    assert_string_equal(g.version, "2.0.1");
    assert_int_equal(g.image_size, 13658);
    assert_int_equal(g.package_id, 0);
    assert_int_equal(db_job_active(db, j.imei, &g), 0);
    assert_int_equal(g.id, j.id);

    /* One unfinished job per device. */
    fill_job(&second, 1);
    assert_int_equal(db_job_create(db, &second), -EEXIST);

    assert_int_equal(db_job_progress(db, j.id, 4096, 31017, 6000), 0);
    assert_int_equal(db_job_get(db, j.id, &g), 0);
    assert_int_equal(g.bytes_durable, 4096);
    assert_int_equal(g.last_msgid, 31017);
    assert_int_equal(g.progress_ms, 6000);
    assert_int_equal(db_job_progress(db, 999, 1, 1, 1), GW_E_NOTFOUND);
    assert_int_equal(db_job_progress(db, j.id, -1, 1, 1), GW_E_RANGE);

    g.phase = DB_JOB_FLASH;
    g.flash_acked = 2048;
    g.oma_state = 2;
    snprintf(g.sha256, sizeof g.sha256, "%s%s", MD5_A, MD5_B);
    assert_int_equal(db_job_update(db, &g), 0);
    g.phase = DB_JOB_DONE;
    g.ended_ms = 7000;
    assert_int_equal(db_job_update(db, &g), 0);
    assert_int_equal(db_job_active(db, j.imei, &g), GW_E_NOTFOUND);
    assert_int_equal(db_job_get(db, j.id, &g), 0);
    assert_int_equal(g.phase, DB_JOB_DONE);
    assert_int_equal(g.flash_acked, 2048);
    assert_int_equal(g.oma_state, 2);

    /* Finished stays finished; a retry is a new job. */
    g.phase = DB_JOB_DOWNLOAD;
    assert_int_equal(db_job_update(db, &g), GW_E_STATE);
    second.attempt = 2;
    assert_int_equal(db_job_create(db, &second), 0);
    assert_true(second.id > j.id);
    g.id = 4242;
    g.phase = DB_JOB_FAILED;
    assert_int_equal(db_job_update(db, &g), GW_E_NOTFOUND);
}

static void job_bounds(void **state)
{
    struct db *db = *state;
    struct db_job j;
    struct db_job g;
    char reason[600];

    add_device(db, 2);
    fill_job(&j, 2);
    snprintf(j.version, sizeof j.version, "%s", "");
    assert_int_equal(db_job_create(db, &j), GW_E_INVAL);
    fill_job(&j, 2);
    memset(j.version, 'v', sizeof j.version);
    assert_int_equal(db_job_create(db, &j), GW_E_TOOLONG);
    fill_job(&j, 2);
    snprintf(j.md5, sizeof j.md5, "%s", "0123456789ABCDEF0123456789ABCDEF");
    assert_int_equal(db_job_create(db, &j), GW_E_INVAL);
    fill_job(&j, 2);
    j.attempt = 0;
    assert_int_equal(db_job_create(db, &j), GW_E_RANGE);
    fill_job(&j, 2);
    j.package_id = 77; /* no such package */
    assert_int_equal(db_job_create(db, &j), GW_E_NOTFOUND);
    fill_job(&j, 2);
    assert_int_equal(db_job_create(db, &j), 0);

    /* A reason that fills its field unterminated (free text, e.g. copied
     * from a modem reply) is cut at a UTF-8 boundary and marked, not
     * refused. */
    for (size_t i = 0; i + 3 <= sizeof reason; i += 3)
        memcpy(reason + i, "\xe6\x97\xa0", 3); /* U+65E0, 3 bytes */
    g = j;
    memcpy(g.reason, reason, sizeof g.reason);
    g.phase = DB_JOB_FAILED;
    assert_int_equal(db_job_update(db, &g), 0);
    assert_int_equal(db_job_get(db, j.id, &g), 0);
    assert_true(strlen(g.reason) <= DB_REASON_MAX);
    assert_true(strlen(g.reason) > DB_REASON_MAX - 8);
    assert_non_null(strstr(g.reason, "..."));
    /* The kept part is whole characters. */
    assert_int_equal((strlen(g.reason) - 3) % 3, 0);
}

static void job_list_by_device(void **state)
{
    struct db *db = *state;
    struct db_job j;
    struct db_job out[8];
    size_t n;

    add_device(db, 1);
    add_device(db, 2);
    for (int k = 0; k < 3; k++) {
        for (unsigned dev = 1; dev <= 2; dev++) {
            fill_job(&j, dev);
            j.attempt = k + 1;
            assert_int_equal(db_job_create(db, &j), 0);
            j.phase = DB_JOB_FAILED;
            assert_int_equal(db_job_update(db, &j), 0);
        }
    }
    assert_int_equal(db_job_list(db, NULL, 0, out, 8, &n), 0);
    assert_int_equal(n, 6);
    fill_job(&j, 2);
    assert_int_equal(db_job_list(db, j.imei, 0, out, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].imei, j.imei);
    assert_int_equal(out[0].attempt, 1);
    assert_int_equal(db_job_list(db, j.imei, out[1].id, out, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].attempt, 3);
}

/* ---- chunk records ----------------------------------------------------- */

static void chunk_records(void **state)
{
    struct db *db = *state;
    struct db_job j;
    struct db_chunk c;
    struct db_chunk out[16];
    size_t n;
    size_t deleted = 0;

    add_device(db, 1);
    fill_job(&j, 1);
    assert_int_equal(db_job_create(db, &j), 0);
    for (uint32_t i = 0; i < 10; i++) {
        c.job_id = j.id;
        c.index = i;
        c.offset = (int64_t)i * 1024;
        c.length = 1024;
        c.crc32 = 0xfffffff0u + i % 16; /* the top of the range round-trips */
        c.msgid = 100 + i;
        assert_int_equal(db_chunk_append(db, &c), 0);
    }
    c.index = 3;
    assert_int_equal(db_chunk_append(db, &c), -EEXIST);
    c.index = 10;
    c.length = 0;
    assert_int_equal(db_chunk_append(db, &c), GW_E_RANGE);
    c.length = DB_CHUNK_MAX + 1;
    assert_int_equal(db_chunk_append(db, &c), GW_E_RANGE);
    c.length = 10;
    c.job_id = 999;
    assert_int_equal(db_chunk_append(db, &c), GW_E_NOTFOUND);

    assert_int_equal(db_chunk_list(db, j.id, 0, out, 16, &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(out[9].offset, 9 * 1024);
    assert_int_equal(out[9].crc32, 0xfffffff9u);
    assert_int_equal(out[9].msgid, 109);
    assert_int_equal(db_chunk_list(db, j.id, 7, out, 16, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].index, 7);

    /* Cut after the last good chunk (say chunk 6 failed its CRC). */
    assert_int_equal(db_chunk_truncate(db, j.id, 6, &deleted), 0);
    assert_int_equal(deleted, 4);
    assert_int_equal(db_chunk_list(db, j.id, 0, out, 16, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(out[5].index, 5);
    assert_int_equal(db_chunk_truncate(db, j.id, 0, NULL), 0);
    assert_int_equal(db_chunk_list(db, j.id, 0, out, 16, &n), 0);
    assert_int_equal(n, 0);
}

/* ---- packages ---------------------------------------------------------- */

static void fill_package(struct db_package *p, const char *version,
                         const char *md5, int64_t size)
{
    memset(p, 0, sizeof *p);
    snprintf(p->version, sizeof p->version, "%s", version);
    snprintf(p->md5, sizeof p->md5, "%s", md5);
    p->size = size;
    snprintf(p->notes, sizeof p->notes, "release notes");
    p->created_ms = 42;
}

static void packages(void **state)
{
    struct db *db = *state;
    struct db_package a;
    struct db_package b;
    struct db_package g;
    struct db_package list[4];
    struct db_job j;
    size_t n;

    fill_package(&a, "2.0.1", MD5_A, 13658);
    assert_int_equal(db_package_add(db, &a), 0);
    fill_package(&b, "2.0.2", MD5_B, 20000);
    assert_int_equal(db_package_add(db, &b), 0);
    assert_true(b.id > a.id);
    fill_package(&g, "dup", MD5_A, 13658);
    assert_int_equal(db_package_add(db, &g), -EEXIST);

    assert_int_equal(db_package_find_md5(db, MD5_B, &g), 0);
    assert_int_equal(g.id, b.id);
    assert_string_equal(g.notes, "release notes");
    assert_int_equal(db_package_find(db, 13658, MD5_A, &g), 0);
    assert_int_equal(g.id, a.id);
    assert_int_equal(db_package_find(db, 13659, MD5_A, &g), GW_E_NOTFOUND);
    assert_int_equal(db_package_find_md5(db, "xyz", &g), GW_E_INVAL);
    assert_int_equal(db_package_get(db, a.id, &g), 0);
    assert_string_equal(g.version, "2.0.1");
    assert_int_equal(db_package_list(db, 0, list, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(db_package_list(db, a.id, list, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, b.id);

    /* In use by an unfinished job: refused. Finished: removed, and the job
     * keeps its version with package_id 0. */
    add_device(db, 1);
    fill_job(&j, 1);
    j.package_id = a.id;
    assert_int_equal(db_job_create(db, &j), 0);
    assert_int_equal(db_package_remove(db, a.id), GW_E_STATE);
    j.phase = DB_JOB_DONE;
    assert_int_equal(db_job_update(db, &j), 0);
    assert_int_equal(db_package_remove(db, a.id), 0);
    assert_int_equal(db_package_remove(db, a.id), GW_E_NOTFOUND);
    assert_int_equal(db_job_get(db, j.id, &j), 0);
    assert_int_equal(j.package_id, 0);
    assert_string_equal(j.version, "2.0.1");
}

static void package_bounds(void **state)
{
    struct db *db = *state;
    struct db_package p;

    fill_package(&p, "", MD5_A, 1);
    assert_int_equal(db_package_add(db, &p), GW_E_INVAL);
    fill_package(&p, "1.0\n", MD5_A, 1);
    assert_int_equal(db_package_add(db, &p), GW_E_INVAL);
    fill_package(&p, "1.0", MD5_A, 1);
    memset(p.version, '9', sizeof p.version);
    assert_int_equal(db_package_add(db, &p), GW_E_TOOLONG);
    fill_package(&p, "1.0", "0123456789ABCDEF0123456789ABCDEF", 1);
    assert_int_equal(db_package_add(db, &p), GW_E_INVAL);
    fill_package(&p, "1.0", MD5_A, 1);
    snprintf(p.sha256, sizeof p.sha256, "abc");
    assert_int_equal(db_package_add(db, &p), GW_E_INVAL);
    fill_package(&p, "1.0", MD5_A, 0);
    assert_int_equal(db_package_add(db, &p), GW_E_RANGE);
    fill_package(&p, "1.0", MD5_A, 1);
    memset(p.notes, 'n', sizeof p.notes);
    assert_int_equal(db_package_add(db, &p), GW_E_TOOLONG);
    p.notes[DB_NOTES_MAX] = '\0'; /* exactly the limit is fine */
    assert_int_equal(db_package_add(db, &p), 0);
}

/* ---- events ------------------------------------------------------------ */

static void events(void **state)
{
    struct db *db = *state;
    static struct db_event out[8];
    static char detail[DB_DETAIL_MAX * 2];
    char imei[16];
    int64_t id1 = 0;
    int64_t id2 = 0;
    size_t n;

    test_imei(imei, 1);
    assert_int_equal(db_event_append(db, 100, NULL, 0, "daemon.start", "daemon",
                                     "{\"version\":\"0.1.0\"}", &id1),
                     0);
    assert_int_equal(db_event_append(db, 101, imei, 7, "job.created",
                                     "api:ops1", NULL, &id2),
                     0);
    assert_true(id2 > id1);
    assert_int_equal(db_event_list(db, NULL, 0, out, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].imei, "");
    assert_int_equal(out[0].job_id, 0);
    assert_string_equal(out[0].detail, "{\"version\":\"0.1.0\"}");
    assert_string_equal(out[1].actor, "api:ops1");
    assert_int_equal(out[1].job_id, 7);
    assert_int_equal(db_event_list(db, NULL, id1, out, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, id2);
    assert_int_equal(db_event_list(db, imei, 0, out, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(db_event_list(db, NULL, id2, out, 8, &n), 0);
    assert_int_equal(n, 0);

    /* Identifiers are refused, free text is cut and marked. */
    assert_int_equal(db_event_append(db, 1, NULL, 0, "", "daemon", NULL, NULL),
                     GW_E_INVAL);
    assert_int_equal(db_event_append(db, 1, NULL, 0,
                                     "a-kind-name-that-is-much-too-long!",
                                     "daemon", NULL, NULL),
                     GW_E_TOOLONG);
    assert_int_equal(
        db_event_append(db, 1, "123", 0, "k", "daemon", NULL, NULL),
        GW_E_INVAL);
    assert_int_equal(
        db_event_append(db, -1, NULL, 0, "k", "daemon", NULL, NULL),
        GW_E_RANGE);
    memset(detail, 'd', sizeof detail - 1);
    assert_int_equal(
        db_event_append(db, 102, NULL, 0, "big", "daemon", detail, &id1), 0);
    assert_int_equal(db_event_list(db, NULL, id2, out, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(out[0].detail), DB_DETAIL_MAX);
    assert_string_equal(out[0].detail + DB_DETAIL_MAX -
                            strlen(DB_DETAIL_TRUNC_MARK),
                        DB_DETAIL_TRUNC_MARK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(device_upsert_get, setup, teardown),
        cmocka_unit_test_setup_teardown(device_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(device_list_cursor_and_filters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(job_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(job_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(job_list_by_device, setup, teardown),
        cmocka_unit_test_setup_teardown(chunk_records, setup, teardown),
        cmocka_unit_test_setup_teardown(packages, setup, teardown),
        cmocka_unit_test_setup_teardown(package_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(events, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
