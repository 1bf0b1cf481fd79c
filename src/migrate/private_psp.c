/* private_psp.c - private pages through the platform firmware:
 * SEND_START / SEND_UPDATE_DATA (one 4 KiB page per command) / SEND_FINISH
 * on the source, RECEIVE_START / RECEIVE_UPDATE_DATA (MAC checked before a
 * byte is written) / RECEIVE_FINISH on the destination. The kernel calls
 * this path "far too slow" for live migration; tern measures it
 * (docs/protocol.md, bench/). Every command goes through the VM's cc ops,
 * so the same code drives tern-psp (--cc emu) and the kernel (--cc sev).
 *
 * On the wire (docs/protocol.md):
 *   session message: policy u32 | session (CC_SESSION_LEN) | chain length u32 | chain
 *   sealed page:     gpa u64 | seq u64 | len u32 | header (CC_PKT_HDR_LEN) | len bytes */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/private_path.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/vm.h"

#define PAGE          4096u
#define PKT_HDR       (8 + 8 + 4 + CC_PKT_HDR_LEN)
#define SESSION_HDR   (4 + CC_SESSION_LEN + 4)

_Static_assert(PKT_HDR + PAGE <= PRIVATE_PACKET_MAX, "a sealed page fits PRIVATE_PACKET_MAX");

static struct cc *cc_of(struct private_path *p)
{
	return &p->vm->cc;
}

/* The guest range in this process (sev hands the kernel this address), or
 * NULL if it is not all RAM. GPAs on the wire are offsets into RAM, as
 * for plain pages (ram_batch.c). */
static void *page_at(struct private_path *p, uint64_t gpa, uint32_t len)
{
	return guest_ram__ptr(&p->vm->ram, gpa, len);
}

/* "SEND_START: the firmware refused: POLICY_FAILURE (0x7)" */
static void platform_err(char *err, size_t errlen, const char *what, int s, uint32_t fw)
{
	char why[128];
	errbuf__set(err, errlen, "%s: %s", what, cc__strerror(s, fw, why, sizeof(why)));
}

static int send_start(struct private_path *p, const void *chain, size_t clen, void **msg,
		      size_t *mlen, char *err, size_t errlen)
{
	struct cc_send_session ss = { 0 };
	uint32_t fw = 0, c32;
	uint8_t *out;
	uint64_t t0 = now__ns();
	int s = cc_of(p)->ops->send_start(cc_of(p), chain, clen, &ss, &fw);

	p->ns += now__ns() - t0;
	if (s) {
		platform_err(err, errlen, "SEND_START", s, fw);
		return s;
	}
	p->started = 1;                   /* SUPDATE: send_cancel undoes it */
	if (ss.chain_len > UINT32_MAX || !(out = malloc(SESSION_HDR + ss.chain_len))) {
		free(ss.chain);
		errbuf__set(err, errlen, "SEND_START: out of memory");
		return -ENOMEM;
	}
	c32 = (uint32_t)ss.chain_len;
	memcpy(out, &ss.policy, 4);
	memcpy(out + 4, ss.session, CC_SESSION_LEN);
	memcpy(out + 4 + CC_SESSION_LEN, &c32, 4);
	memcpy(out + SESSION_HDR, ss.chain, ss.chain_len);
	free(ss.chain);
	*msg = out;
	*mlen = SESSION_HDR + ss.chain_len;
	return 0;
}

static int seal(struct private_path *p, uint64_t gpa, uint8_t *out, size_t *out_len)
{
	struct cc_packet pk;
	void *hva = page_at(p, gpa, PAGE);
	uint64_t t0;
	int s;

	if (!hva)
		return -EINVAL;
	t0 = now__ns();
	s = cc_of(p)->ops->send_update_data(cc_of(p), gpa, hva, PAGE, &pk, out + PKT_HDR,
					    PRIVATE_PACKET_MAX - PKT_HDR, NULL);
	p->ns += now__ns() - t0;
	if (s)
		return s;
	memcpy(out, &pk.gpa, 8);
	memcpy(out + 8, &pk.seq, 8);
	memcpy(out + 16, &pk.len, 4);
	memcpy(out + 20, pk.hdr, CC_PKT_HDR_LEN);
	*out_len = PKT_HDR + pk.len;
	p->pages++;
	return 0;
}

