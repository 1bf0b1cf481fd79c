/* tls_pump.c - when kernel TLS does not carry a connection: one thread per
 * connection bridges a socketpair (the wire code's end stays a plain fd)
 * and the TCP socket through SSL_read/SSL_write, both directions in one
 * non-blocking poll loop (an SSL object is not for two threads at once).
 *
 * How it ends: the wire side closes or shuts down its end (migrate-cancel)
 * -> what it sent is flushed, close_notify, the TCP socket closed; the
 * peer goes away -> what arrived is delivered, then the wire side reads
 * EOF, and its sends fail once the pump is gone. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "migrate/tls_pump.h"
#include "util/log.h"

#define PUMP_SOCKBUF (4 << 20)

const char *tls_pump__ssl_why(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	buf[0] = '\0';
	if (e)
		ERR_error_string_n(e, buf, len);
	return buf;
}

struct pump {
	SSL *ssl;
	int sock, local;
};

static void *pump__run(void *arg)
{
	struct pump *p = arg;
	uint8_t *up = malloc(TLS_PUMP_BUF), *down = malloc(TLS_PUMP_BUF);
	size_t ulen = 0, uoff = 0, dlen = 0, doff = 0;
	bool local_eof = false, net_eof = false, down_closed = false;
	char why[256] = "";
	sigset_t nopipe;

	/* a peer gone mid-write is an error here, never a signal that ends
	 * the process (OpenSSL writes the socket with plain write()) */
	sigemptyset(&nopipe);
	sigaddset(&nopipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &nopipe, NULL);
	if (!up || !down)
		goto done;
	for (;;) {
		short sev, lev;
		bool progress;
		do {
			progress = false;
			sev = lev = 0;
			/* local -> network */
			if (!local_eof && uoff == ulen) {
				ssize_t n = read(p->local, up, TLS_PUMP_BUF);
				if (n > 0) {
					ulen = (size_t)n;
					uoff = 0;
					progress = true;
				} else if (n == 0 || (errno != EAGAIN && errno != EINTR))
					local_eof = true;    /* the wire side is done with us */
				else
					lev |= POLLIN;
			}
			if (uoff < ulen) {
				int w = SSL_write(p->ssl, up + uoff, (int)(ulen - uoff));
				if (w > 0) {
					uoff += (size_t)w;
					if (uoff == ulen)
						uoff = ulen = 0;
					progress = true;
				} else {
					int e = SSL_get_error(p->ssl, w);
					if (e == SSL_ERROR_WANT_WRITE)
						sev |= POLLOUT;
					else if (e == SSL_ERROR_WANT_READ)
						sev |= POLLIN;
					else {
						tls_pump__ssl_why(why, sizeof(why));
						goto done;
					}
				}
			} else if (local_eof) {
				/* all it sent is out: say goodbye, and no more */
				(void)SSL_shutdown(p->ssl);
				goto done;
			}
			/* network -> local */
			if (!net_eof && doff == dlen) {
				int r = SSL_read(p->ssl, down, TLS_PUMP_BUF);
				if (r > 0) {
					dlen = (size_t)r;
					doff = 0;
					progress = true;
				} else {
					int e = SSL_get_error(p->ssl, r);
					if (e == SSL_ERROR_WANT_READ)
						sev |= POLLIN;
					else if (e == SSL_ERROR_WANT_WRITE)
						sev |= POLLOUT;
					else {
						if (e != SSL_ERROR_ZERO_RETURN)
							tls_pump__ssl_why(why, sizeof(why));
						net_eof = true;
						progress = true;
					}
				}
			}
			if (doff < dlen) {
				ssize_t n = send(p->local, down + doff, dlen - doff, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (n > 0) {
					doff += (size_t)n;
					if (doff == dlen)
						doff = dlen = 0;
					progress = true;
				} else if (n < 0 && (errno == EAGAIN || errno == EINTR))
					lev |= POLLOUT;
				else
					goto done;               /* the wire side closed */
			} else if (net_eof && !down_closed) {
				/* the peer is gone: the wire side reads EOF (its sends
				 * fail once we close below) */
				shutdown(p->local, SHUT_WR);
				down_closed = true;
				progress = true;
			}
		} while (progress);
		/* the peer gone, the wire side still sending: it learns it from
		 * its next send or read (we close below once SSL_write fails) */
		struct pollfd pf[2] = { { .fd = p->sock, .events = sev }, { .fd = p->local, .events = lev } };
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			goto done;
		if (pf[1].revents & (POLLERR | POLLNVAL))
			goto done;
		/* the wire side hung up (closed, or migrate-cancel's shutdown)
		 * while we wait for a peer that stopped reading: nothing we hold
		 * matters any more */
		if ((pf[1].revents & POLLHUP) && uoff < ulen)
			goto done;
	}
done:
	if (why[0])
		log__info("tls: migration connection ended: %s", why);
	shutdown(p->local, SHUT_RDWR);            /* the wire side's waits end now */
	close(p->local);
	shutdown(p->sock, SHUT_RDWR);
	close(p->sock);
	SSL_free(p->ssl);
	free(up);
	free(down);
	free(p);
	return NULL;
}

int tls_pump__start(SSL *ssl, int sock, char *err, size_t errlen)
{
	int sp[2], buf = PUMP_SOCKBUF;
	struct timeval snd;
	socklen_t sl = sizeof(snd);
	pthread_t t;
	pthread_attr_t attr;
	struct pump *p;

	p = calloc(1, sizeof(*p));
	if (!p || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp)) {
		errbuf__set(err, errlen, "tls: socketpair: %s", strerror(p ? errno : ENOMEM));
		free(p);
		SSL_free(ssl);
		close(sock);
		return -1;
	}
	/* the wire side keeps the socket's send timeout (a stalled peer fails
	 * a send, transport.c) and a buffer as deep as the socket's */
	if (!getsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &snd, &sl))
		setsockopt(sp[0], SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
	for (int i = 0; i < 2; i++) {
		setsockopt(sp[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		setsockopt(sp[i], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}
	fcntl(sp[1], F_SETFL, fcntl(sp[1], F_GETFL) | O_NONBLOCK);
	/* one read() for many records instead of two per record (header, then
	 * body); only now: read ahead during the handshake could swallow data
	 * that kernel TLS should have received */
	SSL_set_read_ahead(ssl, 1);
	*p = (struct pump){ .ssl = ssl, .sock = sock, .local = sp[1] };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, pump__run, p)) {
		pthread_attr_destroy(&attr);
		errbuf__set(err, errlen, "tls: cannot start the connection's pump thread");
		close(sp[0]);
		close(sp[1]);
		SSL_free(ssl);
		close(sock);
		free(p);
		return -1;
	}
	pthread_attr_destroy(&attr);
	return sp[0];
}
