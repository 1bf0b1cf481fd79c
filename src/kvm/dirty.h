/* dirty.h - which guest pages changed: KVM dirty-page tracking for pre-copy
 * migration, over one memslot: the one the VM's RAM attachment names (its
 * slot and GPA; a mirror VM tracks its own slot of the same memory).
 *
 * The tracker is built from KVM objects only (struct dirty_target: the VM
 * fd, the memslot, the vCPU fds, the ring size, and the VM's lock); it
 * knows nothing of struct vm, which supplies them (vm__dirty_start).
 *
 * Two KVM mechanisms, chosen per VM:
 *
 *  DIRTY_LOG_CLEAR  the memslot gets KVM_MEM_LOG_DIRTY_PAGES; with
 *                   KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (+ INITIALLY_SET) a
 *                   sync is KVM_GET_DIRTY_LOG (a snapshot, nothing re-armed)
 *                   then KVM_CLEAR_DIRTY_LOG of exactly the bits it returned
 *                   (re-protects only those pages). Without the cap, plain
 *                   KVM_GET_DIRTY_LOG (get, clear and re-protect in one go).
 *                   Cost grows with RAM size (the whole bitmap every sync).
 *
 *  DIRTY_RING       each vCPU has a ring of dirtied GFNs, mapped from its fd
 *                   at KVM_DIRTY_LOG_PAGE_OFFSET. KVM only allows the ring
 *                   before any vCPU exists, so the VM must be created with
 *                   vm_config.dirty_ring = entries (vm__setup_caps calls
 *                   dirty__ring_enable); and once a VM has rings KVM keeps no
 *                   dirty bitmaps, so such a VM can only use DIRTY_RING.
 *                   A sync reads every ring up to its first unharvested
 *                   entry, marks the entries collected, and calls
 *                   KVM_RESET_DIRTY_RINGS (which re-protects those pages).
 *                   Cost grows with the number of dirty pages. A vCPU whose
 *                   ring fills exits with KVM_EXIT_DIRTY_RING_FULL; the vCPU
 *                   loop then calls dirty__ring_full(), which harvests all
 *                   rings into the tracker's pending set, handed out by the
 *                   next dirty__sync.
 *
 * Guarantee (both modes): every page the guest writes after dirty__sync
 * returns is reported by a later dirty__sync; a page written while a sync
 * runs is reported by that sync or a later one. So a migrator that syncs,
 * then copies the reported pages, then repeats, and finally pauses the VM
 * and syncs once more, has copied the latest content of every page. (With
 * hardware page-modification logging, a write may sit in a running vCPU's
 * buffer until its next exit: it is late, never lost; a paused VM has none
 * pending.)
 *
 * Threads: dirty__sync, dirty__start and dirty__stop from one controlling
 * thread (syncs are serialised internally anyway); dirty__mark from any
 * thread while the tracker runs; dirty__ring_full from vCPU threads.
 */
#ifndef TERN_KVM_DIRTY_H
#define TERN_KVM_DIRTY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/bitmap.h"

struct kvm_dirty_gfn;
struct dirty_tracker;

enum dirty_mode { DIRTY_LOG_CLEAR, DIRTY_RING };

#define DIRTY_RING_DEFAULT_ENTRIES 4096u  /* per vCPU: 64 KiB of ring, QEMU's default */

struct dirty_stats {
	uint64_t syncs;
	uint64_t pages;                   /* pages handed out by syncs (newly set in bm) */
	uint64_t ring_entries;            /* ring: entries harvested */
	uint64_t ring_full;               /* ring: harvests run from a ring-full exit */
	uint64_t resets;                  /* ring: KVM_RESET_DIRTY_RINGS calls */
};

/* One vCPU, as the tracker needs it. `fetch` is the vCPU's next ring entry
 * to harvest: it belongs to the caller because it must survive the tracker
 * (a stop and a new start; KVM's ring indices never go back). */
struct dirty_vcpu {
	int       fd;
	uint32_t *fetch;
};

/* What a tracker is built from (dirty__start copies what it keeps). */
struct dirty_target {
	int       vmfd;
	uint32_t  slot;                   /* the memslot tracked: bit i = its page i */
	uint64_t  gpa, size;              /* ... as registered: dirty__start and */
	void     *hva;                    /* dirty__stop re-register it with new flags */
	int       nvcpus;
	const struct dirty_vcpu *vcpus;   /* ring mode */
	uint32_t  ring_entries;           /* per-vCPU ring KVM accepted; 0: the VM has none */
	uint32_t  ring_asked;             /* ring size asked for at creation (0: none) and */
	int       ring_err;               /* KVM's refusal (-errno): for dirty__start's message */
	/* The VM's lock and its running-tracker pointer: dirty__start publishes
	 * the tracker there (one per VM), dirty__stop withdraws it, and vCPU
	 * threads find it there on ring-full exits (dirty__ring_full). The lock
	 * orders those against each other; it is taken before the tracker's. */
	pthread_mutex_t *lock;
	struct dirty_tracker **running;
};

