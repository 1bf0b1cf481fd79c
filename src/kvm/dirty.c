/* dirty.c - KVM dirty-page tracking: dirty log (GET + CLEAR) or dirty rings.
 *
 * Why no write is lost (the invariant in dirty.h):
 *
 * Log mode, manual protect. KVM keeps one bit per page; a write to a
 * write-protected page sets the bit and leaves the page writable. A sync
 * copies the bitmap (GET), then CLEARs exactly the bits it copied, which
 * re-protects those pages. A page written after its CLEAR faults again and
 * sets its bit again, for the next sync. A page written between GET and
 * CLEAR was in the copy (it was writable because its bit was set), and the
 * write precedes the return of the sync, so whoever copies the page after
 * the sync sees it. A page first written after GET has a bit GET did not
 * see, and CLEAR leaves it alone.
 *
 * Ring mode. A write to a protected page pushes {slot, gfn} into the
 * writing vCPU's ring with flags = DIRTY (store-release). We read entries
 * in order, each with an acquire load of its flags, record the gfn, and
 * only then set flags = RESET; KVM_RESET_DIRTY_RINGS re-protects the pages
 * of RESET entries and frees them. A write after the re-protect pushes a
 * new entry; a write between our read and the re-protect precedes the
 * return of the sync, as above. Entries must be harvested strictly in
 * order, so each vCPU's next index lives with the caller (dirty_vcpu.fetch:
 * it must survive a stop/start, as KVM's indices never go back).
 *
 * Pages the VMM writes itself (dirty__mark) go into `pending` with atomic
 * ORs, and everything counts as dirty at start: pending starts all set.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kvm/dirty.h"
#include "kvm/kvm.h"
#include "util/log.h"

#define RING_MAX_ENTRIES 65536u       /* KVM_DIRTY_RING_MAX_ENTRIES */

const char *dirty__mode_name(enum dirty_mode m)
{
	return m == DIRTY_RING ? "dirty ring" : "dirty log";
}

int dirty__ring_enable(int vmfd, uint32_t entries)
{
	uint64_t bytes = (uint64_t)entries * sizeof(struct kvm_dirty_gfn);
	long cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
	int max;

	/* ACQ_REL is the same ring with the ordering spelled out (what we do
	 * anyway); older kernels only have the plain cap */
	max = ioctl(vmfd, KVM_CHECK_EXTENSION, cap);
	if (max <= 0) {
		cap = KVM_CAP_DIRTY_LOG_RING;
		max = ioctl(vmfd, KVM_CHECK_EXTENSION, cap);
	}
	if (max <= 0)
		return -EOPNOTSUPP;
	if (entries == 0 || (entries & (entries - 1)) || bytes < (uint64_t)getpagesize())
		return -EINVAL;
	if (entries > RING_MAX_ENTRIES || bytes > (uint64_t)max)
		return -E2BIG;
	return kvm_vm__enable_cap(vmfd, (uint32_t)cap, bytes);
}

/* ---- log mode ---------------------------------------------------------- */

