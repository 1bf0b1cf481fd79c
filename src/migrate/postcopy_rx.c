/* postcopy_rx.c - the destination's side of post-copy (postcopy.h).
 *
 * Three page states, one bit array each, indexed by page:
 *   missing  - the source's list at the switch (read only after it)
 *   claimed  - a receiving thread is writing the page (first copy wins)
 *   present  - its bytes are all in the memfd: it may be mapped
 * Guest RAM has two mappings of the one memfd: the guest's view (vm->ram,
 * KVM's memslot, registered with userfaultfd) and a fill view that the
 * receiving threads write through. A missing page is unmapped from the
 * guest's view before the switch (its stale bytes stay in the memfd,
 * already allocated, to be overwritten): most of them at POSTCOPY and the
 * POSTCOPY_MOREs that follow it while the guest still runs on the
 * source, the few written since by the last one, in the pause. A vCPU
 * that touches one faults (minor:
 * the memfd has a page there; missing: it has none), the fault thread asks
 * the source, and the page is mapped (UFFDIO_CONTINUE, which wakes the
 * vCPU) only once it is whole. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem/uffd.h"
#include "migrate/postcopy.h"
#include "migrate/tls.h"
#include "util/fault.h"
#include "util/io.h"
#include "util/log.h"
#include "util/prio.h"
#include "vm/vm.h"

#define LAT_MAX (1u << 20)                /* latency samples kept */

struct postcopy_rx {
	struct vm *vm;
	struct mig_stats *st;
	pthread_mutex_t *st_lock;
	uint64_t npages;
	uint64_t *missing;                /* bit arrays of npages bits */
	_Atomic uint64_t *claimed, *present;
	_Atomic uint64_t *req_ns;         /* per page: when it was requested (0: never) */
	uint8_t *fill;                    /* the fill view */
	struct uffd u;
	bool armed;
	_Atomic bool closing;
	/* the request connection broke (the source may come back: recovery);
	 * requests are kept, not sent, until postcopy_rx__reconnect */
	_Atomic bool broken;
	char broken_why[640];
	pthread_mutex_t req_lock;         /* req_sock's sends, against the reconnect */
	int req_sock;
	struct ram_batch_sink base;       /* the receive's private callbacks */
	uint8_t *stage;                   /* the request connection's sealed packets */
	bool read_failed;                 /* the request thread's last read failed */
	int stop[2];
	pthread_t fault_th, req_th;
	bool fault_started, req_started;
	_Atomic bool failed;
	char err[512];
	uint64_t t_switch;
	uint64_t bytes_at_switch;         /* st->transferred then: what follows is post-copy's */
	/* unmapping the stale pages: by every list, and by the last one
	 * (the source paused for it) */
	uint64_t unmap_ns, unmapped, last_ns, last_n, lists;
	_Atomic uint64_t remaining, requests, req_bytes, blocked_ns, lat_max, refused;
	_Atomic uint64_t sent, answered;  /* PAGE_REQ messages, and answers to them (pages or a refusal) */
	pthread_mutex_t lat_lock;
	uint32_t *lat_us;
	size_t nlat;
};

static bool test_bit(const uint64_t *b, uint64_t i)
{
	return (b[i / 64] >> (i % 64)) & 1;
}

static bool atomic_test(_Atomic uint64_t *b, uint64_t i)
{
	return (atomic_load_explicit(&b[i / 64], memory_order_acquire) >> (i % 64)) & 1;
}

/* Set bit i; true if this call set it. */
static bool atomic_set(_Atomic uint64_t *b, uint64_t i)
{
	uint64_t m = 1ull << (i % 64);
	return !(atomic_fetch_or_explicit(&b[i / 64], m, memory_order_acq_rel) & m);
}

__attribute__((format(printf, 2, 0)))
static void fail(struct postcopy_rx *p, const char *fmt, const char *why)
{
	if (atomic_exchange(&p->failed, true))
		return;
	snprintf(p->err, sizeof(p->err), fmt, why);
	log__err("post-copy: %s", p->err);
	/* the fault thread stops serving: vCPUs that wait for a page keep
	 * waiting (never a zero page in place of one we lack); the control
	 * thread sees the failure at its next look */
	if (write(p->stop[1], "x", 1) < 0)
		log__err("post-copy: cannot stop the fault thread");
}

