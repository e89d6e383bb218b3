/* test_web_route.c: the route table, path matching with validated
 * parameters, the bearer parser, the access decision and the error
 * mapping (web/route.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw/err.h"
#include "web/route.h"

#define IMEI_OK      "860000000001239" /* Luhn-valid */
#define IMEI_BADLUHN "860000000001238"

/* Fill the pattern's parameters with valid values. */
static void instantiate(const char *pattern, char *out, size_t cap)
{
    size_t k = 0;

    for (const char *p = pattern; *p && k + 16 < cap; p++) {
        if (strncmp(p, "{imei}", 6) == 0) {
            k += (size_t)snprintf(out + k, cap - k, "%s", IMEI_OK);
            p += 5;
        } else if (strncmp(p, "{id}", 4) == 0) {
            k += (size_t)snprintf(out + k, cap - k, "42");
            p += 3;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
}

static void test_luhn_fixture_is_valid(void **state)
{
    struct web_match m;

    (void)state;
    assert_int_equal(web_route_match(WEB_GET, "/api/v1/devices/" IMEI_OK, &m),
                     0);
    assert_string_equal(m.imei, IMEI_OK);
}

static void test_every_route_matches_itself(void **state)
{
    size_t n;
    const struct web_route *r = web_routes(&n);

    (void)state;
    assert_int_equal(n, WEB_R_COUNT);
    for (size_t i = 0; i < n; i++) {
        char path[256];
        struct web_match m;

        assert_int_equal(r[i].id, (enum web_route_id)i);
        assert_non_null(strstr(r[i].pattern, WEB_API_PREFIX));
        instantiate(r[i].pattern, path, sizeof path);
        assert_int_equal(web_route_match(r[i].method, path, &m), 0);
        assert_ptr_equal(m.route, &r[i]);
        if (strstr(r[i].pattern, "{id}"))
            assert_int_equal(m.id, 42);
    }
}

static void test_pattern_method_pairs_unique(void **state)
{
    size_t n;
    const struct web_route *r = web_routes(&n);

    (void)state;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_false(r[i].method == r[j].method &&
                         strcmp(r[i].pattern, r[j].pattern) == 0);
}

static void test_mutating_routes_need_token(void **state)
{
    size_t n;
    const struct web_route *r = web_routes(&n);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        if (r[i].method != WEB_GET)
            assert_int_equal(r[i].access, WEB_ACCESS_WRITE);
        else
            assert_int_not_equal(r[i].access, WEB_ACCESS_WRITE);
    }
}

static void expect(enum web_method meth, const char *path, int status,
                   const char *code)
{
    struct web_match m;

    assert_int_equal(web_route_match(meth, path, &m), status);
    if (status) {
        assert_null(m.route);
        assert_string_equal(m.code, code);
        assert_non_null(m.why);
    }
}

static void test_bad_params_are_400(void **state)
{
    (void)state;
    expect(WEB_GET, "/api/v1/devices/" IMEI_BADLUHN, 400, "bad_param");
    expect(WEB_GET, "/api/v1/devices/86000000000123", 400, "bad_param");
    expect(WEB_GET, "/api/v1/devices/8600000000012320", 400, "bad_param");
    expect(WEB_GET, "/api/v1/devices/86000000000123a", 400, "bad_param");
    expect(WEB_GET, "/api/v1/devices/all/events", 400, "bad_param");
    expect(WEB_POST, "/api/v1/devices/x/pause", 400, "bad_param");
    expect(WEB_GET, "/api/v1/jobs/0", 400, "bad_param");
    expect(WEB_GET, "/api/v1/jobs/007", 400, "bad_param");
    expect(WEB_GET, "/api/v1/jobs/-1", 400, "bad_param");
    expect(WEB_GET, "/api/v1/jobs/abc", 400, "bad_param");
    expect(WEB_GET, "/api/v1/jobs/9007199254740993", 400, "bad_param");
    expect(WEB_GET, "/api/v1/jobs/99999999999999999999", 400, "bad_param");
    expect(WEB_DELETE, "/api/v1/packages/1e3", 400, "bad_param");
}

static void test_ids_at_the_bounds(void **state)
{
    struct web_match m;

    (void)state;
    assert_int_equal(web_route_match(WEB_GET, "/api/v1/jobs/1", &m), 0);
    assert_int_equal(m.id, 1);
    assert_int_equal(
        web_route_match(WEB_GET, "/api/v1/jobs/9007199254740992", &m), 0);
    assert_int_equal(m.id, (int64_t)1 << 53);
}

static void test_traversal_and_junk_are_400(void **state)
{
    char longp[WEB_PATH_MAX + 8];

    (void)state;
    expect(WEB_GET, "/api/v1/../../etc/passwd", 400, "bad_path");
    expect(WEB_GET, "/api/v1/devices/..", 400, "bad_path");
    expect(WEB_GET, "/api/v1/./devices", 400, "bad_path");
    expect(WEB_GET, "/api/v1//devices", 400, "bad_path");
    expect(WEB_GET, "/api/v1/devices/", 400, "bad_path");
    expect(WEB_GET, "/api/v1/devices/%2e%2e", 400, "bad_path");
    expect(WEB_GET, "/api/v1/devices\\..\\x", 400, "bad_path");
    expect(WEB_GET, "/api/v1/devices?x", 400, "bad_path");
    expect(WEB_GET, "api/v1/devices", 400, "bad_path");
    expect(WEB_GET, "", 400, "bad_path");
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    expect(WEB_GET, longp, 400, "bad_path");
    expect(WEB_GET, "/api/v1/a/b/c/d/e/f/g/h/i/j", 404, "not_found");
    assert_int_equal(web_path_ok("/"), 0);
    assert_int_equal(web_path_ok("/app.js"), 0);
    assert_int_equal(web_path_ok("/.."), 400);
}

static void test_unknown_and_wrong_method(void **state)
{
    (void)state;
    expect(WEB_GET, "/api/v1/nothing", 404, "not_found");
    expect(WEB_GET, "/api/v2/devices", 404, "not_found");
    expect(WEB_GET, "/api/v1/devices/" IMEI_OK "/pause", 405,
           "method_not_allowed");
    expect(WEB_DELETE, "/api/v1/devices", 405, "method_not_allowed");
    expect(WEB_PUT, "/api/v1/packages", 405, "method_not_allowed");
    expect(WEB_METHOD_OTHER, "/api/v1/summary", 405, "method_not_allowed");
    expect(WEB_GET, "/api/v1/packages/7", 405, "method_not_allowed");
    assert_int_equal(web_method_parse("HEAD"), WEB_GET);
    assert_int_equal(web_method_parse("PATCH"), WEB_METHOD_OTHER);
    assert_int_equal(web_method_parse("get"), WEB_METHOD_OTHER);
}

static void test_bearer_parse(void **state)
{
    const char *tok;
    size_t len;
    char big[200];

    (void)state;
    assert_int_equal(web_bearer_parse("Bearer abcdef", &tok, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(tok, "abcdef", 6);
    assert_int_equal(web_bearer_parse("bearer   xyz", &tok, &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(web_bearer_parse("BEARER xyz", &tok, &len), 0);
    assert_int_equal(web_bearer_parse("Bearer", &tok, &len), GW_E_INVAL);
    assert_int_equal(web_bearer_parse("Bearer ", &tok, &len), GW_E_INVAL);
    assert_int_equal(web_bearer_parse("Basic abc", &tok, &len), GW_E_INVAL);
    assert_int_equal(web_bearer_parse("Bearer a b", &tok, &len), GW_E_INVAL);
    assert_int_equal(web_bearer_parse("Bearer a\t", &tok, &len), GW_E_INVAL);
    assert_int_equal(web_bearer_parse("Bearerabc", &tok, &len), GW_E_INVAL);
    assert_int_equal(web_bearer_parse(NULL, &tok, &len), GW_E_INVAL);
    snprintf(big, sizeof big, "Bearer %0150d", 7);
    assert_int_equal(web_bearer_parse(big, &tok, &len), GW_E_INVAL);
}

static void test_access_table(void **state)
{
    static const struct {
        enum web_access access;
        int rrt;
        enum web_cred cred;
        int want;
    } cases[] = {
        {WEB_ACCESS_PUBLIC, 1, WEB_CRED_NONE, 0},
        {WEB_ACCESS_PUBLIC, 1, WEB_CRED_WRONG, 0},
        {WEB_ACCESS_READ, 0, WEB_CRED_NONE, 0},
        {WEB_ACCESS_READ, 0, WEB_CRED_WRONG, 0},
        {WEB_ACCESS_READ, 1, WEB_CRED_NONE, 401},
        {WEB_ACCESS_READ, 1, WEB_CRED_MALFORMED, 401},
        {WEB_ACCESS_READ, 1, WEB_CRED_WRONG, 403},
        {WEB_ACCESS_READ, 1, WEB_CRED_OK, 0},
        {WEB_ACCESS_WRITE, 0, WEB_CRED_NONE, 401},
        {WEB_ACCESS_WRITE, 0, WEB_CRED_MALFORMED, 401},
        {WEB_ACCESS_WRITE, 0, WEB_CRED_WRONG, 403},
        {WEB_ACCESS_WRITE, 0, WEB_CRED_OK, 0},
        {WEB_ACCESS_WRITE, 1, WEB_CRED_OK, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(
            web_access_decide(cases[i].access, cases[i].rrt, cases[i].cred),
            cases[i].want);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(web_status_of(0).http, 200);
    assert_int_equal(web_status_of(GW_E_INVAL).http, 400);
    assert_int_equal(web_status_of(GW_E_RANGE).http, 400);
    assert_int_equal(web_status_of(GW_E_TOOLONG).http, 400);
    assert_int_equal(web_status_of(GW_E_NOTFOUND).http, 404);
    assert_int_equal(web_status_of(GW_E_STATE).http, 409);
    assert_int_equal(web_status_of(-EEXIST).http, 409);
    assert_int_equal(web_status_of(-EBUSY).http, 503);
    assert_int_equal(web_status_of(-ETIMEDOUT).http, 504);
    assert_int_equal(web_status_of(GW_E_TIMEOUT).http, 504);
    assert_int_equal(web_status_of(-ENOSPC).http, 503);
    assert_int_equal(web_status_of(-EIO).http, 500);
    assert_int_equal(web_status_of(-ENOMEM).http, 500);
    assert_string_equal(web_status_of(GW_E_NOTFOUND).code, "not_found");
    assert_string_equal(web_status_of(-12345).code, "internal");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luhn_fixture_is_valid),
        cmocka_unit_test(test_every_route_matches_itself),
        cmocka_unit_test(test_pattern_method_pairs_unique),
        cmocka_unit_test(test_mutating_routes_need_token),
        cmocka_unit_test(test_bad_params_are_400),
        cmocka_unit_test(test_ids_at_the_bounds),
        cmocka_unit_test(test_traversal_and_junk_are_400),
        cmocka_unit_test(test_unknown_and_wrong_method),
        cmocka_unit_test(test_bearer_parse),
        cmocka_unit_test(test_access_table),
        cmocka_unit_test(test_status_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
