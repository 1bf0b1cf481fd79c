/* fuzz_wire_hello.c - libFuzzer target for the wire protocol's receiving
 * side: wire__recv (framing), wire__expect_reply (a reply and its refusal
 * text) and wire__hello (the source's reading of the receiver's answer to
 * its HELLO, which carries the session nonce). The receiver's own HELLO
 * screening (wire_accept.c) is static and needs a listening socket; its
 * framing is the same wire__recv header checks.
 *
 * Input: one mode byte (0 wire__recv, 1 wire__expect_reply, 2 wire__hello,
 * modulo 3), then the bytes the peer sends. They are written into one end
 * of a socketpair whose write side is then shut, so every read ends (data
 * or end of stream) and no run waits for a timeout.
 *
 * Seeds: TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_wire_hello writes the
 * committed seeds (tests/fuzz/corpus/wire_hello/) with tern's own
 * wire__send and exits. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migrate/wire.h"
#include "fuzz_seeds.h"

/* bytes the fuzzer can make the peer send: a socket's buffer holds them
 * all, so the write never blocks */
#define MAX_INPUT (64 * 1024)

static void feed(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			return;               /* full or gone: the receiver sees a shorter stream */
		p += n;
		len -= (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	uint8_t nonce[WIRE_NONCE_LEN];
	struct wire_msg m;
	int sv[2], bufsz = 2 * MAX_INPUT, r;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	feed(sv[1], data + 1, size - 1);
	shutdown(sv[1], SHUT_WR);

	switch (data[0] % 3) {
	case 0:
		r = wire__recv(sv[0], &m, 1000);
		if (!r) {
			/* what receivers rely on: the payload is NUL-terminated and
			 * no descriptor arrived that was not announced */
			if (m.h.length > WIRE_MAX_PAYLOAD || m.data[m.h.length] != '\0' ||
			    (uint32_t)m.nfds != m.h.nfds)
				abort();
			wire__msg_free(&m);
		} else if (m.data || m.nfds) {
			abort();              /* "on error nothing is left allocated" */
		}
		break;
	case 1:
		if (!wire__expect_reply(sv[0], &m, 1000, err, sizeof(err))) {
			if (m.h.cmd != W_REPLY || m.h.flags)
				abort();
			wire__msg_free(&m);
		} else if (!err[0]) {
			abort();
		}
		break;
	case 2:
		if (wire__hello(sv[0], WIRE_MIGRATE, 1000, nonce, err, sizeof(err)) && !err[0])
			abort();
		break;
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/* ---- seeds ----------------------------------------------------------- */

/* One seed: mode, then what wire__send puts on the wire for these messages. */
struct seed_msg {
	uint16_t cmd;
	uint32_t flags;
	const void *p;
	size_t len;
};

static void seed(const char *dir, const char *name, uint8_t mode, const struct seed_msg *msgs, int n,
		 const void *raw, size_t rawlen)
{
	static uint8_t buf[MAX_INPUT];
	size_t len = 0;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		exit(1);
	for (int i = 0; i < n; i++)
		if (wire__send(sv[0], msgs[i].cmd, msgs[i].flags, msgs[i].p, msgs[i].len, NULL, 0))
			exit(1);
	shutdown(sv[0], SHUT_WR);
	for (ssize_t got; (got = read(sv[1], buf + len, sizeof(buf) - len)) > 0;)
		len += (size_t)got;
	close(sv[0]);
	close(sv[1]);
	fuzz_seed__save2(dir, name, mode, buf, len, raw, rawlen);
}

static void write_seeds(const char *dir)
{
	static const char nonce[] = "tern-fuzz-nonce-0123456789abcdef", refusal[] =
		"protocol version 1 is not supported (this tern speaks 2); source is tern 0.0.9";
	static const char cfg[] = "TERNSTAT";
	struct wire_hello hello = { .proto = WIRE_VERSION, .rec_major = 1, .kind = WIRE_MIGRATE,
				    .tern_version = "tern 0.1.0" };
	struct wire_commit commit = { .pause_ns = 123456789, .cc_transfer = 0 };
	struct wire_hdr bad = { .magic = 0x50545448u, .version = WIRE_VERSION, .cmd = W_HELLO,
				.length = sizeof(hello) };
	struct wire_hdr huge = { .magic = WIRE_MAGIC, .version = WIRE_VERSION, .cmd = W_CONFIG,
				 .length = (uint64_t)WIRE_MAX_PAYLOAD + 1 };
	struct { struct wire_hdr h; char p[8]; } fds = {
		{ .magic = WIRE_MAGIC, .version = WIRE_VERSION, .cmd = W_CONFIG, .nfds = 2, .length = 8 },
		"ramfd!!" };

	/* wire__recv: a HELLO, a CONFIG, two messages, a COMMIT, garbage, too big, fds missing, cut short */
	seed(dir, "recv_hello", 0, (struct seed_msg[]){ { W_HELLO, 0, &hello, sizeof(hello) } }, 1, NULL, 0);
	seed(dir, "recv_config", 0, (struct seed_msg[]){ { W_CONFIG, 0, cfg, sizeof(cfg) - 1 } }, 1, NULL, 0);
	seed(dir, "recv_two", 0, (struct seed_msg[]){ { W_HELLO, 0, &hello, sizeof(hello) },
						     { W_COMMIT, 0, &commit, sizeof(commit) } }, 2, NULL, 0);
	seed(dir, "recv_bad_magic", 0, NULL, 0, &bad, sizeof(bad));
	seed(dir, "recv_oversized", 0, NULL, 0, &huge, sizeof(huge));
	seed(dir, "recv_fds_missing", 0, NULL, 0, &fds, sizeof(fds));
	seed(dir, "recv_truncated", 0, NULL, 0, &fds, sizeof(fds.h) - 5);
	/* wire__expect_reply: ok, a refusal, not a reply */
	seed(dir, "reply_ok", 1, (struct seed_msg[]){ { W_REPLY, 0, "", 0 } }, 1, NULL, 0);
	seed(dir, "reply_refused", 1, (struct seed_msg[]){ { W_REPLY, 1, refusal, sizeof(refusal) - 1 } },
	     1, NULL, 0);
	seed(dir, "reply_not_reply", 1, (struct seed_msg[]){ { W_ABORT, 0, "gave up", 7 } }, 1, NULL, 0);
	/* wire__hello: the receiver's nonce, none, a refusal */
	seed(dir, "hello_nonce", 2, (struct seed_msg[]){ { W_REPLY, 0, nonce, WIRE_NONCE_LEN } }, 1, NULL, 0);
	seed(dir, "hello_no_nonce", 2, (struct seed_msg[]){ { W_REPLY, 0, "", 0 } }, 1, NULL, 0);
	seed(dir, "hello_refused", 2, (struct seed_msg[]){ { W_REPLY, 1, refusal, sizeof(refusal) - 1 } },
	     1, NULL, 0);
}

FUZZ_SEEDS_MODE(write_seeds)
