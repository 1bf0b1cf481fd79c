/* loop.c - the control server's thread: one poll() over the listening
 * socket and every client. Client sockets are non-blocking and each client
 * has its own input and output buffer, so a client that stops reading or
 * writing holds up only itself; the limits in ctl.h bound what one client
 * may cost (docs/control.md). Commands still run one at a time in this
 * thread, so they never interleave on the VM. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/loop.h"
#include "util/io.h"
#include "util/log.h"

#define ACCEPT_RETRY_NS (100 * 1000000ULL)   /* after accept ran out of fds or memory */
#define READ_CHUNK      16384                /* per client per turn: fair to the others */

void ctl_loop__drop(struct ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct ctl_client){ .fd = -1 };
}

int ctl_loop__flush(struct ctl_client *c)
{
	size_t off = 0;
	int r = 0;
	while (off < c->out_len) {
		/* MSG_NOSIGNAL: a client that went away is an error, not SIGPIPE */
		ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				r = -1;
			break;
		}
		off += (size_t)n;
	}
	if (off) {
		memmove(c->out, c->out + off, c->out_len - off);
		c->out_len -= off;
		c->active_ns = now__ns();
	}
	return r;
}

/* Queue one reply line. -1: the client's unread replies would pass
 * CTL_MAX_OUTPUT (or memory ran out): it must be dropped. */
static int queue_line(struct ctl_client *c, const char *txt, size_t n)
{
	size_t need = c->out_len + n + 1;
	if (need > CTL_MAX_OUTPUT)
		return -1;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < need)
			cap *= 2;
		char *nb = realloc(c->out, cap);
		if (!nb)
			return -1;
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, txt, n);
	c->out[c->out_len + n] = '\n';
	c->out_len = need;
	return 0;
}

static int queue_reply(struct ctl_client *c, json_t *rep)
{
	static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}";
	char *txt = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
	int r = txt ? queue_line(c, txt, strlen(txt)) : queue_line(c, oom, sizeof(oom) - 1);
	free(txt);
	return r;
}

/* An error line the server sends on its own (not a reply to a request). */
static int notice(struct ctl_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int notice(struct ctl_client *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *rep = ctl__error("%s", msg);
	int r = queue_reply(c, rep);
	json_decref(rep);
	return r;
}

static bool blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

/* Log a client's misbehaviour: at most one line per 10 s, however many
 * clients misbehave, with a count of those not logged. */
static void say(struct ctl_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ctl_server *s, const char *fmt, ...)
{
	uint64_t now = now__ns();
	char msg[256];
	va_list ap;
	if (s->said_ns && now - s->said_ns < 10000000000ULL) {
		s->unsaid++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->unsaid)
		log__info("control socket: %s (and %u more since the last such line)", msg, s->unsaid);
	else
		log__info("control socket: %s", msg);
	s->said_ns = now;
	s->unsaid = 0;
}

/* One complete line. -1: the client must be dropped. */
static int handle_line(struct ctl_server *s, struct ctl_client *c, const char *line, size_t len)
{
	char why[512];
	json_t *req, *rep;
	int r;

	if (blank(line, len))
		return 0;                 /* an empty line asks nothing */
	req = ctl_frame__parse(line, len, why, sizeof(why));
	rep = req ? ctl__dispatch(s, req) : ctl__error("%s", why);
	r = queue_reply(c, rep);
	json_decref(rep);
	json_decref(req);
	if (r)
		say(s, "dropped a client that left more than %d KiB of replies unread", CTL_MAX_OUTPUT / 1024);
	return r;
}

static int append_in(struct ctl_client *c, const char *p, size_t n)
{
	if (c->in_len + n > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 1024;
		while (cap < c->in_len + n)
			cap *= 2;
		char *nb = realloc(c->in, cap);
		if (!nb)
			return -1;
		c->in = nb;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	return 0;
}

/* Read one chunk and answer every complete line in it. -1: drop. */
static int client_read(struct ctl_server *s, struct ctl_client *c)
{
	char buf[READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	if (n == 0) {
		/* the client has said all it will; answer what it asked, then close */
		c->closing = true;
		if (c->in_len)
			return notice(c, "the connection ended inside a request (%zu bytes without a newline): "
				      "a request ends with \"\\n\"", c->in_len);
		return 0;
	}
	for (const char *p = buf, *end = buf + n; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t take = (size_t)((nl ? nl : end) - p);
		if (c->in_len + take > CTL_MAX_LINE) {
			/* no frame boundary in sight: nothing after this can be trusted */
			c->closing = true;
			c->in_len = 0;
			return notice(c, "request line longer than %d bytes: connection closed", CTL_MAX_LINE);
		}
		if (!nl)
			return append_in(c, p, take);
		const char *line = p;
		size_t len = take;
		if (c->in_len) {
			if (append_in(c, p, take))
				return -1;
			line = c->in;
			len = c->in_len;
		}
		c->active_ns = now__ns();
		int r = handle_line(s, c, line, len);
		c->in_len = 0;
		if (r)
			return -1;
		p = nl + 1;
	}
	return 0;
}

/* One client's turn after poll. -1: drop it. */
static int service(struct ctl_server *s, struct ctl_client *c, short ev)
{
	if (c->out_len && (ev & (POLLOUT | POLLERR | POLLHUP)) && ctl_loop__flush(c))
		return -1;
	if (!c->closing && (ev & (POLLIN | POLLERR | POLLHUP)) && client_read(s, c))
		return -1;
	if (c->out_len && ctl_loop__flush(c))
		return -1;
	return c->closing && !c->out_len ? -1 : 0;
}

/* Close clients that have neither sent a request nor taken a reply for
 * idle_ms: a client that opens a connection and does nothing (or trickles
 * a request byte by byte) cannot hold a slot for ever. */
static void expire(struct ctl_server *s, uint64_t now)
{
	uint64_t idle_ns = (uint64_t)s->idle_ms * 1000000ULL;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];
		if (c->fd < 0 || now < c->active_ns + idle_ns)
			continue;
		say(s, "closed a client idle for %g s", s->idle_ms / 1000.0);
		if (!c->closing && !c->out_len) {
			(void)notice(c, "closed after %g s without a complete request", s->idle_ms / 1000.0);
			(void)ctl_loop__flush(c);
		}
		ctl_loop__drop(c);
	}
}

/* A slot for a newcomer. When all are taken, the client idle longest is
 * closed to make room: otherwise CTL_MAX_CLIENTS idle connections would
 * lock everyone out until they time out. */
static struct ctl_client *free_slot(struct ctl_server *s, uint64_t now)
{
	struct ctl_client *oldest = NULL;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &s->clients[i];
		if (c->fd < 0)
			return c;
		if (!oldest || c->active_ns < oldest->active_ns)
			oldest = c;
	}
	say(s, "%d clients; closed the one idle for %.1f s to let a new one in",
	    CTL_MAX_CLIENTS, (double)(now - oldest->active_ns) / 1e9);
	(void)notice(oldest, "connection closed: the control socket has its maximum of %d clients "
		     "and this one was idle longest", CTL_MAX_CLIENTS);
	(void)ctl_loop__flush(oldest);
	ctl_loop__drop(oldest);
	return oldest;
}

