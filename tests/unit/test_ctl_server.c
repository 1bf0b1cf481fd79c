/* test_ctl_server.c - the real control server (src/ctl) on a real unix
 * socket, in its own thread, with a small fake command table instead of a
 * VM: exact frames, per-client limits, idle timeouts, the client limit,
 * and clients that misbehave while others must still be answered. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "util/io.h"

static struct ctl_server srv;
static char dir[48], path[96];
static int counted;                   /* how often "count" ran */

static json_t *fake_count(struct ctl_server *s, json_t *req)
{
	(void)s;
	(void)req;
	__atomic_add_fetch(&counted, 1, __ATOMIC_SEQ_CST);
	return json_pack("{s:b, s:i}", "ok", 1, "count", __atomic_load_n(&counted, __ATOMIC_SEQ_CST));
}

static json_t *fake_echo(struct ctl_server *s, json_t *req)
{
	(void)s;
	json_t *r = json_deep_copy(req);
	json_object_set_new(r, "ok", json_true());
	return r;
}

/* about 8 KiB of reply, to fill a client's buffers quickly */
static json_t *fake_big(struct ctl_server *s, json_t *req)
{
	static char pad[8193];
	(void)s;
	(void)req;
	memset(pad, 'x', sizeof(pad) - 1);
	return json_pack("{s:b, s:s}", "ok", 1, "pad", pad);
}

static const char *const modes[] = { "a", "b", NULL };
static const struct ctl_field echo_fields[] = {
	{ "n", CTL_F_INT, false, 0, 100, NULL, NULL },
	{ "s", CTL_F_STRING, false, 1, 16, NULL, NULL },
	{ "mode", CTL_F_STRING, false, 0, 0, modes, NULL },
	{ "p", CTL_F_PATH, false, 1, 64, NULL, NULL },
	{ "flag", CTL_F_BOOL, false, 0, 0, NULL, NULL },
	{ "need", CTL_F_INT, false, 0, 1, NULL, NULL },
	{ 0 },
};
static const struct ctl_field need_fields[] = {
	{ "x", CTL_F_INT, true, 1, 9, NULL, "a digit" },
	{ 0 },
};
static const struct ctl_command fake_commands[] = {
	{ "count", fake_count, NULL, "", NULL },
	{ "echo", fake_echo, echo_fields, "", NULL },
	{ "need", fake_echo, need_fields, "", NULL },
	{ "big", fake_big, NULL, "", NULL },
	{ 0 },
};

static int start(int idle_ms)
{
	char err[256];
	snprintf(dir, sizeof(dir), "/tmp/tern-ctl-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	if (ctl_server__open(&srv, path, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	srv.commands = fake_commands;
	srv.idle_ms = idle_ms;
	counted = 0;
	return ctl_server__start(&srv, NULL, "test");
}

static int setup(void **state)
{
	(void)state;
	return start(5000);
}

static int setup_short_idle(void **state)
{
	(void)state;
	return start(300);
}

static int teardown(void **state)
{
	(void)state;
	ctl_server__close(&srv);
	rmdir(dir);
	return 0;
}

static uint64_t ms_now(void)
{
	return now__ns() / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A client: blocking, but no read may hang the test for ever. */
static int dial(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void put(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			fail_msg("send: %s", n < 0 ? strerror(errno) : "0 bytes");
		p += n;
		len -= (size_t)n;
	}
}

static void puts_(int fd, const char *s)
{
	put(fd, s, strlen(s));
}

/* One line (without '\n') into buf; -1 at EOF, error or timeout. */
static int line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r <= 0)
			return -1;
		if (ch == '\n') {
			buf[n] = '\0';
			return (int)n;
		}
		buf[n++] = ch;
	}
	return -1;
}

/* The reply to what was sent: one JSON object. */
static json_t *reply(int fd)
{
	static char buf[1 << 20];
	json_error_t je;
	if (line(fd, buf, sizeof(buf)) < 0)
		fail_msg("no reply line");
	json_t *r = json_loads(buf, 0, &je);
	if (!r || !json_is_object(r))
		fail_msg("reply is not a JSON object: %.200s", buf);
	return r;
}

/* The next reply is an error whose message holds word. */
static void expect_err(int fd, const char *word)
{
	json_t *r = reply(fd);
	const char *e = json_string_value(json_object_get(r, "error"));
	if (json_is_true(json_object_get(r, "ok")) || !e)
		fail_msg("expected an error with '%s'", word);
	if (!strstr(e, word))
		fail_msg("error '%s' does not mention '%s'", e, word);
	json_decref(r);
}

static void expect_ok(int fd)
{
	json_t *r = reply(fd);
	if (!json_is_true(json_object_get(r, "ok")))
		fail_msg("expected ok, got error: %s", json_string_value(json_object_get(r, "error")));
	json_decref(r);
}

