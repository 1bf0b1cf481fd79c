/* main.c - `tern SUBCOMMAND ...`: find the subcommand and run it. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/log.h"
#include "util/version.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} subcommands[] = {
	{ "run", cmd__run, "boot a guest or restore a snapshot" },
	{ "ctl", cmd__ctl, "send a command to a running VM's control socket" },
	{ "handoff", cmd__handoff, "hand a running VM to a new tern process (live upgrade)" },
	{ "migrate", cmd__migrate, "live-migrate a running VM to another host" },
	{ "owner", cmd__owner, "a guest owner's steps: session, digest, verify, secret" },
	{ "host-check", cmd__host_check, "what this host can do for tern: OK, LIMITED or MISSING per capability" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tern COMMAND [ARGS]\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(f, "  %-10s %s\n", "version", "print the version");
	fprintf(f, "`tern COMMAND --help` shows a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		version__print("tern");
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	log__err("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
