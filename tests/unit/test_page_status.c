/* test_page_status.c - shared/private page record: defaults, range merge
 * and split, KVM_HC_MAP_GPA_RANGE validation, reset, save/load, and a
 * randomized comparison against a one-bool-per-page model. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mem/page_status.h"

#define MB2 (2ULL << 20)
#define GB1 (1ULL << 30)

/* ---- helpers ---------------------------------------------------------- */

/* The header promises sorted, disjoint, non-adjacent, non-empty ranges
 * inside RAM: check it after every operation. */
static void check_invariants(struct page_status *ps)
{
	for (size_t i = 0; i < ps->nshared; i++) {
		assert_true(ps->shared[i].start < ps->shared[i].end);
		assert_true(ps->shared[i].end <= ps->npages);
		if (i)
			assert_true(ps->shared[i - 1].end < ps->shared[i].start);
	}
	assert_true(ps->nshared <= ps->cap);
}

/* Expect exactly these ranges, given as start,end pairs. */
static void expect_ranges(struct page_status *ps, size_t n, ...)
{
	check_invariants(ps);
	va_list ap;
	va_start(ap, n);
	if (ps->nshared != n)
		fail_msg("expected %zu ranges, have %zu", n, ps->nshared);
	for (size_t i = 0; i < n; i++) {
		uint64_t s = va_arg(ap, uint64_t), e = va_arg(ap, uint64_t);
		if (ps->shared[i].start != s || ps->shared[i].end != e)
			fail_msg("range %zu: expected [%llu,%llu), have [%llu,%llu)", i,
				 (unsigned long long)s, (unsigned long long)e,
				 (unsigned long long)ps->shared[i].start, (unsigned long long)ps->shared[i].end);
	}
	va_end(ap);
}

#define R(s, e) (uint64_t)(s), (uint64_t)(e)

struct snapshot {
	size_t n;
	struct pfn_range r[64];
	uint64_t migctl, generation;
};

static void take(struct page_status *ps, struct snapshot *s)
{
	assert_true(ps->nshared <= 64);
	s->n = ps->nshared;
	memcpy(s->r, ps->shared, ps->nshared * sizeof(s->r[0]));
	s->migctl = ps->migctl;
	s->generation = ps->generation;
}

static void expect_same(struct page_status *ps, const struct snapshot *s)
{
	assert_int_equal(ps->nshared, s->n);
	assert_memory_equal(ps->shared, s->r, s->n * sizeof(s->r[0]));
	assert_int_equal(ps->migctl, s->migctl);
	assert_int_equal(ps->generation, s->generation);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- defaults, set, is_shared ----------------------------------------- */

static void test_defaults(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, 1000, false), 0);
	expect_ranges(&ps, 1, R(0, 1000));
	assert_int_equal(page_status__shared_pages(&ps), 1000);
	assert_true(page_status__is_shared(&ps, 0));
	assert_true(page_status__is_shared(&ps, 999));
	assert_false(page_status__is_shared(&ps, 1000));     /* beyond RAM */
	assert_int_equal(page_status__migctl(&ps), MIGCTL_ENABLED);
	page_status__destroy(&ps);

	assert_int_equal(page_status__init(&ps, 1000, true), 0);
	expect_ranges(&ps, 0);
	assert_int_equal(page_status__shared_pages(&ps), 0);
	assert_false(page_status__is_shared(&ps, 0));
	assert_int_equal(page_status__migctl(&ps), 0);
	assert_int_equal(page_status__generation(&ps), 0);
	page_status__destroy(&ps);

	assert_int_equal(page_status__init(&ps, 0, false), 0);  /* degenerate but legal */
	expect_ranges(&ps, 0);
	page_status__destroy(&ps);
}