static int log_enable_manual(struct dirty_tracker *t)
{
	/* asked of the VM fd: x86 KVM answers it there as on /dev/kvm */
	int caps = ioctl(t->vmfd, KVM_CHECK_EXTENSION, (long)KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	uint64_t arg = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;

	if (caps < 0 || !(caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		return 0;
	/* INITIALLY_SET: enabling the log protects nothing up front (the
	 * bitmap starts full); pages get protected as syncs CLEAR them */
	if (caps & KVM_DIRTY_LOG_INITIALLY_SET)
		arg |= KVM_DIRTY_LOG_INITIALLY_SET;
	if (kvm_vm__enable_cap(t->vmfd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, arg) == 0)
		return 1;
	if ((arg & KVM_DIRTY_LOG_INITIALLY_SET) &&
	    kvm_vm__enable_cap(t->vmfd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			       KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) == 0)
		return 1;
	return 0;
}

/* KVM's bitmap into t->kbuf, and (manual protect) re-arm what it held. */
static int log_harvest(struct dirty_tracker *t)
{
	struct kvm_dirty_log get = { .slot = t->slot, .dirty_bitmap = t->kbuf };
	struct kvm_clear_dirty_log clr = {
		.slot = t->slot, .first_page = 0, .num_pages = (uint32_t)t->npages,
		.dirty_bitmap = t->kbuf,
	};
	size_t nw = BITMAP_WORDS(t->npages), lo, hi;

	if (ioctl(t->vmfd, KVM_GET_DIRTY_LOG, &get) < 0) {
		int e = errno;
		memset(t->kbuf, 0, nw * sizeof(uint64_t));
		return -e;
	}
	if (!t->manual)
		return 0;         /* GET already cleared and re-protected */
	/* CLEAR only the span that has bits: KVM's cost is per word it walks.
	 * first_page must be a multiple of 64; num_pages too unless it runs
	 * to the end of the slot. */
	for (lo = 0; lo < nw && !t->kbuf[lo]; lo++)
		;
	if (lo == nw)
		return 0;
	for (hi = nw; !t->kbuf[hi - 1]; hi--)
		;
	clr.first_page = (uint64_t)lo * 64;
	clr.num_pages = (uint32_t)(hi == nw ? t->npages - clr.first_page : (uint64_t)(hi - lo) * 64);
	clr.dirty_bitmap = t->kbuf + lo;
	if (ioctl(t->vmfd, KVM_CLEAR_DIRTY_LOG, &clr) < 0)
		return -errno;    /* the bits stay set in KVM: reported again next time */
	return 0;
}

/* ---- ring mode --------------------------------------------------------- */

/* Read every vCPU's ring up to its first unharvested entry into t->harvest,
 * then have KVM re-protect and recycle them. Under t->lock. */
static int ring_harvest(struct dirty_tracker *t)
{
	uint32_t mask = t->ring_entries - 1;
	uint64_t n = 0;

	for (int i = 0; i < t->nvcpus; i++) {
		struct kvm_dirty_gfn *ring = t->rings[i];
		uint32_t f = *t->fetch[i];
		for (uint32_t k = 0; k < t->ring_entries; k++, f++) {
			struct kvm_dirty_gfn *g = &ring[f & mask];
			if (__atomic_load_n(&g->flags, __ATOMIC_ACQUIRE) != KVM_DIRTY_GFN_F_DIRTY)
				break;
			/* slot: address space << 16 | slot id; only ours is tracked */
			if (g->slot == t->slot && g->offset < t->npages)
				bitmap__set(&t->harvest, g->offset);
			__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
			n++;
		}
		*t->fetch[i] = f;
	}
	t->st.ring_entries += n;
	if (!n)
		return 0;
	t->st.resets++;
	if (ioctl(t->vmfd, KVM_RESET_DIRTY_RINGS, 0) < 0)
		return -errno;
	return 0;
}

static void ring_unmap(struct dirty_tracker *t)
{
	size_t len = (size_t)t->ring_entries * sizeof(struct kvm_dirty_gfn);
	free(t->fetch);
	t->fetch = NULL;
	if (!t->rings)
		return;
	for (int i = 0; i < t->nvcpus; i++)
		if (t->rings[i])
			munmap(t->rings[i], len);
	free(t->rings);
	t->rings = NULL;
}

static int ring_map(struct dirty_tracker *t, const struct dirty_vcpu *vcpus,
		    char *err, size_t errlen)
{
	size_t len = (size_t)t->ring_entries * sizeof(struct kvm_dirty_gfn);

	t->rings = calloc((size_t)t->nvcpus, sizeof(*t->rings));
	t->fetch = calloc((size_t)t->nvcpus, sizeof(*t->fetch));
	if (!t->rings || !t->fetch) {
		errbuf__set(err, errlen, "out of memory");
		ring_unmap(t);
		return -1;
	}
	for (int i = 0; i < t->nvcpus; i++) {
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vcpus[i].fd,
			       (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
		if (m == MAP_FAILED) {
			errbuf__set(err, errlen, "cannot map vCPU %d's dirty ring: %s", i, strerror(errno));
			ring_unmap(t);
			return -1;
		}
		t->rings[i] = m;
		t->fetch[i] = vcpus[i].fetch;
	}
	return 0;
}

/* ---- the tracker ------------------------------------------------------- */

static void release(struct dirty_tracker *t)
{
	ring_unmap(t);
	free(t->kbuf);
	t->kbuf = NULL;
	bitmap__free(&t->pending);
	bitmap__free(&t->harvest);
	pthread_mutex_destroy(&t->lock);
}

int dirty__start(struct dirty_tracker *t, const struct dirty_target *tg, enum dirty_mode mode,
		char *err, size_t errlen)
{
	uint64_t npages = tg->size / 4096;
	bool busy;
	int r;

	memset(t, 0, sizeof(*t));
	t->vmfd = tg->vmfd;
	t->slot = tg->slot;
	t->gpa = tg->gpa;
	t->size = tg->size;
	t->hva = tg->hva;
	t->nvcpus = tg->nvcpus;
	t->vm_lock = tg->lock;
	t->running = tg->running;
	t->mode = mode;
	t->npages = npages;

	if (mode == DIRTY_RING && !tg->ring_entries) {
		if (tg->ring_err)
			errbuf__set(err, errlen, "no dirty ring: KVM refused a ring of %u entries when the VM "
				   "was created (%s); use the dirty log", tg->ring_asked,
				   strerror(-tg->ring_err));
		else
			errbuf__set(err, errlen, "no dirty ring: KVM allows one only before vCPUs exist, so "
				   "the VM must be created with a ring size; use the dirty log");
		return -1;
	}
	if (mode == DIRTY_LOG_CLEAR && tg->ring_entries) {
		errbuf__set(err, errlen, "this VM was created with dirty rings, so KVM keeps no dirty "
			   "bitmap for it: use the dirty ring");
		return -1;
	}
	if (mode != DIRTY_LOG_CLEAR && mode != DIRTY_RING) {
		errbuf__set(err, errlen, "unknown dirty tracking mode %d", (int)mode);
		return -1;
	}
	if (npages == 0 || npages > UINT32_MAX) {
		errbuf__set(err, errlen, "guest RAM of %llu pages cannot be tracked",
			   (unsigned long long)npages);
		return -1;
	}
	pthread_mutex_init(&t->lock, NULL);
	if (bitmap__init(&t->pending, npages) || bitmap__init(&t->harvest, npages) ||
	    (mode == DIRTY_LOG_CLEAR &&
	     !(t->kbuf = calloc(BITMAP_WORDS(npages), sizeof(uint64_t))))) {
		errbuf__set(err, errlen, "out of memory for the dirty bitmaps");
		release(t);
		return -1;
	}
	bitmap__set_all(&t->pending);      /* everything counts as dirty at start */
	if (mode == DIRTY_RING) {
		t->ring_entries = tg->ring_entries;
		if (ring_map(t, tg->vcpus, err, errlen)) {
			release(t);
			return -1;
		}
	} else {
		t->manual = log_enable_manual(t);
	}

	pthread_mutex_lock(t->vm_lock);
	busy = *t->running != NULL;
	if (!busy)
		*t->running = t;
	pthread_mutex_unlock(t->vm_lock);
	if (busy) {
		errbuf__set(err, errlen, "dirty tracking is already running on this VM");
		release(t);
		return -1;
	}
	__atomic_store_n(&t->on, true, __ATOMIC_RELEASE);
	/* flags-only change: allowed while vCPUs run */
	r = kvm_vm__set_memslot(t->vmfd, t->slot, t->gpa, t->size, t->hva, KVM_MEM_LOG_DIRTY_PAGES);
	if (r) {
		errbuf__set(err, errlen, "cannot turn on dirty logging for guest RAM "
			   "(KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES): %s", strerror(-r));
		pthread_mutex_lock(t->vm_lock);
		*t->running = NULL;
		pthread_mutex_unlock(t->vm_lock);
		__atomic_store_n(&t->on, false, __ATOMIC_RELEASE);
		release(t);
		return -1;
	}
	return 0;
}

int64_t dirty__sync(struct dirty_tracker *t, struct page_bitmap *bm)
{
	uint64_t added = 0;
	int r;

	if (!t->on || !bm->w || bm->nbits < t->npages)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	r = t->mode == DIRTY_RING ? ring_harvest(t) : log_harvest(t);
	/* merge whatever was harvested even on error: nothing is dropped */
	for (size_t i = 0; i < t->pending.nwords; i++) {
		/* a locked exchange only where dirty__mark left bits: the
		 * pending set is mostly empty, and 32K of xchg per GiB is not
		 * free */
		uint64_t w = __atomic_load_n(&t->pending.w[i], __ATOMIC_RELAXED);
		if (w)
			w = __atomic_exchange_n(&t->pending.w[i], 0, __ATOMIC_ACQ_REL);
		if (t->mode == DIRTY_RING) {
			w |= t->harvest.w[i];
			t->harvest.w[i] = 0;
		} else {
			w |= t->kbuf[i];
		}
		if (i == t->pending.nwords - 1 && t->npages % 64)
			w &= (1ULL << (t->npages % 64)) - 1;   /* KVM has none past npages; be sure */
		w &= ~bm->w[i];
		if (w) {
			bm->w[i] |= w;
			added += (uint64_t)__builtin_popcountll(w);
		}
	}
	t->st.syncs++;
	t->st.pages += added;
	pthread_mutex_unlock(&t->lock);
	return r < 0 ? r : (int64_t)added;
}

void dirty__stop(struct dirty_tracker *t)
{
	int r;

	if (!t->on)
		return;
	/* No new entries or bits after this returns (KVM waits for vCPUs
	 * still using the old memslot)... */
	r = kvm_vm__set_memslot(t->vmfd, t->slot, t->gpa, t->size, t->hva, 0);
	if (r)
		log__err("cannot turn off dirty logging for guest RAM: %s", strerror(-r));
	/* ...and no vCPU thread is inside dirty__ring_full after this. */
	pthread_mutex_lock(t->vm_lock);
	if (*t->running == t)
		*t->running = NULL;
	pthread_mutex_unlock(t->vm_lock);
	/* Drain the rings, so none stays full and the next start begins at an
	 * empty ring (its harvest index kept by the caller, dirty_vcpu.fetch). */
	if (t->mode == DIRTY_RING) {
		pthread_mutex_lock(&t->lock);
		r = ring_harvest(t);
		pthread_mutex_unlock(&t->lock);
		if (r)
			log__err("cannot reset the dirty rings: %s", strerror(-r));
	}
	__atomic_store_n(&t->on, false, __ATOMIC_RELEASE);
	release(t);
}

void dirty__mark(struct dirty_tracker *t, uint64_t gpa, uint64_t len)
{
	uint64_t first, end;

	if (!t || !__atomic_load_n(&t->on, __ATOMIC_ACQUIRE) || len == 0)
		return;
	/* to the memslot's own offsets; a part below it is not ours */
	if (gpa < t->gpa) {
		if (len <= t->gpa - gpa)
			return;
		len -= t->gpa - gpa;
		gpa = t->gpa;
	}
	gpa -= t->gpa;
	first = gpa / 4096;
	if (first >= t->npages)
		return;
	/* last page touched, clipped to RAM (and without overflowing) */
	end = len - 1 > UINT64_MAX - gpa ? t->npages : (gpa + len - 1) / 4096 + 1;
	if (end > t->npages)
		end = t->npages;
	while (first < end) {
		unsigned lo = (unsigned)(first % 64);
		uint64_t span = end - first < 64 - lo ? end - first : 64 - lo;
		uint64_t m = span == 64 ? ~0ULL : ((1ULL << span) - 1) << lo;
		/* release: the caller's write to the page is visible to
		 * whoever takes the bit (and then copies the page) */
		__atomic_fetch_or(&t->pending.w[first / 64], m, __ATOMIC_RELEASE);
		first += span;
	}
}

int dirty__ring_full(pthread_mutex_t *lock, struct dirty_tracker **running)
{
	struct dirty_tracker *t;
	int r = 0;

	pthread_mutex_lock(lock);
	t = *running;
	if (t && t->mode == DIRTY_RING) {
		pthread_mutex_lock(&t->lock);
		t->st.ring_full++;
		r = ring_harvest(t);
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(lock);
	/* No tracker: dirty__stop is between turning logging off and draining
	 * the rings; KVM re-checks the ring on entry, so just let it finish. */
	if (!t)
		sched_yield();
	return r;
}
