/* cmd_transport.c - SEND_* and RECEIVE_*: a context leaves one platform
 * as packets only the receiving platform can open.
 *
 * tern's packets bind the destination GPA and a per-session sequence
 * number into their MAC (besides the spec's fields), and the receiver
 * accepts only increasing sequence numbers: a packet replayed at another
 * address, or an old version of a page replayed later, is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psp_cmds.h"

static void bind_of(uint64_t gpa, uint64_t seq, uint8_t out[16])
{
	memcpy(out, &gpa, 8);             /* little endian, like every field */
	memcpy(out + 8, &seq, 8);
}

/* A peer's chain: verify it to our trusted roots. */
static EVP_PKEY *peer_key(const uint8_t *pem, size_t len, uint8_t *maj, uint8_t *min)
{
	EVP_PKEY *k = NULL;
	char err[200];
	if (sev__chain_verify((const char *)pem, len, plat.trusted_pem, plat.trusted_len, &k, maj, min,
			     err, sizeof(err))) {
		psp__log("peer certificate chain refused: %s", err);
		return NULL;
	}
	return k;
}

int send__start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_send_start_reply sr;
	struct fw_ctx *fw;
	uint32_t clen;
	uint8_t maj = 0, min = 0;
	EVP_PKEY *peer;
	struct sev_keys k;

	if (len < 4)
		return -EINVAL;
	memcpy(&clen, p, 4);
	if (clen != len - 4 || clen == 0)
		return -EINVAL;
	if (!(fw = need__state(vm, PSP_STATE_RUNNING, r)))
		return r->status;
	if (fw->policy & PSP_POLICY_NOSEND)
		return fw__fail(r, PSP_FW_POLICY_FAILURE);
	if (!(peer = peer_key(p + 4, clen, &maj, &min)))
		return fw__fail(r, PSP_FW_INVALID_CERTIFICATE);
	/* the receiver's firmware must meet the policy's minimum API version */
	if (maj < PSP_POLICY_API_MAJOR(fw->policy) ||
	    (maj == PSP_POLICY_API_MAJOR(fw->policy) && min < PSP_POLICY_API_MINOR(fw->policy))) {
		EVP_PKEY_free(peer);
		return fw__fail(r, PSP_FW_POLICY_FAILURE);
	}
	if (sev__keys_random(&k) || sev__session_wrap(plat.id.pdh, peer, &k, fw->policy, sr.session)) {
		EVP_PKEY_free(peer);
		return -EIO;
	}
	EVP_PKEY_free(peer);
	fw->keys = k;
	OPENSSL_cleanse(&k, sizeof(k));
	fw->send_seq = 0;
	fw->state = PSP_STATE_SUPDATE;
	sr.policy = fw->policy;
	sr.chain_len = (uint32_t)plat.chain_len;
	if (reply__put(r, &sr, sizeof(sr)) || reply__put(r, plat.chain_pem, plat.chain_len))
		return -EMSGSIZE;
	return 0;
}

/* one page at most, and never across a page boundary (KVM's wrapper) */
static bool page_range_ok(uint64_t gpa, uint32_t len)
{
	return len && len <= PSP_PAGE && (gpa % PSP_PAGE) + len <= PSP_PAGE;
}

int send__update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_range g;
	struct psp_packet pk;
	struct fw_ctx *fw;
	uint8_t page[PSP_PAGE], bind[16];
	int e;

	if (len != sizeof(g))
		return -EINVAL;
	memcpy(&g, p, sizeof(g));
	if (!page_range_ok(g.gpa, g.len))
		return -EINVAL;
	if (!(fw = need__state(vm, PSP_STATE_SUPDATE, r)))
		return r->status;
	memset(&pk, 0, sizeof(pk));
	pk.gpa = g.gpa;
	pk.len = g.len;
	if (g.flags & PSP_RANGE_QUERY)      /* zero-length buffers: a length query */
		return reply__put(r, &pk, sizeof(pk));
	if (sizeof(pk) + g.len > sizeof(r->data))
		return -EMSGSIZE;
	if ((e = guest__read(vm, g.gpa, page, g.len)))
		return e;
	pk.seq = ++fw->send_seq;
	bind_of(pk.gpa, pk.seq, bind);
	if (sev__packet_seal(&fw->keys, SEV_CTX_DATA, 0, page, g.len, bind, sizeof(bind), pk.hdr,
			    r->data + sizeof(pk)))
		return -EIO;
	OPENSSL_cleanse(page, g.len);
	memcpy(r->data, &pk, sizeof(pk));
	r->len = (uint32_t)(sizeof(pk) + g.len);
	return 0;
}

