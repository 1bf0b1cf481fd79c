/* request.c - `tern ctl`'s words to a request object, and how long to
 * wait for each command's reply. Kept apart from the CLI so the unit tests
 * can check the conversion without a socket. */
#include <limits.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "util/log.h"

#define MAX_TIMEOUT_S 86400.0

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

static json_t *with_path(const char *cmd, const char *key, const char *path)
{
	char *abs = absolute(path);
	json_t *req = abs ? json_pack("{s:s, s:s}", "cmd", cmd, key, abs) : NULL;
	free(abs);
	return req;
}

json_t *ctl_request__from_words(int argc, char **argv, char *err, size_t errlen)
{
	const char *cmd;
	json_t *req;

	if (argc < 1) {
		errbuf__set(err, errlen, "no command given");
		return NULL;
	}
	cmd = argv[0];
	if (!strcmp(cmd, "raw")) {
		json_error_t je;
		if (argc != 2) {
			errbuf__set(err, errlen, "raw needs one JSON object argument");
			return NULL;
		}
		req = json_loads(argv[1], JSON_REJECT_DUPLICATES, &je);
		if (!req || !json_is_object(req)) {
			errbuf__set(err, errlen, "raw needs one JSON object argument%s%s",
				   req ? "" : ": ", req ? "" : je.text);
			json_decref(req);
			return NULL;
		}
		return req;
	}
	if (!strcmp(cmd, "snapshot")) {
		bool live = false;
		long long dt = 0;
		if (argc < 2 || !argv[1][0] || argv[1][0] == '-') {
			errbuf__set(err, errlen, "snapshot needs a PATH [--live [--downtime-ms N]]");
			return NULL;
		}
		for (int i = 2; i < argc; i++) {
			char *end;
			if (!strcmp(argv[i], "--live")) {
				live = true;
			} else if (!strcmp(argv[i], "--downtime-ms") && i + 1 < argc) {
				dt = strtoll(argv[++i], &end, 10);
				if (!*argv[i] || *end || dt < 1 || dt > 3600000) {
					errbuf__set(err, errlen, "snapshot: --downtime-ms must be 1..3600000, not \"%s\"",
						   argv[i]);
					return NULL;
				}
			} else {
				errbuf__set(err, errlen, "snapshot needs a PATH [--live [--downtime-ms N]], "
					   "not \"%s\"", argv[i]);
				return NULL;
			}
		}
		if (dt && !live) {
			errbuf__set(err, errlen, "snapshot: --downtime-ms is for --live");
			return NULL;
		}
		req = with_path(cmd, "path", argv[1]);
		if (req && live)
			json_object_set_new(req, "live", json_true());
		if (req && dt)
			json_object_set_new(req, "downtime-ms", json_integer(dt));
	} else if (!strcmp(cmd, "migrate-recover")) {
		if (argc != 2 || !argv[1][0]) {
			errbuf__set(err, errlen, "migrate-recover needs the URI to listen on (tcp:ADDR:PORT)");
			return NULL;
		}
		req = json_pack("{s:s, s:s}", "cmd", cmd, "uri", argv[1]);
	} else if (!strcmp(cmd, "migrate")) {
		if (argc != 2 || !argv[1][0]) {
			errbuf__set(err, errlen, "migrate needs a URI (tcp:HOST:PORT); options: `tern migrate`");
			return NULL;
		}
		req = json_pack("{s:s, s:s}", "cmd", cmd, "uri", argv[1]);
	} else if (!strcmp(cmd, "handoff")) {
		if ((argc != 2 && argc != 3) || !argv[1][0]) {
			errbuf__set(err, errlen, "handoff needs the new process's socket PATH [move|token]");
			return NULL;
		}
		if (argc == 3 && strcmp(argv[2], "move") && strcmp(argv[2], "token")) {
			errbuf__set(err, errlen, "handoff: the transfer mode must be move or token, not \"%s\"", argv[2]);
			return NULL;
		}
		req = with_path(cmd, "to", argv[1]);
		if (req && argc == 3)
			json_object_set_new(req, "cc-transfer", json_string(argv[2]));
	} else if ((!strcmp(cmd, "cont") || !strcmp(cmd, "resume")) && argc == 2) {
		if (strcmp(argv[1], "--force")) {
			errbuf__set(err, errlen, "%s takes only --force (a VM held after its post-copy failed), "
				   "not \"%s\"", cmd, argv[1]);
			return NULL;
		}
		req = json_pack("{s:s, s:b}", "cmd", cmd, "force", 1);
	} else {
		if (argc != 1) {
			errbuf__set(err, errlen, "%s takes no arguments (got \"%s\")", cmd, argv[1]);
			return NULL;
		}
		req = json_pack("{s:s}", "cmd", cmd);
	}
	if (!req)
		errbuf__set(err, errlen, "cannot build the request (not UTF-8, or out of memory)");
	return req;
}

int ctl_request__timeout_ms(const char *cmd)
{
	if (cmd && !strcmp(cmd, "snapshot"))
		return CTL_TIMEOUT_SNAPSHOT_MS;
	if (cmd && !strcmp(cmd, "handoff"))
		return CTL_TIMEOUT_HANDOFF_MS;
	return CTL_TIMEOUT_MS;
}

int ctl_request__parse_timeout(const char *text, int *ms, char *err, size_t errlen)
{
	char *end;
	double s = strtod(text, &end);
	if (end == text || *end || !isfinite(s) || s <= 0 || s > MAX_TIMEOUT_S) {
		errbuf__set(err, errlen, "--timeout %s: a number of seconds greater than 0 and at most %.0f "
			   "(e.g. 5 or 0.5)", text, MAX_TIMEOUT_S);
		return -1;
	}
	/* rounded up: 0.0001 s must not become "no time at all" */
	*ms = (int)(s * 1000.0);
	if ((double)*ms < s * 1000.0)
		(*ms)++;
	return 0;
}
