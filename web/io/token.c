/* token.c: the API token file: read it, or create it on first start. */
#define GW_LOG_TAG "web"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gw/err.h"
#include "gw/log.h"
#include "web/server.h"

#define TOKEN_BYTES 32

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
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

/* fsync the directory holding path, so the rename is durable. */
static int sync_dir(const char *path)
{
    char dir[4096];
    int fd, rc = 0;

    if (strlen(path) >= sizeof dir)
        return -ENAMETOOLONG;
    strcpy(dir, path);
    fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int create_token(const char *path, char *out, size_t cap)
{
    unsigned char raw[TOKEN_BYTES];
    char hex[2 * TOKEN_BYTES + 2], tmp[4096];
    size_t got = 0;
    int fd = -1, rc;

    if (cap < 2 * TOKEN_BYTES + 1)
        return GW_E_NOSPACE;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < TOKEN_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    hex[2 * TOKEN_BYTES] = '\n';
    hex[2 * TOKEN_BYTES + 1] = '\0';
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    (void)unlink(tmp); /* a leftover of a power cut during creation */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = write_all(fd, hex, 2 * TOKEN_BYTES + 1)) < 0)
        goto fail;
    if (fsync(fd) < 0) {
        rc = -errno;
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = sync_dir(path)) < 0)
        goto fail;
    memcpy(out, hex, 2 * TOKEN_BYTES);
    out[2 * TOKEN_BYTES] = '\0';
    OPENSSL_cleanse(hex, sizeof hex);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    (void)unlink(tmp);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

int web_token_load(const char *path, char *out, size_t cap, int *created)
{
    char buf[WEB_TOKEN_MAX + 3];
    struct stat sb;
    ssize_t n;
    size_t len;
    int fd, rc;

    if (created)
        *created = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        rc = create_token(path, out, cap);
        if (rc < 0) {
            GW_LOG(GW_LOG_ERR, NULL, "cannot create the API token %s: %s", path,
                   gw_strerror(rc));
            return rc;
        }
        if (created)
            *created = 1;
        GW_LOG(GW_LOG_INFO, NULL, "API token generated in %s (mode 0600)",
               path);
        return 0;
    }
    if (fd < 0) {
        rc = -errno;
        GW_LOG(GW_LOG_ERR, NULL, "API token %s: %s", path, gw_strerror(rc));
        return rc;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        (sb.st_mode & (S_IRWXG | S_IRWXO))) {
        GW_LOG(GW_LOG_ERR, NULL,
               "API token %s: must be a regular file "
               "readable by its owner only (chmod 600)",
               path);
        close(fd);
        return GW_E_CONFIG;
    }
    n = read(fd, buf, sizeof buf - 1);
    rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc < 0)
        return rc;
    len = (size_t)n;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (buf[i] <= ' ' || buf[i] >= 0x7f)
            len = 0;
    if (len < WEB_TOKEN_MIN || len > WEB_TOKEN_MAX || len >= cap) {
        GW_LOG(GW_LOG_ERR, NULL,
               "API token %s: want %d..%d printable "
               "characters on one line",
               path, WEB_TOKEN_MIN, WEB_TOKEN_MAX);
        OPENSSL_cleanse(buf, sizeof buf);
        return GW_E_CONFIG;
    }
    memcpy(out, buf, len + 1);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}
