/* transport.c - TCP and unix sockets for migration streams. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "migrate/transport.h"
#include "util/log.h"
#include "util/unix_sock.h"

int transport__parse_tcp(const char *uri, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *h, *colon;
	if (strncmp(uri, "tcp:", 4))
		return -1;
	h = uri + 4;
	if (*h == '[') {
		const char *end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -1;
		snprintf(host, hostlen, "%.*s", (int)(end - h - 1), h + 1);
		colon = end + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon)
			return -1;
		snprintf(host, hostlen, "%.*s", (int)(colon - h), h);
	}
	snprintf(port, portlen, "%s", colon + 1);
	return port[0] ? 0 : -1;
}

/* A peer that stops reading must not block a send forever: with a send
 * timeout the stalled send fails, the migration fails, and the source VM
 * keeps running (migrate-cancel ends it sooner: it shuts the socket). */
#define TRANSPORT_SEND_TIMEOUT_S 30

/* Room for a real source to queue behind stray connections (a scanner, a
 * replayed stream) while the receiver drops them one by one. */
#define TRANSPORT_BACKLOG 16

static void tune(int fd)
{
	int one = 1, buf = 4 << 20;
	struct timeval snd = { .tv_sec = TRANSPORT_SEND_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

int transport__listen(const char *uri, char *err, size_t errlen)
{
	char host[256], port[32];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE }, *ai;
	int fd = -1, r, one = 1;

	if (!strncmp(uri, "unix:", 5)) {
		/* 0600, and never a live socket's path (util/unix_sock.h) */
		fd = unix__listen(uri + 5, "--incoming", TRANSPORT_BACKLOG, 0, err, errlen);
		if (fd < 0)
			return -1;
		return fd;
	}
	if (transport__parse_tcp(uri, host, sizeof(host), port, sizeof(port))) {
		errbuf__set(err, errlen, "'%s' is not tcp:HOST:PORT or unix:PATH", uri);
		return -1;
	}
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r) {
		errbuf__set(err, errlen, "%s: %s", uri, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, TRANSPORT_BACKLOG) < 0) {
		errbuf__set(err, errlen, "cannot listen on %s: %s", uri, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int transport__connect(const char *uri, int timeout_ms, char *err, size_t errlen)
{
	char host[256], port[32];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *a;
	int fd = -1, r;

	if (!strncmp(uri, "unix:", 5))
		return unix__connect(uri + 5, "the destination at", 0, NULL, err, errlen);
	if (transport__parse_tcp(uri, host, sizeof(host), port, sizeof(port))) {
		errbuf__set(err, errlen, "'%s' is not tcp:HOST:PORT or unix:PATH", uri);
		return -1;
	}
	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		errbuf__set(err, errlen, "%s: %s", uri, gai_strerror(r));
		return -1;
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		r = connect(fd, a->ai_addr, a->ai_addrlen);
		if (r < 0 && errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			r = poll(&p, 1, timeout_ms);
			if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				r = 0;
			else {
				errno = r == 0 ? ETIMEDOUT : soerr ? soerr : errno;
				r = -1;
			}
		}
		if (r == 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
			tune(fd);
			break;
		}
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		errbuf__set(err, errlen, "cannot connect to %s: %s (is `tern run --incoming` listening?)",
			   uri, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}
