/* staging.c: staged images and their chunk records (staging.h). */
#define GW_LOG_TAG "staging"

#include "staging.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <zlib.h>

#include "db/db_jobs.h"
#include "dio/fd_place.h"
#include "gw/err.h"

#include "gw/log.h"

#define PAGE 64 /* chunk records read per query */

struct staging {
    struct app *app;
    int64_t job_id;
    int fd;
    uint64_t min_free_kib;
    uint32_t bytes;   /* end of the last recorded chunk */
    uint32_t nchunks; /* records 0 .. nchunks-1 */
    int created;      /* the file was not there at open */
    char path[GW_CONFIG_PATH_MAX + 16 + STAGING_NAME_MAX];
    uint8_t *buf; /* DB_CHUNK_MAX bytes, for verification */
    struct db_chunk page[PAGE];
};

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0750) == 0)
        return 0;
    return errno == EEXIST ? 0 : -errno;
}

int staging_open(struct staging **out, struct app *app, int64_t job_id,
                 const char *name, uint64_t min_free_kib)
{
    struct staging *st = NULL;
    size_t nlen = strnlen(name, STAGING_NAME_MAX);
    int rc, created = 0;

    *out = NULL;
    if (nlen == 0 || nlen >= STAGING_NAME_MAX || strchr(name, '/') != NULL ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return GW_E_INVAL;
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return -ENOMEM;
    st->fd = -1;
    st->app = app;
    st->job_id = job_id;
    st->min_free_kib = min_free_kib;
    st->buf = malloc(DB_CHUNK_MAX);
    if (st->buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    snprintf(st->path, sizeof st->path, "%s/%s", app->staging_dir, name);
    rc = ensure_dir(app->staging_dir);
    if (rc < 0)
        goto fail;
    st->fd = open(st->path, O_RDWR | O_CLOEXEC);
    if (st->fd < 0 && errno == ENOENT) {
        st->fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        created = 1;
    }
    if (st->fd < 0) {
        rc = -errno;
        goto fail;
    }
    st->fd = fd_move_high(st->fd); /* held for the whole job: keep it out
                                      of the low range (dio/fd_place.h) */
    st->created = created;
    if (created) {
        /* the name must survive a power cut as well as the bytes */
        rc = fsync_dir(app->staging_dir);
        if (rc < 0)
            goto fail;
    }
    *out = st;
    return 0;

fail:
    GW_LOG(GW_LOG_ERR, NULL, "%s: %s", st->path, gw_strerror(rc));
    staging_free(st);
    return rc;
}

void staging_free(struct staging *st)
{
    if (st == NULL)
        return;
    if (st->fd >= 0) {
        app_commit_forget_fd(st->app, st->fd);
        close(st->fd);
    }
    free(st->buf);
    free(st);
}

/* Read exactly len bytes at off; 0, GW_E_TRUNC when the file is shorter. */
static int read_at(int fd, uint8_t *buf, size_t len, off_t off)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return GW_E_TRUNC;
        got += (size_t)n;
    }
    return 0;
}

