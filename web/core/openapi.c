/* openapi.c: the OpenAPI 3.0 document, generated from the route table so
 * that the two cannot drift apart (the API tests also compare it with the
 * routes the server answers). */
#include <string.h>

#include "web/route.h"
#include "web/shape.h"

static json_t *ref(const char *name)
{
    char buf[96];

    snprintf(buf, sizeof buf, "#/components/schemas/%s", name);
    return json_pack("{s:s}", "$ref", buf);
}

static json_t *json_content(json_t *schema)
{
    return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

static json_t *answer(const char *desc, json_t *schema)
{
    return json_pack("{s:s,s:o}", "description", desc, "content",
                     json_content(schema));
}

static json_t *list_of(const char *name)
{
    return json_pack("{s:s,s:[s,s],s:{s:{s:s,s:o},s:{s:[s,s],s:s}}}", "type",
                     "object", "required", "items", "next", "properties",
                     "items", "type", "array", "items", ref(name), "next",
                     "type", "string", "null", "description",
                     "cursor of the next page; null on the last one");
}

static json_t *query(const char *name, const char *type, const char *desc)
{
    return json_pack("{s:s,s:s,s:{s:s},s:s}", "name", name, "in", "query",
                     "schema", "type", type, "description", desc);
}

static json_t *path_param(const char *name)
{
    if (strcmp(name, "imei") == 0)
        return json_pack("{s:s,s:s,s:b,s:{s:s,s:s},s:s}", "name", "imei", "in",
                         "path", "required", 1, "schema", "type", "string",
                         "pattern", "^[0-9]{15}$", "description",
                         "15 digits with a Luhn check digit; anything else "
                         "is 400 and never looked up");
    return json_pack("{s:s,s:s,s:b,s:{s:s,s:i,s:I},s:s}", "name", "id", "in",
                     "path", "required", 1, "schema", "type", "integer",
                     "minimum", 1, "maximum", (json_int_t)1 << 53,
                     "description", "decimal, no leading zero");
}

static json_t *schemas(void)
{
    json_t *s = json_object();
    json_t *nstr = json_pack("{s:[s,s]}", "type", "string", "null");
    json_t *nint = json_pack("{s:[s,s]}", "type", "integer", "null");

    json_object_set_new(
        s, "Error",
        json_pack("{s:s,s:[s],s:{s:{s:s,s:[s,s],s:{s:{s:s},s:{s:s}}}}}", "type",
                  "object", "required", "error", "properties", "error", "type",
                  "object", "required", "code", "message", "properties", "code",
                  "type", "string", "message", "type", "string"));
    json_object_set_new(
        s, "Job",
        json_pack(
            "{s:s,s:[s,s,s,s,s,s],s:{s:{s:s},s:{s:s},s:{s:s,s:[s,s,s,s,s,s]},"
            "s:{s:s},s:O,s:O,s:{s:s},s:O,s:O,s:O,s:{s:s},s:{s:s}}}",
            "type", "object", "required", "id", "imei", "phase", "bytes",
            "total", "result", "properties", "id", "type", "integer", "imei",
            "type", "string", "phase", "type", "string", "enum", "download",
            "check", "flash", "confirm", "done", "failed", "bytes", "type",
            "integer", "total", nint, "started_ms", nint, "result", "type",
            "integer", "progress_ms", nint, "ended_ms", nint, "reason", nstr,
            "version", "type", "string", "overdue", "type", "boolean"));
    json_object_set_new(
        s, "Device",
        json_pack(
            "{s:s,s:[s,s,s,s,s],s:{s:{s:s},s:{s:s},s:O,s:{s:s,s:[s,s,s,s]},"
            "s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:{s:s},s:{s:[o,{s:s}]}}}",
            "type", "object", "required", "imei", "state", "port", "target",
            "job", "properties", "imei", "type", "string", "imei_masked",
            "type", "string", "iccid", nstr, "state", "type", "string", "enum",
            "absent", "idle", "upgrading", "fault", "port", nstr, "usb_hub",
            nstr, "usb_port", nint, "rssi", nint, "reg_status", nint,
            "sw_version", nstr, "battery", nint, "free_kib", nint, "target",
            "type", "object", "job", "oneOf", ref("Job"), "type", "null"));
    {
        json_t *props =
            json_object_get(json_object_get(s, "Device"), "properties");

        json_object_set(props, "fault", nstr);
        json_object_set(props, "readings_ms", nint);
        json_object_set_new(props, "registration",
                            json_pack("{s:[{s:s},{s:s}]}", "oneOf", "type",
                                      "object", "type", "null"));
    }
    json_object_set_new(
        s, "Event",
        json_pack("{s:s,s:[s,s,s,s],s:{s:{s:s},s:{s:s},s:O,s:O,s:{s:s},s:{s:s},"
                  "s:{}}}",
                  "type", "object", "required", "id", "time_ms", "kind",
                  "actor", "properties", "id", "type", "integer", "time_ms",
                  "type", "integer", "imei", nstr, "job_id", nint, "kind",
                  "type", "string", "actor", "type", "string", "detail"));
    json_object_set_new(
        s, "Package",
        json_pack(
            "{s:s,s:[s,s,s,s],s:{s:{s:s},s:{s:s,s:i},s:{s:s,s:s},s:{s:s,s:i},"
            "s:O,s:{s:s,s:i}}}",
            "type", "object", "required", "id", "version", "md5", "size",
            "properties", "id", "type", "integer", "version", "type", "string",
            "maxLength", 32, "md5", "type", "string", "pattern",
            "^[0-9a-fA-F]{32}$", "size", "type", "integer", "minimum", 1,
            "sha256", nstr, "notes", "type", "string", "maxLength", 1024));
    json_object_set_new(
        s, "PackageNew",
        json_pack("{s:s,s:b,s:[s,s,s],s:{s:{s:s,s:i,s:i},s:{s:s,s:s},"
                  "s:{s:s,s:i},s:O,s:{s:s,s:i}}}",
                  "type", "object", "additionalProperties", 0, "required",
                  "version", "md5", "size", "properties", "version", "type",
                  "string", "minLength", 1, "maxLength", 32, "md5", "type",
                  "string", "pattern", "^[0-9a-fA-F]{32}$", "size", "type",
                  "integer", "minimum", 1, "sha256", nstr, "notes", "type",
                  "string", "maxLength", 1024));
    json_object_set_new(s, "Target",
                        json_pack("{s:s,s:b,s:[s],s:{s:O}}", "type", "object",
                                  "additionalProperties", 0, "required", "uri",
                                  "properties", "uri", nstr));
    json_object_set_new(s, "Summary", json_pack("{s:s}", "type", "object"));
    json_object_set_new(s, "Health",
                        json_pack("{s:s,s:[s,s,s]}", "type", "object",
                                  "required", "status", "database", "daemon"));
    json_decref(nstr);
    json_decref(nint);
    return s;
}

/* Query parameters and the answer schema of one route. */
static void route_shape(const struct web_route *r, json_t *op)
{
    json_t *params = json_array(), *resp = json_object();
    const char *schema = NULL, *list = NULL;
    int has_body = 0;

    switch (r->id) {
    case WEB_R_DEVICES:
        json_array_append_new(
            params,
            query("state", "string", "absent, idle, upgrading or fault"));
        json_array_append_new(
            params, query("hub", "string", "USB hub name, e.g. 1-1.2"));
        json_array_append_new(
            params, query("phase", "string",
                          "the current job's phase, or idle (no job)"));
        json_array_append_new(params, query("limit", "integer", "1..1000"));
        json_array_append_new(
            params, query("cursor", "string", "the previous page's next"));
        json_array_append_new(
            params, query("personal", "integer", "1: ICCID and IMSI in clear"));
        list = "Device";
        break;
    case WEB_R_DEVICE:
        json_array_append_new(
            params, query("personal", "integer", "1: ICCID and IMSI in clear"));
        schema = "Device";
        break;
    case WEB_R_DEVICE_EVENTS:
    case WEB_R_EVENTS:
        json_array_append_new(
            params, query("since", "integer", "event id cursor (exclusive)"));
        json_array_append_new(params, query("limit", "integer", "1..1000"));
        if (r->id == WEB_R_EVENTS)
            json_array_append_new(
                params, query("tail", "integer",
                              "the last N events (1..1000) instead of since"));
        list = "Event";
        break;
    case WEB_R_DEVICE_TARGET:
        has_body = 1;
        schema = "Device";
        break;
    case WEB_R_DEVICE_PAUSE:
    case WEB_R_DEVICE_RESUME:
    case WEB_R_DEVICE_CANCEL:
    case WEB_R_DEVICE_RETRY: schema = "Device"; break;
    case WEB_R_JOBS:
        json_array_append_new(params, query("imei", "string", "one modem"));
        json_array_append_new(params, query("limit", "integer", "1..1000"));
        json_array_append_new(
            params, query("cursor", "integer", "the previous page's next"));
        list = "Job";
        break;
    case WEB_R_JOB: schema = "Job"; break;
    case WEB_R_SUMMARY: schema = "Summary"; break;
    case WEB_R_PACKAGES:
        json_array_append_new(
            params, query("cursor", "integer", "the previous page's next"));
        json_array_append_new(params, query("limit", "integer", "1..1000"));
        list = "Package";
        break;
    case WEB_R_PACKAGE_ADD:
        has_body = 2;
        schema = "Package";
        break;
    case WEB_R_PACKAGE_DELETE:
    case WEB_R_STREAM:
    case WEB_R_METRICS:
    case WEB_R_OPENAPI: break;
    case WEB_R_HEALTHZ: schema = "Health"; break;
    case WEB_R_COUNT: break;
    }
    if (strstr(r->pattern, "{imei}"))
        json_array_insert_new(params, 0, path_param("imei"));
    if (strstr(r->pattern, "{id}"))
        json_array_insert_new(params, 0, path_param("id"));
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    if (has_body)
        json_object_set_new(
            op, "requestBody",
            json_pack(
                "{s:b,s:o}", "required", 1, "content",
                json_content(ref(has_body == 1 ? "Target" : "PackageNew"))));

    if (r->id == WEB_R_STREAM)
        json_object_set_new(resp, "200",
                            json_pack("{s:s,s:{s:{s:{s:s}}}}", "description",
                                      "event stream", "content",
                                      "text/event-stream", "schema", "type",
                                      "string"));
    else if (r->id == WEB_R_METRICS)
        json_object_set_new(resp, "200",
                            json_pack("{s:s,s:{s:{s:{s:s}}}}", "description",
                                      "metrics", "content",
                                      "text/plain; version=0.0.4", "schema",
                                      "type", "string"));
    else if (r->id == WEB_R_OPENAPI)
        json_object_set_new(
            resp, "200",
            answer("this document", json_pack("{s:s}", "type", "object")));
    else if (r->id == WEB_R_PACKAGE_DELETE)
        json_object_set_new(resp, "204",
                            json_pack("{s:s}", "description", "removed"));
    else if (list)
        json_object_set_new(resp, "200", answer("a page", list_of(list)));
    else if (schema)
        json_object_set_new(resp, r->id == WEB_R_PACKAGE_ADD ? "201" : "200",
                            answer("ok", ref(schema)));
    if (r->access != WEB_ACCESS_PUBLIC) {
        json_object_set_new(resp, "401",
                            answer("no or malformed token", ref("Error")));
        json_object_set_new(resp, "403", answer("wrong token", ref("Error")));
    }
    if (strchr(r->pattern, '{') || has_body ||
        json_object_get(op, "parameters"))
        json_object_set_new(resp, "400",
                            answer("bad path parameter, query "
                                   "or body",
                                   ref("Error")));
    if (strchr(r->pattern, '{'))
        json_object_set_new(resp, "404",
                            answer("no such device, job or "
                                   "package",
                                   ref("Error")));
    if (r->access == WEB_ACCESS_WRITE && r->method != WEB_GET) {
        json_object_set_new(resp, "409",
                            answer("not allowed now", ref("Error")));
        json_object_set_new(resp, "503",
                            answer("no daemon attached, or "
                                   "storage busy",
                                   ref("Error")));
    }
    if (has_body)
        json_object_set_new(resp, "413",
                            answer("body over the limit", ref("Error")));
    json_object_set_new(op, "responses", resp);
}

static const char *lower_method(enum web_method m)
{
    switch (m) {
    case WEB_GET: return "get";
    case WEB_POST: return "post";
    case WEB_PUT: return "put";
    case WEB_DELETE: return "delete";
    case WEB_METHOD_OTHER: break;
    }
    return "other";
}

json_t *web_openapi(void)
{
    size_t n;
    const struct web_route *r = web_routes(&n);
    json_t *doc, *paths = json_object();

    for (size_t i = 0; i < n; i++) {
        json_t *item = json_object_get(paths, r[i].pattern);
        json_t *op =
            json_pack("{s:s,s:s,s:[s]}", "summary", r[i].summary, "description",
                      r[i].description, "tags", r[i].tag);
        char opid[64];
        size_t k = 0;

        if (!item) {
            item = json_object();
            json_object_set_new(paths, r[i].pattern, item);
        }
        /* operationId: method + the literal segments, camel-cased. */
        snprintf(opid, sizeof opid, "%s", lower_method(r[i].method));
        k = strlen(opid);
        for (const char *p = r[i].pattern + strlen(WEB_API_PREFIX);
             *p && k + 1 < sizeof opid; p++) {
            if (*p == '{') {
                while (*p && *p != '}')
                    p++;
                if (!*p)
                    break;
                continue;
            }
            if (*p == '/' || *p == '.')
                continue;
            opid[k++] =
                (p[-1] == '/' || p[-1] == '.') ? (char)(*p - 'a' + 'A') : *p;
        }
        opid[k] = '\0';
        json_object_set_new(op, "operationId", json_string(opid));
        if (r[i].access == WEB_ACCESS_WRITE)
            json_object_set_new(op, "security",
                                json_pack("[{s:[]}]", "bearer"));
        else if (r[i].access == WEB_ACCESS_READ)
            json_object_set_new(op, "security",
                                json_pack("[{s:[]},{}]", "bearer"));
        else
            json_object_set_new(op, "security", json_array());
        route_shape(&r[i], op);
        json_object_set_new(item, lower_method(r[i].method), op);
    }
    doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:o,s:{s:o,s:{s:{s:s,s:s,s:s}}}}", "openapi",
        "3.0.3", "info", "title", "sotagw REST API", "version", "1",
        "description",
        "Read routes need the bearer token when the gateway's "
        "read_requires_token is set (the default); every route that "
        "changes anything always needs it. Every error is "
        "{\"error\": {\"code\", \"message\"}}.",
        "paths", paths, "components", "schemas", schemas(), "securitySchemes",
        "bearer", "type", "http", "scheme", "bearer", "description",
        "the token in state_dir/token or the config");
    return doc;
}
