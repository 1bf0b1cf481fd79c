/* cli.h - the `tern` subcommands, one file each. */
#ifndef TERN_CLI_CLI_H
#define TERN_CLI_CLI_H

int cmd__run(int argc, char **argv);
int cmd__ctl(int argc, char **argv);
int cmd__handoff(int argc, char **argv);
int cmd__migrate(int argc, char **argv);
int cmd__owner(int argc, char **argv);
int cmd__host_check(int argc, char **argv);

#endif