static void accept_clients(struct ctl_server *s, uint64_t now)
{
	for (int k = 0; k < CTL_MAX_CLIENTS; k++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* out of fds or memory: the newcomer waits in the backlog;
				 * keep serving the others and try again shortly */
				if (!s->accept_retry_ns)
					log__err("control socket: cannot accept a client: %s (retrying)", strerror(errno));
				s->accept_retry_ns = now + ACCEPT_RETRY_NS;
			}
			return;
		}
		s->accept_retry_ns = 0;
		struct ctl_client *c = free_slot(s, now);
		c->fd = fd;
		c->active_ns = now;
	}
}

void *ctl_loop__run(void *arg)
{
	struct ctl_server *s = arg;
	struct pollfd pf[CTL_MAX_CLIENTS + 2];
	int map[CTL_MAX_CLIENTS];
	uint64_t idle_ns = (uint64_t)s->idle_ms * 1000000ULL;

	for (;;) {
		uint64_t now = now__ns(), wake_at = UINT64_MAX;
		bool accepting = now >= s->accept_retry_ns;
		int n = 0, nc = 0, timeout = -1;

		pf[n++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = s->lfd, .events = accepting ? POLLIN : 0 };
		if (!accepting)
			wake_at = s->accept_retry_ns;
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct ctl_client *c = &s->clients[i];
			if (c->fd < 0)
				continue;
			map[nc++] = i;
			pf[n++] = (struct pollfd){ .fd = c->fd,
				.events = (short)((c->closing ? 0 : POLLIN) | (c->out_len ? POLLOUT : 0)) };
			if (c->active_ns + idle_ns < wake_at)
				wake_at = c->active_ns + idle_ns;
		}
		if (wake_at != UINT64_MAX) {
			uint64_t ms = wake_at <= now ? 0 : (wake_at - now + 999999) / 1000000;
			timeout = ms > INT_MAX ? INT_MAX : (int)ms;
		}
		if (poll(pf, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log__err("control socket: poll: %s; no longer serving", strerror(errno));
			break;
		}
		if (pf[0].revents)
			break;
		for (int k = 0; k < nc; k++) {
			struct ctl_client *c = &s->clients[map[k]];
			if (pf[k + 2].revents && service(s, c, pf[k + 2].revents))
				ctl_loop__drop(c);
		}
		now = now__ns();
		expire(s, now);
		if (pf[1].revents & POLLIN)
			accept_clients(s, now);
	}
	return NULL;
}
