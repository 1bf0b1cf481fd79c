/* test_ram_prep.c - guest RAM provisioned before its VM exists
 * (mem/ram_prep.h): every page allocated and mapped, not one byte changed
 * by populating, a stop that ends the threads early, RAM handed over or
 * freed. No KVM needed: it is a memfd and threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/ram_prep.h"

#define MIB (1ULL << 20)

/* The memfd's pages that are allocated (holes are not). */
static uint64_t allocated(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void wait_done(struct ram_prep *p)
{
	bool finished = false;
	for (int i = 0; i < 2000 && !finished; i++) {
		ram_prep__progress(p, &finished);
		if (!finished)
			usleep(5000);
	}
	assert_true(finished);
}

/* All of it provisioned, by two threads; the pages read as zeroes. */
static void test_provisions_everything(void **state)
{
	(void)state;
	struct ram_prep p;
	char err[256];
	assert_int_equal(ram_prep__start(&p, 16 * MIB, 2, err, sizeof(err)), 0);
	wait_done(&p);
	bool finished;
	assert_int_equal(ram_prep__progress(&p, &finished), 16 * MIB);
	assert_int_equal(allocated(p.ram.fd), 16 * MIB);
	for (uint64_t off = 0; off < 16 * MIB; off += 4096)
		assert_int_equal(p.ram.hva[off], 0);
	ram_prep__free(&p);
}

/* Populating never changes a byte: pages written while it runs keep
 * what was written (the destination receives into this RAM meanwhile). */
static void test_populating_keeps_bytes(void **state)
{
	(void)state;
	struct ram_prep p;
	char err[256];
	assert_int_equal(ram_prep__start(&p, 64 * MIB, 1, err, sizeof(err)), 0);
	for (uint64_t off = 0; off < 64 * MIB; off += 64 * 1024)
		p.ram.hva[off + 7] = (uint8_t)(off >> 16) | 1;
	wait_done(&p);
	for (uint64_t off = 0; off < 64 * MIB; off += 64 * 1024)
		assert_int_equal(p.ram.hva[off + 7], (uint8_t)(off >> 16) | 1);
	ram_prep__free(&p);
}

/* A stop joins the threads; afterwards nothing more is populated, and a
 * second stop is harmless. */
static void test_stop_ends_it(void **state)
{
	(void)state;
	struct ram_prep p;
	char err[256];
	assert_int_equal(ram_prep__start(&p, 256 * MIB, 2, err, sizeof(err)), 0);
	ram_prep__stop(&p);
	bool finished;
	uint64_t done = ram_prep__progress(&p, &finished);
	usleep(20000);
	assert_int_equal(ram_prep__progress(&p, &finished), done);
	ram_prep__stop(&p);
	ram_prep__free(&p);
}

/* Taken RAM belongs to the taker: free stops the threads and leaves the
 * mapping and the memfd alone. */
static void test_taken_ram_survives_free(void **state)
{
	(void)state;
	struct ram_prep p;
	char err[256];
	assert_int_equal(ram_prep__start(&p, 8 * MIB, 3, err, sizeof(err)), 0);
	struct guest_ram r = ram_prep__take(&p);
	ram_prep__free(&p);
	r.hva[8 * MIB - 1] = 0x5a;            /* still mapped */
	assert_int_equal(r.hva[8 * MIB - 1], 0x5a);
	assert_true(fcntl(r.fd, F_GETFD) >= 0);
	guest_ram__destroy(&r);
}

/* Thread counts out of range are clamped, never refused. */
static void test_thread_count_clamped(void **state)
{
	(void)state;
	struct ram_prep p;
	char err[256];
	assert_int_equal(ram_prep__start(&p, 4 * MIB, 0, err, sizeof(err)), 0);
	assert_int_equal(p.want, 1);
	wait_done(&p);
	ram_prep__free(&p);
	assert_int_equal(ram_prep__start(&p, 4 * MIB, 99, err, sizeof(err)), 0);
	assert_int_equal(p.want, RAM_PREP_MAX_THREADS);
	wait_done(&p);
	ram_prep__free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_provisions_everything),
		cmocka_unit_test(test_populating_keeps_bytes),
		cmocka_unit_test(test_stop_ends_it),
		cmocka_unit_test(test_taken_ram_survives_free),
		cmocka_unit_test(test_thread_count_clamped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
