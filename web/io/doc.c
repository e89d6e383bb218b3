/* doc.c: the documents both the handlers and the stream serve: a device
 * with its current job and live record, and the newest event id. */
#include "doc.h"

#include <errno.h>
#include <string.h>

#include "gw/err.h"

#define JOB_SCAN_PAGE 64

static int64_t overdue_ms(const struct web_server *s)
{
    return (int64_t)s->lim.overdue_s * 1000;
}

void web__shape_opts(struct web_server *s, int personal,
                     struct web_shape_opts *o)
{
    o->personal = personal;
    o->now_ms = web__wall_ms();
    o->overdue_ms = overdue_ms(s);
}

int web__device_job(struct db *db, const char *imei, struct db_job *out)
{
    struct db_job buf[JOB_SCAN_PAGE];
    int64_t after = 0;
    size_t n;
    int rc, found = 0;

    rc = db_job_active(db, imei, out);
    if (rc != GW_E_NOTFOUND)
        return rc;
    /* No unfinished job: the latest finished one. A device has few jobs
     * (one per upgrade attempt), so the scan is short. */
    for (;;) {
        rc = db_job_list(db, imei, after, buf, JOB_SCAN_PAGE, &n);
        if (rc < 0)
            return rc;
        if (n == 0)
            break;
        *out = buf[n - 1];
        found = 1;
        after = buf[n - 1].id;
        if (n < JOB_SCAN_PAGE)
            break;
    }
    return found ? 0 : GW_E_NOTFOUND;
}

int web__device_doc(struct web_server *s, struct db *db,
                    const struct db_device *d, const struct web_live *live,
                    int personal, json_t **out)
{
    struct db_job job;
    struct web_shape_opts o;
    int rc = web__device_job(db, d->imei, &job);

    if (rc < 0 && rc != GW_E_NOTFOUND)
        return rc;
    web__shape_opts(s, personal, &o);
    *out = web_json_device(d, rc == 0 ? &job : NULL, live, &o);
    return *out ? 0 : -ENOMEM;
}

int web__live_cmp(const void *a, const void *b)
{
    return strcmp(((const struct web_live *)a)->imei,
                  ((const struct web_live *)b)->imei);
}

int web__newest_event(struct db *db, int64_t *out)
{
    int64_t lo = 0, hi = (int64_t)1 << 53;
    struct db_event one;
    size_t n;
    int rc;

    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;

        if ((rc = db_event_list(db, NULL, mid, &one, 1, &n)) < 0)
            return rc;
        if (n)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}
