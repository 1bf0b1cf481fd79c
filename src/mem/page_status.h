/* page_status.h - which guest pages are shared (plaintext is fine) and which
 * are private, as the guest reported through KVM_HC_MAP_GPA_RANGE, plus the
 * guest's migration-control bit (MSR_KVM_MIGRATION_CONTROL).
 *
 * Kept as a sorted list of disjoint, non-adjacent shared ranges in page
 * frame numbers; everything else is private. A plain VM starts all shared, a
 * confidential VM all private. See sev-semantics.md section 5.
 */
#ifndef TERN_MEM_PAGE_STATUS_H
#define TERN_MEM_PAGE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#define PAGE_SIZE_4K 4096ULL

/* KVM_HC_MAP_GPA_RANGE attribute bits (include/uapi/linux/kvm_para.h) */
#define MAP_GPA_PAGE_SIZE_MASK 0xfULL
#define MAP_GPA_PAGE_SIZE_4K   0
#define MAP_GPA_PAGE_SIZE_2M   1
#define MAP_GPA_PAGE_SIZE_1G   2
#define MAP_GPA_ENCRYPTED      (1ULL << 4)
#define MAP_GPA_RESERVED_MASK  (~0x1fULL)

#define MIGCTL_ENABLED 1ULL           /* MSR_KVM_MIGRATION_CONTROL bit 0 */

struct pfn_range {
	uint64_t start;                   /* first pfn */
	uint64_t end;                     /* one past the last pfn */
};

struct page_status {
	pthread_mutex_t lock;             /* vCPU threads report, the migrator reads */
	uint64_t npages;                  /* guest RAM size in pages */
	bool     confidential;            /* default private (true) or shared */
	struct pfn_range *shared;         /* sorted, disjoint, non-adjacent */
	size_t   nshared, cap;
	uint64_t migctl;                  /* MSR_KVM_MIGRATION_CONTROL value */
	uint64_t generation;              /* bumped on every change (migration re-sends) */
};

int  page_status__init(struct page_status *ps, uint64_t npages, bool confidential);
void page_status__destroy(struct page_status *ps);
/* Back to the state a freshly started guest has: all shared (plain) or all
 * private (confidential), migration bit at its start value. Called when the
 * guest resets, so no stale "shared" mark survives a reboot. */
void page_status__reset(struct page_status *ps);

/* Validate and apply a KVM_HC_MAP_GPA_RANGE call. Returns 0 or -22
 * (-KVM_EINVAL) for: GPA not 4 KiB aligned, npages == 0, gpa/npages
 * overflow, range beyond guest RAM, page size field > 2, reserved bits set,
 * or gpa/npages not aligned to the page size named in attrs. May also
 * return -ENOMEM (-12): that is the VMM's own failure, not the guest's. */
int64_t page_status__map_gpa_range(struct page_status *ps, uint64_t gpa, uint64_t npages, uint64_t attrs);

/* Mark [start, end) pfns shared or private. Returns 0, -ENOMEM, or
 * -EINVAL if start > end or end > npages. */
int  page_status__set(struct page_status *ps, uint64_t start, uint64_t end, bool shared);
bool page_status__is_shared(struct page_status *ps, uint64_t pfn);
/* Number of shared pages. */
uint64_t page_status__shared_pages(struct page_status *ps);

/* MSR_KVM_MIGRATION_CONTROL as the guest wrote it. set returns -EINVAL
 * for reserved bits (the MSR handler should inject #GP). */
int  page_status__set_migctl(struct page_status *ps, uint64_t v);
uint64_t page_status__migctl(struct page_status *ps);
/* generation, read under the lock. */
uint64_t page_status__generation(struct page_status *ps);

/* Which ranges are shared: fn(ctx, start, end) for each, in order, under
 * the lock (fn must not call back into ps). Returns the generation the
 * ranges belong to, so a caller can tell whether they changed since. */
uint64_t page_status__shared_ranges(struct page_status *ps,
				    void (*fn)(void *ctx, uint64_t start, uint64_t end), void *ctx);

/* Serialise / restore (REC_PAGE_STATUS payload, little endian):
 * u64 npages, u64 flags (bit 0 confidential), u64 migctl, u64 nranges,
 * then nranges x {u64 start, u64 end}. Load also refuses a record for
 * another npages or confidential setting, unknown flag or migctl bits,
 * empty or adjacent ranges, and trailing bytes. */
int  page_status__save(struct page_status *ps, void **buf, size_t *len);   /* malloc'd */
/* Returns 0, or -1 with a message in err (wrong size, ranges unsorted,
 * overlapping, beyond npages, truncated). ps is untouched on error. */
int  page_status__load(struct page_status *ps, const void *buf, size_t len, char *err, size_t errlen);

#endif
