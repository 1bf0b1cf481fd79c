/* test_ram_map.c - the snapshot page map: the last section with a page
 * wins, its RAM_INDEX round-trips, and an index that disagrees with the
 * sections or is malformed is refused with the cause named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "state/ram_map.h"

static char err[256];

/* 64 pages: [0,32) at 100, then [8,12) at 200 and [40,48) at 300 */
static void build(struct ram_map *m)
{
	assert_int_equal(ram_map__init(m, 64), 0);
	assert_int_equal(ram_map__add(m, 100, 0, 32, err, sizeof(err)), 0);
	assert_int_equal(ram_map__add(m, 200, 8, 4, err, sizeof(err)), 0);
	assert_int_equal(ram_map__add(m, 300, 40, 8, err, sizeof(err)), 0);
}

static void test_last_wins(void **state)
{
	(void)state;
	struct ram_map m;
	build(&m);
	assert_int_equal(ram_map__finish(&m), 40);
	assert_int_equal(m.sec[7], 0);
	assert_int_equal(m.sec[8], 1);
	assert_int_equal(m.sec[11], 1);
	assert_int_equal(m.sec[12], 0);
	assert_int_equal(m.sec[32], RAM_MAP_NONE);
	assert_int_equal(m.secs[0].wins, 28);
	assert_int_equal(m.secs[1].wins, 4);
	assert_int_equal(m.secs[2].wins, 8);
	/* out of RAM, out of file order */
	assert_int_equal(ram_map__add(&m, 400, 60, 8, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "outside guest RAM"));
	assert_int_equal(ram_map__add(&m, 250, 0, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not after the previous one"));
	ram_map__free(&m);
}

static void test_index_round_trip_and_refusals(void **state)
{
	(void)state;
	struct ram_map m;
	void *enc;
	size_t len;
	build(&m);
	assert_int_equal(ram_map__index_encode(&m, &enc, &len), 0);
	uint64_t *w = enc;
	assert_int_equal(w[0], 64);
	assert_int_equal(w[1], 4);       /* [0,8)@100 [8,12)@200 [12,32)@100 [40,48)@300 */
	assert_int_equal(len, 16 + 4 * 24);
	assert_int_equal(ram_map__index_check(&m, enc, len, err, sizeof(err)), 0);

	/* a run pointing at the older section: the page where they differ */
	w[2 + 3 + 2] = 100;
	assert_int_equal(ram_map__index_check(&m, enc, len, err, sizeof(err)), -1);
	assert_string_equal(err, "RAM index disagrees with the RAM sections at page 0x8");
	w[2 + 3 + 2] = 200;
	/* a page left out */
	w[2 + 9 + 1] = 7;
	assert_int_equal(ram_map__index_check(&m, enc, len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "disagrees"));
	w[2 + 9 + 1] = 8;
	/* malformed: cut, wrong guest size, overlap */
	assert_int_equal(ram_map__index_check(&m, enc, len - 8, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	w[0] = 65;
	assert_int_equal(ram_map__index_check(&m, enc, len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "65 pages"));
	w[0] = 64;
	w[2 + 3] = 4;                    /* second run starts inside the first */
	assert_int_equal(ram_map__index_check(&m, enc, len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of order"));
	free(enc);
	ram_map__free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_last_wins),
		cmocka_unit_test(test_index_round_trip_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
