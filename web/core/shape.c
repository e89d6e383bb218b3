/* shape.c: rows to JSON documents, request bodies to validated values,
 * query parameters, the summary tally and the Prometheus text. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dio/mb_uri.h"
#include "gw/compiler.h"
#include "gw/err.h"
#include "web/shape.h"

#define ID_MAX ((int64_t)1 << 53)

static const char *const phase_names[] = {
    [DB_JOB_DOWNLOAD] = "download", [DB_JOB_CHECK] = "check",
    [DB_JOB_FLASH] = "flash",       [DB_JOB_CONFIRM] = "confirm",
    [DB_JOB_DONE] = "done",         [DB_JOB_FAILED] = "failed",
};

static const char *const state_names[] = {
    [DB_DEVICE_ABSENT] = "absent",
    [DB_DEVICE_IDLE] = "idle",
    [DB_DEVICE_UPGRADING] = "upgrading",
    [DB_DEVICE_FAULT] = "fault",
};

static int phase_final(enum db_job_phase p)
{
    return p == DB_JOB_DONE || p == DB_JOB_FAILED;
}

const char *web_phase_name(enum db_job_phase p)
{
    if ((unsigned)p > DB_JOB_FAILED)
        return "unknown";
    return phase_names[p];
}

const char *web_device_state_name(enum db_device_state s)
{
    if ((unsigned)s > DB_DEVICE_FAULT)
        return "unknown";
    return state_names[s];
}

int web_device_state_parse(const char *s)
{
    for (int i = 0; i <= DB_DEVICE_FAULT; i++)
        if (strcmp(s, state_names[i]) == 0)
            return i;
    return -1;
}

void web_mask(const char *s, char *out, size_t cap)
{
    size_t n = strlen(s);

    if (cap == 0)
        return;
    if (n + 1 > cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (i + 4 < n) ? '*' : s[i];
    out[n] = '\0';
}

int web_job_overdue(const struct db_job *j, int64_t now_ms, int64_t overdue_ms)
{
    int64_t last;

    if (phase_final(j->phase))
        return 0;
    last = j->progress_ms ? j->progress_ms
                          : (j->started_ms ? j->started_ms : j->created_ms);
    return now_ms - last > overdue_ms;
}

/* json helpers: a NULL from jansson (out of memory) propagates as NULL
 * from the document builders through json_object_set_new's refusal. */
static json_t *str_or_null(const char *s)
{
    return (s && s[0]) ? json_string(s) : json_null();
}

