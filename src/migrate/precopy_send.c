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

#include "kvm/dirty.h"
#include "mem/bitmap.h"
#include "mem/page.h"
#include "migrate/outcome.h"
#include "migrate/page_tx.h"
#include "migrate/postcopy.h"
#include "migrate/precopy.h"
#include "migrate/private_helper.h"
#include "migrate/private_path.h"
#include "migrate/tls.h"
#include "migrate/ram_batch.h"
#include "migrate/wire.h"
#include "state/record.h"
#include "util/fault.h"
#include "util/hash.h"
#include "util/io.h"
#include "util/log.h"
#include "util/memfd.h"
#include "vm/state.h"

#define REPLY_TIMEOUT_MS 60000

struct sender {
	struct migration *m;
	struct vm *vm;
	int sock;                             /* the control connection */
	uint8_t nonce[WIRE_NONCE_LEN];        /* the destination's, for the data connections */
	bool cc;
	struct dirty_tracker dt;
	bool dt_on;
	struct private_path pp;
	struct helper_tx hx;                  /* announces the helper's stream (hx.mr: the VM has a helper) */
	bool helper;                          /* the VM has a helper: its region crossed first */
	bool helper_seal;                     /* private pages go through the helper */
	struct page_tx tx;                    /* the workers and their data connections */
	struct page_bitmap dirty, shared;     /* to send; shared pages as last seen */
	uint64_t ps_gen;
	char err[512];
};

const char *mig__status_name(enum mig_status s)
{
	static const char *n[] = { "none", "setup", "active", "device", "completed", "failed", "cancelled",
				   "postcopy-active", "postcopy-paused" };
	return s <= MIG_POSTCOPY_PAUSED ? n[s] : "?";
}

#define STAT(m, expr) do { pthread_mutex_lock(&(m)->lock); expr; pthread_mutex_unlock(&(m)->lock); } while (0)

static bool cancelled(struct sender *s)
{
	return __atomic_load_n(&s->m->cancel, __ATOMIC_RELAXED);
}

/* The helper's region crosses first, by the PSP path on the control
 * connection, while every lane is idle; then HELPER starts the
 * destination's helper on it. */
static int start_helper(struct sender *s)
{
	char why[400];
	if (page_tx__send_psp(&s->tx, s->sock, HELPER_BASE / 4096, HELPER_CROSS_SIZE / 4096, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "%s", why);
		return -1;
	}
	if (helper_tx__announce(&s->hx, s->hx.mr, s->sock, s->helper_seal, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "%s", why);
		return -1;
	}
	s->tx.stream = s->hx.stream;
	return 0;
}

/* The data connections' count: --connections, else one per core. */
static int data_conns(const struct mig_options *o)
{
	long n = o->connections ? (long)o->connections : sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > WIRE_MAX_DATA_CONNS ? WIRE_MAX_DATA_CONNS : (int)n;
}

/* The pages that will come (s->dirty before round 1) as extents, for the
 * destination to provision while they are on their way; past the bound
 * the last extent covers the rest. *next 0: nothing to send. */
static struct ram_extent *extents_of(const struct page_bitmap *b, uint32_t *next)
{
	struct ram_extent *x = calloc(RAM_MAX_EXTENTS, sizeof(*x));
	int64_t a = -1, e;
	uint32_t n = 0;
	if (!x)
		return NULL;
	while ((a = bitmap__next_set(b, (uint64_t)(a + 1))) >= 0) {
		e = bitmap__next_clear(b, (uint64_t)a);
		if (e < 0)
			e = (int64_t)b->nbits;
		if (n == RAM_MAX_EXTENTS)
			x[n - 1].count = (uint64_t)e - x[n - 1].first;
		else
			x[n++] = (struct ram_extent){ (uint64_t)a, (uint64_t)(e - a) };
		a = e;
	}
	*next = n;
	return x;
}

