/* migrate.c - `tern migrate --ctl A.sock --to tcp:HOST:PORT [options]`:
 * start a live migration, show its progress, print a summary. The VM
 * process does the work; this is a client of its control socket. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ctl/ctl.h"
#include "util/log.h"
#include "util/size.h"

static const char usage[] =
	"usage: tern migrate --ctl A.sock --to tcp:HOST:PORT [--downtime-ms N] [--max-bandwidth SIZE]\n"
	"                    [--timeout SECONDS] [--on-timeout cancel|force|postcopy] [--stats FILE]\n"
	"                    [--private-path helper|psp] [--connections N]\n"
	"                    [--postcopy | --postcopy-after N] [--resume]\n"
	"                    [--tls-creds DIR [--tls-hostname NAME]]\n"
	"  --downtime-ms N       pause budget for the final round (default 300)\n"
	"  --max-bandwidth SIZE  bytes per second at most, e.g. 500M (default: no limit)\n"
	"  --timeout SECONDS     give up converging after this long (default: never)\n"
	"  --on-timeout ACTION   cancel (keep running here, default), force (switch over anyway,\n"
	"                        over the pause budget) or postcopy (switch to post-copy)\n"
	"  --postcopy            post-copy after the first full round: the guest runs on the\n"
	"                        destination at once, which fetches the pages it still lacks\n"
	"                        as the guest touches them (also: tern ctl A.sock\n"
	"                        migrate-start-postcopy during a pre-copy)\n"
	"  --postcopy-after N    the same after N rounds of pre-copy\n"
	"  --resume              continue a post-copy that a broken connection paused: the\n"
	"                        destination waits at --to after `tern ctl DST migrate-recover URI`\n"
	"  --stats FILE          write the final statistics as JSON (with a per-round timeline)\n"
	"  --connections N       data connections, each with its own sending thread, beside\n"
	"                        the control connection (1-16; default: one per core)\n"
	"  --private-path PATH   how private pages of a confidential VM leave: helper (sealed by\n"
	"                        the migration helper in the mirror VM; the default when the VM\n"
	"                        has one) or psp (one platform command per page)\n"
	"  --tls-creds DIR       TLS 1.3 with mutual certificates: DIR holds ca-cert.pem,\n"
	"                        client-cert.pem and client-key.pem; the destination runs\n"
	"                        with --tls-creds too (without: plaintext, said in the log\n"
	"                        when the destination is not on this host)\n"
	"  --tls-hostname NAME   the name the destination's certificate must carry (default:\n"
	"                        the HOST of --to; needed for unix:PATH)\n"
	"The destination runs `tern run --incoming tcp:ADDR:PORT`. Ctrl-C does not cancel:\n"
	"use `tern ctl A.sock migrate-cancel`.\n";

static double num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_number_value(v);
}

int cmd__migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' }, { "to", required_argument, NULL, 't' },
		{ "downtime-ms", required_argument, NULL, 'd' }, { "max-bandwidth", required_argument, NULL, 'b' },
		{ "timeout", required_argument, NULL, 'T' }, { "on-timeout", required_argument, NULL, 'a' },
		{ "stats", required_argument, NULL, 's' }, { "private-path", required_argument, NULL, 'p' },
		{ "tls-creds", required_argument, NULL, 'C' }, { "tls-hostname", required_argument, NULL, 'H' },
		{ "connections", required_argument, NULL, 'n' },
		{ "postcopy", no_argument, NULL, 'P' }, { "postcopy-after", required_argument, NULL, 'A' },
		{ "resume", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	const char *ctl = NULL, *to = NULL, *act = "cancel", *stats = NULL, *path = NULL;
	const char *creds = NULL, *tlsname = NULL;
	char creds_abs[PATH_MAX];
	uint64_t downtime = 0, bw = 0, timeout = 0, conns = 0, pc_after = 0;
	bool resume = false;
	char err[512], abs[PATH_MAX];
	int c;

	signal(SIGPIPE, SIG_IGN);     /* the source exits after success, maybe mid-query */
	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'c': ctl = optarg; break;
		case 't': to = optarg; break;
		case 'a': act = optarg; break;
		case 's': stats = optarg; break;
		case 'C':
			/* the VM process loads it, maybe in another directory */
			if (!realpath(optarg, creds_abs)) {
				log__err("--tls-creds %s: %s", optarg, strerror(errno));
				return 2;
			}
			creds = creds_abs;
			break;
		case 'H': tlsname = optarg; break;
		case 'p':
			if (strcmp(optarg, "helper") && strcmp(optarg, "psp")) {
				log__err("--private-path %s: helper or psp", optarg);
				return 2;
			}
			path = optarg;
			break;
		case 'd':
			downtime = strtoull(optarg, &end, 10);
			if (*end || !downtime) {
				log__err("--downtime-ms %s: a positive number of milliseconds", optarg);
				return 2;
			}
			break;
		case 'b':
			if (size__parse(optarg, &bw) || !bw) {
				log__err("--max-bandwidth %s: bytes per second, e.g. 500M", optarg);
				return 2;
			}
			break;
		case 'n':
			conns = strtoull(optarg, &end, 10);
			if (*end || conns < 1 || conns > 16) {
				log__err("--connections %s: a number of data connections, 1 to 16", optarg);
				return 2;
			}
			break;
		case 'T':
			timeout = strtoull(optarg, &end, 10);
			if (*end || !timeout) {
				log__err("--timeout %s: a positive number of seconds", optarg);
				return 2;
			}
			break;
		case 'P':
			if (pc_after > 1) {
				log__err("--postcopy and --postcopy-after: one of them");
				return 2;
			}
			pc_after = 1;
			break;
		case 'A':
			pc_after = strtoull(optarg, &end, 10);
			if (*end || pc_after < 1 || pc_after > 1000) {
				log__err("--postcopy-after %s: a number of rounds, 1 to 1000", optarg);
				return 2;
			}
			break;
		case 'R': resume = true; break;
		case 'h': printf("%s", usage); return 0;
		default: fprintf(stderr, "%s", usage); return 2;
		}
	}
	if (!ctl || !to || optind < argc) {
		log__err("migrate needs --ctl and --to");
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if (tlsname && !creds) {
		log__err("--tls-hostname checks the destination's TLS certificate: it needs --tls-creds");
		return 2;
	}
	if (strcmp(act, "cancel") && strcmp(act, "force") && strcmp(act, "postcopy")) {
		log__err("--on-timeout %s: cancel, force or postcopy", act);
		return 2;
	}
	/* options not given are left out: the VM refuses 0 for each */
	json_t *req = json_pack("{s:s, s:s, s:s}", "cmd", "migrate", "uri", to, "timeout-action", act);
	if (downtime)
		json_object_set_new(req, "downtime-ms", json_integer((json_int_t)downtime));
	if (path)
		json_object_set_new(req, "private-path", json_string(path));
	if (creds)
		json_object_set_new(req, "tls-creds", json_string(creds));
	if (tlsname)
		json_object_set_new(req, "tls-hostname", json_string(tlsname));
	if (bw)
		json_object_set_new(req, "max-bandwidth", json_integer((json_int_t)bw));
	if (timeout)
		json_object_set_new(req, "timeout", json_integer((json_int_t)timeout));
	if (conns)
		json_object_set_new(req, "connections", json_integer((json_int_t)conns));
	if (pc_after)
		json_object_set_new(req, "postcopy-after", json_integer((json_int_t)pc_after));
	if (resume)
		json_object_set_new(req, "resume", json_true());
	/* the source writes its final statistics to a file before it exits,
	 * so a client that loses the socket can still tell how it ended */
	char tmpstats[64];
	bool own_stats = !stats;
	if (!stats) {
		snprintf(tmpstats, sizeof(tmpstats), "/tmp/tern-migrate-%d.json", (int)getpid());
		stats = tmpstats;
	}
	{
		if (stats[0] != '/' && getcwd(abs, sizeof(abs)) && strlen(abs) + strlen(stats) + 2 < sizeof(abs)) {
			strcat(abs, "/");
			strcat(abs, stats);
			stats = abs;
		}
		json_object_set_new(req, "stats-file", json_string(stats));
	}
	json_t *rep = ctl__call(ctl, req, err, sizeof(err));
	json_decref(req);
	if (!rep) {
		log__err("%s", err);
		return 1;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		log__err("migrate: %s", json_string_value(json_object_get(rep, "error")));
		json_decref(rep);
		return 1;
	}
	json_decref(rep);

	/* follow it: one progress line, rewritten in place on a terminal */
	bool tty = isatty(STDERR_FILENO);
	json_t *last = NULL;
	for (;;) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		json_t *q = json_pack("{s:s}", "cmd", "query-migrate");
		json_t *st = ctl__call(ctl, q, err, sizeof(err));
		json_decref(q);
		if (!st) {
			/* the source exits right after a successful migration; any
			 * other disappearance is a failure we must not hide */
			const char *was = last ? json_string_value(json_object_get(last, "status")) : NULL;
			json_error_t je;
			json_t *fin = json_load_file(stats, 0, &je);
			const char *fs = fin ? json_string_value(json_object_get(fin, "status")) : NULL;
			if (fs) {
				json_decref(last);
				last = fin;           /* the file has the final word */
				break;
			}
			json_decref(fin);
			if (was && strcmp(was, "completed")) {
				if (tty)
					fputc('\n', stderr);
				log__err("the source VM went away during the migration (%s): %s", was, err);
				json_decref(last);
				return 1;
			}
			break;
		}
		json_decref(last);
		last = st;
		const char *status = json_string_value(json_object_get(st, "status"));
		if (tty)
			fprintf(stderr, "\r%-9s iter %-3.0f sent %7.1f MB  remaining %7.1f MB  dirty %7.0f pages/s  "
				"%7.0f Mbit/s  expected downtime %6.1f ms ", status ? status : "?",
				num(st, "ram", "iteration"), num(st, "ram", "transferred") / 1e6,
				num(st, "ram", "remaining") / 1e6, num(st, "ram", "dirty-pages-rate"),
				num(st, "ram", "mbps"), num(st, "expected-downtime", NULL));
		if (status && (!strcmp(status, "completed") || !strcmp(status, "failed") ||
			       !strcmp(status, "cancelled") || !strcmp(status, "postcopy-paused")))
			break;
		nanosleep(&ts, NULL);
	}
	if (tty)
		fputc('\n', stderr);
	const char *status = last ? json_string_value(json_object_get(last, "status")) : NULL;
	if (!status || strcmp(status, "completed")) {
		/* no answer at all: the VM process is gone; ask nothing more */
		if (status && strcmp(status, "active") && strcmp(status, "setup") && strcmp(status, "device") &&
		    strcmp(status, "postcopy-active")) {
			const char *why = json_string_value(json_object_get(last, "error-desc"));
			log__err("migration %s: %s", status, why ? why : "");
			json_decref(last);
			if (own_stats)
				unlink(stats);
			return 1;
		}
	}
	if (own_stats)
		unlink(stats);
	char *txt = last ? json_dumps(last, JSON_COMPACT) : NULL;
	if (txt)
		printf("%s\n", txt);
	free(txt);
	json_decref(last);
	return 0;
}
