/* app_commit.c: the group commit of app.h.
 *
 * Once per loop turn (a uv_check handle runs after the turn's I/O
 * callbacks) the staging files written in the turn are fdatasync()ed, then
 * the database group transaction is committed, then the waiters run with
 * the result. The order is the durability argument: bytes on disk before
 * the record that counts them, the record before the acknowledgement.
 *
 * A failed fdatasync() means the staged bytes of the turn may not be on
 * disk: the database group is rolled back, so no record claims them, and
 * every waiter gets the error (its chunk is answered write-fail and the
 * platform sends it again).
 *
 * Waiters queued while the waiters of a commit run (a worker answering a
 * chunk and storing the next one from the same callback) belong to the
 * next commit: at the start of a commit every waiter already queued is
 * marked covered (queued == 2); the run pops covered waiters from the head
 * only, so later ones (queued == 1, appended at the tail) wait. */
#define GW_LOG_TAG "commit"

#include "app.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gw/err.h"

#include "gw/log.h"

enum { WAITER_QUEUED = 1, WAITER_COVERED = 2 };

static int sync_fd(struct app *app, int fd)
{
    app->commit_fsyncs++;
    while (fdatasync(fd) != 0) {
        if (errno != EINTR) {
            int rc = -errno;

            GW_LOG(GW_LOG_ERR, NULL, "fdatasync(fd %d): %s", fd,
                   gw_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static void on_check(uv_check_t *h)
{
    struct app *app = h->data;

    if (app->ndirty == 0 && app->waiters == NULL && !db_tx_active(app->db))
        return;
    app_commit_flush(app);
}

int app_commit_init(struct app *app)
{
    int rc;

    app->ndirty = 0;
    app->waiters = NULL;
    app->waiters_tail = &app->waiters;
    app->commits = 0;
    app->commit_fsyncs = 0;
    rc = uv_check_init(app->loop, &app->commit_check);
    if (rc < 0)
        return rc;
    app->commit_check.data = app;
    rc = uv_check_start(&app->commit_check, on_check);
    if (rc < 0) {
        uv_close((uv_handle_t *)&app->commit_check, NULL);
        return rc;
    }
    /* Active (and so keeping the loop alive) until app_commit_cleanup():
     * an unreferenced check handle would not run in a turn that has
     * nothing else to do, and writes of that turn would wait. */
    return 0;
}

void app_commit_cleanup(struct app *app)
{
    app_commit_flush(app);
    uv_check_stop(&app->commit_check);
    uv_close((uv_handle_t *)&app->commit_check, NULL);
}

void app_commit_dirty_fd(struct app *app, int fd)
{
    for (size_t i = 0; i < app->ndirty; i++)
        if (app->dirty_fds[i] == fd)
            return;
    if (app->ndirty == APP_DIRTY_FDS_MAX) {
        /* More files than the table holds in one turn: sync this one now
         * rather than lose track of it. A failure here shows up as the
         * write error of the next flush of this fd. */
        sync_fd(app, fd);
        return;
    }
    app->dirty_fds[app->ndirty++] = fd;
}

void app_commit_forget_fd(struct app *app, int fd)
{
    for (size_t i = 0; i < app->ndirty; i++) {
        if (app->dirty_fds[i] == fd) {
            sync_fd(app, fd);
            app->dirty_fds[i] = app->dirty_fds[--app->ndirty];
            return;
        }
    }
}

void app_commit_after(struct app *app, struct app_commit_waiter *w,
                      app_commit_fn *fn)
{
    w->fn = fn;
    if (w->queued)
        return;
    w->queued = WAITER_QUEUED;
    w->next = NULL;
    *app->waiters_tail = w;
    app->waiters_tail = &w->next;
}

void app_commit_cancel(struct app *app, struct app_commit_waiter *w)
{
    struct app_commit_waiter **pp = &app->waiters;

    if (!w->queued)
        return;
    while (*pp != NULL && *pp != w)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    *pp = w->next;
    if (app->waiters_tail == &w->next)
        app->waiters_tail = pp;
    w->next = NULL;
    w->queued = 0;
}

int app_commit_flush(struct app *app)
{
    int rc = 0;

    for (struct app_commit_waiter *w = app->waiters; w != NULL; w = w->next)
        w->queued = WAITER_COVERED;
    for (size_t i = 0; i < app->ndirty; i++) {
        int r = sync_fd(app, app->dirty_fds[i]);

        if (r < 0 && rc == 0)
            rc = r;
    }
    app->ndirty = 0;
    if (db_tx_active(app->db)) {
        if (rc == 0) {
            rc = db_group_commit(app->db);
            if (rc == 0)
                app->commits++;
            else
                GW_LOG(GW_LOG_ERR, NULL, "group commit failed: %s",
                       gw_strerror(rc));
        } else {
            GW_LOG(GW_LOG_ERR, NULL,
                   "staging not synced: group rolled back, %u writes lost",
                   db_group_pending(app->db));
            db_tx_rollback(app->db);
        }
    }
    while (app->waiters != NULL && app->waiters->queued == WAITER_COVERED) {
        struct app_commit_waiter *w = app->waiters;

        app->waiters = w->next;
        if (app->waiters == NULL)
            app->waiters_tail = &app->waiters;
        w->next = NULL;
        w->queued = 0;
        w->fn(w, rc);
    }
    return rc;
}
