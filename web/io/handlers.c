/* handlers.c: one function per route. Each reads the query and body
 * through the pure core's validators, does its database calls on a pooled
 * connection, and leaves a status and a document in the answer. Statuses
 * come from web_status_of() (web/route.h), never from the handler. */
#define GW_LOG_TAG "web"

#include "handlers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "gw/err.h"
#include "gw/imei.h"
#include "gw/log.h"
#include "doc.h"
#include "stream.h"
#include "web_io.h"

#define TALLY_PAGE 256

static const char *arg(struct web_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* personal=1 shows ICCID and IMSI in clear, only to a token holder. */
static int personal_arg(struct web_req *r, struct web_answer *a, int *out)
{
    const char *p = arg(r, "personal");

    *out = 0;
    if (!p || strcmp(p, "0") == 0)
        return 0;
    if (strcmp(p, "1") != 0) {
        web__answer_error(a, 400, "bad_query", "personal: 0 or 1");
        return -1;
    }
    if (!r->authed) {
        web__answer_error(a, 401, "unauthorized",
                          "personal=1 needs the bearer token");
        return -1;
    }
    *out = 1;
    return 0;
}

static json_t *page(json_t *items, json_t *next)
{
    return json_pack("{s:o,s:o}", "items", items, "next", next);
}

static int live_one(struct web_server *s, const char *imei,
                    struct web_live *out)
{
    if (!s->ops || !s->ops->live_get)
        return GW_E_NOTFOUND;
    return s->ops->live_get(s->ops_ctx, imei, out);
}

/* ---- devices ----------------------------------------------------------- */

/* The phase a device document shows: its job's, or "idle" without one. */
static const char *doc_phase(json_t *doc)
{
    const char *p = json_string_value(
        json_object_get(json_object_get(doc, "job"), "phase"));

    return p ? p : "idle";
}

static int phase_name_ok(const char *p)
{
    if (strcmp(p, "idle") == 0)
        return 1;
    for (int i = DB_JOB_DOWNLOAD; i <= DB_JOB_FAILED; i++)
        if (strcmp(p, web_phase_name((enum db_job_phase)i)) == 0)
            return 1;
    return 0;
}

static void h_devices(struct web_req *r, struct db *db, struct web_answer *a)
{
    struct web_server *s = r->srv;
    struct db_device_filter f = {-1, NULL};
    struct db_device *devs = NULL;
    struct web_live *live = NULL;
    size_t limit, n, nlive = 0;
    char cursor[DB_IMEI_LEN + 1], last[DB_IMEI_LEN + 1] = "";
    const char *state = arg(r, "state"), *hub = arg(r, "hub");
    const char *phase = arg(r, "phase");
    json_t *items = NULL;
    int personal, rc, more = 0;

    if (personal_arg(r, a, &personal) < 0)
        return;
    if (web_query_limit(arg(r, "limit"), 100, WEB_PAGE_MAX, &limit) < 0 ||
        web_query_imei_cursor(arg(r, "cursor"), cursor, sizeof cursor) < 0) {
        web__answer_error(a, 400, "bad_query",
                          "limit: 1..%d; cursor: the previous next",
                          WEB_PAGE_MAX);
        return;
    }
    if (state && (f.state = web_device_state_parse(state)) < 0) {
        web__answer_error(a, 400, "bad_query",
                          "state: absent, idle, upgrading or fault");
        return;
    }
    if (phase && !phase_name_ok(phase)) {
        web__answer_error(a, 400, "bad_query",
                          "phase: download, check, flash, confirm, done, "
                          "failed or idle (no job)");
        return;
    }
    if (hub) {
        if (strlen(hub) > DB_HUB_MAX) {
            web__answer_error(a, 400, "bad_query", "hub: too long");
            return;
        }
        f.usb_hub = hub;
    }
    devs = calloc(limit + 1, sizeof *devs);
    items = json_array();
    if (!devs || !items)
        goto oom;
    if (s->ops && s->ops->live_list) {
        live = calloc(WEB_LIVE_MAX, sizeof *live);
        if (!live)
            goto oom;
        if (s->ops->live_list(s->ops_ctx, live, WEB_LIVE_MAX, &nlive) < 0)
            nlive = 0;
        qsort(live, nlive, sizeof *live, web__live_cmp);
    }
    /* Scan from the cursor until the page is full and one more match is
     * seen (then there is a next page) or the devices end. Without a
     * phase filter every device matches and one read of limit + 1 rows
     * decides; with one, the scan may read further (O(devices)). */
    for (;;) {
        rc = db_device_list(db, &f, cursor, devs, limit + 1, &n);
        if (rc < 0) {
            web__answer_rc(a, rc, "devices");
            goto done;
        }
        for (size_t i = 0; i < n && !more; i++) {
            struct web_live key, *lv = NULL;
            json_t *doc;

            if (nlive) {
                memcpy(key.imei, devs[i].imei, sizeof key.imei);
                lv = bsearch(&key, live, nlive, sizeof *live, web__live_cmp);
            }
            rc = web__device_doc(s, db, &devs[i], lv, personal, &doc);
            if (rc < 0) {
                web__answer_rc(a, rc, "devices");
                goto done;
            }
            if (phase && strcmp(phase, doc_phase(doc)) != 0) {
                json_decref(doc);
                continue;
            }
            if (json_array_size(items) == limit) {
                json_decref(doc);
                more = 1;
                break;
            }
            json_array_append_new(items, doc);
            memcpy(last, devs[i].imei, sizeof last);
        }
        if (more || n < limit + 1)
            break;
        memcpy(cursor, devs[n - 1].imei, sizeof cursor);
    }
    a->json = page(items, more ? json_string(last) : json_null());
    items = NULL;
    goto done;
oom:
    web__answer_error(a, 500, "internal", "out of memory");
done:
    json_decref(items);
    free(devs);
    free(live);
}

/* The device row, or a 404 answer. */
static int device_row(struct web_req *r, struct db *db, struct web_answer *a,
                      struct db_device *d)
{
    int rc = db_device_get(db, r->m->imei, d);

    if (rc == GW_E_NOTFOUND)
        web__answer_error(a, 404, "not_found", "no such device");
    else if (rc < 0)
        web__answer_rc(a, rc, "device");
    return rc;
}

static void answer_device(struct web_req *r, struct db *db,
                          struct web_answer *a, int personal)
{
    struct db_device d;
    struct web_live live;
    int rc;

    if (device_row(r, db, a, &d) < 0)
        return;
    rc = live_one(r->srv, d.imei, &live);
    rc = web__device_doc(r->srv, db, &d, rc == 0 ? &live : NULL, personal,
                         &a->json);
    if (rc < 0)
        web__answer_rc(a, rc, "device");
}

static void h_device(struct web_req *r, struct db *db, struct web_answer *a)
{
    int personal;

    if (personal_arg(r, a, &personal) < 0)
        return;
    answer_device(r, db, a, personal);
}

static void events_page(struct web_req *r, struct db *db, struct web_answer *a,
                        const char *imei)
{
    struct db_event *ev = NULL;
    size_t limit, n;
    int64_t since;
    json_t *items = json_array();
    int rc;

    if (web_query_limit(arg(r, "limit"), 100, WEB_PAGE_MAX, &limit) < 0 ||
        web_query_id(arg(r, "since"), &since) < 0) {
        web__answer_error(a, 400, "bad_query",
                          "limit: 1..%d; since: an event id", WEB_PAGE_MAX);
        goto done;
    }
    if (!imei && arg(r, "tail")) {
        /* The last N events: from the newest id back N. */
        size_t tail;
        int64_t lo;

        if (web_query_limit(arg(r, "tail"), 100, WEB_PAGE_MAX, &tail) < 0) {
            web__answer_error(a, 400, "bad_query", "tail: 1..%d", WEB_PAGE_MAX);
            goto done;
        }
        if ((rc = web__newest_event(db, &lo)) < 0) {
            web__answer_rc(a, rc, "events");
            goto done;
        }
        since = lo > (int64_t)tail ? lo - (int64_t)tail : 0;
        limit = tail;
    }
    ev = calloc(limit, sizeof *ev);
    if (!ev || !items) {
        web__answer_error(a, 500, "internal", "out of memory");
        goto done;
    }
    rc = db_event_list(db, imei, since, ev, limit, &n);
    if (rc < 0) {
        web__answer_rc(a, rc, "events");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, web_json_event(&ev[i]));
    /* An event cursor is never "done": the trail grows. next is the
     * cursor to resume from, the same when nothing was new. */
    a->json = json_pack("{s:o,s:I}", "items", items, "next",
                        (json_int_t)(n ? ev[n - 1].id : since));
    items = NULL;
done:
    json_decref(items);
    free(ev);
}

static void h_device_events(struct web_req *r, struct db *db,
                            struct web_answer *a)
{
    struct db_device d;

    if (device_row(r, db, a, &d) < 0)
        return;
    events_page(r, db, a, d.imei);
}

/* Append an audit event through the writer; failures are logged. */
static void audit(struct web_server *s, const char *imei, const char *kind,
                  json_t *detail)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    int rc;

    pthread_mutex_lock(&s->writer_lock);
    rc = db_event_append(s->writer, web__wall_ms(), imei, 0, kind, s->actor,
                         text, NULL);
    pthread_mutex_unlock(&s->writer_lock);
    if (rc < 0)
        GW_LOG(GW_LOG_ERR, NULL, "audit %s not recorded: %s", kind,
               gw_strerror(rc));
    free(text);
    json_decref(detail);
}

