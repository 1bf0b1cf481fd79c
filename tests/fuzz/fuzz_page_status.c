/* fuzz_page_status.c - libFuzzer target for page_status__load, the reader of
 * a REC_PAGE_STATUS payload (handoff, migration and snapshot restore), into
 * a freshly initialised record of NPAGES pages.
 *
 * Input: one mode byte, then the payload.
 *   bit 0: the record is confidential (all private at start), else plain.
 *   bit 1: the harness writes this record's npages and flags into the
 *          payload's header (if it has one), so the fuzzer gets past those
 *          checks into the ranges without having to guess them.
 *
 * After a load that succeeds the ranges must keep what page_status.h
 * promises (sorted, disjoint, non-adjacent, non-empty, inside RAM), and
 * saving must give back exactly the bytes loaded: the format has one way to
 * say each state. A refused load must say why and leave the record as it was.
 *
 * Seeds: TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_page_status writes the
 * committed seeds (tests/fuzz/corpus/page_status/) with page_status__save
 * and exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/page_status.h"
#include "fuzz_seeds.h"

#define NPAGES 256                        /* 1 MiB of guest RAM: small, room for many ranges */
#define SAVE_HDR 32                       /* npages, flags, migctl, nranges */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void check_ranges(struct page_status *ps)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < ps->nshared; i++) {
		const struct pfn_range *r = &ps->shared[i];
		if (r->start >= r->end || r->end > ps->npages || (i && r->start <= ps->shared[i - 1].end))
			abort();
		sum += r->end - r->start;
	}
	if (sum != page_status__shared_pages(ps) || sum > ps->npages || ps->migctl & ~MIGCTL_ENABLED)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct page_status ps;
	char err[256] = "";
	bool confidential;
	uint8_t *payload;
	size_t len;

	if (size < 1)
		return 0;
	confidential = data[0] & 1;
	len = size - 1;
	payload = malloc(len ? len : 1);
	if (!payload)
		return 0;
	memcpy(payload, data + 1, len);
	if ((data[0] & 2) && len >= SAVE_HDR) {
		put64(payload, NPAGES);
		put64(payload + 8, confidential);
	}
	if (page_status__init(&ps, NPAGES, confidential))
		abort();

	uint64_t gen = ps.generation, shared = page_status__shared_pages(&ps);
	if (page_status__load(&ps, payload, len, err, sizeof(err)) == 0) {
		void *back;
		size_t blen;
		check_ranges(&ps);
		if (page_status__save(&ps, &back, &blen))
			abort();
		if (blen != len || memcmp(back, payload, len))
			abort();
		free(back);
		/* the loaded ranges are what later changes work on */
		for (uint64_t pfn = 0; pfn < NPAGES; pfn += 37)
			(void)page_status__is_shared(&ps, pfn);
		if (page_status__set(&ps, 5, 70, !page_status__is_shared(&ps, 5)))
			abort();
		check_ranges(&ps);
	} else {
		if (!err[0] || ps.generation != gen || page_status__shared_pages(&ps) != shared)
			abort();
		check_ranges(&ps);
	}
	page_status__destroy(&ps);
	free(payload);
	return 0;
}

/* ---- seeds ----------------------------------------------------------- */

/* A seed saved by tern from a record with these shared ranges (pairs of
 * pfns, toggled in order) and migration bit; then cut to keep bytes
 * (SIZE_MAX: all) or with extra bytes after it. */
static void seed(const char *dir, const char *name, uint8_t mode, const uint64_t *set, int nset,
		 uint64_t migctl, size_t keep, size_t extra)
{
	struct page_status ps;
	uint8_t buf[4096];
	void *b;
	size_t len;

	if (page_status__init(&ps, NPAGES, mode & 1))
		exit(1);
	/* confidential: these ranges become shared; plain: private */
	for (int i = 0; i < nset; i++)
		if (page_status__set(&ps, set[2 * i], set[2 * i + 1], mode & 1))
			exit(1);
	if (page_status__set_migctl(&ps, migctl) || page_status__save(&ps, &b, &len) ||
	    len + extra > sizeof(buf))
		exit(1);
	memcpy(buf, b, len);
	memset(buf + len, 0, extra);
	len = keep < len ? keep : len + extra;
	fuzz_seed__save(dir, name, mode, buf, len);
	free(b);
	page_status__destroy(&ps);
}

/* A seed written byte by byte, for what tern's writer never makes. */
static void seed_raw(const char *dir, const char *name, uint8_t mode, uint64_t flags,
		     const uint64_t *ranges, uint64_t n)
{
	uint8_t buf[SAVE_HDR + 16 * 8];
	put64(buf, NPAGES);
	put64(buf + 8, flags);
	put64(buf + 16, 0);
	put64(buf + 24, n);
	for (uint64_t i = 0; i < 2 * n; i++)
		put64(buf + SAVE_HDR + 8 * i, ranges[i]);
	fuzz_seed__save(dir, name, mode, buf, SAVE_HDR + 16 * n);
}

static void write_seeds(const char *dir)
{
	static const uint64_t some[] = { 0, 1, 10, 20, 100, 256 };
	static const uint64_t adjacent[] = { 0, 10, 10, 20 }, overlap[] = { 0, 10, 5, 20 },
		reversed[] = { 20, 10 }, beyond[] = { 200, 300 }, unsorted[] = { 50, 60, 0, 10 };

	/* accepted: fresh plain and confidential, some shared ranges, migration on */
	seed(dir, "plain_fresh", 0, NULL, 0, 0, SIZE_MAX, 0);
	seed(dir, "cc_fresh", 1, NULL, 0, 0, SIZE_MAX, 0);
	seed(dir, "cc_ranges", 1, some, 3, MIGCTL_ENABLED, SIZE_MAX, 0);
	seed(dir, "plain_ranges", 0, some, 3, 0, SIZE_MAX, 0);
	seed(dir, "cc_ranges_fixed", 3, some, 3, MIGCTL_ENABLED, SIZE_MAX, 0);
	/* refused: truncated, trailing bytes */
	seed(dir, "truncated", 1, some, 3, 0, SAVE_HDR + 20, 0);
	seed(dir, "short_header", 1, NULL, 0, 0, 12, 0);
	seed(dir, "trailing", 1, some, 3, 0, SIZE_MAX, 16);
	/* refused: ranges tern never writes, unknown flags, the other kind of guest */
	seed_raw(dir, "adjacent", 1, 1, adjacent, 2);
	seed_raw(dir, "overlap", 1, 1, overlap, 2);
	seed_raw(dir, "reversed", 1, 1, reversed, 1);
	seed_raw(dir, "beyond", 1, 1, beyond, 1);
	seed_raw(dir, "unsorted", 1, 1, unsorted, 2);
	seed_raw(dir, "unknown_flag", 1, 3, NULL, 0);
	seed_raw(dir, "wrong_kind", 1, 0, NULL, 0);
}

FUZZ_SEEDS_MODE(write_seeds)
