/* web/shape.h: the pure JSON side of the API: rows in, documents out,
 * request bodies in, validated values out; the Prometheus text; the
 * OpenAPI document; the embedded dashboard assets. No I/O and no clock:
 * the time is an argument.
 *
 * JSON values are jansson's; every function returning json_t * returns a
 * new reference (NULL only when out of memory). */
#ifndef WEB_SHAPE_H
#define WEB_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/db_devices.h"
#include "db/db_events.h"
#include "db/db_jobs.h"
#include "db/db_packages.h"
#include "web/backend.h"

/* Options of the device and job documents. */
struct web_shape_opts {
    int personal;       /* 1: ICCID and IMSI in clear */
    int64_t now_ms;     /* wall clock, for "overdue" */
    int64_t overdue_ms; /* unfinished job without progress this long */
};

const char *web_phase_name(enum db_job_phase p);
const char *web_device_state_name(enum db_device_state s);
/* Parse a device state name ("absent", "idle", "upgrading", "fault");
 * -1 when it is none of them. */
int web_device_state_parse(const char *s);

/* Mask an identity for display and logs: all but the last four characters
 * become '*'. "" stays "". out must hold strlen(s) + 1. */
void web_mask(const char *s, char *out, size_t cap);

/* 1 when the unfinished job j has made no progress for overdue_ms. */
int web_job_overdue(const struct db_job *j, int64_t now_ms, int64_t overdue_ms);

json_t *web_json_job(const struct db_job *j, const struct web_shape_opts *o);

/* A device with its current job (job may be NULL) and the daemon's live
 * record (live may be NULL: no daemon, or no worker serves it). Live
 * values win over the row's, which the daemon writes later. */
json_t *web_json_device(const struct db_device *d, const struct db_job *job,
                        const struct web_live *live,
                        const struct web_shape_opts *o);

/* An event; a detail that is valid JSON is embedded as JSON, any other
 * (and a truncated one) as a string. */
json_t *web_json_event(const struct db_event *e);
json_t *web_json_package(const struct db_package *p);

/* {"error": {"code": code, "message": message}} */
json_t *web_json_error(const char *code, const char *message);

/* ---- request bodies ---------------------------------------------------- */

/* POST /packages: {"version": str, "md5": str, "size": int,
 * "sha256"?: str, "notes"?: str}, no other keys. On success p is filled
 * (md5/sha256 lower-cased) and 0 returned; else GW_E_INVAL with why. */
int web_body_package(const char *body, size_t len, struct db_package *p,
                     char *why, size_t why_cap);

/* PUT /devices/{imei}/target: {"uri": str|null}. null or "" clears the
 * override. The URI must parse as a Modbus target (orch/config.h). */
int web_body_target(const char *body, size_t len, char *uri, size_t cap,
                    char *why, size_t why_cap);

/* ---- query parameters -------------------------------------------------- */

/* limit: "1".."max"; NULL gives def. GW_E_INVAL otherwise. */
int web_query_limit(const char *s, size_t def, size_t max, size_t *out);
/* An id cursor: NULL or "" is 0, else 0..2^53 decimal. */
int web_query_id(const char *s, int64_t *out);
/* A device cursor: NULL or "" is "", else a 15-digit IMEI. */
int web_query_imei_cursor(const char *s, char *out, size_t cap);

/* ---- summary and metrics ----------------------------------------------- */

struct web_tally {
    uint64_t by_phase[DB_JOB_FAILED + 1];
    uint64_t by_result[256]; /* finished jobs by OMA result code */
    uint64_t overdue;
    uint64_t devices_by_state[DB_DEVICE_FAULT + 1];
    double bytes_per_s; /* sum of running downloads' rates */
};

/* Add one job to the tally. */
void web_tally_job(struct web_tally *t, const struct db_job *j,
                   const struct web_shape_opts *o);
json_t *web_json_summary(const struct web_tally *t,
                         const struct web_metrics *m);

/* The Prometheus text exposition (version 0.0.4) of the tally and, when
 * m is not NULL, the daemon's counters and answer-time histogram. 0, or
 * GW_E_NOSPACE when cap is too small. *len gets the length. */
int web_metrics_text(const struct web_tally *t, const struct web_metrics *m,
                     char *buf, size_t cap, size_t *len);

/* ---- the OpenAPI document and the dashboard ---------------------------- */

/* The OpenAPI 3.0 document of every route in web_routes(). */
json_t *web_openapi(void);

struct web_asset {
    const char *path; /* "/", "/app.js"... */
    const char *content_type;
    const unsigned char *data;
    size_t size;
};

/* The embedded asset at path, or NULL. */
const struct web_asset *web_asset_find(const char *path);
const struct web_asset *web_assets(size_t *n);

#endif
