/* db_test_util.c: see db_test_util.h. */
#include "db_test_util.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "gw/log.h"

void tmp_dir_make(struct tmp_dir *t)
{
    snprintf(t->path, sizeof t->path, "/tmp/gw-db-test.XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

void tmp_dir_remove(struct tmp_dir *t)
{
    DIR *d = opendir(t->path);
    struct dirent *e;
    char p[TMP_PATH_MAX * 2];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", t->path, e->d_name);
        assert_int_equal(unlink(p), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(t->path), 0);
}

void tmp_path(const struct tmp_dir *t, const char *name, char *dst, size_t cap)
{
    int n = snprintf(dst, cap, "%s/%s", t->path, name);

    assert_true(n > 0 && (size_t)n < cap);
}

void raw_exec(const char *path, const char *sql)
{
    sqlite3 *c = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
    if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw_exec(%s): %s", sql, msg);
    sqlite3_close(c);
}

long long raw_int(const char *path, const char *sql)
{
    sqlite3 *c = NULL;
    sqlite3_stmt *st = NULL;
    long long v;

    assert_int_equal(sqlite3_open(path, &c), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
}

/* Tests are single-threaded where they capture logs. */
static char log_last[1024];

static void capture_sink(enum gw_log_level level, const char *tag,
                         const char *obj, const char *msg, void *ctx)
{
    (void)tag;
    (void)obj;
    (void)ctx;
    if (level == GW_LOG_ERR)
        snprintf(log_last, sizeof log_last, "%s", msg);
}

void log_capture_start(void)
{
    log_last[0] = '\0';
    gw_log_set_sink(capture_sink, NULL, GW_LOG_ERR);
}

const char *log_capture_last(void)
{
    return log_last;
}

void log_capture_stop(void)
{
    gw_log_set_sink(NULL, NULL, GW_LOG_INFO);
}

void test_imei(char out[16], unsigned n)
{
    snprintf(out, 16, "86%013u", n);
}
