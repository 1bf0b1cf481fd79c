/* test_exits.c - a VM's exit-handler table (dev/exits.h) and the devices
 * that register in it, without KVM: two tables side by side stay apart
 * (the guest's and a mirror VM's), overlapping or full registrations are
 * refused, and the guest-call device, migctl and the serial port answer
 * through their table only. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dev/exits.h"
#include "dev/guest_call.h"
#include "dev/migctl.h"
#include "dev/serial.h"
#include "mem/page_status.h"

static int port_hits;

static int count_port(void *ctx, struct exit_io *io, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	port_hits += (int)(intptr_t)ctx;
	return io->out ? 0 : 1;
}

static int64_t answer(void *ctx, int cpu, const uint64_t a[4])
{
	(void)cpu;
	return (int64_t)(intptr_t)ctx + (int64_t)a[0];
}

static void test_ports(void **state)
{
	struct exits a = { 0 }, b = { 0 };
	(void)state;
	assert_int_equal(exits__register_port(&a, 0x3f8, 8, count_port, (void *)1), 0);
	assert_int_equal(exits__register_port(&a, 0x3ff, 1, count_port, NULL), -EEXIST);
	assert_int_equal(exits__register_port(&a, 0x3f0, 9, count_port, NULL), -EEXIST);
	assert_int_equal(exits__register_port(&a, 0x3f0, 8, count_port, NULL), 0);  /* adjacent */
	assert_int_equal(exits__register_port(&a, 0x10, 0, count_port, NULL), -EINVAL);
	assert_int_equal(exits__register_port(&a, 0xfffe, 4, count_port, NULL), -EINVAL);
	assert_int_equal(exits__register_port(&a, 0xffff, 1, count_port, NULL), 0);
	assert_int_equal(exits__port(&a, 0x3ff)->base, 0x3f8);
	assert_int_equal(exits__port(&a, 0x3f7)->base, 0x3f0);
	assert_null(exits__port(&a, 0x400));
	assert_null(exits__port(&b, 0x3f8));            /* another VM's table */
	for (int i = b.nports; i < EXITS_MAX_PORTS; i++)
		assert_int_equal(exits__register_port(&b, (uint16_t)(0x100 + i), 1, count_port, NULL), 0);
	assert_int_equal(exits__register_port(&b, 0x200, 1, count_port, NULL), -ENOSPC);

	const struct exit_port *p = exits__port(&a, 0x3f9);
	struct exit_io io = { .port = 0x3f9, .off = 1, .out = true, .size = 1, .count = 1 };
	port_hits = 0;
	assert_int_equal(p->fn(p->ctx, &io, NULL, 0), 0);
	assert_int_equal(port_hits, 1);
}

static void stop_cb(void *ctx, int code, const char *why)
{
	(void)why;
	*(int *)ctx = code;
}

/* Each VM's guest-call device finds calls in its own table: a call only
 * the mirror registered is unknown to the guest, and the reverse. */
static void test_guest_calls_per_table(void **state)
{
	struct exits guest = { 0 }, mirror = { 0 };
	struct page_status ps;
	struct guest_call gc = { 0 }, mc = { 0 };
	uint64_t guest_total = 0;
	int stopped = -1;
	(void)state;

	assert_int_equal(page_status__init(&ps, 1024, true), 0);
	gc.ps = &ps;
	gc.stop = stop_cb;
	gc.ctx = &stopped;
	gc.calls = &guest_total;
	assert_int_equal(guest_call__register(&gc, &guest), 0);
	assert_int_equal(guest_call__register(&gc, &guest), -EEXIST);
	assert_non_null(exits__port(&guest, GUEST_CALL_PORT));
	assert_int_equal(exits__register_hcall(&mirror, 0x7e000100, answer, (void *)1000), 0);
	assert_int_equal(exits__register_hcall(&mirror, 0x7e000100, answer, NULL), -EEXIST);
	mc.exits = &mirror;

	/* MAP_GPA_RANGE: the guest's, converting pages in its record */
	assert_int_equal(guest_call__dispatch(&gc, 0, KVM_HC_MAP_GPA_RANGE_NR, 0, 1, 0, 0), 0);
	assert_int_equal(gc.map_calls, 1);
	assert_int_equal(guest_call__dispatch(&mc, 0, KVM_HC_MAP_GPA_RANGE_NR, 0, 1, 0, 0), KVM_ENOSYS_RET);
	assert_int_equal(mc.unknown_calls, 1);
	/* the mirror's call is not the guest's */
	assert_int_equal(guest_call__dispatch(&mc, 0, 0x7e000100, 7, 0, 0, 0), 1007);
	assert_int_equal(guest_call__dispatch(&gc, 0, 0x7e000100, 7, 0, 0, 0), KVM_ENOSYS_RET);
	assert_int_equal(gc.unknown_calls, 1);
	/* TERN_HC_EXIT: the stop callback with the guest's status */
	assert_int_equal(guest_call__dispatch(&gc, 1, TERN_HC_EXIT, 0x105, 0, 0, 0), 0);
	assert_int_equal(stopped, 5);
	assert_int_equal(guest_total, 3);               /* every call, known or not */
	/* a read of the call port is not a call: the machine treats it as unknown */
	const struct exit_port *p = exits__port(&guest, GUEST_CALL_PORT);
	struct exit_io in = { .port = GUEST_CALL_PORT, .out = false, .size = 1, .count = 1 };
	assert_int_equal(p->fn(p->ctx, &in, NULL, 0), 1);
	page_status__destroy(&ps);
}

static void test_migctl_and_serial(void **state)
{
	struct exits t = { 0 };
	struct page_status ps;
	struct serial s;
	uint64_t v = 99;
	uint8_t data[3] = { 'o', 'k', '\n' };
	int fds[2];
	char out[8] = { 0 };
	(void)state;

	assert_int_equal(page_status__init(&ps, 1024, true), 0);
	assert_int_equal(migctl__register(&ps, &t), 0);
	assert_int_equal(migctl__register(&ps, &t), -EEXIST);
	assert_int_equal(t.nmsrs, 1);
	assert_int_equal(t.msr[0].index, MSR_KVM_MIGRATION_CONTROL);
	assert_null(exits__msr(&t, MSR_KVM_MIGRATION_CONTROL + 1));
	const struct exit_msr *m = exits__msr(&t, MSR_KVM_MIGRATION_CONTROL);
	assert_true(m->rd(m->ctx, m->index, &v));
	assert_int_equal(v, 0);
	assert_true(m->wr(m->ctx, m->index, MIGCTL_ENABLED));
	assert_true(m->rd(m->ctx, m->index, &v));
	assert_int_equal(v, MIGCTL_ENABLED);
	assert_false(m->wr(m->ctx, m->index, 1ULL << 5));  /* reserved bit: #GP */
	page_status__destroy(&ps);

	/* a string write (rep outsb) of three bytes to THR reaches the console */
	assert_int_equal(pipe(fds), 0);
	serial__init(&s, fds[1]);
	assert_int_equal(serial__register(&s, &t), 0);
	const struct exit_port *p = exits__port(&t, SERIAL_BASE + 7);
	assert_non_null(p);
	struct exit_io io = { .port = SERIAL_BASE, .off = 0, .out = true, .size = 1, .count = 3,
			      .data = data };
	assert_int_equal(p->fn(p->ctx, &io, NULL, 0), 0);
	assert_int_equal(read(fds[0], out, sizeof(out)), 3);
	assert_string_equal(out, "ok\n");
	assert_int_equal(s.bytes, 3);
	serial__destroy(&s);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_guest_calls_per_table),
		cmocka_unit_test(test_migctl_and_serial),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
