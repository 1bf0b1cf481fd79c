/* test_psp_transport.c - the emulated platform's transport and robustness,
 * against the real tern-psp daemon: SEND -> RECEIVE of pages between VMs
 * (one platform and two), packet attacks, policy and certificate checks
 * (sev-semantics.md section 6), garbage datagrams, clients dying
 * mid-request, and a restart keeping the platform identity. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "psp_harness.h"

#define PKT_MAX (sizeof(struct psp_packet) + PSP_PAGE)
#define OFF_FLAGS (offsetof(struct psp_packet, hdr))
#define OFF_IV    (OFF_FLAGS + 4)
#define OFF_MAC   (OFF_IV + 16)
#define OFF_DATA  (sizeof(struct psp_packet))

static uint32_t fresh_total(int plat)
{
	struct psp_platform_info pi;
	ph_hello(plat, &pi);
	assert_int_equal(pi.asids_free, pi.asids_total);
	assert_int_equal(pi.vms, 0);
	return pi.asids_total;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* ---- SEND -> RECEIVE on one platform ----------------------------------------- */

static void test_send_receive(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm a, b;
	uint8_t pkt[PKT_MAX], page[PSP_PAGE];
	size_t n = 0;
	uint32_t fw = 0;

	ph_session(plat, &a, &b, 0);

	/* a length query: lengths only */
	struct psp_range q = { 0x5000, PSP_PAGE, PSP_RANGE_QUERY };
	struct psp_packet qp;
	ST_EQ(ph_call(a.fd, PSP_OP_ENC, PSP_SEV_SEND_UPDATE_DATA, &q, sizeof(q), -1, NULL, &qp,
		      sizeof(qp), &n), 0);
	assert_int_equal(n, sizeof(qp));
	assert_int_equal(qp.len, PSP_PAGE);
	assert_int_equal(qp.gpa, 0x5000);

	/* a whole page */
	ST_EQ(ph_send_data(a.fd, 0x5000, PSP_PAGE, NULL, pkt, sizeof(pkt), &n), 0);
	/* what travels is ciphertext */
	assert_memory_not_equal(pkt + OFF_DATA, a.mem + 0x5000, PSP_PAGE);
	ST_EQ(ph_receive_data(b.fd, pkt, n, NULL), 0);
	assert_memory_equal(b.mem + 0x5000, a.mem + 0x5000, PSP_PAGE);
	assert_true(all_bytes(b.mem + 0x4000, PSP_PAGE, 0xee));
	assert_true(all_bytes(b.mem + 0x6000, PSP_PAGE, 0xee));

	/* part of a page */
	ST_EQ(ph_send_data(a.fd, 0x6010, 100, NULL, pkt, sizeof(pkt), &n), 0);
	ST_EQ(ph_receive_data(b.fd, pkt, n, NULL), 0);
	assert_memory_equal(b.mem + 0x6010, a.mem + 0x6010, 100);
	assert_true(all_bytes(b.mem + 0x6000, 0x10, 0xee));
	assert_true(all_bytes(b.mem + 0x6074, PSP_PAGE - 0x74, 0xee));

	/* KVM's wrapper limits: one page at most, never across a boundary */
	ST_EQ(ph_send_data(a.fd, 0x7f00, 0x200, NULL, pkt, sizeof(pkt), NULL), -EINVAL);
	ST_EQ(ph_send_data(a.fd, 0x7000, 0, NULL, pkt, sizeof(pkt), NULL), -EINVAL);
	ST_EQ(ph_send_data(a.fd, 0x7000, 2 * PSP_PAGE, NULL, pkt, sizeof(pkt), NULL), -EINVAL);
	ST_EQ(ph_send_data(a.fd, 2 * TVM_MEM, PSP_PAGE, NULL, pkt, sizeof(pkt), NULL), -EINVAL);
	ST_EQ(ph_send_data(a.fd, 0x7000, PSP_PAGE, NULL, pkt, sizeof(pkt), &n), 0);
	ST_EQ(ph_receive_data(b.fd, pkt, n - 1, NULL), -EINVAL);   /* length mismatch */
	ST_EQ(ph_receive_data(b.fd, pkt, 10, NULL), -EINVAL);
	ST_EQ(ph_receive_data(b.fd, pkt, n, NULL), 0);

	/* upstream KVM implements neither SEND_ nor RECEIVE_UPDATE_VMSA */
	ST_EQ(ph_enc(a.fd, PSP_SEV_SEND_UPDATE_VMSA, NULL, 0, NULL), -EINVAL);
	ST_EQ(ph_enc(b.fd, PSP_SEV_RECEIVE_UPDATE_VMSA, NULL, 0, NULL), -EINVAL);

	/* finish: the source can never run again, the target runs */
	ST_EQ(ph_enc(a.fd, PSP_SEV_SEND_FINISH, NULL, 0, NULL), 0);
	assert_int_equal(ph_state(a.fd), PSP_STATE_SENT);
	ST_EQ(ph_enc(b.fd, PSP_SEV_RECEIVE_FINISH, NULL, 0, NULL), 0);
	assert_int_equal(ph_state(b.fd), PSP_STATE_RUNNING);
	FW_EQ(ph_send_data(a.fd, 0x5000, PSP_PAGE, &fw, pkt, sizeof(pkt), NULL), fw,
	      PSP_FW_INVALID_GUEST_STATE);
	ST_EQ(ph_dbg_decrypt(b.fd, 0x5000, PSP_PAGE, page, NULL), 0);
	assert_memory_equal(page, a.mem + 0x5000, PSP_PAGE);

	/* SEND_CANCEL: back to RUNNING, and a new SEND_START may follow */
	struct tvm c;
	size_t clen;
	char *chain = ph_chain(plat, &clen);
	tvm_sev(&c, plat, NULL, false, 0);
	tvm_run(&c);
	ST_EQ(ph_send_start(c.fd, chain, clen, NULL, NULL, NULL, NULL, NULL), 0);
	ST_EQ(ph_enc(c.fd, PSP_SEV_SEND_CANCEL, NULL, 0, NULL), 0);
	assert_int_equal(ph_state(c.fd), PSP_STATE_RUNNING);
	ST_EQ(ph_send_start(c.fd, chain, clen, NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(ph_state(c.fd), PSP_STATE_SUPDATE);
	free(chain);

	tvm_close(&a);
	tvm_close(&b);
	tvm_close(&c);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- packet attacks ------------------------------------------------------------ */

/* Each refused with BAD_MEASUREMENT and nothing written. */
static void refused(int vm, const uint8_t *pkt, size_t n, const struct tvm *b, const char *what)
{
	static uint8_t snap[2][PSP_PAGE];
	uint32_t fw = 0;
	memcpy(snap[0], b->mem + 0x10000, PSP_PAGE);
	memcpy(snap[1], b->mem + 0x11000, PSP_PAGE);
	int s = ph_receive_data(vm, pkt, n, &fw);
	if (s != -EIO || fw != PSP_FW_BAD_MEASUREMENT)
		fail_msg("%s: %d (%s) fw %s, want -EIO BAD_MEASUREMENT", what, s, ph_errname(s),
			 psp__fw_error_name(fw));
	if (memcmp(snap[0], b->mem + 0x10000, PSP_PAGE) || memcmp(snap[1], b->mem + 0x11000, PSP_PAGE))
		fail_msg("%s: the target's memory changed", what);
}

static void test_packet_attacks(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm a, b, c, e;
	uint8_t p1[PKT_MAX], p2[PKT_MAX], p3[PKT_MAX], x[PKT_MAX];
	size_t n1, n2, n3, nx;
	const uint64_t X = 0x10000, Y = 0x11000;

	ph_session(plat, &a, &b, 0);
	ST_EQ(ph_send_data(a.fd, X, PSP_PAGE, NULL, p1, sizeof(p1), &n1), 0);

	static const struct { size_t off; const char *what; } flips[] = {
		{ OFF_FLAGS, "flipped header flags" },
		{ OFF_FLAGS + 3, "flipped header flags (high byte)" },
		{ OFF_IV + 5, "flipped IV" },
		{ OFF_MAC + 9, "flipped MAC" },
		{ OFF_MAC + 31, "flipped MAC (last byte)" },
		{ OFF_DATA, "flipped ciphertext (first byte)" },
		{ OFF_DATA + 100, "flipped ciphertext" },
		{ OFF_DATA + PSP_PAGE - 1, "flipped ciphertext (last byte)" },
	};
	for (size_t k = 0; k < sizeof(flips) / sizeof(flips[0]); k++) {
		memcpy(x, p1, n1);
		x[flips[k].off] ^= 0x01;
		refused(b.fd, x, n1, &b, flips[k].what);
	}
	struct psp_packet h;
	/* replayed at another GPA */
	memcpy(x, p1, n1);
	memcpy(&h, x, sizeof(h));
	h.gpa = Y;
	memcpy(x, &h, sizeof(h));
	refused(b.fd, x, n1, &b, "replay at another GPA");
	/* claiming another sequence number */
	memcpy(x, p1, n1);
	h.gpa = X;
	h.seq = 2;
	memcpy(x, &h, sizeof(h));
	refused(b.fd, x, n1, &b, "another sequence number");
	/* cut short (a shorter, well-formed packet) */
	memcpy(x, p1, n1);
	h.seq = 1;
	h.len = PSP_PAGE / 2;
	memcpy(x, &h, sizeof(h));
	refused(b.fd, x, sizeof(h) + PSP_PAGE / 2, &b, "truncated packet");

	/* the genuine packet, once */
	ST_EQ(ph_receive_data(b.fd, p1, n1, NULL), 0);
	assert_memory_equal(b.mem + X, a.mem + X, PSP_PAGE);
	memset(b.mem + X, 0x11, PSP_PAGE);
	refused(b.fd, p1, n1, &b, "replay of an accepted packet");

	/* an old sequence number: genuine, but older than one accepted */
	ST_EQ(ph_send_data(a.fd, X, PSP_PAGE, NULL, p2, sizeof(p2), &n2), 0);
	ST_EQ(ph_send_data(a.fd, Y, PSP_PAGE, NULL, p3, sizeof(p3), &n3), 0);
	ST_EQ(ph_receive_data(b.fd, p3, n3, NULL), 0);
	assert_memory_equal(b.mem + Y, a.mem + Y, PSP_PAGE);
	memset(b.mem + Y, 0x22, PSP_PAGE);
	refused(b.fd, p2, n2, &b, "old sequence number");
	assert_true(all_bytes(b.mem + X, PSP_PAGE, 0x11));

	/* a packet of another session, with a sequence number b would take */
	ph_session(plat, &c, &e, 0);
	for (int k = 0; k < 5; k++)
		ST_EQ(ph_send_data(c.fd, X, PSP_PAGE, NULL, x, sizeof(x), &nx), 0);
	memcpy(&h, x, sizeof(h));
	assert_int_equal(h.seq, 5);
	refused(b.fd, x, nx, &b, "packet of another session");
	ST_EQ(ph_receive_data(e.fd, x, nx, NULL), 0);     /* where it belongs */
	assert_memory_equal(e.mem + X, c.mem + X, PSP_PAGE);

	/* the session still works after all that */
	ST_EQ(ph_send_data(a.fd, X, PSP_PAGE, NULL, p1, sizeof(p1), &n1), 0);
	ST_EQ(ph_receive_data(b.fd, p1, n1, NULL), 0);
	assert_memory_equal(b.mem + X, a.mem + X, PSP_PAGE);

	tvm_close(&a);
	tvm_close(&b);
	tvm_close(&c);
	tvm_close(&e);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- policy --------------------------------------------------------------------- */

static void test_policy(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	size_t clen;
	char *chain = ph_chain(plat, &clen);
	struct tvm ns, nd, api_hi, api_eq, api_lo;
	uint32_t fw = 0;
	uint8_t page[PSP_PAGE], before[PSP_PAGE];

	/* NOSEND: SEND_START refused */
	tvm_sev(&ns, plat, NULL, false, PSP_POLICY_NOSEND);
	tvm_run(&ns);
	FW_EQ(ph_send_start(ns.fd, chain, clen, &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_POLICY_FAILURE);
	assert_int_equal(ph_state(ns.fd), PSP_STATE_RUNNING);

	/* NODBG: no debug access, from the owner or a mirror */
	tvm_sev(&nd, plat, NULL, false, PSP_POLICY_NODBG);
	memcpy(before, nd.mem, PSP_PAGE);
	FW_EQ(ph_dbg_decrypt(nd.fd, 0, PSP_PAGE, page, &fw), fw, PSP_FW_POLICY_FAILURE);
	memset(page, 0, sizeof(page));
	FW_EQ(ph_dbg_encrypt(nd.fd, 0, page, 64, &fw), fw, PSP_FW_POLICY_FAILURE);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, nd.fd), 0);
	FW_EQ(ph_dbg_decrypt(m, 0, PSP_PAGE, page, &fw), fw, PSP_FW_POLICY_FAILURE);
	FW_EQ(ph_dbg_encrypt(m, 0, page, 64, &fw), fw, PSP_FW_POLICY_FAILURE);
	assert_memory_equal(nd.mem, before, PSP_PAGE);

	/* the receiver's API version must meet the policy's minimum (1.55 here) */
	tvm_sev(&api_hi, plat, NULL, false, 2u << 16);
	tvm_run(&api_hi);
	FW_EQ(ph_send_start(api_hi.fd, chain, clen, &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_POLICY_FAILURE);
	tvm_sev(&api_lo, plat, NULL, false, (1u << 16) | ((uint32_t)(PSP_API_MINOR + 1) << 24));
	tvm_run(&api_lo);
	FW_EQ(ph_send_start(api_lo.fd, chain, clen, &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_POLICY_FAILURE);
	tvm_sev(&api_eq, plat, NULL, false, (1u << 16) | ((uint32_t)PSP_API_MINOR << 24));
	tvm_run(&api_eq);
	ST_EQ(ph_send_start(api_eq.fd, chain, clen, &fw, NULL, NULL, NULL, NULL), 0);

	close(m);
	tvm_close(&ns);
	tvm_close(&nd);
	tvm_close(&api_hi);
	tvm_close(&api_lo);
	tvm_close(&api_eq);
	free(chain);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- certificates --------------------------------------------------------------- */

static void test_foreign_chain(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	size_t clen, c2len;
	char *chain = ph_chain(plat, &clen);
	struct tvm a;
	uint32_t fw = 0;
	uint8_t session[PSP_SESSION_LEN];

	/* another platform: another state directory, another root */
	struct pd *d2 = pd_start(NULL, NULL);
	int plat2 = pd_connect(d2);
	char *chain2 = ph_chain(plat2, &c2len);
	assert_false(c2len == clen && !memcmp(chain, chain2, clen));

	tvm_sev(&a, plat, NULL, false, 0);
	tvm_run(&a);
	FW_EQ(ph_send_start(a.fd, chain2, c2len, &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_INVALID_CERTIFICATE);
	assert_int_equal(ph_state(a.fd), PSP_STATE_RUNNING);

	/* its PDH certificate with our root appended */
	const char *root1 = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
	const char *root2 = strstr(chain2 + 1, "-----BEGIN CERTIFICATE-----");
	assert_non_null(root1);
	assert_non_null(root2);
	size_t pdh2 = (size_t)(root2 - chain2);
	char *mixed = malloc(pdh2 + strlen(root1) + 1);
	assert_non_null(mixed);
	memcpy(mixed, chain2, pdh2);
	strcpy(mixed + pdh2, root1);
	FW_EQ(ph_send_start(a.fd, mixed, strlen(mixed), &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_INVALID_CERTIFICATE);
	/* our own root alone (a CA certificate, not a PDH one) */
	FW_EQ(ph_send_start(a.fd, root1, strlen(root1), &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_INVALID_CERTIFICATE);
	/* garbage */
	FW_EQ(ph_send_start(a.fd, "garbage", 7, &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_INVALID_CERTIFICATE);
	ST_EQ(ph_send_start(a.fd, chain, 0, &fw, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ph_state(a.fd), PSP_STATE_RUNNING);

	/* the receiving side checks the sender's chain the same way */
	int b = ph_sev_only(plat, NULL, false);
	memset(session, 0, sizeof(session));
	FW_EQ(ph_receive_start(b, 0, session, chain2, c2len, &fw, NULL), fw,
	      PSP_FW_INVALID_CERTIFICATE);
	FW_EQ(ph_status(b, &(struct psp_guest_status){ 0 }, &fw), fw, PSP_FW_INVALID_GUEST);

	/* and our own chain still works */
	ST_EQ(ph_send_start(a.fd, chain, clen, &fw, NULL, NULL, NULL, NULL), 0);

	tvm_close(&a);
	close(b);
	close(plat2);
	free(mixed);
	free(chain);
	free(chain2);
	ph_wait(plat, 0, total);
	close(plat);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Two platforms that trust each other's root (--trust): a page migrates
 * from one to the other. */
static void test_cross_platform(void **state)
{
	(void)state;
	struct pd *x0 = pd_start(NULL, NULL), *y0 = pd_start(NULL, NULL);
	size_t xl, yl, n = 0, sl = 0;
	int px = pd_connect(x0), py = pd_connect(y0);
	char *cx = ph_chain(px, &xl), *cy = ph_chain(py, &yl), *sender = NULL;
	char tx[400], ty[400];
	close(px);
	close(py);
	assert_int_equal(pd_stop(x0), 0);
	assert_int_equal(pd_stop(y0), 0);

	snprintf(tx, sizeof(tx), "%s/trust.pem", x0->dir);
	snprintf(ty, sizeof(ty), "%s/trust.pem", y0->dir);
	const char *ry = strstr(cy + 1, "-----BEGIN CERTIFICATE-----");
	const char *rx = strstr(cx + 1, "-----BEGIN CERTIFICATE-----");
	write_file(tx, ry, strlen(ry));                   /* X trusts Y's root */
	write_file(ty, rx, strlen(rx));                   /* and Y X's */
	struct pd *x = pd_start(x0->state, "--trust", tx, NULL);
	struct pd *y = pd_start(y0->state, "--trust", ty, NULL);
	px = pd_connect(x);
	py = pd_connect(y);

	struct tvm a, b;
	uint8_t session[PSP_SESSION_LEN], pkt[PKT_MAX];
	uint32_t pol = 0, fw = 0;
	tvm_sev(&a, px, NULL, false, 0);
	tvm_run(&a);
	/* X no longer trusts its own root */
	FW_EQ(ph_send_start(a.fd, cx, xl, &fw, NULL, NULL, NULL, NULL), fw,
	      PSP_FW_INVALID_CERTIFICATE);
	ST_EQ(ph_send_start(a.fd, cy, yl, &fw, session, &pol, &sender, &sl), 0);
	assert_int_equal(sl, xl);
	assert_memory_equal(sender, cx, xl);

	tvm_mem(&b);
	b.fd = ph_sev_only(py, NULL, false);
	ST_EQ(ph_region(b.fd, b.memfd, 0, TVM_MEM, 0), 0);
	ST_EQ(ph_receive_start(b.fd, pol, session, sender, sl, &fw, NULL), 0);
	for (uint64_t gpa = 0; gpa < 8 * PSP_PAGE; gpa += PSP_PAGE) {
		ST_EQ(ph_send_data(a.fd, gpa, PSP_PAGE, NULL, pkt, sizeof(pkt), &n), 0);
		ST_EQ(ph_receive_data(b.fd, pkt, n, NULL), 0);
	}
	assert_memory_equal(b.mem, a.mem, 8 * PSP_PAGE);
	ST_EQ(ph_enc(a.fd, PSP_SEV_SEND_FINISH, NULL, 0, NULL), 0);
	ST_EQ(ph_enc(b.fd, PSP_SEV_RECEIVE_FINISH, NULL, 0, NULL), 0);
	assert_int_equal(ph_state(b.fd), PSP_STATE_RUNNING);

	/* the session is bound to the policy */
	int b2 = ph_sev_only(py, NULL, false);
	FW_EQ(ph_receive_start(b2, pol ^ PSP_POLICY_NODBG, session, sender, sl, &fw, NULL), fw,
	      PSP_FW_BAD_MEASUREMENT);

	close(b2);
	tvm_close(&a);
	tvm_close(&b);
	ph_wait(px, 0, -1);
	ph_wait(py, 0, -1);
	close(px);
	close(py);
	free(cx);
	free(cy);
	free(sender);
}

/* ---- garbage -------------------------------------------------------------------- */

static struct psp_hdr hdr_of(uint16_t op, uint32_t len)
{
	return (struct psp_hdr){ .magic = PSP_MAGIC, .version = PSP_PROTO_VERSION, .op = op,
				 .len = len };
}

static void expect_raw(int sock, const void *buf, size_t len, int fd, int want, const char *what)
{
	struct psp_hdr rh;
	long n = ph_raw(sock, buf, len, fd, &rh);
	if (n < (long)sizeof(rh))
		fail_msg("%s: reply %ld (%s)", what, n, n < 0 ? ph_errname(n) : "short");
	if (rh.magic != PSP_MAGIC || rh.version != PSP_PROTO_VERSION || rh.status != want ||
	    rh.len != (uint32_t)n - sizeof(rh))
		fail_msg("%s: reply magic %x version %u status %d (%s) len %u/%ld, want status %d (%s)",
			 what, rh.magic, rh.version, rh.status, ph_errname(rh.status), rh.len,
			 n - (long)sizeof(rh), want, ph_errname(want));
}

static void garbage_on(int sock, uint16_t good_op, uint16_t foreign_op, int memfd)
{
	static uint8_t buf[PSP_MAX_MSG + 1024];
	struct psp_hdr h;

	/* random bytes */
	for (size_t i = 0; i < 100; i++)
		buf[i] = (uint8_t)rand();
	buf[0] ^= 0x80;                                   /* never the magic */
	expect_raw(sock, buf, 100, -1, -EPROTO, "random bytes");
	expect_raw(sock, buf, 3, -1, -EPROTO, "three random bytes");
	/* an empty datagram (recvmsg says 0, as at EOF, but the client is
	 * still there), alone and carrying an fd */
	expect_raw(sock, buf, 0, -1, -EPROTO, "empty datagram");
	expect_raw(sock, buf, 0, memfd, -EPROTO, "empty datagram with an fd");
	/* a short header */
	h = hdr_of(good_op, 0);
	expect_raw(sock, &h, sizeof(h) - 1, -1, -EPROTO, "short header");
	expect_raw(sock, &h, 8, -1, -EPROTO, "8-byte header");
	/* wrong magic */
	h = hdr_of(good_op, 0);
	h.magic ^= 1;
	expect_raw(sock, &h, sizeof(h), -1, -EPROTO, "wrong magic");
	/* wrong version */
	h = hdr_of(good_op, 0);
	h.version = PSP_PROTO_VERSION + 1;
	expect_raw(sock, &h, sizeof(h), -1, -EPROTONOSUPPORT, "wrong version");
	h.version = 0;
	expect_raw(sock, &h, sizeof(h), -1, -EPROTONOSUPPORT, "version 0");
	/* length mismatch */
	memset(buf, 0, 64);
	h = hdr_of(good_op, 10);
	memcpy(buf, &h, sizeof(h));
	expect_raw(sock, buf, sizeof(h) + 4, -1, -EPROTO, "length larger than the datagram");
	h = hdr_of(good_op, 0);
	memcpy(buf, &h, sizeof(h));
	expect_raw(sock, buf, sizeof(h) + 16, -1, -EPROTO, "length smaller than the datagram");
	h = hdr_of(good_op, 0xffffffffu);
	memcpy(buf, &h, sizeof(h));
	expect_raw(sock, buf, sizeof(h) + 16, -1, -EPROTO, "length 0xffffffff");
	/* larger than any message */
	memset(buf, 0x61, sizeof(buf));
	h = hdr_of(good_op, sizeof(buf) - sizeof(h));
	memcpy(buf, &h, sizeof(h));
	expect_raw(sock, buf, sizeof(buf), -1, -EPROTO, "oversized datagram");
	/* an op that does not exist, and one of the other kind of connection */
	h = hdr_of(77, 0);
	expect_raw(sock, &h, sizeof(h), -1, -EOPNOTSUPP, "unknown op");
	h = hdr_of(0, 0);
	expect_raw(sock, &h, sizeof(h), -1, -EOPNOTSUPP, "op 0");
	h = hdr_of(foreign_op, 0);
	expect_raw(sock, &h, sizeof(h), -1, -EOPNOTSUPP, "op of the other connection kind");
	/* garbage with an fd attached */
	h = hdr_of(good_op, 0);
	h.magic = 0;
	expect_raw(sock, &h, sizeof(h), memfd, -EPROTO, "garbage with an fd");
	/* and after all of it the connection serves */
	ST_EQ(ph_call(sock, good_op, 0, NULL, 0, -1, NULL, NULL, 0, NULL), 0);
}

static void test_garbage(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm v;
	struct psp_vm_info before, after;

	srand(1234);
	tvm_sev(&v, plat, NULL, false, 0);
	ph_info(v.fd, &before);
	garbage_on(plat, PSP_OP_HELLO, PSP_OP_ENC, v.memfd);
	garbage_on(v.fd, PSP_OP_VM_INFO, PSP_OP_HELLO, v.memfd);
	ph_info(v.fd, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	/* platform ops on a VM handle */
	ST_EQ(ph_call(v.fd, PSP_OP_VM_CREATE, 0, NULL, 0, -1, NULL, NULL, 0, NULL), -EOPNOTSUPP);
	ST_EQ(ph_call(v.fd, PSP_OP_EXPORT_CHAIN, 0, NULL, 0, -1, NULL, NULL, 0, NULL), -EOPNOTSUPP);
	/* a malformed VM_CREATE */
	ST_EQ(ph_call(plat, PSP_OP_VM_CREATE, 0, "x", 1, -1, NULL, NULL, 0, NULL), -EINVAL);

	tvm_close(&v);
	ph_wait(plat, 0, total);
	close(plat);
}

/* Well-framed requests with random ops, command ids and payloads, on a
 * launched VM, a mirror, a dead VM and the platform: every one answered,
 * nothing breaks, the books still balance. */
static void test_random_requests(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm v;
	uint8_t payload[300];

	srand(5678);
	tvm_sev(&v, plat, NULL, false, 0);
	int m = ph_vm(plat, NULL);
	ST_EQ(ph_copy(m, v.fd), 0);
	int dead_src = ph_sev_only(plat, NULL, false);
	int moved = ph_vm(plat, NULL);
	ST_EQ(ph_move(moved, dead_src), 0);
	int targets[] = { v.fd, m, dead_src, moved, plat };

	for (int i = 0; i < 4000; i++) {
		int sock = targets[rand() % 5];
		uint16_t op = (uint16_t)(rand() % 21);
		uint32_t cmd = rand() % 4 ? (uint32_t)(rand() % 23) : (uint32_t)(rand() % 0x111);
		size_t len = rand() % 3 ? (size_t)(rand() % 40) : (size_t)(rand() % sizeof(payload));
		for (size_t k = 0; k < len; k++)
			payload[k] = (uint8_t)(rand() % 4 ? rand() % 8 : rand());
		int s = ph_call(sock, op, cmd, payload, len, rand() % 8 ? -1 : v.memfd, NULL, NULL, 0,
				NULL);
		if (s > 0 || s == -EPROTO || s == -ECONNRESET || s == -EPIPE || s == -EAGAIN)
			fail_msg("request %d (op %u cmd 0x%x len %zu): %d (%s)", i, op, cmd, len, s,
				 ph_errname(s));
	}

	/* the books: free ASIDs + live contexts == the pool */
	struct psp_platform_info pi;
	uint32_t contexts = 0;
	int vms[] = { v.fd, m, dead_src, moved };
	ph_hello(plat, &pi);
	for (size_t k = 0; k < 4; k++) {
		struct psp_vm_info i;
		ph_info(vms[k], &i);
		contexts += i.sev && !i.mirror && !i.dead;
	}
	assert_int_equal(pi.asids_free + contexts, pi.asids_total);

	tvm_close(&v);
	close(m);
	close(dead_src);
	close(moved);
	ph_wait(plat, 0, total);
	close(plat);
}

/* ---- clients dying mid-request --------------------------------------------------- */

static void send_only(int sock, uint16_t op, uint32_t cmd, const void *p, size_t len, int fd)
{
	uint8_t buf[512];
	struct psp_hdr h = hdr_of(op, (uint32_t)len);
	struct iovec iov = { buf, sizeof(h) + len };
	union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	h.cmd = cmd;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), p, len);
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.b;
		m.msg_controllen = sizeof(u.b);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
		_exit(3);
}

static void reap(pid_t pid, bool killed)
{
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (killed)
		assert_true(WIFSIGNALED(st));
	else
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_dying_clients(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint32_t total = fresh_total(plat);
	struct tvm s;
	struct psp__vm_create vc;
	memset(&vc, 0, sizeof(vc));

	tvm_sev(&s, plat, NULL, false, 0);

	for (int k = 0; k < 10; k++) {
		/* asks for a VM and is gone before the handle arrives */
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int p = psp__connect(d->sock);
			if (p < 0)
				_exit(2);
			send_only(p, PSP_OP_VM_CREATE, 0, &vc, sizeof(vc), -1);
			_exit(0);
		}
		reap(pid, false);

		/* initialises SEV, starts a launch and is gone */
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int p = psp__connect(d->sock);
			int vm = p < 0 ? -1 : psp__vm_create(p, "");
			if (vm < 0 || psp__enc(vm, PSP_SEV_INIT, NULL, 0, NULL))
				_exit(2);
			struct psp_launch_start ls;
			memset(&ls, 0, sizeof(ls));
			send_only(vm, PSP_OP_ENC, PSP_SEV_LAUNCH_START, &ls, sizeof(ls), -1);
			_exit(0);
		}
		reap(pid, false);
	}

	/* moves our context into its VM and is gone: the move happens, then
	 * its VM (the last holder) goes, context and all */
	int v = ph_aux(plat, NULL, TVM_VCPUS);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		send_only(v, PSP_OP_MOVE_FROM, 0, NULL, 0, s.fd);
		_exit(0);
	}
	close(v);
	reap(pid, false);

	/* killed while waiting for a reply it will never read */
	int sv[2];
	assert_int_equal(pipe(sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int p = psp__connect(d->sock);
		int vm = p < 0 ? -1 : psp__vm_create(p, "");
		if (vm < 0)
			_exit(2);
		send_only(vm, PSP_OP_ENC, PSP_SEV_INIT, NULL, 0, -1);
		if (write(sv[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	char c;
	assert_int_equal(read(sv[0], &c, 1), 1);
	kill(pid, SIGKILL);
	reap(pid, true);
	close(sv[0]);
	close(sv[1]);

	/* the daemon serves on; all that is left is our (dead) source */
	ph_wait(plat, 1, total);
	struct psp_vm_info i;
	ph_info(s.fd, &i);
	assert_true(i.dead);
	int fresh = ph_sev_only(plat, NULL, false);
	ph_wait(plat, 2, total - 1);
	close(fresh);
	tvm_close(&s);
	ph_wait(plat, 0, total);
	close(plat);
}

/* A client that shrinks the memfd it registered must not take the
 * platform down with it: its own requests fail with EFAULT (the daemon
 * catches the SIGBUS), everyone else carries on. */
static void test_memfd_truncated(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	struct tvm v, w;
	uint8_t page[PSP_PAGE];

	tvm_sev(&v, plat, NULL, false, 0);
	tvm_sev(&w, plat, NULL, false, 0);
	assert_int_equal(ftruncate(v.memfd, 0), 0);
	assert_int_equal(ph_dbg_decrypt(v.fd, 0x3000, PSP_PAGE, page, NULL), -EFAULT);
	assert_int_equal(ph_update_data(v.fd, 0, PSP_PAGE, NULL), -EFAULT);
	/* the platform and everyone else's VMs carry on */
	struct psp_platform_info pi;
	ph_hello(plat, &pi);
	assert_int_equal(ph_state(w.fd), PSP_STATE_LUPDATE);
	tvm_close(&v);
	tvm_close(&w);
	close(plat);
}

/* ---- restarts -------------------------------------------------------------------- */

static int run_bin(const char *const *args)
{
	const char *argv[16];
	int n = 0, st = 0;
	argv[n++] = ph_bin();
	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int nf = open("/dev/null", O_WRONLY);
		if (nf >= 0) {
			dup2(nf, 1);
			dup2(nf, 2);
		}
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_restart(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	size_t l1, l2, l3;
	char *c1 = ph_chain(plat, &l1);
	char path[400];
	struct stat st;
	close(plat);

	/* the identity is on disk, the keys private */
	snprintf(path, sizeof(path), "%s/pdh.key", d->state);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);

	/* SIGTERM, start again: the same chain */
	pd_restart(d);
	plat = pd_connect(d);
	char *c2 = ph_chain(plat, &l2);
	assert_int_equal(l2, l1);
	assert_memory_equal(c2, c1, l1);
	close(plat);

	/* SIGKILL (a stale socket file left behind), start again */
	pd_kill(d, SIGKILL);
	pd_restart(d);
	plat = pd_connect(d);
	char *c3 = ph_chain(plat, &l3);
	assert_int_equal(l3, l1);
	assert_memory_equal(c3, c1, l1);

	/* --export-chain writes the same chain */
	snprintf(path, sizeof(path), "%s/exported.pem", d->dir);
	const char *exp_args[] = { "--state-dir", d->state, "--export-chain", path, NULL };
	assert_int_equal(run_bin(exp_args), 0);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	char *c4 = malloc(l1 + 16);
	assert_non_null(c4);
	assert_int_equal(read(fd, c4, l1 + 16), (ssize_t)l1);
	close(fd);
	assert_memory_equal(c4, c1, l1);

	/* a second daemon on a socket in use refuses to start; the first serves on */
	char other[400];
	snprintf(other, sizeof(other), "%s/other-state", d->dir);
	const char *dup_args[] = { "--socket", d->sock, "--state-dir", other, NULL };
	assert_true(run_bin(dup_args) != 0);
	struct psp_platform_info pi;
	ph_hello(plat, &pi);
	char *c5 = ph_chain(plat, &l3);
	assert_memory_equal(c5, c1, l1);

	close(plat);
	free(c1);
	free(c2);
	free(c3);
	free(c4);
	free(c5);
}

int main(int argc, char **argv)
{
	(void)argc;
	ph_init(argv[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_send_receive, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_packet_attacks, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_policy, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_chain, pd_setup, pd_teardown),
		cmocka_unit_test_teardown(test_cross_platform, pd_teardown),
		cmocka_unit_test_setup_teardown(test_garbage, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_random_requests, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_dying_clients, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_memfd_truncated, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_restart, pd_setup, pd_teardown),
	};
	return cmocka_run_group_tests_name("psp_transport", tests, NULL, NULL);
}
