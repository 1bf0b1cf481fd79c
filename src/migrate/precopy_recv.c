/* precopy_recv.c - the destination side of a live migration
 * (`tern run --incoming URI`). Receiver state machine:
 *
 *   WAIT_HELLO   --HELLO (protocol 1, records 1.x, kind migrate)--> WAIT_CONFIG
 *                (wire__accept_source: a connection that fails it is
 *                dropped and the wait goes on)
 *   WAIT_CONFIG  --CONFIG, shape matches, VM built-->  RECEIVING (cc: WAIT_SESSION,
 *                                                      the reply carries our chain)
 *   WAIT_SESSION --SESSION, RECEIVE_START ok-->        RECEIVING
 *   RECEIVING    --RAM (checksum, pages applied), ITER_END (acked)--> RECEIVING
 *                --HELPER (cc; the helper's region has crossed by the PSP
 *                  path): our mirror starts on it, opens PAGE_HELPER
 *                  entries from then on-->         RECEIVING
 *                --DATA_OPEN (once): provisioning starts, the data
 *                  connections join (page_rx.h); RAM comes on them from
 *                  now on, each round closed by a FENCE on every one-->  RECEIVING
 *                --ITER_END: answered once every data connection has
 *                  fenced the round-->                 RECEIVING
 *                --POSTCOPY (once, after DATA_OPEN; the source still
 *                  runs the VM): the pages still to come, unmapped
 *                  from the guest's view, answered; the request
 *                  connection joins; data connections land pages
 *                  through post-copy's sink from now on-->  RECEIVING
 *                --POSTCOPY_MORE (after POSTCOPY, any number; the
 *                  last with the source paused): the pages written
 *                  since, the same-->                  RECEIVING
 *                --STATE, restored-->                  WAIT_COMMIT
 *   WAIT_COMMIT  --COMMIT, RECEIVE_FINISH, resumed-->  RUNNING
 *                --COMMIT after POSTCOPY: the guest's view armed
 *                  (userfaultfd), resumed-->           POSTCOPY
 *   POSTCOPY     --POSTCOPY_END: every data connection fenced, every
 *                  page in place, unregistered-->      RUNNING
 *                a failure here cannot give the VM back: the source
 *                holds it paused; this side says the VM is lost here
 * ABORT, a closed connection, a bad batch, a refused packet, a page
 * corrupted in transit, a failed data connection or any
 * unexpected message: reply with the reason, destroy the VM, exit 1. The
 * source keeps its VM. So does a cancel (migrate-cancel or quit on the
 * control socket, a signal) in any state before COMMIT is taken.
 *
 * The figures are kept in the receiver's own mig_stats (the data
 * connections' threads add their counts under st_lock) and copied to the
 * shared mig_incoming after every message, so the control thread reads a
 * consistent snapshot. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mem/ram_prep.h"
#include "migrate/config_rx.h"
#include "migrate/page_rx.h"
#include "migrate/postcopy.h"
#include "migrate/precopy.h"
#include "migrate/private_helper.h"
#include "migrate/private_path.h"
#include "migrate/ram_batch.h"
#include "migrate/state_rx.h"
#include "migrate/tls.h"
#include "migrate/transport.h"
#include "migrate/wire.h"
#include "state/record.h"
#include "util/cancel.h"
#include "util/fault.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/state.h"

#define PUBLISH_MS 250                /* figures published at least this often */
#define SILENCE_MS 120000             /* a source silent this long is gone */

enum rx { WAIT_HELLO, WAIT_CONFIG, WAIT_SESSION, RECEIVING, WAIT_COMMIT, POSTCOPY, RUNNING };
static const char *rx_name[] = { "WAIT_HELLO", "WAIT_CONFIG", "WAIT_SESSION", "RECEIVING",
				 "WAIT_COMMIT", "POSTCOPY", "RUNNING" };

struct receiver {
	struct vm *vm;
	const struct vm_config *local;
	struct mig_stats *st;             /* the receiver's own copy */
	struct mig_incoming *in;          /* where it is published */
	struct private_path pp;
	struct helper_rx hx;              /* the source's helper: ours opens its pages */
	pthread_mutex_t st_lock;          /* st, against the data connections' threads */
	pthread_mutex_t priv_lock;        /* one platform session, one helper: one batch at a time */
	struct page_rx rx;                /* the data connections */
	struct postcopy_rx *pc;           /* after POSTCOPY */
	uint8_t pc_nonce[WIRE_NONCE_LEN]; /* the first control connection's: a resume names it */
	bool cut;                         /* the failure was a broken connection (recoverable) */
	int recover_lfd;                  /* where a resumed source came (ours to close) */
	uint64_t fence_base;              /* rounds before the data connections of now (a
					   * resume opens new ones, whose fences count from 0) */
	int sock, lfd;                    /* the control connection, the listening socket */
	uint8_t *stage;                   /* sealed packets of a batch on the control connection */
	struct ram_suspects sus;          /* ... whose plain pages must match (no fence excuses them) */
	bool built, cc;
	uint8_t nonce[WIRE_NONCE_LEN];    /* this connection's, from wire__accept_source */
	bool corrupted;                   /* fault PSP_CORRUPT done (util/fault.h) */
	char err[512];
};

/* The RAM the pages land in: provisioned while we waited (its size was
 * checked against the source's above), or a fresh memfd. */
