/* test_size.c - size__parse and size__str: suffixes, the "KiB"/"MB" forms,
 * plain numbers, garbage, 64-bit overflow, and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/size.h"

#define K (1ULL << 10)
#define M (1ULL << 20)
#define G (1ULL << 30)
#define T (1ULL << 40)

static void parses(const char *s, uint64_t want)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5aULL;
	if (size__parse(s, &v) != 0)
		fail_msg("'%s' refused", s);
	if (v != want)
		fail_msg("'%s' gave %llu, expected %llu", s, (unsigned long long)v,
			 (unsigned long long)want);
}

static void refused(const char *s)
{
	const uint64_t canary = 0x5a5a5a5a5a5a5a5aULL;
	uint64_t v = canary;
	if (size__parse(s, &v) != -1)
		fail_msg("'%s' accepted as %llu", s ? s : "(null)", (unsigned long long)v);
	assert_int_equal(v, canary);          /* *out untouched on error */
}

static void test_plain(void **state)
{
	(void)state;
	parses("0", 0);
	parses("1", 1);
	parses("4096", 4096);
	parses("007", 7);                     /* decimal, leading zeros */
	parses("010", 10);
	parses("18446744073709551615", UINT64_MAX);
}

static void test_suffixes(void **state)
{
	(void)state;
	parses("1K", K);
	parses("1k", K);
	parses("512M", 512 * M);
	parses("512m", 512 * M);
	parses("1G", G);
	parses("3g", 3 * G);
	parses("2T", 2 * T);
	parses("2t", 2 * T);
	parses("0K", 0);
	parses("0T", 0);
	parses("65536K", 64 * M);
}

static void test_long_forms(void **state)
{
	(void)state;
	parses("1KiB", K);
	parses("1kib", K);
	parses("1KIB", K);
	parses("64MiB", 64 * M);
	parses("2GiB", 2 * G);
	parses("1TiB", T);
	/* "B" forms are binary too (MB = MiB here). */
	parses("1KB", K);
	parses("1kb", K);
	parses("256MB", 256 * M);
	parses("1mb", M);
	parses("4GB", 4 * G);
	parses("1TB", T);
}

static void test_garbage(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "abc", "K", "M1", "iB", "-1", "+1", " 1", "1 ", "1 K", "\t1",
		"1.5G", "1,5G", "1e3", "0x10", "1X", "1P", "1E",
		"1B",                          /* no unit: no "B" */
		"1iB", "1Ki", "1KK", "1KiBs", "1KB2", "1MiBB", "1GBi", "1G ",
		"12 34",
	};
	refused(NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i]);
}

static void test_overflow(void **state)
{
	(void)state;
	refused("18446744073709551616");       /* UINT64_MAX + 1 */
	refused("99999999999999999999999");
	refused("99999999999T");
	/* The largest value each suffix can carry, and one more. */
	parses("18014398509481983K", UINT64_MAX >> 10 << 10);
	refused("18014398509481984K");
	parses("17592186044415M", UINT64_MAX >> 20 << 20);
	refused("17592186044416M");
	parses("17179869183G", UINT64_MAX >> 30 << 30);
	refused("17179869184G");
	parses("16777215T", UINT64_MAX >> 40 << 40);
	refused("16777216T");
	refused("16777216TiB");
	refused("18446744073709551615K");
}

static void str_is(uint64_t v, const char *want)
{
	char buf[32];
	const char *r = size__str(v, buf, sizeof(buf));
	assert_ptr_equal(r, buf);
	if (strcmp(buf, want))
		fail_msg("size__str(%llu) = '%s', expected '%s'", (unsigned long long)v, buf, want);
}

static void test_size_str(void **state)
{
	(void)state;
	str_is(0, "0");
	str_is(1, "1");
	str_is(1023, "1023");
	str_is(1024, "1K");
	str_is(1025, "1025");
	str_is(1536, "1536");
	str_is(3 * K, "3K");
	str_is(1025 * K, "1025K");
	str_is(M, "1M");
	str_is(512 * M, "512M");
	str_is(1536 * M, "1536M");           /* 1.5G is not exact in G */
	str_is(G, "1G");
	str_is(64 * G, "64G");
	str_is(T, "1T");
	str_is(1024 * T, "1024T");           /* no unit above T */
	str_is(1ULL << 63, "8388608T");
	str_is(UINT64_MAX, "18446744073709551615");
	str_is(UINT64_MAX >> 40 << 40, "16777215T");

	/* A short buffer is truncated, never overrun. */
	char small[4] = "zzz";
	assert_ptr_equal(size__str(1024 * T, small, sizeof(small)), small);
	assert_string_equal(small, "102");
	char one[1] = { 'z' };
	size__str(12345, one, sizeof(one));
	assert_int_equal(one[0], 0);
}

static void round_trip(uint64_t v)
{
	char buf[32];
	uint64_t back = ~v;
	size__str(v, buf, sizeof(buf));
	if (size__parse(buf, &back) || back != v)
		fail_msg("%llu -> '%s' -> %llu", (unsigned long long)v, buf, (unsigned long long)back);
}

static void test_round_trip(void **state)
{
	(void)state;
	for (unsigned s = 0; s < 64; s++) {
		round_trip(1ULL << s);
		round_trip((1ULL << s) - 1);
		round_trip((1ULL << s) + 1);
		round_trip(3ULL << (s > 62 ? 62 : s));
	}
	round_trip(0);
	round_trip(UINT64_MAX);
	/* Pseudo-random values with random low zero bits. */
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		round_trip(x);
		round_trip(x >> (x & 63));
		round_trip(x & ~((1ULL << (x % 50)) - 1));
	}
	/* And strings in their shortest form come back unchanged. */
	static const char *const canon[] = { "0", "1", "1023", "1K", "1025K", "512M", "3G", "1024T", "8388608T" };
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		uint64_t v;
		char buf[32];
		assert_int_equal(size__parse(canon[i], &v), 0);
		assert_string_equal(size__str(v, buf, sizeof(buf)), canon[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_long_forms),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_size_str),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