/* The request connection broke: the source may be gone, or only the
 * network; the caller decides (recovery or the VM lost). */
static void broke(struct postcopy_rx *p, const char *why)
{
	if (atomic_exchange(&p->broken, true))
		return;
	snprintf(p->broken_why, sizeof(p->broken_why), "the request connection to the source broke (%s)", why);
	log__err("post-copy: %s", p->broken_why);
}

/* The pages set in words leave the guest's view (2 us a page here, most
 * of it the TLB shootdowns: this is why it happens ahead of the pause).
 * 0, or -1 with err. */
static int unmap_stale(struct postcopy_rx *p, const uint64_t *words, char *err, size_t errlen)
{
	uint64_t n = 0;
	uint64_t t0 = now__ns();
	for (uint64_t a = 0; a < p->npages;) {
		if (!words[a / 64]) {
			a = (a / 64 + 1) * 64;
			continue;
		}
		if (!test_bit(words, a)) {
			a++;
			continue;
		}
		uint64_t e = a + 1;
		while (e < p->npages && test_bit(words, e))
			e++;
		if (madvise(p->vm->ram.hva + a * 4096, (e - a) * 4096, MADV_DONTNEED) < 0) {
			errbuf__set(err, errlen, "post-copy: unmapping stale pages: %s", strerror(errno));
			return -1;
		}
		n += e - a;
		a = e;
	}
	p->last_ns = now__ns() - t0;
	p->last_n = n;
	p->unmap_ns += p->last_ns;
	p->unmapped += n;
	p->lists++;
	return 0;
}

