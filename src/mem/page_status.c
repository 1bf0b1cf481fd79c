/* page_status.c - the guest's shared/private page record and its
 * migration-control bit (see page_status.h and sev-semantics.md section 5).
 *
 * Shared ranges are kept sorted, disjoint and non-adjacent, so the list has
 * one canonical form for a given page set: comparisons, "did anything
 * change" and the saved record all follow from that. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/page_status.h"

#define KVM_EINVAL 22                  /* include/uapi/linux/kvm_para.h */
#define PFN_LIMIT  (1ULL << 52)        /* pfns of a 64-bit address space */
#define SAVE_HDR   32u                 /* npages, flags, migctl, nranges */
#define SAVE_F_CONFIDENTIAL 1ULL

/* A confidential guest has not yet vouched for its page-status reports at
 * start; a plain guest has nothing to hide. */
static uint64_t migctl_start(const struct page_status *ps)
{
	return ps->confidential ? 0 : MIGCTL_ENABLED;
}

static int reserve(struct page_status *ps, size_t n)
{
	if (n <= ps->cap)
		return 0;
	size_t cap = ps->cap ? ps->cap : 8;
	while (cap < n)
		cap *= 2;
	struct pfn_range *p = realloc(ps->shared, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ps->shared = p;
	ps->cap = cap;
	return 0;
}

/* The start-of-day page list. Needs at most one slot, which init reserves,
 * so a guest reset can never fail. */
static void set_default(struct page_status *ps)
{
	ps->nshared = 0;
	if (!ps->confidential && ps->npages)
		ps->shared[ps->nshared++] = (struct pfn_range){ 0, ps->npages };
}

int page_status__init(struct page_status *ps, uint64_t npages, bool confidential)
{
	memset(ps, 0, sizeof(*ps));
	ps->npages = npages;
	ps->confidential = confidential;
	if (reserve(ps, 1))
		return -ENOMEM;
	int rc = pthread_mutex_init(&ps->lock, NULL);
	if (rc) {
		free(ps->shared);
		ps->shared = NULL;
		return -rc;
	}
	set_default(ps);
	ps->migctl = migctl_start(ps);
	return 0;
}

void page_status__destroy(struct page_status *ps)
{
	pthread_mutex_destroy(&ps->lock);
	free(ps->shared);
	ps->shared = NULL;
	ps->nshared = ps->cap = 0;
}

void page_status__reset(struct page_status *ps)
{
	pthread_mutex_lock(&ps->lock);
	bool was_default = ps->migctl == migctl_start(ps) &&
		(ps->confidential || !ps->npages
		 ? ps->nshared == 0
		 : ps->nshared == 1 && ps->shared[0].start == 0 && ps->shared[0].end == ps->npages);
	set_default(ps);
	ps->migctl = migctl_start(ps);
	if (!was_default)
		ps->generation++;
	pthread_mutex_unlock(&ps->lock);
}

/* First range index whose end is >= pfn (adjacent counts when merging) or
 * > pfn (only overlap counts when cutting). */
static size_t first_reaching(const struct page_status *ps, uint64_t pfn, bool adjacent)
{
	size_t lo = 0, hi = ps->nshared;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t end = ps->shared[mid].end;
		if (adjacent ? end >= pfn : end > pfn)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Replace ranges [lo, hi) with the n ranges in repl. */
static int splice(struct page_status *ps, size_t lo, size_t hi, const struct pfn_range *repl, size_t n)
{
	size_t count = ps->nshared - (hi - lo) + n;
	if (reserve(ps, count))
		return -ENOMEM;
	memmove(&ps->shared[lo + n], &ps->shared[hi], (ps->nshared - hi) * sizeof(ps->shared[0]));
	memcpy(&ps->shared[lo], repl, n * sizeof(*repl));
	ps->nshared = count;
	return 0;
}

/* Caller holds the lock and has checked start < end <= npages. */
static int set_locked(struct page_status *ps, uint64_t start, uint64_t end, bool shared)
{
	/* Ranges in [lo, hi) touch [start, end): for shared, touching includes
	 * adjacency (they merge); for private, only overlap (they get cut). */
	size_t lo = first_reaching(ps, start, shared);
	size_t hi = lo;
	while (hi < ps->nshared && (shared ? ps->shared[hi].start <= end : ps->shared[hi].start < end))
		hi++;

	struct pfn_range repl[2];
	size_t n = 0;
	if (shared) {
		if (hi - lo == 1 && ps->shared[lo].start <= start && ps->shared[lo].end >= end)
			return 0;       /* already shared: not a change */
		repl[0].start = lo < hi && ps->shared[lo].start < start ? ps->shared[lo].start : start;
		repl[0].end = lo < hi && ps->shared[hi - 1].end > end ? ps->shared[hi - 1].end : end;
		n = 1;
	} else {
		if (lo == hi)
			return 0;       /* already private */
		if (ps->shared[lo].start < start)
			repl[n++] = (struct pfn_range){ ps->shared[lo].start, start };
		if (ps->shared[hi - 1].end > end)
			repl[n++] = (struct pfn_range){ end, ps->shared[hi - 1].end };
	}
	int rc = splice(ps, lo, hi, repl, n);
	if (rc == 0)
		ps->generation++;
	return rc;
}

int page_status__set(struct page_status *ps, uint64_t start, uint64_t end, bool shared)
{
	if (start > end || end > ps->npages)
		return -EINVAL;
	if (start == end)
		return 0;
	pthread_mutex_lock(&ps->lock);
	int rc = set_locked(ps, start, end, shared);
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

int64_t page_status__map_gpa_range(struct page_status *ps, uint64_t gpa, uint64_t npages, uint64_t attrs)
{
	uint64_t psize = attrs & MAP_GPA_PAGE_SIZE_MASK;
	if (attrs & MAP_GPA_RESERVED_MASK)
		return -KVM_EINVAL;
	if (psize > MAP_GPA_PAGE_SIZE_1G)
		return -KVM_EINVAL;
	if (gpa & (PAGE_SIZE_4K - 1))
		return -KVM_EINVAL;
	if (npages == 0)
		return -KVM_EINVAL;
	uint64_t start = gpa / PAGE_SIZE_4K;
	/* start < 2^52, so this cannot underflow; it also keeps the end
	 * address itself inside 64 bits. */
	if (npages > PFN_LIMIT - start)
		return -KVM_EINVAL;
	uint64_t end = start + npages;
	if (end > ps->npages)
		return -KVM_EINVAL;
	/* 4K, 2M or 1G expressed in 4 KiB pages: 1, 512, 262144. */
	uint64_t align = 1ULL << (9 * psize);
	if ((start | npages) & (align - 1))
		return -KVM_EINVAL;

	pthread_mutex_lock(&ps->lock);
	int rc = set_locked(ps, start, end, !(attrs & MAP_GPA_ENCRYPTED));
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

bool page_status__is_shared(struct page_status *ps, uint64_t pfn)
{
	pthread_mutex_lock(&ps->lock);
	size_t i = first_reaching(ps, pfn, false);
	bool shared = i < ps->nshared && ps->shared[i].start <= pfn;
	pthread_mutex_unlock(&ps->lock);
	return shared;
}

uint64_t page_status__shared_pages(struct page_status *ps)
{
	uint64_t n = 0;
	pthread_mutex_lock(&ps->lock);
	for (size_t i = 0; i < ps->nshared; i++)
		n += ps->shared[i].end - ps->shared[i].start;
	pthread_mutex_unlock(&ps->lock);
	return n;
}

int page_status__set_migctl(struct page_status *ps, uint64_t v)
{
	if (v & ~MIGCTL_ENABLED)
		return -EINVAL;
	pthread_mutex_lock(&ps->lock);
	if (ps->migctl != v) {
		ps->migctl = v;
		ps->generation++;
	}
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

uint64_t page_status__migctl(struct page_status *ps)
{
	pthread_mutex_lock(&ps->lock);
	uint64_t v = ps->migctl;
	pthread_mutex_unlock(&ps->lock);
	return v;
}

uint64_t page_status__generation(struct page_status *ps)
{
	pthread_mutex_lock(&ps->lock);
	uint64_t v = ps->generation;
	pthread_mutex_unlock(&ps->lock);
	return v;
}

uint64_t page_status__shared_ranges(struct page_status *ps,
				    void (*fn)(void *ctx, uint64_t start, uint64_t end), void *ctx)
{
	pthread_mutex_lock(&ps->lock);
	for (size_t i = 0; i < ps->nshared; i++)
		fn(ctx, ps->shared[i].start, ps->shared[i].end);
	uint64_t gen = ps->generation;
	pthread_mutex_unlock(&ps->lock);
	return gen;
}

/* ---- save / load ------------------------------------------------------ */

/* Explicit byte order, so the record means the same on any host. */
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int page_status__save(struct page_status *ps, void **buf, size_t *len)
{
	pthread_mutex_lock(&ps->lock);
	size_t n = SAVE_HDR + ps->nshared * 16;
	uint8_t *p = malloc(n);
	if (!p) {
		pthread_mutex_unlock(&ps->lock);
		return -ENOMEM;
	}
	put64(p, ps->npages);
	put64(p + 8, ps->confidential ? SAVE_F_CONFIDENTIAL : 0);
	put64(p + 16, ps->migctl);
	put64(p + 24, ps->nshared);
	for (size_t i = 0; i < ps->nshared; i++) {
		put64(p + SAVE_HDR + 16 * i, ps->shared[i].start);
		put64(p + SAVE_HDR + 16 * i + 8, ps->shared[i].end);
	}
	pthread_mutex_unlock(&ps->lock);
	*buf = p;
	*len = n;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int load_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int page_status__load(struct page_status *ps, const void *buf, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	/* npages and confidential never change after init, so all of the
	 * checking can happen before the lock is taken. */
	if (len < SAVE_HDR)
		return load_fail(err, errlen, "page status truncated: %zu bytes, header needs %u", len, SAVE_HDR);
	uint64_t npages = get64(p), flags = get64(p + 8), migctl = get64(p + 16), n = get64(p + 24);
	if (npages != ps->npages)
		return load_fail(err, errlen, "page status is for %llu pages, this guest has %llu",
				 (unsigned long long)npages, (unsigned long long)ps->npages);
	if (flags & ~SAVE_F_CONFIDENTIAL)
		return load_fail(err, errlen, "page status has unknown flags 0x%llx", (unsigned long long)flags);
	if (!!(flags & SAVE_F_CONFIDENTIAL) != ps->confidential)
		return load_fail(err, errlen, "page status is for a %s guest, this one is %s",
				 flags ? "confidential" : "plain", ps->confidential ? "confidential" : "plain");
	if (migctl & ~MIGCTL_ENABLED)
		return load_fail(err, errlen, "page status has reserved migration-control bits set: 0x%llx",
				 (unsigned long long)migctl);
	if (n > (len - SAVE_HDR) / 16)
		return load_fail(err, errlen, "page status truncated: it says %llu ranges, %zu bytes hold %zu",
				 (unsigned long long)n, len, (len - SAVE_HDR) / 16);
	if (len != SAVE_HDR + n * 16)
		return load_fail(err, errlen, "page status has %zu trailing bytes after %llu ranges",
				 len - (size_t)(SAVE_HDR + n * 16), (unsigned long long)n);

	struct pfn_range *ranges = malloc((n ? n : 1) * sizeof(*ranges));
	if (!ranges)
		return load_fail(err, errlen, "out of memory loading page status");
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = get64(p + SAVE_HDR + 16 * i), e = get64(p + SAVE_HDR + 16 * i + 8);
		const char *why = NULL;
		if (s >= e)
			why = "is empty or reversed";
		else if (e > npages)
			why = "goes beyond guest RAM";
		else if (i && s < ranges[i - 1].start)
			why = "is out of order";
		else if (i && s < ranges[i - 1].end)
			why = "overlaps the one before";
		else if (i && s == ranges[i - 1].end)
			why = "touches the one before (should have been merged)";
		if (why) {
			free(ranges);
			return load_fail(err, errlen, "page status range %llu [%llu, %llu) %s",
					 (unsigned long long)i, (unsigned long long)s, (unsigned long long)e, why);
		}
		ranges[i] = (struct pfn_range){ s, e };
	}

	pthread_mutex_lock(&ps->lock);
	bool same = ps->migctl == migctl && ps->nshared == n &&
		(n == 0 || !memcmp(ps->shared, ranges, n * sizeof(*ranges)));
	free(ps->shared);
	ps->shared = ranges;
	ps->nshared = n;
	ps->cap = n ? n : 1;
	ps->migctl = migctl;
	if (!same)
		ps->generation++;
	pthread_mutex_unlock(&ps->lock);
	return 0;
}