static void h_device_target(struct web_req *r, struct db *db,
                            struct web_answer *a)
{
    struct web_server *s = r->srv;
    char uri[DB_URI_MAX + 1], why[256] = "", masked[16];
    struct db_device d;
    int rc;

    if (web_body_target(r->body, r->body_len, uri, sizeof uri, why,
                        sizeof why) < 0) {
        web__answer_error(a, 400, "bad_body", "%s", why);
        return;
    }
    if (device_row(r, db, a, &d) < 0)
        return;
    pthread_mutex_lock(&s->writer_lock);
    rc = db_device_set_target(s->writer, d.imei, uri);
    pthread_mutex_unlock(&s->writer_lock);
    if (rc < 0) {
        web__answer_rc(a, rc, "target");
        return;
    }
    web_mask(d.imei, masked, sizeof masked);
    GW_LOG(GW_LOG_INFO, masked, "target %s -> %s by %s",
           d.target_uri[0] ? d.target_uri : "(config)",
           uri[0] ? uri : "(config)", s->actor);
    audit(s, d.imei, "device.target",
          json_pack("{s:s?,s:s?}", "old", d.target_uri[0] ? d.target_uri : NULL,
                    "new", uri[0] ? uri : NULL));
    if (s->ops && s->ops->target_changed)
        s->ops->target_changed(s->ops_ctx, d.imei);
    answer_device(r, db, a, 0);
}