static json_t *ms_or_null(int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *int_or_null(int v, int unknown)
{
    return v == unknown ? json_null() : json_integer(v);
}

json_t *web_json_job(const struct db_job *j, const struct web_shape_opts *o)
{
    json_t *v = json_object();

    if (!v)
        return NULL;
    json_object_set_new(v, "id", json_integer(j->id));
    json_object_set_new(v, "imei", json_string(j->imei));
    json_object_set_new(v, "package_id",
                        j->package_id > 0 ? json_integer(j->package_id)
                                          : json_null());
    json_object_set_new(v, "version", json_string(j->version));
    json_object_set_new(v, "phase", json_string(web_phase_name(j->phase)));
    json_object_set_new(v, "oma_state", json_integer(j->oma_state));
    json_object_set_new(v, "result", json_integer(j->oma_result));
    json_object_set_new(v, "bytes", json_integer(j->bytes_durable));
    json_object_set_new(v, "total",
                        j->image_size >= 0 ? json_integer(j->image_size)
                                           : json_null());
    json_object_set_new(v, "flash_acked", json_integer(j->flash_acked));
    json_object_set_new(v, "md5", str_or_null(j->md5));
    json_object_set_new(v, "attempt", json_integer(j->attempt));
    json_object_set_new(v, "retries", json_integer(j->retries));
    json_object_set_new(v, "created_ms", json_integer(j->created_ms));
    json_object_set_new(v, "started_ms", ms_or_null(j->started_ms));
    json_object_set_new(v, "progress_ms", ms_or_null(j->progress_ms));
    json_object_set_new(v, "ended_ms", ms_or_null(j->ended_ms));
    json_object_set_new(v, "reason", str_or_null(j->reason));
    json_object_set_new(
        v, "overdue",
        json_boolean(web_job_overdue(j, o->now_ms, o->overdue_ms)));
    return v;
}

json_t *web_json_device(const struct db_device *d, const struct db_job *job,
                        const struct web_live *live,
                        const struct web_shape_opts *o)
{
    json_t *v = json_object(), *target, *jv;
    char masked[DB_ICCID_MAX + 1];
    int rssi = d->rssi, reg = d->reg_status, reach = -1;

    if (!v)
        return NULL;
    if (live) {
        rssi = live->rssi;
        reg = live->reg_status;
        reach = live->target_reachable;
    }
    json_object_set_new(v, "imei", json_string(d->imei));
    web_mask(d->imei, masked, sizeof masked);
    json_object_set_new(v, "imei_masked", json_string(masked));
    if (o->personal) {
        json_object_set_new(v, "iccid", str_or_null(d->iccid));
        json_object_set_new(v, "imsi", str_or_null(d->imsi));
    } else {
        web_mask(d->iccid, masked, sizeof masked);
        json_object_set_new(v, "iccid", str_or_null(masked));
        web_mask(d->imsi, masked, sizeof masked);
        json_object_set_new(v, "imsi", str_or_null(masked));
    }
    json_object_set_new(v, "state",
                        json_string(web_device_state_name(d->state)));
    json_object_set_new(
        v, "connected",
        json_boolean(live ? live->connected : d->state != DB_DEVICE_ABSENT));
    json_object_set_new(v, "paused", json_boolean(live && live->paused));
    json_object_set_new(v, "port", str_or_null(d->port));
    json_object_set_new(v, "usb_hub", str_or_null(d->usb_hub));
    json_object_set_new(v, "usb_port", int_or_null(d->usb_port, 0));
    json_object_set_new(v, "rssi", int_or_null(rssi, 99));
    json_object_set_new(v, "reg_status", int_or_null(reg, -1));
    json_object_set_new(v, "sw_version", str_or_null(d->sw_version));
    json_object_set_new(v, "battery", int_or_null(d->battery, -1));
    json_object_set_new(v, "free_kib",
                        d->free_kib >= 0 ? json_integer(d->free_kib)
                                         : json_null());
    json_object_set_new(v, "first_seen_ms", ms_or_null(d->first_seen_ms));
    json_object_set_new(v, "last_seen_ms", ms_or_null(d->last_seen_ms));
    json_object_set_new(v, "readings_ms",
                        ms_or_null(live ? live->readings_ms : d->readings_ms));
    json_object_set_new(v, "fault", str_or_null(d->fault));
    if (live && live->registration[0]) {
        json_object_set_new(v, "registration",
                            json_pack("{s:s,s:i,s:o}", "state",
                                      live->registration, "failures",
                                      (int)live->reg_failures, "reason",
                                      str_or_null(live->reg_reason)));
    } else {
        json_object_set_new(v, "registration", json_null());
    }

    target = json_object();
    if (d->target_uri[0]) {
        json_object_set_new(target, "uri", json_string(d->target_uri));
        json_object_set_new(target, "source", json_string("api"));
    } else if (live && live->target_uri[0]) {
        json_object_set_new(target, "uri", json_string(live->target_uri));
        json_object_set_new(target, "source", json_string("config"));
    } else {
        json_object_set_new(target, "uri", json_null());
        json_object_set_new(target, "source", json_string("config"));
    }
    json_object_set_new(target, "reachable",
                        reach < 0 ? json_null() : json_boolean(reach));
    json_object_set_new(v, "target", target);

    if (job) {
        jv = web_json_job(job, o);
        if (jv && live && live->connected && live->phase[0] &&
            !phase_final(job->phase)) {
            /* The worker's view is fresher than the row. */
            json_object_set_new(jv, "live_phase", json_string(live->phase));
            if (live->bytes > (uint32_t)job->bytes_durable)
                json_object_set_new(jv, "bytes", json_integer(live->bytes));
            if (live->image_size)
                json_object_set_new(jv, "total",
                                    json_integer(live->image_size));
            if (live->flash_acked > (uint32_t)job->flash_acked)
                json_object_set_new(jv, "flash_acked",
                                    json_integer(live->flash_acked));
        }
        json_object_set_new(v, "job", jv ? jv : json_null());
    } else {
        json_object_set_new(v, "job", json_null());
    }
    return v;
}

json_t *web_json_event(const struct db_event *e)
{
    json_t *v = json_object(), *detail = NULL;
    size_t dl = strlen(e->detail), ml = strlen(DB_DETAIL_TRUNC_MARK);
    int truncated =
        dl >= ml && strcmp(e->detail + dl - ml, DB_DETAIL_TRUNC_MARK) == 0;

    if (!v)
        return NULL;
    json_object_set_new(v, "id", json_integer(e->id));
    json_object_set_new(v, "time_ms", json_integer(e->time_ms));
    json_object_set_new(v, "imei", str_or_null(e->imei));
    json_object_set_new(v, "job_id",
                        e->job_id > 0 ? json_integer(e->job_id) : json_null());
    json_object_set_new(v, "kind", json_string(e->kind));
    json_object_set_new(v, "actor", json_string(e->actor));
    if (!truncated && (e->detail[0] == '{' || e->detail[0] == '['))
        detail = json_loadb(e->detail, dl, JSON_DECODE_ANY, NULL);
    if (!detail)
        detail = json_stringn(e->detail, dl);
    if (!detail) {
        /* Not UTF-8 (a modem's bytes): keep it readable, lose nothing
         * that the database does not still hold. */
        char safe[DB_DETAIL_MAX + 1];

        for (size_t i = 0; i <= dl; i++)
            safe[i] = (e->detail[i] & 0x80) ? '?' : e->detail[i];
        detail = json_stringn(safe, dl);
    }
    json_object_set_new(v, "detail", detail ? detail : json_null());
    json_object_set_new(v, "detail_truncated", json_boolean(truncated));
    return v;
}

json_t *web_json_package(const struct db_package *p)
{
    json_t *v = json_object();

    if (!v)
        return NULL;
    json_object_set_new(v, "id", json_integer(p->id));
    json_object_set_new(v, "version", json_string(p->version));
    json_object_set_new(v, "md5", json_string(p->md5));
    json_object_set_new(v, "sha256", str_or_null(p->sha256));
    json_object_set_new(v, "size", json_integer(p->size));
    json_object_set_new(v, "notes", json_string(p->notes));
    json_object_set_new(v, "created_ms", json_integer(p->created_ms));
    return v;
}

json_t *web_json_error(const char *code, const char *message)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                     message);
}