static int attach_ram(struct receiver *r)
{
	if (!r->in->prep)
		return vm__attach_ram_owned(r->vm, VM_RAM_SLOT_MAIN, VM_RAM_GPA_MAIN, r->err, sizeof(r->err));
	bool finished;
	r->st->provisioned_at_start = ram_prep__progress(r->in->prep, &finished);
	log__info("guest RAM provisioned during setup: %llu of %llu MiB when the source came",
		  (unsigned long long)(r->st->provisioned_at_start >> 20),
		  (unsigned long long)(r->st->provision_total >> 20));
	struct guest_ram ram = ram_prep__take(r->in->prep);
	return vm__attach_ram_given(r->vm, &ram, VM_RAM_SLOT_MAIN, VM_RAM_GPA_MAIN, r->err, sizeof(r->err));
}

/* Stop provisioning during setup (before pages leave the view on purpose,
 * or the VM's RAM is unmapped); the RAM stays the VM's. */
static void stop_prep(struct receiver *r)
{
	if (r->in->prep)
		ram_prep__stop(r->in->prep);
}

static int on_config(struct receiver *r, struct wire_msg *m, void **reply, size_t *rlen)
{
	struct config_rx rx = { .cfg = *r->local };
	if (config_rx__parse(m, r->nonce, &rx, r->err, sizeof(r->err)))
		return -1;
	config_rx__free(&rx);             /* handoff extras: not for a migration */
	struct vm_config cfg = rx.cfg;

	/* checked before anything is built: any peer can send a CONFIG */
	if (r->local->max_mem && cfg.mem > r->local->max_mem) {
		errbuf__set(r->err, sizeof(r->err), "the VM has %llu MiB of RAM, more than this destination "
			   "accepts (--max-mem %llu MiB; default: the host's available memory)",
			   (unsigned long long)(cfg.mem >> 20), (unsigned long long)(r->local->max_mem >> 20));
		return -1;
	}
	/* what this destination was told to expect must match */
	if (r->local->mem && r->local->mem != cfg.mem) {
		errbuf__set(r->err, sizeof(r->err), "the VM has %llu MiB of RAM, this destination expects %llu MiB",
			   (unsigned long long)(cfg.mem >> 20), (unsigned long long)(r->local->mem >> 20));
		return -1;
	}
	if (r->local->ncpus && r->local->ncpus != cfg.ncpus) {
		errbuf__set(r->err, sizeof(r->err), "the VM has %d vCPUs, this destination expects %d",
			   cfg.ncpus, r->local->ncpus);
		return -1;
	}
	if (r->local->cc != cfg.cc) {
		static const char *const with[] = { "without --cc", "with --cc emu", "with --cc sev" };
		errbuf__set(r->err, sizeof(r->err), "the VM was started %s, this destination %s",
			   with[cfg.cc], with[r->local->cc]);
		return -1;
	}
	pthread_mutex_lock(&r->in->lock);
	r->in->ncpus = cfg.ncpus;
	r->in->mem = cfg.mem;
	pthread_mutex_unlock(&r->in->lock);
	cfg.serial_fd = r->local->serial_fd;
	cfg.psp_socket = r->local->psp_socket;
	r->built = true;
	/* a fresh memfd the RAM batches fill; a confidential context is made
	 * here (INIT, RAM registered) and arrives by RECEIVE_* */
	if (vm__init(r->vm, &cfg, r->err, sizeof(r->err)) ||
	    vm__add_guest_devices(r->vm, r->err, sizeof(r->err)) ||
	    attach_ram(r) ||
	    vm__setup_caps(r->vm, r->err, sizeof(r->err)) ||
	    vm__cc_role(r->vm, VM_CC_RECEIVER, NULL, r->err, sizeof(r->err)) ||
	    vm__create_vcpus(r->vm, r->err, sizeof(r->err)))
		return -1;
	r->cc = cfg.cc != CC_NONE;
	r->pp.ops = &private_path_psp;
	r->pp.vm = r->vm;
	r->st->total_pages = cfg.mem / 4096;
	if (r->cc && r->pp.ops->local_chain(&r->pp, reply, rlen)) {
		errbuf__set(r->err, sizeof(r->err), "cannot read this platform's certificate chain");
		return -1;
	}
	return 0;
}

/* A private entry of a RAM batch: into the platform's private path,
 * straight from the received batch. (Fault PSP_CORRUPT: the first large
 * packet is tampered with, in a copy, before the platform sees it.) */
static int open_private(void *ctx, const uint8_t *p, uint32_t len, char *err, size_t errlen)
{
	struct receiver *r = ctx;
	if (fault__arg("PSP_CORRUPT") && !r->corrupted && len > 100) {
		uint8_t pkt[PRIVATE_PACKET_MAX];
		memcpy(pkt, p, len);
		pkt[len - 1] ^= 0x40;
		r->corrupted = true;
		return r->pp.ops->open(&r->pp, pkt, len, err, errlen);
	}
	return r->pp.ops->open(&r->pp, p, len, err, errlen);
}

static int open_helper(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen)
{
	struct receiver *r = ctx;
	return helper_rx__queue(&r->hx, gpa, pkt, err, errlen);
}

static int flush_helper(void *ctx, char *err, size_t errlen)
{
	struct receiver *r = ctx;
	return helper_rx__flush(&r->hx, err, errlen);
}

