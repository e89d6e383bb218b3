/* stream.c: GET /api/v1/stream, server-sent events.
 *
 * One poller thread, not one per client: every WEB_POLL_MS while at least
 * one client listens, it reads the audit events after its cursor and the
 * device documents (database rows plus the daemon's live records), and
 * appends a message for each new event and each device whose document
 * changed (compared by a 64-bit FNV-1a hash of its JSON) to a ring of
 * WEB_RING messages. Each client keeps its position in the ring; one that
 * falls more than WEB_RING messages behind gets "resync" (reload
 * everything) instead of a silent gap. The number of clients is bounded
 * (limits.stream_max). A client's connection thread blocks on the ring's
 * condition variable, so an idle stream costs no CPU. */
#define GW_LOG_TAG "web"

#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "gw/err.h"
#include "gw/log.h"
#include "doc.h"
#include "web_io.h"

#define SCAN_PAGE 256

struct stream_client {
    struct web_server *srv;
    uint64_t next_seq;
    char *pending;
    size_t plen, poff;
};

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Append "event: kind\ndata: json\n\n" to the ring; takes ownership of
 * nothing (json is copied into the message). */
static void ring_push(struct web_server *s, const char *kind, json_t *doc)
{
    char *data = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    size_t len;
    char *text;
    struct web_ring_msg *slot;

    if (!data)
        return;
    /* "event: " kind "\ndata: " data "\n\n" NUL */
    len = 7 + strlen(kind) + 7 + strlen(data) + 2 + 1;
    text = malloc(len);
    if (!text) {
        free(data);
        return;
    }
    len = (size_t)snprintf(text, len, "event: %s\ndata: %s\n\n", kind, data);
    free(data);
    pthread_mutex_lock(&s->ring_lock);
    slot = &s->ring[s->ring_next % WEB_RING];
    free(slot->text);
    slot->text = text;
    slot->len = len;
    slot->seq = s->ring_next++;
    pthread_cond_broadcast(&s->ring_cond);
    pthread_mutex_unlock(&s->ring_lock);
}

static int hash_cmp(const void *a, const void *b)
{
    return strcmp(((const struct web_dev_hash *)a)->imei,
                  ((const struct web_dev_hash *)b)->imei);
}

static void poll_events(struct web_server *s, struct db *db)
{
    struct db_event *ev = calloc(64, sizeof *ev);
    size_t n;

    if (!ev)
        return;
    do {
        if (db_event_list(db, NULL, s->event_cursor, ev, 64, &n) < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            json_t *doc = web_json_event(&ev[i]);

            ring_push(s, "event", doc);
            json_decref(doc);
            s->event_cursor = ev[i].id;
        }
    } while (n == 64);
    free(ev);
}

static void poll_devices(struct web_server *s, struct db *db)
{
    struct db_device *devs = calloc(SCAN_PAGE, sizeof *devs);
    struct web_live *live = NULL;
    struct web_dev_hash *fresh = NULL;
    size_t nfresh = 0, cap = s->hashes_cap ? s->hashes_cap : SCAN_PAGE;
    size_t n, nlive = 0;
    char after[DB_IMEI_LEN + 1] = "";

    fresh = calloc(cap, sizeof *fresh);
    if (!devs || !fresh)
        goto done;
    if (s->ops && s->ops->live_list) {
        live = calloc(WEB_LIVE_MAX, sizeof *live);
        if (live &&
            s->ops->live_list(s->ops_ctx, live, WEB_LIVE_MAX, &nlive) < 0)
            nlive = 0;
        if (live)
            qsort(live, nlive, sizeof *live, web__live_cmp);
    }
    do {
        if (db_device_list(db, NULL, after, devs, SCAN_PAGE, &n) < 0)
            goto done;
        for (size_t i = 0; i < n; i++) {
            struct web_live key, *lv = NULL;
            struct web_dev_hash *old;
            json_t *doc;
            char *text;
            uint64_t h;

            if (nlive) {
                memcpy(key.imei, devs[i].imei, sizeof key.imei);
                lv = bsearch(&key, live, nlive, sizeof *live, web__live_cmp);
            }
            if (web__device_doc(s, db, &devs[i], lv, 0, &doc) < 0)
                continue;
            /* "overdue" depends on the clock only; hash the rest too. */
            text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
            h = text ? fnv1a(text) : 0;
            free(text);
            old = s->hashes ? bsearch(&devs[i], s->hashes, s->nhashes,
                                      sizeof *s->hashes, hash_cmp)
                            : NULL;
            if (!old || old->hash != h)
                ring_push(s, "device", doc);
            json_decref(doc);
            if (nfresh == cap) {
                struct web_dev_hash *g =
                    realloc(fresh, 2 * cap * sizeof *fresh);
                if (!g)
                    goto done;
                fresh = g;
                cap *= 2;
            }
            memcpy(fresh[nfresh].imei, devs[i].imei, 16);
            fresh[nfresh++].hash = h;
        }
        if (n)
            memcpy(after, devs[n - 1].imei, sizeof after);
    } while (n == SCAN_PAGE);
    /* The scan ran in IMEI order: fresh is sorted for bsearch. */
    free(s->hashes);
    s->hashes = fresh;
    s->nhashes = nfresh;
    s->hashes_cap = cap;
    fresh = NULL;
done:
    free(fresh);
    free(devs);
    free(live);
}