static void test_set_merge_split(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, 100, true), 0);

	assert_int_equal(page_status__set(&ps, 10, 20, true), 0);
	assert_int_equal(page_status__set(&ps, 30, 40, true), 0);
	expect_ranges(&ps, 2, R(10, 20), R(30, 40));
	assert_int_equal(page_status__set(&ps, 20, 30, true), 0);   /* fills the gap: adjacent both sides */
	expect_ranges(&ps, 1, R(10, 40));
	assert_int_equal(page_status__set(&ps, 5, 12, true), 0);    /* overlaps the front */
	expect_ranges(&ps, 1, R(5, 40));
	assert_int_equal(page_status__set(&ps, 40, 41, true), 0);   /* adjacent at the end */
	expect_ranges(&ps, 1, R(5, 41));

	assert_int_equal(page_status__set(&ps, 50, 60, true), 0);
	assert_int_equal(page_status__set(&ps, 70, 80, true), 0);
	assert_int_equal(page_status__set(&ps, 90, 95, true), 0);
	assert_int_equal(page_status__set(&ps, 55, 92, true), 0);   /* swallows two, overlaps a third */
	expect_ranges(&ps, 2, R(5, 41), R(50, 95));
	assert_int_equal(page_status__set(&ps, 0, 3, true), 0);     /* new first range */
	expect_ranges(&ps, 3, R(0, 3), R(5, 41), R(50, 95));

	assert_int_equal(page_status__set(&ps, 60, 65, false), 0);  /* split */
	expect_ranges(&ps, 4, R(0, 3), R(5, 41), R(50, 60), R(65, 95));
	assert_int_equal(page_status__set(&ps, 5, 6, false), 0);    /* trim front */
	assert_int_equal(page_status__set(&ps, 40, 41, false), 0);  /* trim end */
	expect_ranges(&ps, 4, R(0, 3), R(6, 40), R(50, 60), R(65, 95));
	assert_int_equal(page_status__set(&ps, 2, 55, false), 0);   /* across several */
	expect_ranges(&ps, 3, R(0, 2), R(55, 60), R(65, 95));
	assert_int_equal(page_status__shared_pages(&ps), 2 + 5 + 30);

	/* Boundaries. */
	assert_true(page_status__is_shared(&ps, 55));
	assert_true(page_status__is_shared(&ps, 59));
	assert_false(page_status__is_shared(&ps, 60));
	assert_false(page_status__is_shared(&ps, 54));
	assert_false(page_status__is_shared(&ps, 64));
	assert_true(page_status__is_shared(&ps, 65));
	assert_true(page_status__is_shared(&ps, 0));
	assert_false(page_status__is_shared(&ps, 2));

	assert_int_equal(page_status__set(&ps, 0, 100, false), 0);
	expect_ranges(&ps, 0);
	assert_int_equal(page_status__set(&ps, 0, 100, true), 0);
	expect_ranges(&ps, 1, R(0, 100));
	page_status__destroy(&ps);
}

static void collect(void *ctx, uint64_t start, uint64_t end)
{
	struct pfn_range **p = ctx;
	**p = (struct pfn_range){ start, end };
	(*p)++;
}

/* The shared ranges, asked directly: the same list, in order, with the
 * generation they belong to. */
static void test_shared_ranges(void **state)
{
	(void)state;
	struct page_status ps;
	struct pfn_range got[4], *p = got;
	assert_int_equal(page_status__init(&ps, 100, true), 0);
	assert_int_equal(page_status__shared_ranges(&ps, collect, &p), page_status__generation(&ps));
	assert_ptr_equal(p, got);                                    /* confidential: none shared */
	assert_int_equal(page_status__set(&ps, 30, 40, true), 0);
	assert_int_equal(page_status__set(&ps, 10, 20, true), 0);
	uint64_t gen = page_status__shared_ranges(&ps, collect, &p);
	assert_int_equal(gen, page_status__generation(&ps));
	assert_int_equal(p - got, 2);
	assert_int_equal(got[0].start, 10);
	assert_int_equal(got[0].end, 20);
	assert_int_equal(got[1].start, 30);
	assert_int_equal(got[1].end, 40);
	assert_int_equal(page_status__set(&ps, 15, 35, false), 0);
	p = got;
	assert_true(page_status__shared_ranges(&ps, collect, &p) > gen);
	assert_int_equal(p - got, 2);
	assert_int_equal(got[0].end, 15);
	assert_int_equal(got[1].start, 35);
	page_status__destroy(&ps);

	assert_int_equal(page_status__init(&ps, 64, false), 0);       /* plain: one range, all */
	p = got;
	page_status__shared_ranges(&ps, collect, &p);
	assert_int_equal(p - got, 1);
	assert_int_equal(got[0].start, 0);
	assert_int_equal(got[0].end, 64);
	page_status__destroy(&ps);
}

