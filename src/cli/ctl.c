/* ctl.c - `tern ctl [--timeout SECONDS] SOCKET COMMAND [ARGS]`: send one
 * control command and print the reply as one JSON line. Exit status 0 if
 * the VM said ok, 1 if not (or no reply in time), 2 for bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "ctl/ctl.h"
#include "util/io.h"
#include "util/log.h"

static const char ctl_usage[] =
	"usage: tern ctl [--timeout SECONDS] SOCKET COMMAND [ARGS]\n"
	"  status            state, configuration and counters\n"
	"  pause | resume    stop / restart all vCPUs (cont: the same as resume)\n"
	"  cont --force      resume a VM held here after its post-copy failed past the\n"
	"                    switch (dangerous if the destination still runs it)\n"
	"  quit              stop the VM\n"
	"  snapshot PATH [--live [--downtime-ms N]]\n"
	"                    write the VM to PATH; paused while RAM is written, or with\n"
	"                    --live only for the last round (N: its budget, default 10 ms)\n"
	"  query-snapshot    progress and result of the last live snapshot\n"
	"  measurement       a confidential VM's launch measurement\n"
	"  migrate URI       start a live migration (see `tern migrate` for options)\n"
	"  query-migrate     its progress (QEMU's field names)\n"
	"  migrate-cancel    stop it; the VM keeps running here\n"
	"  migrate-start-postcopy\n"
	"                    switch the running pre-copy to post-copy after its round\n"
	"  migrate-recover URI\n"
	"                    (destination) a post-copy paused by a broken connection waits\n"
	"                    for its source at URI; then `tern migrate --resume --to URI`\n"
	"  handoff PATH [move|token]\n"
	"                    hand the VM to `tern run --takeover PATH` (live upgrade)\n"
	"  raw JSON          send a request object as is\n"
	"  --timeout SECONDS how long to wait for the reply, connecting and sending\n"
	"                    included (default 5; snapshot 600, handoff 90)\n";

/* Poll query-snapshot until the live snapshot ends (or timeout_ms): its
 * last reply is the command's. */
static json_t *follow_snapshot(const char *sock, json_t *rep, int timeout_ms, char *err, size_t errlen)
{
	uint64_t end = now__ns() + (uint64_t)timeout_ms * 1000000ull;
	json_t *q = json_pack("{s:s}", "cmd", "query-snapshot");
	for (;;) {
		const char *st = json_string_value(json_object_get(rep, "status"));
		if (st && strcmp(st, "active")) {
			/* the command failed if the snapshot did */
			if (strcmp(st, "completed"))
				json_object_set_new(rep, "ok", json_false());
			break;
		}
		if (now__ns() > end) {
			errbuf__set(err, errlen, "the live snapshot did not end within %d ms (it goes on: "
				   "query-snapshot)", timeout_ms);
			json_decref(rep);
			rep = NULL;
			break;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		json_decref(rep);
		if (!(rep = ctl__call(sock, q, err, errlen)))
			break;
	}
	json_decref(q);
	return rep;
}

int cmd__ctl(int argc, char **argv)
{
	json_t *req, *rep;
	char err[1024];
	const char *cmd;
	int i = 1, timeout_ms = -1, code;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("%s", ctl_usage);
			return 0;
		}
		if (strcmp(a, "--timeout") && strncmp(a, "--timeout=", 10)) {
			log__err("ctl: unknown option %s", a);
			fprintf(stderr, "%s", ctl_usage);
			return 2;
		}
		v = a[9] == '=' ? a + 10 : i + 1 < argc ? argv[++i] : NULL;
		if (!v) {
			log__err("--timeout needs a number of seconds");
			return 2;
		}
		if (ctl_request__parse_timeout(v, &timeout_ms, err, sizeof(err))) {
			log__err("%s", err);
			return 2;
		}
	}
	if (argc - i < 2) {
		fprintf(stderr, "%s", ctl_usage);
		return 2;
	}
	req = ctl_request__from_words(argc - i - 1, argv + i + 1, err, sizeof(err));
	if (!req) {
		log__err("%s", err);
		return 2;
	}
	cmd = json_string_value(json_object_get(req, "cmd"));
	if (timeout_ms < 0)
		timeout_ms = ctl_request__timeout_ms(cmd);
	rep = ctl__call_timeout(argv[i], req, timeout_ms, err, sizeof(err));
	/* a live snapshot returns at once: follow it to its end */
	if (rep && cmd && !strcmp(cmd, "snapshot") && json_is_true(json_object_get(req, "live")) &&
	    json_is_true(json_object_get(rep, "ok")))
		rep = follow_snapshot(argv[i], rep, timeout_ms, err, sizeof(err));
	if (!rep) {
		log__err("%s", err);
		json_decref(req);
		return 1;
	}
	char *txt = json_dumps(rep, JSON_COMPACT);
	printf("%s\n", txt ? txt : "{}");
	free(txt);
	code = json_is_true(json_object_get(rep, "ok")) ? 0 : 1;
	if (code)
		log__err("%s: %s", cmd ? cmd : "request",
			json_string_value(json_object_get(rep, "error")) ?: "failed");
	json_decref(rep);
	json_decref(req);                 /* only now: cmd points into it */
	return code;
}
