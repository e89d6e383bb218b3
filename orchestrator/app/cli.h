/* cli.h: the sotagw subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status:
 * CLI_EXIT_OK, CLI_EXIT_RUNTIME (the work failed), CLI_EXIT_USAGE (bad
 * arguments or configuration). */
#ifndef SOTAGW_CLI_H
#define SOTAGW_CLI_H

#include "orch/config.h"

enum cli_exit { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

#define CLI_DEFAULT_CONFIG "/etc/sotagw/sotagw.ini"

int cmd_decode(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_package(int argc, char **argv);

/* Read path (at most GW_CONFIG_FILE_MAX bytes) and parse it. On failure
 * the reason ("FILE:LINE: reason", or the read error) is printed on stderr
 * and a negative code returned. */
int cli_config_load(const char *path, struct gw_config **out);

#endif
