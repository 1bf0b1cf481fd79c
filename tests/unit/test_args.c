/* test_args.c - `tern run` option parsing: defaults, every option, every
 * refusal (return code and a keyword of the message), and repeated calls
 * (run__opts_parse resets getopt itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cli/args.h"

static char err[256];
static struct run_opts o;

/* Parse "run" followed by the given arguments (NULL-terminated). */
static int parse(const char *first, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	argv[argc++] = (char *)"run";
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(argc < 31);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	strcpy(err, "(unset)");
	memset(&o, 0x5a, sizeof(o));          /* the parser must reset everything */
	return run__opts_parse(argc, argv, &o, err, sizeof(err));
}

#define OK(...)  do { \
		if (parse(__VA_ARGS__, NULL) != 0) \
			fail_msg("refused: %s", err); \
	} while (0)

/* Refused, and the message holds word. */
#define BAD(word, ...) do { \
		if (parse(__VA_ARGS__, NULL) != -1) \
			fail_msg("accepted, expected an error with '%s'", word); \
		if (!strstr(err, word)) \
			fail_msg("error '%s' does not mention '%s'", err, word); \
	} while (0)

static void check_defaults_except_guest(void)
{
	assert_null(o.guest_args);
	assert_null(o.restore);
	assert_null(o.ctl);
	assert_null(o.serial_file);
	assert_int_equal(o.mem, RUN_DEFAULT_MEM);
	assert_int_equal(o.cpus, 1);
	assert_int_equal(o.cc, CC_NONE);
	assert_int_equal(o.help, 0);
	assert_int_equal(o.prefault, VM_PREFAULT_AUTO);
}

static void test_defaults(void **state)
{
	(void)state;
	OK("--guest", "g.elf");
	assert_string_equal(o.guest, "g.elf");
	assert_int_equal(RUN_DEFAULT_MEM, 256ULL << 20);
	check_defaults_except_guest();
}

static void test_every_option(void **state)
{
	(void)state;
	OK("--guest", "build/guest/dirtier.elf", "--mem", "1G", "--cpus", "16",
	   "--guest-args", "mode=fast seed=7", "--ctl", "/tmp/tern.sock",
	   "--serial", "file:/tmp/out.txt", "--cc", "none");
	assert_string_equal(o.guest, "build/guest/dirtier.elf");
	assert_int_equal(o.mem, 1ULL << 30);
	assert_int_equal(o.cpus, 16);
	assert_string_equal(o.guest_args, "mode=fast seed=7");
	assert_string_equal(o.ctl, "/tmp/tern.sock");
	assert_string_equal(o.serial_file, "/tmp/out.txt");
	assert_int_equal(o.cc, CC_NONE);
	assert_null(o.restore);
	assert_int_equal(o.help, 0);

	/* --opt=value forms, and any order. */
	OK("--cpus=3", "--mem=512M", "--guest=x.elf", "--guest-args=", "--serial=stdio", "--cc=none");
	assert_string_equal(o.guest, "x.elf");
	assert_int_equal(o.mem, 512ULL << 20);
	assert_int_equal(o.cpus, 3);
	assert_string_equal(o.guest_args, "");
	assert_null(o.serial_file);

	/* The last of a repeated option wins. */
	OK("--guest", "a", "--guest", "b", "--cpus", "2", "--cpus", "5");
	assert_string_equal(o.guest, "b");
	assert_int_equal(o.cpus, 5);

	/* Restore with the options it allows. */
	OK("--restore", "snap.tern", "--ctl", "s.sock", "--serial", "file:log", "--cc", "none");
	assert_string_equal(o.restore, "snap.tern");
	assert_null(o.guest);
	assert_string_equal(o.ctl, "s.sock");
	assert_string_equal(o.serial_file, "log");
	assert_int_equal(o.mem, RUN_DEFAULT_MEM);
	assert_int_equal(o.cpus, 1);
}

