/* postcopy_tx.c - the source's side of post-copy's page requests
 * (postcopy.h): a thread that answers each PAGE_REQ on the request
 * connection with a RAM batch of those pages, straight from guest RAM
 * (the VM is paused: the bytes cannot change under the send), and points
 * the background stream at the page asked for. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem/page.h"
#include "migrate/page_tx.h"
#include "migrate/postcopy.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/prio.h"
#include "vm/vm.h"


/* Claim page pfn for this request: false when the background stream
 * has sent it already (it is on its way). */
static bool take(struct postcopy_tx *t, uint64_t pfn)
{
	uint64_t bit = 1ull << (pfn % 64);
	return !(__atomic_fetch_or(&t->once[pfn / 64], bit, __ATOMIC_RELAXED) & bit);
}

/* One request's answer: one batch of the pages asked for. A plain page
 * goes even when the background stream has sent it already: that copy
 * may wait behind megabytes of socket buffers (a p99 of 59 ms at 4 GiB),
 * the paused source's bytes are the same, and the destination keeps the
 * first copy to arrive. A private page goes once only (the helper never
 * seals a page twice at one version), and never by the platform's path,
 * which only the ordered stream may carry (the hint sends it there).
 * 0, or -errno from the send, or -EIO with t->err (the helper). */
static int answer(struct postcopy_tx *t, const uint64_t *gpa, uint32_t n)
{
	struct ram_batch_hdr h = { 0 };
	struct ram_entry e[WIRE_MAX_PAGE_REQ];
	struct iovec iov[3 + WIRE_MAX_PAGE_REQ];
	int niov = 3;
	uint64_t data = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t pfn = gpa[i] / 4096;
		uint8_t *src = t->vm->ram.hva + gpa[i];
		bool shared = !t->cc || bitmap__test(t->shared, pfn);
		if (!shared && (!t->helper_seal || !take(t, pfn)))
			continue;
		if (shared)
			(void)take(t, pfn);       /* the background stream need not send it */
		if (!shared) {
			uint8_t *pkt = t->stage + t->hx->n * HELPER_PACKET_SIZE;
			e[h.count] = (struct ram_entry){ gpa[i] | PAGE_HELPER, 0 };
			helper_tx__queue(t->hx, gpa[i], t->round, pkt);
			iov[niov++] = (struct iovec){ pkt, HELPER_PACKET_SIZE };
			data += HELPER_PACKET_SIZE;
		} else if (page__is_zero(src)) {
			e[h.count] = (struct ram_entry){ gpa[i] | PAGE_ZERO, 0 };
		} else {
			e[h.count] = (struct ram_entry){ gpa[i] | PAGE_NORMAL, XXH3_64bits(src, 4096) };
			iov[niov++] = (struct iovec){ src, 4096 };
			data += 4096;
		}
		h.count++;
	}
	if (t->hx && t->hx->n) {
		uint64_t ns = 0;
		if (helper_tx__seal(t->hx, &ns, t->err, sizeof(t->err)))
			return -EIO;
	}
	h.checksum = XXH3_64bits(e, h.count * sizeof(e[0]));
	iov[1] = (struct iovec){ &h, sizeof(h) };
	iov[2] = (struct iovec){ e, h.count * sizeof(e[0]) };
	uint64_t bytes = sizeof(struct wire_hdr) + sizeof(h) + h.count * sizeof(e[0]) + data;
	int r = wire__sendv(t->sock, W_RAM, iov, niov);
	if (!r) {
		t->pages += h.count;
		t->bytes += bytes;
		pthread_mutex_lock(&t->m->lock);
		t->m->st.postcopy_requests++;
		t->m->st.postcopy_req_bytes += bytes;
		t->m->st.transferred += bytes;
		pthread_mutex_unlock(&t->m->lock);
	}
	return r;
}

