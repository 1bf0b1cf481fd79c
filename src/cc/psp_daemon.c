/* psp_daemon.c - see psp_daemon.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cc/psp_client.h"
#include "cc/psp_daemon.h"
#include "util/log.h"

int psp_daemon__path(char *buf, size_t len, char *err, size_t errlen)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0)
		self[n] = '\0';
	if (n <= 0 || !(slash = strrchr(self, '/'))) {
		errbuf__set(err, errlen, "cannot find my own binary to start tern-psp");
		return -1;
	}
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/tern-psp", self) >= len) {
		errbuf__set(err, errlen, "path of tern-psp next to %s is too long", self);
		return -1;
	}
	return 0;
}

/* In the forked child, before exec: what a daemon must not inherit from
 * a VMM. tern run blocks SIGTERM/SIGINT/SIGHUP (its signal thread takes
 * them) and ignores SIGPIPE; a blocked mask and SIG_IGN both survive
 * exec, and would leave a platform daemon nothing could stop. Open
 * descriptors would pin the VMM's guest RAM, KVM fds and sockets for
 * the daemon's whole life. Async-signal-safe calls only. */
static void child_reset(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	sigemptyset(&dfl.sa_mask);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);   /* EINVAL for the few reserved ones */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	int nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
	}
	if (close_range(3, ~0U, 0) < 0)
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
}

int psp_daemon__start(const char *bin, const char *sock, char *err, size_t errlen)
{
	if (access(bin, X_OK)) {
		errbuf__set(err, errlen, "no tern-psp running at %s and none to start at %s: %s", sock, bin,
			   strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		errbuf__set(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* detached: the platform outlives this VMM (handoff needs that) */
		child_reset();
		setsid();
		if (fork() > 0)
			_exit(0);
		execl(bin, "tern-psp", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 200; i++) {           /* up to 10 s */
		int fd = psp__connect(sock);
		if (fd >= 0)
			return fd;
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	errbuf__set(err, errlen, "started %s but it does not answer at %s (run `%s --socket %s` "
		   "to see why)", bin, sock, bin, sock);
	return -1;
}