/* One round on the workers, recorded in the timeline. */
static int send_round(struct sender *s, uint32_t round, bool paused, uint64_t *pages, uint64_t *bytes)
{
	struct mig_round r = { .round = round, .paused = paused, .start_ns = now__ns() };
	char why[400];
	/* The senders yield to the guest while it runs here (the guest is not
	 * slowed by a pre-copy), but not when post-copy was asked for: its
	 * point is a migration of bounded length, and a guest at full speed
	 * in round 1 leaves more to fetch after the switch (bench/README.md,
	 * "senders that yield"). Read by the workers under the round's lock. */
	s->tx.yield = !paused && !s->m->opt.postcopy_after &&
		      !__atomic_load_n(&s->m->start_postcopy, __ATOMIC_RELAXED);
	if (page_tx__round(&s->tx, round, &r.pages, &r.bytes, why, sizeof(why))) {
		/* a destination that gives up answers on the control connection
		 * too, and that answer outlives the data connection it cut */
		struct wire_msg m = { 0 };
		if (s->tx.send_failed && wire__recv(s->sock, &m, 1000) == 0 && m.h.cmd == W_REPLY && m.h.flags)
			errbuf__set(s->err, sizeof(s->err), "the destination refused: %s", (char *)m.data);
		else
			errbuf__set(s->err, sizeof(s->err), "%s", why);
		wire__msg_free(&m);       /* wire__recv leaves m empty on failure */
		return -1;
	}
	r.duration_ns = now__ns() - r.start_ns;
	r.start_ns -= s->m->st.start_ns;
	*pages = r.pages;
	*bytes = r.bytes;
	pthread_mutex_lock(&s->m->lock);
	if (s->m->nrounds < MIG_MAX_ROUNDS)
		s->m->rounds[s->m->nrounds++] = r;
	pthread_mutex_unlock(&s->m->lock);
	return 0;
}

