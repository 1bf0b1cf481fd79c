/* wire_accept.c - the one way a receiver (handoff or migration) takes its
 * source: accept connections until one says a HELLO this process accepts.
 *
 * Connections are screened side by side (up to ACCEPT_PENDING at once, each
 * with its own HELLO deadline), so an idle or trickling peer delays nobody:
 * a real source connecting behind a hundred idle ones is served as soon as
 * its HELLO is in. A connection that fails the handshake (garbage, no HELLO
 * within the deadline, another protocol version, the wrong kind of move) is
 * answered with the reason where possible, logged and dropped; the wait
 * goes on. When the table is full, the connection that waited longest is
 * dropped to make room. Only a signal (util/cancel.h) or a broken listening
 * socket ends the wait. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migrate/tls.h"
#include "migrate/wire.h"
#include "state/record.h"
#include "util/cancel.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/version.h"

#define HELLO_TIMEOUT_MS 10000
#define ACCEPT_PENDING   16

struct pending {
	int fd;                            /* -1: free slot */
	bool tls;                          /* TLS handshake still to come (--tls-creds) */
	uint64_t deadline;
	size_t got;
	union {
		uint8_t b[sizeof(struct wire_hdr) + sizeof(struct wire_hello)];
		struct { struct wire_hdr h; struct wire_hello hello; } m;   /* no padding: */
	} u;
};
_Static_assert(__builtin_offsetof(struct pending, u.m.hello) - __builtin_offsetof(struct pending, u.m) ==
	       sizeof(struct wire_hdr), "the HELLO follows its header without padding, as on the wire");

static const char *const kind_name[] = { [WIRE_HANDOFF] = "a handoff", [WIRE_MIGRATE] = "a migration",
					 [WIRE_DATA] = "a migration's data connection",
					 [WIRE_REQUEST] = "a post-copy request connection" };

/* The header alone says whether this can be a HELLO; 0 or -1 with why. */
static int check_hdr(const struct wire_hdr *h, char *why, size_t len)
{
	const uint8_t *b = (const uint8_t *)h;
	if (h->magic != WIRE_MAGIC && b[0] == 0x16 && b[1] == 0x03)
		errbuf__set(why, len, "the source started TLS, this destination runs without --tls-creds");
	else if (h->magic != WIRE_MAGIC)
		errbuf__set(why, len, "the peer does not speak tern's protocol");
	else if (h->cmd != W_HELLO)
		errbuf__set(why, len, "expected HELLO, got %s", wire__cmd_name(h->cmd));
	else if (h->length != sizeof(struct wire_hello) || h->nfds)
		errbuf__set(why, len, "HELLO is malformed (%llu bytes)", (unsigned long long)h->length);
	else
		return 0;
	return -1;
}

static int check_hello(const struct wire_hdr *hdr, struct wire_hello *h, enum wire_kind kind,
		       char *why, size_t len)
{
	h->tern_version[sizeof(h->tern_version) - 1] = '\0';
	if (h->proto != WIRE_VERSION || hdr->version != WIRE_VERSION)
		errbuf__set(why, len, "protocol version %u is not supported (this tern speaks %d); source is %s",
			   h->proto, WIRE_VERSION, h->tern_version);
	else if (h->rec_major != REC_FORMAT_MAJOR)
		errbuf__set(why, len, "state format %u.x is not supported (this tern reads %d.x)",
			   h->rec_major, REC_FORMAT_MAJOR);
	else if (h->kind != (uint32_t)kind)
		errbuf__set(why, len, "this process waits for %s, not %s", kind_name[kind],
			   h->kind >= WIRE_HANDOFF && h->kind <= WIRE_REQUEST ? kind_name[h->kind] :
			   "an unknown kind of move");
	else
		return 0;
	return -1;
}

static void drop(struct pending *p, const char *why, bool answer)
{
	if (answer)
		(void)wire__reply_err(p->fd, "%s", why);
	close(p->fd);
	p->fd = -1;
	log__info("dropped a connection that failed the handshake (%s); still waiting", why);
}

