/* test_db_concurrency.c: group commit and a read-only connection working
 * beside the writer (WAL), in the same thread and from another thread. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define MODEMS 5
#define CHUNKS 100 /* per modem */
#define EVENTS 200

struct fixture {
    struct tmp_dir dir;
    char path[TMP_PATH_MAX + 16];
    struct db *db;
    int64_t job[MODEMS];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    tmp_dir_make(&f->dir);
    tmp_path(&f->dir, "sotagw.db", f->path, sizeof f->path);
    assert_int_equal(db_open(&f->db, f->path, 0), 0);
    for (unsigned m = 0; m < MODEMS; m++) {
        struct db_device d = {.state = DB_DEVICE_UPGRADING,
                              .rssi = 99,
                              .reg_status = -1,
                              .battery = -1,
                              .free_kib = -1,
                              .last_seen_ms = 1};
        struct db_job j = {.image_size = CHUNKS * 512, .attempt = 1};

        test_imei(d.imei, m);
        assert_int_equal(db_device_upsert(f->db, &d), 0);
        memcpy(j.imei, d.imei, sizeof j.imei);
        snprintf(j.version, sizeof j.version, "2.0");
        assert_int_equal(db_job_create(f->db, &j), 0);
        f->job[m] = j.id;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    db_close(f->db);
    tmp_dir_remove(&f->dir);
    free(f);
    return 0;
}

static size_t count_chunks(struct db *db, int64_t job)
{
    static struct db_chunk out[CHUNKS + 1];
    size_t n = 0;

    assert_int_equal(db_chunk_list(db, job, 0, out, CHUNKS + 1, &n), 0);
    return n;
}

/* Loop turns interleave chunks of five modems; one commit covers them all.
 * A reader sees none of them before the commit and all of them after. */
static void group_commit_many_records(void **state)
{
    struct fixture *f = *state;
    struct db *ro = NULL;

    assert_int_equal(db_open(&ro, f->path, DB_OPEN_READONLY), 0);
    assert_int_equal(db_group_pending(f->db), 0);
    assert_int_equal(db_group_commit(f->db), 0); /* nothing open: no-op */

    for (uint32_t i = 0; i < CHUNKS; i++) {
        for (unsigned m = 0; m < MODEMS; m++) {
            struct db_chunk c = {.job_id = f->job[m],
                                 .index = i,
                                 .offset = (int64_t)i * 512,
                                 .length = 512,
                                 .crc32 = i * 7u + m,
                                 .msgid = i};

            assert_int_equal(db_group_begin(f->db), 0);
            assert_int_equal(db_chunk_append(f->db, &c), 0);
            assert_int_equal(db_job_progress(f->db, f->job[m],
                                             (int64_t)(i + 1) * 512, i,
                                             1000 + i),
                             0);
        }
    }
    assert_int_equal(db_group_pending(f->db), 2 * MODEMS * CHUNKS);
    for (unsigned m = 0; m < MODEMS; m++)
        assert_int_equal(count_chunks(ro, f->job[m]), 0);
    assert_int_equal(db_group_commit(f->db), 0);
    assert_int_equal(db_group_pending(f->db), 0);
    for (unsigned m = 0; m < MODEMS; m++) {
        struct db_job j;

        assert_int_equal(count_chunks(ro, f->job[m]), CHUNKS);
        assert_int_equal(db_job_get(ro, f->job[m], &j), 0);
        assert_int_equal(j.bytes_durable, CHUNKS * 512);
    }
    db_close(ro);
}

/* What a group had not committed when the process went away is gone, and
 * what it had committed is there. */
static void group_lost_without_commit(void **state)
{
    struct fixture *f = *state;
    struct db_chunk c = {.job_id = f->job[0],
                         .index = 0,
                         .offset = 0,
                         .length = 512,
                         .crc32 = 1,
                         .msgid = 1};

    assert_int_equal(db_group_begin(f->db), 0);
    assert_int_equal(db_chunk_append(f->db, &c), 0);
    assert_int_equal(db_group_commit(f->db), 0);
    assert_int_equal(db_group_begin(f->db), 0);
    c.index = 1;
    assert_int_equal(db_chunk_append(f->db, &c), 0);
    db_close(f->db);
    assert_int_equal(db_open(&f->db, f->path, 0), 0);
    assert_int_equal(count_chunks(f->db, f->job[0]), 1);
}

/* While the writer holds an open write transaction, the reader reads its
 * last committed snapshot without waiting. */
static void reader_not_blocked_by_writer(void **state)
{
    struct fixture *f = *state;
    struct db *ro = NULL;
    struct db_event ev[4];
    size_t n;

    assert_int_equal(db_open(&ro, f->path, DB_OPEN_READONLY), 0);
    assert_int_equal(
        db_event_append(f->db, 1, NULL, 0, "a", "daemon", NULL, NULL), 0);
    assert_int_equal(db_tx_begin(f->db), 0);
    assert_int_equal(
        db_event_append(f->db, 2, NULL, 0, "b", "daemon", NULL, NULL), 0);
    assert_int_equal(db_event_list(ro, NULL, 0, ev, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(db_tx_commit(f->db), 0);
    assert_int_equal(db_event_list(ro, NULL, 0, ev, 4, &n), 0);
    assert_int_equal(n, 2);
    db_close(ro);
}

struct reader {
    const char *path;
    atomic_int writer_done;
    int rc; /* first error, 0 if none */
    size_t seen;
    int in_order;
};

/* The web thread: page through events with a cursor until the writer is
 * done and nothing more comes. */
static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct db *ro = NULL;
    struct db_event *page = calloc(16, sizeof *page);
    int64_t cursor = 0;
    int last_round = 0;

    r->in_order = 1;
    r->rc = page != NULL ? db_open(&ro, r->path, DB_OPEN_READONLY) : -ENOMEM;
    while (r->rc == 0) {
        size_t n = 0;
        int done = atomic_load(&r->writer_done);

        r->rc = db_event_list(ro, NULL, cursor, page, 16, &n);
        for (size_t i = 0; i < n; i++) {
            if (page[i].id <= cursor)
                r->in_order = 0;
            cursor = page[i].id;
            r->seen++;
        }
        if (n == 0 && last_round)
            break;
        last_round = done; /* one more full pass after the writer ended */
        if (n == 0)
            sched_yield();
    }
    db_close(ro);
    free(page);
    return NULL;
}

static void reader_thread_while_writing(void **state)
{
    struct fixture *f = *state;
    struct reader r = {.path = f->path};
    pthread_t t;

    atomic_init(&r.writer_done, 0);
    assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
    for (int i = 0; i < EVENTS; i++) {
        char detail[32];

        snprintf(detail, sizeof detail, "{\"n\":%d}", i);
        assert_int_equal(db_event_append(f->db, 1000 + i, NULL, 0, "test.tick",
                                         "daemon", detail, NULL),
                         0);
    }
    atomic_store(&r.writer_done, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, 0);
    assert_true(r.in_order);
    assert_int_equal(r.seen, EVENTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(group_commit_many_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(group_lost_without_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reader_not_blocked_by_writer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reader_thread_while_writing, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