static void lock_private(void *ctx, bool lock)
{
	struct receiver *r = ctx;
	if (lock)
		pthread_mutex_lock(&r->priv_lock);
	else
		pthread_mutex_unlock(&r->priv_lock);
}

/* What every RAM batch lands through, on whichever connection. */
static struct ram_batch_sink sink_of(struct receiver *r)
{
	return (struct ram_batch_sink){ .ram = r->vm->ram.hva, .ram_size = r->vm->ram.size,
					.open_private = r->cc ? open_private : NULL,
					.open_helper = r->cc ? open_helper : NULL,
					.flush_helper = flush_helper, .lock_private = lock_private, .ctx = r };
}

static int ctl_read(void *rctx, struct iovec *iov, int n)
{
	struct receiver *r = rctx;
	return wire__recv_iov(r->sock, iov, n, 120000);
}

/* A RAM batch on the control connection: the helper's region, sealed by
 * the platform, before the data connections open. */
static int on_ram(struct receiver *r, const struct wire_hdr *h)
{
	struct mig_stats d = { 0 };
	struct ram_batch_sink s = sink_of(r);
	if (!r->stage && !(r->stage = malloc(RAM_BATCH_STAGE))) {
		errbuf__set(r->err, sizeof(r->err), "out of memory");
		return -1;
	}
	s.read = ctl_read;
	s.rctx = r;
	s.stage = r->stage;
	s.suspects = &r->sus;
	s.st = &d;
	if (ram_batch__receive(&s, h->length, r->err, sizeof(r->err)))
		return -1;
	if (r->sus.n) {
		errbuf__set(r->err, sizeof(r->err), "page 0x%llx arrived corrupted on the control connection",
			   (unsigned long long)r->sus.gpa[0]);
		return -1;
	}
	d.transferred = h->length + sizeof(*h);
	pthread_mutex_lock(&r->st_lock);
	mig_stats__add_counts(r->st, &d);
	pthread_mutex_unlock(&r->st_lock);
	return 0;
}

/* DATA_OPEN: provisioning starts, we answer, the data connections join. */
static int on_data_open(struct receiver *r, struct wire_msg *m)
{
	r->rx.sink = sink_of(r);
	r->rx.memfd = r->vm->ram.fd;
	r->rx.ctl = r->sock;
	r->rx.tls = r->in->tls;
	r->rx.st = r->st;
	r->rx.st_lock = &r->st_lock;
	r->rx.no_provision = r->in->prep || r->in->no_provision;   /* done, or not wanted */
	if (page_rx__prepare(&r->rx, m->data, m->h.length, r->err, sizeof(r->err)))
		return -1;
	if (wire__reply_ok(r->sock, NULL, 0)) {
		errbuf__set(r->err, sizeof(r->err), "the source closed the connection after DATA_OPEN");
		return -1;
	}
	return page_rx__accept(&r->rx, r->lfd, r->nonce, r->err, sizeof(r->err));
}

static void cancel_reason(struct receiver *r, char *buf, size_t len);

/* ITER_END: every data connection has delivered the round. */
static int on_iter_end(struct receiver *r)
{
	if (!r->rx.c) {
		errbuf__set(r->err, sizeof(r->err), "ITER_END before DATA_OPEN");
		return -1;
	}
	r->st->iteration++;
	r->st->dirty_sync_count++;        /* one source sync per round */
	int w = page_rx__wait_fences(&r->rx, r->st->iteration - r->fence_base, 120000, r->err, sizeof(r->err));
	if (w == -2)
		cancel_reason(r, r->err, sizeof(r->err));
	return w ? -1 : 0;
}

/* POSTCOPY: what is still to come; answered here, then the request
 * connection joins and the data connections switch sinks. */
static int on_postcopy(struct receiver *r, struct wire_msg *m)
{
	if (!r->rx.c || r->pc) {
		errbuf__set(r->err, sizeof(r->err), r->pc ? "a second POSTCOPY" : "POSTCOPY before DATA_OPEN");
		return -1;
	}
	/* the provisioner must not map back what is about to leave the view */
	page_rx__stop_provision(&r->rx);
	stop_prep(r);
	if (!(r->pc = postcopy_rx__new(r->vm, m->data, m->h.length, r->st, &r->st_lock, r->err, sizeof(r->err))))
		return -1;
	memcpy(r->pc_nonce, r->nonce, WIRE_NONCE_LEN);
	if (wire__reply_ok(r->sock, NULL, 0)) {
		errbuf__set(r->err, sizeof(r->err), "the source closed the connection after POSTCOPY");
		return -1;
	}
	struct ram_batch_sink base = sink_of(r), ps = base;
	if (postcopy_rx__accept(r->pc, r->lfd, r->in->tls, r->nonce, &base, r->err, sizeof(r->err)))
		return -1;
	postcopy_rx__sink(r->pc, &ps);
	page_rx__set_sink(&r->rx, &ps);
	return 0;
}

/* POSTCOPY_MORE: what the guest wrote since the last list is missing
 * too. */
static int on_postcopy_more(struct receiver *r, struct wire_msg *m)
{
	if (!r->pc) {
		errbuf__set(r->err, sizeof(r->err), "POSTCOPY_MORE before POSTCOPY");
		return -1;
	}
	return postcopy_rx__more(r->pc, m->data, m->h.length, r->err, sizeof(r->err));
}

