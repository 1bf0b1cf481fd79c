/* private_psp.c - private pages through the platform firmware:
 * SEND_START / SEND_UPDATE_DATA (one 4 KiB page per command) / SEND_FINISH
 * on the source, RECEIVE_START / RECEIVE_UPDATE_DATA (MAC checked before a
 * byte is written) / RECEIVE_FINISH on the destination. The kernel calls
 * this path "far too slow" for live migration; tern measures it
 * (docs/protocol.md, bench/). Today it speaks to tern-psp (--cc emu). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cc/psp_client.h"
#include "migrate/private_path.h"
#include "util/io.h"
#include "util/log.h"
#include "vm/vm.h"

static int handle(struct private_path *p)
{
	return p->vm->cc.handle_fd;
}

/* session message: policy u32 | session (128) | chain length u32 | chain */
static int send_start(struct private_path *p, const void *chain, size_t clen, void **msg,
		      size_t *mlen, char *err, size_t errlen)
{
	struct psp_reply r;
	struct psp_send_start_reply sr;
	uint8_t *req = malloc(4 + clen), *out;
	uint32_t c32 = (uint32_t)clen;
	int s;

	if (!req)
		return -ENOMEM;
	memcpy(req, &c32, 4);
	memcpy(req + 4, chain, clen);
	uint64_t t0 = now_ns();
	s = psp_call(handle(p), PSP_OP_ENC, PSP_SEV_SEND_START, req, 4 + clen, -1, &r);
	p->ns += now_ns() - t0;
	free(req);
	if (s || r.len < sizeof(sr)) {
		errbuf_set(err, errlen, "SEND_START: %s%s%s", strerror(s ? -s : EPROTO),
			   r.fw_error ? ", firmware: " : "", r.fw_error ? psp_fw_error_name(r.fw_error) : "");
		psp_reply_free(&r);
		return s ? s : -EPROTO;
	}
	memcpy(&sr, r.data, sizeof(sr));
	if (sr.chain_len != r.len - sizeof(sr)) {
		psp_reply_free(&r);
		errbuf_set(err, errlen, "SEND_START: malformed reply");
		return -EPROTO;
	}
	out = malloc(4 + PSP_SESSION_LEN + 4 + sr.chain_len);
	if (!out) {
		psp_reply_free(&r);
		return -ENOMEM;
	}
	memcpy(out, &sr.policy, 4);
	memcpy(out + 4, sr.session, PSP_SESSION_LEN);
	memcpy(out + 4 + PSP_SESSION_LEN, &sr.chain_len, 4);
	memcpy(out + 8 + PSP_SESSION_LEN, r.data + sizeof(sr), sr.chain_len);
	*msg = out;
	*mlen = 8 + PSP_SESSION_LEN + sr.chain_len;
	psp_reply_free(&r);
	p->started = 1;
	return 0;
}

static int seal(struct private_path *p, uint64_t gpa, uint8_t *out, size_t *out_len)
{
	struct psp_range g = { gpa, 4096, 0 };
	struct psp_reply r;
	uint64_t t0 = now_ns();
	int s = psp_call(handle(p), PSP_OP_ENC, PSP_SEV_SEND_UPDATE_DATA, &g, sizeof(g), -1, &r);
	p->ns += now_ns() - t0;
	if (!s && (r.len < sizeof(struct psp_packet) || r.len > PRIVATE_PACKET_MAX))
		s = -EPROTO;
	if (!s) {
		memcpy(out, r.data, r.len);
		*out_len = r.len;
		p->pages++;
	}
	psp_reply_free(&r);
	return s;
}

static int simple(struct private_path *p, uint32_t cmd)
{
	uint64_t t0 = now_ns();
	int s = psp_enc(handle(p), cmd, NULL, 0, NULL);
	p->ns += now_ns() - t0;
	return s;
}

static int send_finish(struct private_path *p)
{
	p->started = 0;
	return simple(p, PSP_SEV_SEND_FINISH);
}

static int send_cancel(struct private_path *p)
{
	if (!p->started)
		return 0;
	p->started = 0;
	return simple(p, PSP_SEV_SEND_CANCEL);
}

static int local_chain(struct private_path *p, void **pem, size_t *len)
{
	struct psp_reply r;
	int s = psp_call(p->vm->cc.platform, PSP_OP_EXPORT_CHAIN, 0, NULL, 0, -1, &r);
	if (s) {
		psp_reply_free(&r);
		return s;
	}
	*pem = r.data;
	*len = r.len;
	r.data = NULL;
	psp_reply_free(&r);
	return 0;
}

static int recv_start(struct private_path *p, const void *msg, size_t len, char *err, size_t errlen)
{
	const uint8_t *m = msg;
	struct psp_receive_start rs;
	struct psp_reply r;
	uint32_t clen;
	uint8_t *req;
	int s;

	if (len < 8 + PSP_SESSION_LEN) {
		errbuf_set(err, errlen, "session message is malformed");
		return -EINVAL;
	}
	memcpy(&rs.policy, m, 4);
	memcpy(rs.session, m + 4, PSP_SESSION_LEN);
	memcpy(&clen, m + 4 + PSP_SESSION_LEN, 4);
	if (clen != len - 8 - PSP_SESSION_LEN) {
		errbuf_set(err, errlen, "session message is malformed");
		return -EINVAL;
	}
	rs.chain_len = clen;
	req = malloc(sizeof(rs) + clen);
	if (!req)
		return -ENOMEM;
	memcpy(req, &rs, sizeof(rs));
	memcpy(req + sizeof(rs), m + 8 + PSP_SESSION_LEN, clen);
	s = psp_call(handle(p), PSP_OP_ENC, PSP_SEV_RECEIVE_START, req, sizeof(rs) + clen, -1, &r);
	free(req);
	if (s)
		errbuf_set(err, errlen, "RECEIVE_START: %s%s%s", strerror(-s),
			   r.fw_error ? ", firmware: " : "", r.fw_error ? psp_fw_error_name(r.fw_error) : "");
	psp_reply_free(&r);
	if (!s)
		p->started = 1;
	return s;
}

static int open_pkt(struct private_path *p, const uint8_t *pkt, size_t len, char *err, size_t errlen)
{
	uint32_t fw = 0;
	uint64_t t0 = now_ns();
	int s = psp_enc(handle(p), PSP_SEV_RECEIVE_UPDATE_DATA, pkt, len, &fw);
	p->ns += now_ns() - t0;
	if (s) {
		struct psp_packet pk = { 0 };
		if (len >= sizeof(pk))
			memcpy(&pk, pkt, sizeof(pk));
		errbuf_set(err, errlen, "RECEIVE_UPDATE_DATA at 0x%llx refused: %s%s%s",
			   (unsigned long long)pk.gpa, strerror(-s), fw ? ", firmware: " : "",
			   fw ? psp_fw_error_name(fw) : "");
		return s;
	}
	p->pages++;
	return 0;
}

static int recv_finish(struct private_path *p)
{
	p->started = 0;
	return simple(p, PSP_SEV_RECEIVE_FINISH);
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
