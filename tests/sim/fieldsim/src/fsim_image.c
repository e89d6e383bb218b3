/* fsim_image.c: version marker and deterministic test images.
 *
 * CRC forcing: CRC-32 (reflected, polynomial 0xEDB88320) is a linear
 * register. Running it forward over the prefix gives the register before the
 * patch; running it backward from the wanted final value over the suffix
 * gives the register the patch must leave. One backward step is unique
 * because the top bytes of the 256 table entries are all different. Walking
 * four steps back from the wanted register with patch bytes taken as zero
 * yields a value that differs from the real register before the patch by
 * exactly the patch bytes (little-endian), which solves for them. */
#include "fsim_image.h"

#include <string.h>
#include <zlib.h>

#include "gw/err.h"

static int is_version_char(uint8_t c)
{
    return c >= 0x21 && c <= 0x7e;
}

int fsim_image_version_ok(const char *version)
{
    size_t i;
    size_t n = strlen(version);

    if (n == 0 || n > FSIM_VERSION_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        if (!is_version_char((uint8_t)version[i]))
            return 0;
    }
    return 1;
}

/* Parse one candidate marker starting at tail[at]; 0 and the length of the
 * version on success. */
static int parse_marker_at(const uint8_t *tail, size_t n, size_t at,
                           size_t *vlen)
{
    size_t mlen = sizeof(FSIM_IMAGE_MARKER) - 1;
    size_t i;

    if (at + mlen > n || memcmp(tail + at, FSIM_IMAGE_MARKER, mlen) != 0)
        return GW_E_NOTFOUND;
    for (i = at + mlen; i < n && i - (at + mlen) <= FSIM_VERSION_MAX; i++) {
        if (tail[i] == '\0' || tail[i] == '\n') {
            *vlen = i - (at + mlen);
            return *vlen > 0 ? 0 : GW_E_NOTFOUND;
        }
        if (!is_version_char(tail[i]))
            return GW_E_NOTFOUND;
    }
    return GW_E_NOTFOUND;
}

int fsim_image_find_version(const uint8_t *tail, size_t n, char *out,
                            size_t cap)
{
    size_t mlen = sizeof(FSIM_IMAGE_MARKER) - 1;
    size_t at;
    size_t vlen = 0;

    if (n > FSIM_IMAGE_TAIL) {
        tail += n - FSIM_IMAGE_TAIL;
        n = FSIM_IMAGE_TAIL;
    }
    if (n < mlen + 2)
        return GW_E_NOTFOUND;
    /* Last marker wins: scan from the end. */
    for (at = n - mlen - 1;; at--) {
        if (parse_marker_at(tail, n, at, &vlen) == 0) {
            if (vlen + 1 > cap)
                return GW_E_NOSPACE;
            memcpy(out, tail + at + mlen, vlen);
            out[vlen] = '\0';
            return 0;
        }
        if (at == 0)
            break;
    }
    return GW_E_NOTFOUND;
}

int fsim_image_make(uint8_t *buf, size_t size, const char *version,
                    uint32_t seed)
{
    size_t mlen = sizeof(FSIM_IMAGE_MARKER) - 1;
    size_t vlen;
    size_t i;
    /* xorshift32 must not start at 0. */
    uint32_t x = seed ^ 0x9e3779b9u;

    if (!fsim_image_version_ok(version))
        return GW_E_INVAL;
    vlen = strlen(version);
    if (size < mlen + vlen + 1)
        return GW_E_RANGE;
    if (x == 0)
        x = 1;
    for (i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)(x >> 24);
    }
    memcpy(buf + size - vlen - mlen - 1, FSIM_IMAGE_MARKER, mlen);
    memcpy(buf + size - vlen - 1, version, vlen);
    buf[size - 1] = '\n';
    return 0;
}

/* The table entry whose top byte is `top` (unique for CRC-32). */
static uint32_t crc_index_of_top(const z_crc_t *table, uint32_t top)
{
    uint32_t i;

    for (i = 0; i < 256; i++) {
        if ((table[i] >> 24) == top)
            return i;
    }
    return 0; /* unreachable for the CRC-32 table */
}

static uint32_t crc_step_back(const z_crc_t *table, uint32_t reg, uint8_t b)
{
    uint32_t idx = crc_index_of_top(table, reg >> 24);

    return ((reg ^ (uint32_t)table[idx]) << 8) | ((idx ^ b) & 0xffu);
}

int fsim_image_force_crc(uint8_t *buf, size_t size, size_t pos, uint32_t crc)
{
    const z_crc_t *table = get_crc_table();
    uint32_t before;
    uint32_t want;
    uint32_t word;
    size_t i;
    int k;

    if (pos > size || size - pos < 4)
        return GW_E_RANGE;
    /* zlib's crc32() returns the inverted register. */
    before = ~(uint32_t)crc32(0L, buf, (uInt)pos);
    want = ~crc;
    for (i = size; i > pos + 4; i--)
        want = crc_step_back(table, want, buf[i - 1]);
    for (k = 0; k < 4; k++)
        want = crc_step_back(table, want, 0);
    word = want ^ before;
    for (k = 0; k < 4; k++)
        buf[pos + (size_t)k] = (uint8_t)(word >> (8 * k));
    if ((uint32_t)crc32(0L, buf, (uInt)size) != crc)
        return GW_E_INTEGRITY;
    return 0;
}

int fsim_image_crc_patch_pos(size_t size, size_t *pos)
{
    if (size >= FSIM_IMAGE_TAIL + 4) {
        *pos = size - FSIM_IMAGE_TAIL - 4;
        return 0;
    }
    return GW_E_RANGE;
}