static void test_set_generation_and_args(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, 100, true), 0);
	uint64_t g = ps.generation;
	assert_int_equal(page_status__set(&ps, 10, 20, false), 0);  /* already private */
	assert_int_equal(ps.generation, g);
	assert_int_equal(page_status__set(&ps, 10, 20, true), 0);
	assert_int_equal(ps.generation, ++g);
	assert_int_equal(page_status__set(&ps, 12, 18, true), 0);   /* already shared */
	assert_int_equal(page_status__set(&ps, 10, 20, true), 0);
	assert_int_equal(ps.generation, g);
	assert_int_equal(page_status__set(&ps, 30, 30, true), 0);   /* empty */
	assert_int_equal(ps.generation, g);

	assert_int_equal(page_status__set(&ps, 20, 10, true), -EINVAL);
	assert_int_equal(page_status__set(&ps, 90, 101, true), -EINVAL);
	assert_int_equal(page_status__set(&ps, 0, UINT64_MAX, false), -EINVAL);
	expect_ranges(&ps, 1, R(10, 20));
	assert_int_equal(ps.generation, g);

	assert_int_equal(page_status__set_migctl(&ps, 1), 0);
	assert_int_equal(ps.generation, ++g);
	assert_int_equal(page_status__set_migctl(&ps, 1), 0);
	assert_int_equal(ps.generation, g);
	assert_int_equal(page_status__set_migctl(&ps, 2), -EINVAL);
	assert_int_equal(page_status__migctl(&ps), 1);
	page_status__destroy(&ps);
}

/* ---- KVM_HC_MAP_GPA_RANGE --------------------------------------------- */

static void test_map_gpa_range(void **state)
{
	(void)state;
	struct page_status ps;
	const uint64_t npages = 4 * 512;           /* 8 MiB */
	assert_int_equal(page_status__init(&ps, npages, true), 0);
	const uint64_t shared4k = MAP_GPA_PAGE_SIZE_4K, shared2m = MAP_GPA_PAGE_SIZE_2M;

	assert_int_equal(page_status__map_gpa_range(&ps, 0x1000, 2, shared4k), 0);
	expect_ranges(&ps, 1, R(1, 3));
	assert_int_equal(page_status__map_gpa_range(&ps, 0x1000, 1, MAP_GPA_ENCRYPTED), 0);
	expect_ranges(&ps, 1, R(2, 3));

	uint64_t g = ps.generation;
	assert_int_equal(page_status__map_gpa_range(&ps, 0x1001, 1, shared4k), -22);   /* misaligned */
	assert_int_equal(page_status__map_gpa_range(&ps, 0x1800, 1, shared4k), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0x1000, 0, shared4k), -22);   /* zero pages */
	assert_int_equal(page_status__map_gpa_range(&ps, (npages - 1) * 4096, 2, shared4k), -22); /* beyond RAM */
	assert_int_equal(page_status__map_gpa_range(&ps, npages * 4096, 1, shared4k), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, UINT64_MAX & ~0xfffULL, 1, shared4k), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0x1000, UINT64_MAX, shared4k), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0, 1, 1ULL << 5), -22);          /* reserved */
	assert_int_equal(page_status__map_gpa_range(&ps, 0, 1, 1ULL << 63), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0, 1, MAP_GPA_RESERVED_MASK), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0, 1, 3), -22);                  /* page size */
	assert_int_equal(page_status__map_gpa_range(&ps, 0, 1, 0xf), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0x1000, 512, shared2m), -22);    /* 2M: gpa */
	assert_int_equal(page_status__map_gpa_range(&ps, MB2, 511, shared2m), -22);       /* 2M: npages */
	assert_int_equal(page_status__map_gpa_range(&ps, MB2, 513, shared2m), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0, 512, MAP_GPA_PAGE_SIZE_1G), -22);
	expect_ranges(&ps, 1, R(2, 3));
	assert_int_equal(ps.generation, g);        /* refused calls change nothing */

	assert_int_equal(page_status__map_gpa_range(&ps, MB2, 1024, shared2m), 0);
	expect_ranges(&ps, 2, R(2, 3), R(512, 1536));
	assert_int_equal(page_status__map_gpa_range(&ps, MB2, 512, shared2m | MAP_GPA_ENCRYPTED), 0);
	expect_ranges(&ps, 2, R(2, 3), R(1024, 1536));
	/* The last page of RAM, exactly. */
	assert_int_equal(page_status__map_gpa_range(&ps, (npages - 1) * 4096, 1, shared4k), 0);
	assert_true(page_status__is_shared(&ps, npages - 1));
	page_status__destroy(&ps);

	/* 1G pages need a guest of at least 1 GiB; the record is ranges, so
	 * a huge "guest" costs nothing here. */
	assert_int_equal(page_status__init(&ps, 4 * GB1 / 4096, false), 0);
	assert_int_equal(page_status__map_gpa_range(&ps, GB1, GB1 / 4096,
						   MAP_GPA_PAGE_SIZE_1G | MAP_GPA_ENCRYPTED), 0);
	expect_ranges(&ps, 2, R(0, GB1 / 4096), R(2 * GB1 / 4096, 4 * GB1 / 4096));
	assert_int_equal(page_status__map_gpa_range(&ps, MB2, GB1 / 4096, MAP_GPA_PAGE_SIZE_1G), -22);
	page_status__destroy(&ps);
}