static void h_device_action(struct web_req *r, struct db *db,
                            struct web_answer *a, enum web_action act,
                            const char *name)
{
    struct web_server *s = r->srv;
    struct db_device d;
    char why[256] = "", kind[32], masked[16];
    int rc;

    if (device_row(r, db, a, &d) < 0)
        return;
    snprintf(kind, sizeof kind, "action.%s", name);
    web_mask(d.imei, masked, sizeof masked);
    if (!s->ops || !s->ops->action) {
        web__answer_error(a, 503, "daemon_not_attached",
                          "%s needs the running daemon", name);
        return;
    }
    rc = s->ops->action(s->ops_ctx, d.imei, act, s->actor, why, sizeof why);
    GW_LOG(GW_LOG_INFO, masked, "%s by %s: %s%s%s", name, s->actor,
           rc == 0 ? "done" : gw_strerror(rc), why[0] ? ", " : "", why);
    audit(s, d.imei, kind,
          json_pack("{s:s,s:s}", "outcome",
                    rc == 0 ? "done" : web_status_of(rc).code, "why", why));
    if (rc < 0) {
        struct web_status st = web_status_of(rc);

        web__answer_error(a, st.http, st.code, "%s: %s", name,
                          why[0] ? why : gw_strerror(rc));
        return;
    }
    answer_device(r, db, a, 0);
}

/* ---- jobs -------------------------------------------------------------- */