static void *serve(void *arg)
{
	struct postcopy_tx *t = arg;
	(void)prio__latency_critical("post-copy's request path");
	for (;;) {
		struct wire_msg m;
		uint64_t gpa[WIRE_MAX_PAGE_REQ];
		int r = wire__recv(t->sock, &m, -1);
		if (r) {
			/* the destination closes it once every page is in place;
			 * before that, a broken connection is the run's failure */
			if (!__atomic_load_n(&t->started, __ATOMIC_RELAXED))
				return NULL;
			snprintf(t->err, sizeof(t->err), "the request connection broke (%s)",
				 r == -ECONNRESET ? "the destination closed it" : strerror(-r));
			__atomic_store_n(&t->failed, true, __ATOMIC_RELAXED);
			return NULL;
		}
		uint32_t n = 0;
		char why[200];
		int bad = m.h.cmd == W_PAGE_REQ ?
			postcopy__parse_request(m.data, m.h.length, t->vm->ram.size, gpa, &n, why, sizeof(why)) : -1;
		if (m.h.cmd != W_PAGE_REQ)
			snprintf(why, sizeof(why), "expected PAGE_REQ, got %s", wire__cmd_name(m.h.cmd));
		else if (!__atomic_load_n(&t->paused, __ATOMIC_ACQUIRE) && (bad = -1))
			snprintf(why, sizeof(why), "PAGE_REQ before the switch (the VM still runs here)");
		wire__msg_free(&m);
		if (bad == -1) {
			(void)wire__reply_err(t->sock, "%s", why);
			snprintf(t->err, sizeof(t->err), "%s", why);
			__atomic_store_n(&t->failed, true, __ATOMIC_RELAXED);
			return NULL;
		}
		if (bad) {
			/* refused, and said; the connection serves on */
			t->refused++;
			log__err("post-copy: %s", why);
			r = wire__reply_err(t->sock, "%s", why);
		} else {
			t->requests++;
			r = answer(t, gpa, n);
			/* the background stream goes on from here */
			if (t->hint)
				__atomic_store_n(t->hint, gpa[n - 1] / 4096 + 1, __ATOMIC_RELAXED);
		}
		if (r == -EIO) {
			__atomic_store_n(&t->failed, true, __ATOMIC_RELAXED);
			return NULL;
		}
		if (r) {
			snprintf(t->err, sizeof(t->err), "answering a page request: %s", strerror(-r));
			__atomic_store_n(&t->failed, true, __ATOMIC_RELAXED);
			return NULL;
		}
	}
}

static int start(struct postcopy_tx *t, char *err, size_t errlen)
{
	__atomic_store_n(&t->started, true, __ATOMIC_RELAXED);
	if (pthread_create(&t->th, NULL, serve, t)) {
		t->started = false;
		errbuf__set(err, errlen, "cannot start the page request thread");
		return -1;
	}
	pthread_setname_np(t->th, "tern-pcserve");
	return 0;
}

/* Serving starts with the connection, before the switch: the guest's
 * first fault comes the instant it runs there, and a thread started
 * after COMMIT's reply made that first request wait (3.7 ms median at
 * 4 GiB). Nothing is asked before the switch. */
int postcopy_tx__connect(struct postcopy_tx *t, const uint8_t nonce[WIRE_NONCE_LEN], char *err, size_t errlen)
{
	t->sock = page_tx__connect_joined(&t->m->opt, nonce, WIRE_REQUEST, 0, err, errlen);
	return t->sock < 0 || start(t, err, errlen) ? -1 : 0;
}

void postcopy_tx__stop(struct postcopy_tx *t)
{
	bool started = t->started;
	__atomic_store_n(&t->started, false, __ATOMIC_RELAXED);
	if (t->sock >= 0)
		shutdown(t->sock, SHUT_RDWR);
	if (started)
		pthread_join(t->th, NULL);
	if (t->sock >= 0)
		close(t->sock);
	t->sock = -1;
}
