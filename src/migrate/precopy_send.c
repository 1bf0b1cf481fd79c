/* precopy_send.c - the source side of a live migration.
 *
 *   HELLO, CONFIG                 shapes and versions agree; the destination
 *                                 builds the VM (and, cc, returns its chain)
 *   SESSION (cc)                  SEND_START's session for RECEIVE_START
 *   RAM... ITER_END               iteration 1: every page with data; then
 *                                 the pages dirtied meanwhile, until the rest
 *                                 fits the downtime budget
 *   -- pause --
 *   RAM... ITER_END, STATE        the last dirty pages, every device
 *   COMMIT -> RUNNING             the destination runs the VM
 *   SEND_FINISH (cc), exit 0
 * Any failure before RUNNING: SEND_CANCEL (cc), resume, keep running. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <xxhash.h>

#include "kvm/dirty.h"
#include "mem/bitmap.h"
#include "mem/page.h"
#include "migrate/outcome.h"
#include "migrate/precopy.h"
#include "migrate/private_helper.h"
#include "migrate/private_path.h"
#include "migrate/tls.h"
#include "migrate/transport.h"
#include "migrate/wire.h"
#include "state/record.h"
#include "util/fault.h"
#include "util/io.h"
#include "util/log.h"
#include "util/memfd.h"
#include "vm/state.h"

#define REPLY_TIMEOUT_MS 60000

struct sender {
	struct migration *m;
	struct vm *vm;
	int sock;
	bool cc;
	struct dirty_tracker dt;
	bool dt_on;
	struct private_path pp;
	struct helper_tx hx;                  /* the helper's path (hx.mr: the VM has a helper) */
	bool helper;                          /* the VM has a helper: its region crossed first */
	bool helper_seal;                     /* private pages go through the helper */
	uint32_t round;                       /* the round sending now: a helper page's version */
	struct page_bitmap dirty, shared;     /* to send; shared pages as last seen */
	uint64_t ps_gen;
	uint8_t *batch;                       /* header + entries */
	size_t blen;
	uint32_t bcount;
	uint64_t iter_pages, iter_bytes, sent_total;
	uint64_t bw_start_ns;                 /* for --max-bandwidth */
	char err[512];
};

const char *mig__status_name(enum mig_status s)
{
	static const char *n[] = { "none", "setup", "active", "device", "completed", "failed", "cancelled" };
	return s <= MIG_CANCELLED ? n[s] : "?";
}

#define STAT(m, expr) do { pthread_mutex_lock(&(m)->lock); expr; pthread_mutex_unlock(&(m)->lock); } while (0)

static bool cancelled(struct sender *s)
{
	return __atomic_load_n(&s->m->cancel, __ATOMIC_RELAXED);
}

static void tamper(struct sender *s);

/* The queued private pages, sealed by the helper into their places. */
static int seal_pending(struct sender *s)
{
	uint64_t ns = 0, n = s->hx.n;
	char why[400];
	if (!n)
		return 0;
	if (helper_tx__seal(&s->hx, &ns, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "%s", why);
		return -1;
	}
	STAT(s->m, s->m->st.helper_pages += n; s->m->st.helper_bytes += n * HELPER_PACKET_SIZE;
	     s->m->st.helper_ns += ns);
	return 0;
}

