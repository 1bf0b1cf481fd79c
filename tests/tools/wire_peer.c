/* wire_peer.c - a minimal, hostile migration or handoff source for tests.
 *
 *   wire_peer migrate tcp:HOST:PORT MEM_BYTES NCPUS [replay|postcopy-more]
 *   wire_peer handoff PATH MEM_BYTES NCPUS memfd4k|pipe
 *   wire_peer handoff-at URI      (only a handoff HELLO, e.g. at a migration port)
 *   wire_peer hello-wait URI      (a migration HELLO, then silence until the
 *                                  destination closes the connection, at most 60 s)
 *
 * The CONFIG echoes the receiver's HELLO nonce, as a real source does;
 * with `replay` it carries another connection's nonce instead, as a
 * captured stream replayed into a fresh destination would. With
 * `postcopy-more`, an accepted CONFIG is followed by a well-formed
 * POSTCOPY_MORE out of turn (no POSTCOPY came first), and its reply is
 * what is printed and judged.
 *
 * Sends HELLO and a CONFIG that describes a VM of MEM_BYTES and NCPUS (for
 * handoff, with a 4 KiB memfd or a pipe offered as guest RAM) and prints
 * the destination's reply to CONFIG. Exit 0 when the destination refused
 * the CONFIG with a message (what a test of bad input expects), 1 when it
 * accepted it, 2 on a transport error (the destination died?). It uses
 * tern's own record writer and wire code, so only the values are hostile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/transport.h"
#include "migrate/wire.h"
#include "state/record.h"
#include "util/memfd.h"
#include "vm/state.h"

static int config_payload(uint64_t mem, uint64_t ncpus, const uint8_t *nonce, void **buf, size_t *len)
{
	struct rec_writer w;
	struct tlv_buf b;
	uint64_t region[2] = { 0, mem };
	int fd = memfd__new("wire-peer-config"), r;
	if (fd < 0)
		return fd;
	tlv__init(&b);
	tlv__put_u64(&b, CFG_MEM, REC_F_REQUIRED, mem);
	tlv__put_u64(&b, CFG_NCPUS, REC_F_REQUIRED, ncpus);
	tlv__put_u64(&b, CFG_CC, REC_F_REQUIRED, 0);
	tlv__put(&b, CFG_RAM_REGIONS, REC_F_REQUIRED, region, sizeof(region));
	r = b.error ? b.error : rec__writer_init(&w, fd);
	if (!r)
		r = rec__write(&w, REC_VM_CONFIG, VM_CONFIG_VERSION, REC_F_REQUIRED, b.data, b.len);
	if (!r)
		r = rec__write(&w, REC_WIRE_NONCE, 1, REC_F_REQUIRED, nonce, WIRE_NONCE_LEN);
	if (!r)
		r = rec__writer_finish(&w);
	if (!r)
		r = memfd__take(fd, buf, len);
	tlv__free(&b);
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	uint8_t nonce[WIRE_NONCE_LEN];
	struct wire_msg m;
	char err[512] = "";
	void *buf;
	size_t len;
	int sock, fds[2], nfds = 0, r;

	if (argc == 3 && !strcmp(argv[1], "handoff-at")) {
		if ((sock = transport__connect(argv[2], 5000, err, sizeof(err))) < 0 ||
		    wire__hello(sock, WIRE_HANDOFF, 5000, nonce, err, sizeof(err))) {
			printf("refused: %s\n", err);
			return 0;
		}
		printf("accepted\n");
		return 1;
	}
	if (argc == 3 && !strcmp(argv[1], "hello-wait")) {
		/* a source that stops after the handshake: the destination waits
		 * in WAIT_CONFIG until it is cancelled; exit 0 once it hung up */
		if ((sock = transport__connect(argv[2], 5000, err, sizeof(err))) < 0 ||
		    wire__hello(sock, WIRE_MIGRATE, 5000, nonce, err, sizeof(err))) {
			fprintf(stderr, "wire_peer: HELLO: %s\n", err);
			return 2;
		}
		printf("hello accepted\n");
		fflush(stdout);
		r = wire__recv(sock, &m, 60000);
		if (!r)
			wire__msg_free(&m);
		printf("%s\n", r == -ETIMEDOUT ? "still open" : "closed");
		return r == -ETIMEDOUT ? 1 : 0;
	}
	if (argc < 5 || (strcmp(argv[1], "migrate") && strcmp(argv[1], "handoff")) ||
	    (!strcmp(argv[1], "handoff") && argc < 6)) {
		fprintf(stderr, "usage: wire_peer migrate tcp:HOST:PORT MEM NCPUS [replay|postcopy-more]\n"
				"       wire_peer handoff PATH MEM NCPUS memfd4k|pipe\n"
				"       wire_peer handoff-at URI\n"
				"       wire_peer hello-wait URI\n");
		return 2;
	}
	bool handoff = !strcmp(argv[1], "handoff");
	bool replay = !handoff && argc > 5 && !strcmp(argv[5], "replay");
	bool more = !handoff && argc > 5 && !strcmp(argv[5], "postcopy-more");
	uint64_t mem = strtoull(argv[3], NULL, 0), ncpus = strtoull(argv[4], NULL, 0);

	if (handoff) {
		char uri[300];
		snprintf(uri, sizeof(uri), "unix:%s", argv[2]);
		sock = transport__connect(uri, 5000, err, sizeof(err));
	} else {
		sock = transport__connect(argv[2], 5000, err, sizeof(err));
	}
	if (sock < 0) {
		fprintf(stderr, "wire_peer: %s\n", err);
		return 2;
	}
	if (wire__hello(sock, handoff ? WIRE_HANDOFF : WIRE_MIGRATE, 5000, nonce, err, sizeof(err))) {
		fprintf(stderr, "wire_peer: HELLO: %s\n", err);
		return 2;
	}
	if (replay)
		nonce[0] ^= 0xff;            /* what an earlier connection was given */
	if (handoff) {
		if (!strcmp(argv[5], "pipe")) {
			if (pipe(fds))
				return 2;
		} else {
			fds[0] = memfd__new("wire-peer-ram");
			if (fds[0] < 0 || ftruncate(fds[0], 4096))
				return 2;
		}
		fds[1] = memfd__new("wire-peer-commit");
		if (fds[1] < 0 || ftruncate(fds[1], 4096))
			return 2;
		nfds = 2;
	}
	if ((r = config_payload(mem, ncpus, nonce, &buf, &len))) {
		fprintf(stderr, "wire_peer: config: %s\n", strerror(-r));
		return 2;
	}
	if ((r = wire__send(sock, W_CONFIG, 0, buf, len, fds, nfds))) {
		fprintf(stderr, "wire_peer: CONFIG: %s\n", strerror(-r));
		return 2;
	}
	free(buf);
	r = wire__recv(sock, &m, 30000);
	if (r) {
		fprintf(stderr, "wire_peer: no reply to CONFIG: %s\n", strerror(-r));
		return 2;
	}
	int refused = m.h.cmd == W_REPLY && (m.h.flags & 1);
	if (more && !refused) {
		struct wire_postcopy h = { .npages = mem / 4096, .missing = 0 };
		size_t words = (h.npages + 63) / 64;
		uint64_t *bits = calloc(words ? words : 1, 8);
		wire__msg_free(&m);
		if (!bits || wire__send2(sock, W_POSTCOPY_MORE, 0, &h, sizeof(h), bits, words * 8, NULL, 0) ||
		    wire__recv(sock, &m, 30000)) {
			fprintf(stderr, "wire_peer: no reply to POSTCOPY_MORE\n");
			return 2;
		}
		free(bits);
		refused = m.h.cmd == W_REPLY && (m.h.flags & 1);
	}
	printf("%s%s\n", refused ? "refused: " : "accepted", refused ? (char *)m.data : "");
	wire__msg_free(&m);
	close(sock);
	return refused ? 0 : 1;
}
