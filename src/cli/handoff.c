/* handoff.c - `tern handoff --ctl OLD.sock --to NEW.sock [--cc-transfer move|token]`:
 * the same as `tern ctl OLD.sock handoff NEW.sock`, spelled as a command. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/log.h"

static const char usage[] =
	"usage: tern handoff --ctl OLD.sock --to NEW.sock [--cc-transfer move|token]\n"
	"  hands the VM served at OLD.sock to the process started with\n"
	"  `tern run --takeover NEW.sock`; the old process exits once the new one runs it\n";

int cmd__handoff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "cc-transfer", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *ctl = NULL, *to = NULL, *xfer = NULL;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ctl = optarg; break;
		case 't': to = optarg; break;
		case 'x': xfer = optarg; break;
		case 'h': printf("%s", usage); return 0;
		default: fprintf(stderr, "%s", usage); return 2;
		}
	}
	if (!ctl || !to || optind < argc) {
		log__err("handoff needs --ctl and --to");
		fprintf(stderr, "%s", usage);
		return 2;
	}
	char *args[] = { "ctl", (char *)ctl, "handoff", (char *)to, (char *)xfer, NULL };
	return cmd__ctl(xfer ? 5 : 4, args);
}
