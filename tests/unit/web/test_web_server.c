/* test_web_server.c: web_server_start_config() (orchestrator/app) from a
 * parsed config, as `sotagw run` starts it: the token file is created on
 * first start, the server answers, and a token file others can read stops
 * it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"
#include "gw/err.h"
#include "orch/config.h"
#include "web_start.h"

struct fx {
    char dir[64];
    char path[160];
    struct gw_config *cfg;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct db *db = NULL;
    char text[512];
    int n;

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gw-web-server.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    n = snprintf(text, sizeof text,
                 "[gateway]\nstate_dir = %s\n"
                 "[modems]\nports = %s/ttyNONE*\n"
                 "[web]\nlisten = 127.0.0.1:8080\n"
                 "[policy]\njob_stall_timeout = 120\n",
                 f->dir, f->dir);
    assert_int_equal(
        gw_config_parse(&f->cfg, "test.ini", text, (size_t)n, NULL), 0);
    /* The daemon creates the database before it starts the server. */
    assert_int_equal(
        db_open(&db, f->cfg->gateway.db, DB_OPEN_READWRITE | DB_OPEN_NO_CHECK),
        0);
    db_close(db);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    static const char *names[] = {"token", "sotagw.db", "sotagw.db-wal",
                                  "sotagw.db-shm"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(f->path, sizeof f->path, "%s/%s", f->dir, names[i]);
        unlink(f->path);
    }
    assert_int_equal(rmdir(f->dir), 0);
    gw_config_free(f->cfg);
    free(f);
    return 0;
}

/* GET path over a plain socket; the status code of the answer. */
static int http_get(uint16_t port, const char *path)
{
    struct sockaddr_in a = {0};
    char req[256], buf[512];
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
    ssize_t got;

    assert_true(fd >= 0);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    got = read(fd, buf, sizeof buf - 1);
    assert_true(got > 12);
    buf[got] = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &status), 1);
    close(fd);
    return status;
}

static void test_first_start_creates_token_and_serves(void **state)
{
    struct fx *f = *state;
    struct web_server *s = NULL;
    struct stat sb;

    assert_int_equal(web_server_start_config(&s, f->cfg, NULL, 0, NULL, NULL),
                     0);
    assert_non_null(s);
    assert_int_not_equal(web_server_port(s), 0);
    assert_int_not_equal(web_server_port(s), 8080);
    assert_int_equal(stat(f->cfg->web.token_file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(http_get(web_server_port(s), "/api/v1/healthz"), 200);
    /* read_requires_token defaults to true. */
    assert_int_equal(http_get(web_server_port(s), "/api/v1/devices"), 401);
    assert_int_equal(http_get(web_server_port(s), "/api/v1/devices/1"), 400);
    web_server_stop(s);
}

static void test_token_readable_by_others_stops_start(void **state)
{
    struct fx *f = *state;
    struct web_server *s = NULL;
    int fd = open(f->cfg->web.token_file, O_WRONLY | O_CREAT, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "operator-token-0123456\n", 23), 23);
    assert_int_equal(fchmod(fd, 0644), 0);
    close(fd);
    assert_int_equal(web_server_start_config(&s, f->cfg, NULL, 0, NULL, NULL),
                     GW_E_CONFIG);
    assert_null(s);
    assert_int_equal(
        web_server_start_config(&s, f->cfg, NULL, 70000, NULL, NULL),
        GW_E_RANGE);
}

static void test_missing_database_is_an_error(void **state)
{
    struct fx *f = *state;
    struct web_server *s = NULL;

    snprintf(f->path, sizeof f->path, "%s/sotagw.db", f->dir);
    assert_int_equal(unlink(f->path), 0);
    assert_true(web_server_start_config(&s, f->cfg, NULL, 0, NULL, NULL) < 0);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_first_start_creates_token_and_serves, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_token_readable_by_others_stops_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_database_is_an_error,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