/* ---- request bodies ---------------------------------------------------- */

static int why_fmt(char *why, size_t cap, const char *fmt, ...) GW_PRINTF(3, 4);

static int why_fmt(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return GW_E_INVAL;
}

/* Parse a body as one JSON object; duplicate keys are refused. */
static json_t *body_object(const char *body, size_t len, char *why, size_t cap)
{
    json_error_t err;
    json_t *v;

    if (len == 0) {
        why_fmt(why, cap, "empty body: a JSON object is expected");
        return NULL;
    }
    v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        why_fmt(why, cap, "malformed JSON at line %d column %d: %s", err.line,
                err.column, err.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        why_fmt(why, cap, "a JSON object is expected");
        return NULL;
    }
    return v;
}

/* Copy a lower-cased hex digest of exactly n chars; -1 if it is not. */
static int hex_digest(const char *s, size_t n, char *out)
{
    if (strlen(s) != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        out[i] = c;
    }
    out[n] = '\0';
    return 0;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return 0;
    return 1;
}

int web_body_package(const char *body, size_t len, struct db_package *p,
                     char *why, size_t why_cap)
{
    json_t *v = body_object(body, len, why, why_cap), *x;
    const char *key;
    int rc = GW_E_INVAL;

    if (!v)
        return GW_E_INVAL;
    memset(p, 0, sizeof *p);
    json_object_foreach(v, key, x)
    {
        if (strcmp(key, "version") && strcmp(key, "md5") &&
            strcmp(key, "size") && strcmp(key, "sha256") &&
            strcmp(key, "notes")) {
            why_fmt(why, why_cap, "unknown key \"%.40s\"", key);
            goto fail;
        }
    }
    x = json_object_get(v, "version");
    if (!json_is_string(x) || json_string_length(x) == 0 ||
        json_string_length(x) > DB_VERSION_MAX ||
        !printable(json_string_value(x))) {
        why_fmt(why, why_cap,
                "version: a string of 1..%d printable ASCII "
                "characters is required",
                DB_VERSION_MAX);
        goto fail;
    }
    memcpy(p->version, json_string_value(x), json_string_length(x) + 1);
    x = json_object_get(v, "md5");
    if (!json_is_string(x) ||
        hex_digest(json_string_value(x), DB_MD5_HEX, p->md5) < 0) {
        why_fmt(why, why_cap, "md5: 32 hex digits are required");
        goto fail;
    }
    x = json_object_get(v, "size");
    if (!json_is_integer(x) || json_integer_value(x) <= 0 ||
        json_integer_value(x) > ((json_int_t)1 << 32)) {
        why_fmt(why, why_cap, "size: an integer 1..4294967296 is required");
        goto fail;
    }
    p->size = (int64_t)json_integer_value(x);
    x = json_object_get(v, "sha256");
    if (x && !json_is_null(x) &&
        (!json_is_string(x) ||
         hex_digest(json_string_value(x), DB_SHA256_HEX, p->sha256) < 0)) {
        why_fmt(why, why_cap, "sha256: 64 hex digits or null");
        goto fail;
    }
    x = json_object_get(v, "notes");
    if (x && !json_is_null(x)) {
        if (!json_is_string(x) || json_string_length(x) > DB_NOTES_MAX ||
            memchr(json_string_value(x), '\0', json_string_length(x))) {
            why_fmt(why, why_cap, "notes: a string of at most %d bytes",
                    DB_NOTES_MAX);
            goto fail;
        }
        memcpy(p->notes, json_string_value(x), json_string_length(x) + 1);
    }
    rc = 0;
fail:
    json_decref(v);
    return rc;
}