/* The server has closed this connection (after whatever it sent). */
static void expect_eof(int fd)
{
	char buf[4096];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	if (r < 0 && errno != ECONNRESET)
		fail_msg("connection not closed: %s", strerror(errno));
}

/* A request/reply over a fresh connection, bounded by the real client. */
static void quick_call(int within_ms)
{
	char err[512];
	json_t *req = json_pack("{s:s}", "cmd", "count");
	uint64_t t0 = ms_now();
	json_t *r = ctl__call_timeout(path, req, within_ms, err, sizeof(err));
	json_decref(req);
	if (!r)
		fail_msg("call failed after %llu ms: %s", (unsigned long long)(ms_now() - t0), err);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

static void test_roundtrip_and_pipelining(void **state)
{
	(void)state;
	int fd = dial();
	puts_(fd, "{\"cmd\":\"count\"}\n");
	expect_ok(fd);
	/* three in one write: three replies in order */
	puts_(fd, "{\"cmd\":\"count\"}\n{\"cmd\":\"echo\",\"n\":7}\n{\"cmd\":\"nope\"}\n");
	json_t *r = reply(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 2);
	json_decref(r);
	r = reply(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "n")), 7);
	json_decref(r);
	expect_err(fd, "unknown command \"nope\"");
	/* a request split byte by byte */
	const char *req = "{\"cmd\":\"count\"}\n";
	for (size_t i = 0; req[i]; i++) {
		put(fd, req + i, 1);
		sleep_ms(1);
	}
	expect_ok(fd);
	/* CRLF and empty lines are fine; an empty line gets no reply */
	puts_(fd, "\n\r\n{\"cmd\":\"count\"}\r\n");
	r = reply(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 4);
	json_decref(r);
	close(fd);
	quick_call(2000);
}

/* {"cmd":...}\0junk must not run: the frame is the whole line. */
static void test_frames_are_exact(void **state)
{
	(void)state;
	int fd = dial();
	put(fd, "{\"cmd\":\"count\"}\0junk\n", 21);
	expect_err(fd, "NUL byte at offset 15");
	put(fd, "\0\n", 2);
	expect_err(fd, "NUL");
	puts_(fd, "{\"cmd\":\"count\"} junk\n");
	expect_err(fd, "trailing data after the JSON value at offset 15");
	puts_(fd, "{\"cmd\":\"count\"}{\"cmd\":\"count\"}\n");
	expect_err(fd, "trailing data");
	puts_(fd, "[{\"cmd\":\"count\"}]\n");
	expect_err(fd, "must be a JSON object, not an array");
	puts_(fd, "\"count\"\n");
	expect_err(fd, "not a string");
	puts_(fd, "42\n");
	expect_err(fd, "not a number");
	puts_(fd, "null\n");
	expect_err(fd, "not null");
	puts_(fd, "garbage\n");
	expect_err(fd, "not valid JSON");
	puts_(fd, "{\"cmd\":\"count\"\n");
	expect_err(fd, "not valid JSON");
	puts_(fd, "{\"cmd\":\"count\",\"cmd\":\"count\"}\n");
	expect_err(fd, "duplicate");
	puts_(fd, "{\"cmd\":\"\xff\"}\n");
	expect_err(fd, "not valid JSON");
	puts_(fd, "{\"cmd\":\"co\\u0000unt\"}\n");
	expect_err(fd, "not valid JSON");
	puts_(fd, "{}\n");
	expect_err(fd, "no \"cmd\"");
	puts_(fd, "{\"cmd\":5}\n");
	expect_err(fd, "\"cmd\" must be a string");
	assert_int_equal(counted, 0);
	/* after all that the connection still serves */
	puts_(fd, "{\"cmd\":\"count\"}\n");
	expect_ok(fd);
	assert_int_equal(counted, 1);
	close(fd);
}

/* The longest line allowed is accepted; one byte more closes the connection. */
static void test_line_length_limit(void **state)
{
	(void)state;
	static char big[CTL_MAX_LINE + 2];
	const char *req = "{\"cmd\":\"count\"}";
	int fd = dial();

	memset(big, ' ', sizeof(big));
	memcpy(big, req, strlen(req));
	big[CTL_MAX_LINE] = '\n';                 /* CTL_MAX_LINE bytes, then the newline */
	put(fd, big, CTL_MAX_LINE + 1);
	expect_ok(fd);
	big[CTL_MAX_LINE] = ' ';
	big[CTL_MAX_LINE + 1] = '\n';             /* one byte over */
	put(fd, big, CTL_MAX_LINE + 2);
	expect_err(fd, "longer than 65536 bytes");
	expect_eof(fd);
	close(fd);
	assert_int_equal(counted, 1);
	quick_call(2000);
}