static int flush_batch(struct sender *s)
{
	struct ram_batch_hdr h = { .count = s->bcount };
	int r;
	if (!s->bcount)
		return 0;
	if (seal_pending(s))
		return -1;
	tamper(s);
	h.checksum = XXH3_64bits(s->batch + sizeof(h), s->blen - sizeof(h));
	memcpy(s->batch, &h, sizeof(h));
	r = wire__send(s->sock, W_RAM, 0, s->batch, s->blen, NULL, 0);
	if (r) {
		/* the destination usually says why before it hangs up */
		struct wire_msg m;
		if (wire__recv(s->sock, &m, 500) == 0 && m.h.cmd == W_REPLY && m.h.flags)
			errbuf__set(s->err, sizeof(s->err), "the destination refused: %s", (char *)m.data);
		else
			errbuf__set(s->err, sizeof(s->err), "sending RAM: %s (did the destination die?)", strerror(-r));
		wire__msg_free(&m);        /* wire__recv leaves m empty on failure */
		return -1;
	}
	uint64_t bytes = s->blen + sizeof(struct wire_hdr);
	s->iter_bytes += bytes;
	s->sent_total += bytes;
	STAT(s->m, s->m->st.transferred += bytes);
	s->blen = sizeof(h);
	s->bcount = 0;
	/* --max-bandwidth: stay on the line bytes/rate */
	uint64_t bw = s->m->opt.max_bandwidth;
	if (bw) {
		uint64_t due = s->bw_start_ns + (uint64_t)((unsigned __int128)s->sent_total * 1000000000u / bw), now = now__ns();
		if (due > now) {
			struct timespec ts = { (time_t)((due - now) / 1000000000ULL), (long)((due - now) % 1000000000ULL) };
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

/* A private page sealed by the platform (the PSP path), into entry e. */
static int add_psp(struct sender *s, uint64_t gpa, uint8_t *e)
{
	size_t plen = 0;
	uint64_t word = gpa | PAGE_PRIVATE;
	int r = s->pp.ops->seal(&s->pp, gpa, e + 12, &plen);
	if (r) {
		errbuf__set(s->err, sizeof(s->err), "the platform refused to seal page 0x%llx: %s",
			   (unsigned long long)gpa, strerror(-r));
		return -1;
	}
	uint32_t l32 = (uint32_t)plen;
	memcpy(e, &word, 8);
	memcpy(e + 8, &l32, 4);
	s->blen += 12 + plen;
	STAT(s->m, s->m->st.private_pages++; s->m->st.psp_pages++; s->m->st.psp_bytes += plen;
	     s->m->st.psp_ns = s->pp.ns);
	return 0;
}

/* A shared page in plaintext (or as a zero flag), into entry e. */
static void add_plain(struct sender *s, uint64_t gpa, uint8_t *e)
{
	uint64_t word;
	/* copy first: the guest keeps writing, and what we checksum must be
	 * what we send (a page written meanwhile is dirty again and goes in
	 * the next round) */
	memcpy(e + 8, s->vm->ram.hva + gpa, 4096);
	if (page__is_zero(e + 8)) {
		word = gpa | PAGE_ZERO;
		s->blen += 8;
		STAT(s->m, s->m->st.duplicate++);
	} else {
		word = gpa | PAGE_NORMAL;
		s->blen += 8 + 4096;
		STAT(s->m, s->m->st.normal++);
	}
	memcpy(e, &word, 8);
}

/* How a page goes: plain if shared; private pages through the helper
 * (queued, sealed before the batch leaves: seal_pending) or the platform.
 * force_psp: the helper's own region, which must cross before it runs. */
static int add_page_as(struct sender *s, uint64_t pfn, bool force_psp)
{
	uint64_t gpa = pfn * 4096, word;
	uint8_t *e = s->batch + s->blen;
	bool shared = !s->cc || (!force_psp && bitmap__test(&s->shared, pfn));

	if (shared) {
		add_plain(s, gpa, e);
	} else if (s->helper_seal && !force_psp) {
		word = gpa | PAGE_HELPER;
		memcpy(e, &word, 8);
		helper_tx__queue(&s->hx, gpa, s->round, e + 8);
		s->blen += 8 + HELPER_PACKET_SIZE;
		STAT(s->m, s->m->st.private_pages++);
		if (helper_tx__full(&s->hx) && seal_pending(s))
			return -1;
	} else if (add_psp(s, gpa, e)) {
		return -1;
	}
	s->bcount++;
	s->iter_pages++;
	if (s->bcount == RAM_BATCH_PAGES)
		return flush_batch(s);
	return 0;
}

static int add_page(struct sender *s, uint64_t pfn)
{
	return add_page_as(s, pfn, false);
}

/* The helper's region crosses first, by the PSP path, while every lane
 * is idle; then HELPER starts the destination's helper on it. */
static int start_helper(struct sender *s)
{
	char why[400];
	for (uint64_t gpa = HELPER_BASE; gpa < HELPER_BASE + HELPER_CROSS_SIZE; gpa += 4096)
		if (add_page_as(s, gpa / 4096, true))
			return -1;
	if (flush_batch(s))
		return -1;
	if (helper_tx__announce(&s->hx, s->hx.mr, s->sock, s->helper_seal, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "%s", why);
		return -1;
	}
	return 0;
}

/* Faults for tests (tern-faults only, util/fault.h): what an attacker on
 * the wire could do to helper packets, who can also recompute the batch
 * checksum. HELPER_TAMPER=flip: one ciphertext bit; gpa: a packet moved
 * to another page's entry; replay: a packet of an earlier round sent
 * again in a later one. Once each. */
static void tamper(struct sender *s)
{
	static uint8_t saved[HELPER_PACKET_SIZE];
	static uint64_t saved_gpa;
	static uint32_t saved_round;
	static bool done;
	const char *how = fault__arg("HELPER_TAMPER");
	uint8_t *p = s->batch + sizeof(struct ram_batch_hdr), *end = s->batch + s->blen;
	uint8_t *first = NULL, *second = NULL;

	if (!how || done)
		return;
	for (uint32_t i = 0; i < s->bcount && p < end; i++) {
		uint64_t w;
		memcpy(&w, p, 8);
		switch (w & PAGE_KIND_MASK) {
		case PAGE_HELPER:
			if (!first)
				first = p;
			else if (!second)
				second = p;
			p += 8 + HELPER_PACKET_SIZE;
			break;
		case PAGE_PRIVATE: { uint32_t l; memcpy(&l, p + 8, 4); p += 12 + l; break; }
		case PAGE_ZERO: p += 8; break;
		default: p += 8 + 4096; break;
		}
	}
	if (!first)
		return;
	if (!strcmp(how, "flip")) {
		first[8 + 32 + 100] ^= 0x04;
		done = true;
	} else if (!strcmp(how, "gpa") && second) {
		memcpy(second + 8, first + 8, HELPER_PACKET_SIZE);   /* first's packet, second's page */
		done = true;
	} else if (!strcmp(how, "replay")) {
		if (!saved_round) {
			memcpy(saved, first + 8, HELPER_PACKET_SIZE);
			memcpy(&saved_gpa, first, 8);
			saved_round = s->round;
		} else if (s->round > saved_round) {
			memcpy(first, &saved_gpa, 8);
			memcpy(first + 8, saved, HELPER_PACKET_SIZE);
			done = true;
		}
	}
}

/* Send (and clear) every page in s->dirty. */
static int send_dirty(struct sender *s)
{
	int64_t pfn = -1;
	uint64_t n = 0;
	while ((pfn = bitmap__next_set(&s->dirty, (uint64_t)(pfn + 1))) >= 0) {
		bitmap__clear(&s->dirty, (uint64_t)pfn);
		if (s->helper && helper__in_region((uint64_t)pfn * 4096))
			continue;         /* crossed first, or the helpers' scratch */
		if (add_page(s, (uint64_t)pfn))
			return -1;
		if ((++n & 1023) == 0) {
			if (cancelled(s)) {
				errbuf__set(s->err, sizeof(s->err), "cancelled");
				return -1;
			}
			STAT(s->m, s->m->st.remaining_pages = bitmap__count(&s->dirty));
		}
	}
	return flush_batch(s);
}

static int iter_end(struct sender *s, uint64_t iteration)
{
	struct iter_end ie = { iteration, s->iter_pages };
	struct wire_msg m;
	char why[400];
	int r = wire__send(s->sock, W_ITER_END, 0, &ie, sizeof(ie), NULL, 0);
	if (r || wire__expect_reply(s->sock, &m, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "end of iteration %llu: %s", (unsigned long long)iteration,
			   r ? strerror(-r) : why);
		return -1;
	}
	wire__msg_free(&m);
	return 0;
}

static void mark_shared(void *bm, uint64_t start, uint64_t end)
{
	bitmap__set_range(bm, start, end - start);
}

/* Shared pages as the guest reports them now, into bm; returns the
 * page-status generation they belong to. */
static uint64_t shared_now(struct vm *vm, struct page_bitmap *bm)
{
	bitmap__clear_all(bm);
	return page_status__shared_ranges(&vm->ps, mark_shared, bm);
}

/* Harvest dirty pages; a page whose shared/private status changed since
 * we last looked is sent again, in its new form. */
static int sync_dirty(struct sender *s)
{
	int64_t r = dirty__sync(&s->dt, &s->dirty);
	if (r < 0) {
		errbuf__set(s->err, sizeof(s->err), "reading the dirty log: %s", strerror((int)-r));
		return -1;
	}
	if (s->cc && page_status__generation(&s->vm->ps) != s->ps_gen) {
		struct page_bitmap now;
		if (bitmap__init(&now, s->shared.nbits) == 0) {
			s->ps_gen = shared_now(s->vm, &now);
			bitmap__or_xor(&s->dirty, &s->shared, &now);  /* dirty |= old ^ new */
			bitmap__copy(&s->shared, &now);
			bitmap__free(&now);
		}
	}
	STAT(s->m, s->m->st.dirty_sync_count++; s->m->st.remaining_pages = bitmap__count(&s->dirty));
	return 0;
}

static bool migration_allowed(struct sender *s)
{
	return !s->cc || (page_status__migctl(&s->vm->ps) & MIGCTL_ENABLED);
}

/* Pages that hold data: memfd holes were never touched and are zero on
 * the destination too. */
static void initial_set(struct sender *s)
{
	uint64_t npages = s->vm->ram.size / 4096, pfn = 0;
	while (pfn < npages) {
		off_t d = lseek(s->vm->ram.fd, (off_t)(pfn * 4096), SEEK_DATA);
		if (d < 0)
			break;
		off_t h = lseek(s->vm->ram.fd, d, SEEK_HOLE);
		uint64_t a = (uint64_t)d / 4096, b = h < 0 ? npages : ((uint64_t)h + 4095) / 4096;
		if (b > npages)
			b = npages;
		bitmap__set_range(&s->dirty, a, b - a);
		pfn = b;
	}
}

static int handshake(struct sender *s)
{
	uint8_t nonce[WIRE_NONCE_LEN];
	struct wire_msg m;
	struct rec_writer w;
	char why[400];
	int r;

	if (wire__hello(s->sock, WIRE_MIGRATE, 10000, nonce, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "handshake: %s", why);
		return -1;
	}
	r = rec__writer_init_mem(&w);
	if (!r)
		r = vm__save_config(s->vm, &w);
	if (!r)                           /* binds this stream to this connection */
		r = rec__write(&w, REC_WIRE_NONCE, 1, REC_F_REQUIRED, nonce, WIRE_NONCE_LEN);
	if (!r)
		r = rec__writer_finish(&w);
	if (r) {
		rec__writer_free_mem(&w);
		errbuf__set(s->err, sizeof(s->err), "config: %s", strerror(-r));
		return -1;
	}
	r = wire__send(s->sock, W_CONFIG, 0, w.mem, w.mem_len, NULL, 0);
	rec__writer_free_mem(&w);
	if (r || wire__expect_reply(s->sock, &m, 60000, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "the destination refused the VM: %s", r ? strerror(-r) : why);
		return -1;
	}
	if (s->cc) {
		/* the reply carries the destination platform's certificate chain:
		 * SEND_START verifies it to our trusted roots */
		void *msg;
		size_t mlen;
		if (!m.h.length) {
			wire__msg_free(&m);
			errbuf__set(s->err, sizeof(s->err), "the destination sent no platform certificate chain");
			return -1;
		}
		r = s->pp.ops->send_start(&s->pp, m.data, m.h.length, &msg, &mlen, why, sizeof(why));
		wire__msg_free(&m);
		if (r) {
			errbuf__set(s->err, sizeof(s->err), "%s", why);
			return -1;
		}
		r = wire__send(s->sock, W_SESSION, 0, msg, mlen, NULL, 0);
		free(msg);
		if (r || wire__expect_reply(s->sock, &m, 10000, why, sizeof(why))) {
			errbuf__set(s->err, sizeof(s->err), "the destination platform refused the session: %s",
				   r ? strerror(-r) : why);
			return -1;
		}
	}
	wire__msg_free(&m);
	return 0;
}

static int send_state_and_commit(struct sender *s, uint64_t pause_ns, uint64_t *running_ns)
{
	struct rec_writer w;
	struct wire_msg m;
	char why[400];
	size_t len;
	int r;

	/* built in memory and sent as it is: this is the pause window */
	r = rec__writer_init_mem(&w);
	if (!r && vm__save_state(s->vm, &w, why, sizeof(why)))
		r = -EIO;
	if (!r)
		r = rec__writer_finish(&w);
	if (r) {
		rec__writer_free_mem(&w);
		errbuf__set(s->err, sizeof(s->err), "saving state: %s", r == -EIO ? why : strerror(-r));
		return -1;
	}
	len = w.mem_len;
	r = wire__send(s->sock, W_STATE, 0, w.mem, len, NULL, 0);
	rec__writer_free_mem(&w);
	STAT(s->m, s->m->st.transferred += len);
	if (r || wire__expect_reply(s->sock, &m, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "the destination refused the state: %s", r ? strerror(-r) : why);
		return -1;
	}
	wire__msg_free(&m);
	if (!migration_allowed(s)) {
		errbuf__set(s->err, sizeof(s->err), "the guest withdrew its consent to migration (migration-control MSR cleared)");
		return -1;
	}
	/* the context moves by RECEIVE_FINISH, not in COMMIT; pause_ns is in
	 * this host's clock (the destination only logs it) */
	struct wire_commit c = { .pause_ns = pause_ns };
	r = wire__send(s->sock, W_COMMIT, 0, &c, sizeof(c), NULL, 0);
	if (r || wire__expect_reply(s->sock, &m, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "commit: %s", r ? strerror(-r) : why);
		return -1;
	}
	wire__msg_free(&m);
	*running_ns = now__ns();
	return 0;
}

static void write_stats_file(struct migration *m);

static void *run(void *arg)
{
	struct migration *m = arg;
	struct sender s = { .m = m, .vm = m->vm, .sock = -1 };
	uint64_t npages = m->vm->ram.size / 4096, t_iter, pause_ns = 0, running_ns = 0;
	bool paused = false, done = false;
	char why[400];

	s.cc = m->vm->cfg.cc != CC_NONE;
	s.pp.ops = &private_path_psp;
	s.pp.vm = m->vm;
	/* A serving helper: its region crosses first and the destination
	 * starts one too; it seals unless psp was asked for. A dead one is
	 * left behind: its region is then ordinary private memory. */
	const char *dead = m->mirror ? mirror__dead(m->mirror) : "this VM has no migration helper "
		"(start it with tern run --cc emu|sev --helper FILE)";
	s.helper = s.cc && !dead;
	s.helper_seal = s.helper && m->opt.private_path != MIG_PRIVATE_PSP;
	s.hx.mr = m->mirror;
	if (s.cc && m->mirror && dead && m->opt.private_path == MIG_PRIVATE_AUTO)
		log__info("migration helper not serving (%s): private pages go by the PSP path", dead);
	STAT(m, m->st.total_pages = npages);
	if (bitmap__init(&s.dirty, npages) || bitmap__init(&s.shared, npages) ||
	    !(s.batch = malloc(sizeof(struct ram_batch_hdr) + RAM_BATCH_PAGES * (12 + PRIVATE_PACKET_MAX)))) {
		errbuf__set(s.err, sizeof(s.err), "out of memory");
		goto out;
	}
	s.blen = sizeof(struct ram_batch_hdr);
	if (m->opt.private_path == MIG_PRIVATE_HELPER && !s.helper) {
		errbuf__set(s.err, sizeof(s.err), "--private-path helper: %s",
			   s.cc ? dead : "the VM is not confidential: it has no private pages");
		goto out;
	}
	if (!migration_allowed(&s)) {
		errbuf__set(s.err, sizeof(s.err), "the guest has not enabled migration "
			   "(MSR_KVM_MIGRATION_CONTROL is 0): a confidential VM moves only with its consent");
		goto out;
	}
	s.sock = transport__connect(m->opt.uri, 10000, why, sizeof(why));
	if (s.sock >= 0) {                /* TLS with --tls-creds; sock consumed */
		char mode[sizeof(m->st.tls)];
		s.sock = tls__source(m->opt.tls_creds, m->opt.tls_hostname, m->opt.uri, s.sock, 10000,
				     mode, sizeof(mode), why, sizeof(why));
		STAT(m, memcpy(m->st.tls, mode, sizeof(mode)));
	}
	if (s.sock < 0) {
		errbuf__set(s.err, sizeof(s.err), "%s", why);
		goto out;
	}
	STAT(m, m->sock = s.sock; m->sock_open = true);
	if (handshake(&s) || (s.helper && start_helper(&s)))
		goto out;
	if (vm__dirty_start(m->vm, &s.dt, DIRTY_LOG_CLEAR, why, sizeof(why))) {
		errbuf__set(s.err, sizeof(s.err), "dirty tracking: %s", why);
		goto out;
	}
	s.dt_on = true;
	s.ps_gen = shared_now(m->vm, &s.shared);
	/* dirty__start counted everything dirty; what matters first is the
	 * pages that hold data */
	if (dirty__sync(&s.dt, &s.dirty) < 0) {
		errbuf__set(s.err, sizeof(s.err), "reading the dirty log failed");
		goto out;
	}
	bitmap__clear_all(&s.dirty);
	initial_set(&s);
	STAT(m, m->st.setup_ns = now__ns() - m->st.start_ns; m->st.status = MIG_ACTIVE;
	     m->st.remaining_pages = bitmap__count(&s.dirty));
	s.bw_start_ns = now__ns();

	for (uint64_t it = 1;; it++) {
		STAT(m, m->st.iteration = it);
		s.round = (uint32_t)it;
		t_iter = now__ns();
		s.iter_pages = s.iter_bytes = 0;
		if (send_dirty(&s) || iter_end(&s, it) || sync_dirty(&s))
			goto out;
		double secs = (double)(now__ns() - t_iter) / 1e9;
		double bw = secs > 0 ? (double)s.iter_bytes / secs : 0;    /* bytes/s */
		uint64_t left = bitmap__count(&s.dirty);
		double expect_ms = bw > 0 ? (double)left * 4096.0 / bw * 1000.0 : 1e9;
		STAT(m, m->st.mbps = bw * 8 / 1e6; m->st.dirty_pages_rate = secs > 0 ? (double)left / secs : 0;
		     m->st.expected_downtime_ns = (uint64_t)(expect_ms * 1e6));
		if (!migration_allowed(&s)) {
			errbuf__set(s.err, sizeof(s.err), "the guest withdrew its consent to migration "
				   "(migration-control MSR cleared) during iteration %llu", (unsigned long long)it);
			goto out;
		}
		if (cancelled(&s)) {
			errbuf__set(s.err, sizeof(s.err), "cancelled");
			goto out;
		}
		if (expect_ms <= (double)m->opt.downtime_ms || left == 0)
			break;
		if (m->opt.timeout_s && now__ns() - m->st.start_ns > m->opt.timeout_s * 1000000000ULL) {
			if (m->opt.on_timeout == MIG_TIMEOUT_CANCEL) {
				errbuf__set(s.err, sizeof(s.err), "did not converge within %llu s (%llu pages still dirty, "
					   "expected downtime %.0f ms > %llu ms): cancelled as asked",
					   (unsigned long long)m->opt.timeout_s, (unsigned long long)left, expect_ms,
					   (unsigned long long)m->opt.downtime_ms);
				goto out;
			}
			break;            /* force: switch over now, over budget */
		}
		if (it >= m->opt.max_iterations)
			break;
	}

	/* the final round, paused */
	STAT(m, m->st.status = MIG_DEVICE);
	pause_ns = now__ns();
	if (vm__pause(m->vm)) {
		errbuf__set(s.err, sizeof(s.err), "the VM stopped during migration");
		goto out;
	}
	paused = true;
	s.iter_pages = s.iter_bytes = 0;
	s.round++;                            /* the final round: newer than any before */
	if (sync_dirty(&s) || send_dirty(&s) || iter_end(&s, 0) || send_state_and_commit(&s, pause_ns, &running_ns))
		goto out;
	/* committed: the destination runs the VM */
	if (s.cc && s.pp.ops->send_finish(&s.pp))
		log__err("SEND_FINISH failed after commit (the destination runs the VM)");
	done = true;
	serial__discard(&m->vm->serial);      /* a half-written console line went with STATE */
out:
	if (!done) {
		if (s.cc)
			s.pp.ops->send_cancel(&s.pp);
		if (s.sock >= 0)
			(void)wire__send(s.sock, W_ABORT, 0, s.err, strlen(s.err), NULL, 0);
		if (paused)
			vm__resume(m->vm);
	}
	if (s.dt_on)
		dirty__stop(&s.dt);
	STAT(m, m->sock_open = false);
	if (s.sock >= 0)
		close(s.sock);
	bitmap__free(&s.dirty);
	bitmap__free(&s.shared);
	free(s.batch);
	pthread_mutex_lock(&m->lock);
	m->st.total_ns = now__ns() - m->st.start_ns;
	if (done) {
		m->st.status = MIG_COMPLETED;
		m->st.downtime_ns = running_ns - pause_ns;
		m->st.remaining_pages = 0;
	} else {
		m->st.status = cancelled(&s) ? MIG_CANCELLED : MIG_FAILED;
		snprintf(m->st.error, sizeof(m->st.error), "%s", s.err);
	}
	pthread_mutex_unlock(&m->lock);
	write_stats_file(m);
	if (done) {
		char sent[64];
		snprintf(sent, sizeof(sent), "%llu MB sent", (unsigned long long)(m->st.transferred >> 20));
		move__committed(m->vm, "migrated", m->opt.uri, running_ns - pause_ns, sent);
	} else
		log__err("migration to %s %s: %s (the VM keeps running here)", m->opt.uri,
			cancelled(&s) ? "cancelled" : "failed", s.err);
	return NULL;
}

int migration__start(struct migration *m, struct vm *vm, struct mirror *mirror,
		     const struct mig_options *opt, char *err, size_t errlen)
{
	enum mig_status st;
	pthread_mutex_lock(&m->lock);
	st = m->st.status;
	pthread_mutex_unlock(&m->lock);
	if (st == MIG_SETUP || st == MIG_ACTIVE || st == MIG_DEVICE) {
		errbuf__set(err, errlen, "a migration is already in progress");
		return -1;
	}
	if (vm->cc_open && cc__lost(&vm->cc)) {
		errbuf__set(err, errlen, "migration refused: %s", cc__lost(&vm->cc));
		return -1;
	}
	migration__join(m);
	pthread_mutex_lock(&m->lock);
	memset(&m->st, 0, sizeof(m->st));
	m->st.status = MIG_SETUP;
	m->st.start_ns = now__ns();
	m->opt = *opt;
	if (!m->opt.downtime_ms)
		m->opt.downtime_ms = 300;
	if (!m->opt.max_iterations)
		m->opt.max_iterations = 1000;
	m->vm = vm;
	m->mirror = mirror;
	m->cancel = 0;
	pthread_mutex_unlock(&m->lock);
	if (pthread_create(&m->thread, NULL, run, m)) {
		errbuf__set(err, errlen, "cannot start the migration thread");
		STAT(m, m->st.status = MIG_FAILED);
		return -1;
	}
	m->thread_started = true;
	return 0;
}

void migration__cancel(struct migration *m)
{
	__atomic_store_n(&m->cancel, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&m->lock);
	if (m->sock_open && (m->st.status == MIG_SETUP || m->st.status == MIG_ACTIVE))
		shutdown(m->sock, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
}

void migration__stats(struct migration *m, struct mig_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->st;
	if (out->status == MIG_SETUP || out->status == MIG_ACTIVE || out->status == MIG_DEVICE)
		out->total_ns = now__ns() - out->start_ns;
	pthread_mutex_unlock(&m->lock);
}

void migration__join(struct migration *m)
{
	if (m->thread_started) {
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
}

static void write_stats_file(struct migration *m)
{
	struct mig_stats st;
	json_t *j;
	if (!m->stats_file[0])
		return;
	migration__stats(m, &st);
	j = mig__stats_json(&st);
	if (!j || json_dump_file(j, m->stats_file, JSON_COMPACT))
		log__err("cannot write migration stats to %s", m->stats_file);
	json_decref(j);
}
