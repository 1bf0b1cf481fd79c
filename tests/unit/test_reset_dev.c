/* test_reset_dev.c - the reset device (dev/reset.h) without KVM: which
 * writes to ports 0xCF9 and 0x64 ask for a reset, what the ports read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dev/exits.h"
#include "dev/reset.h"

static int requests;
static char last_why[128];

static void on_request(void *ctx, const char *why)
{
	(void)ctx;
	requests++;
	strncpy(last_why, why, sizeof(last_why) - 1);
}

/* one access to port through the table; returns the handler's result */
static int access_port(struct exits *t, uint16_t port, bool out, uint8_t *data, uint8_t size,
		       uint32_t count)
{
	const struct exit_port *p = exits__port(t, port);
	struct exit_io io = { .port = port, .out = out, .size = size, .count = count,
			      .data = data, .cpu = 1, .vcpu_fd = -1 };
	if (!p)
		return 1;
	io.off = (uint16_t)(port - p->base);
	return p->fn(p->ctx, &io, NULL, 0);
}

static int write_byte(struct exits *t, uint16_t port, uint8_t v)
{
	return access_port(t, port, true, &v, 1, 1);
}

static void setup_dev(struct exits *t, struct reset_dev *d)
{
	memset(t, 0, sizeof(*t));
	memset(d, 0, sizeof(*d));
	d->request = on_request;
	requests = 0;
	last_why[0] = 0;
	assert_int_equal(reset_dev__register(d, t), 0);
}

static void test_cf9_decoding(void **state)
{
	struct exits t;
	struct reset_dev d;
	uint8_t v;
	(void)state;
	setup_dev(&t, &d);

	/* neighbours are not ours: 0xCF8 (PCI config address), 0xCFA */
	assert_null(exits__port(&t, 0xcf8));
	assert_null(exits__port(&t, 0xcfa));

	/* bits without RST_CPU only arm the register; they read back */
	assert_int_equal(write_byte(&t, RESET_CF9_PORT, 0x02), 0);
	assert_int_equal(requests, 0);
	v = 0;
	assert_int_equal(access_port(&t, RESET_CF9_PORT, false, &v, 1, 1), 0);
	assert_int_equal(v, 0x02);
	assert_int_equal(write_byte(&t, RESET_CF9_PORT, 0x08), 0);
	assert_int_equal(requests, 0);

	/* 0x6 (SYS_RST | RST_CPU), 0xE (FULL_RST too) and 0x4 reset */
	assert_int_equal(write_byte(&t, RESET_CF9_PORT, 0x06), 0);
	assert_int_equal(requests, 1);
	assert_non_null(strstr(last_why, "0xCF9: 0x6"));
	assert_non_null(strstr(last_why, "vCPU 1"));
	assert_int_equal(write_byte(&t, RESET_CF9_PORT, 0x0e), 0);
	assert_int_equal(requests, 2);
	assert_int_equal(write_byte(&t, RESET_CF9_PORT, 0x04), 0);
	assert_int_equal(requests, 3);
	assert_int_equal(d.requests, 3);
	/* RST_CPU never reads back */
	v = 0xff;
	assert_int_equal(write_byte(&t, RESET_CF9_PORT, 0x0e), 0);
	assert_int_equal(access_port(&t, RESET_CF9_PORT, false, &v, 1, 1), 0);
	assert_int_equal(v, 0x0a);

	/* a 16-bit write lands its low byte on the port */
	uint8_t w[2] = { 0x06, 0x00 };
	requests = 0;
	assert_int_equal(access_port(&t, RESET_CF9_PORT, true, w, 2, 1), 0);
	assert_int_equal(requests, 1);
	/* rep outsb: one request for the string, at its first reset byte */
	uint8_t str[4] = { 0x02, 0x06, 0x0e, 0x06 };
	requests = 0;
	assert_int_equal(access_port(&t, RESET_CF9_PORT, true, str, 1, 4), 0);
	assert_int_equal(requests, 1);
}

static void test_kbc_decoding(void **state)
{
	struct exits t;
	struct reset_dev d;
	uint8_t v[3];
	(void)state;
	setup_dev(&t, &d);

	/* other 8042 commands and the data port are not resets */
	assert_int_equal(write_byte(&t, RESET_KBC_PORT, 0xad), 0);
	assert_int_equal(write_byte(&t, RESET_KBC_PORT, 0xff), 0);
	assert_int_equal(requests, 0);
	assert_null(exits__port(&t, 0x60));
	/* the status register reads "nothing pending", so a polling guest goes on */
	memset(v, 0xff, sizeof(v));
	assert_int_equal(access_port(&t, RESET_KBC_PORT, false, v, 1, 3), 0);
	assert_int_equal(v[0] | v[1] | v[2], 0);
	/* 0xFE: pulse the reset line */
	assert_int_equal(write_byte(&t, RESET_KBC_PORT, RESET_KBC_PULSE), 0);
	assert_int_equal(requests, 1);
	assert_non_null(strstr(last_why, "port 0x64: 0xfe"));
}

/* the device's ports collide with nobody else's registration twice */
static void test_register_once(void **state)
{
	struct exits t;
	struct reset_dev d;
	(void)state;
	setup_dev(&t, &d);
	assert_int_equal(reset_dev__register(&d, &t), -EEXIST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cf9_decoding),
		cmocka_unit_test(test_kbc_decoding),
		cmocka_unit_test(test_register_once),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