/* A request cut off by the end of input is refused, not run. */
static void test_eof_inside_request(void **state)
{
	(void)state;
	int fd = dial();
	puts_(fd, "{\"cmd\":\"count\"}\n{\"cmd\":\"count\"}");
	shutdown(fd, SHUT_WR);
	expect_ok(fd);
	expect_err(fd, "ended inside a request (15 bytes without a newline)");
	expect_eof(fd);
	close(fd);
	assert_int_equal(counted, 1);
}

/* Every member is checked against the command's table before it runs. */
static void test_arguments_checked_before_running(void **state)
{
	(void)state;
	int fd = dial();
	puts_(fd, "{\"cmd\":\"echo\",\"n\":\"5\"}\n");
	expect_err(fd, "echo: \"n\" must be an integer from 0 to 100, not \"5\" (a string)");
	puts_(fd, "{\"cmd\":\"echo\",\"n\":1.5}\n");
	expect_err(fd, "\"n\" must be an integer from 0 to 100, not 1.5 (a real number)");
	puts_(fd, "{\"cmd\":\"echo\",\"n\":-5}\n");
	expect_err(fd, "\"n\" must be an integer from 0 to 100, not -5");
	puts_(fd, "{\"cmd\":\"echo\",\"n\":101}\n");
	expect_err(fd, "not 101");
	puts_(fd, "{\"cmd\":\"echo\",\"n\":99999999999999999999}\n");
	expect_err(fd, "not valid JSON");
	puts_(fd, "{\"cmd\":\"echo\",\"s\":\"\"}\n");
	expect_err(fd, "\"s\" must not be empty");
	puts_(fd, "{\"cmd\":\"echo\",\"s\":\"0123456789abcdefg\"}\n");
	expect_err(fd, "\"s\" must be 1 to 16 bytes long, not 17");
	puts_(fd, "{\"cmd\":\"echo\",\"mode\":\"c\"}\n");
	expect_err(fd, "\"mode\" must be \"a\" or \"b\", not \"c\"");
	puts_(fd, "{\"cmd\":\"echo\",\"p\":\"rel/x\"}\n");
	expect_err(fd, "\"p\" must be an absolute path, not \"rel/x\"");
	puts_(fd, "{\"cmd\":\"echo\",\"flag\":1}\n");
	expect_err(fd, "\"flag\" must be true or false, not 1 (an integer)");
	puts_(fd, "{\"cmd\":\"echo\",\"n\":null}\n");
	expect_err(fd, "not null (null)");
	puts_(fd, "{\"cmd\":\"echo\",\"bogus\":1}\n");
	expect_err(fd, "echo: unknown field \"bogus\" (echo takes n, s, mode, p, flag, need)");
	puts_(fd, "{\"cmd\":\"count\",\"n\":1}\n");
	expect_err(fd, "count: unknown field \"n\" (count takes no arguments)");
	puts_(fd, "{\"cmd\":\"need\"}\n");
	expect_err(fd, "need needs \"x\" (a digit)");
	puts_(fd, "{\"cmd\":\"echo\",\"n\":0,\"s\":\"x\",\"mode\":\"b\",\"p\":\"/x\",\"flag\":false}\n");
	expect_ok(fd);
	assert_int_equal(counted, 0);
	close(fd);
}

/* A client that sends requests and never reads its replies neither blocks
 * the others nor grows without bound: past CTL_MAX_OUTPUT it is dropped. */