/* With RAM reaching the top of the address space only the overflow check
 * stands between a wrapping gpa + npages and a bogus range. */
static void test_map_gpa_range_overflow(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, UINT64_MAX, true), 0);
	const uint64_t top = UINT64_MAX & ~0xfffULL;
	assert_int_equal(page_status__map_gpa_range(&ps, 0x1000, UINT64_MAX, 0), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0x2000, (1ULL << 52) - 1, 0), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, top, 2, 0), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, top - 0x1000, 3, 0), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0, (1ULL << 52) + 1, 0), -22);
	assert_int_equal(page_status__map_gpa_range(&ps, 0, UINT64_MAX / 4096 + 2, 0), -22);
	expect_ranges(&ps, 0);
	/* The very last page is addressable (its end is exactly 2^64). */
	assert_int_equal(page_status__map_gpa_range(&ps, top, 1, 0), 0);
	expect_ranges(&ps, 1, R(top / 4096, top / 4096 + 1));
	page_status__destroy(&ps);
}

static void test_map_gpa_range_plain(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, 64, false), 0);
	assert_int_equal(page_status__map_gpa_range(&ps, 8 * 4096, 4, MAP_GPA_ENCRYPTED), 0);
	expect_ranges(&ps, 2, R(0, 8), R(12, 64));
	assert_false(page_status__is_shared(&ps, 8));
	assert_false(page_status__is_shared(&ps, 11));
	assert_true(page_status__is_shared(&ps, 12));
	assert_int_equal(page_status__map_gpa_range(&ps, 8 * 4096, 4, 0), 0);
	expect_ranges(&ps, 1, R(0, 64));
	page_status__destroy(&ps);
}

/* ---- reset ------------------------------------------------------------ */

static void test_reset(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, 100, true), 0);
	assert_int_equal(page_status__set(&ps, 10, 20, true), 0);
	assert_int_equal(page_status__set(&ps, 30, 40, true), 0);
	assert_int_equal(page_status__set_migctl(&ps, MIGCTL_ENABLED), 0);
	uint64_t g = ps.generation;
	page_status__reset(&ps);                    /* the reboot race: no stale shared marks */
	expect_ranges(&ps, 0);
	assert_int_equal(ps.migctl, 0);
	assert_int_equal(ps.generation, g + 1);
	page_status__reset(&ps);                    /* already at start state */
	assert_int_equal(ps.generation, g + 1);
	page_status__destroy(&ps);

	assert_int_equal(page_status__init(&ps, 100, false), 0);
	assert_int_equal(page_status__set(&ps, 10, 20, false), 0);
	assert_int_equal(page_status__set(&ps, 50, 100, false), 0);
	assert_int_equal(page_status__set_migctl(&ps, 0), 0);
	page_status__reset(&ps);
	expect_ranges(&ps, 1, R(0, 100));
	assert_int_equal(ps.migctl, MIGCTL_ENABLED);
	page_status__destroy(&ps);
}

/* ---- save / load ------------------------------------------------------ */

