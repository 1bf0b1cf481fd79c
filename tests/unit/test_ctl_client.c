/* test_ctl_client.c - the control client (client.c) against servers that
 * misbehave: one that accepts and never answers, one whose backlog is full,
 * one that is not listening, one that answers garbage or hangs up; and
 * `tern ctl`'s words to requests and its --timeout (request.c). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl/ctl.h"
#include "util/io.h"

static char dir[48], path[96], err[1024];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tern-ctlc-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static uint64_t ms_now(void)
{
	return now__ns() / 1000000;
}

/* A socket bound at path; listening with backlog if backlog >= 0. */
static int bound(int backlog)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* Call "status" with timeout_ms; expect failure naming words, within limit_ms. */
static void call_fails(int timeout_ms, int limit_ms, const char *w1, const char *w2)
{
	json_t *req = json_pack("{s:s}", "cmd", "status");
	uint64_t t0 = ms_now();
	json_t *rep = ctl__call_timeout(path, req, timeout_ms, err, sizeof(err));
	uint64_t took = ms_now() - t0;
	json_decref(req);
	if (rep)
		fail_msg("call succeeded, expected '%s'", w1);
	if (took > (uint64_t)limit_ms)
		fail_msg("gave up after %llu ms, limit %d: %s", (unsigned long long)took, limit_ms, err);
	if (!strstr(err, w1) || (w2 && !strstr(err, w2)))
		fail_msg("error '%s' does not mention '%s' and '%s'", err, w1, w2 ? w2 : "");
}

/* A server that accepts and then does one thing (or nothing) per client. */
enum behaviour { SILENT, GARBAGE, HANGUP, ECHO_LINE };
struct fake { int lfd; enum behaviour how; char got[512]; };

static void *serve_one(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, f->got, sizeof(f->got) - 1);
	f->got[n > 0 ? n : 0] = '\0';
	switch (f->how) {
	case SILENT: {
		struct timespec ts = { 3, 0 };
		nanosleep(&ts, NULL);
		break;
	}
	case GARBAGE:
		(void)write__full(fd, "not json\n", 9);
		break;
	case HANGUP:
		break;
	case ECHO_LINE:
		(void)write__full(fd, "{\"ok\":true,\"x\":1}\n{\"ok\":false}\n", 30);
		break;
	}
	close(fd);
	return NULL;
}

static void test_accepts_never_answers(void **state)
{
	(void)state;
	struct fake f = { .lfd = bound(4), .how = SILENT };
	pthread_t t;
	pthread_create(&t, NULL, serve_one, &f);
	call_fails(300, 1500, "timed out after 0.3 s waiting for the reply to \"status\"", path);
	pthread_join(t, NULL);
	/* the request went out whole, as one line */
	assert_string_equal(f.got, "{\"cmd\":\"status\"}\n");
	close(f.lfd);
}

static void test_backlog_full(void **state)
{
	(void)state;
	int lfd = bound(0), fill[8], n = 0;
	/* fill the backlog: further connects would block */
	for (; n < 8; n++) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
		fill[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fill[n], (struct sockaddr *)&a, sizeof(a)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(fill[n]);
			break;
		}
	}
	call_fails(300, 1500, "timed out after 0.3 s connecting to control socket", path);
	while (n)
		close(fill[--n]);
	close(lfd);
}

static void test_not_listening(void **state)
{
	(void)state;
	int fd = bound(-1);
	call_fails(5000, 500, "cannot connect to control socket", "is the VM running?");
	close(fd);
	unlink(path);
	call_fails(5000, 500, "No such file", path);
	/* not a socket at all */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	call_fails(5000, 500, "cannot connect", path);
}

static void test_bad_replies(void **state)
{
	(void)state;
	struct fake f = { .lfd = bound(4), .how = GARBAGE };
	pthread_t t;
	pthread_create(&t, NULL, serve_one, &f);
	call_fails(2000, 1500, "not a JSON object", path);
	pthread_join(t, NULL);
	f.how = HANGUP;
	pthread_create(&t, NULL, serve_one, &f);
	call_fails(2000, 1500, "no reply to \"status\"", path);
	pthread_join(t, NULL);
	/* only the first line is the reply */
	f.how = ECHO_LINE;
	pthread_create(&t, NULL, serve_one, &f);
	json_t *req = json_pack("{s:s}", "cmd", "status");
	json_t *rep = ctl__call_timeout(path, req, 2000, err, sizeof(err));
	pthread_join(t, NULL);
	assert_non_null(rep);
	assert_int_equal(json_integer_value(json_object_get(rep, "x")), 1);
	json_decref(rep);
	json_decref(req);
	close(f.lfd);
}

