/* page_tx.c - the source's page pipeline (see page_tx.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mem/page.h"
#include "migrate/page_tx.h"
#include "migrate/private_helper.h"
#include "migrate/ram_batch.h"
#include "migrate/tls.h"
#include "util/fault.h"
#include "util/hash.h"
#include "util/io.h"
#include "util/log.h"
#include "util/prio.h"
#include "vm/vm.h"

#define REPLY_TIMEOUT_MS 60000
#define CHUNK_WORDS 8                     /* a shard: 512 pages, whole bitmap words */
#define IOV_FIRST 3                       /* wire header, batch header, entry table */

_Static_assert(HELPER_PACKET_SIZE <= PRIVATE_PACKET_MAX, "a helper packet fits a stage slot");

struct tx_worker {
	struct page_tx *t;
	int idx, sock;
	pthread_t th;
	bool started;
	bool force_psp;                       /* the helper's region, by the platform */
	struct helper_tx *hx;                 /* pages queued for the helper to seal */
	uint8_t *stage;                       /* sealed packets of the batch */
	size_t staged;
	struct ram_batch_hdr hdr;
	struct ram_entry e[RAM_BATCH_PAGES];
	uint32_t count;
	struct iovec iov[IOV_FIRST + RAM_BATCH_PAGES];
	int niov;
	bool prev_staged;
	uint64_t *changed;                    /* pages the guest wrote while they were sent */
	size_t nchanged, capchanged;
	struct mig_stats d;                   /* this batch's counts, merged once per batch */
	uint64_t round_pages, round_bytes;
	char err[512];
};

static bool stop_now(struct page_tx *t)
{
	return __atomic_load_n(&t->m->cancel, __ATOMIC_RELAXED) || __atomic_load_n(&t->failed, __ATOMIC_RELAXED);
}

static void merge_stats(struct tx_worker *w, uint64_t bytes)
{
	w->d.transferred = bytes;
	pthread_mutex_lock(&w->t->m->lock);
	mig_stats__add_counts(&w->t->m->st, &w->d);
	pthread_mutex_unlock(&w->t->m->lock);
	memset(&w->d, 0, sizeof(w->d));
}

/* The queued private pages, sealed by the helper into their places. */
static int seal_pending(struct tx_worker *w)
{
	uint64_t ns = 0, n = w->hx ? w->hx->n : 0;
	char why[400];
	if (!n)
		return 0;
	if (helper_tx__seal(w->hx, &ns, why, sizeof(why))) {
		errbuf__set(w->err, sizeof(w->err), "%s", why);
		return -1;
	}
	w->d.helper_pages += n;
	w->d.helper_bytes += n * HELPER_PACKET_SIZE;
	w->d.helper_ns += ns;
	return 0;
}

static void tamper(struct tx_worker *w);

/* Keep the total on the line bytes/rate (--max-bandwidth), all workers
 * together. */
static void pace(struct page_tx *t, uint64_t bytes)
{
	uint64_t total = __atomic_add_fetch(&t->sent_total, bytes, __ATOMIC_RELAXED);
	uint64_t bw = t->m->opt.max_bandwidth;
	if (!bw)
		return;
	uint64_t due = t->bw_start_ns + (uint64_t)((unsigned __int128)total * 1000000000u / bw), now = now__ns();
	if (due > now) {
		struct timespec ts = { (time_t)((due - now) / 1000000000ULL), (long)((due - now) % 1000000000ULL) };
		nanosleep(&ts, NULL);
	}
}

static int note_changed(struct tx_worker *w, uint64_t gpa)
{
	if (w->nchanged == w->capchanged) {
		size_t cap = w->capchanged ? w->capchanged * 2 : 256;
		uint64_t *c = realloc(w->changed, cap * sizeof(*c));
		if (!c) {
			errbuf__set(w->err, sizeof(w->err), "out of memory");
			return -1;
		}
		w->changed = c;
		w->capchanged = cap;
	}
	w->changed[w->nchanged++] = gpa;
	return 0;
}