static void test_save_load_round_trip(void **state)
{
	(void)state;
	struct page_status a, b;
	assert_int_equal(page_status__init(&a, 1000, true), 0);
	assert_int_equal(page_status__init(&b, 1000, true), 0);
	assert_int_equal(page_status__set(&a, 10, 20, true), 0);
	assert_int_equal(page_status__set(&a, 500, 999, true), 0);
	assert_int_equal(page_status__set_migctl(&a, 1), 0);

	void *buf;
	size_t len;
	assert_int_equal(page_status__save(&a, &buf, &len), 0);
	assert_int_equal(len, 32 + 2 * 16);
	char err[128] = "";
	uint64_t g = b.generation;
	assert_int_equal(page_status__load(&b, buf, len, err, sizeof(err)), 0);
	expect_ranges(&b, 2, R(10, 20), R(500, 999));
	assert_int_equal(b.migctl, 1);
	assert_int_equal(b.generation, g + 1);
	assert_int_equal(page_status__load(&b, buf, len, err, sizeof(err)), 0);
	assert_int_equal(b.generation, g + 1);      /* same content: no change */
	/* The loaded record is fully usable. */
	assert_int_equal(page_status__set(&b, 20, 500, true), 0);
	expect_ranges(&b, 1, R(10, 999));
	free(buf);

	/* An empty list round-trips too, and reset still works after it. */
	page_status__reset(&a);
	assert_int_equal(page_status__save(&a, &buf, &len), 0);
	assert_int_equal(len, 32);
	assert_int_equal(page_status__load(&b, buf, len, err, sizeof(err)), 0);
	expect_ranges(&b, 0);
	page_status__reset(&b);
	expect_ranges(&b, 0);
	free(buf);
	page_status__destroy(&a);
	page_status__destroy(&b);
}

/* Build a record by hand: header then ranges. */
static size_t make_record(uint8_t *p, uint64_t npages, uint64_t flags, uint64_t migctl,
			  uint64_t nranges, size_t n, const uint64_t *se)
{
	put64(p, npages);
	put64(p + 8, flags);
	put64(p + 16, migctl);
	put64(p + 24, nranges);
	for (size_t i = 0; i < 2 * n; i++)
		put64(p + 32 + 8 * i, se[i]);
	return 32 + 16 * n;
}

static void expect_refused(struct page_status *ps, const uint8_t *p, size_t len, const char *msg_part)
{
	struct snapshot before;
	take(ps, &before);
	char err[160] = "";
	assert_int_equal(page_status__load(ps, p, len, err, sizeof(err)), -1);
	if (!strstr(err, msg_part))
		fail_msg("expected \"%s\" in \"%s\"", msg_part, err);
	expect_same(ps, &before);
}

static void test_load_refuses_corruption(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, 100, true), 0);
	assert_int_equal(page_status__set(&ps, 40, 50, true), 0);   /* something to keep intact */
	uint8_t p[32 + 16 * 8];
	size_t len;

	const uint64_t good[] = { 1, 5, 10, 20, 30, 100 };
	len = make_record(p, 100, 1, 1, 3, 3, good);
	/* Every truncation of a good record is refused. */
	for (size_t cut = 0; cut < len; cut++)
		expect_refused(&ps, p, cut, "truncated");
	expect_refused(&ps, NULL, 0, "truncated");

	const uint64_t unsorted[] = { 10, 20, 1, 5 };
	len = make_record(p, 100, 1, 0, 2, 2, unsorted);
	expect_refused(&ps, p, len, "out of order");
	const uint64_t overlap[] = { 1, 10, 5, 20 };
	len = make_record(p, 100, 1, 0, 2, 2, overlap);
	expect_refused(&ps, p, len, "overlaps");
	const uint64_t adjacent[] = { 1, 10, 10, 20 };
	len = make_record(p, 100, 1, 0, 2, 2, adjacent);
	expect_refused(&ps, p, len, "should have been merged");
	const uint64_t beyond[] = { 1, 10, 90, 101 };
	len = make_record(p, 100, 1, 0, 2, 2, beyond);
	expect_refused(&ps, p, len, "beyond guest RAM");
	const uint64_t empty[] = { 5, 5 };
	len = make_record(p, 100, 1, 0, 1, 1, empty);
	expect_refused(&ps, p, len, "empty or reversed");
	const uint64_t reversed[] = { 9, 5 };
	len = make_record(p, 100, 1, 0, 1, 1, reversed);
	expect_refused(&ps, p, len, "empty or reversed");
	const uint64_t huge[] = { 0, UINT64_MAX };
	len = make_record(p, 100, 1, 0, 1, 1, huge);
	expect_refused(&ps, p, len, "beyond guest RAM");

	len = make_record(p, 100, 1, 0, 1, 2, good);               /* says 1 range, holds 2 */
	expect_refused(&ps, p, len, "trailing bytes");
	len = make_record(p, 100, 1, 0, UINT64_MAX, 1, good);      /* count that would overflow */
	expect_refused(&ps, p, len, "truncated");
	len = make_record(p, 100, 1, 0, 1ULL << 60, 1, good);
	expect_refused(&ps, p, len, "truncated");
	len = make_record(p, 200, 1, 0, 1, 1, good);
	expect_refused(&ps, p, len, "is for 200 pages, this guest has 100");
	len = make_record(p, 100, 0, 0, 1, 1, good);
	expect_refused(&ps, p, len, "plain guest");
	len = make_record(p, 100, 3, 0, 1, 1, good);
	expect_refused(&ps, p, len, "unknown flags");
	len = make_record(p, 100, 1, 2, 1, 1, good);
	expect_refused(&ps, p, len, "migration-control");

	/* And the good one loads, to show the fixtures above were close. */
	len = make_record(p, 100, 1, 1, 3, 3, good);
	char err[128];
	assert_int_equal(page_status__load(&ps, p, len, err, sizeof(err)), 0);
	expect_ranges(&ps, 3, R(1, 5), R(10, 20), R(30, 100));
	page_status__destroy(&ps);
}

