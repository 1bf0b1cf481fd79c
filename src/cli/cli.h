/* cli.h - the `tern` subcommands, one file each. */
#ifndef TERN_CLI_CLI_H
#define TERN_CLI_CLI_H

int cmd_run(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_handoff(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_owner(int argc, char **argv);
int cmd_host_check(int argc, char **argv);

#endif