/* Read what p's peer has sent. Returns 1 when a whole acceptable HELLO is
 * in, 0 to keep waiting, -1 when p was dropped. */
static int advance(struct pending *p, enum wire_kind kind, struct tls_creds *tls)
{
	char why[400];
	if (p->tls) {
		/* TLS before HELLO; blocking, but only once the peer has begun */
		int fd = tls__server(tls, p->fd, HELLO_TIMEOUT_MS, why, sizeof(why));
		p->tls = false;
		if (fd < 0) {
			p->fd = -1;                   /* tls__server closed it */
			log__err("refused a source: %s; still waiting", why);
			return -1;
		}
		p->fd = fd;
		return 0;
	}
	size_t want = p->got < sizeof(struct wire_hdr) ? sizeof(struct wire_hdr) : sizeof(p->u.b);
	/* never more than header + HELLO: what follows is the receiver's */
	ssize_t n = recv(p->fd, p->u.b + p->got, want - p->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		drop(p, n == 0 ? "the peer closed the connection" : strerror(errno), false);
		return -1;
	}
	p->got += (size_t)n;
	if (p->got == sizeof(struct wire_hdr) && check_hdr(&p->u.m.h, why, sizeof(why))) {
		drop(p, why, true);
		return -1;
	}
	if (p->got < sizeof(p->u.b))
		return 0;
	if (check_hello(&p->u.m.h, &p->u.m.hello, kind, why, sizeof(why))) {
		drop(p, why, true);
		return -1;
	}
	return 1;
}

int wire__accept_source(int lfd, enum wire_kind kind, uint8_t nonce[WIRE_NONCE_LEN],
			char *err, size_t errlen)
{
	return wire__accept_kind(lfd, kind, NULL, -1, nonce, err, errlen);
}

int wire__accept_kind(int lfd, enum wire_kind kind, struct tls_creds *tls, int timeout_ms,
		      uint8_t nonce[WIRE_NONCE_LEN], char *err, size_t errlen)
{
	struct pending pend[ACCEPT_PENDING];
	struct pollfd pfd[ACCEPT_PENDING + 1];
	uint64_t until = cancel__deadline(timeout_ms);
	int ret = -1;

	for (int i = 0; i < ACCEPT_PENDING; i++)
		pend[i].fd = -1;
	for (;;) {
		/* the nearest HELLO deadline bounds the wait, and ours */
		uint64_t next = until;
		if (until && cancel__ms_left(until) == 0) {
			errbuf__set(err, errlen, "no %s within %d s", kind_name[kind], timeout_ms / 1000);
			goto out;
		}
		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < ACCEPT_PENDING; i++) {
			pfd[n++] = (struct pollfd){ .fd = pend[i].fd, .events = POLLIN };
			if (pend[i].fd >= 0 && (!next || pend[i].deadline < next))
				next = pend[i].deadline;
		}
		int r = cancel__poll_many(pfd, n, cancel__ms_left(next));
		if (r == -ECANCELED) {
			int sig = cancel__pending();
			errbuf__set(err, errlen, "stopped by SIG%s while waiting for a source (WAIT_HELLO)",
				   sig ? sigabbrev_np(sig) : "?");
			goto out;
		}
		if (r < 0 && r != -ETIMEDOUT) {
			errbuf__set(err, errlen, "waiting for a source: %s", strerror(-r));
			goto out;
		}
		for (int i = 0; i < ACCEPT_PENDING; i++) {
			struct pending *p = &pend[i];
			if (p->fd < 0)
				continue;
			if (pfd[i + 1].revents) {
				int a = advance(p, kind, tls);
				if (a == 1) {
					int fd = p->fd;
					p->fd = -1;
					if (getrandom(nonce, WIRE_NONCE_LEN, 0) != WIRE_NONCE_LEN) {
						errbuf__set(err, errlen, "getrandom: %s", strerror(errno));
						close(fd);
						goto out;
					}
					if ((r = wire__reply_ok(fd, nonce, WIRE_NONCE_LEN)) == 0) {
						if (!tls)
							tls__note_plaintext(fd, "from the source");
						ret = fd;
						goto out;
					}
					close(fd);
					log__info("dropped a connection: cannot answer its HELLO: %s", strerror(-r));
					continue;
				}
				if (a < 0)
					continue;
			}
			if (cancel__ms_left(p->deadline) == 0)
				drop(p, "no HELLO within 10 s", false);
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED ||
				    errno == EMFILE || errno == ENFILE) {
					if (errno == EMFILE || errno == ENFILE) {
						/* the connection stays queued: back off
						 * instead of spinning on a readable lfd */
						log__err("accept: %s (still waiting)", strerror(errno));
						struct timespec ts = { 0, 100 * 1000 * 1000 };
						nanosleep(&ts, NULL);
					}
					continue;
				}
				errbuf__set(err, errlen, "accept: %s", strerror(errno));
				goto out;
			}
			/* small messages (replies, post-copy's page requests)
			 * must not wait for a delayed ACK (Nagle); a unix
			 * socket refuses the option, harmlessly */
			int one = 1;
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			struct pending *slot = NULL, *oldest = NULL;
			for (int i = 0; i < ACCEPT_PENDING; i++) {
				if (pend[i].fd < 0 && !slot)
					slot = &pend[i];
				if (pend[i].fd >= 0 && (!oldest || pend[i].deadline < oldest->deadline))
					oldest = &pend[i];
			}
			if (!slot) {
				drop(oldest, "too many connections waiting to say HELLO", false);
				slot = oldest;
			}
			slot->fd = fd;
			slot->tls = tls != NULL;
			slot->got = 0;
			slot->deadline = cancel__deadline(HELLO_TIMEOUT_MS);
		}
	}
