/* image_check.h: digests of a staged image and its match against the
 * registered packages (db_packages.h).
 *
 * image_check_digest() reads the file once and computes MD5 and SHA-256
 * (OpenSSL EVP) and CRC-32 (zlib). image_check_match() applies the rule of
 * the worker's CHECK_IMAGE:
 *   - no package registered: the image is accepted, its digests recorded;
 *   - packages registered: a package with the same size and MD5 (and the
 *     same SHA-256 when the package has one) must exist, else the image is
 *     refused with result 5 (integrity). The job then takes that package's
 *     version as its target.
 * Blocking file I/O on the loop thread: an image is at most image_max
 * (16 MiB by default) and is read once per download. */
#ifndef SOTAGW_IMAGE_CHECK_H
#define SOTAGW_IMAGE_CHECK_H

#include <stdint.h>

#include "db/db.h"
#include "db/db_packages.h"

struct image_digest {
    uint64_t size;
    uint32_t crc32;
    char md5[DB_MD5_HEX + 1];       /* lower-case hex */
    char sha256[DB_SHA256_HEX + 1]; /* lower-case hex */
};

/* Digest the first `size` bytes of path. GW_E_TRUNC when the file is
 * shorter, -errno, or GW_E_UNKNOWN when OpenSSL fails. */
int image_check_digest(const char *path, uint64_t size,
                       struct image_digest *out);

enum image_verdict {
    IMAGE_ACCEPTED_UNREGISTERED, /* no package registered at all */
    IMAGE_ACCEPTED_PACKAGE,      /* matches *pkg */
    IMAGE_REFUSED                /* packages exist, none matches */
};

/* Decide for digest d. *pkg is filled for IMAGE_ACCEPTED_PACKAGE. Returns
 * 0 with *verdict set, or a db error. */
int image_check_match(struct db *db, const struct image_digest *d,
                      enum image_verdict *verdict, struct db_package *pkg);

#endif
