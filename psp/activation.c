/* activation.c - see activation.h. The protocol (sd_listen_fds(3)) is
 * small enough that a libsystemd dependency is not worth it: the manager
 * sets LISTEN_PID to the pid it exec'd and LISTEN_FDS to the number of
 * sockets, which start at fd 3. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activation.h"
#include "util/log.h"

#define FIRST_FD 3

static int parse_num(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int sockopt(int fd, int opt, int *val)
{
	socklen_t l = sizeof(*val);
	return getsockopt(fd, SOL_SOCKET, opt, val, &l);
}

static int check_fd(int fd, char *err, size_t errlen)
{
	struct stat st;
	int domain, type, acc;

	if (fstat(fd, &st) < 0) {
		errbuf__set(err, errlen, "LISTEN_FDS is set but fd %d is not open: %s", fd, strerror(errno));
		return -EBADF;
	}
	if (!S_ISSOCK(st.st_mode)) {
		errbuf__set(err, errlen, "fd %d passed by the service manager is not a socket", fd);
		return -ENOTSOCK;
	}
	if (sockopt(fd, SO_DOMAIN, &domain) || sockopt(fd, SO_TYPE, &type) ||
	    sockopt(fd, SO_ACCEPTCONN, &acc)) {
		int e = errno;
		errbuf__set(err, errlen, "fd %d passed by the service manager: %s", fd, strerror(e));
		return -e;
	}
	if (domain != AF_UNIX || type != SOCK_SEQPACKET) {
		errbuf__set(err, errlen, "fd %d passed by the service manager is not a unix SOCK_SEQPACKET "
			   "socket (use ListenSequentialPacket= in tern-psp.socket)", fd);
		return -EPROTOTYPE;
	}
	if (!acc) {
		errbuf__set(err, errlen, "fd %d passed by the service manager is not listening "
			   "(Accept=no is required)", fd);
		return -EINVAL;
	}
	return 0;
}

int activation__take(char *err, size_t errlen)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	long pid, n;
	int r = -ENOENT;

	if (!pid_s || !fds_s)
		goto out;
	if (parse_num(pid_s, &pid)) {
		errbuf__set(err, errlen, "LISTEN_PID=%s is not a process id", pid_s);
		r = -EINVAL;
		goto out;
	}
	if (pid != getpid())
		goto out;                 /* meant for a process that exec'd us */
	if (parse_num(fds_s, &n)) {
		errbuf__set(err, errlen, "LISTEN_FDS=%s is not a number of sockets", fds_s);
		r = -EINVAL;
		goto out;
	}
	if (n == 0)
		goto out;
	if (n > 1) {
		errbuf__set(err, errlen, "the service manager passed %ld sockets (LISTEN_FDS); tern-psp "
			   "listens on exactly one", n);
		r = -EINVAL;
		goto out;
	}
	r = check_fd(FIRST_FD, err, errlen);
	if (r == 0) {
		fcntl(FIRST_FD, F_SETFD, FD_CLOEXEC);
		r = FIRST_FD;
	}
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}
