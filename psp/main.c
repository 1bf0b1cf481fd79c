/* main.c - tern-psp: the emulated SEV platform daemon.
 *
 *   tern-psp [--socket PATH] [--state-dir DIR] [--asids N] [--min-sev-asid M]
 *            [--quota DOMAIN=N]... [--quota-es DOMAIN=N]...
 *            [--trust ROOTS.pem] [--verbose]
 *   tern-psp --state-dir DIR --export-chain FILE     (write the PDH chain and exit)
 *
 * Socket-activated (systemd: LISTEN_PID/LISTEN_FDS) it serves the socket it
 * is given instead of --socket. SIGTERM, SIGINT and SIGHUP end it at once,
 * whatever signal mask or dispositions it inherited.
 *
 * It cannot make guest RAM unreadable to the host (only memory-encryption
 * hardware can); everything else behaves as the kernel's SEV layer and the
 * PSP firmware do. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cc/psp_client.h"
#include "activation.h"
#include "psp.h"
#include "server.h"
#include "util/io.h"
#include "util/log.h"
#include "util/unix_sock.h"
#include "util/version.h"

static const char usage[] =
	"usage: tern-psp [--socket PATH] [--state-dir DIR] [--asids N] [--min-sev-asid M]\n"
	"                [--quota DOMAIN=N]... [--quota-es DOMAIN=N]... [--trust ROOTS.pem] [--verbose]\n"
	"       tern-psp [--state-dir DIR] --export-chain FILE\n"
	"  --socket PATH        listen here (default $TERN_PSP_SOCKET, $XDG_RUNTIME_DIR/tern-psp.sock,\n"
	"                       or /run/tern/psp.sock)\n"
	"  --state-dir DIR      platform identity (keys, certificates) lives here\n"
	"                       (default $TERN_PSP_STATE, $XDG_STATE_HOME/tern-psp, or /var/lib/tern/psp)\n"
	"  --asids N            size of the ASID pool, max_sev_asid (default 64)\n"
	"  --min-sev-asid M     SEV-ES guests get ASIDs 1..M-1, SEV guests M..N\n"
	"                       (default N/2+1; 1: no SEV-ES, N+1: no SEV)\n"
	"  --quota DOMAIN=N     at most N SEV ASIDs charged to accounting domain DOMAIN\n"
	"  --quota-es DOMAIN=N  at most N SEV-ES ASIDs charged to DOMAIN\n"
	"  --trust FILE         PEM roots a peer platform's chain must verify to\n"
	"                       (default: this platform's own root)\n"
	"  --export-chain FILE  write this platform's PDH certificate chain (PEM) and exit\n"
	"  --version            print the version and exit\n"
	"Started by systemd socket activation (LISTEN_FDS=1), it serves the passed socket.\n";

static const char *default_state(char *buf, size_t len)
{
	const char *e = getenv("TERN_PSP_STATE"), *x = getenv("XDG_STATE_HOME");
	if (e && *e)
		snprintf(buf, len, "%s", e);
	else if (x && *x)
		snprintf(buf, len, "%s/tern-psp", x);
	else
		snprintf(buf, len, "/var/lib/tern/psp");
	return buf;
}

static int mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int listen_on(const char *path)
{
	char dir[PATH_MAX], err[512];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdirs(dir, 0700))
			die("cannot create %s: %s", dir, strerror(errno));
	}
	/* 0600; another live tern-psp there: refuse; a stale file: replace */
	fd = unix__listen(path, "tern-psp socket", 64, UNIX_SEQPACKET, err, sizeof(err));
	if (fd < 0)
		die("%s", err);
	return fd;
}

/* The socket file to remove on exit: only one this process created (a
 * socket passed by systemd belongs to systemd). Set right after bind. */
static const char *volatile sock_path;

/* Async-signal-safe: remove our socket and end. Worker threads may be in
 * the middle of a command; _exit (no atexit handlers, no library
 * teardown under their feet) is the clean end for them too. */
static void on_term(int sig)
{
	(void)sig;
	if (sock_path)
		unlink(sock_path);
	_exit(0);
}

/* A parent may have blocked or ignored the terminating signals (tern run
 * blocks them; a shell can ignore them); both survive exec. Take them
 * back before any thread exists, so every thread inherits this. */