static int transition(struct pvm *vm, size_t len, int from, int to, struct reply *r)
{
	struct fw_ctx *fw;
	if (len)
		return -EINVAL;
	if (!(fw = need__state(vm, from, r)))
		return r->status;
	fw->state = to;
	return 0;
}

int send__finish(struct pvm *vm, size_t len, struct reply *r)
{
	/* SENT: this context can never run again */
	return transition(vm, len, PSP_STATE_SUPDATE, PSP_STATE_SENT, r);
}

int send__cancel(struct pvm *vm, size_t len, struct reply *r)
{
	return transition(vm, len, PSP_STATE_SUPDATE, PSP_STATE_RUNNING, r);
}

int receive__start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_receive_start rs;
	struct psp_handle_reply hr;
	struct fw_ctx *fw;
	EVP_PKEY *peer;
	struct sev_keys k;
	uint8_t maj, min;
	char err[200];

	if (len < sizeof(rs))
		return -EINVAL;
	memcpy(&rs, p, sizeof(rs));
	if (rs.chain_len != len - sizeof(rs) || rs.chain_len == 0)
		return -EINVAL;
	if (vm->fw)
		return fw__fail(r, PSP_FW_INVALID_GUEST_STATE);
	if (!!(rs.policy & PSP_POLICY_ES) != vm->es)
		return fw__fail(r, PSP_FW_POLICY_FAILURE);
	if (!(peer = peer_key(p + sizeof(rs), rs.chain_len, &maj, &min)))
		return fw__fail(r, PSP_FW_INVALID_CERTIFICATE);
	int u = sev__session_unwrap(plat.id.pdh, peer, rs.session, rs.policy, &k, err, sizeof(err));
	EVP_PKEY_free(peer);
	if (u) {
		psp__log("RECEIVE_START: session refused: %s", err);
		return fw__fail(r, PSP_FW_BAD_MEASUREMENT);
	}
	fw = fw__new(rs.policy);
	if (!fw)
		return -ENOMEM;
	fw->keys = k;
	OPENSSL_cleanse(&k, sizeof(k));
	fw->state = PSP_STATE_RUPDATE;
	vm->fw = fw;
	hr.handle = fw->handle;
	return reply__put(r, &hr, sizeof(hr));
}

int receive__update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_packet pk;
	struct fw_ctx *fw;
	uint8_t bind[16], plain[PSP_PAGE];
	char err[160];
	int e;

	if (len < sizeof(pk))
		return -EINVAL;
	memcpy(&pk, p, sizeof(pk));
	if (pk.len != len - sizeof(pk) || !page_range_ok(pk.gpa, pk.len))
		return -EINVAL;
	if (!(fw = need__state(vm, PSP_STATE_RUPDATE, r)))
		return r->status;
	if (!guest__ptr(vm, pk.gpa, pk.len))
		return -EINVAL;
	if (pk.seq <= fw->recv_seq) {
		psp__log("RECEIVE_UPDATE_DATA: packet %llu replayed (last %llu)",
			(unsigned long long)pk.seq, (unsigned long long)fw->recv_seq);
		return fw__fail(r, PSP_FW_BAD_MEASUREMENT);
	}
	bind_of(pk.gpa, pk.seq, bind);
	/* the MAC is checked before one byte is written */
	if (sev__packet_open(&fw->keys, SEV_CTX_DATA, pk.hdr, p + sizeof(pk), pk.len, bind,
			    sizeof(bind), plain, err, sizeof(err))) {
		psp__log("RECEIVE_UPDATE_DATA refused at 0x%llx: %s", (unsigned long long)pk.gpa, err);
		return fw__fail(r, PSP_FW_BAD_MEASUREMENT);
	}
	e = guest__write(vm, pk.gpa, plain, pk.len);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (e)
		return e;
	fw->recv_seq = pk.seq;
	return 0;
}

int receive__finish(struct pvm *vm, size_t len, struct reply *r)
{
	return transition(vm, len, PSP_STATE_RUPDATE, PSP_STATE_RUNNING, r);
}