int web_body_target(const char *body, size_t len, char *uri, size_t cap,
                    char *why, size_t why_cap)
{
    json_t *v = body_object(body, len, why, why_cap), *x;
    struct mb_uri parsed;
    int rc = GW_E_INVAL;

    if (!v)
        return GW_E_INVAL;
    if (json_object_size(v) != 1 || !(x = json_object_get(v, "uri"))) {
        why_fmt(why, why_cap, "exactly one key, \"uri\", is expected");
        goto fail;
    }
    if (json_is_null(x) || (json_is_string(x) && json_string_length(x) == 0)) {
        uri[0] = '\0';
        rc = 0;
        goto fail;
    }
    if (!json_is_string(x)) {
        why_fmt(why, why_cap, "uri: a string or null is expected");
        goto fail;
    }
    if (json_string_length(x) >= cap || json_string_length(x) > DB_URI_MAX) {
        why_fmt(why, why_cap, "uri: longer than %d bytes", DB_URI_MAX);
        goto fail;
    }
    if (memchr(json_string_value(x), '\0', json_string_length(x)) ||
        mb_uri_parse(json_string_value(x), &parsed, why, why_cap) < 0) {
        if (!why[0])
            why_fmt(why, why_cap, "uri: not a Modbus target URI");
        goto fail;
    }
    memcpy(uri, json_string_value(x), json_string_length(x) + 1);
    rc = 0;
fail:
    json_decref(v);
    return rc;
}