static void signals_setup(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigset_t s;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&s);
	for (int i = 0; i < 3; i++) {
		static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&s, sigs[i]);
	}
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* For the log: where a passed socket listens. */
static const char *activated_name(int fd, char *buf, size_t len)
{
	struct sockaddr_un a;
	socklen_t l = sizeof(a);
	memset(&a, 0, sizeof(a));
	if (getsockname(fd, (struct sockaddr *)&a, &l) < 0 || l <= offsetof(struct sockaddr_un, sun_path))
		snprintf(buf, len, "fd %d", fd);
	else if (!a.sun_path[0])
		snprintf(buf, len, "fd %d (abstract socket)", fd);
	else
		snprintf(buf, len, "%.*s", (int)sizeof(a.sun_path), a.sun_path);
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "asids", required_argument, NULL, 'a' },
		{ "quota", required_argument, NULL, 'q' },
		{ "quota-es", required_argument, NULL, 'Q' },
		{ "min-sev-asid", required_argument, NULL, 'm' },
		{ "trust", required_argument, NULL, 't' },
		{ "export-chain", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	char sbuf[PATH_MAX], dbuf[PATH_MAX], err[512];
	const char *sock = psp__default_socket(sbuf, sizeof(sbuf));
	const char *state = default_state(dbuf, sizeof(dbuf));
	const char *trust = NULL, *export = NULL;
	unsigned long nasids = 64, min_sev_asid = 0;
	char *quotas[2 * PSP_MAX_DOMAINS];
	bool quota_es[2 * PSP_MAX_DOMAINS];
	int nq = 0, c;

	log_prog = "tern-psp";
	signals_setup();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 's': sock = optarg; break;
		case 'd': state = optarg; break;
		case 't': trust = optarg; break;
		case 'e': export = optarg; break;
		case 'v': plat.verbose = true; break;
		case 'a':
			errno = 0;
			nasids = strtoul(optarg, &end, 10);
			if (errno || *end || nasids < 1 || nasids > 4096)
				die("--asids %s: must be a number from 1 to 4096", optarg);
			break;
		case 'm':
			errno = 0;
			min_sev_asid = strtoul(optarg, &end, 10);
			if (errno || *end || min_sev_asid < 1 || min_sev_asid > 4097)
				die("--min-sev-asid %s: must be a number from 1 to --asids + 1", optarg);
			break;
		case 'q':
		case 'Q':
			if (!strchr(optarg, '=') || nq == 2 * PSP_MAX_DOMAINS)
				die("--quota%s %s: use DOMAIN=N", c == 'Q' ? "-es" : "", optarg);
			quota_es[nq] = c == 'Q';
			quotas[nq++] = optarg;
			break;
		case 'h': printf("%s", usage); return 0;
		case 'V': version__print("tern-psp"); return 0;
		default: fprintf(stderr, "%s", usage); return 2;
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	/* first, before any descriptor is opened: a passed socket is fd 3 */
	int lfd = activation__take(err, sizeof(err));
	if (lfd < 0 && lfd != -ENOENT)
		die("socket activation: %s", err);

	if (mkdirs(state, 0700))
		die("cannot create state directory %s: %s", state, strerror(errno));
	if (sev__identity_load_or_create(state, PSP_API_MAJOR, PSP_API_MINOR, &plat.id, err, sizeof(err)))
		die("platform identity in %s: %s", state, err);
	if (sev__identity_export(&plat.id, &plat.chain_pem, &plat.chain_len))
		die("cannot export the platform certificate chain");
	if (export) {
		int fd = open(export, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write__full(fd, plat.chain_pem, plat.chain_len))
			die("cannot write %s: %s", export, strerror(errno));
		close(fd);
		return 0;
	}
	if (trust) {
		void *t;
		size_t tl;
		if (file__slurp(trust, 1 << 20, &t, &tl, err, sizeof(err)))
			die("--trust: %s", err);
		plat.trusted_pem = t;
		plat.trusted_len = tl;
	} else {
		/* by default trust only our own root: the chain's last certificate */
		const char *root = strstr(plat.chain_pem + 1, "-----BEGIN CERTIFICATE-----");
		if (!root)
			die("exported chain has no root certificate");
		plat.trusted_pem = strdup(root);
		plat.trusted_len = strlen(root);
	}
	if (platform__init((uint32_t)nasids, err, sizeof(err)))
		die("%s", err);
	if (min_sev_asid && platform__set_min_sev_asid((uint32_t)min_sev_asid))
		die("--min-sev-asid %lu: must be from 1 to --asids + 1 (%lu)", min_sev_asid, nasids + 1);
	for (int i = 0; i < nq; i++) {
		char *eq = strchr(quotas[i], '='), *end;
		*eq = '\0';
		unsigned long n = strtoul(eq + 1, &end, 10);
		if (*end || !*quotas[i] || domain__set_limit(quotas[i], quota_es[i], (uint32_t)n))
			die("--quota%s %s=%s: use DOMAIN=N", quota_es[i] ? "-es" : "", quotas[i], eq + 1);
	}

	guest__memory_init();
	if (lfd >= 0) {
		sock = activated_name(lfd, sbuf, sizeof(sbuf));
	} else {
		lfd = listen_on(sock);
		sock_path = sock;
	}
	fprintf(stderr, "tern-psp %s: listening on %s%s (state %s, %lu ASIDs: SEV-ES 1-%u, SEV %u-%lu, "
		"API %d.%d)\n",
		version__string(), sock, sock_path ? "" : " (passed by the service manager)", state,
		nasids, plat.min_sev_asid - 1, plat.min_sev_asid, nasids, PSP_API_MAJOR, PSP_API_MINOR);
	int r = server__accept_loop(lfd);
	die("accept on %s: %s", sock, strerror(-r));
}
