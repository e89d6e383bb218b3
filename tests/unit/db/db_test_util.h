/* db_test_util.h: temporary directories and raw SQLite access for the db
 * tests. */
#ifndef DB_TEST_UTIL_H
#define DB_TEST_UTIL_H

#include <stddef.h>

#define TMP_PATH_MAX 256

struct tmp_dir {
    char path[TMP_PATH_MAX];
};

/* mkdtemp under /tmp; asserts on failure (test set-up, not under test). */
void tmp_dir_make(struct tmp_dir *t);

/* Remove every file in the directory (flat) and the directory. */
void tmp_dir_remove(struct tmp_dir *t);

/* dst = dir "/" name. */
void tmp_path(const struct tmp_dir *t, const char *name, char *dst, size_t cap);

/* Run SQL on a raw connection to path (asserts success). */
void raw_exec(const char *path, const char *sql);

/* The first column of the first row of sql as an integer. */
long long raw_int(const char *path, const char *sql);

/* Log sink that keeps the last error message. */
void log_capture_start(void);
const char *log_capture_last(void);
void log_capture_stop(void);

/* A valid IMEI (15 digits) made from n. */
void test_imei(char out[16], unsigned n);

#endif
