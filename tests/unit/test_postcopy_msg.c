/* test_postcopy_msg.c - post-copy's two messages from outside
 * (postcopy_msg.c), one rule per test: POSTCOPY's bitmap must describe this
 * RAM, name no page past it and agree with its count; PAGE_REQ's GPAs are
 * 1..64, page aligned, inside RAM, and a GPA outside is a refusal (-2), not
 * a broken connection (-1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "migrate/postcopy.h"

#define NPAGES 100                        /* two bitmap words, the second partial */

struct msg {
	struct wire_postcopy h;
	uint64_t w[2];
};

static int parse(const struct msg *m, size_t len, uint64_t *count)
{
	uint64_t words[3] = { 0, 0, 0xdeadbeef };
	char err[256] = "";
	int r = postcopy__parse_missing((const uint8_t *)m, len, NPAGES, words, count, err, sizeof(err));
	assert_int_equal(words[2], 0xdeadbeef);   /* nothing past the bitmap */
	if (r)
		assert_true(err[0]);
	return r;
}

static void test_missing_ok(void **state)
{
	(void)state;
	struct msg m = { { NPAGES, 3 }, { 0x8000000000000001ull, 1ull << 35 } };
	uint64_t n = 0;
	assert_int_equal(parse(&m, sizeof(m), &n), 0);
	assert_int_equal(n, 3);
}

static void test_missing_other_ram(void **state)
{
	(void)state;
	struct msg m = { { NPAGES + 1, 0 }, { 0, 0 } };
	uint64_t n;
	assert_int_equal(parse(&m, sizeof(m), &n), -1);
}

static void test_missing_short(void **state)
{
	(void)state;
	struct msg m = { { NPAGES, 0 }, { 0, 0 } };
	uint64_t n;
	assert_int_equal(parse(&m, sizeof(m) - 8, &n), -1);
	assert_int_equal(parse(&m, 4, &n), -1);
}

static void test_missing_past_ram(void **state)
{
	(void)state;
	struct msg m = { { NPAGES, 1 }, { 0, 1ull << 36 } };   /* page 100 */
	uint64_t n;
	assert_int_equal(parse(&m, sizeof(m), &n), -1);
}

static void test_missing_count_disagrees(void **state)
{
	(void)state;
	struct msg m = { { NPAGES, 2 }, { 1, 0 } };
	uint64_t n;
	assert_int_equal(parse(&m, sizeof(m), &n), -1);
}

static int request(const uint64_t *gpa, size_t len, uint32_t *n)
{
	uint64_t out[WIRE_MAX_PAGE_REQ];
	char err[256] = "";
	int r = postcopy__parse_request((const uint8_t *)gpa, len, NPAGES * 4096ull, out, n, err, sizeof(err));
	if (r)
		assert_true(err[0]);
	else
		assert_memory_equal(out, gpa, len);
	return r;
}

static void test_request_ok(void **state)
{
	(void)state;
	uint64_t g[2] = { 0, (NPAGES - 1) * 4096ull };
	uint32_t n = 0;
	assert_int_equal(request(g, sizeof(g), &n), 0);
	assert_int_equal(n, 2);
}

static void test_request_outside_ram_refused(void **state)
{
	(void)state;
	uint64_t g[2] = { 0x1000, NPAGES * 4096ull };
	uint32_t n;
	assert_int_equal(request(g, sizeof(g), &n), -2);
}

static void test_request_unaligned_refused(void **state)
{
	(void)state;
	uint64_t g = 0x1234;
	uint32_t n;
	assert_int_equal(request(&g, sizeof(g), &n), -2);
}

static void test_request_malformed(void **state)
{
	(void)state;
	uint64_t g[WIRE_MAX_PAGE_REQ + 1] = { 0 };
	uint32_t n;
	assert_int_equal(request(g, 0, &n), -1);
	assert_int_equal(request(g, 12, &n), -1);
	assert_int_equal(request(g, sizeof(g), &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_ok),
		cmocka_unit_test(test_missing_other_ram),
		cmocka_unit_test(test_missing_short),
		cmocka_unit_test(test_missing_past_ram),
		cmocka_unit_test(test_missing_count_disagrees),
		cmocka_unit_test(test_request_ok),
		cmocka_unit_test(test_request_outside_ram_refused),
		cmocka_unit_test(test_request_unaligned_refused),
		cmocka_unit_test(test_request_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
