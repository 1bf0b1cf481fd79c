/* test_tls.c - migrate/tls.c without KVM: tls__load refuses missing,
 * broken and mismatched credentials naming the file; a client and a server
 * on a socketpair handshake, and 8 MiB cross the returned fds intact both
 * ways; a wrong name and a wrong CA are refused on both ends.
 * Credentials come from scripts/tls-certs (run from the source tree);
 * without the openssl command the tests that need them skip. */
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "migrate/tls.h"

static char dir[64];                  /* a temporary directory with ok/, other/ */

static int make_creds(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tern-tls-unit.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "command -v openssl >/dev/null && test -x scripts/tls-certs && "
		 "scripts/tls-certs %s/ok 2>/dev/null && scripts/tls-certs %s/other 2>/dev/null", dir, dir);
	if (system(cmd))
		dir[0] = '\0';                /* tests that need credentials skip */
	return 0;
}

static int remove_creds(void **state)
{
	char cmd[128];
	(void)state;
	if (dir[0] && !strncmp(dir, "/tmp/tern-tls-unit.", 19)) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			return -1;
	}
	return 0;
}

static void need_creds(void)
{
	if (!dir[0]) {
		printf("SKIP: no credentials (needs the openssl command and scripts/tls-certs, run from the source tree)\n");
		skip();
	}
}

static void refused(const char *d, bool server, const char *want)
{
	char err[512] = "";
	struct tls_creds *c = tls__load(d, server, err, sizeof(err));
	if (c)
		fail_msg("%s accepted", d);
	if (!strstr(err, want))
		fail_msg("%s: '%s' does not say '%s'", d, err, want);
}

static void test_load_missing(void **state)
{
	char d[128], cmd[1024];
	(void)state;
	refused("/nonexistent/tern-tls", true, "No such file");
	need_creds();
	/* the server's files, asked for as a client: client-cert.pem is missing */
	snprintf(d, sizeof(d), "%s/half", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp %s/ok/ca-cert.pem %s/ok/server-cert.pem %s/ok/server-key.pem %s/",
		 d, dir, dir, dir, d);
	assert_int_equal(system(cmd), 0);
	refused(d, false, "client-cert.pem");
	/* a key of another certificate */
	snprintf(cmd, sizeof(cmd), "cp %s/other/server-key.pem %s/", dir, d);
	assert_int_equal(system(cmd), 0);
	refused(d, true, "does not match");
	/* not PEM at all */
	snprintf(cmd, sizeof(cmd), "echo garbage > %s/ca-cert.pem", d);
	assert_int_equal(system(cmd), 0);
	refused(d, true, "ca-cert.pem: not a CA certificate");
}

struct side {
	struct tls_creds *c;
	int sock, fd;
	const char *name;                 /* client: the server's expected name */
	char err[512];
};

static void *server_side(void *arg)
{
	struct side *s = arg;
	s->fd = tls__server(s->c, s->sock, 5000, s->err, sizeof(s->err));
	return NULL;
}

/* Handshake client and server creds over a socketpair; fds in *cl, *sv. */
static void handshake(const char *cdir, const char *sdir, const char *name, struct side *cl, struct side *sv)
{
	char err[512];
	int sp[2];
	pthread_t t;
	memset(cl, 0, sizeof(*cl));
	memset(sv, 0, sizeof(*sv));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	cl->c = tls__load(cdir, false, err, sizeof(err));
	sv->c = tls__load(sdir, true, err, sizeof(err));
	assert_non_null(cl->c);
	assert_non_null(sv->c);
	sv->sock = sp[1];
	cl->sock = sp[0];
	assert_int_equal(pthread_create(&t, NULL, server_side, sv), 0);
	cl->fd = tls__client(cl->c, cl->sock, name, 5000, cl->err, sizeof(cl->err));
	pthread_join(t, NULL);
}

static void done(struct side *cl, struct side *sv)
{
	if (cl->fd >= 0)
		close(cl->fd);
	if (sv->fd >= 0)
		close(sv->fd);
	tls__free(cl->c);
	tls__free(sv->c);
}

#define XFER (8u << 20)

static void *sink(void *arg)
{
	struct side *s = arg;
	uint8_t *buf = malloc(XFER);
	size_t got = 0;
	while (buf && got < XFER) {
		ssize_t n = read(s->fd, buf + got, XFER - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* echo it back whole: the other direction through the same pump */
	for (size_t off = 0; buf && got == XFER && off < XFER;) {
		ssize_t n = write(s->fd, buf + off, XFER - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(buf);
	return NULL;
}

static void test_handshake_and_data(void **state)
{
	struct side cl, sv;
	char ok[128];
	pthread_t t;
	(void)state;
	need_creds();
	snprintf(ok, sizeof(ok), "%s/ok", dir);
	handshake(ok, ok, "localhost", &cl, &sv);
	if (cl.fd < 0 || sv.fd < 0)
		fail_msg("handshake: client '%s', server '%s'", cl.err, sv.err);
	const char *mode = tls__mode(cl.c);
	assert_true(!strcmp(mode, "kernel") || !strcmp(mode, "openssl"));
	assert_string_equal(tls__mode(NULL), "none");

	uint8_t *out = malloc(XFER), *back = malloc(XFER);
	assert_non_null(out);
	assert_non_null(back);
	for (size_t i = 0; i < XFER; i++)
		out[i] = (uint8_t)(i * 2654435761u >> 13);
	assert_int_equal(pthread_create(&t, NULL, sink, &sv), 0);
	for (size_t off = 0; off < XFER;) {
		ssize_t n = write(cl.fd, out + off, XFER - off);
		assert_true(n > 0);
		off += (size_t)n;
	}
	size_t got = 0;
	while (got < XFER) {
		ssize_t n = read(cl.fd, back + got, XFER - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	pthread_join(t, NULL);
	assert_memory_equal(out, back, XFER);
	/* the server closes: the client reads the end of the stream */
	close(sv.fd);
	sv.fd = -1;
	assert_int_equal(read(cl.fd, back, 1), 0);
	free(out);
	free(back);
	done(&cl, &sv);
}

static void test_wrong_name(void **state)
{
	struct side cl, sv;
	char ok[128];
	(void)state;
	need_creds();
	snprintf(ok, sizeof(ok), "%s/ok", dir);
	handshake(ok, ok, "elsewhere.example", &cl, &sv);
	assert_int_equal(cl.fd, -1);
	assert_int_equal(sv.fd, -1);
	if (!strstr(cl.err, "not for 'elsewhere.example'") || !strstr(cl.err, "localhost"))
		fail_msg("client: %s", cl.err);
	if (!strstr(sv.err, "refused our certificate"))
		fail_msg("server: %s", sv.err);
	done(&cl, &sv);
}

static void test_wrong_ca(void **state)
{
	struct side cl, sv;
	char ok[128], other[128];
	(void)state;
	need_creds();
	snprintf(ok, sizeof(ok), "%s/ok", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	handshake(other, ok, "localhost", &cl, &sv);
	assert_int_equal(cl.fd, -1);
	assert_int_equal(sv.fd, -1);
	if (!strstr(cl.err, "wrong CA") || !strstr(sv.err, "wrong CA"))
		fail_msg("client: %s; server: %s", cl.err, sv.err);
	done(&cl, &sv);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);         /* as tern run: a handshake's peer may be gone */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_handshake_and_data),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_wrong_ca),
	};
	return cmocka_run_group_tests(tests, make_creds, remove_creds);
}
