/* wire.c - framing: header, payload, descriptors, timeouts. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "migrate/wire.h"
#include "util/cancel.h"
#include "util/io.h"
#include "util/log.h"
#include "util/scm.h"

/* Advance iov past n bytes sent or received. */
static void iov__advance(struct iovec **iov, int *n, size_t done)
{
	while (done > 0 && *n) {
		if (done >= (*iov)[0].iov_len) {
			done -= (*iov)[0].iov_len;
			(*iov)++;
			(*n)--;
		} else {
			(*iov)[0].iov_base = (char *)(*iov)[0].iov_base + done;
			(*iov)[0].iov_len -= done;
			done = 0;
		}
	}
	while (*n && !(*iov)[0].iov_len) {   /* empty pieces need no call */
		(*iov)++;
		(*n)--;
	}
}

/* Send all of iov[0..n) (consumed), fds with the first byte. */
static int send_all(int sock, struct iovec *iov, int n, const int *fds, int nfds)
{
	union scm_buf u;
	struct msghdr m = { 0 };
	scm__attach(&m, &u, fds, nfds);
	iov__advance(&iov, &n, 0);
	while (n) {
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)(n > IOV_MAX ? IOV_MAX : n);
		ssize_t r = scm__sendmsg(sock, &m);
		if (r < 0)
			return (int)r;
		m.msg_control = NULL;     /* descriptors go with the first byte only */
		m.msg_controllen = 0;
		iov__advance(&iov, &n, (size_t)r);
	}
	return 0;
}

int wire__send2(int sock, uint16_t cmd, uint32_t flags, const void *a, size_t alen,
	       const void *b, size_t blen, const int *fds, int nfds)
{
	struct wire_hdr h = { WIRE_MAGIC, WIRE_VERSION, cmd, flags, (uint32_t)nfds, alen + blen };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)a, alen }, { (void *)b, blen } };

	if (nfds > WIRE_MAX_FDS || alen + blen > WIRE_MAX_PAYLOAD)
		return -EINVAL;
	return send_all(sock, iov, 3, fds, nfds);
}

int wire__sendv(int sock, uint16_t cmd, struct iovec *iov, int n)
{
	struct wire_hdr h = { WIRE_MAGIC, WIRE_VERSION, cmd, 0, 0, 0 };
	for (int i = 1; i < n; i++)
		h.length += iov[i].iov_len;
	if (h.length > WIRE_MAX_PAYLOAD)
		return -EINVAL;
	iov[0] = (struct iovec){ &h, sizeof(h) };
	return send_all(sock, iov, n, NULL, 0);
}

int wire__send(int sock, uint16_t cmd, uint32_t flags, const void *p, size_t len,
	      const int *fds, int nfds)
{
	return wire__send2(sock, cmd, flags, p, len, NULL, 0, fds, nfds);
}

/* Read exactly what iov[0..n) describes (consumed) by deadline_ns (0:
 * none), collecting descriptors that arrive into m (NULL: none may come).
 * A pending SIGTERM/SIGINT/SIGHUP ends the wait (cancel.h). */
