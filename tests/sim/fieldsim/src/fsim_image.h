/* fsim_image.h: the test-image conventions of the field-device simulator.
 *
 * Version marker: the ASCII text "SOTAVER=<version>" followed by a NUL or a
 * '\n', the whole of it (terminator included) inside the image's last
 * FSIM_IMAGE_TAIL bytes. <version> is 1..32 characters in 0x21..0x7e. When
 * the tail holds several markers, the last one counts. README.md describes
 * what APPLY does with an image that has none.
 *
 * Pure: buffers in, buffers out. */
#ifndef FSIM_IMAGE_H
#define FSIM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define FSIM_IMAGE_TAIL   64
#define FSIM_IMAGE_MARKER "SOTAVER="
#define FSIM_VERSION_MAX  32

/* Find the version marker in `tail` (the last min(64, size) bytes of an
 * image). On success copies the version, NUL-terminated, into out (cap at
 * least FSIM_VERSION_MAX + 1) and returns 0. GW_E_NOTFOUND: no valid
 * marker; GW_E_NOSPACE: cap too small. */
int fsim_image_find_version(const uint8_t *tail, size_t n, char *out,
                            size_t cap);

/* Does `version` qualify for a marker (1..32 chars in 0x21..0x7e)? */
int fsim_image_version_ok(const char *version);

/* Fill buf[0..size) deterministically from `seed` and end it with the marker
 * "SOTAVER=<version>\n". GW_E_RANGE when the marker does not fit (size must
 * be at least strlen(marker) + 1), GW_E_INVAL for a bad version. */
int fsim_image_make(uint8_t *buf, size_t size, const char *version,
                    uint32_t seed);

/* Overwrite the four bytes buf[pos..pos+4) so that zlib's crc32() of the
 * whole buffer equals `crc`. GW_E_RANGE when pos + 4 > size. */
int fsim_image_force_crc(uint8_t *buf, size_t size, size_t pos, uint32_t crc);

/* Where fieldsim-mkimage patches for --crc: just before the marker tail, so
 * the marker stays intact. GW_E_RANGE for images too small to have room. */
int fsim_image_crc_patch_pos(size_t size, size_t *pos);

#endif
