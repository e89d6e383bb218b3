/* test_web_shape.c: JSON documents, request bodies, query parameters,
 * the Prometheus text, the OpenAPI document against the route table, and
 * the embedded assets (web/shape.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw/err.h"
#include "web/route.h"
#include "web/shape.h"

#define NOW 1700000000000LL

static const struct web_shape_opts opts = {0, NOW, 600000};

static void device(struct db_device *d)
{
    memset(d, 0, sizeof *d);
    strcpy(d->imei, "860000000001239");
    d->state = DB_DEVICE_UPGRADING;
    strcpy(d->port, "/dev/ttyUSB3");
    strcpy(d->usb_hub, "1-1.2");
    d->usb_port = 3;
    strcpy(d->iccid, "89860412345678901234");
    strcpy(d->imsi, "460041234567890");
    d->rssi = 99;
    d->reg_status = -1;
    strcpy(d->sw_version, "V1.0");
    d->battery = -1;
    d->free_kib = -1;
}

static void job(struct db_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = 9;
    strcpy(j->imei, "860000000001239");
    strcpy(j->version, "V2.0");
    j->phase = DB_JOB_DOWNLOAD;
    j->bytes_durable = 1024;
    j->image_size = 4096;
    j->created_ms = NOW - 5000;
    j->started_ms = NOW - 4000;
    j->progress_ms = NOW - 1000;
}

static void test_mask(void **state)
{
    char out[32];

    (void)state;
    web_mask("860000000001239", out, sizeof out);
    assert_string_equal(out, "***********1239");
    web_mask("", out, sizeof out);
    assert_string_equal(out, "");
    web_mask("abc", out, sizeof out);
    assert_string_equal(out, "abc");
}

static void test_device_masks_identities(void **state)
{
    struct db_device d;
    struct web_shape_opts o = opts;
    json_t *v;

    (void)state;
    device(&d);
    v = web_json_device(&d, NULL, NULL, &o);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "imei")), d.imei);
    assert_string_equal(json_string_value(json_object_get(v, "iccid")),
                        "****************1234");
    assert_string_equal(json_string_value(json_object_get(v, "imsi")),
                        "***********7890");
    assert_true(json_is_null(json_object_get(v, "rssi")));
    assert_true(json_is_null(json_object_get(v, "battery")));
    assert_true(json_is_null(json_object_get(v, "job")));
    assert_int_equal(json_integer_value(json_object_get(v, "usb_port")), 3);
    assert_string_equal(json_string_value(json_object_get(v, "state")),
                        "upgrading");
    json_decref(v);
    o.personal = 1;
    v = web_json_device(&d, NULL, NULL, &o);
    assert_string_equal(json_string_value(json_object_get(v, "iccid")),
                        d.iccid);
    json_decref(v);
}

static void test_device_live_wins(void **state)
{
    struct db_device d;
    struct db_job j;
    struct web_live l;
    json_t *v, *jv, *t;

    (void)state;
    device(&d);
    job(&j);
    memset(&l, 0, sizeof l);
    strcpy(l.imei, d.imei);
    l.connected = 1;
    l.paused = 1;
    l.rssi = 17;
    l.reg_status = 5;
    l.target_reachable = 0;
    strcpy(l.phase, "downloading");
    l.bytes = 2048;
    l.image_size = 4096;
    strcpy(l.target_uri, "modbus-tcp://10.0.0.2?unit=3");
    strcpy(l.registration, "failed");
    l.reg_failures = 6;
    strcpy(l.reg_reason, "+MIPLEVENT 7 (register failed)");
    d.state = DB_DEVICE_FAULT;
    strcpy(d.fault, "registration: +MIPLEVENT 7 (register failed)");
    l.readings_ms = 1700000000000; /* the live reading wins */
    d.readings_ms = 5;
    v = web_json_device(&d, &j, &l, &opts);
    assert_int_equal(json_integer_value(json_object_get(v, "rssi")), 17);
    t = json_object_get(v, "registration");
    assert_string_equal(json_string_value(json_object_get(t, "state")),
                        "failed");
    assert_int_equal(json_integer_value(json_object_get(t, "failures")), 6);
    assert_string_equal(json_string_value(json_object_get(t, "reason")),
                        l.reg_reason);
    assert_string_equal(json_string_value(json_object_get(v, "fault")),
                        d.fault);
    assert_int_equal(json_integer_value(json_object_get(v, "readings_ms")),
                     1700000000000);
    assert_true(json_is_true(json_object_get(v, "paused")));
    jv = json_object_get(v, "job");
    assert_int_equal(json_integer_value(json_object_get(jv, "bytes")), 2048);
    assert_int_equal(json_integer_value(json_object_get(jv, "total")), 4096);
    assert_string_equal(json_string_value(json_object_get(jv, "phase")),
                        "download");
    t = json_object_get(v, "target");
    assert_string_equal(json_string_value(json_object_get(t, "source")),
                        "config");
    assert_true(json_is_false(json_object_get(t, "reachable")));
    json_decref(v);
    /* The database override wins over the config's. */
    strcpy(d.target_uri, "modbus-tcp://10.0.0.9?unit=1");
    v = web_json_device(&d, &j, &l, &opts);
    t = json_object_get(v, "target");
    assert_string_equal(json_string_value(json_object_get(t, "uri")),
                        d.target_uri);
    assert_string_equal(json_string_value(json_object_get(t, "source")), "api");
    json_decref(v);
}

