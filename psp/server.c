/* server.c - connections: one thread each, one request at a time each,
 * every request handled under the platform lock. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "psp.h"
#include "server.h"
#include "util/log.h"
#include "util/scm.h"

struct conn {
	int sock;
	struct pvm *vm;                   /* NULL: platform connection */
};

static void *serve(void *arg);

static int spawn(int sock, struct pvm *vm)
{
	pthread_t t;
	pthread_attr_t a;
	struct conn *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->sock = sock;
	c->vm = vm;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	int r = pthread_create(&t, &a, serve, c);
	pthread_attr_destroy(&a);
	if (r) {
		free(c);
		return -r;
	}
	return 0;
}

static ssize_t recv_msg(int sock, uint8_t *buf, size_t cap, int *fd)
{
	union scm_buf u;
	struct iovec iov = { buf, cap };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int nfd = 0;
	*fd = -1;
	scm__prepare(&m, &u);
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	scm__collect(&m, fd, &nfd, 1);   /* one fd per request; extras are closed */
	if (n >= 0 && (m.msg_flags & MSG_TRUNC))
		return -EMSGSIZE;
	return n;
}

/* (fix) recvmsg returns 0 both at EOF and for an empty datagram, which
 * any holder of a handle can send; taking it for EOF destroyed the VM
 * under its other holders. EOF is when the peer has hung up. */
static bool hung_up(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLRDHUP };
	int k = poll(&p, 1, 0);
	return k < 0 || (k == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)));
}

static int send_reply(int sock, struct psp_hdr *h, struct reply *r)
{
	union scm_buf u;
	struct iovec iov[2] = { { h, sizeof(*h) }, { r->data, r->len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = r->len ? 2 : 1 };
	scm__attach(&m, &u, &r->fd, r->fd >= 0 ? 1 : 0);
	ssize_t n = scm__sendmsg(sock, &m);
	return n < 0 ? (int)n : 0;
}

static void *serve(void *arg)
{
	struct conn c = *(struct conn *)arg;
	uint8_t *buf = malloc(PSP_MAX_MSG);
	struct reply *r = malloc(sizeof(*r));
	free(arg);
	if (!buf || !r)
		goto out;
	for (;;) {
		int fd;
		struct psp_hdr rh;
		ssize_t n = recv_msg(c.sock, buf, PSP_MAX_MSG, &fd);
		if ((n == 0 && hung_up(c.sock)) || (n < 0 && n != -EMSGSIZE))
			break;            /* the client closed its end (or died) */
		/* an empty datagram is malformed: dispatch refuses it (EPROTO) */
		pthread_mutex_lock(&plat.lock);
		if (n < 0) {              /* oversized datagram: refuse, keep serving */
			if (fd >= 0)
				close(fd);
			psp__dispatch(c.vm, buf, 0, -1, &rh, r);
		} else {
			psp__dispatch(c.vm, buf, (size_t)n, fd, &rh, r);
		}
		struct pvm *created = NULL;
		int daemon_end = -1;
		if (!c.vm && rh.op == PSP_OP_VM_CREATE && r->status == 0) {
			created = plat.vms;       /* pvm__create pushes at the head */
			daemon_end = created->sock;
		}
		pthread_mutex_unlock(&plat.lock);
		if (created && spawn(daemon_end, created)) {
			pthread_mutex_lock(&plat.lock);
			pvm__close(created);
			pthread_mutex_unlock(&plat.lock);
			close(r->fd);
			r->fd = -1;
			r->len = 0;
			rh.status = -ENOMEM;
			rh.len = 0;
		}
		send_reply(c.sock, &rh, r);
		if (r->fd >= 0)
			close(r->fd);     /* our copy of the client's new handle */
	}
out:
	if (c.vm) {
		pthread_mutex_lock(&plat.lock);
		psp__log("VM %llu: handle closed", (unsigned long long)c.vm->id);
		c.vm->sock = -1;          /* closed below, by this thread */
		pvm__close(c.vm);
		pthread_mutex_unlock(&plat.lock);
	}
	close(c.sock);
	free(buf);
	free(r);
	return NULL;
}

/* Out of descriptors (or memory), accept fails while the connection
 * stays queued. Returning would end the platform of every VM; retrying at
 * once would spin. So: give up the spare descriptor for a moment, accept
 * the connection and close it (the client sees the platform hang up), take
 * the spare back; if even that fails, back off briefly. Existing clients
 * keep being served throughout: their threads need no new descriptor to
 * answer. Logged at most once a second. */
static int spare = -1;

static void refused(const char *why)
{
	static unsigned long n;
	static time_t last;
	time_t t = time(NULL);
	n++;
	if (t != last) {
		last = t;
		log__err("refusing new connections: %s (%lu refused so far); "
			"existing clients are still served", why, n);
	}
}

static void shed(int lfd, int err)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	int s = -1;

	refused(strerror(err));
	if (err == EMFILE || err == ENFILE) {
		if (spare < 0)            /* lost to another thread last time */
			spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (spare >= 0) {
			close(spare);
			s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (s >= 0)
				close(s);
			spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
	}
	if (s < 0)
		nanosleep(&pause, NULL);
}

int server__accept_loop(int lfd)
{
	spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (;;) {
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				shed(lfd, errno);
				continue;
			default:
				return -errno;
			}
		}
		int r = spawn(s, NULL);
		if (r) {
			close(s);
			refused(strerror(-r));
		}
	}
}
