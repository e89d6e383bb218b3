/* fieldsim-mkimage: write a deterministic test image carrying the
 * SOTAVER=<version> marker that fieldsim's APPLY reads, optionally forced to
 * a given CRC-32, and print its size, CRC-32 and MD5. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fsim_image.h"
#include "gw/err.h"

#define MKIMAGE_SIZE_MAX (64u * 1024u * 1024u)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fieldsim-mkimage --version V --size N [--seed S]\n"
            "                        [--crc 0xHEX] -o FILE\n"
            "Writes N pseudo-random bytes (from S, default 1) ending with\n"
            "\"SOTAVER=V\\n\". --crc patches 4 bytes just before the last 64\n"
            "so the CRC-32 is the given value (needs N >= 68). Prints\n"
            "size=N crc32=0x... md5=... on stdout.\n");
}

static int parse_ul(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 0);
    return (errno || end == s || *end || *out > max) ? -1 : 0;
}

static int md5_hex(const uint8_t *buf, size_t n, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned int i;

    if (!EVP_Digest(buf, n, md, &mdlen, EVP_md5(), NULL))
        return -1;
    for (i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *version = NULL;
    const char *out = NULL;
    unsigned long size = 0;
    unsigned long seed = 1;
    unsigned long crc = 0;
    int want_crc = 0;
    uint8_t *buf = NULL;
    char md5[2 * EVP_MAX_MD_SIZE + 1];
    size_t pos;
    FILE *f = NULL;
    int ret = 1;
    int i;

    for (i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v)
            goto usage_fail;
        if (strcmp(argv[i], "--version") == 0)
            version = v;
        else if (strcmp(argv[i], "-o") == 0)
            out = v;
        else if (strcmp(argv[i], "--size") == 0) {
            if (parse_ul(v, MKIMAGE_SIZE_MAX, &size) < 0 || size == 0)
                goto usage_fail;
        } else if (strcmp(argv[i], "--seed") == 0) {
            if (parse_ul(v, UINT32_MAX, &seed) < 0)
                goto usage_fail;
        } else if (strcmp(argv[i], "--crc") == 0) {
            if (parse_ul(v, UINT32_MAX, &crc) < 0)
                goto usage_fail;
            want_crc = 1;
        } else {
            goto usage_fail;
        }
        i++;
    }
    if (!version || !out || size == 0)
        goto usage_fail;
    buf = malloc(size);
    if (!buf)
        goto fail;
    if (fsim_image_make(buf, size, version, (uint32_t)seed) < 0) {
        fprintf(stderr, "fieldsim-mkimage: version must be 1..32 printable "
                        "ASCII characters and fit in the image\n");
        goto fail;
    }
    if (want_crc && (fsim_image_crc_patch_pos(size, &pos) < 0 ||
                     fsim_image_force_crc(buf, size, pos, (uint32_t)crc) < 0)) {
        fprintf(stderr, "fieldsim-mkimage: --crc needs --size >= 68\n");
        goto fail;
    }
    f = fopen(out, "wb");
    if (!f || fwrite(buf, 1, size, f) != size || fclose(f) != 0) {
        f = NULL;
        fprintf(stderr, "fieldsim-mkimage: %s: %s\n", out, strerror(errno));
        goto fail;
    }
    f = NULL;
    if (md5_hex(buf, size, md5) < 0)
        goto fail;
    printf("size=%lu crc32=0x%08lx md5=%s version=%s\n", size,
           (unsigned long)crc32(0L, buf, (uInt)size), md5, version);
    ret = 0;
    goto fail;
usage_fail:
    usage(stderr);
    ret = 2;
fail:
    if (f)
        fclose(f);
    free(buf);
    return ret;
}