/* ---- randomized model check ------------------------------------------- */

#define MODEL_PAGES 2048                       /* 8 MiB: room for 2M pages */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	/* xorshift64: deterministic so a failure reproduces. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

struct model {
	bool shared[MODEL_PAGES];
	uint64_t migctl;
	bool confidential;
};

static void model_set(struct model *m, uint64_t s, uint64_t e, bool shared)
{
	for (uint64_t i = s; i < e; i++)
		m->shared[i] = shared;
}

/* The hypercall's rules, written independently of page_status.c. */
static bool model_map_valid(uint64_t gpa, uint64_t n, uint64_t attrs)
{
	if (attrs >> 5)
		return false;
	uint64_t size = attrs & 0xf;
	if (size > 2 || gpa % 4096 || n == 0)
		return false;
	uint64_t first = gpa / 4096;
	if (first >= MODEL_PAGES || n > MODEL_PAGES - first)
		return false;
	uint64_t align = size == 0 ? 1 : size == 1 ? 512 : 262144;
	return first % align == 0 && n % align == 0;
}

static void model_compare(struct page_status *ps, const struct model *m)
{
	check_invariants(ps);
	static bool have[MODEL_PAGES];
	memset(have, 0, sizeof(have));
	uint64_t count = 0;
	for (size_t i = 0; i < ps->nshared; i++)
		for (uint64_t p = ps->shared[i].start; p < ps->shared[i].end; p++)
			have[p] = true;
	for (uint64_t p = 0; p < MODEL_PAGES; p++) {
		if (have[p] != m->shared[p])
			fail_msg("page %llu: record says %d, model %d", (unsigned long long)p, have[p], m->shared[p]);
		count += m->shared[p];
	}
	assert_int_equal(page_status__shared_pages(ps), count);
	assert_int_equal(ps->migctl, m->migctl);
	/* is_shared itself, at range edges and a few random pages. */
	for (size_t i = 0; i < ps->nshared; i++) {
		uint64_t s = ps->shared[i].start, e = ps->shared[i].end;
		assert_true(page_status__is_shared(ps, s));
		assert_true(page_status__is_shared(ps, e - 1));
		if (s)
			assert_false(page_status__is_shared(ps, s - 1));
		if (e < MODEL_PAGES)
			assert_false(page_status__is_shared(ps, e));
	}
	for (int k = 0; k < 16; k++) {
		uint64_t p = rnd_below(MODEL_PAGES);
		assert_int_equal(page_status__is_shared(ps, p), m->shared[p]);
	}
}

