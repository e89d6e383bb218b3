/* test_web_token.c: the API token file (web_token_load). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw/err.h"
#include "web/server.h"

struct dir {
    char path[64];
    char token[128];
};

static int setup(void **state)
{
    struct dir *d = calloc(1, sizeof *d);

    assert_non_null(d);
    snprintf(d->path, sizeof d->path, "/tmp/gw-web-token.XXXXXX");
    assert_non_null(mkdtemp(d->path));
    snprintf(d->token, sizeof d->token, "%s/token", d->path);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct dir *d = *state;
    char p[160];

    unlink(d->token);
    snprintf(p, sizeof p, "%s.tmp", d->token);
    unlink(p);
    assert_int_equal(rmdir(d->path), 0);
    free(d);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_generated_on_first_start(void **state)
{
    struct dir *d = *state;
    char tok[WEB_TOKEN_MAX + 1], again[WEB_TOKEN_MAX + 1], tmp[160];
    struct stat sb;
    int created;

    /* A half-written temporary from a power cut is not trusted. */
    snprintf(tmp, sizeof tmp, "%s.tmp", d->token);
    write_file(tmp, "abc", 0600);
    assert_int_equal(web_token_load(d->token, tok, sizeof tok, &created), 0);
    assert_int_equal(created, 1);
    assert_int_equal(strlen(tok), 64);
    assert_int_equal(strspn(tok, "0123456789abcdef"), 64);
    assert_int_equal(stat(d->token, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 65);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(web_token_load(d->token, again, sizeof again, &created),
                     0);
    assert_int_equal(created, 0);
    assert_string_equal(tok, again);
}

static void test_two_generated_tokens_differ(void **state)
{
    struct dir *d = *state;
    char a[WEB_TOKEN_MAX + 1], b[WEB_TOKEN_MAX + 1];

    assert_int_equal(web_token_load(d->token, a, sizeof a, NULL), 0);
    assert_int_equal(unlink(d->token), 0);
    assert_int_equal(web_token_load(d->token, b, sizeof b, NULL), 0);
    assert_string_not_equal(a, b);
}

static void test_operator_token(void **state)
{
    struct dir *d = *state;
    char tok[WEB_TOKEN_MAX + 1];
    int created;

    write_file(d->token, "my-operator-token-0123\n", 0600);
    assert_int_equal(web_token_load(d->token, tok, sizeof tok, &created), 0);
    assert_int_equal(created, 0);
    assert_string_equal(tok, "my-operator-token-0123");
}

static void test_refused_tokens(void **state)
{
    struct dir *d = *state;
    char tok[WEB_TOKEN_MAX + 1];

    write_file(d->token, "my-operator-token-0123\n", 0644);
    assert_int_equal(web_token_load(d->token, tok, sizeof tok, NULL),
                     GW_E_CONFIG);
    write_file(d->token, "short\n", 0600);
    assert_int_equal(web_token_load(d->token, tok, sizeof tok, NULL),
                     GW_E_CONFIG);
    write_file(d->token, "with a space inside the token\n", 0600);
    assert_int_equal(web_token_load(d->token, tok, sizeof tok, NULL),
                     GW_E_CONFIG);
    write_file(d->token, "", 0600);
    assert_int_equal(web_token_load(d->token, tok, sizeof tok, NULL),
                     GW_E_CONFIG);
}

static void test_missing_dir(void **state)
{
    char tok[WEB_TOKEN_MAX + 1];

    (void)state;
    assert_int_equal(
        web_token_load("/nonexistent-gw-dir/token", tok, sizeof tok, NULL),
        -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generated_on_first_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_two_generated_tokens_differ, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_operator_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
