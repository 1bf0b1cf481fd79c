/* uffd.h - userfaultfd over a range of a process's memory (guest RAM):
 * a thread that touches a page not yet there waits until the owner of the
 * userfaultfd puts the page in place (uffd__copy, uffd__zero). KVM's own
 * accesses to guest RAM (the guest's page faults) wait the same way.
 *
 * Two uses, two modes:
 * - the lazy snapshot restore (vm/snapshot_lazy.c): missing-page faults
 *   only; a shmem-backed range (the guest RAM memfd) reports a fault for
 *   every page that is not in the memfd yet, and the page is copied in
 *   (uffd__copy);
 * - post-copy migration (migrate/postcopy_rx.c): missing and minor faults.
 *   A minor fault is a page that is in the memfd but not mapped in this
 *   range: its bytes are written through another mapping of the memfd,
 *   and only once they are all there is the page mapped here
 *   (uffd__continue), so a vCPU never sees half a page.
 *
 * Threads: one thread reads faults (uffd__next_fault); any thread may
 * copy, zero and wake. */
#ifndef TERN_MEM_UFFD_H
#define TERN_MEM_UFFD_H

#include <stddef.h>
#include <stdint.h>

struct uffd {
	int      fd;
	uint8_t *base;                    /* the registered range */
	uint64_t len;
	uint64_t features;                /* what the kernel offered (UFFD_FEATURE_*) */
};

/* Open a userfaultfd (the syscall, else /dev/userfaultfd) and register
 * [base, base + len) for missing-page faults. base and len page aligned.
 * Returns 0 or -1 with err naming the cause (no permission: the sysctl
 * vm.unprivileged_userfaultfd or access to /dev/userfaultfd). */
enum uffd_mode { UFFD_MISSING, UFFD_MISSING_MINOR };
int  uffd__open(struct uffd *u, void *base, uint64_t len, enum uffd_mode mode, char *err, size_t errlen);
/* Wait for the next page fault in the range, until stopfd (may be -1) is
 * readable, or timeout_ms (-1: no limit). Returns 1 with *addr (the
 * faulting address, page aligned), 0 if stopfd woke it, -ETIMEDOUT, or
 * -errno. */
int  uffd__next_fault(struct uffd *u, int stopfd, int timeout_ms, uint64_t *addr);
/* Put [dst, dst + len) in place from src, atomically per page, waking the
 * threads that wait for it. Pages already there are left as they are (a
 * racing copy or zero won). Returns 0 or -errno. */
int  uffd__copy(struct uffd *u, void *dst, const void *src, uint64_t len);
/* The same with zero pages. */
int  uffd__zero(struct uffd *u, void *dst, uint64_t len);
/* UFFD_MISSING_MINOR: map [dst, dst + len) from what the memfd holds
 * there, waking its waiters; pages already mapped are skipped (their
 * waiters woken). -EFAULT: a page is not in the memfd. 0 or -errno. */
int  uffd__continue(struct uffd *u, void *dst, uint64_t len);
/* Wake the threads waiting for [dst, dst + len) (after it was put in place
 * by another thread's copy). Returns 0 or -errno. */
int  uffd__wake(struct uffd *u, void *dst, uint64_t len);
/* Stop handling faults for the range: from now on a missing page is
 * allocated (zero) by the kernel as usual. Waiting threads retry. */
int  uffd__unregister(struct uffd *u);
/* Unregister if still registered, close. Safe on a zeroed struct with fd -1. */
void uffd__close(struct uffd *u);

#endif
