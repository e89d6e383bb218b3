/* cli_config.c: read and parse the configuration file for a subcommand. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "gw/err.h"

int cli_config_load(const char *path, struct gw_config **out)
{
    struct gw_config_error err;
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        fprintf(stderr, "sotagw: %s: %s\n", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "sotagw: %s: not a regular file\n", path);
        rc = GW_E_CONFIG;
        goto fail;
    }
    /* One byte more than the cap, so an over-long file is detected even if
     * it grew after fstat(). */
    text = malloc(GW_CONFIG_FILE_MAX + 1);
    if (!text) {
        rc = -ENOMEM;
        goto fail;
    }
    while (len < GW_CONFIG_FILE_MAX + 1) {
        ssize_t n = read(fd, text + len, GW_CONFIG_FILE_MAX + 1 - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            fprintf(stderr, "sotagw: %s: %s\n", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    rc = gw_config_parse(out, path, text, len, &err);
    if (rc < 0)
        fprintf(stderr, "sotagw: %s\n", err.msg);

fail:
    free(text);
    close(fd);
    return rc;
}