out:
	for (int i = 0; i < ACCEPT_PENDING; i++)
		if (pend[i].fd >= 0)
			close(pend[i].fd);
	return ret;
}

int wire__hello(int sock, enum wire_kind kind, int timeout_ms, uint8_t nonce[WIRE_NONCE_LEN],
		char *err, size_t errlen)
{
	struct wire_hello hello = { .proto = WIRE_VERSION, .rec_major = REC_FORMAT_MAJOR,
				    .rec_minor = REC_FORMAT_MINOR, .kind = kind };
	struct wire_msg m;
	int r;

	snprintf(hello.tern_version, sizeof(hello.tern_version), "tern %s", version__string());
	/* fault WIRE_VERSION=N: claim protocol N (test_handoff) */
	const char *pv = fault__arg("WIRE_VERSION");
	if (pv)
		hello.proto = (uint32_t)atoi(pv);
	if ((r = wire__send(sock, W_HELLO, 0, &hello, sizeof(hello), NULL, 0))) {
		errbuf__set(err, errlen, "%s", strerror(-r));
		return -1;
	}
	if (wire__expect_reply(sock, &m, timeout_ms, err, errlen))
		return -1;
	if (m.h.length != WIRE_NONCE_LEN) {
		errbuf__set(err, errlen, "the receiver sent no session nonce (tern older than wire protocol %d?)",
			   WIRE_VERSION);
		wire__msg_free(&m);
		return -1;
	}
	memcpy(nonce, m.data, WIRE_NONCE_LEN);
	wire__msg_free(&m);
	return 0;
}

int wire__take_join(int sock, const uint8_t nonce[WIRE_NONCE_LEN], uint32_t *index, char *why, size_t len)
{
	struct wire_msg m;
	struct wire_join j;
	int r = wire__recv(sock, &m, 10000), ret = -1;
	if (r) {
		errbuf__set(why, len, "no JOIN (%s)", strerror(-r));
		return -1;
	}
	if (m.h.cmd != W_JOIN || m.h.length != sizeof(j)) {
		errbuf__set(why, len, "expected JOIN");
	} else {
		memcpy(&j, m.data, sizeof(j));
		if (memcmp(j.nonce, nonce, WIRE_NONCE_LEN))
			errbuf__set(why, len, "JOIN names another migration");
		else {
			*index = j.index;
			ret = 0;
		}
	}
	wire__msg_free(&m);
	return ret;
}