static void test_mem_good(void **state)
{
	(void)state;
	static const struct { const char *s; uint64_t v; } cases[] = {
		{ "64M", 64ULL << 20 },        /* the minimum */
		{ "66M", 66ULL << 20 },        /* a multiple of 2M */
		{ "256MiB", 256ULL << 20 },
		{ "2g", 2ULL << 30 },
		{ "1T", 1ULL << 40 },
		{ "65536K", 64ULL << 20 },
		{ "67108864", 64ULL << 20 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		OK("--guest", "g", "--mem", cases[i].s);
		if (o.mem != cases[i].v)
			fail_msg("--mem %s gave %llu", cases[i].s, (unsigned long long)o.mem);
	}
}

static void test_mem_bad(void **state)
{
	(void)state;
	BAD("not a size", "--guest", "g", "--mem", "abc");
	BAD("not a size", "--guest", "g", "--mem", "");
	BAD("not a size", "--guest", "g", "--mem", "1X");
	BAD("not a size", "--guest", "g", "--mem", "-64M");
	BAD("not a size", "--guest", "g", "--mem", "1.5G");
	BAD("not a size", "--guest", "g", "--mem", "99999999999T");    /* overflows 64 bits */
	BAD("too small", "--guest", "g", "--mem", "63M");
	BAD("too small", "--guest", "g", "--mem", "0");
	BAD("minimum is 64M", "--guest", "g", "--mem", "1K");
	BAD("multiple of 2M", "--guest", "g", "--mem", "65M");
	BAD("multiple of 2M", "--guest", "g", "--mem", "67108865");
	BAD("--mem 1X", "--guest", "g", "--mem", "1X");                /* names the value */
	/* Checked when seen: even with --help later. */
	BAD("too small", "--mem", "63M", "--help");
}

static void test_cpus(void **state)
{
	(void)state;
	OK("--guest", "g", "--cpus", "1");
	assert_int_equal(o.cpus, 1);
	OK("--guest", "g", "--cpus", "16");
	assert_int_equal(o.cpus, 16);
	OK("--guest", "g", "--cpus", "08");                           /* decimal, not octal */
	assert_int_equal(o.cpus, 8);
	static const char *const bad[] = { "0", "17", "x", "2x", "-1", "", "1.0", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		BAD("from 1 to 16", "--guest", "g", "--cpus", bad[i]);
		assert_non_null(strstr(err, "--cpus"));
	}
}

static void test_serial(void **state)
{
	(void)state;
	OK("--guest", "g", "--serial", "stdio");
	assert_null(o.serial_file);
	OK("--guest", "g", "--serial", "file:/tmp/x y");
	assert_string_equal(o.serial_file, "/tmp/x y");
	OK("--guest", "g", "--serial", "file:/tmp/a", "--serial", "stdio");
	assert_null(o.serial_file);
	BAD("stdio or file:PATH", "--guest", "g", "--serial", "bad");
	BAD("stdio or file:PATH", "--guest", "g", "--serial", "file:");
	BAD("stdio or file:PATH", "--guest", "g", "--serial", "");
	BAD("stdio or file:PATH", "--guest", "g", "--serial", "STDIO");
	BAD("--serial file", "--guest", "g", "--serial", "file");
}

static void test_cc(void **state)
{
	(void)state;
	OK("--guest", "g", "--cc", "none");
	assert_int_equal(o.cc, CC_NONE);
	OK("--guest", "g", "--cc", "emu");
	assert_int_equal(o.cc, CC_EMU);
	OK("--guest", "g", "--cc", "sev");
	assert_int_equal(o.cc, CC_SEV);
	OK("--guest", "g", "--cc", "emu", "--cc-policy", "0x5", "--owner-session", "d",
	   "--owner-secret", "s", "--psp-socket", "p", "--launch-timeout", "7");
	assert_int_equal(o.cc_policy, 5);
	assert_string_equal(o.owner_session, "d");
	assert_string_equal(o.owner_secret, "s");
	assert_string_equal(o.psp_socket, "p");
	assert_int_equal(o.launch_timeout, 7);
	BAD("not a 32-bit number", "--guest", "g", "--cc", "emu", "--cc-policy", "0x100000000");
	BAD("not a 32-bit number", "--guest", "g", "--cc", "emu", "--cc-policy", "x");
	BAD("seconds", "--guest", "g", "--cc", "emu", "--launch-timeout", "0");
	BAD("need --cc", "--guest", "g", "--owner-secret", "s");
	BAD("need --cc", "--guest", "g", "--cc-policy", "1");
	BAD("not possible", "--restore", "r", "--cc", "emu");
	BAD("unknown platform", "--guest", "g", "--cc", "tdx");
	BAD("unknown platform", "--guest", "g", "--cc", "");
	BAD("unknown platform", "--guest", "g", "--cc", "None");
}

static void test_guest_restore(void **state)
{
	(void)state;
	BAD("nothing to run", "--mem", "64M");
	assert_int_equal(run__opts_parse(1, (char *[]){ (char *)"run", NULL }, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nothing to run"));
	BAD("exclude each other", "--guest", "g", "--restore", "s");
	BAD("exclude each other", "--restore", "s", "--guest", "g");
	BAD("from the snapshot", "--restore", "s", "--mem", "1G");
	BAD("from the snapshot", "--restore", "s", "--cpus", "2");
	BAD("from the snapshot", "--restore", "s", "--guest-args", "x");
	/* Even when the given value equals the default. */
	BAD("from the snapshot", "--restore", "s", "--mem", "256M");
	BAD("from the snapshot", "--restore", "s", "--cpus", "1");
	BAD("from the snapshot", "--restore", "s", "--guest-args", "");
}

/* --reset-guest: what a reset of a VM that arrived boots */
static void test_reset_guest(void **state)
{
	(void)state;
	OK("--restore", "s", "--reset-guest", "g.elf", "--reset-guest-args", "a=1 b=2");
	assert_string_equal(o.reset_guest, "g.elf");
	assert_string_equal(o.reset_guest_args, "a=1 b=2");
	OK("--takeover", "t.sock", "--reset-guest", "g.elf");
	assert_string_equal(o.reset_guest, "g.elf");
	assert_null(o.reset_guest_args);
	OK("--incoming", "tcp:127.0.0.1:1", "--reset-guest", "g.elf", "--on-reset", "exit");
	assert_int_equal(o.on_reset, RUN_ON_RESET_EXIT);
	OK("--guest", "g.elf");
	assert_null(o.reset_guest);
	BAD("for a VM that arrives", "--guest", "g.elf", "--reset-guest", "g.elf");
	BAD("needs it", "--restore", "s", "--reset-guest-args", "a=1");
	BAD("needs it", "--takeover", "t.sock", "--reset-guest-args", "a=1");
}

static void test_unknown_option(void **state)
{
	(void)state;
	BAD("unknown option --bogus", "--guest", "g", "--bogus");
	BAD("unknown option --bogus=1", "--bogus=1", "--guest", "g");
	BAD("unknown option -x", "--guest", "g", "-x");
	BAD("unknown option -m", "-m", "1G", "--guest", "g");
}

static void test_missing_value(void **state)
{
	(void)state;
	static const char *const opts[] = {
		"guest", "mem", "cpus", "guest-args", "ctl", "serial", "restore", "cc",
	};
	char opt[32], want[64];
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		snprintf(opt, sizeof(opt), "--%s", opts[i]);
		snprintf(want, sizeof(want), "option --%s needs a value", opts[i]);
		BAD(want, opt);
		BAD(want, "--guest", "g", opt);
	}
	/* --help takes none (fixed in args.c: this said "needs a value"). */
	BAD("--help takes no value", "--help=yes");
}

static void test_stray_argument(void **state)
{
	(void)state;
	BAD("unexpected argument 'extra'", "--guest", "g", "extra");
	/* Options stop at the first non-option: what follows is not parsed. */
	BAD("unexpected argument 'extra'", "extra", "--guest", "g");
	BAD("unexpected argument 'g2'", "--guest", "g", "--", "g2");
	/* A value-taking option swallows the next word, even an option. */
	BAD("unexpected argument '64M'", "--guest", "--mem", "64M");
}

static void test_help(void **state)
{
	(void)state;
	OK("--help");
	assert_int_equal(o.help, 1);
	OK("-h");
	assert_int_equal(o.help, 1);
	/* Help wins over what would be refused later (nothing to run, a
	 * stray word after it). */
	OK("--guest", "g", "--restore", "s", "--help", "junk");
	assert_int_equal(o.help, 1);
	assert_non_null(strstr(run_usage, "--guest"));
	assert_non_null(strstr(run_usage, "--restore"));
}

/* --prefault: a takeover's knob, one of three words */
static void test_prefault(void **state)
{
	(void)state;
	OK("--takeover", "/tmp/x.sock");
	assert_int_equal(o.prefault, VM_PREFAULT_AUTO);
	OK("--takeover", "/tmp/x.sock", "--prefault", "off");
	assert_int_equal(o.prefault, VM_PREFAULT_OFF);
	OK("--prefault", "populate", "--takeover", "/tmp/x.sock");
	assert_int_equal(o.prefault, VM_PREFAULT_POPULATE);
	OK("--takeover", "/tmp/x.sock", "--prefault", "auto");
	assert_int_equal(o.prefault, VM_PREFAULT_AUTO);
	BAD("use auto, populate or off", "--takeover", "/tmp/x.sock", "--prefault", "always");
	BAD("--takeover", "--guest", "g.elf", "--prefault", "off");
	BAD("--takeover", "--incoming", "tcp:0:1", "--prefault", "off");
	BAD("needs a value", "--takeover", "/tmp/x.sock", "--prefault");
}

static void test_tls(void **state)
{
	(void)state;
	OK("--incoming", "tcp:0.0.0.0:4444", "--tls-creds", "/d", "--tls-authz", "src.example");
	assert_string_equal(o.tls_creds, "/d");
	assert_string_equal(o.tls_authz, "src.example");
	OK("--incoming", "tcp:0.0.0.0:4444");
	assert_null(o.tls_creds);
	assert_null(o.tls_authz);
	BAD("needs --tls-creds", "--incoming", "tcp:0.0.0.0:4444", "--tls-authz", "x");
	BAD("need --incoming", "--guest", "g", "--tls-creds", "/d");
	BAD("need --incoming", "--guest", "g", "--tls-authz", "x");
	BAD("option --tls-creds needs a value", "--incoming", "tcp:0.0.0.0:1", "--tls-creds");
}

/* --provision: setup by default with --mem, announced without; setup
 * needs --mem, and only a destination takes it. */
static void test_provision(void **state)
{
	(void)state;
	OK("--incoming", "tcp:0.0.0.0:4444", "--mem", "1G");
	assert_int_equal(o.provision, RUN_PROVISION_SETUP);
	OK("--incoming", "tcp:0.0.0.0:4444");
	assert_int_equal(o.provision, RUN_PROVISION_ANNOUNCED);
	OK("--incoming", "tcp:0.0.0.0:4444", "--mem", "1G", "--provision", "announced");
	assert_int_equal(o.provision, RUN_PROVISION_ANNOUNCED);
	OK("--provision", "none", "--incoming", "tcp:0.0.0.0:4444");
	assert_int_equal(o.provision, RUN_PROVISION_NONE);
	OK("--incoming", "tcp:0.0.0.0:4444", "--provision", "setup", "--mem", "512M");
	assert_int_equal(o.provision, RUN_PROVISION_SETUP);
	assert_int_equal(o.mem, 512ULL << 20);
	BAD("needs --mem", "--incoming", "tcp:0.0.0.0:4444", "--provision", "setup");
	BAD("use setup, announced or none", "--incoming", "tcp:0.0.0.0:4444", "--provision", "eager");
	BAD("needs --incoming", "--guest", "g", "--provision", "none");
	BAD("needs --incoming", "--takeover", "/tmp/x.sock", "--provision", "setup");
	BAD("needs a value", "--incoming", "tcp:0.0.0.0:4444", "--provision");
	OK("--guest", "g");
	assert_int_equal(o.provision, RUN_PROVISION_DEFAULT);
}

/* Calls do not leak state into each other (getopt is reset each time). */
static void test_repeated_calls(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		BAD("unknown option", "--guest", "g", "--nope");
		BAD("needs a value", "--guest");
		OK("--help");
		OK("--guest", "g");
		assert_int_equal(o.help, 0);
		check_defaults_except_guest();
		BAD("unexpected argument", "--guest", "g", "x");
		OK("--guest", "g", "--cpus", "4");
		assert_int_equal(o.cpus, 4);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_mem_good),
		cmocka_unit_test(test_mem_bad),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_serial),
		cmocka_unit_test(test_cc),
		cmocka_unit_test(test_guest_restore),
		cmocka_unit_test(test_reset_guest),
		cmocka_unit_test(test_unknown_option),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_stray_argument),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_prefault),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_provision),
		cmocka_unit_test(test_repeated_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