static void test_overdue(void **state)
{
    struct db_job j;

    (void)state;
    job(&j);
    assert_false(web_job_overdue(&j, NOW, 600000));
    j.progress_ms = NOW - 600001;
    assert_true(web_job_overdue(&j, NOW, 600000));
    j.phase = DB_JOB_FAILED;
    assert_false(web_job_overdue(&j, NOW, 600000));
    j.phase = DB_JOB_FLASH;
    j.progress_ms = 0;
    j.started_ms = 0;
    j.created_ms = NOW - 700000;
    assert_true(web_job_overdue(&j, NOW, 600000));
}

static void test_event_detail(void **state)
{
    struct db_event e;
    json_t *v;

    (void)state;
    memset(&e, 0, sizeof e);
    e.id = 5;
    e.time_ms = NOW;
    strcpy(e.kind, "job.created");
    strcpy(e.actor, "daemon");
    strcpy(e.detail, "{\"a\":1}");
    v = web_json_event(&e);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(v, "detail"), "a")),
        1);
    assert_true(json_is_null(json_object_get(v, "imei")));
    json_decref(v);
    strcpy(e.detail, "{\"a\":1" DB_DETAIL_TRUNC_MARK);
    v = web_json_event(&e);
    assert_true(json_is_string(json_object_get(v, "detail")));
    assert_true(json_is_true(json_object_get(v, "detail_truncated")));
    json_decref(v);
    strcpy(e.detail, "bad \xff\xfe bytes");
    v = web_json_event(&e);
    assert_string_equal(json_string_value(json_object_get(v, "detail")),
                        "bad ?? bytes");
    json_decref(v);
}

static int pkg(const char *body)
{
    struct db_package p;
    char why[256] = "";
    int rc = web_body_package(body, strlen(body), &p, why, sizeof why);

    if (rc < 0)
        assert_true(why[0] != '\0');
    return rc;
}

static void test_package_body(void **state)
{
    struct db_package p;
    char why[256];
    const char *ok = "{\"version\":\"V2\",\"md5\":"
                     "\"0123456789ABCDEF0123456789abcdef\",\"size\":10,"
                     "\"notes\":\"n\"}";
    char big[2000];

    (void)state;
    assert_int_equal(web_body_package(ok, strlen(ok), &p, why, sizeof why), 0);
    assert_string_equal(p.md5, "0123456789abcdef0123456789abcdef");
    assert_int_equal(p.size, 10);
    assert_string_equal(p.notes, "n");
    assert_int_equal(pkg(""), GW_E_INVAL);
    assert_int_equal(pkg("{"), GW_E_INVAL);
    assert_int_equal(pkg("[1]"), GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":1,\"md5\":\"0123456789abcdef0123456789"
                         "abcdef\",\"size\":10}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"V\",\"md5\":\"0123\",\"size\":10}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"V\",\"md5\":\"0123456789abcdef01234"
                         "56789abcdeg\",\"size\":10}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"V\",\"md5\":\"0123456789abcdef01234"
                         "56789abcdef\",\"size\":0}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"V\",\"md5\":\"0123456789abcdef01234"
                         "56789abcdef\",\"size\":\"10\"}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"V\",\"md5\":\"0123456789abcdef01234"
                         "56789abcdef\",\"size\":10,\"x\":1}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"V\",\"version\":\"W\",\"md5\":\"0123"
                         "456789abcdef0123456789abcdef\",\"size\":10}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"0123456789012345678901234567890123"
                         "\",\"md5\":\"0123456789abcdef0123456789abcdef\","
                         "\"size\":10}"),
                     GW_E_INVAL);
    assert_int_equal(pkg("{\"version\":\"V\\n\",\"md5\":\"0123456789abcdef01"
                         "23456789abcdef\",\"size\":10}"),
                     GW_E_INVAL);
    snprintf(big, sizeof big,
             "{\"version\":\"V\",\"md5\":\"0123456789abcdef"
             "0123456789abcdef\",\"size\":10,\"notes\":\"%01100d\"}",
             1);
    assert_int_equal(pkg(big), GW_E_INVAL);
}

