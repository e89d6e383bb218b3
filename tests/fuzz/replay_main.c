/* replay_main.c: runs a fuzz target once over every file of a corpus
 * directory, without libFuzzer (GW_FUZZ=OFF). Built with the project's
 * sanitizers, this makes every ordinary test run exercise the corpus.
 *
 * usage: <target>_replay DIR...   (exit 1 on an empty or unreadable DIR) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define REPLAY_MAX (1u << 20) /* the largest corpus file replayed */

static int replay_file(const char *path, uint8_t *buf)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    n = fread(buf, 1, REPLAY_MAX, f);
    if (ferror(f) || !feof(f)) {
        fprintf(stderr, "%s: read error or over %u bytes\n", path, REPLAY_MAX);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

static int replay_dir(const char *dir, uint8_t *buf, size_t *count)
{
    char path[4096];
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (d == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
            sizeof path) {
            rc = -1;
            continue;
        }
        if (replay_file(path, buf) < 0)
            rc = -1;
        else
            (*count)++;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    uint8_t *buf = malloc(REPLAY_MAX);
    size_t count = 0;
    int rc = 0;
    int i;

    if (argc < 2 || buf == NULL) {
        fprintf(stderr, "usage: %s DIR...\n", argv[0]);
        free(buf);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (replay_dir(argv[i], buf, &count) < 0)
            rc = 1;
    }
    free(buf);
    printf("replayed %zu inputs\n", count);
    if (count == 0)
        rc = 1;
    return rc;
}
