/* ctl.c - `tern ctl SOCKET COMMAND [ARGS]`: send one control command and
 * print the reply as one JSON line. Exit status 0 if the VM said ok. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ctl/ctl.h"
#include "util/log.h"

static const char ctl_usage[] =
	"usage: tern ctl SOCKET COMMAND [ARGS]\n"
	"  status            state, configuration and counters\n"
	"  pause | resume    stop / restart all vCPUs\n"
	"  quit              stop the VM\n"
	"  snapshot PATH     write the VM to PATH (it keeps running)\n"
	"  measurement       a confidential VM's launch measurement\n"
	"  migrate URI       start a live migration (see `tern migrate` for options)\n"
	"  query-migrate     its progress (QEMU's field names)\n"
	"  migrate-cancel    stop it; the VM keeps running here\n"
	"  handoff PATH [move|token]\n"
	"                    hand the VM to `tern run --takeover PATH` (live upgrade)\n"
	"  raw JSON          send a request object as is\n";

/* The server may run in another directory: send absolute paths. */
static char *absolute(const char *p)
{
	char cwd[PATH_MAX], *out;
	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(p);
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

int cmd_ctl(int argc, char **argv)
{
	json_t *req, *rep;
	char err[1024];
	const char *cmd;
	int code;

	if (argc < 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(argc < 3 ? stderr : stdout, "%s", ctl_usage);
		return argc < 3 ? 2 : 0;
	}
	cmd = argv[2];
	if (!strcmp(cmd, "raw")) {
		json_error_t je;
		if (argc != 4 || !(req = json_loads(argv[3], 0, &je)) || !json_is_object(req)) {
			log_err("raw needs one JSON object argument");
			return 2;
		}
	} else if (!strcmp(cmd, "snapshot")) {
		if (argc != 4) {
			log_err("snapshot needs a PATH");
			return 2;
		}
		char *abs = absolute(argv[3]);
		req = json_pack("{s:s, s:s}", "cmd", cmd, "path", abs ? abs : argv[3]);
		free(abs);
	} else if (!strcmp(cmd, "migrate")) {
		if (argc != 4) {
			log_err("migrate needs a URI (tcp:HOST:PORT)");
			return 2;
		}
		req = json_pack("{s:s, s:s}", "cmd", cmd, "uri", argv[3]);
	} else if (!strcmp(cmd, "handoff")) {
		if (argc != 4 && argc != 5) {
			log_err("handoff needs the new process's socket PATH [move|token]");
			return 2;
		}
		char *abs = absolute(argv[3]);
		req = json_pack("{s:s, s:s}", "cmd", cmd, "to", abs ? abs : argv[3]);
		if (argc == 5)
			json_object_set_new(req, "cc-transfer", json_string(argv[4]));
		free(abs);
	} else {
		if (argc != 3) {
			log_err("%s takes no arguments", cmd);
			return 2;
		}
		req = json_pack("{s:s}", "cmd", cmd);
	}
	rep = ctl__call(argv[1], req, err, sizeof(err));
	json_decref(req);
	if (!rep) {
		log_err("%s", err);
		return 1;
	}
	char *txt = json_dumps(rep, JSON_COMPACT);
	printf("%s\n", txt ? txt : "{}");
	free(txt);
	code = json_is_true(json_object_get(rep, "ok")) ? 0 : 1;
	if (code)
		log_err("%s: %s", cmd, json_string_value(json_object_get(rep, "error")) ?: "failed");
	json_decref(rep);
	return code;
}
