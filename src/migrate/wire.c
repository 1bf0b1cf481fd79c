/* wire.c - framing: header, payload, descriptors, timeouts. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migrate/wire.h"
#include "util/cancel.h"
#include "util/io.h"
#include "util/log.h"
#include "util/scm.h"

int wire__send2(int sock, uint16_t cmd, uint32_t flags, const void *a, size_t alen,
	       const void *b, size_t blen, const int *fds, int nfds)
{
	struct wire_hdr h = { WIRE_MAGIC, WIRE_VERSION, cmd, flags, (uint32_t)nfds, alen + blen };
	union scm_buf u;
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)a, alen }, { (void *)b, blen } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
	size_t total = sizeof(h) + alen + blen, sent = 0;

	if (nfds > WIRE_MAX_FDS || alen + blen > WIRE_MAX_PAYLOAD)
		return -EINVAL;
	scm__attach(&m, &u, fds, nfds);
	while (sent < total) {
		ssize_t n = scm__sendmsg(sock, &m);
		if (n < 0)
			return (int)n;
		sent += (size_t)n;
		m.msg_control = NULL;     /* descriptors go with the first byte only */
		m.msg_controllen = 0;
		/* advance the iovecs past what was sent */
		while (n > 0 && m.msg_iovlen) {
			if ((size_t)n >= m.msg_iov[0].iov_len) {
				n -= (ssize_t)m.msg_iov[0].iov_len;
				m.msg_iov++;
				m.msg_iovlen--;
			} else {
				m.msg_iov[0].iov_base = (char *)m.msg_iov[0].iov_base + n;
				m.msg_iov[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

int wire__send(int sock, uint16_t cmd, uint32_t flags, const void *p, size_t len,
	      const int *fds, int nfds)
{
	return wire__send2(sock, cmd, flags, p, len, NULL, 0, fds, nfds);
}

/* Read exactly len bytes by deadline_ns (0: none), collecting descriptors
 * that arrive. A pending SIGTERM/SIGINT/SIGHUP ends the wait (cancel.h). */
static int read_exact(int sock, void *buf, size_t len, struct wire_msg *m, uint64_t deadline_ns)
{
	size_t got = 0;
	while (got < len) {
		union scm_buf u;
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1 };
		int w = cancel__poll(sock, POLLIN, cancel__ms_left(deadline_ns));
		if (w)
			return w;
		scm__prepare(&h, &u);
		ssize_t n = recvmsg(sock, &h, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		scm__collect(&h, m->fds, &m->nfds, WIRE_MAX_FDS);
		if (n == 0)
			return -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
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

int wire__recv(int sock, struct wire_msg *m, int timeout_ms)
{
	/* one deadline for the whole message, not per read: a peer that
	 * sends a byte now and then cannot stretch the wait forever */
	uint64_t deadline = cancel__deadline(timeout_ms);
	int r;
	memset(m, 0, sizeof(*m));
	r = read_exact(sock, &m->h, sizeof(m->h), m, deadline);
	if (r)
		goto fail;
	if (m->h.magic != WIRE_MAGIC || m->h.length > WIRE_MAX_PAYLOAD || m->h.nfds > WIRE_MAX_FDS) {
		r = -EPROTO;
		goto fail;
	}
	m->data = malloc(m->h.length + 1);
	if (!m->data) {
		r = -ENOMEM;
		goto fail;
	}
	r = read_exact(sock, m->data, m->h.length, m, deadline);
	if (r)
		goto fail;
	m->data[m->h.length] = '\0';
	if ((uint32_t)m->nfds != m->h.nfds) {
		r = -EPROTO;              /* descriptors announced but not received */
		goto fail;
	}
	return 0;
fail:
	wire__msg_free(m);
	return r == -ECONNRESET || r == -EPIPE ? -ECONNRESET : r;
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
	case W_REPLY: return "REPLY";
	default: return "an unknown command";
	}
}