static int target(const char *body, char *uri)
{
    char why[256] = "";

    return web_body_target(body, strlen(body), uri, DB_URI_MAX + 1, why,
                           sizeof why);
}

static void test_target_body(void **state)
{
    char uri[DB_URI_MAX + 1];

    (void)state;
    assert_int_equal(
        target("{\"uri\":\"modbus-tcp://10.0.0.2:1502?unit=3\"}", uri), 0);
    assert_string_equal(uri, "modbus-tcp://10.0.0.2:1502?unit=3");
    assert_int_equal(target("{\"uri\":null}", uri), 0);
    assert_string_equal(uri, "");
    assert_int_equal(target("{\"uri\":\"\"}", uri), 0);
    assert_int_equal(target("{\"uri\":\"http://x\"}", uri), GW_E_INVAL);
    assert_int_equal(target("{\"uri\":5}", uri), GW_E_INVAL);
    assert_int_equal(target("{\"url\":\"modbus-tcp://h?unit=1\"}", uri),
                     GW_E_INVAL);
    assert_int_equal(target("{\"uri\":\"modbus-tcp://h?unit=1\",\"x\":1}", uri),
                     GW_E_INVAL);
    assert_int_equal(target("nope", uri), GW_E_INVAL);
}

static void test_queries(void **state)
{
    size_t l;
    int64_t id;
    char c[16];

    (void)state;
    assert_int_equal(web_query_limit(NULL, 100, 1000, &l), 0);
    assert_int_equal(l, 100);
    assert_int_equal(web_query_limit("1000", 100, 1000, &l), 0);
    assert_int_equal(l, 1000);
    assert_int_equal(web_query_limit("1001", 100, 1000, &l), GW_E_INVAL);
    assert_int_equal(web_query_limit("0", 100, 1000, &l), GW_E_INVAL);
    assert_int_equal(web_query_limit("-1", 100, 1000, &l), GW_E_INVAL);
    assert_int_equal(web_query_limit("", 100, 1000, &l), GW_E_INVAL);
    assert_int_equal(web_query_limit("1x", 100, 1000, &l), GW_E_INVAL);
    assert_int_equal(web_query_id(NULL, &id), 0);
    assert_int_equal(id, 0);
    assert_int_equal(web_query_id("77", &id), 0);
    assert_int_equal(id, 77);
    assert_int_equal(web_query_id("9007199254740993", &id), GW_E_INVAL);
    assert_int_equal(web_query_id("x", &id), GW_E_INVAL);
    assert_int_equal(web_query_imei_cursor("860000000001239", c, sizeof c), 0);
    assert_int_equal(web_query_imei_cursor("86000000000123", c, sizeof c),
                     GW_E_INVAL);
    assert_int_equal(web_query_imei_cursor("' OR 1=1 --", c, sizeof c),
                     GW_E_INVAL);
    assert_int_equal(web_device_state_parse("idle"), DB_DEVICE_IDLE);
    assert_int_equal(web_device_state_parse("IDLE"), -1);
}

static void test_tally_and_metrics(void **state)
{
    struct web_tally t;
    struct web_metrics m;
    struct db_job j;
    char buf[8192];
    size_t len;
    json_t *s;

    (void)state;
    memset(&t, 0, sizeof t);
    job(&j);
    web_tally_job(&t, &j, &opts); /* 1024 B in 3 s */
    j.phase = DB_JOB_FAILED;
    j.oma_result = 5;
    web_tally_job(&t, &j, &opts);
    j.phase = DB_JOB_FLASH;
    j.progress_ms = NOW - 700000;
    web_tally_job(&t, &j, &opts);
    assert_int_equal(t.by_phase[DB_JOB_DOWNLOAD], 1);
    assert_int_equal(t.by_phase[DB_JOB_FAILED], 1);
    assert_int_equal(t.by_result[5], 1);
    assert_int_equal(t.overdue, 1);
    assert_true(t.bytes_per_s > 341.0 && t.bytes_per_s < 342.0);

    s = web_json_summary(&t, NULL);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(s, "jobs_by_phase"), "flash")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(s, "finished_by_result"), "5")),
                     1);
    json_decref(s);

    memset(&m, 0, sizeof m);
    m.chunks_stored = 42;
    m.failures_by_result[5] = 3;
    m.answer_bounds_s[0] = 0.1;
    m.answer_bounds_s[1] = 1;
    m.answer_buckets[0] = 4;
    m.answer_buckets[1] = 6;
    m.answer_count = 7;
    m.answer_sum_s = 2.5;
    assert_int_equal(web_metrics_text(&t, &m, buf, sizeof buf, &len), 0);
    assert_int_equal(strlen(buf), len);
    assert_non_null(strstr(buf, "sotagw_jobs{phase=\"download\"} 1\n"));
    assert_non_null(strstr(buf, "sotagw_jobs_overdue 1\n"));
    assert_non_null(strstr(buf, "sotagw_chunks_stored_total 42\n"));
    assert_non_null(strstr(buf, "sotagw_failures_total{result=\"5\"} 3\n"));
    assert_non_null(strstr(buf, "# TYPE sotagw_answer_seconds histogram\n"));
    assert_non_null(
        strstr(buf, "sotagw_answer_seconds_bucket{le=\"0.1\"} 4\n"));
    assert_non_null(
        strstr(buf, "sotagw_answer_seconds_bucket{le=\"+Inf\"} 7\n"));
    assert_non_null(strstr(buf, "sotagw_answer_seconds_count 7\n"));
    assert_int_equal(web_metrics_text(&t, &m, buf, 100, &len), GW_E_NOSPACE);
    assert_int_equal(web_metrics_text(&t, NULL, buf, sizeof buf, &len), 0);
    assert_null(strstr(buf, "sotagw_chunks_stored_total"));
    assert_non_null(strstr(buf, "sotagw_daemon_attached 0\n"));
}