static int cut_file(struct staging *st, uint32_t offset)
{
    while (ftruncate(st->fd, (off_t)offset) != 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int staging_recover(struct staging *st, struct staging_recovered *out)
{
    struct stat sb;
    uint32_t end = 0, idx = 0, cut_at = UINT32_MAX;
    int32_t last_msgid = -1;
    size_t n = 0, deleted = 0;
    int rc;

    memset(out, 0, sizeof *out);
    out->last_msgid = -1;
    if (fstat(st->fd, &sb) != 0)
        return -errno;
    out->file_bytes = (uint64_t)sb.st_size;
    out->file_missing = st->created;
    while (cut_at == UINT32_MAX) {
        rc = db_chunk_list(st->app->db, st->job_id, idx, st->page, PAGE, &n);
        if (rc < 0)
            return rc;
        if (n == 0)
            break;
        for (size_t i = 0; i < n && cut_at == UINT32_MAX; i++) {
            const struct db_chunk *c = &st->page[i];

            if (c->index != idx || c->offset != (int64_t)end ||
                c->length == 0 || c->length > DB_CHUNK_MAX ||
                (uint64_t)end + c->length > UINT32_MAX) {
                GW_LOG(GW_LOG_WARN, NULL, "%s: chunk %u out of order", st->path,
                       c->index);
                cut_at = idx;
                break;
            }
            rc = read_at(st->fd, st->buf, c->length, (off_t)end);
            if (rc == GW_E_TRUNC) {
                GW_LOG(GW_LOG_WARN, NULL, "%s: chunk %u missing on disk",
                       st->path, idx);
                cut_at = idx;
                break;
            }
            if (rc < 0)
                return rc;
            if ((uint32_t)crc32(0, st->buf, c->length) != c->crc32) {
                GW_LOG(GW_LOG_WARN, NULL, "%s: chunk %u fails its CRC-32",
                       st->path, idx);
                cut_at = idx;
                break;
            }
            end += c->length;
            last_msgid = (int32_t)c->msgid;
            idx++;
        }
    }
    if (cut_at != UINT32_MAX) {
        rc = db_group_begin(st->app->db);
        if (rc == 0)
            rc = db_chunk_truncate(st->app->db, st->job_id, cut_at, &deleted);
        if (rc < 0)
            return rc;
    }
    if ((uint64_t)sb.st_size != end) {
        rc = cut_file(st, end);
        if (rc < 0)
            return rc;
        app_commit_dirty_fd(st->app, st->fd);
    }
    st->bytes = end;
    st->nchunks = idx;
    out->bytes = end;
    out->last_msgid = last_msgid;
    out->chunks = idx;
    out->dropped = (uint32_t)deleted;
    return 0;
}

/* The index of the chunk starting at offset (offset < st->bytes). */
static int find_chunk(struct staging *st, uint32_t offset, uint32_t *index)
{
    uint32_t from = 0;
    size_t n;
    int rc;

    for (;;) {
        rc = db_chunk_list(st->app->db, st->job_id, from, st->page, PAGE, &n);
        if (rc < 0)
            return rc;
        if (n == 0)
            return GW_E_RANGE;
        for (size_t i = 0; i < n; i++) {
            if (st->page[i].offset == (int64_t)offset) {
                *index = st->page[i].index;
                return 0;
            }
            if (st->page[i].offset > (int64_t)offset)
                return GW_E_RANGE;
        }
        from = st->page[n - 1].index + 1;
    }
}

static int check_space(struct staging *st, size_t len)
{
    struct statvfs vfs;
    uint64_t avail, need;

    if (fstatvfs(st->fd, &vfs) != 0)
        return -errno;
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    need = (uint64_t)len + st->min_free_kib * 1024u;
    return avail < need ? -ENOSPC : 0;
}

int staging_write(struct staging *st, uint32_t offset, const uint8_t *data,
                  size_t len, int32_t msgid)
{
    struct db_chunk c;
    uint32_t index = st->nchunks;
    size_t done = 0;
    int rc;

    if (len == 0 || len > DB_CHUNK_MAX || offset > st->bytes ||
        (uint64_t)offset + len > UINT32_MAX)
        return GW_E_RANGE;
    if (offset < st->bytes) {
        /* a chunk stored again: the records from it on go first */
        rc = find_chunk(st, offset, &index);
        if (rc < 0)
            return rc;
        rc = db_group_begin(st->app->db);
        if (rc == 0)
            rc = db_chunk_truncate(st->app->db, st->job_id, index, NULL);
        if (rc < 0)
            return rc;
        st->nchunks = index;
        st->bytes = offset;
    }
    rc = cut_file(st, offset);
    if (rc < 0)
        goto fail;
    rc = check_space(st, len);
    if (rc < 0)
        goto fail;
    while (done < len) {
        ssize_t n = pwrite(st->fd, data + done, len - done,
                           (off_t)offset + (off_t)done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto fail;
        }
        done += (size_t)n;
    }
    c = (struct db_chunk){.job_id = st->job_id,
                          .index = index,
                          .offset = offset,
                          .length = (uint32_t)len,
                          .crc32 = (uint32_t)crc32(0, data, (uInt)len),
                          .msgid = msgid};
    rc = db_group_begin(st->app->db);
    if (rc == 0)
        rc = db_chunk_append(st->app->db, &c);
    if (rc < 0)
        goto fail;
    app_commit_dirty_fd(st->app, st->fd);
    st->nchunks = index + 1;
    st->bytes = offset + (uint32_t)len;
    return 0;

fail:
    GW_LOG(GW_LOG_WARN, NULL, "%s: chunk at %u (%zu bytes): %s", st->path,
           offset, len, gw_strerror(rc));
    cut_file(st, offset);
    return rc;
}

int staging_reset(struct staging *st)
{
    int rc = cut_file(st, 0);

    if (rc < 0)
        return rc;
    app_commit_dirty_fd(st->app, st->fd);
    rc = db_group_begin(st->app->db);
    if (rc == 0)
        rc = db_chunk_truncate(st->app->db, st->job_id, 0, NULL);
    if (rc < 0)
        return rc;
    st->bytes = 0;
    st->nchunks = 0;
    return 0;
}

uint32_t staging_bytes(const struct staging *st)
{
    return st->bytes;
}

const char *staging_path(const struct staging *st)
{
    return st->path;
}

static int capacity(const struct statvfs *vfs, uint64_t min_free_kib,
                    uint64_t held, int64_t *out)
{
    uint64_t kib = (uint64_t)vfs->f_bavail * vfs->f_frsize / 1024u;

    kib += held / 1024u;
    *out = kib > min_free_kib ? (int64_t)(kib - min_free_kib) : 0;
    return 0;
}

int staging_capacity_kib(const struct staging *st, int64_t *out)
{
    struct statvfs vfs;

    if (fstatvfs(st->fd, &vfs) != 0)
        return -errno;
    return capacity(&vfs, st->min_free_kib, st->bytes, out);
}

int staging_dir_capacity_kib(const char *dir, uint64_t min_free_kib,
                             int64_t *out)
{
    struct statvfs vfs;
    int rc = ensure_dir(dir);

    if (rc < 0)
        return rc;
    if (statvfs(dir, &vfs) != 0)
        return -errno;
    return capacity(&vfs, min_free_kib, 0, out);
}