static void *poller_main(void *arg)
{
    struct web_server *s = arg;
    int idle = 1;

    web__thread_yield_priority();

    for (;;) {
        struct timespec until;
        unsigned clients;
        int stop;
        struct db *db;

        deadline_in(&until, WEB_POLL_MS);
        pthread_mutex_lock(&s->ring_lock);
        while (!s->stopping &&
               pthread_cond_timedwait(&s->ring_cond, &s->ring_lock, &until) !=
                   ETIMEDOUT)
            ;
        clients = s->stream_clients;
        stop = s->stopping;
        pthread_mutex_unlock(&s->ring_lock);
        if (stop)
            break;
        if (!clients) {
            idle = 1;
            continue;
        }
        db = web__reader_take(s);
        if (!db)
            continue;
        if (idle) {
            /* Clients start from now: they load the state themselves. */
            if (web__newest_event(db, &s->event_cursor) < 0)
                s->event_cursor = 0;
            idle = 0;
        }
        poll_events(s, db);
        poll_devices(s, db);
        web__reader_give(s, db);
    }
    return NULL;
}

int web__stream_start(struct web_server *s)
{
    int rc = pthread_create(&s->poller, NULL, poller_main, s);

    if (rc) {
        GW_LOG(GW_LOG_ERR, NULL, "stream poller: %s", strerror(rc));
        return -rc;
    }
    s->poller_started = 1;
    return 0;
}

void web__stream_stop(struct web_server *s)
{
    if (!s || !s->poller_started)
        return;
    pthread_mutex_lock(&s->ring_lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->ring_cond);
    pthread_mutex_unlock(&s->ring_lock);
    pthread_join(s->poller, NULL);
    s->poller_started = 0;
}

/* Next bytes for one client: the rest of its pending message, the next
 * ring message, "resync", a keep-alive comment, or the end. Runs on the
 * client's connection thread and may block up to WEB_KEEPALIVE_MS. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream_client *c = cls;
    struct web_server *s = c->srv;
    size_t n;

    (void)pos;
    if (c->poff == c->plen) {
        struct timespec until;
        char *next = NULL;

        free(c->pending);
        c->pending = NULL;
        c->plen = c->poff = 0;
        deadline_in(&until, WEB_KEEPALIVE_MS);
        pthread_mutex_lock(&s->ring_lock);
        for (;;) {
            if (s->stopping)
                break;
            if (c->next_seq < s->ring_next) {
                if (s->ring_next - c->next_seq > WEB_RING) {
                    next = strdup("event: resync\ndata: {}\n\n");
                    c->next_seq = s->ring_next;
                } else {
                    next = strdup(s->ring[c->next_seq % WEB_RING].text);
                    c->next_seq++;
                }
                break;
            }
            if (pthread_cond_timedwait(&s->ring_cond, &s->ring_lock, &until) ==
                ETIMEDOUT) {
                next = strdup(": keep-alive\n\n");
                break;
            }
        }
        pthread_mutex_unlock(&s->ring_lock);
        if (!next)
            return MHD_CONTENT_READER_END_OF_STREAM;
        c->pending = next;
        c->plen = strlen(next);
    }
    n = c->plen - c->poff;
    if (n > max)
        n = max;
    memcpy(buf, c->pending + c->poff, n);
    c->poff += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream_client *c = cls;
    struct web_server *s = c->srv;

    pthread_mutex_lock(&s->ring_lock);
    s->stream_clients--;
    pthread_mutex_unlock(&s->ring_lock);
    free(c->pending);
    free(c);
}

struct MHD_Response *web__stream_response(struct web_server *s)
{
    struct stream_client *c = calloc(1, sizeof *c);
    struct MHD_Response *resp;
    char hello[96];

    if (!c)
        return NULL;
    c->srv = s;
    pthread_mutex_lock(&s->ring_lock);
    if (s->stream_clients >= s->lim.stream_max) {
        pthread_mutex_unlock(&s->ring_lock);
        free(c);
        return NULL;
    }
    s->stream_clients++;
    c->next_seq = s->ring_next;
    pthread_mutex_unlock(&s->ring_lock);
    snprintf(hello, sizeof hello,
             "retry: 3000\nevent: hello\ndata: {\"poll_ms\":%d}\n\n",
             WEB_POLL_MS);
    c->pending = strdup(hello);
    c->plen = c->pending ? strlen(c->pending) : 0;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                             stream_read, c, stream_free);
    if (!resp) {
        stream_free(c);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return resp;
}