struct postcopy_rx *postcopy_rx__new(struct vm *vm, const uint8_t *payload, size_t len, struct mig_stats *st,
				     pthread_mutex_t *st_lock, char *err, size_t errlen)
{
	uint64_t npages = vm->ram.size / 4096, words = (npages + 63) / 64, n = 0;
	struct postcopy_rx *p = calloc(1, sizeof(*p));
	if (!p) {
		errbuf__set(err, errlen, "out of memory");
		return NULL;
	}
	p->vm = vm;
	p->st = st;
	p->st_lock = st_lock;
	p->npages = npages;
	p->req_sock = p->stop[0] = p->stop[1] = -1;
	p->u.fd = -1;
	p->fill = MAP_FAILED;
	pthread_mutex_init(&p->lat_lock, NULL);
	pthread_mutex_init(&p->req_lock, NULL);
	p->missing = malloc(words * 8);
	p->claimed = calloc(words, 8);
	p->present = calloc(words, 8);
	p->req_ns = calloc(npages, 8);
	p->lat_us = malloc(LAT_MAX * sizeof(*p->lat_us));
	if (!p->missing || !p->claimed || !p->present || !p->req_ns || !p->lat_us ||
	    pipe2(p->stop, O_CLOEXEC) < 0) {
		errbuf__set(err, errlen, "out of memory for post-copy's page maps");
		goto fail;
	}
	if (postcopy__parse_missing(payload, len, npages, p->missing, &n, err, errlen))
		goto fail;
	/* what is not missing is in place already */
	for (uint64_t i = 0; i < words; i++)
		atomic_store(&p->present[i], ~p->missing[i]);
	atomic_store(&p->remaining, n);
	if (unmap_stale(p, p->missing, err, errlen))
		goto fail;
	p->fill = mmap(NULL, vm->ram.size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->ram.fd, 0);
	if (p->fill == MAP_FAILED) {
		errbuf__set(err, errlen, "post-copy: cannot map guest RAM a second time: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(st_lock);
	st->postcopy = true;
	st->postcopy_missing = st->postcopy_remaining = n;
	pthread_mutex_unlock(st_lock);
	return p;
fail:
	postcopy_rx__free(p);
	return NULL;
}

int postcopy_rx__more(struct postcopy_rx *p, const uint8_t *payload, size_t len, char *err, size_t errlen)
{
	uint64_t words = (p->npages + 63) / 64, n = 0, added = 0;
	uint64_t *more = malloc(words * 8);
	if (!more) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	if (postcopy__parse_missing(payload, len, p->npages, more, &n, err, errlen)) {
		free(more);
		return -1;
	}
	for (uint64_t i = 0; i < words; i++) {
		more[i] &= ~p->missing[i];    /* named twice: once is enough */
		p->missing[i] |= more[i];
		atomic_fetch_and(&p->present[i], ~more[i]);
		added += (uint64_t)__builtin_popcountll(more[i]);
	}
	int r = unmap_stale(p, more, err, errlen);
	free(more);
	if (r)
		return -1;
	uint64_t total = atomic_fetch_add(&p->remaining, added) + added;
	pthread_mutex_lock(p->st_lock);
	p->st->postcopy_missing = p->st->postcopy_remaining = total;
	pthread_mutex_unlock(p->st_lock);
	return 0;
}

/* ram_batch_sink hooks */
static bool claim(void *ctx, uint64_t gpa)
{
	struct postcopy_rx *p = ctx;
	return atomic_set(p->claimed, gpa / 4096) && !atomic_test(p->present, gpa / 4096);
}

/* A page in place: its waiters' latency, and one page fewer to come. */
static void account(struct postcopy_rx *p, uint64_t gpa, uint64_t t)
{
	uint64_t pfn = gpa / 4096;
	atomic_fetch_sub(&p->remaining, 1);
	uint64_t asked = atomic_load(&p->req_ns[pfn]);
	if (asked && t > asked) {
		uint64_t lat = t - asked;
		atomic_fetch_add(&p->blocked_ns, lat);
		if (lat > atomic_load(&p->lat_max))
			atomic_store(&p->lat_max, lat);
		pthread_mutex_lock(&p->lat_lock);
		if (p->nlat < LAT_MAX)
			p->lat_us[p->nlat++] = (uint32_t)(lat / 1000 < UINT32_MAX ? lat / 1000 : UINT32_MAX);
		pthread_mutex_unlock(&p->lat_lock);
	}
}

/* The pages this thread placed from the batch it reads, mapped into the
 * guest's view together at the batch's end: one UFFDIO_CONTINUE per run
 * of neighbours, not one per page (the background stream's pages come
 * mostly in runs; an ioctl a page was a cost of its push). */
static __thread struct {
	uint32_t n;
	uint64_t gpa[RAM_BATCH_PAGES];
} pending;

static void map_pending(struct postcopy_rx *p)
{
	uint32_t n = pending.n;
	pending.n = 0;
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i + 1;
		while (j < n && pending.gpa[j] == pending.gpa[j - 1] + 4096)
			j++;
		if (p->armed) {
			/* a vCPU waiting for one of them wakes */
			int r = uffd__continue(&p->u, p->vm->ram.hva + pending.gpa[i], (uint64_t)(j - i) * 4096);
			if (r)
				fail(p, "mapping a page into the guest: UFFDIO_CONTINUE: %s", strerror(-r));
		}
		uint64_t t = now__ns();
		for (uint32_t k = i; k < j; k++)
			account(p, pending.gpa[k], t);
		i = j;
	}
}

static void placed(void *ctx, uint64_t gpa)
{
	struct postcopy_rx *p = ctx;
	/* present now: a fault on it maps it at once, ahead of the batch */
	atomic_set(p->present, gpa / 4096);
	if (atomic_load(&p->req_ns[gpa / 4096]) && p->armed) {
		/* a vCPU waits for it: not a batch later */
		int r = uffd__continue(&p->u, p->vm->ram.hva + gpa, 4096);
		if (r)
			fail(p, "mapping a page into the guest: UFFDIO_CONTINUE: %s", strerror(-r));
		account(p, gpa, now__ns());
		return;
	}
	pending.gpa[pending.n++] = gpa;
	if (pending.n == RAM_BATCH_PAGES)
		map_pending(p);
}

static void placed_all(void *ctx)
{
	map_pending(ctx);
}

/* The callbacks a batch calls back into go to the receive's context
 * (base.ctx) for private pages, to us for claims: a small shim. */
static int open_private(void *ctx, const uint8_t *pkt, uint32_t len, char *err, size_t errlen)
{
	struct postcopy_rx *p = ctx;
	return p->base.open_private(p->base.ctx, pkt, len, err, errlen);
}

static int open_helper(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen)
{
	struct postcopy_rx *p = ctx;
	return p->base.open_helper(p->base.ctx, gpa, pkt, err, errlen);
}

static int flush_helper(void *ctx, char *err, size_t errlen)
{
	struct postcopy_rx *p = ctx;
	return p->base.flush_helper(p->base.ctx, err, errlen);
}

static void lock_private(void *ctx, bool lock)
{
	struct postcopy_rx *p = ctx;
	if (p->base.lock_private)
		p->base.lock_private(p->base.ctx, lock);
}

void postcopy_rx__sink(struct postcopy_rx *p, struct ram_batch_sink *s)
{
	s->ram = p->fill;
	s->open_private = p->base.open_private ? open_private : NULL;
	s->open_helper = p->base.open_helper ? open_helper : NULL;
	s->flush_helper = flush_helper;
	s->lock_private = lock_private;
	s->ctx = p;
	s->claim = claim;
	s->placed = placed;
	s->placed_all = placed_all;
}

int postcopy_rx__accept(struct postcopy_rx *p, int lfd, struct tls_creds *tls,
			const uint8_t nonce[WIRE_NONCE_LEN], const struct ram_batch_sink *base, char *err,
			size_t errlen)
{
	uint8_t junk[WIRE_NONCE_LEN];
	char why[256] = "";
	uint32_t idx = 0;
	p->base = *base;
	if (!p->stage && !(p->stage = malloc(RAM_BATCH_STAGE))) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	for (int tries = 0; tries < 8; tries++) {
		int sock = wire__accept_kind(lfd, WIRE_REQUEST, tls, 30000, junk, err, errlen);
		if (sock < 0)
			return -1;
		if (wire__take_join(sock, nonce, &idx, why, sizeof(why)) == 0 && idx != 0)
			snprintf(why, sizeof(why), "a request connection's JOIN has index %u, not 0", idx);
		if (!why[0] && wire__reply_ok(sock, NULL, 0) == 0) {
			p->req_sock = sock;
			return 0;
		}
		if (why[0])
			(void)wire__reply_err(sock, "%s", why);
		log__info("dropped a request connection: %s", why[0] ? why : "it closed");
		close(sock);
		why[0] = 0;
	}
	errbuf__set(err, errlen, "no valid post-copy request connection joined");
	return -1;
}

static int req_read(void *rctx, struct iovec *iov, int n)
{
	struct postcopy_rx *p = rctx;
	int r = wire__recv_iov(p->req_sock, iov, n, 120000);
	if (r)
		p->read_failed = true;
	return r;
}

/* The request connection's answers: pages (a RAM batch), or a refusal. */
static void *req_main(void *arg)
{
	struct postcopy_rx *p = arg;
	char why[512];
	(void)prio__latency_critical("post-copy's request path");
	for (;;) {
		struct wire_hdr h;
		struct wire_msg m;
		int r = wire__recv_hdr(p->req_sock, &h, -1);
		if (r == -ECANCELED && atomic_load(&p->failed))
			return NULL;
		if (r) {
			/* closed by us at the end, or the source is gone */
			if (!p->closing)
				broke(p, r == -ECONNRESET ? "closed" : strerror(-r));
			return NULL;
		}
		if (h.cmd == W_RAM) {
			struct mig_stats d = { 0 };
			struct ram_batch_sink s = { .ram_size = p->vm->ram.size };
			postcopy_rx__sink(p, &s);
			s.read = req_read;
			s.rctx = p;
			s.stage = p->stage;
			s.st = &d;
			p->read_failed = false;
			if (ram_batch__receive(&s, h.length, why, sizeof(why))) {
				if (p->read_failed)   /* cut mid-batch: its claims are undone */
					broke(p, why);
				else
					fail(p, "a requested page: %s", why);
				return NULL;
			}
			d.transferred = h.length + sizeof(h);
			atomic_fetch_add(&p->req_bytes, d.transferred);
			atomic_fetch_add(&p->answered, 1);
			pthread_mutex_lock(p->st_lock);
			mig_stats__add_counts(p->st, &d);
			pthread_mutex_unlock(p->st_lock);
			continue;
		}
		if ((r = wire__recv_body(p->req_sock, &h, &m, 120000))) {
			broke(p, strerror(-r));
			return NULL;
		}
		if (h.cmd == W_REPLY && h.flags) {
			/* a refused request: said, and the page stays asked for
			 * (the background stream still brings it) */
			atomic_fetch_add(&p->refused, 1);
			atomic_fetch_add(&p->answered, 1);
			log__err("post-copy: the source refused a page request: %s", (char *)m.data);
			wire__msg_free(&m);
			continue;
		}
		snprintf(why, sizeof(why), "unexpected %s on the request connection", wire__cmd_name(h.cmd));
		wire__msg_free(&m);
		fail(p, "%s", why);
		return NULL;
	}
}

/* Send PAGE_REQ for pfn (not while the connection is broken: the
 * reconnect sends every request still open). */
static void send_request(struct postcopy_rx *p, uint64_t pfn)
{
	uint64_t gpa = pfn * 4096;
	pthread_mutex_lock(&p->req_lock);
	if (!atomic_load(&p->broken)) {
		atomic_fetch_add(&p->sent, 1);
		int r = wire__send(p->req_sock, W_PAGE_REQ, 0, &gpa, sizeof(gpa), NULL, 0);
		if (r)
			broke(p, strerror(-r));
	}
	pthread_mutex_unlock(&p->req_lock);
}

/* Ask the source for page pfn, once. */
static void request(struct postcopy_rx *p, uint64_t pfn)
{
	uint64_t expect = 0;
	if (!atomic_compare_exchange_strong(&p->req_ns[pfn], &expect, now__ns()))
		return;                   /* asked already */
	atomic_fetch_add(&p->requests, 1);
	send_request(p, pfn);
}

static void *fault_main(void *arg)
{
	struct postcopy_rx *p = arg;
	uint8_t *hva = p->vm->ram.hva;
	(void)prio__latency_critical("post-copy's request path");
	uint64_t addr;
	if (fault__arg("POSTCOPY_BAD_REQUEST")) {
		/* tests: a request for a page outside RAM, which the source
		 * must refuse (and go on serving) */
		uint64_t gpa = p->vm->ram.size + 4096;
		atomic_fetch_add(&p->sent, 1);
		(void)wire__send(p->req_sock, W_PAGE_REQ, 0, &gpa, sizeof(gpa), NULL, 0);
	}
	for (;;) {
		int r = uffd__next_fault(&p->u, p->stop[0], -1, &addr);
		if (r == 0)
			return NULL;
		if (r < 0) {
			fail(p, "reading the userfaultfd: %s", strerror(-r));
			return NULL;
		}
		if (addr < (uint64_t)(uintptr_t)hva || addr >= (uint64_t)(uintptr_t)hva + p->vm->ram.size)
			continue;
		uint64_t pfn = (addr - (uint64_t)(uintptr_t)hva) / 4096;
		void *page = hva + pfn * 4096;
		if (atomic_test(p->present, pfn)) {
			/* in place (before the switch, or just now): map it; a
			 * page the memfd never had is zero */
			r = uffd__continue(&p->u, page, 4096);
			if (r == -EFAULT)
				r = uffd__zero(&p->u, page, 4096);
			if (r)
				fail(p, "mapping a page into the guest: %s", strerror(-r));
		} else {
			request(p, pfn);
		}
	}
}

int postcopy_rx__arm(struct postcopy_rx *p, char *err, size_t errlen)
{
	if (uffd__open(&p->u, p->vm->ram.hva, p->vm->ram.size, UFFD_MISSING_MINOR, err, errlen))
		return -1;
	log__info("post-copy: %llu stale pages left the guest's view in %.1f ms over %llu lists; the last "
		  "(in the source's pause) %llu in %.1f ms", (unsigned long long)p->unmapped,
		  (double)p->unmap_ns / 1e6, (unsigned long long)p->lists, (unsigned long long)p->last_n,
		  (double)p->last_ns / 1e6);
	p->armed = true;
	pthread_mutex_lock(p->st_lock);
	p->bytes_at_switch = p->st->transferred;
	pthread_mutex_unlock(p->st_lock);
	p->t_switch = now__ns();
	if (pthread_create(&p->fault_th, NULL, fault_main, p)) {
		errbuf__set(err, errlen, "post-copy: cannot start the fault thread");
		return -1;
	}
	p->fault_started = true;
	pthread_setname_np(p->fault_th, "tern-pcfault");
	if (pthread_create(&p->req_th, NULL, req_main, p)) {
		errbuf__set(err, errlen, "post-copy: cannot start the request thread");
		return -1;
	}
	p->req_started = true;
	pthread_setname_np(p->req_th, "tern-pcreq");
	return 0;
}

const char *postcopy_rx__failed(struct postcopy_rx *p)
{
	return p && atomic_load(&p->failed) ? p->err : NULL;
}

const char *postcopy_rx__broken(struct postcopy_rx *p)
{
	return p && atomic_load(&p->broken) ? p->broken_why : NULL;
}

uint64_t postcopy_rx__missing_now(struct postcopy_rx *p, uint64_t *words)
{
	uint64_t nw = (p->npages + 63) / 64, n = 0;
	for (uint64_t i = 0; i < nw; i++) {
		words[i] = ~atomic_load(&p->present[i]);
		if (i == nw - 1 && p->npages % 64)
			words[i] &= (1ull << (p->npages % 64)) - 1;
		n += (uint64_t)__builtin_popcountll(words[i]);
	}
	return n;
}

void postcopy_rx__disconnect(struct postcopy_rx *p)
{
	pthread_mutex_lock(&p->req_lock);
	atomic_store(&p->broken, true);   /* no sends from here */
	if (p->req_sock >= 0)
		shutdown(p->req_sock, SHUT_RDWR);
	pthread_mutex_unlock(&p->req_lock);
	if (p->req_started)
		pthread_join(p->req_th, NULL);
	p->req_started = false;
	if (p->req_sock >= 0)
		close(p->req_sock);
	p->req_sock = -1;
	/* a page claimed by a batch that was cut never got its bytes: it may
	 * come again */
	uint64_t nw = (p->npages + 63) / 64;
	for (uint64_t i = 0; i < nw; i++)
		atomic_store(&p->claimed[i], atomic_load(&p->present[i]));
}

int postcopy_rx__reconnect(struct postcopy_rx *p, int lfd, struct tls_creds *tls,
			   const uint8_t nonce[WIRE_NONCE_LEN], char *err, size_t errlen)
{
	if (postcopy_rx__accept(p, lfd, tls, nonce, &p->base, err, errlen))
		return -1;
	atomic_store(&p->sent, 0);
	atomic_store(&p->answered, 0);
	p->broken_why[0] = 0;
	atomic_store(&p->broken, false);
	if (pthread_create(&p->req_th, NULL, req_main, p)) {
		errbuf__set(err, errlen, "post-copy: cannot start the request thread");
		return -1;
	}
	p->req_started = true;
	pthread_setname_np(p->req_th, "tern-pcreq");
	/* the requests the broken connection lost: asked again */
	for (uint64_t pfn = 0; pfn < p->npages; pfn++)
		if (atomic_load(&p->req_ns[pfn]) && !atomic_test(p->present, pfn))
			send_request(p, pfn);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void postcopy_rx__figures(struct postcopy_rx *p, struct mig_stats *st)
{
	st->postcopy = true;
	st->postcopy_waits = true;
	st->postcopy_remaining = atomic_load(&p->remaining);
	st->postcopy_requests = atomic_load(&p->requests);
	st->postcopy_req_bytes = atomic_load(&p->req_bytes);
	if (p->t_switch && st->transferred >= p->bytes_at_switch + st->postcopy_req_bytes)
		st->postcopy_bg_bytes = st->transferred - p->bytes_at_switch - st->postcopy_req_bytes;
	st->guest_blocked_ns = atomic_load(&p->blocked_ns);
	st->req_lat_max_ns = atomic_load(&p->lat_max);
	if (p->t_switch)
		st->postcopy_ns = now__ns() - p->t_switch;
	pthread_mutex_lock(&p->lat_lock);
	if (p->nlat) {
		uint32_t *c = malloc(p->nlat * sizeof(*c));
		if (c) {
			memcpy(c, p->lat_us, p->nlat * sizeof(*c));
			qsort(c, p->nlat, sizeof(*c), cmp_u32);
			st->req_lat_median_ns = (uint64_t)c[p->nlat / 2] * 1000;
			st->req_lat_p99_ns = (uint64_t)c[(p->nlat * 99) / 100] * 1000;
			free(c);
		}
	}
	pthread_mutex_unlock(&p->lat_lock);
}

int postcopy_rx__finish(struct postcopy_rx *p, int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = now__ns() + (uint64_t)timeout_ms * 1000000ull;
	/* every page in, and every request answered: the request connection
	 * closes with nothing in flight on it */
	while ((atomic_load(&p->remaining) || atomic_load(&p->answered) < atomic_load(&p->sent)) &&
	       !atomic_load(&p->failed) && now__ns() < deadline)
		usleep(1000);
	if (atomic_load(&p->failed)) {
		errbuf__set(err, errlen, "%s", p->err);
		return -1;
	}
	uint64_t left = atomic_load(&p->remaining);
	if (left) {
		uint64_t first = 0;
		while (first < p->npages && atomic_test(p->present, first))
			first++;
		errbuf__set(err, errlen, "the source ended post-copy with %llu pages still missing "
			    "(the first at 0x%llx)", (unsigned long long)left, (unsigned long long)(first * 4096));
		return -1;
	}
	p->closing = true;                /* the source may close the request connection now */
	pthread_mutex_lock(p->st_lock);
	postcopy_rx__figures(p, p->st);
	pthread_mutex_unlock(p->st_lock);
	int r = uffd__unregister(&p->u);
	if (r) {
		errbuf__set(err, errlen, "post-copy: unregistering guest RAM: %s", strerror(-r));
		return -1;
	}
	p->armed = false;
	return 0;
}

void postcopy_rx__free(struct postcopy_rx *p)
{
	if (!p)
		return;
	p->closing = true;                /* the request thread's end is no failure now */
	if (p->stop[1] >= 0 && write(p->stop[1], "x", 1) < 0)
		log__err("post-copy: cannot stop the fault thread");
	if (p->req_sock >= 0)
		shutdown(p->req_sock, SHUT_RDWR);
	if (p->fault_started)
		pthread_join(p->fault_th, NULL);
	if (p->req_started)
		pthread_join(p->req_th, NULL);
	if (p->req_sock >= 0)
		close(p->req_sock);
	uffd__close(&p->u);
	if (p->fill != MAP_FAILED)
		munmap(p->fill, p->vm->ram.size);
	if (p->stop[0] >= 0)
		close(p->stop[0]);
	if (p->stop[1] >= 0)
		close(p->stop[1]);
	free(p->missing);
	free((void *)p->claimed);
	free((void *)p->present);
	free((void *)p->req_ns);
	free(p->lat_us);
	free(p->stage);
	pthread_mutex_destroy(&p->lat_lock);
	pthread_mutex_destroy(&p->req_lock);
	free(p);
}