static int iter_end(struct sender *s, uint64_t iteration, uint64_t pages)
{
	struct iter_end ie = { iteration, pages };
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
	uint8_t *nonce = s->nonce;
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

/* Post-copy's source side, in the migration's sender: its own request
 * thread (pt) and the bitmap of pages sent since the switch. */
static int postcopy_prepare(struct sender *s, struct postcopy_tx *pt, struct helper_tx *hx, uint32_t round)
{
	*hx = (struct helper_tx){ .mr = s->hx.mr, .stream = s->hx.stream };
	*pt = (struct postcopy_tx){ .m = s->m, .vm = s->vm, .sock = -1, .hint = &s->tx.hint, .shared = &s->shared,
				    .cc = s->cc, .helper_seal = s->helper_seal, .hx = s->helper_seal ? hx : NULL,
				    .round = round };
	pt->once = calloc(s->dirty.nwords ? s->dirty.nwords : 1, 8);
	pt->stage = s->helper_seal ? malloc(WIRE_MAX_PAGE_REQ * HELPER_PACKET_SIZE) : NULL;
	if (!pt->once || (s->helper_seal && !pt->stage)) {
		errbuf__set(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	s->tx.once = pt->once;
	return 0;
}

static void postcopy_release(struct sender *s, struct postcopy_tx *pt)
{
	postcopy_tx__stop(pt);
	s->tx.once = NULL;                /* the workers are idle: no round runs */
	free(pt->once);
	free(pt->stage);
}

/* After the switch (or a resume): requests answered on pt's connection,
 * every page of s->dirty pushed as one round on the data connections
 * (version `round` for the helper), then POSTCOPY_END. 0 or -1. */
static int postcopy_serve(struct sender *s, struct postcopy_tx *pt, uint32_t round)
{
	struct migration *m = s->m;
	struct wire_msg msg;
	uint64_t pages, bytes, t0 = now__ns();
	char why[400];
	int r;

	STAT(m, m->st.status = MIG_POSTCOPY; m->pc_round = round);
	if (send_round(s, round, true, &pages, &bytes)) {
		if (pt->failed)
			errbuf__set(s->err, sizeof(s->err), "%s", pt->err);
		return -1;
	}
	STAT(m, m->st.postcopy_bg_bytes += bytes; m->st.postcopy_remaining = 0);
	struct iter_end ie = { round, pages };
	if ((r = wire__send(s->sock, W_POSTCOPY_END, 0, &ie, sizeof(ie), NULL, 0)) ||
	    wire__expect_reply(s->sock, &msg, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "ending post-copy: %s", r ? strerror(-r) : why);
		return -1;
	}
	wire__msg_free(&msg);
	STAT(m, m->st.postcopy_ns += now__ns() - t0);
	log__info("post-copy: every page in place on the destination %.0f ms after the %s "
		  "(%llu requests answered, %llu MiB in the background)", (double)(now__ns() - t0) / 1e6,
		  m->resumed ? "resume" : "switch", (unsigned long long)pt->requests,
		  (unsigned long long)(bytes >> 20));
	return 0;
}

/* Post-copy's switch: POSTCOPY_MORE messages sent while the guest still
 * runs, at most; and how many pages are few enough to leave to the last
 * one, in the pause (about 2 ms of the destination's unmapping). */
#define POSTCOPY_MORE_RUNNING 4
#define POSTCOPY_MORE_PAUSED  1024

/* Pause the guest for the switch: from here to the destination's resume
 * is the downtime. 0, or -1 with s->err. */
static int pause_for_switch(struct sender *s, uint64_t *pause_ns, bool *paused)
{
	STAT(s->m, s->m->st.status = MIG_DEVICE);
	*pause_ns = now__ns();
	if (vm__pause(s->m->vm)) {
		errbuf__set(s->err, sizeof(s->err), "the VM stopped during migration");
		return -1;
	}
	*paused = true;
	return 0;
}

/* Send one of post-copy's page lists (POSTCOPY, POSTCOPY_MORE): the
 * pages of b, which the destination lacks. 0, or -1 with s->err. */
static int send_missing(struct sender *s, uint16_t cmd, const struct page_bitmap *b, uint64_t count)
{
	struct wire_postcopy h = { .npages = s->vm->ram.size / 4096, .missing = count };
	struct wire_msg msg;
	char why[400];
	if (wire__send2(s->sock, cmd, 0, &h, sizeof(h), b->w, b->nwords * 8, NULL, 0) ||
	    wire__expect_reply(s->sock, &msg, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "switching to post-copy: %s: %s", wire__cmd_name(cmd), why);
		return -1;
	}
	wire__msg_free(&msg);
	return 0;
}

/* The pages of s->dirty not named to the destination yet: into fresh,
 * and how many. */
static uint64_t unnamed(struct sender *s, const struct page_bitmap *named, struct page_bitmap *fresh)
{
	if (s->helper)
		bitmap__clear_range(&s->dirty, HELPER_BASE / 4096, (HELPER_END - HELPER_BASE) / 4096);
	for (size_t i = 0; i < fresh->nwords; i++)
		fresh->w[i] = s->dirty.w[i] & ~named->w[i];
	return bitmap__count(fresh);
}

/* Switch over by post-copy, after a round (s->dirty: what the guest wrote
 * during it). With the guest still running here, POSTCOPY names those
 * pages: the destination unmaps them from its guest's view (2 us a page
 * there: 0.3 s for a guest that wrote 200 k pages all over its RAM, which
 * must not be pause) and the request connection opens; POSTCOPY_MORE
 * names what the guest wrote meanwhile, until that is little. Then the
 * pause, a last POSTCOPY_MORE, STATE and COMMIT make the VM run there;
 * then postcopy_serve. *committed: the destination has run the VM (from
 * then on this side never resumes it on its own). 0 or -1. */
static int postcopy(struct sender *s, uint64_t *pause_ns, bool *paused, uint64_t *running_ns, bool *committed)
{
	struct migration *m = s->m;
	struct helper_tx hx;
	struct postcopy_tx pt;
	struct page_bitmap named = { 0 }, fresh = { 0 };
	uint32_t round = (uint32_t)m->st.iteration + 1;
	uint64_t first, more, missing;
	char why[400];
	int r = -1;

	/* the helper's region never goes page by page (crossed first, or its
	 * scratch): the destination does not wait for it */
	if (s->helper)
		bitmap__clear_range(&s->dirty, HELPER_BASE / 4096, (HELPER_END - HELPER_BASE) / 4096);
	first = bitmap__count(&s->dirty);
	if (postcopy_prepare(s, &pt, &hx, round))
		goto out;
	if (bitmap__init(&named, s->dirty.nbits) || bitmap__init(&fresh, s->dirty.nbits)) {
		errbuf__set(s->err, sizeof(s->err), "out of memory");
		goto out;
	}
	bitmap__copy(&named, &s->dirty);
	if (send_missing(s, W_POSTCOPY, &s->dirty, first))
		goto out;
	if (postcopy_tx__connect(&pt, s->nonce, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "%s", why);
		goto out;
	}
	for (int k = 0; k < POSTCOPY_MORE_RUNNING; k++) {
		if (sync_dirty(s))
			goto out;
		if ((more = unnamed(s, &named, &fresh)) <= POSTCOPY_MORE_PAUSED)
			break;            /* little enough for the pause */
		if (send_missing(s, W_POSTCOPY_MORE, &fresh, more))
			goto out;
		bitmap__or(&named, &fresh);
	}
	if (pause_for_switch(s, pause_ns, paused) || sync_dirty(s))
		goto out;
	__atomic_store_n(&pt.paused, true, __ATOMIC_RELEASE);
	more = unnamed(s, &named, &fresh);
	missing = bitmap__count(&s->dirty);
	if (send_missing(s, W_POSTCOPY_MORE, &fresh, more))
		goto out;
	STAT(m, m->st.postcopy = true; m->st.postcopy_missing = m->st.postcopy_remaining = missing);
	if (send_state_and_commit(s, *pause_ns, running_ns))
		goto out;
	*committed = true;
	/* a cancel that came during the switch is too late now; what a
	 * resume needs is kept with the migration */
	STAT(m, m->st.status = MIG_POSTCOPY; __atomic_store_n(&m->cancel, 0, __ATOMIC_RELAXED);
	     m->st.postcopy_switch_ns = *running_ns - *pause_ns; m->sock_open = false;
	     memcpy(m->pc_nonce, s->nonce, WIRE_NONCE_LEN); m->pc_stream = s->hx.stream;
	     m->pc_helper = s->helper; m->pc_helper_seal = s->helper_seal);
	log__info("post-copy: the guest runs on the destination after a %.1f ms pause; %llu pages (%llu MiB) "
		  "follow (%llu of them written during the switch)", (double)(*running_ns - *pause_ns) / 1e6,
		  (unsigned long long)missing, (unsigned long long)(missing >> 8), (unsigned long long)more);
	r = postcopy_serve(s, &pt, round);
out:
	bitmap__free(&named);
	bitmap__free(&fresh);
	postcopy_release(s, &pt);
	return r;
}

/* A held post-copy, resumed (tern migrate --resume, after migrate-recover
 * on the destination): a new control connection proves it continues the
 * same migration (the first connection's nonce), learns what the
 * destination still lacks, and serves it as after the switch. */
static int postcopy_resume(struct sender *s)
{
	struct migration *m = s->m;
	struct helper_tx hx;
	struct postcopy_tx pt = { .sock = -1 };
	struct wire_postcopy_resume rq = { .npages = s->vm->ram.size / 4096 };
	struct wire_msg msg;
	uint64_t missing;
	char why[400];
	int r = -1;

	if (s->cc && !s->helper_seal) {
		errbuf__set(s->err, sizeof(s->err), "a post-copy whose private pages go by the platform's path "
			   "cannot resume: its packets must be opened in order, and the broken connection lost "
			   "some");
		return -1;
	}
	if (wire__hello(s->sock, WIRE_MIGRATE, 10000, s->nonce, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "handshake: %s", why);
		return -1;
	}
	memcpy(rq.nonce, m->pc_nonce, WIRE_NONCE_LEN);
	if ((r = wire__send(s->sock, W_POSTCOPY_RESUME, 0, &rq, sizeof(rq), NULL, 0)) ||
	    wire__expect_reply(s->sock, &msg, REPLY_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "the destination refused to resume: %s", r ? strerror(-r) : why);
		return -1;
	}
	r = postcopy__parse_missing(msg.data, msg.h.length, rq.npages, s->dirty.w, &missing, why, sizeof(why));
	wire__msg_free(&msg);
	if (r) {
		errbuf__set(s->err, sizeof(s->err), "the destination's answer to POSTCOPY_RESUME: %s", why);
		return -1;
	}
	log__info("post-copy resumes: the destination still lacks %llu pages", (unsigned long long)missing);
	STAT(m, m->st.postcopy_remaining = missing);
	r = -1;
	if (postcopy_prepare(s, &pt, &hx, m->pc_round + 1))
		goto out;
	pt.paused = true;                 /* held paused since the break */
	if (page_tx__open(&s->tx, s->sock, s->nonce, data_conns(&m->opt), NULL, 0, why, sizeof(why)) ||
	    postcopy_tx__connect(&pt, s->nonce, why, sizeof(why))) {
		errbuf__set(s->err, sizeof(s->err), "%s", why);
		goto out;
	}
	STAT(m, m->tx = &s->tx);
	r = postcopy_serve(s, &pt, m->pc_round + 1);
out:
	postcopy_release(s, &pt);
	return r;
}

static void *run(void *arg)
{
	struct migration *m = arg;
	struct sender s = { .m = m, .vm = m->vm, .sock = -1 };
	uint64_t npages = m->vm->ram.size / 4096, t_iter, pause_ns = 0, running_ns = 0, pages, bytes;
	struct ram_extent *ext = NULL;
	uint32_t next = 0;
	int nconns = data_conns(&m->opt);
	bool paused = false, done = false, post = false, committed = false;
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
	/* The platform's packets must be opened in the order they were sealed
	 * (each extends the session's measurement): private pages by the PSP
	 * path need one ordered stream, so one data connection */
	if (s.cc && !s.helper_seal && nconns > 1) {
		log__info("private pages go by the PSP path, which must keep their order: 1 data connection, "
			  "not %d", nconns);
		nconns = 1;
	}
	s.tx = (struct page_tx){ .m = m, .vm = m->vm, .cc = s.cc, .helper = s.helper,
				 .helper_seal = s.helper_seal, .pp = &s.pp, .shared = &s.shared, .dirty = &s.dirty };
	STAT(m, m->st.total_pages = npages; m->st.connections = (uint32_t)nconns);
	if (bitmap__init(&s.dirty, npages) || bitmap__init(&s.shared, npages)) {
		errbuf__set(s.err, sizeof(s.err), "out of memory");
		goto out;
	}
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
	{                                 /* TLS with --tls-creds */
		char mode[sizeof(m->st.tls)] = "none";
		s.sock = tls__connect(m->opt.tls_creds, m->opt.tls_hostname, m->opt.uri, 10000, mode,
				      sizeof(mode), why, sizeof(why));
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
	if (!(ext = extents_of(&s.dirty, &next))) {
		errbuf__set(s.err, sizeof(s.err), "out of memory");
		goto out;
	}
	/* the workers start on the data connections; migrate-cancel cuts them too */
	if (page_tx__open(&s.tx, s.sock, s.nonce, nconns, ext, next, why, sizeof(why))) {
		errbuf__set(s.err, sizeof(s.err), "%s", why);
		goto out;
	}
	STAT(m, m->tx = &s.tx; m->st.setup_ns = now__ns() - m->st.start_ns; m->st.status = MIG_ACTIVE;
	     m->st.remaining_pages = bitmap__count(&s.dirty));
	if (cancelled(&s))                /* a cancel before m->tx was set */
		page_tx__shutdown(&s.tx);

	for (uint64_t it = 1;; it++) {
		STAT(m, m->st.iteration = it);
		t_iter = now__ns();
		if (send_round(&s, (uint32_t)it, false, &pages, &bytes) || iter_end(&s, it, pages) || sync_dirty(&s))
			goto out;
		double secs = (double)(now__ns() - t_iter) / 1e9;
		double bw = secs > 0 ? (double)bytes / secs : 0;    /* bytes/s */
		uint64_t left = bitmap__count(&s.dirty);
		double expect_ms = bw > 0 ? (double)left * 4096.0 / bw * 1000.0 : 1e9;
		STAT(m, m->st.mbps = bw * 8 / 1e6; m->st.dirty_pages_rate = secs > 0 ? (double)left / secs : 0;
		     m->st.expected_downtime_ns = (uint64_t)(expect_ms * 1e6);
		     if (m->nrounds) m->rounds[m->nrounds - 1].dirty_pages_rate = m->st.dirty_pages_rate);
		if (!migration_allowed(&s)) {
			errbuf__set(s.err, sizeof(s.err), "the guest withdrew its consent to migration "
				   "(migration-control MSR cleared) during iteration %llu", (unsigned long long)it);
			goto out;
		}
		if (cancelled(&s)) {
			errbuf__set(s.err, sizeof(s.err), "cancelled");
			goto out;
		}
		if (expect_ms <= (double)m->opt.downtime_ms || left == 0) {
			if ((m->opt.postcopy_after && it >= m->opt.postcopy_after) ||
			    __atomic_load_n(&m->start_postcopy, __ATOMIC_RELAXED))
				log__info("post-copy was asked for, but the %llu pages left after round %llu fit "
					  "--downtime-ms %llu (expected %.1f ms): ending by pre-copy",
					  (unsigned long long)left, (unsigned long long)it,
					  (unsigned long long)m->opt.downtime_ms, expect_ms);
			break;
		}
		if ((m->opt.postcopy_after && it >= m->opt.postcopy_after) ||
		    __atomic_load_n(&m->start_postcopy, __ATOMIC_RELAXED)) {
			post = true;
			break;
		}
		if (m->opt.timeout_s && now__ns() - m->st.start_ns > m->opt.timeout_s * 1000000000ULL) {
			if (m->opt.on_timeout == MIG_TIMEOUT_POSTCOPY) {
				log__info("did not converge within %llu s: switching to post-copy as asked",
					  (unsigned long long)m->opt.timeout_s);
				post = true;
				break;
			}
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

	if (post) {
		/* the rest follows the guest: only what changed since the last
		 * round's pages were sent is unknown to the destination; the
		 * pause comes inside */
		if (postcopy(&s, &pause_ns, &paused, &running_ns, &committed))
			goto out;
	/* the final round, paused: newer than any before */
	} else if (pause_for_switch(&s, &pause_ns, &paused) || sync_dirty(&s) ||
		   send_round(&s, (uint32_t)m->st.iteration + 1, true, &pages, &bytes) ||
		   iter_end(&s, 0, pages) ||
		   send_state_and_commit(&s, pause_ns, &running_ns)) {
		goto out;
	}
	/* committed: the destination runs the VM */
	if (s.cc && s.pp.ops->send_finish(&s.pp))
		log__err("SEND_FINISH failed after commit (the destination runs the VM)");
	done = true;
	serial__discard(&m->vm->serial);      /* a half-written console line went with STATE */
out:
	if (!done && committed) {
		/* after the switch: the destination may have run the guest, so
		 * this copy stays paused; it is the only complete one */
		STAT(m, m->held = true);
		log__err("post-copy to %s failed after the switch: %s. The VM stays paused here with every "
			 "page: if the destination waits for a recovery (tern ctl DST migrate-recover URI), "
			 "`tern migrate --resume --to URI` finishes the move; if it is gone for good, "
			 "`tern ctl SOCK cont --force` resumes it here (dangerous: if the destination still "
			 "runs it, the two copies diverge)", m->opt.uri, s.err);
	} else if (!done) {
		if (s.cc)
			s.pp.ops->send_cancel(&s.pp);
		if (s.sock >= 0)
			(void)wire__send(s.sock, W_ABORT, 0, s.err, strlen(s.err), NULL, 0);
		if (paused)
			vm__resume(m->vm);
	}
	if (s.dt_on)
		dirty__stop(&s.dt);
	STAT(m, m->sock_open = false; m->tx = NULL);
	page_tx__close(&s.tx);
	if (s.sock >= 0)
		close(s.sock);
	bitmap__free(&s.dirty);
	bitmap__free(&s.shared);
	free(ext);
	pthread_mutex_lock(&m->lock);
	m->st.total_ns = now__ns() - m->st.start_ns;
	if (done) {
		m->st.status = MIG_COMPLETED;
		m->st.downtime_ns = running_ns - pause_ns;
		m->st.remaining_pages = 0;
	} else {
		m->st.status = committed ? MIG_POSTCOPY_PAUSED : cancelled(&s) ? MIG_CANCELLED : MIG_FAILED;
		snprintf(m->st.error, sizeof(m->st.error), "%s", s.err);
	}
	pthread_mutex_unlock(&m->lock);
	write_stats_file(m);
	if (done) {
		char sent[64];
		snprintf(sent, sizeof(sent), "%llu MB sent", (unsigned long long)(m->st.transferred >> 20));
		move__committed(m->vm, "migrated", m->opt.uri, running_ns - pause_ns, sent);
	} else if (!committed)
		log__err("migration to %s %s: %s (the VM keeps running here)", m->opt.uri,
			cancelled(&s) ? "cancelled" : "failed", s.err);
	return NULL;
}

static void *run_resume(void *arg)
{
	struct migration *m = arg;
	struct sender s = { .m = m, .vm = m->vm, .sock = -1 };
	uint64_t npages = m->vm->ram.size / 4096;
	bool done = false;
	char why[400];

	s.cc = m->vm->cfg.cc != CC_NONE;
	s.helper = m->pc_helper;
	s.helper_seal = m->pc_helper_seal;
	s.hx.mr = m->mirror;
	s.hx.stream = m->pc_stream;
	s.pp.ops = &private_path_psp;
	s.pp.vm = m->vm;
	s.tx = (struct page_tx){ .m = m, .vm = m->vm, .cc = s.cc, .helper = s.helper, .helper_seal = s.helper_seal,
				 .stream = m->pc_stream, .pp = &s.pp, .shared = &s.shared, .dirty = &s.dirty };
	if (bitmap__init(&s.dirty, npages) || bitmap__init(&s.shared, npages)) {
		errbuf__set(s.err, sizeof(s.err), "out of memory");
		goto out;
	}
	shared_now(m->vm, &s.shared);     /* paused since the switch: as it was */
	{
		char mode[sizeof(m->st.tls)] = "none";
		s.sock = tls__connect(m->opt.tls_creds, m->opt.tls_hostname, m->opt.uri, 10000, mode,
				      sizeof(mode), why, sizeof(why));
	}
	if (s.sock < 0) {
		errbuf__set(s.err, sizeof(s.err), "%s", why);
		goto out;
	}
	done = postcopy_resume(&s) == 0;
out:
	STAT(m, m->tx = NULL);
	page_tx__close(&s.tx);
	if (s.sock >= 0)
		close(s.sock);
	bitmap__free(&s.dirty);
	bitmap__free(&s.shared);
	pthread_mutex_lock(&m->lock);
	m->st.total_ns = now__ns() - m->st.start_ns;
	if (done) {
		m->st.status = MIG_COMPLETED;
		m->st.remaining_pages = 0;
		m->held = false;
	} else {
		m->st.status = MIG_POSTCOPY_PAUSED;
		m->held = true;
		snprintf(m->st.error, sizeof(m->st.error), "%s", s.err);
	}
	pthread_mutex_unlock(&m->lock);
	write_stats_file(m);
	if (done) {
		if (s.cc && s.pp.ops->send_finish(&s.pp))
			log__err("SEND_FINISH failed after post-copy (the destination runs the VM)");
		serial__discard(&m->vm->serial);
		move__committed(m->vm, "migrated (post-copy, resumed)", m->opt.uri, m->st.postcopy_switch_ns,
				"");
	} else {
		log__err("post-copy to %s did not resume: %s. The VM stays paused here with every page "
			 "(`tern migrate --resume` again, or `tern ctl SOCK cont --force`)", m->opt.uri, s.err);
	}
	return NULL;
}

int migration__resume(struct migration *m, const struct mig_options *opt, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	if (!m->held || m->st.status != MIG_POSTCOPY_PAUSED) {
		pthread_mutex_unlock(&m->lock);
		errbuf__set(err, errlen, "migrate --resume: no post-copy is paused here (it resumes one that "
			    "broke after the switch)");
		return -1;
	}
	m->held = false;                  /* the thread holds it now */
	m->resumed = true;
	m->st.status = MIG_POSTCOPY;
	m->st.error[0] = 0;
	snprintf(m->opt.uri, sizeof(m->opt.uri), "%s", opt->uri);
	memcpy(m->opt.tls_creds, opt->tls_creds, sizeof(m->opt.tls_creds));
	memcpy(m->opt.tls_hostname, opt->tls_hostname, sizeof(m->opt.tls_hostname));
	if (opt->connections)
		m->opt.connections = opt->connections;
	m->opt.max_bandwidth = opt->max_bandwidth;
	pthread_mutex_unlock(&m->lock);
	migration__join(m);
	if (pthread_create(&m->thread, NULL, run_resume, m)) {
		STAT(m, m->st.status = MIG_POSTCOPY_PAUSED; m->held = true);
		errbuf__set(err, errlen, "cannot start the migration thread");
		return -1;
	}
	m->thread_started = true;
	return 0;
}

int migration__start(struct migration *m, struct vm *vm, struct mirror *mirror,
		     const struct mig_options *opt, char *err, size_t errlen)
{
	enum mig_status st;
	pthread_mutex_lock(&m->lock);
	st = m->st.status;
	pthread_mutex_unlock(&m->lock);
	if (st == MIG_SETUP || st == MIG_ACTIVE || st == MIG_DEVICE || st == MIG_POSTCOPY) {
		errbuf__set(err, errlen, "a migration is already in progress");
		return -1;
	}
	if (st == MIG_POSTCOPY_PAUSED) {
		errbuf__set(err, errlen, "a post-copy is paused here: the VM waits for `tern migrate --resume` "
			    "(or `cont --force`)");
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
	m->start_postcopy = 0;
	m->held = false;
	m->resumed = false;
	m->nrounds = 0;
	pthread_mutex_unlock(&m->lock);
	if (pthread_create(&m->thread, NULL, run, m)) {
		errbuf__set(err, errlen, "cannot start the migration thread");
		STAT(m, m->st.status = MIG_FAILED);
		return -1;
	}
	m->thread_started = true;
	return 0;
}

int migration__start_postcopy(struct migration *m, char *err, size_t errlen)
{
	int ret = 0;
	pthread_mutex_lock(&m->lock);
	if (m->st.status != MIG_SETUP && m->st.status != MIG_ACTIVE)
		errbuf__set(err, errlen, "migrate-start-postcopy: %s", m->st.status == MIG_POSTCOPY ?
			    "already in post-copy" : m->st.status == MIG_DEVICE ? "the switch-over has begun" :
			    "no migration is running");
	else
		__atomic_store_n(&m->start_postcopy, 1, __ATOMIC_RELAXED);
	ret = m->start_postcopy ? 0 : -1;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int migration__resume_held(struct migration *m, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	bool held = m->held;
	m->held = false;
	if (held) {
		m->st.status = MIG_FAILED;
		snprintf(m->st.error, sizeof(m->st.error), "post-copy given up: the VM was resumed here by "
			 "cont --force");
	}
	pthread_mutex_unlock(&m->lock);
	if (!held) {
		errbuf__set(err, errlen, "cont --force: no VM is held here by a failed post-copy");
		return -1;
	}
	log__err("cont --force: resuming the VM held since its post-copy to %s failed; if the destination "
		 "still runs it, the two copies now diverge", m->opt.uri);
	vm__resume(m->vm);
	return 0;
}

void migration__cancel(struct migration *m)
{
	pthread_mutex_lock(&m->lock);
	/* after the switch to post-copy the guest runs there: too late */
	if (m->st.status != MIG_POSTCOPY)
		__atomic_store_n(&m->cancel, 1, __ATOMIC_RELAXED);
	if (m->sock_open && (m->st.status == MIG_SETUP || m->st.status == MIG_ACTIVE)) {
		shutdown(m->sock, SHUT_RDWR);
		if (m->tx)
			page_tx__shutdown(m->tx);
	}
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
	if (j) {                          /* the thread has ended: rounds are still */
		json_t *tl = mig__timeline_json(m->rounds, m->nrounds);
		json_object_set_new(j, "timeline", tl);
	}
	if (!j || json_dump_file(j, m->stats_file, JSON_COMPACT))
		log__err("cannot write migration stats to %s", m->stats_file);
	json_decref(j);
}