static int flush(struct tx_worker *w)
{
	struct page_tx *t = w->t;
	uint64_t bytes;
	int r;
	if (!w->count)
		return 0;
	if (seal_pending(w))
		return -1;
	tamper(w);
	w->hdr = (struct ram_batch_hdr){ .count = w->count,
					 .checksum = XXH3_64bits(w->e, w->count * sizeof(w->e[0])) };
	w->iov[1] = (struct iovec){ &w->hdr, sizeof(w->hdr) };
	w->iov[2] = (struct iovec){ w->e, w->count * sizeof(w->e[0]) };
	bytes = sizeof(struct wire_hdr);
	for (int i = 1; i < w->niov; i++)
		bytes += w->iov[i].iov_len;
	r = wire__sendv(w->sock, W_RAM, w->iov, w->niov);
	if (r) {
		__atomic_store_n(&t->send_failed, true, __ATOMIC_RELAXED);
		/* the destination usually says why before it hangs up */
		struct wire_msg m;
		if (wire__recv(w->sock, &m, 500) == 0 && m.h.cmd == W_REPLY && m.h.flags)
			errbuf__set(w->err, sizeof(w->err), "the destination refused: %s", (char *)m.data);
		else
			errbuf__set(w->err, sizeof(w->err), "sending RAM: %s (did the destination die?)",
				    strerror(-r));
		wire__msg_free(&m);        /* wire__recv leaves m empty on failure */
		return -1;
	}
	/* The kernel copied the pages as it sent them; a page whose hash
	 * changed since was written meanwhile: the fence says so */
	for (uint32_t i = 0; i < w->count; i++) {
		uint64_t gpa = w->e[i].word & ~PAGE_KIND_MASK;
		if ((w->e[i].word & PAGE_KIND_MASK) == PAGE_NORMAL &&
		    XXH3_64bits(t->vm->ram.hva + gpa, 4096) != w->e[i].aux && note_changed(w, gpa))
			return -1;
	}
	w->round_bytes += bytes;
	merge_stats(w, bytes);
	w->count = 0;
	w->niov = IOV_FIRST;
	w->staged = 0;
	w->prev_staged = false;
	pace(t, bytes);
	return 0;
}

/* b bytes of stage, for the next sealed packet. */
static uint8_t *stage_take(struct tx_worker *w, size_t b)
{
	uint8_t *p = w->stage + w->staged;
	if (w->prev_staged)
		w->iov[w->niov - 1].iov_len += b;
	else
		w->iov[w->niov++] = (struct iovec){ p, b };
	w->staged += b;
	w->prev_staged = true;
	return p;
}

/* How a page goes: plain (or a zero flag) if shared; private pages
 * through the helper (queued, sealed before the batch leaves) or the
 * platform. */
static int add_page(struct tx_worker *w, uint64_t pfn)
{
	struct page_tx *t = w->t;
	uint64_t gpa = pfn * 4096;
	uint8_t *src = t->vm->ram.hva + gpa;
	struct ram_entry *e = &w->e[w->count];
	bool shared = !t->cc || (!w->force_psp && bitmap__test(t->shared, pfn));

	if (shared) {
		if (page__is_zero(src)) {
			*e = (struct ram_entry){ gpa | PAGE_ZERO, 0 };
			w->d.duplicate++;
		} else {
			/* hashed here, sent from here: no copy */
			*e = (struct ram_entry){ gpa | PAGE_NORMAL, XXH3_64bits(src, 4096) };
			w->iov[w->niov++] = (struct iovec){ src, 4096 };
			w->prev_staged = false;
			w->d.normal++;
		}
	} else if (t->helper_seal && !w->force_psp) {
		*e = (struct ram_entry){ gpa | PAGE_HELPER, 0 };
		helper_tx__queue(w->hx, gpa, t->round, stage_take(w, HELPER_PACKET_SIZE));
		w->d.private_pages++;
		if (helper_tx__full(w->hx) && seal_pending(w))
			return -1;
	} else {
		size_t plen = 0;
		uint8_t *out = w->stage + w->staged;
		pthread_mutex_lock(&t->pp_lock);
		int r = t->pp->ops->seal(t->pp, gpa, out, &plen);
		w->d.psp_ns = t->pp->ns;
		pthread_mutex_unlock(&t->pp_lock);
		if (r) {
			errbuf__set(w->err, sizeof(w->err), "the platform refused to seal page 0x%llx: %s",
				    (unsigned long long)gpa, strerror(-r));
			return -1;
		}
		stage_take(w, plen);
		*e = (struct ram_entry){ gpa | PAGE_PRIVATE, plen };
		w->d.private_pages++;
		w->d.psp_pages++;
		w->d.psp_bytes += plen;
	}
	w->count++;
	w->round_pages++;
	return w->count == RAM_BATCH_PAGES ? flush(w) : 0;
}

