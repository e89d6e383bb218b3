/* main.c: sotagw entry point and subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef SOTAGW_VERSION
#define SOTAGW_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sotagw <command> [options]\n"
            "\n"
            "commands:\n"
            "  run --config FILE   run the gateway daemon in the foreground\n"
            "  status              devices and their current jobs\n"
            "  events              the audit trail\n"
            "  package add|list|remove  the expected firmware packages\n"
            "  decode [FILE|-]     decode a raw M531x serial capture into JSON "
            "lines\n"
            "  version             print the version\n"
            "  help                this text\n"
            "\n"
            "`sotagw <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "decode") == 0)
        return cmd_decode(argc - 1, argv + 1);
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    if (strcmp(argv[1], "events") == 0)
        return cmd_events(argc - 1, argv + 1);
    if (strcmp(argv[1], "package") == 0)
        return cmd_package(argc - 1, argv + 1);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("sotagw %s\n", SOTAGW_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sotagw: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
