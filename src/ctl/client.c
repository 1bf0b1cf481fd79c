/* client.c - one request, one reply, over the control socket. Every step
 * (connect, send, wait for the reply) ends by one deadline: a VM process
 * that accepts but never answers, or whose backlog is full, must not hang
 * the client for ever. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "util/io.h"
#include "util/log.h"

#define MAX_REPLY (16 * 1024 * 1024)   /* more than any reply; a bound against a hostile server */

/* Wait for ev on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now__ns();
		if (now >= deadline)
			return 0;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r;
		return 1;
	}
}

/* Connect; a full backlog (EAGAIN) means the server is not accepting yet:
 * try again until the deadline. 0, or -1 with err. */
static int connect_by(int fd, const char *path, uint64_t deadline, const char *after,
		      char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (;;) {
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			if (now__ns() >= deadline) {
				errbuf__set(err, errlen, "timed out after %s connecting to control socket %s: "
					   "the VM process does not accept connections (busy or stuck?)", after, path);
				return -1;
			}
			nanosleep(&ts, NULL);
			continue;
		}
		if (errno == EINPROGRESS) {
			int e = 0;
			socklen_t l = sizeof(e);
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r == 0) {
				errbuf__set(err, errlen, "timed out after %s connecting to control socket %s", after, path);
				return -1;
			}
			if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0)
				return 0;
			errno = e ? e : errno;
		}
		errbuf__set(err, errlen, "cannot connect to control socket %s: %s%s", path, strerror(errno),
			   errno == ENOENT || errno == ECONNREFUSED ? " (is the VM running?)" : "");
		return -1;
	}
}

static int send_by(int fd, const char *buf, size_t len, uint64_t deadline, const char *what,
		   const char *path, const char *after, char *err, size_t errlen)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			errbuf__set(err, errlen, "cannot send \"%s\" to %s: %s", what, path, strerror(errno));
			return -1;
		}
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r == 0) {
			errbuf__set(err, errlen, "timed out after %s sending \"%s\" to %s", after, what, path);
			return -1;
		}
		if (r < 0) {
			errbuf__set(err, errlen, "cannot send \"%s\" to %s: %s", what, path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Read until the first '\n'. Returns the line (NUL-terminated, without
 * the newline) or NULL with err. */
static char *recv_line_by(int fd, uint64_t deadline, const char *what, const char *path,
			  const char *after, char *err, size_t errlen)
{
	char *buf = NULL, *nl = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if (cap >= MAX_REPLY) {
				errbuf__set(err, errlen, "the reply to \"%s\" from %s is longer than %d bytes",
					   what, path, MAX_REPLY);
				break;
			}
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				errbuf__set(err, errlen, "out of memory reading the reply from %s", path);
				break;
			}
			buf = nb;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n > 0) {
			nl = memchr(buf + len, '\n', (size_t)n);
			len += (size_t)n;
			if (nl) {
				*nl = '\0';
				return buf;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLIN, deadline);
			if (r > 0)
				continue;
			if (r == 0)
				errbuf__set(err, errlen, "timed out after %s waiting for the reply to \"%s\" from %s "
					   "(the command may still complete; --timeout SECONDS waits longer)",
					   after, what, path);
			else
				errbuf__set(err, errlen, "waiting for the reply from %s: %s", path, strerror(errno));
			break;
		}
		errbuf__set(err, errlen, "no reply to \"%s\" from %s (the VM process went away?)%s%s", what, path,
			   n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		break;
	}
	free(buf);
	return NULL;
}

json_t *ctl__call_timeout(const char *path, json_t *req, int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = now__ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000ULL;
	const char *what = json_string_value(json_object_get(req, "cmd"));
	char after[32], *txt = NULL, *line = NULL;
	json_t *rep = NULL;
	json_error_t je;
	int fd = -1;

	if (!what)
		what = "(request)";
	snprintf(after, sizeof(after), "%g s", timeout_ms / 1000.0);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errbuf__set(err, errlen, "control socket path %s is too long", path);
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		errbuf__set(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	if (connect_by(fd, path, deadline, after, err, errlen))
		goto out;
	txt = json_dumps(req, JSON_COMPACT);
	if (!txt) {
		errbuf__set(err, errlen, "cannot encode the request");
		goto out;
	}
	size_t n = strlen(txt);
	char *framed = realloc(txt, n + 2);   /* request and its '\n' in one send */
	if (!framed) {
		errbuf__set(err, errlen, "out of memory");
		goto out;
	}
	txt = framed;
	txt[n] = '\n';
	txt[n + 1] = '\0';
	if (send_by(fd, txt, n + 1, deadline, what, path, after, err, errlen))
		goto out;
	line = recv_line_by(fd, deadline, what, path, after, err, errlen);
	if (!line)
		goto out;
	rep = json_loads(line, 0, &je);
	if (!rep || !json_is_object(rep)) {
		errbuf__set(err, errlen, "reply from %s is not a JSON object", path);
		json_decref(rep);
		rep = NULL;
	}
out:
	free(line);
	free(txt);
	close(fd);
	return rep;
}

json_t *ctl__call(const char *path, json_t *req, char *err, size_t errlen)
{
	return ctl__call_timeout(path, req, CTL_TIMEOUT_MS, err, errlen);
}