static void test_randomized_against_model(void **state)
{
	(void)state;
	for (int round = 0; round < 2; round++) {
		struct page_status ps;
		static struct model m;
		m.confidential = round == 0;
		assert_int_equal(page_status__init(&ps, MODEL_PAGES, m.confidential), 0);
		model_set(&m, 0, MODEL_PAGES, !m.confidential);
		m.migctl = m.confidential ? 0 : 1;

		for (int op = 0; op < 4000; op++) {
			static struct model before;
			before = m;
			uint64_t gen = ps.generation;
			unsigned kind = (unsigned)rnd_below(100);
			if (kind < 40) {                        /* set, mostly short ranges */
				uint64_t s = rnd_below(MODEL_PAGES);
				uint64_t e = s + rnd_below(rnd_below(4) ? 64 : MODEL_PAGES - s + 1);
				if (e > MODEL_PAGES)
					e = MODEL_PAGES;
				bool sh = rnd() & 1;
				assert_int_equal(page_status__set(&ps, s, e, sh), 0);
				model_set(&m, s, e, sh);
			} else if (kind < 85) {                 /* the hypercall, valid or not */
				uint64_t attrs = rnd_below(8) ? (rnd() & 0x11) : (rnd() & 0x3f);
				if (rnd_below(10) == 0)
					attrs = (attrs & ~0xfULL) | MAP_GPA_PAGE_SIZE_2M;
				if (rnd_below(50) == 0)
					attrs |= 1ULL << (5 + rnd_below(59));
				uint64_t gpa = rnd_below(MODEL_PAGES + 8) * 4096;
				if ((attrs & 0xf) == MAP_GPA_PAGE_SIZE_2M && rnd_below(2))
					gpa &= ~(MB2 - 1);
				if (rnd_below(20) == 0)
					gpa |= rnd_below(4096);
				uint64_t n = rnd_below(40);
				if ((attrs & 0xf) == MAP_GPA_PAGE_SIZE_2M && rnd_below(2))
					n = 512 * (1 + rnd_below(2));
				if (rnd_below(50) == 0)
					n = UINT64_MAX - rnd_below(3);
				bool valid = model_map_valid(gpa, n, attrs);
				int64_t rc = page_status__map_gpa_range(&ps, gpa, n, attrs);
				assert_int_equal(rc, valid ? 0 : -22);
				if (valid)
					model_set(&m, gpa / 4096, gpa / 4096 + n, !(attrs & MAP_GPA_ENCRYPTED));
			} else if (kind < 92) {                 /* the migration-control MSR */
				uint64_t v = rnd_below(2);
				assert_int_equal(page_status__set_migctl(&ps, v), 0);
				m.migctl = v;
			} else if (kind < 95) {                 /* guest reboot */
				page_status__reset(&ps);
				model_set(&m, 0, MODEL_PAGES, !m.confidential);
				m.migctl = m.confidential ? 0 : 1;
			} else {                                /* save and load back */
				void *buf;
				size_t len;
				char err[128];
				assert_int_equal(page_status__save(&ps, &buf, &len), 0);
				assert_int_equal(page_status__load(&ps, buf, len, err, sizeof(err)), 0);
				free(buf);
			}
			model_compare(&ps, &m);
			bool changed = memcmp(&before, &m, sizeof(m)) != 0;
			if (changed)
				assert_int_equal(ps.generation, gen + 1);
			else
				assert_int_equal(ps.generation, gen);
		}
		page_status__destroy(&ps);
	}
}

/* ---- threads ---------------------------------------------------------- */

struct thread_job { struct page_status *ps; uint64_t base; };

static void *flipper(void *arg)
{
	struct thread_job *j = arg;
	for (int i = 0; i < 20000; i++) {
		uint64_t s = j->base + (uint64_t)(i % 50);
		if (page_status__set(j->ps, s, s + 3, i & 1) != 0)
			return (void *)1;
		(void)page_status__is_shared(j->ps, s);
	}
	return NULL;
}

/* vCPU threads report while the migrator reads: results stay consistent. */
static void test_threads(void **state)
{
	(void)state;
	struct page_status ps;
	assert_int_equal(page_status__init(&ps, 1000, true), 0);
	pthread_t t[3];
	struct thread_job j[3];
	for (int i = 0; i < 3; i++) {
		j[i] = (struct thread_job){ &ps, (uint64_t)i * 200 };
		assert_int_equal(pthread_create(&t[i], NULL, flipper, &j[i]), 0);
	}
	for (int i = 0; i < 200; i++) {
		void *buf;
		size_t len;
		assert_int_equal(page_status__save(&ps, &buf, &len), 0);
		free(buf);
		(void)page_status__shared_pages(&ps);
	}
	for (int i = 0; i < 3; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	check_invariants(&ps);
	page_status__destroy(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_set_merge_split),
		cmocka_unit_test(test_set_generation_and_args),
		cmocka_unit_test(test_shared_ranges),
		cmocka_unit_test(test_map_gpa_range),
		cmocka_unit_test(test_map_gpa_range_overflow),
		cmocka_unit_test(test_map_gpa_range_plain),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_save_load_round_trip),
		cmocka_unit_test(test_load_refuses_corruption),
		cmocka_unit_test(test_randomized_against_model),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