/* POSTCOPY_END: the background stream is over; once every page is in
 * place the guest runs on plain memory. */
static int on_postcopy_end(struct receiver *r)
{
	r->st->iteration++;
	int w = page_rx__wait_fences(&r->rx, r->st->iteration - r->fence_base, 120000, r->err, sizeof(r->err));
	if (w == -2)
		cancel_reason(r, r->err, sizeof(r->err));
	if (w)
		return -1;
	if (postcopy_rx__finish(r->pc, 60000, r->err, sizeof(r->err)))
		return -1;
	int f = r->cc ? r->pp.ops->recv_finish(&r->pp) : 0;
	if (f)
		errbuf__set(r->err, sizeof(r->err), "RECEIVE_FINISH after post-copy: %s", strerror(-f));
	return f ? -1 : 0;
}

static int on_state(struct receiver *r, struct wire_msg *m)
{
	if (state_rx__apply(r->vm, m->data, m->h.length, r->err, sizeof(r->err)))
		return -1;
	r->st->transferred += m->h.length;
	return 0;
}

int mig_incoming__init(struct mig_incoming *in, const char *uri, char *err, size_t errlen)
{
	memset(in, 0, sizeof(*in));
	pthread_mutex_init(&in->lock, NULL);
	snprintf(in->uri, sizeof(in->uri), "%s", uri);
	in->st.status = MIG_SETUP;
	in->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	in->recover_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->cancel_fd < 0 || in->recover_fd < 0) {
		errbuf__set(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if (cancel__add_fd(in->cancel_fd)) {
		errbuf__set(err, errlen, "too many cancel sources registered (util/cancel.h)");
		close(in->cancel_fd);
		in->cancel_fd = -1;
		return -1;
	}
	return 0;
}

int mig_incoming__recover(struct mig_incoming *in, const char *uri, char *err, size_t errlen)
{
	uint64_t one = 1;
	int r = 0;
	pthread_mutex_lock(&in->lock);
	if (in->st.status != MIG_POSTCOPY_PAUSED || in->recover_fd < 0) {
		errbuf__set(err, errlen, "migrate-recover: no post-copy is paused here (status %s)",
			    mig__status_name(in->st.status));
		r = -1;
	} else {
		snprintf(in->recover_uri, sizeof(in->recover_uri), "%s", uri);
		if (write(in->recover_fd, &one, sizeof(one)) < 0)
			log__info("migrate-recover: eventfd write: %s", strerror(errno));
	}
	pthread_mutex_unlock(&in->lock);
	return r;
}

void mig_incoming__exit(struct mig_incoming *in)
{
	if (in->recover_fd >= 0)
		close(in->recover_fd);
	in->recover_fd = -1;
	if (in->cancel_fd < 0)
		return;
	cancel__remove_fd(in->cancel_fd);
	pthread_mutex_lock(&in->lock);   /* not while a cancel writes it */
	close(in->cancel_fd);
	in->cancel_fd = -1;
	pthread_mutex_unlock(&in->lock);
}

int mig_incoming__cancel(struct mig_incoming *in, const char *by)
{
	uint64_t one = 1;
	pthread_mutex_lock(&in->lock);
	/* after COMMIT only a paused post-copy can be given up (the VM is then
	 * lost here: its missing pages are on the source) */
	if ((in->committed && in->st.status != MIG_POSTCOPY_PAUSED) || in->cancel_fd < 0) {
		int r = in->committed ? -1 : -2;
		pthread_mutex_unlock(&in->lock);
		return r;
	}
	if (!in->cancelled_by)
		in->cancelled_by = by;
	/* a full counter is already readable: the write cannot fail otherwise */
	if (write(in->cancel_fd, &one, sizeof(one)) < 0)
		log__info("cancel: eventfd write: %s", strerror(errno));
	pthread_mutex_unlock(&in->lock);
	return 0;
}

void mig_incoming__read(struct mig_incoming *in, struct mig_stats *st, int *ncpus, uint64_t *mem)
{
	pthread_mutex_lock(&in->lock);
	*st = in->st;
	*ncpus = in->ncpus;
	*mem = in->mem;
	pthread_mutex_unlock(&in->lock);
}

/* Bytes arrived on the data connections since *seen was last looked at:
 * the source is alive though the control connection is quiet. */
static bool progressed(struct receiver *r, uint64_t *seen)
{
	pthread_mutex_lock(&r->st_lock);
	uint64_t now = r->st->transferred;
	pthread_mutex_unlock(&r->st_lock);
	bool p = now != *seen;
	*seen = now;
	return p;
}

/* Copy the receiver's figures where the control thread reads them. */
static void publish(struct receiver *r)
{
	struct mig_stats st;
	pthread_mutex_lock(&r->st_lock);
	if (r->st->status == MIG_ACTIVE || r->st->status == MIG_POSTCOPY)
		r->st->total_ns = now__ns() - r->st->start_ns;
	if (r->pc && r->st->status == MIG_POSTCOPY)
		postcopy_rx__figures(r->pc, r->st);
	st = *r->st;
	pthread_mutex_unlock(&r->st_lock);
	pthread_mutex_lock(&r->in->lock);
	r->in->st = st;
	pthread_mutex_unlock(&r->in->lock);
}

/* Who cancelled: the control command's name, or NULL. */
static const char *cancelled_by(struct mig_incoming *in)
{
	pthread_mutex_lock(&in->lock);
	const char *by = in->cancelled_by;
	pthread_mutex_unlock(&in->lock);
	return by;
}

/* Why a wait returned -ECANCELED: a control command or a signal. */
static void cancel_reason(struct receiver *r, char *buf, size_t len)
{
	const char *by = cancelled_by(r->in);
	int sig = cancel__pending();
	if (by)
		errbuf__set(buf, len, "cancelled by %s on the control socket", by);
	else
		errbuf__set(buf, len, "stopped by SIG%s", sig ? sigabbrev_np(sig) : "?");
}

/* Take the COMMIT unless a cancel came first: from here on the move is
 * decided and the control socket can no longer cancel it. */
/* COMMIT: well formed (struct wire_commit, no context transfer: that is
 * RECEIVE_FINISH's job in a migration) and not cancelled meanwhile. */
static int take_commit(struct receiver *r, const struct wire_msg *m)
{
	struct wire_commit c;
	int ret = 0;
	if (m->h.length != sizeof(c)) {
		errbuf__set(r->err, sizeof(r->err), "COMMIT is malformed (%llu bytes, expected %zu)",
			   (unsigned long long)m->h.length, sizeof(c));
		return -1;
	}
	memcpy(&c, m->data, sizeof(c));
	if (c.cc_transfer || c.token) {
		errbuf__set(r->err, sizeof(r->err), "COMMIT asks for a context transfer, which a migration does not do");
		return -1;
	}
	pthread_mutex_lock(&r->in->lock);
	if (r->in->cancelled_by) {
		errbuf__set(r->err, sizeof(r->err), "cancelled by %s on the control socket before the commit",
			   r->in->cancelled_by);
		ret = -1;
	} else {
		r->in->committed = true;
	}
	pthread_mutex_unlock(&r->in->lock);
	return ret;
}

/* HELPER: our helper starts on the region that just crossed. (Fault
 * HELPER_OTHER_KEY: its key slot is altered first, as if the stream came
 * from another owner's helper.) */
static int on_helper(struct receiver *r, struct wire_msg *m, void **reply, size_t *rlen)
{
	struct wire_helper_ready *ready;
	if (!r->cc) {
		errbuf__set(r->err, sizeof(r->err), "HELPER for a VM that is not confidential");
		return -1;
	}
	if (fault__arg("HELPER_OTHER_KEY"))
		((uint8_t *)r->vm->ram.hva)[HELPER_BASE + HELPER_KEY_OFF + 8] ^= 0x01;
	if (!(ready = calloc(1, sizeof(*ready)))) {
		errbuf__set(r->err, sizeof(r->err), "out of memory");
		return -1;
	}
	if (helper_rx__start(&r->hx, m, ready, r->err, sizeof(r->err))) {
		free(ready);
		return -1;
	}
	*reply = ready;
	*rlen = sizeof(*ready);
	return 0;
}

/* A resuming source on lfd: HELLO, then POSTCOPY_RESUME naming this
 * migration (other connections are refused and the wait goes on); our
 * answer is what we still lack; then DATA_OPEN and the data and request
 * connections, as at the switch. 0, or -1 with r->err. */
static int resume_accept(struct receiver *r, int lfd)
{
	uint8_t nonce[WIRE_NONCE_LEN];
	struct wire_postcopy_resume rq;
	struct wire_msg m;
	for (;;) {
		int sock = wire__accept_kind(lfd, WIRE_MIGRATE, r->in->tls, -1, nonce, r->err, sizeof(r->err));
		if (sock < 0)
			return -1;
		int rc = wire__recv(sock, &m, 10000);
		const char *bad = rc ? "no POSTCOPY_RESUME" : m.h.cmd != W_POSTCOPY_RESUME || m.h.length != sizeof(rq) ?
			"expected POSTCOPY_RESUME" : NULL;
		if (!bad) {
			memcpy(&rq, m.data, sizeof(rq));
			if (memcmp(rq.nonce, r->pc_nonce, WIRE_NONCE_LEN))
				bad = "POSTCOPY_RESUME names another migration";
			else if (rq.npages != r->vm->ram.size / 4096)
				bad = "POSTCOPY_RESUME describes another RAM size";
		}
		if (!rc)
			wire__msg_free(&m);
		if (bad) {
			(void)wire__reply_err(sock, "%s", bad);
			log__info("post-copy: refused a connection while paused: %s", bad);
			close(sock);
			continue;
		}
		/* what we lack, in POSTCOPY's form */
		uint64_t nw = (r->vm->ram.size / 4096 + 63) / 64;
		uint8_t *buf = malloc(sizeof(struct wire_postcopy) + nw * 8);
		if (!buf) {
			close(sock);
			errbuf__set(r->err, sizeof(r->err), "out of memory");
			return -1;
		}
		struct wire_postcopy h = { .npages = rq.npages };
		h.missing = postcopy_rx__missing_now(r->pc, (uint64_t *)(buf + sizeof(h)));
		memcpy(buf, &h, sizeof(h));
		rc = wire__reply_ok(sock, buf, sizeof(h) + nw * 8);
		free(buf);
		if (rc) {
			close(sock);
			continue;
		}
		r->sock = sock;
		r->lfd = lfd;
		memcpy(r->nonce, nonce, WIRE_NONCE_LEN);
		if ((rc = wire__recv(sock, &m, 30000)) || m.h.cmd != W_DATA_OPEN) {
			errbuf__set(r->err, sizeof(r->err), "the resuming source sent no DATA_OPEN");
			if (!rc)
				wire__msg_free(&m);
			return -1;
		}
		rc = on_data_open(r, &m);
		wire__msg_free(&m);
		if (rc)
			return -1;
		r->fence_base = r->st->iteration;
		struct ram_batch_sink ps = sink_of(r);
		postcopy_rx__sink(r->pc, &ps);
		page_rx__set_sink(&r->rx, &ps);
		return postcopy_rx__reconnect(r->pc, lfd, r->in->tls, r->nonce, r->err, sizeof(r->err));
	}
}

/* Every connection to the source closed (the receive keeps its pages
 * and requests): a resume opens new ones. */
static void drop_source(struct receiver *r)
{
	page_rx__close(&r->rx);
	memset(&r->rx, 0, sizeof(r->rx));
	if (r->sock >= 0)
		close(r->sock);
	r->sock = -1;
	postcopy_rx__disconnect(r->pc);
}

/* A connection broke after the switch: pause the guest with the pages it
 * has, drop the connections, wait for migrate-recover URI and a source
 * resuming there (tern migrate --resume). 0: resumed, the guest runs
 * again; -1: given up (a signal, or no recovery possible). */
static int recover(struct receiver *r)
{
	struct mig_incoming *in = r->in;
	char why[512];
	snprintf(why, sizeof(why), "%s", r->err);
	if (r->cc && !r->hx.active) {
		errbuf__set(r->err, sizeof(r->err), "%s (a post-copy by the platform's path cannot resume: its "
			    "packets must be opened in order)", why);
		return -1;
	}
	if (vm__pause(r->vm)) {
		errbuf__set(r->err, sizeof(r->err), "%s (the VM stopped)", why);
		return -1;
	}
	drop_source(r);
	pthread_mutex_lock(&r->st_lock);
	r->st->status = MIG_POSTCOPY_PAUSED;
	snprintf(r->st->error, sizeof(r->st->error), "%s", why);
	pthread_mutex_unlock(&r->st_lock);
	publish(r);
	log__err("post-copy paused: %s. The guest is paused here with every page it has (%llu still on the "
		 "source); `tern ctl SOCK migrate-recover tcp:ADDR:PORT` waits for the source there, then "
		 "`tern migrate --ctl SRC --resume --to tcp:ADDR:PORT` finishes the move", why,
		 (unsigned long long)r->st->postcopy_remaining);
	for (;;) {
		uint64_t v;
		char uri[256];
		int w = cancel__poll(in->recover_fd, POLLIN, -1);
		if (w) {
			char sig[200];
			cancel_reason(r, sig, sizeof(sig));
			errbuf__set(r->err, sizeof(r->err), "%s; then, paused, %s", why,
				    w == -ECANCELED ? sig : strerror(-w));
			return -1;
		}
		if (read(in->recover_fd, &v, sizeof(v)) < 0)
			continue;
		pthread_mutex_lock(&in->lock);
		snprintf(uri, sizeof(uri), "%s", in->recover_uri);
		pthread_mutex_unlock(&in->lock);
		int lfd = transport__listen(uri, r->err, sizeof(r->err));
		if (lfd < 0) {
			log__err("migrate-recover %s: %s (still paused: ask again)", uri, r->err);
			continue;
		}
		log__info("post-copy: waiting on %s for the source to resume (tern migrate --resume)", uri);
		if (resume_accept(r, lfd) == 0) {
			if (r->recover_lfd >= 0)
				close(r->recover_lfd);
			r->recover_lfd = lfd;
			break;
		}
		if (cancel__pending()) {
			close(lfd);
			return -1;
		}
		log__err("post-copy: the resume on %s failed: %s (still paused: migrate-recover again)", uri,
			 r->err);
		drop_source(r);
		close(lfd);
	}
	pthread_mutex_lock(&r->st_lock);
	r->st->status = MIG_POSTCOPY;
	r->st->error[0] = 0;
	pthread_mutex_unlock(&r->st_lock);
	r->err[0] = 0;
	r->cut = false;
	publish(r);
	vm__resume(r->vm);
	log__info("post-copy resumed: the guest runs again");
	return 0;
}

/* A failure after the switch to post-copy: the guest ran here and some
 * of its pages exist only on the source, which holds the VM paused (if
 * it still runs). The vCPUs waiting for those pages must never get a
 * zero page instead: say so and stop the VM, but tear nothing down: the
 * caller ends the process (MIG_RX_LOST) without closing the
 * userfaultfd under them, once the control socket's last reply (the
 * quit that gave up) is out. */
static int lost_after_switch(struct receiver *r)
{
	pthread_mutex_lock(&r->st_lock);
	r->st->status = MIG_FAILED;
	r->st->vm_lost = true;
	snprintf(r->st->error, sizeof(r->st->error), "%s", r->err);
	pthread_mutex_unlock(&r->st_lock);
	publish(r);
	log__err("incoming post-copy failed after the switch: %s. The VM is lost here: %llu of its pages "
		 "never arrived (the source holds it paused with every page, if it still runs)", r->err,
		 (unsigned long long)r->st->postcopy_remaining);
	vm__stop(r->vm, 1, "post-copy failed after the switch: the VM is lost here");
	return MIG_RX_LOST;
}

int migration__receive(int lfd, struct vm *vm, const struct vm_config *cfg, struct mig_incoming *in,
		      struct mirror *mirror, char *err, size_t errlen)
{
	struct mig_stats st = { .status = MIG_SETUP };
	uint64_t state_ns = 0;
	struct receiver r = { .vm = vm, .local = cfg, .st = &st, .in = in, .lfd = lfd, .sock = -1, .recover_lfd = -1,
			      .hx = { .mr = mirror, .vm = vm, .st = &st } };
	enum rx state = WAIT_HELLO;
	struct wire_msg m;
	uint64_t seen = 0, quiet_since = now__ns();
	int sock, rc;

	pthread_mutex_init(&r.st_lock, NULL);
	pthread_mutex_init(&r.priv_lock, NULL);
	st.provision = in->prep ? "setup" : in->no_provision ? "none" : "announced";
	st.provision_total = in->prep ? in->prep->size : 0;
	publish(&r);
	sock = wire__accept_kind(lfd, WIRE_MIGRATE, in->tls, -1, r.nonce, r.err, sizeof(r.err));
	if (sock < 0) {
		char why[200];
		cancel_reason(&r, why, sizeof(why));
		if (cancelled_by(in))     /* wire_accept.c names signals only */
			errbuf__set(r.err, sizeof(r.err), "%s while waiting for a source (WAIT_HELLO)", why);
		goto fail_nosock;
	}
	r.sock = sock;
	state = WAIT_CONFIG;
	snprintf(st.tls, sizeof(st.tls), "%s", tls__mode(in->tls));
	st.start_ns = now__ns();
	st.status = MIG_ACTIVE;
	publish(&r);
serve:
	while (state != RUNNING) {
		void *reply = NULL;
		size_t rlen = 0;
		struct wire_hdr h;
		/* While a round runs on the data connections the control
		 * connection is quiet: publish their figures as they go, and
		 * call the source silent only when no connection brings anything */
		rc = r.rx.c ? cancel__poll(sock, POLLIN, PUBLISH_MS) : 0;
		if (postcopy_rx__failed(r.pc)) {
			errbuf__set(r.err, sizeof(r.err), "%s", postcopy_rx__failed(r.pc));
			goto fail;
		}
		if (postcopy_rx__broken(r.pc)) {
			errbuf__set(r.err, sizeof(r.err), "%s", postcopy_rx__broken(r.pc));
			r.cut = true;
			goto fail;
		}
		if (rc == -ETIMEDOUT) {
			publish(&r);
			if (progressed(&r, &seen))
				quiet_since = now__ns();
			if (now__ns() - quiet_since < SILENCE_MS * 1000000ULL)
				continue;
		}
		if (!rc)
			rc = wire__recv_hdr(sock, &h, SILENCE_MS);
		if (!rc && h.cmd == W_RAM && state == RECEIVING) {
			if (on_ram(&r, &h)) {
				wire__reply_err(sock, "%s", r.err);
				goto fail;
			}
			publish(&r);
			continue;                 /* RAM batches get no reply */
		}
		if (!rc)
			rc = wire__recv_body(sock, &h, &m, 120000);
		if (rc && page_rx__failed(&r.rx)) {
			errbuf__set(r.err, sizeof(r.err), "%s", page_rx__failed(&r.rx));
			r.cut = page_rx__broken(&r.rx);
			wire__reply_err(sock, "%s", r.err);
			goto fail;
		}
		if (rc) {
			char why[200];
			cancel_reason(&r, why, sizeof(why));
			errbuf__set(r.err, sizeof(r.err), "in %s: %s", rx_name[state],
				   rc == -ECONNRESET ? "the source closed the connection (the stream ended early)" :
				   rc == -EPROTO ? "the stream is not tern's protocol (corrupted?)" :
				   rc == -ETIMEDOUT ? "the source went silent" :
				   rc == -ECANCELED ? why : strerror(-rc));
			r.cut = rc != -EPROTO && rc != -ECANCELED;
			goto fail;
		}
		if (m.h.cmd == W_ABORT) {
			errbuf__set(r.err, sizeof(r.err), "the source aborted: %s", (char *)m.data);
			wire__msg_free(&m);
			goto fail;
		}
		int ok = -1;
		switch (state) {
		case WAIT_HELLO:              /* wire__accept_source took it */
			break;
		case WAIT_CONFIG:
			if (m.h.cmd == W_CONFIG && (ok = on_config(&r, &m, &reply, &rlen)) == 0)
				state = r.cc ? WAIT_SESSION : RECEIVING;
			break;
		case WAIT_SESSION:
			if (m.h.cmd == W_SESSION &&
			    (ok = r.pp.ops->recv_start(&r.pp, m.data, m.h.length, r.err, sizeof(r.err))) == 0)
				state = RECEIVING;
			break;
		case RECEIVING:
			if (m.h.cmd == W_DATA_OPEN) {
				/* answered inside, before the connections join */
				if ((ok = on_data_open(&r, &m)) == 0) {
					wire__msg_free(&m);
					continue;
				}
			} else if (m.h.cmd == W_POSTCOPY) {
				/* answered inside, before the request connection joins */
				if ((ok = on_postcopy(&r, &m)) == 0) {
					wire__msg_free(&m);
					publish(&r);
					continue;
				}
			} else if (m.h.cmd == W_POSTCOPY_MORE) {
				ok = on_postcopy_more(&r, &m);
			} else if (m.h.cmd == W_HELPER) {
				ok = on_helper(&r, &m, &reply, &rlen);
			} else if (m.h.cmd == W_ITER_END) {
				ok = on_iter_end(&r);
			} else if (m.h.cmd == W_STATE) {
				/* the source paused before it sent STATE: from here
				 * to resume is the part of the downtime seen here */
				state_ns = now__ns();
				if ((ok = on_state(&r, &m)) == 0)
					state = WAIT_COMMIT;
			}
			break;
		case WAIT_COMMIT:
			/* take_commit fails with r.err set when a cancel came first */
			if (m.h.cmd == W_COMMIT && (ok = take_commit(&r, &m)) == 0) {
				/* post-copy: private pages may still come by the
				 * platform, which takes them only before RECEIVE_FINISH:
				 * it comes at POSTCOPY_END */
				if (r.cc && !r.pc && (ok = r.pp.ops->recv_finish(&r.pp)))
					errbuf__set(r.err, sizeof(r.err), "RECEIVE_FINISH: %s", strerror(-ok));
				else if ((!r.pc || (ok = postcopy_rx__arm(r.pc, r.err, sizeof(r.err))) == 0) &&
					 (ok = vm__start(vm, r.err, sizeof(r.err))) == 0) {
					state = r.pc ? POSTCOPY : RUNNING;
					struct wire_running run = { .resume_ns = now__ns() };
					run.downtime_ns = st.downtime_ns = run.resume_ns - state_ns;
					if (r.pc) {
						pthread_mutex_lock(&r.st_lock);
						st.status = MIG_POSTCOPY;
						st.postcopy_switch_ns = run.downtime_ns;
						pthread_mutex_unlock(&r.st_lock);
						log__info("post-copy: the guest runs here; %llu pages still to come",
							  (unsigned long long)st.postcopy_missing);
					}
					wire__msg_free(&m);
					(void)wire__reply_ok(sock, &run, sizeof(run));
					publish(&r);
					continue;
				}
			}
			break;
		case POSTCOPY:
			if (m.h.cmd == W_POSTCOPY_END && (ok = on_postcopy_end(&r)) == 0)
				state = RUNNING;
			break;
		case RUNNING:
			break;
		}
		if (ok && !r.err[0])
			errbuf__set(r.err, sizeof(r.err), "unexpected %s in %s", wire__cmd_name(m.h.cmd), rx_name[state]);
		wire__msg_free(&m);
		if (ok) {
			free(reply);
			wire__reply_err(sock, "%s", r.err);
			if (state == POSTCOPY)
				r.cut = page_rx__broken(&r.rx) || postcopy_rx__broken(r.pc);
			goto fail;
		}
		wire__reply_ok(sock, reply, rlen);
		free(reply);
		publish(&r);
	}
	st.status = MIG_COMPLETED;
	st.total_ns = now__ns() - st.start_ns;
	if (st.total_ns)                  /* the whole receive's average */
		st.mbps = (double)st.transferred * 8 * 1000 / (double)st.total_ns;
	st.psp_ns = r.pp.ns;
	publish(&r);
	if (r.pc)
		log__info("post-copy complete: %llu pages requested (latency median %.0f us, p99 %.0f us, "
			  "max %.0f us), the guest waited %.1f ms for pages in all, last page %.0f ms after "
			  "the switch", (unsigned long long)st.postcopy_requests, (double)st.req_lat_median_ns / 1e3,
			  (double)st.req_lat_p99_ns / 1e3, (double)st.req_lat_max_ns / 1e3,
			  (double)st.guest_blocked_ns / 1e6, (double)st.postcopy_ns / 1e6);
	postcopy_rx__free(r.pc);
	page_rx__close(&r.rx);
	stop_prep(&r);
	close(sock);
	if (r.recover_lfd >= 0)
		close(r.recover_lfd);
	free(r.stage);
	ram_suspects__free(&r.sus);
	return 0;
fail:
	if (state == POSTCOPY) {
		/* a broken connection pauses the guest until the source comes
		 * back; anything else, or no recovery, loses it here */
		if (r.cut && !postcopy_rx__failed(r.pc) && recover(&r) == 0) {
			sock = r.sock;
			quiet_since = now__ns();
			goto serve;
		}
		errbuf__set(err, errlen, "%s", r.err);
		return lost_after_switch(&r);  /* nothing torn down: see there */
	}
	postcopy_rx__free(r.pc);
	page_rx__close(&r.rx);
	close(sock);
fail_nosock:
	stop_prep(&r);                    /* before the VM's RAM is unmapped */
	free(r.stage);
	ram_suspects__free(&r.sus);
	st.status = cancelled_by(in) ? MIG_CANCELLED : MIG_FAILED;
	snprintf(st.error, sizeof(st.error), "%s", r.err);
	publish(&r);
	errbuf__set(err, errlen, "%s", r.err);
	if (r.hx.active)                  /* a mirror goes before its owner */
		mirror__destroy(mirror);
	if (r.built) {
		vm__stop(vm, 1, "incoming migration failed");
		vm__wait(vm);
		vm__destroy(vm);
	}
	return -1;
}
