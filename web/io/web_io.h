/* web_io.h: the server's private parts, shared by every file of web/io:
 * the server's state, a request and its answer, and what base.c gives
 * (answers, the database pool, the wall clock).
 *
 * web/io is layered; each file includes the headers of the layers below it
 * only (tests/tools/check-layering checks this):
 *   web_io.h (base.c)  <-  doc.h (doc.c)  <-  stream.h (stream.c)
 *   <-  handlers.h (handlers.c, one function per route)  <-  server.c
 * (HTTP, access, dispatch). The only files that include microhttpd.h are
 * in this folder. */
#ifndef WEB_IO_H
#define WEB_IO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/db.h"
#include "web/route.h"
#include "web/server.h"
#include "web/shape.h"

#define WEB_READERS_MAX  16
#define WEB_RING         512   /* stream messages kept */
#define WEB_POLL_MS      500   /* stream poll period */
#define WEB_KEEPALIVE_MS 15000 /* SSE comment when idle */
#define WEB_PAGE_MAX     1000  /* limit= upper bound */
#define WEB_LIVE_MAX     4096  /* live records fetched per request */

struct web_ring_msg {
    uint64_t seq;
    char *text; /* "event: x\ndata: {...}\n\n" */
    size_t len;
};

struct web_server {
    struct MHD_Daemon *mhd;
    uint16_t port;

    unsigned char token_hash[32]; /* SHA-256 of the token */
    char actor[16];               /* "api:" + 8 hex of another hash */
    int read_requires_token;
    struct web_limits lim;
    const struct web_backend_ops *ops;
    void *ops_ctx;
    char *tls_cert, *tls_key; /* PEM text, when TLS */
    char *openapi;            /* the document, rendered once */
    size_t openapi_len;

    /* Database: a pool of read-only connections, one writer. */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct db *readers[WEB_READERS_MAX];
    int reader_busy[WEB_READERS_MAX];
    unsigned nreaders;
    pthread_mutex_t writer_lock;
    struct db *writer;

    /* Stream: one poller thread fills a ring, clients read it. */
    pthread_mutex_t ring_lock;
    pthread_cond_t ring_cond;
    struct web_ring_msg ring[WEB_RING];
    uint64_t ring_next; /* seq of the next message */
    unsigned stream_clients;
    int stopping;
    pthread_t poller;
    int poller_started;
    /* Poller-private: the last document hash of each device. */
    struct web_dev_hash *hashes;
    size_t nhashes, hashes_cap;
    int64_t event_cursor;
};

struct web_dev_hash {
    char imei[16];
    uint64_t hash;
};

/* A request as the handlers see it. */
struct web_req {
    struct web_server *srv;
    struct MHD_Connection *conn;
    const struct web_match *m;
    const char *body;
    size_t body_len;
    int authed; /* a valid token came with it */
};

/* What a handler answers: a status and a JSON document, or a text body,
 * or a ready MHD response (the stream). */
struct web_answer {
    int status;
    json_t *json; /* owned */
    char *text;   /* owned, malloc'd */
    size_t text_len;
    const char *content_type;
    struct MHD_Response *resp; /* owned until queued */
};

void web__answer_error(struct web_answer *a, int status, const char *code,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void web__answer_rc(struct web_answer *a, int rc, const char *what);

/* A read-only connection of the pool, waiting a bounded time for one to
 * be free; NULL when none was. Give it back with web__reader_give(). */
struct db *web__reader_take(struct web_server *s);
void web__reader_give(struct web_server *s, struct db *db);

/* Wall-clock milliseconds since the epoch (what the API shows). */
int64_t web__wall_ms(void);

/* The nice value of every web thread (see server.c). */
#define WEB_THREAD_NICE 10
void web__thread_yield_priority(void);

#endif