/* Per VM; the caller owns the memory (embed it or allocate it). Fields are
 * private to dirty.c; read `st` only between syncs. */
struct dirty_tracker {
	int              vmfd;
	uint32_t         slot;
	uint64_t         gpa, size;
	void            *hva;
	int              nvcpus;
	pthread_mutex_t *vm_lock;         /* dirty_target.lock */
	struct dirty_tracker **running;   /* dirty_target.running */
	enum dirty_mode  mode;
	bool             on;
	bool             manual;          /* log: manual protect (GET + CLEAR) in use */
	uint64_t         npages;
	pthread_mutex_t  lock;            /* one harvester at a time */
	struct page_bitmap pending;       /* dirty__mark, the start state, ring-full harvests:
					   * not handed out yet (words updated atomically) */
	struct page_bitmap harvest;       /* ring: read from the rings, not handed out yet
					   * (under lock) */
	uint64_t        *kbuf;            /* log: KVM_GET_DIRTY_LOG buffer */
	struct kvm_dirty_gfn **rings;     /* ring: each vCPU's mapping */
	uint32_t       **fetch;           /* ring: each vCPU's next index (dirty_vcpu.fetch) */
	uint32_t         ring_entries;
	struct dirty_stats st;
};

/* Enable KVM_CAP_DIRTY_LOG_RING(_ACQ_REL) on a VM with no vCPUs yet.
 * entries: a power of 2; KVM wants at least a page of ring (256 entries)
 * and more than its reserve (64 + the hardware log size), at most 65536.
 * Returns 0 or -errno: -EOPNOTSUPP if KVM lacks the cap, -E2BIG if above
 * KVM's maximum, -EINVAL for a bad size or vCPUs already created. */
int  dirty__ring_enable(int vmfd, uint32_t entries);

/* Start tracking. Everything counts as dirty at start: the first sync
 * reports every page. DIRTY_LOG_CLEAR on a VM created with a ring, or
 * DIRTY_RING on one without (never asked for, or refused by KVM: the
 * message says which), fail with a message saying which mode to use.
 * Safe while vCPUs run. Returns 0 or -1 with err set. */
int  dirty__start(struct dirty_tracker *t, const struct dirty_target *tg, enum dirty_mode mode,
		 char *err, size_t errlen);

/* Harvest: OR every page dirtied since the last sync (since start: every
 * page) into bm (bit = page of the memslot; bm->nbits must cover the slot)
 * and re-arm tracking for them. Safe while vCPUs run. Returns how many bits this
 * call newly set in bm (a page already set in bm is not counted again),
 * or -errno (-EINVAL: not started or bm too small; a failed ioctl's errno;
 * the pages harvested so far are still in bm). */
int64_t dirty__sync(struct dirty_tracker *t, struct page_bitmap *bm);

/* Stop tracking: the memslot loses KVM_MEM_LOG_DIRTY_PAGES, rings are
 * drained and unmapped. Unreported pages are dropped. Safe while vCPUs
 * run; idempotent; a stopped tracker can be started again. */
void dirty__stop(struct dirty_tracker *t);

/* The VMM's own writes to guest RAM (devices, the platform, a restore)
 * bypass KVM's tracking: call this AFTER writing [gpa, gpa+len) so the
 * next sync reports those pages. No-op when t is NULL or not running;
 * clipped to the memslot. Lock-free; any thread. */
void dirty__mark(struct dirty_tracker *t, uint64_t gpa, uint64_t len);

/* The vCPU loop's handler for KVM_EXIT_DIRTY_RING_FULL: harvest every ring
 * into the tracker running in *running (and reset them), so the vCPU can
 * run on. lock and running: the VM's, as given to dirty__start. Returns 0,
 * or -errno if KVM_RESET_DIRTY_RINGS failed (the vCPU cannot run on).
 * Takes lock, then the tracker's lock. */
int  dirty__ring_full(pthread_mutex_t *lock, struct dirty_tracker **running);

const char *dirty__mode_name(enum dirty_mode m);

#endif
