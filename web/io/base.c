/* base.c: what every file of web/io uses: the answers, the database
 * pool, the wall clock and the web threads' priority. The bottom of
 * web/io: it calls nothing in the other files. */
#include "web_io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gw/err.h"

#define POOL_WAIT_MS 3000

int64_t web__wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- answers ----------------------------------------------------------- */

void web__answer_error(struct web_answer *a, int status, const char *code,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(a->json);
    a->status = status;
    a->json = web_json_error(code, msg);
}

void web__answer_rc(struct web_answer *a, int rc, const char *what)
{
    struct web_status st = web_status_of(rc);

    web__answer_error(a, st.http, st.code, "%s: %s", what, gw_strerror(rc));
}

/* ---- database pool ----------------------------------------------------- */

struct db *web__reader_take(struct web_server *s)
{
    struct timespec until;
    struct db *db = NULL;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += POOL_WAIT_MS / 1000;
    pthread_mutex_lock(&s->pool_lock);
    while (!db) {
        for (unsigned i = 0; i < s->nreaders; i++) {
            if (!s->reader_busy[i]) {
                s->reader_busy[i] = 1;
                db = s->readers[i];
                break;
            }
        }
        if (!db && pthread_cond_timedwait(&s->pool_cond, &s->pool_lock,
                                          &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&s->pool_lock);
    return db;
}

void web__reader_give(struct web_server *s, struct db *db)
{
    pthread_mutex_lock(&s->pool_lock);
    for (unsigned i = 0; i < s->nreaders; i++)
        if (s->readers[i] == db)
            s->reader_busy[i] = 0;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
}

/* Lower the calling thread's CPU priority (Linux: nice applies per
 * thread). The web threads yield to the daemon's loop, whose answers to
 * the platform have deadlines; a busy dashboard or a scraper then slows
 * itself, never a modem. Only ever lowers, so it needs no privilege. */
void web__thread_yield_priority(void)
{
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WEB_THREAD_NICE);
}