/* words -> request */
static json_t *words(int argc, ...)
{
	char *argv[8];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	strcpy(err, "(unset)");
	return ctl_request__from_words(argc, argv, err, sizeof(err));
}

static void same(json_t *got, const char *want)
{
	json_error_t je;
	json_t *w = json_loads(want, 0, &je);
	assert_non_null(got);
	assert_non_null(w);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT);
		fail_msg("got %s, want %s", g, want);
	}
	json_decref(w);
	json_decref(got);
}

static void refused(json_t *got, const char *word)
{
	if (got)
		fail_msg("accepted, expected an error with '%s'", word);
	if (!strstr(err, word))
		fail_msg("error '%s' does not mention '%s'", err, word);
}

static void test_words_to_requests(void **state)
{
	(void)state;
	char cwd[512], want[1024];
	assert_non_null(getcwd(cwd, sizeof(cwd)));

	same(words(1, "status"), "{\"cmd\":\"status\"}");
	same(words(1, "frobnicate"), "{\"cmd\":\"frobnicate\"}");   /* the VM names unknown commands */
	same(words(2, "snapshot", "/a/b"), "{\"cmd\":\"snapshot\",\"path\":\"/a/b\"}");
	snprintf(want, sizeof(want), "{\"cmd\":\"snapshot\",\"path\":\"%s/vm.snap\"}", cwd);
	same(words(2, "snapshot", "vm.snap"), want);
	same(words(2, "migrate", "tcp:h:4444"), "{\"cmd\":\"migrate\",\"uri\":\"tcp:h:4444\"}");
	same(words(2, "handoff", "/n.sock"), "{\"cmd\":\"handoff\",\"to\":\"/n.sock\"}");
	same(words(3, "handoff", "/n.sock", "token"),
	     "{\"cmd\":\"handoff\",\"to\":\"/n.sock\",\"cc-transfer\":\"token\"}");
	same(words(2, "raw", "{\"cmd\":\"x\",\"y\":[1]}"), "{\"cmd\":\"x\",\"y\":[1]}");

	refused(words(0), "no command");
	refused(words(1, "snapshot"), "snapshot needs a PATH");
	refused(words(2, "snapshot", ""), "snapshot needs a PATH");
	refused(words(3, "snapshot", "a", "b"), "snapshot needs a PATH");
	refused(words(1, "migrate"), "migrate needs a URI");
	refused(words(1, "handoff"), "handoff needs");
	refused(words(3, "handoff", "/n.sock", "copy"), "must be move or token, not \"copy\"");
	refused(words(2, "status", "now"), "status takes no arguments (got \"now\")");
	refused(words(1, "raw"), "raw needs one JSON object argument");
	refused(words(2, "raw", "{\"cmd\":"), "raw needs one JSON object argument");
	refused(words(2, "raw", "[1]"), "raw needs one JSON object argument");
	refused(words(2, "raw", "{\"cmd\":\"a\",\"cmd\":\"b\"}"), "JSON object");
	refused(words(2, "raw", "{\"cmd\":\"status\"} junk"), "JSON object");
	refused(words(2, "snapshot", "\xff"), "not UTF-8");
}

static void test_timeouts(void **state)
{
	(void)state;
	int ms = -1;
	assert_int_equal(ctl_request__parse_timeout("5", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(ctl_request__parse_timeout("0.5", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(ctl_request__parse_timeout("0.0001", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(ctl_request__parse_timeout("86400", &ms, err, sizeof(err)), 0);
	assert_int_equal(ms, 86400000);
	static const char *const bad[] = { "", "abc", "-1", "0", "0.0", "nan", "inf", "1e9", "5s", "86401", "0x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ctl_request__parse_timeout(bad[i], &ms, err, sizeof(err)) == 0)
			fail_msg("--timeout '%s' accepted", bad[i]);
		assert_non_null(strstr(err, "--timeout"));
		assert_non_null(strstr(err, "number of seconds"));
	}
	assert_int_equal(ctl_request__timeout_ms("status"), CTL_TIMEOUT_MS);
	assert_int_equal(ctl_request__timeout_ms(NULL), CTL_TIMEOUT_MS);
	assert_int_equal(ctl_request__timeout_ms("snapshot"), CTL_TIMEOUT_SNAPSHOT_MS);
	assert_int_equal(ctl_request__timeout_ms("handoff"), CTL_TIMEOUT_HANDOFF_MS);
	/* handoff's own steps (5 + 30 + 10 + 10 s, handoff_send.c) fit in its default */
	assert_true(CTL_TIMEOUT_HANDOFF_MS > 55000);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accepts_never_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_listening, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_replies, setup, teardown),
		cmocka_unit_test(test_words_to_requests),
		cmocka_unit_test(test_timeouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