/* The next shard no worker has taken: the one holding the hinted page
 * first (post-copy: near where the guest faults; the hint then moves on
 * to the shard after it, so the stream follows the guest), else the next
 * in order. nchunks: none left. */
static uint64_t next_shard(struct page_tx *t, uint64_t nchunks)
{
	uint64_t h = __atomic_exchange_n(&t->hint, 0, __ATOMIC_RELAXED), c;
	if (h) {
		c = (h - 1) / (CHUNK_WORDS * 64);
		for (uint64_t k = c; k < nchunks && k < c + 8; k++)
			if (!__atomic_exchange_n(&t->taken[k], 1, __ATOMIC_RELAXED)) {
				uint64_t expect = 0, next = (k + 1) * CHUNK_WORDS * 64 + 1;
				__atomic_compare_exchange_n(&t->hint, &expect, next, false, __ATOMIC_RELAXED,
							    __ATOMIC_RELAXED);
				return k;
			}
	}
	while ((c = __atomic_fetch_add(&t->next_chunk, 1, __ATOMIC_RELAXED)) < nchunks)
		if (!__atomic_exchange_n(&t->taken[c], 1, __ATOMIC_RELAXED))
			return c;
	return nchunks;
}

/* This worker's part of a round: shards of the dirty bitmap until none
 * is left, then the FENCE. */
