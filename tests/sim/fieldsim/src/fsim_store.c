/* fsim_store.c: file-backed fsim_store_ops. */
#define GW_LOG_TAG "fsim"

#include "fsim_store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw/err.h"
#include "gw/log.h"

#define STORE_PATH_MAX 512 /* a few of them per device: keep it small */

static bool g_sync = true; /* fsim_store_set_sync() */

void fsim_store_set_sync(bool on)
{
    g_sync = on;
}

/* fdatasync (data) or fsync; nothing with syncing off. */
static int sync_fd(int fd, bool data)
{
    if (!g_sync)
        return 0;
    return (data ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

struct fsim_store {
    char dir[STORE_PATH_MAX];
    char json_path[STORE_PATH_MAX];
    char tmp_path[STORE_PATH_MAX];
    int img_fd;
};

static int store_data_write(void *ctx, uint32_t off, const uint8_t *p, size_t n)
{
    struct fsim_store *st = ctx;
    size_t done = 0;

    while (done < n) {
        ssize_t w =
            pwrite(st->img_fd, p + done, n - done, (off_t)off + (off_t)done);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)w;
    }
    return sync_fd(st->img_fd, true);
}

static int store_data_read(void *ctx, uint32_t off, uint8_t *p, size_t n)
{
    struct fsim_store *st = ctx;
    size_t done = 0;

    while (done < n) {
        ssize_t r =
            pread(st->img_fd, p + done, n - done, (off_t)off + (off_t)done);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return GW_E_CORRUPT; /* staging shorter than the record says */
        done += (size_t)r;
    }
    return 0;
}

static int store_data_erase(void *ctx)
{
    struct fsim_store *st = ctx;

    if (ftruncate(st->img_fd, 0) < 0)
        return -errno;
    return sync_fd(st->img_fd, false);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int store_record_save(void *ctx, const struct fsim_record *rec)
{
    struct fsim_store *st = ctx;
    json_t *obj = NULL;
    char *text = NULL;
    int fd = -1;
    int dfd = -1;
    int rc;

    obj = json_pack("{s:i, s:s, s:i, s:s, s:i, s:I, s:I, s:I}", "format", 1,
                    "sw_version", rec->version, "state", (int)rec->state,
                    "state_name", fsim_state_name(rec->state), "error",
                    (int)rec->error, "received", (json_int_t)rec->received,
                    "image_size", (json_int_t)rec->image_size, "image_crc",
                    (json_int_t)rec->image_crc);
    if (!obj) {
        rc = -ENOMEM;
        goto fail;
    }
    text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text) {
        rc = -ENOMEM;
        goto fail;
    }
    fd = open(st->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = write_all(fd, text, strlen(text));
    if (rc == 0)
        rc = write_all(fd, "\n", 1);
    if (rc < 0)
        goto fail;
    rc = sync_fd(fd, false);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    fd = -1;
    if (rc < 0)
        goto fail;
    fd = -1;
    if (rename(st->tmp_path, st->json_path) < 0) {
        rc = -errno;
        goto fail;
    }
    dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = sync_fd(dfd, false);
    if (rc < 0)
        goto fail;
    rc = 0;
fail:
    if (dfd >= 0)
        close(dfd);
    if (fd >= 0)
        close(fd);
    free(text);
    json_decref(obj);
    return rc;
}

const struct fsim_store_ops fsim_store_file_ops = {
    .data_write = store_data_write,
    .data_read = store_data_read,
    .data_erase = store_data_erase,
    .record_save = store_record_save,
};

int fsim_store_open(const char *dir, uint8_t unit, unsigned instance,
                    struct fsim_store **out)
{
    struct fsim_store *st = calloc(1, sizeof *st);
    char img[STORE_PATH_MAX];
    char name[32];
    int rc;

    *out = NULL;
    if (!st)
        return -ENOMEM;
    st->img_fd = -1;
    if (instance == 0)
        snprintf(name, sizeof name, "unit-%u", (unsigned)unit);
    else
        snprintf(name, sizeof name, "unit-%u-%u", (unsigned)unit, instance + 1);
    if ((size_t)snprintf(st->dir, sizeof st->dir, "%s", dir) >=
            sizeof st->dir ||
        (size_t)snprintf(st->json_path, sizeof st->json_path, "%s/%s.json", dir,
                         name) >= sizeof st->json_path ||
        (size_t)snprintf(st->tmp_path, sizeof st->tmp_path, "%s/.%s.json.tmp",
                         dir, name) >= sizeof st->tmp_path ||
        (size_t)snprintf(img, sizeof img, "%s/%s.img", dir, name) >=
            sizeof img) {
        rc = GW_E_TOOLONG;
        goto fail;
    }
    st->img_fd = open(img, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->img_fd < 0) {
        rc = -errno;
        GW_LOG(GW_LOG_ERR, NULL, "%s: %s", img, gw_strerror(rc));
        goto fail;
    }
    *out = st;
    return 0;
fail:
    fsim_store_free(st);
    return rc;
}

void fsim_store_free(struct fsim_store *st)
{
    if (!st)
        return;
    if (st->img_fd >= 0)
        close(st->img_fd);
    free(st);
}

/* One bounded unsigned field of the record. */
static int get_uint(json_t *obj, const char *key, json_int_t max, uint32_t *out)
{
    json_t *v = json_object_get(obj, key);
    json_int_t x;

    if (!json_is_integer(v))
        return GW_E_CORRUPT;
    x = json_integer_value(v);
    if (x < 0 || x > max)
        return GW_E_CORRUPT;
    *out = (uint32_t)x;
    return 0;
}

int fsim_store_load(struct fsim_store *st, struct fsim_record *rec)
{
    json_error_t jerr;
    json_t *obj;
    json_t *ver;
    uint32_t state = 0;
    uint32_t error = 0;
    int rc = 0;

    memset(rec, 0, sizeof *rec);
    if (access(st->json_path, F_OK) < 0 && errno == ENOENT)
        return 0;
    obj = json_load_file(st->json_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        GW_LOG(GW_LOG_ERR, NULL, "%s:%d: %s", st->json_path, jerr.line,
               jerr.text);
        return GW_E_CORRUPT;
    }
    ver = json_object_get(obj, "sw_version");
    if (!json_is_string(ver) || json_string_length(ver) > FSIM_VERSION_MAX ||
        !fsim_image_version_ok(json_string_value(ver))) {
        rc = GW_E_CORRUPT;
    } else {
        memcpy(rec->version, json_string_value(ver),
               json_string_length(ver) + 1);
    }
    if (rc == 0)
        rc = get_uint(obj, "state", FSIM_STATE_FAILED, &state);
    if (rc == 0)
        rc = get_uint(obj, "error", FSIM_ERROR_ABORTED, &error);
    if (rc == 0)
        rc = get_uint(obj, "received", UINT32_MAX, &rec->received);
    if (rc == 0)
        rc = get_uint(obj, "image_size", UINT32_MAX, &rec->image_size);
    if (rc == 0)
        rc = get_uint(obj, "image_crc", UINT32_MAX, &rec->image_crc);
    json_decref(obj);
    if (rc < 0) {
        GW_LOG(GW_LOG_ERR, NULL, "%s: a field is missing or out of range",
               st->json_path);
        return rc;
    }
    rec->state = (enum fsim_state)state;
    rec->error = (enum fsim_error)error;
    return 1;
}