/* "GET" -> "get", as OpenAPI spells methods. */
static const char *lower(enum web_method m, char *buf)
{
    const char *u = web_method_name(m);
    size_t i = 0;

    for (; u[i]; i++)
        buf[i] = (char)(u[i] - 'A' + 'a');
    buf[i] = '\0';
    return buf;
}

static void test_openapi_matches_routes(void **state)
{
    size_t n, ops = 0;
    const struct web_route *r = web_routes(&n);
    json_t *doc = web_openapi(), *paths, *item, *op;
    const char *path, *meth;

    (void)state;
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")),
                        "3.0.3");
    paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < n; i++) {
        json_t *sec;
        char buf[8];

        op = json_object_get(json_object_get(paths, r[i].pattern),
                             lower(r[i].method, buf));
        assert_non_null(op);
        assert_non_null(json_object_get(op, "responses"));
        assert_true(json_object_size(json_object_get(op, "responses")) > 0);
        sec = json_object_get(op, "security");
        if (r[i].access == WEB_ACCESS_WRITE) {
            assert_int_equal(json_array_size(sec), 1);
            assert_non_null(json_object_get(json_array_get(sec, 0), "bearer"));
            assert_non_null(
                json_object_get(json_object_get(op, "responses"), "401"));
        }
        if (r[i].access == WEB_ACCESS_PUBLIC)
            assert_int_equal(json_array_size(sec), 0);
    }
    json_object_foreach(paths, path, item)
    {
        json_object_foreach(item, meth, op)
        {
            int known = 0;

            for (size_t i = 0; i < n; i++) {
                char buf[8];

                if (strcmp(r[i].pattern, path) == 0 &&
                    strcmp(lower(r[i].method, buf), meth) == 0)
                    known++;
            }
            assert_int_equal(known, 1);
            ops++;
        }
    }
    assert_int_equal(ops, n);
    /* Every component schema is present (json_pack returned non-NULL). */
    {
        static const char *names[] = {"Error",  "Job",     "Device",
                                      "Event",  "Package", "PackageNew",
                                      "Target", "Summary", "Health"};
        json_t *sch =
            json_object_get(json_object_get(doc, "components"), "schemas");

        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            assert_true(json_is_object(json_object_get(sch, names[i])));
    }
    json_decref(doc);
}

static void test_assets(void **state)
{
    const struct web_asset *a;
    size_t n;

    (void)state;
    a = web_asset_find("/");
    assert_non_null(a);
    assert_non_null(strstr(a->content_type, "text/html"));
    assert_true(a->size > 100);
    assert_non_null(web_asset_find("/index.html"));
    assert_non_null(web_asset_find("/app.js"));
    assert_non_null(web_asset_find("/style.css"));
    assert_null(web_asset_find("/../etc/passwd"));
    assert_null(web_asset_find("/nothing.js"));
    web_assets(&n);
    assert_true(n >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_device_masks_identities),
        cmocka_unit_test(test_device_live_wins),
        cmocka_unit_test(test_overdue),
        cmocka_unit_test(test_event_detail),
        cmocka_unit_test(test_package_body),
        cmocka_unit_test(test_target_body),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_tally_and_metrics),
        cmocka_unit_test(test_openapi_matches_routes),
        cmocka_unit_test(test_assets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
