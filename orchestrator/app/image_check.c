/* image_check.c: digests of a staged image, match against the packages. */
#define GW_LOG_TAG "image"

#include "image_check.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "gw/err.h"

#include "gw/log.h"

#define READ_BUF 16384

static void to_hex(const unsigned char *in, unsigned len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int image_check_digest(const char *path, uint64_t size,
                       struct image_digest *out)
{
    unsigned char buf[READ_BUF], md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *md5 = EVP_MD_CTX_new(), *sha = EVP_MD_CTX_new();
    uint64_t left = size;
    unsigned mdlen;
    uLong crc = crc32(0, NULL, 0);
    int fd = -1, rc = GW_E_UNKNOWN;

    memset(out, 0, sizeof *out);
    if (md5 == NULL || sha == NULL ||
        EVP_DigestInit_ex(md5, EVP_md5(), NULL) != 1 ||
        EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
        goto fail;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    while (left > 0) {
        size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
        ssize_t n = read(fd, buf, want);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto fail;
        }
        if (n == 0) {
            rc = GW_E_TRUNC;
            goto fail;
        }
        if (EVP_DigestUpdate(md5, buf, (size_t)n) != 1 ||
            EVP_DigestUpdate(sha, buf, (size_t)n) != 1) {
            rc = GW_E_UNKNOWN;
            goto fail;
        }
        crc = crc32(crc, buf, (uInt)n);
        left -= (uint64_t)n;
    }
    if (EVP_DigestFinal_ex(md5, md, &mdlen) != 1 || mdlen != 16)
        goto fail;
    to_hex(md, mdlen, out->md5);
    if (EVP_DigestFinal_ex(sha, md, &mdlen) != 1 || mdlen != 32)
        goto fail;
    to_hex(md, mdlen, out->sha256);
    out->size = size;
    out->crc32 = (uint32_t)crc;
    rc = 0;

fail:
    if (rc < 0)
        GW_LOG(GW_LOG_ERR, NULL, "%s: %s", path, gw_strerror(rc));
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(md5);
    EVP_MD_CTX_free(sha);
    return rc;
}

int image_check_match(struct db *db, const struct image_digest *d,
                      enum image_verdict *verdict, struct db_package *pkg)
{
    struct db_package any;
    size_t n = 0;
    int rc;

    rc = db_package_list(db, 0, &any, 1, &n);
    if (rc < 0)
        return rc;
    if (n == 0) {
        *verdict = IMAGE_ACCEPTED_UNREGISTERED;
        return 0;
    }
    rc = db_package_find(db, (int64_t)d->size, d->md5, pkg);
    if (rc == GW_E_NOTFOUND) {
        *verdict = IMAGE_REFUSED;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (pkg->sha256[0] != '\0' && strcmp(pkg->sha256, d->sha256) != 0) {
        GW_LOG(GW_LOG_WARN, NULL,
               "image matches package %lld by size and MD5 but not SHA-256",
               (long long)pkg->id);
        *verdict = IMAGE_REFUSED;
        return 0;
    }
    *verdict = IMAGE_ACCEPTED_PACKAGE;
    return 0;
}