/* A command without parameters, timed. */
static int simple(struct private_path *p, int (*op)(struct cc *c, uint32_t *fw))
{
	uint64_t t0 = now__ns();
	int s = op(cc_of(p), NULL);
	p->ns += now__ns() - t0;
	return s;
}

static int send_finish(struct private_path *p)
{
	p->started = 0;
	return simple(p, cc_of(p)->ops->send_finish);
}

static int send_cancel(struct private_path *p)
{
	if (!p->started)
		return 0;
	p->started = 0;
	return simple(p, cc_of(p)->ops->send_cancel);
}

static int local_chain(struct private_path *p, void **pem, size_t *len)
{
	uint32_t fw = 0;
	char why[128];
	int s = cc_of(p)->ops->platform_chain(cc_of(p), pem, len, &fw);
	if (s)
		log__err("this platform's certificate chain: %s", cc__strerror(s, fw, why, sizeof(why)));
	return s;
}

static int recv_start(struct private_path *p, const void *msg, size_t len, char *err, size_t errlen)
{
	const uint8_t *m = msg;
	uint8_t session[CC_SESSION_LEN];
	uint32_t policy, clen, fw = 0;
	int s;

	if (len < SESSION_HDR) {
		errbuf__set(err, errlen, "session message is malformed");
		return -EINVAL;
	}
	memcpy(&policy, m, 4);
	memcpy(session, m + 4, CC_SESSION_LEN);
	memcpy(&clen, m + 4 + CC_SESSION_LEN, 4);
	if (clen != len - SESSION_HDR) {
		errbuf__set(err, errlen, "session message is malformed");
		return -EINVAL;
	}
	s = cc_of(p)->ops->receive_start(cc_of(p), policy, session, m + SESSION_HDR, clen, NULL, &fw);
	if (s) {
		platform_err(err, errlen, "RECEIVE_START", s, fw);
		return s;
	}
	p->started = 1;
	return 0;
}

static int open_pkt(struct private_path *p, const uint8_t *pkt, size_t len, char *err, size_t errlen)
{
	struct cc_packet pk = { 0 };
	uint32_t fw = 0;
	void *hva;
	uint64_t t0;
	char what[64];
	int s;

	if (len >= PKT_HDR) {
		memcpy(&pk.gpa, pkt, 8);
		memcpy(&pk.seq, pkt + 8, 8);
		memcpy(&pk.len, pkt + 16, 4);
		memcpy(pk.hdr, pkt + 20, CC_PKT_HDR_LEN);
	}
	snprintf(what, sizeof(what), "RECEIVE_UPDATE_DATA at 0x%llx refused", (unsigned long long)pk.gpa);
	if (len < PKT_HDR || pk.len != len - PKT_HDR || !(hva = page_at(p, pk.gpa, pk.len))) {
		platform_err(err, errlen, what, -EINVAL, 0);
		return -EINVAL;
	}
	t0 = now__ns();
	s = cc_of(p)->ops->receive_update_data(cc_of(p), &pk, hva, pkt + PKT_HDR, &fw);
	p->ns += now__ns() - t0;
	if (s) {
		platform_err(err, errlen, what, s, fw);
		return s;
	}
	p->pages++;
	return 0;
}

static int recv_finish(struct private_path *p)
{
	p->started = 0;
	return simple(p, cc_of(p)->ops->receive_finish);
}

const struct private_path_ops private_path_psp = {
	.name = "psp",
	.send_start = send_start,
	.seal = seal,
	.send_finish = send_finish,
	.send_cancel = send_cancel,
	.local_chain = local_chain,
	.recv_start = recv_start,
	.open = open_pkt,
	.recv_finish = recv_finish,
};
