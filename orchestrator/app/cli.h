/* cli.h: the sotagw subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status. */
#ifndef SOTAGW_CLI_H
#define SOTAGW_CLI_H

int cmd_decode(int argc, char **argv);

#endif