static void h_jobs(struct web_req *r, struct db *db, struct web_answer *a)
{
    const char *imei = arg(r, "imei");
    struct db_job *jobs = NULL;
    struct web_shape_opts o;
    size_t limit, n;
    int64_t cursor;
    json_t *items = json_array();
    int rc;

    if (web_query_limit(arg(r, "limit"), 100, WEB_PAGE_MAX, &limit) < 0 ||
        web_query_id(arg(r, "cursor"), &cursor) < 0 ||
        (imei && !gw_imei_valid(imei))) {
        web__answer_error(a, 400, "bad_query",
                          "limit: 1..%d; cursor: a job id; imei: 15 digits",
                          WEB_PAGE_MAX);
        goto done;
    }
    jobs = calloc(limit + 1, sizeof *jobs);
    if (!jobs || !items) {
        web__answer_error(a, 500, "internal", "out of memory");
        goto done;
    }
    rc = db_job_list(db, imei, cursor, jobs, limit + 1, &n);
    if (rc < 0) {
        web__answer_rc(a, rc, "jobs");
        goto done;
    }
    web__shape_opts(r->srv, 0, &o);
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(items, web_json_job(&jobs[i], &o));
    a->json = page(
        items, n > limit ? json_sprintf("%lld", (long long)jobs[limit - 1].id)
                         : json_null());
    items = NULL;
done:
    json_decref(items);
    free(jobs);
}

static void h_job(struct web_req *r, struct db *db, struct web_answer *a)
{
    struct db_job j;
    struct web_shape_opts o;
    int rc = db_job_get(db, r->m->id, &j);

    if (rc == GW_E_NOTFOUND) {
        web__answer_error(a, 404, "not_found", "no such job");
        return;
    }
    if (rc < 0) {
        web__answer_rc(a, rc, "job");
        return;
    }
    web__shape_opts(r->srv, 0, &o);
    a->json = web_json_job(&j, &o);
}

/* ---- summary and metrics ----------------------------------------------- */

static int tally(struct web_server *s, struct db *db, struct web_tally *t)
{
    struct db_job *jobs = calloc(TALLY_PAGE, sizeof *jobs);
    struct db_device *devs = calloc(TALLY_PAGE, sizeof *devs);
    struct web_shape_opts o;
    char after[DB_IMEI_LEN + 1] = "";
    int64_t jafter = 0;
    size_t n;
    int rc = -ENOMEM;

    memset(t, 0, sizeof *t);
    if (!jobs || !devs)
        goto fail;
    web__shape_opts(s, 0, &o);
    do {
        rc = db_job_list(db, NULL, jafter, jobs, TALLY_PAGE, &n);
        if (rc < 0)
            goto fail;
        for (size_t i = 0; i < n; i++)
            web_tally_job(t, &jobs[i], &o);
        if (n)
            jafter = jobs[n - 1].id;
    } while (n == TALLY_PAGE);
    do {
        rc = db_device_list(db, NULL, after, devs, TALLY_PAGE, &n);
        if (rc < 0)
            goto fail;
        for (size_t i = 0; i < n; i++)
            if ((unsigned)devs[i].state <= DB_DEVICE_FAULT)
                t->devices_by_state[devs[i].state]++;
        if (n)
            memcpy(after, devs[n - 1].imei, sizeof after);
    } while (n == TALLY_PAGE);
    rc = 0;
fail:
    free(jobs);
    free(devs);
    return rc;
}

static int metrics(struct web_server *s, struct web_metrics *m)
{
    memset(m, 0, sizeof *m);
    if (!s->ops || !s->ops->metrics)
        return GW_E_NOTFOUND;
    return s->ops->metrics(s->ops_ctx, m);
}

static void h_summary(struct web_req *r, struct db *db, struct web_answer *a)
{
    struct web_tally t;
    struct web_metrics m;
    int rc = tally(r->srv, db, &t);

    if (rc < 0) {
        web__answer_rc(a, rc, "summary");
        return;
    }
    a->json = web_json_summary(&t, metrics(r->srv, &m) == 0 ? &m : NULL);
}