/* ---- query parameters -------------------------------------------------- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 16)
        return GW_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return GW_E_INVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return GW_E_INVAL;
    *out = v;
    return 0;
}

int web_query_limit(const char *s, size_t def, size_t max, size_t *out)
{
    uint64_t v;

    if (!s) {
        *out = def;
        return 0;
    }
    if (parse_u64(s, max, &v) < 0 || v == 0)
        return GW_E_INVAL;
    *out = (size_t)v;
    return 0;
}

int web_query_id(const char *s, int64_t *out)
{
    uint64_t v;

    if (!s || !s[0]) {
        *out = 0;
        return 0;
    }
    if (parse_u64(s, (uint64_t)ID_MAX, &v) < 0)
        return GW_E_INVAL;
    *out = (int64_t)v;
    return 0;
}

int web_query_imei_cursor(const char *s, char *out, size_t cap)
{
    if (cap < DB_IMEI_LEN + 1)
        return GW_E_NOSPACE;
    if (!s || !s[0]) {
        out[0] = '\0';
        return 0;
    }
    if (strlen(s) != DB_IMEI_LEN)
        return GW_E_INVAL;
    for (size_t i = 0; i < DB_IMEI_LEN; i++)
        if (s[i] < '0' || s[i] > '9')
            return GW_E_INVAL;
    memcpy(out, s, DB_IMEI_LEN + 1);
    return 0;
}

/* ---- summary and metrics ----------------------------------------------- */

void web_tally_job(struct web_tally *t, const struct db_job *j,
                   const struct web_shape_opts *o)
{
    if ((unsigned)j->phase > DB_JOB_FAILED)
        return;
    t->by_phase[j->phase]++;
    if (phase_final(j->phase)) {
        t->by_result[(unsigned)j->oma_result & 0xffu]++;
        return;
    }
    if (web_job_overdue(j, o->now_ms, o->overdue_ms))
        t->overdue++;
    if (j->phase == DB_JOB_DOWNLOAD && j->started_ms > 0 &&
        j->progress_ms > j->started_ms && j->bytes_durable > 0)
        t->bytes_per_s += (double)j->bytes_durable * 1000.0 /
                          (double)(j->progress_ms - j->started_ms);
}

json_t *web_json_summary(const struct web_tally *t, const struct web_metrics *m)
{
    json_t *v = json_object(), *ph = json_object(), *res = json_object();
    json_t *dev = json_object();
    char key[8];

    if (!v || !ph || !res || !dev) {
        json_decref(v);
        json_decref(ph);
        json_decref(res);
        json_decref(dev);
        return NULL;
    }
    for (int p = 0; p <= DB_JOB_FAILED; p++)
        json_object_set_new(ph, phase_names[p],
                            json_integer((json_int_t)t->by_phase[p]));
    for (unsigned r = 0; r < 256; r++) {
        if (!t->by_result[r])
            continue;
        snprintf(key, sizeof key, "%u", r);
        json_object_set_new(res, key,
                            json_integer((json_int_t)t->by_result[r]));
    }
    for (int s = 0; s <= DB_DEVICE_FAULT; s++)
        json_object_set_new(dev, state_names[s],
                            json_integer((json_int_t)t->devices_by_state[s]));
    json_object_set_new(v, "jobs_by_phase", ph);
    json_object_set_new(v, "finished_by_result", res);
    json_object_set_new(v, "devices_by_state", dev);
    json_object_set_new(v, "overdue", json_integer((json_int_t)t->overdue));
    json_object_set_new(v, "throughput_bytes_per_s", json_real(t->bytes_per_s));
    if (m) {
        json_object_set_new(v, "chunks_stored",
                            json_integer((json_int_t)m->chunks_stored));
        json_object_set_new(v, "bytes_stored",
                            json_integer((json_int_t)m->bytes_stored));
    }
    json_object_set_new(v, "daemon_attached", json_boolean(m != NULL));
    return v;
}

struct out {
    char *buf;
    size_t cap, len;
    int full;
};

static void put(struct out *o, const char *fmt, ...) GW_PRINTF(2, 3);

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->full = 1;
        return;
    }
    o->len += (size_t)n;
}

static void counter(struct out *o, const char *name, const char *help,
                    uint64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help,
        name, name, v);
}