static int run_round(struct tx_worker *w)
{
	struct page_tx *t = w->t;
	struct page_bitmap *d = t->dirty;
	uint64_t nchunks = (d->nwords + CHUNK_WORDS - 1) / CHUNK_WORDS, c;
	struct ram_fence f;
	int r;

	w->nchanged = 0;
	w->round_pages = w->round_bytes = 0;
	while ((c = next_shard(t, nchunks)) < nchunks) {
		if (stop_now(t)) {
			errbuf__set(w->err, sizeof(w->err), "cancelled");
			return -1;
		}
		size_t end = (c + 1) * CHUNK_WORDS < d->nwords ? (c + 1) * CHUNK_WORDS : d->nwords;
		for (size_t i = c * CHUNK_WORDS; i < end; i++) {
			uint64_t bits = d->w[i];   /* a shard is one worker's alone */
			d->w[i] = 0;
			while (bits) {
				uint64_t pfn = i * 64 + (uint64_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				if (t->helper && helper__in_region(pfn * 4096))
					continue;  /* crossed first, or the helpers' scratch */
				if (t->once && (__atomic_fetch_or(&t->once[pfn / 64], 1ull << (pfn % 64),
								  __ATOMIC_RELAXED) & (1ull << (pfn % 64))))
					continue;  /* a request's answer carried it */
				if (add_page(w, pfn))
					return -1;
			}
		}
	}
	if (flush(w))
		return -1;
	f = (struct ram_fence){ .round = t->round, .nchanged = (uint32_t)w->nchanged };
	r = wire__send2(w->sock, W_FENCE, 0, &f, sizeof(f), w->changed, w->nchanged * 8, NULL, 0);
	if (r) {
		__atomic_store_n(&t->send_failed, true, __ATOMIC_RELAXED);
		errbuf__set(w->err, sizeof(w->err), "ending round %u: %s (did the destination die?)", t->round,
			    strerror(-r));
		return -1;
	}
	w->round_bytes += sizeof(struct wire_hdr) + sizeof(f) + w->nchanged * 8;
	return 0;
}

static void *worker(void *arg)
{
	struct tx_worker *w = arg;
	struct page_tx *t = w->t;
	uint64_t seen = 0;
	bool yielding = false;
	for (;;) {
		pthread_mutex_lock(&t->lock);
		while (t->generation == seen && !t->quit)
			pthread_cond_wait(&t->cond, &t->lock);
		if (t->quit) {
			pthread_mutex_unlock(&t->lock);
			return NULL;
		}
		seen = t->generation;
		bool y = t->yield;
		pthread_mutex_unlock(&t->lock);
		/* paused (the last round, post-copy's push), nothing here
		 * needs the CPU more; back at full weight where permitted */
		if (y != yielding && prio__background(y) == 0)
			yielding = y;
		int r = run_round(w);
		pthread_mutex_lock(&t->lock);
		if (r && !t->failed) {
			snprintf(t->err, sizeof(t->err), "%s", w->err);
			__atomic_store_n(&t->failed, true, __ATOMIC_RELAXED);
		}
		if (--t->busy == 0)
			pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
	}
}

static int worker_init(struct page_tx *t, struct tx_worker *w, int idx, int sock)
{
	memset(w, 0, sizeof(*w));
	w->t = t;
	w->idx = idx;
	w->sock = sock;
	w->niov = IOV_FIRST;
	if (!(w->stage = malloc(RAM_BATCH_STAGE)))
		return -1;
	if (t->helper_seal) {
		if (!(w->hx = calloc(1, sizeof(*w->hx))))
			return -1;
		w->hx->mr = t->m->mirror;
		w->hx->stream = t->stream;
	}
	return 0;
}

static void worker_free(struct tx_worker *w)
{
	free(w->stage);
	free(w->hx);
	free(w->changed);
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
}

int page_tx__connect_joined(const struct mig_options *o, const uint8_t nonce[WIRE_NONCE_LEN],
			   enum wire_kind kind, int idx, char *err, size_t errlen)
{
	uint8_t junk[WIRE_NONCE_LEN];
	struct wire_join j = { .index = (uint32_t)idx };
	struct wire_msg m;
	const char *what = kind == WIRE_REQUEST ? "request connection" : "data connection";
	char why[400], mode[8];
	int sock = tls__connect(o->tls_creds, o->tls_hostname, o->uri, 10000, mode, sizeof(mode), why, sizeof(why)), r;
	if (sock < 0) {
		errbuf__set(err, errlen, "%s %d: %s", what, idx, why);
		return -1;
	}
	memcpy(j.nonce, nonce, WIRE_NONCE_LEN);
	if (wire__hello(sock, kind, 10000, junk, why, sizeof(why)) ||
	    ((r = wire__send(sock, W_JOIN, 0, &j, sizeof(j), NULL, 0)) &&
	     snprintf(why, sizeof(why), "%s", strerror(-r)) >= 0) ||
	    wire__expect_reply(sock, &m, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(err, errlen, "%s %d: %s", what, idx, why);
		close(sock);
		return -1;
	}
	wire__msg_free(&m);
	return sock;
}

int page_tx__open(struct page_tx *t, int ctl, const uint8_t nonce[WIRE_NONCE_LEN],
		  int nconns, const struct ram_extent *ext, uint32_t next, char *err, size_t errlen)
{
	struct wire_data_open o = { .conns = (uint32_t)nconns, .nextents = next };
	struct wire_msg m;
	char why[400];
	int r;

	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	pthread_mutex_init(&t->pp_lock, NULL);
	r = wire__send2(ctl, W_DATA_OPEN, 0, &o, sizeof(o), ext, next * sizeof(*ext), NULL, 0);
	if (r || wire__expect_reply(ctl, &m, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(err, errlen, "opening data connections: %s", r ? strerror(-r) : why);
		return -1;
	}
	wire__msg_free(&m);
	if (!(t->w = calloc((size_t)nconns, sizeof(*t->w)))) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < nconns; i++)
		t->w[i].sock = -1;
	t->nconns = nconns;
	for (int i = 0; i < nconns; i++) {
		int sock = page_tx__connect_joined(&t->m->opt, nonce, WIRE_DATA, i, err, errlen);
		if (sock < 0)
			return -1;
		if (worker_init(t, &t->w[i], i, sock)) {
			close(sock);
			errbuf__set(err, errlen, "out of memory");
			return -1;
		}
	}
	t->bw_start_ns = now__ns();
	for (int i = 0; i < nconns; i++) {
		if (pthread_create(&t->w[i].th, NULL, worker, &t->w[i])) {
			errbuf__set(err, errlen, "cannot start a sender thread");
			return -1;
		}
		t->w[i].started = true;
		char name[16];                    /* for profiles and top -H */
		snprintf(name, sizeof(name), "tern-tx%d", i % 100);
		pthread_setname_np(t->w[i].th, name);
	}
	return 0;
}

int page_tx__round(struct page_tx *t, uint32_t round, uint64_t *pages, uint64_t *bytes, char *err,
		   size_t errlen)
{
	uint64_t nchunks = (t->dirty->nwords + CHUNK_WORDS - 1) / CHUNK_WORDS;
	free(t->taken);
	if (!(t->taken = calloc(nchunks ? nchunks : 1, 1))) {
		errbuf__set(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&t->lock);
	t->round = round;
	t->next_chunk = 0;
	t->busy = t->nconns;
	t->generation++;
	pthread_cond_broadcast(&t->cond);
	while (t->busy)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	*pages = *bytes = 0;
	for (int i = 0; i < t->nconns; i++) {
		*pages += t->w[i].round_pages;
		*bytes += t->w[i].round_bytes;
	}
	if (t->failed) {
		errbuf__set(err, errlen, "%s", t->err);
		return -1;
	}
	return 0;
}

int page_tx__send_psp(struct page_tx *t, int sock, uint64_t first, uint64_t n, char *err, size_t errlen)
{
	struct tx_worker *w = malloc(sizeof(*w));
	int r = -1;
	if (!w || worker_init(t, w, -1, sock)) {
		errbuf__set(err, errlen, "out of memory");
		goto out;
	}
	w->force_psp = true;
	for (uint64_t pfn = first; pfn < first + n; pfn++)
		if (add_page(w, pfn))
			goto fail;
	if (flush(w))
		goto fail;
	r = 0;
	goto out;
fail:
	errbuf__set(err, errlen, "%s", w->err);
out:
	if (w) {
		w->sock = -1;              /* the caller's */
		worker_free(w);
	}
	free(w);
	return r;
}

void page_tx__shutdown(struct page_tx *t)
{
	for (int i = 0; i < t->nconns; i++)
		if (t->w[i].sock >= 0)
			shutdown(t->w[i].sock, SHUT_RDWR);
}

void page_tx__close(struct page_tx *t)
{
	if (!t->w)
		return;
	pthread_mutex_lock(&t->lock);
	t->quit = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < t->nconns; i++) {
		if (t->w[i].started)
			pthread_join(t->w[i].th, NULL);
		worker_free(&t->w[i]);
	}
	free(t->w);
	free(t->taken);
	t->taken = NULL;
	t->w = NULL;
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->pp_lock);
}

/* Faults for tests (tern-faults only, util/fault.h): what an attacker on
 * the wire could do to helper packets, who can also recompute the table
 * checksum. HELPER_TAMPER=flip: one ciphertext bit; gpa: a packet moved
 * to another page's entry; replay: a packet of an earlier round sent
 * again in a later one. Once each, by whichever worker gets there. */
static void tamper(struct tx_worker *w)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint8_t saved[HELPER_PACKET_SIZE];
	static uint64_t saved_word;
	static uint32_t saved_round;
	static bool done;
	const char *how = fault__arg("HELPER_TAMPER");
	uint8_t *pkt[2] = { NULL, NULL };
	int first = -1, np = 0;
	size_t off = 0;

	if (!how)
		return;
	for (uint32_t i = 0; i < w->count && np < 2; i++) {
		switch (w->e[i].word & PAGE_KIND_MASK) {
		case PAGE_HELPER:
			if (first < 0)
				first = (int)i;
			pkt[np++] = w->stage + off;
			off += HELPER_PACKET_SIZE;
			break;
		case PAGE_PRIVATE:
			off += w->e[i].aux;
			break;
		}
	}
	if (!np)
		return;
	pthread_mutex_lock(&lock);
	if (done) {
		pthread_mutex_unlock(&lock);
		return;
	}
	if (!strcmp(how, "flip")) {
		pkt[0][32 + 100] ^= 0x04;
		done = true;
	} else if (!strcmp(how, "gpa") && pkt[1]) {
		memcpy(pkt[1], pkt[0], HELPER_PACKET_SIZE);   /* first's packet, second's page */
		done = true;
	} else if (!strcmp(how, "replay")) {
		if (!saved_round) {
			memcpy(saved, pkt[0], HELPER_PACKET_SIZE);
			saved_word = w->e[first].word;
			saved_round = w->t->round;
		} else if (w->t->round > saved_round) {
			w->e[first].word = saved_word;
			memcpy(pkt[0], saved, HELPER_PACKET_SIZE);
			done = true;
		}
	}
	pthread_mutex_unlock(&lock);
}