static void h_metrics(struct web_req *r, struct db *db, struct web_answer *a)
{
    struct web_tally t;
    struct web_metrics m;
    size_t cap = 64 * 1024, len;
    int rc = tally(r->srv, db, &t);

    if (rc < 0) {
        web__answer_rc(a, rc, "metrics");
        return;
    }
    a->text = malloc(cap);
    if (!a->text) {
        web__answer_error(a, 500, "internal", "out of memory");
        return;
    }
    rc = web_metrics_text(&t, metrics(r->srv, &m) == 0 ? &m : NULL, a->text,
                          cap, &len);
    if (rc < 0) {
        web__answer_rc(a, rc, "metrics");
        return;
    }
    a->text_len = len;
    a->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- packages ---------------------------------------------------------- */

static void h_packages(struct web_req *r, struct db *db, struct web_answer *a)
{
    struct db_package *p = NULL;
    size_t limit, n;
    int64_t cursor;
    json_t *items = json_array();
    int rc;

    if (web_query_limit(arg(r, "limit"), 100, WEB_PAGE_MAX, &limit) < 0 ||
        web_query_id(arg(r, "cursor"), &cursor) < 0) {
        web__answer_error(a, 400, "bad_query",
                          "limit: 1..%d; cursor: a package id", WEB_PAGE_MAX);
        goto done;
    }
    p = calloc(limit + 1, sizeof *p);
    if (!p || !items) {
        web__answer_error(a, 500, "internal", "out of memory");
        goto done;
    }
    rc = db_package_list(db, cursor, p, limit + 1, &n);
    if (rc < 0) {
        web__answer_rc(a, rc, "packages");
        goto done;
    }
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(items, web_json_package(&p[i]));
    a->json =
        page(items, n > limit ? json_sprintf("%lld", (long long)p[limit - 1].id)
                              : json_null());
    items = NULL;
done:
    json_decref(items);
    free(p);
}

static void h_package_add(struct web_req *r, struct web_answer *a)
{
    struct web_server *s = r->srv;
    struct db_package p;
    char why[256] = "";
    int rc;

    if (web_body_package(r->body, r->body_len, &p, why, sizeof why) < 0) {
        web__answer_error(a, 400, "bad_body", "%s", why);
        return;
    }
    p.created_ms = web__wall_ms();
    pthread_mutex_lock(&s->writer_lock);
    rc = db_package_add(s->writer, &p);
    pthread_mutex_unlock(&s->writer_lock);
    if (rc == -EEXIST) {
        web__answer_error(a, 409, "exists",
                          "a package with this size and md5 exists");
        return;
    }
    if (rc < 0) {
        web__answer_rc(a, rc, "package");
        return;
    }
    GW_LOG(GW_LOG_INFO, NULL, "package %lld (%s, %lld bytes) added by %s",
           (long long)p.id, p.version, (long long)p.size, s->actor);
    audit(s, NULL, "package.added",
          json_pack("{s:I,s:s,s:s,s:I}", "id", (json_int_t)p.id, "version",
                    p.version, "md5", p.md5, "size", (json_int_t)p.size));
    a->status = 201;
    a->json = web_json_package(&p);
}

static void h_package_delete(struct web_req *r, struct web_answer *a)
{
    struct web_server *s = r->srv;
    int rc;

    pthread_mutex_lock(&s->writer_lock);
    rc = db_package_remove(s->writer, r->m->id);
    pthread_mutex_unlock(&s->writer_lock);
    if (rc == GW_E_NOTFOUND) {
        web__answer_error(a, 404, "not_found", "no such package");
        return;
    }
    if (rc == GW_E_STATE) {
        web__answer_error(a, 409, "in_use",
                          "an unfinished job uses this package");
        return;
    }
    if (rc < 0) {
        web__answer_rc(a, rc, "package");
        return;
    }
    GW_LOG(GW_LOG_INFO, NULL, "package %lld removed by %s", (long long)r->m->id,
           s->actor);
    audit(s, NULL, "package.removed",
          json_pack("{s:I}", "id", (json_int_t)r->m->id));
    a->status = 204;
    a->text = malloc(1);
    a->text_len = 0;
}

/* ---- health and the document ------------------------------------------- */

static void h_healthz(struct web_req *r, struct db *db, struct web_answer *a)
{
    struct web_server *s = r->srv;
    struct web_metrics m;
    int version = db ? db_schema_version(db) : -1;
    int dbok = version > 0, attached = metrics(s, &m) == 0;
    json_t *ports = attached ? json_pack("{s:i,s:i}", "open", (int)m.ports_open,
                                         "failed", (int)m.ports_failed)
                             : json_null();

    a->status = dbok ? 200 : 503;
    a->json = json_pack("{s:s,s:{s:b,s:i},s:b,s:o}", "status",
                        dbok ? "ok" : "degraded", "database", "ok", dbok,
                        "schema", version, "daemon", attached, "ports", ports);
}

static void h_openapi(struct web_req *r, struct web_answer *a)
{
    a->text = malloc(r->srv->openapi_len);
    if (!a->text)
        return;
    memcpy(a->text, r->srv->openapi, r->srv->openapi_len);
    a->text_len = r->srv->openapi_len;
    a->content_type = "application/json";
}

static void h_stream(struct web_req *r, struct web_answer *a)
{
    a->resp = web__stream_response(r->srv);
    if (!a->resp)
        web__answer_error(a, 503, "busy", "too many stream clients");
}

/* ---- dispatch ---------------------------------------------------------- */

void web__handle(struct web_req *r, struct web_answer *a)
{
    struct web_server *s = r->srv;
    enum web_route_id id = r->m->route->id;
    struct db *db = NULL;

    /* Routes without the pool first. */
    switch (id) {
    case WEB_R_OPENAPI: h_openapi(r, a); return;
    case WEB_R_STREAM: h_stream(r, a); return;
    case WEB_R_PACKAGE_ADD: h_package_add(r, a); return;
    case WEB_R_PACKAGE_DELETE: h_package_delete(r, a); return;
    case WEB_R_DEVICES:
    case WEB_R_DEVICE:
    case WEB_R_DEVICE_EVENTS:
    case WEB_R_DEVICE_TARGET:
    case WEB_R_DEVICE_PAUSE:
    case WEB_R_DEVICE_RESUME:
    case WEB_R_DEVICE_CANCEL:
    case WEB_R_DEVICE_RETRY:
    case WEB_R_JOBS:
    case WEB_R_JOB:
    case WEB_R_SUMMARY:
    case WEB_R_EVENTS:
    case WEB_R_PACKAGES:
    case WEB_R_HEALTHZ:
    case WEB_R_METRICS:
    case WEB_R_COUNT: break;
    }
    db = web__reader_take(s);
    if (!db && id != WEB_R_HEALTHZ) {
        web__answer_error(a, 503, "busy", "no database connection free");
        return;
    }
    switch (id) {
    case WEB_R_DEVICES: h_devices(r, db, a); break;
    case WEB_R_DEVICE: h_device(r, db, a); break;
    case WEB_R_DEVICE_EVENTS: h_device_events(r, db, a); break;
    case WEB_R_DEVICE_TARGET: h_device_target(r, db, a); break;
    case WEB_R_DEVICE_PAUSE:
        h_device_action(r, db, a, WEB_ACTION_PAUSE, "pause");
        break;
    case WEB_R_DEVICE_RESUME:
        h_device_action(r, db, a, WEB_ACTION_RESUME, "resume");
        break;
    case WEB_R_DEVICE_CANCEL:
        h_device_action(r, db, a, WEB_ACTION_CANCEL, "cancel");
        break;
    case WEB_R_DEVICE_RETRY:
        h_device_action(r, db, a, WEB_ACTION_RETRY, "retry");
        break;
    case WEB_R_JOBS: h_jobs(r, db, a); break;
    case WEB_R_JOB: h_job(r, db, a); break;
    case WEB_R_SUMMARY: h_summary(r, db, a); break;
    case WEB_R_EVENTS: events_page(r, db, a, NULL); break;
    case WEB_R_PACKAGES: h_packages(r, db, a); break;
    case WEB_R_HEALTHZ: h_healthz(r, db, a); break;
    case WEB_R_METRICS: h_metrics(r, db, a); break;
    case WEB_R_OPENAPI:
    case WEB_R_STREAM:
    case WEB_R_PACKAGE_ADD:
    case WEB_R_PACKAGE_DELETE:
    case WEB_R_COUNT: break;
    }
    if (db)
        web__reader_give(s, db);
}