int web_metrics_text(const struct web_tally *t, const struct web_metrics *m,
                     char *buf, size_t cap, size_t *len)
{
    struct out o = {buf, cap, 0, cap == 0};

    put(&o, "# HELP sotagw_jobs Upgrade jobs by phase.\n"
            "# TYPE sotagw_jobs gauge\n");
    for (int p = 0; p <= DB_JOB_FAILED; p++)
        put(&o, "sotagw_jobs{phase=\"%s\"} %" PRIu64 "\n", phase_names[p],
            t->by_phase[p]);
    put(&o, "# HELP sotagw_devices Modems by state.\n"
            "# TYPE sotagw_devices gauge\n");
    for (int s = 0; s <= DB_DEVICE_FAULT; s++)
        put(&o, "sotagw_devices{state=\"%s\"} %" PRIu64 "\n", state_names[s],
            t->devices_by_state[s]);
    put(&o,
        "# HELP sotagw_jobs_overdue Unfinished jobs without progress.\n"
        "# TYPE sotagw_jobs_overdue gauge\nsotagw_jobs_overdue %" PRIu64 "\n",
        t->overdue);
    put(&o,
        "# HELP sotagw_daemon_attached 1 when live data is served.\n"
        "# TYPE sotagw_daemon_attached gauge\n"
        "sotagw_daemon_attached %d\n",
        m != NULL);
    if (m) {
        counter(&o, "sotagw_chunks_stored_total", "Chunks stored durably.",
                m->chunks_stored);
        counter(&o, "sotagw_bytes_stored_total", "Image bytes stored.",
                m->bytes_stored);
        counter(&o, "sotagw_chunks_resent_total",
                "Chunks the platform sent again.", m->chunks_resent);
        counter(&o, "sotagw_chunks_bad_total", "Chunks refused as damaged.",
                m->chunks_bad);
        counter(&o, "sotagw_resumes_total", "Downloads resumed.", m->resumes);
        counter(&o, "sotagw_restarts_total", "Downloads restarted from 0.",
                m->restarts);
        counter(&o, "sotagw_flash_blocks_total", "Modbus blocks written.",
                m->flash_blocks);
        counter(&o, "sotagw_flash_retries_total", "Modbus block retries.",
                m->flash_retries);
        counter(&o, "sotagw_group_commits_total", "Group commits.",
                m->group_commits);
        counter(&o, "sotagw_fsyncs_total", "Staging fsyncs.", m->fsyncs);
        put(&o, "# HELP sotagw_failures_total Failed jobs by OMA result.\n"
                "# TYPE sotagw_failures_total counter\n");
        for (unsigned r = 0; r < 12; r++)
            put(&o, "sotagw_failures_total{result=\"%u\"} %" PRIu64 "\n", r,
                m->failures_by_result[r]);
        put(&o,
            "# HELP sotagw_ports Serial ports by status.\n"
            "# TYPE sotagw_ports gauge\n"
            "sotagw_ports{status=\"open\"} %u\n"
            "sotagw_ports{status=\"failed\"} %u\n",
            m->ports_open, m->ports_failed);
        put(&o,
            "# HELP sotagw_modems_registration Modems by OneNET "
            "registration.\n"
            "# TYPE sotagw_modems_registration gauge\n"
            "sotagw_modems_registration{state=\"registered\"} %u\n"
            "sotagw_modems_registration{state=\"failed\"} %u\n"
            "sotagw_modems_registration{state=\"registering\"} %u\n",
            m->modems_registered, m->modems_reg_failed,
            m->ports_open - m->modems_registered - m->modems_reg_failed);
        put(&o, "# HELP sotagw_answer_seconds Time from a platform request "
                "to the gateway's answer.\n"
                "# TYPE sotagw_answer_seconds histogram\n");
        for (unsigned b = 0; b < WEB_HIST_BUCKETS; b++)
            if (m->answer_bounds_s[b] > 0)
                put(&o, "sotagw_answer_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                    m->answer_bounds_s[b], m->answer_buckets[b]);
        put(&o,
            "sotagw_answer_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
            "sotagw_answer_seconds_sum %.6f\n"
            "sotagw_answer_seconds_count %" PRIu64 "\n",
            m->answer_count, m->answer_sum_s, m->answer_count);
    }
    if (o.full)
        return GW_E_NOSPACE;
    *len = o.len;
    return 0;
}
