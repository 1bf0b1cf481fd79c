/* page_rx.c - the destination's page pipeline (see page_rx.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migrate/page_rx.h"
#include "util/io.h"
#include "util/log.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define JOIN_TIMEOUT_MS 30000
#define PROVISION_STEP (16ULL << 20)      /* bytes per call: the stop flag is seen between */

struct rx_conn {
	struct page_rx *p;
	int idx, sock;
	pthread_t th;
	bool started;
	uint8_t *stage;
	struct ram_suspects sus;
	uint64_t fences;
	bool read_failed;                 /* the last batch's read failed */
};

/* broken: the connection itself failed (a read), not what came on it */
static void fail(struct rx_conn *c, const char *why, bool broken)
{
	struct page_rx *p = c->p;
	bool first;
	pthread_mutex_lock(&p->lock);
	first = !p->failed && !p->closing;
	if (first) {
		snprintf(p->err, sizeof(p->err), "data connection %d: %s", c->idx, why);
		p->failed = true;
		p->broken = broken;
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (!first)
		return;
	/* the source's worker reads why when its next send fails; the
	 * control thread wakes from its wait on the control connection */
	(void)wire__reply_err(c->sock, "%s", why);
	shutdown(c->sock, SHUT_RDWR);
	shutdown(p->ctl, SHUT_RD);
}

static int sock_read(void *rctx, struct iovec *iov, int n)
{
	struct rx_conn *c = rctx;
	int r = wire__recv_iov(c->sock, iov, n, 120000);
	if (r)
		c->read_failed = true;
	return r;
}

static void *conn_main(void *arg)
{
	struct rx_conn *c = arg;
	struct page_rx *p = c->p;
	char why[512];

	for (;;) {
		struct wire_hdr h;
		struct wire_msg m;
		int r = wire__recv_hdr(c->sock, &h, -1);
		if (r == -ECANCELED) {
			/* migrate-cancel, quit or a signal: the control thread
			 * says so; nothing failed here */
			pthread_mutex_lock(&p->lock);
			p->cancelled = true;
			pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		if (r) {
			fail(c, r == -ECONNRESET ? "the source closed the connection (the stream ended early)" :
				r == -EPROTO ? "the stream is not tern's protocol (corrupted?)" : strerror(-r),
			     r != -EPROTO);
			return NULL;
		}
		if (h.cmd == W_RAM) {
			struct mig_stats d = { 0 };
			pthread_mutex_lock(&p->lock);     /* post-copy changes it between batches */
			struct ram_batch_sink s = p->sink;
			pthread_mutex_unlock(&p->lock);
			s.read = sock_read;
			s.rctx = c;
			s.stage = c->stage;
			s.suspects = &c->sus;
			s.st = &d;
			c->read_failed = false;
			if (ram_batch__receive(&s, h.length, why, sizeof(why))) {
				fail(c, why, c->read_failed);
				return NULL;
			}
			d.transferred = h.length + sizeof(h);
			pthread_mutex_lock(p->st_lock);
			mig_stats__add_counts(p->st, &d);
			pthread_mutex_unlock(p->st_lock);
			continue;
		}
		if ((r = wire__recv_body(c->sock, &h, &m, 120000))) {
			fail(c, r == -ECONNRESET ? "the source closed the connection (the stream ended early)" :
				strerror(-r), r != -EPROTO);
			return NULL;
		}
		if (h.cmd == W_FENCE) {
			uint64_t round;
			r = ram_fence__check(m.data, m.h.length, &c->sus, &round, why, sizeof(why));
			wire__msg_free(&m);
			if (r) {
				fail(c, why, false);
				return NULL;
			}
			pthread_mutex_lock(&p->lock);
			c->fences++;
			pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		if (h.cmd == W_ABORT)
			snprintf(why, sizeof(why), "the source aborted: %s", (char *)m.data);
		else
			snprintf(why, sizeof(why), "unexpected %s on a data connection", wire__cmd_name(h.cmd));
		wire__msg_free(&m);
		fail(c, why, false);
		return NULL;
	}
}

/* Allocate the announced pages ahead of the data: MADV_POPULATE_WRITE
 * maps them into the mapping the pages are read into (and that KVM uses),
 * so neither the receiving threads nor the guest fault on them later;
 * fallocate where the kernel lacks it (pages allocated, not mapped). */
static void *provision(void *arg)
{
	struct page_rx *p = arg;
	uint64_t t0 = now__ns(), bytes = 0;
	bool populate = true;
	for (uint32_t i = 0; i < p->next; i++) {
		uint64_t off = p->ext[i].first * 4096, end = off + p->ext[i].count * 4096;
		while (off < end) {
			uint64_t len = end - off < PROVISION_STEP ? end - off : PROVISION_STEP;
			if (__atomic_load_n(&p->prov_stop, __ATOMIC_RELAXED))
				goto out;
			if (populate && madvise(p->sink.ram + off, len, MADV_POPULATE_WRITE) < 0) {
				if (errno != EINVAL) {
					log__info("provisioning RAM: madvise: %s (pages fault in as they come)",
						  strerror(errno));
					goto out;
				}
				populate = false;
			}
			if (!populate && fallocate(p->memfd, 0, (off_t)off, (off_t)len) < 0) {
				log__info("provisioning RAM: fallocate: %s (pages fault in as they come)",
					  strerror(errno));
				goto out;
			}
			off += len;
			bytes += len;
		}
	}
out:;
	uint64_t ns = now__ns() - t0;
	log__info("provisioned %llu MiB of guest RAM ahead of the pages in %.0f ms (%.2f GB/s, %s)",
		  (unsigned long long)(bytes >> 20), (double)ns / 1e6, ns ? (double)bytes / (double)ns : 0.0,
		  populate ? "MADV_POPULATE_WRITE" : "fallocate");
	return NULL;
}

int page_rx__prepare(struct page_rx *p, const uint8_t *payload, size_t len, char *err, size_t errlen)
{
	const struct ram_extent *ext;
	uint32_t conns, next;

	if (p->c) {
		errbuf__set(err, errlen, "a second DATA_OPEN");
		return -1;
	}
	if (ram_open__parse(payload, len, p->sink.ram_size, &conns, &ext, &next, err, errlen))
		return -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (!(p->c = calloc(conns, sizeof(*p->c))) || (next && !(p->ext = malloc(next * sizeof(*ext))))) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	p->nconns = (int)conns;
	for (uint32_t i = 0; i < conns; i++)
		p->c[i].sock = -1;
	if (next)
		memcpy(p->ext, ext, next * sizeof(*ext));
	p->next = next;
	if (next && !p->no_provision && pthread_create(&p->prov, NULL, provision, p) == 0) {
		p->prov_started = true;
		pthread_setname_np(p->prov, "tern-provision");
	}
	return 0;
}

/* One data connection: HELLO as data (wire__accept_kind), then JOIN with
 * our nonce and an index not yet taken. -1: dropped (logged), keep going. */
static int take_join(struct page_rx *p, int sock, const uint8_t nonce[WIRE_NONCE_LEN])
{
	char why[200] = "";
	uint32_t idx = 0;
	if (wire__take_join(sock, nonce, &idx, why, sizeof(why)) == 0 &&
	    (idx >= (uint32_t)p->nconns || p->c[idx].sock >= 0))
		snprintf(why, sizeof(why), "JOIN's index is out of range or taken");
	else if (why[0] == 0) {
		if (wire__reply_ok(sock, NULL, 0)) {
			close(sock);
			return -1;
		}
		p->c[idx].sock = sock;
		return 0;
	}
	(void)wire__reply_err(sock, "%s", why);
	log__info("dropped a data connection: %s", why);
	close(sock);
	return -1;
}

int page_rx__accept(struct page_rx *p, int lfd, const uint8_t nonce[WIRE_NONCE_LEN], char *err, size_t errlen)
{
	uint64_t deadline = now__ns() + JOIN_TIMEOUT_MS * 1000000ULL;
	int joined = 0;
	while (joined < p->nconns) {
		uint8_t junk[WIRE_NONCE_LEN];
		int64_t left = (int64_t)(deadline - now__ns()) / 1000000;
		if (left <= 0) {
			errbuf__set(err, errlen, "only %d of %d data connections joined within %d s", joined,
				    p->nconns, JOIN_TIMEOUT_MS / 1000);
			return -1;
		}
		int sock = wire__accept_kind(lfd, WIRE_DATA, p->tls, (int)left, junk, err, errlen);
		if (sock < 0)
			return -1;
		if (take_join(p, sock, nonce) == 0)
			joined++;
	}
	for (int i = 0; i < p->nconns; i++) {
		struct rx_conn *c = &p->c[i];
		c->p = p;
		c->idx = i;
		if (!(c->stage = malloc(RAM_BATCH_STAGE))) {
			errbuf__set(err, errlen, "out of memory");
			return -1;
		}
		if (pthread_create(&c->th, NULL, conn_main, c)) {
			errbuf__set(err, errlen, "cannot start a receiving thread");
			return -1;
		}
		c->started = true;
		char name[16];                    /* for profiles and top -H */
		snprintf(name, sizeof(name), "tern-rx%d", i % 100);
		pthread_setname_np(c->th, name);
	}
	return 0;
}

int page_rx__wait_fences(struct page_rx *p, uint64_t fences, int timeout_ms, char *err, size_t errlen)
{
	struct timespec ts;
	int ret = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		int behind = 0;
		for (int i = 0; i < p->nconns; i++)
			behind += p->c[i].fences < fences;
		if (p->failed) {
			errbuf__set(err, errlen, "%s", p->err);
			ret = -1;
			break;
		}
		if (p->cancelled) {
			ret = -2;
			break;
		}
		if (!behind)
			break;
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT) {
			errbuf__set(err, errlen, "%d data connection%s did not end round %llu within %d s", behind,
				    behind == 1 ? "" : "s", (unsigned long long)fences, timeout_ms / 1000);
			ret = -1;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void page_rx__stop_provision(struct page_rx *p)
{
	__atomic_store_n(&p->prov_stop, true, __ATOMIC_RELAXED);
	if (p->prov_started)
		pthread_join(p->prov, NULL);
	p->prov_started = false;
}

void page_rx__set_sink(struct page_rx *p, const struct ram_batch_sink *s)
{
	pthread_mutex_lock(&p->lock);
	p->sink = *s;
	pthread_mutex_unlock(&p->lock);
}

bool page_rx__broken(struct page_rx *p)
{
	bool b = false;
	if (!p->c)
		return false;
	pthread_mutex_lock(&p->lock);
	b = p->failed && p->broken;
	pthread_mutex_unlock(&p->lock);
	return b;
}

const char *page_rx__failed(struct page_rx *p)
{
	const char *r = NULL;
	if (!p->c)
		return NULL;
	pthread_mutex_lock(&p->lock);
	if (p->failed)
		r = p->err;
	pthread_mutex_unlock(&p->lock);
	return r;
}

void page_rx__close(struct page_rx *p)
{
	if (!p->c)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_mutex_unlock(&p->lock);
	__atomic_store_n(&p->prov_stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < p->nconns; i++)
		if (p->c[i].sock >= 0)
			shutdown(p->c[i].sock, SHUT_RDWR);
	for (int i = 0; i < p->nconns; i++) {
		struct rx_conn *c = &p->c[i];
		if (c->started)
			pthread_join(c->th, NULL);
		if (c->sock >= 0)
			close(c->sock);
		free(c->stage);
		ram_suspects__free(&c->sus);
	}
	if (p->prov_started)
		pthread_join(p->prov, NULL);
	free(p->c);
	free(p->ext);
	p->c = NULL;
	p->ext = NULL;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}