static int read_iov(int sock, struct iovec *iov, int n, struct wire_msg *m, uint64_t deadline_ns)
{
	iov__advance(&iov, &n, 0);
	while (n) {
		union scm_buf u;
		struct msghdr h = { .msg_iov = iov, .msg_iovlen = (size_t)(n > IOV_MAX ? IOV_MAX : n) };
		int w = cancel__poll(sock, POLLIN, cancel__ms_left(deadline_ns));
		if (w)
			return w;
		if (m)
			scm__prepare(&h, &u);
		ssize_t r = recvmsg(sock, &h, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (m)
			scm__collect(&h, m->fds, &m->nfds, WIRE_MAX_FDS);
		if (r == 0)
			return -ECONNRESET;
		iov__advance(&iov, &n, (size_t)r);
	}
	return 0;
}

static int read_exact(int sock, void *buf, size_t len, struct wire_msg *m, uint64_t deadline_ns)
{
	struct iovec iov = { buf, len };
	return read_iov(sock, &iov, 1, m, deadline_ns);
}

static int conn_err(int r)
{
	return r == -ECONNRESET || r == -EPIPE ? -ECONNRESET : r;
}

int wire__recv_hdr(int sock, struct wire_hdr *h, int timeout_ms)
{
	int r = read_exact(sock, h, sizeof(*h), NULL, cancel__deadline(timeout_ms));
	if (r)
		return conn_err(r);
	if (h->magic != WIRE_MAGIC || h->length > WIRE_MAX_PAYLOAD || h->nfds)
		return -EPROTO;
	return 0;
}

int wire__recv_iov(int sock, struct iovec *iov, int n, int timeout_ms)
{
	return conn_err(read_iov(sock, iov, n, NULL, cancel__deadline(timeout_ms)));
}

void wire__msg_free(struct wire_msg *m)
{
	free(m->data);
	m->data = NULL;
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

/* The payload of m (header in m->h, checked) by deadline. */
static int read_body(int sock, struct wire_msg *m, uint64_t deadline)
{
	int r;
	m->data = malloc(m->h.length + 1);
	if (!m->data)
		return -ENOMEM;
	r = read_exact(sock, m->data, m->h.length, m, deadline);
	if (r)
		return r;
	m->data[m->h.length] = '\0';
	if ((uint32_t)m->nfds != m->h.nfds)
		return -EPROTO;           /* descriptors announced but not received */
	return 0;
}

int wire__recv(int sock, struct wire_msg *m, int timeout_ms)
{
	/* one deadline for the whole message, not per read: a peer that
	 * sends a byte now and then cannot stretch the wait forever */
	uint64_t deadline = cancel__deadline(timeout_ms);
	int r;
	memset(m, 0, sizeof(*m));
	r = read_exact(sock, &m->h, sizeof(m->h), m, deadline);
	if (!r && (m->h.magic != WIRE_MAGIC || m->h.length > WIRE_MAX_PAYLOAD || m->h.nfds > WIRE_MAX_FDS))
		r = -EPROTO;
	if (!r)
		r = read_body(sock, m, deadline);
	if (r)
		wire__msg_free(m);
	return conn_err(r);
}

int wire__recv_body(int sock, const struct wire_hdr *h, struct wire_msg *m, int timeout_ms)
{
	int r;
	memset(m, 0, sizeof(*m));
	m->h = *h;
	r = read_body(sock, m, cancel__deadline(timeout_ms));
	if (r)
		wire__msg_free(m);
	return conn_err(r);
}

int wire__reply_ok(int sock, const void *p, size_t len)
{
	return wire__send(sock, W_REPLY, 0, p, len, NULL, 0);
}

int wire__reply_err(int sock, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wire__send(sock, W_REPLY, 1, msg, strlen(msg), NULL, 0);
}

int wire__expect_reply(int sock, struct wire_msg *m, int timeout_ms, char *err, size_t errlen)
{
	int r = wire__recv(sock, m, timeout_ms);
	if (r) {
		errbuf__set(err, errlen, "%s", r == -ETIMEDOUT ? "the peer did not answer in time" :
			   r == -ECONNRESET ? "the peer closed the connection (did it die?)" :
			   r == -EPROTO ? "the peer does not speak tern's protocol" :
			   r == -ECANCELED ? "cancelled by a signal" : strerror(-r));
		return -1;
	}
	if (m->h.cmd != W_REPLY) {
		errbuf__set(err, errlen, "the peer sent %s where a reply was due", wire__cmd_name(m->h.cmd));
		wire__msg_free(m);
		return -1;
	}
	if (m->h.flags) {
		errbuf__set(err, errlen, "the peer refused: %s", (char *)m->data);
		wire__msg_free(m);
		return -1;
	}
	return 0;
}

const char *wire__cmd_name(uint16_t cmd)
{
	switch (cmd) {
	case W_HELLO: return "HELLO";
	case W_CONFIG: return "CONFIG";
	case W_STATE: return "STATE";
	case W_COMMIT: return "COMMIT";
	case W_ABORT: return "ABORT";
	case W_SESSION: return "SESSION";
	case W_RAM: return "RAM";
	case W_ITER_END: return "ITER_END";
	case W_HELPER: return "HELPER";
	case W_DATA_OPEN: return "DATA_OPEN";
	case W_JOIN: return "JOIN";
	case W_FENCE: return "FENCE";
	case W_POSTCOPY: return "POSTCOPY";
	case W_PAGE_REQ: return "PAGE_REQ";
	case W_POSTCOPY_END: return "POSTCOPY_END";
	case W_POSTCOPY_RESUME: return "POSTCOPY_RESUME";
	case W_POSTCOPY_MORE: return "POSTCOPY_MORE";
	case W_REPLY: return "REPLY";
	default: return "an unknown command";
	}
}