static void test_client_that_never_reads(void **state)
{
	(void)state;
	int hog = dial(), fl;
	static const char req[] = "{\"cmd\":\"big\"}\n";
	unsigned sent = 0;
	bool dropped = false;
	uint64_t t0 = ms_now();

	fl = fcntl(hog, F_GETFL);
	fcntl(hog, F_SETFL, fl | O_NONBLOCK);
	/* keep sending until the server hangs up on us (EPIPE/ECONNRESET) */
	while (ms_now() - t0 < 5000) {
		ssize_t n = send(hog, req, sizeof(req) - 1, MSG_NOSIGNAL);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			dropped = true;
			break;
		}
		if (n == (ssize_t)sizeof(req) - 1) {
			/* meanwhile the others are answered at once */
			if (++sent % 16 == 0)
				quick_call(1000);
		} else if (n > 0) {
			fail_msg("short send");
		} else {
			sleep_ms(1);
		}
	}
	assert_true(dropped);
	/* it got at most the limit plus what the kernel buffered, then EOF */
	size_t got = 0;
	char buf[65536];
	ssize_t n;
	fcntl(hog, F_SETFL, fl);
	while ((n = read(hog, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	assert_true(got < (size_t)CTL_MAX_OUTPUT + 4 * 1024 * 1024);
	close(hog);
	quick_call(1000);
}

/* Replies that pile up under the limit are kept and arrive in order once
 * the client reads; while they wait, others are served. */
static void test_slow_reader_keeps_its_replies(void **state)
{
	(void)state;
	int slow = dial(), n = 28;           /* 28 x ~8 KiB: under the 256 KiB limit */
	for (int i = 0; i < n; i++)
		puts_(slow, "{\"cmd\":\"big\"}\n");
	puts_(slow, "{\"cmd\":\"count\"}\n");
	sleep_ms(100);
	quick_call(1000);
	for (int i = 0; i < n; i++) {
		json_t *r = reply(slow);
		assert_int_equal(json_string_length(json_object_get(r, "pad")), 8192);
		json_decref(r);
	}
	json_t *r = reply(slow);
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
	json_decref(r);
	close(slow);
}

/* Idle clients are closed after idle_ms (300 here) with a line saying so;
 * trickling a request byte by byte does not count as activity; clients
 * that keep asking stay. */
static void test_idle_timeout(void **state)
{
	(void)state;
	char buf[512];
	int idle = dial(), trickle = dial(), busy = dial();
	uint64_t t0 = ms_now();

	for (int i = 0; i < 8; i++) {
		sleep_ms(100);
		(void)send(trickle, "{", 1, MSG_NOSIGNAL);    /* fails once it is closed */
		puts_(busy, "{\"cmd\":\"count\"}\n");
		expect_ok(busy);
	}
	/* by now (800 ms) both others are gone */
	assert_true(line(idle, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "closed after 0.3 s without a complete request"));
	expect_eof(idle);
	assert_true(line(trickle, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "without a complete request"));
	expect_eof(trickle);
	assert_true(ms_now() - t0 < 2000);
	puts_(busy, "{\"cmd\":\"count\"}\n");
	expect_ok(busy);
	close(idle);
	close(trickle);
	close(busy);
}

/* With every slot taken, a newcomer still gets in: the client idle
 * longest makes room and is told why. */
static void test_client_limit_evicts_the_idlest(void **state)
{
	(void)state;
	int fds[CTL_MAX_CLIENTS];
	char buf[512];

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		fds[i] = dial();
		puts_(fds[i], "{\"cmd\":\"count\"}\n");
		expect_ok(fds[i]);          /* registered, in this order */
		sleep_ms(2);
	}
	/* fds[0] is idle longest; keep fds[1] busy so only the order matters */
	quick_call(2000);
	assert_true(line(fds[0], buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "maximum of 16 clients"));
	expect_eof(fds[0]);
	for (int i = 1; i < CTL_MAX_CLIENTS; i++) {
		puts_(fds[i], "{\"cmd\":\"count\"}\n");
		expect_ok(fds[i]);
	}
	/* many more idle connections than slots: a real client still gets through */
	int more[3 * CTL_MAX_CLIENTS];
	for (int i = 0; i < 3 * CTL_MAX_CLIENTS; i++)
		more[i] = dial();
	sleep_ms(50);
	quick_call(2000);
	for (int i = 0; i < 3 * CTL_MAX_CLIENTS; i++)
		close(more[i]);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		close(fds[i]);
	quick_call(2000);
}

/* Out of descriptors, the server keeps serving the clients it has and
 * takes the newcomer once a descriptor is free again. */
static void test_accept_without_fds(void **state)
{
	(void)state;
	struct rlimit old, low;
	int keep = dial(), spare[64], nspare = 0, waiting, base = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char buf[512];

	puts_(keep, "{\"cmd\":\"count\"}\n");
	expect_ok(keep);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* use up every descriptor below a low limit but one, for the client */
	assert_true(base >= 0);
	int top = dup(base);
	assert_true(top >= 0);
	low = old;
	low.rlim_cur = (rlim_t)top + 8;
	close(top);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int fd; nspare < 64 && (fd = dup(base)) >= 0;)
		spare[nspare++] = fd;
	close(spare[--nspare]);
	waiting = dial();                         /* takes the last descriptor */
	puts_(waiting, "{\"cmd\":\"count\"}\n");
	sleep_ms(300);                            /* accept fails meanwhile */
	puts_(keep, "{\"cmd\":\"count\"}\n");
	expect_ok(keep);
	while (nspare)
		close(spare[--nspare]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(line(waiting, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"ok\":true"));
	close(waiting);
	close(keep);
	close(base);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);     /* a closed connection is an error to look at, not death */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_and_pipelining, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_are_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_length_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_inside_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments_checked_before_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_that_never_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader_keeps_its_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup_short_idle, teardown),
		cmocka_unit_test_setup_teardown(test_client_limit_evicts_the_idlest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_without_fds, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
