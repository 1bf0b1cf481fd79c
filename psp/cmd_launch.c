/* cmd_launch.c - LAUNCH_*: start a context, measure what is loaded into
 * it, take the guest owner's secret, finish. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "psp_cmds.h"

struct fw_ctx *need__state(struct pvm *vm, int state, struct reply *r)
{
	struct fw_ctx *fw = fw__of(vm);
	if (!fw || fw->state != state) {
		fw__fail(r, PSP_FW_INVALID_GUEST_STATE);
		return NULL;
	}
	return fw;
}

int launch__start(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_launch_start ls;
	struct psp_handle_reply hr;
	struct fw_ctx *fw;
	struct sev_keys keys;

	if (len < sizeof(ls))
		return -EINVAL;
	memcpy(&ls, p, sizeof(ls));
	if (ls.owner_pub_len != len - sizeof(ls))
		return -EINVAL;
	if (vm->fw)
		return fw__fail(r, PSP_FW_INVALID_GUEST_STATE);  /* already has a context */
	if (!!(ls.policy & PSP_POLICY_ES) != vm->es)
		return fw__fail(r, PSP_FW_POLICY_FAILURE);        /* ES policy on a non-ES VM, or the reverse */
	if (ls.flags & 1) {
		char err[200];
		EVP_PKEY *owner = sev__pubkey_from_pem((const char *)p + sizeof(ls), ls.owner_pub_len);
		if (!owner)
			return fw__fail(r, PSP_FW_INVALID_CERTIFICATE);
		int u = sev__session_unwrap(plat.id.pdh, owner, ls.session, ls.policy, &keys, err, sizeof(err));
		EVP_PKEY_free(owner);
		if (u) {
			psp__log("LAUNCH_START: session refused: %s", err);
			return fw__fail(r, PSP_FW_BAD_MEASUREMENT);
		}
	} else if (sev__keys_random(&keys)) {
		return -EIO;
	}
	fw = fw__new(ls.policy);
	if (!fw)
		return -ENOMEM;
	fw->keys = keys;
	fw->state = PSP_STATE_LUPDATE;
	vm->fw = fw;
	OPENSSL_cleanse(&keys, sizeof(keys));
	hr.handle = fw->handle;
	return reply__put(r, &hr, sizeof(hr));
}

int launch__update_data(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_range g;
	struct fw_ctx *fw;
	uint8_t page[PSP_PAGE];
	if (len != sizeof(g))
		return -EINVAL;
	memcpy(&g, p, sizeof(g));
	if (!(fw = need__state(vm, PSP_STATE_LUPDATE, r)))
		return r->status;
	if (!guest__ptr(vm, g.gpa, g.len))
		return -EINVAL;
	/* hardware encrypts in place here; emulation can only measure. A
	 * page at a time through a bounce buffer, so a fault never happens
	 * inside OpenSSL */
	for (uint64_t off = 0; off < g.len; off += PSP_PAGE) {
		uint64_t n = g.len - off < PSP_PAGE ? g.len - off : PSP_PAGE;
		int e = guest__read(vm, g.gpa + off, page, n);
		if (e)
			return e;
		if (!EVP_DigestUpdate(fw->digest, page, n))
			return -EIO;
	}
	return 0;
}

int launch__update_vmsa(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_vmsa v;
	struct fw_ctx *fw;
	if (!vm->es)
		return -ENOTTY;
	/* a vCPU of this VM is still being created (Linux 624bf3440d72):
	 * KVM would walk a vCPU list that is still growing */
	if (vm->creating)
		return -EBUSY;
	if (len < sizeof(v))
		return -EINVAL;
	memcpy(&v, p, sizeof(v));
	if (v.len != len - sizeof(v) || !v.len || v.len > PSP_VMSA_MAX || v.vcpu >= vm->vcpus ||
	    v.vcpu >= PSP_MAX_VCPUS)
		return -EINVAL;
	/* a mirror launches its own vCPUs while the owner is still in LUPDATE */
	if (!(fw = need__state(vm, PSP_STATE_LUPDATE, r)))
		return r->status;
	if (vm->vmsa_launched[v.vcpu])
		return -EINVAL;
	/* the digest takes the VMSA where the command comes: the VMM's order
	 * (tern: every data range, then vCPU 0, 1, ...) is what is measured */
	uint8_t *copy = malloc(v.len);
	if (!copy)
		return -ENOMEM;
	if (!EVP_DigestUpdate(fw->digest, p + sizeof(v), v.len)) {
		free(copy);
		return -EIO;
	}
	/* hardware encrypts the page in place and runs the vCPU from it; the
	 * emulation keeps the plaintext with the context (cmd_vmsa.c) */
	memcpy(copy, p + sizeof(v), v.len);
	vm->vmsa[v.vcpu] = copy;
	vm->vmsa_len[v.vcpu] = v.len;
	vm->vmsa_launched[v.vcpu] = 1;
	return 0;
}

int launch__measure(struct pvm *vm, size_t len, struct reply *r)
{
	struct psp_measure_reply mr;
	uint8_t digest[SEV_DIGEST_LEN];
	unsigned dl = 0;
	struct fw_ctx *fw;
	EVP_MD_CTX *copy;

	if (len)
		return -EINVAL;
	if (!(fw = need__state(vm, PSP_STATE_LUPDATE, r)))
		return r->status;
	copy = EVP_MD_CTX_new();
	if (!copy || !EVP_MD_CTX_copy_ex(copy, fw->digest) || !EVP_DigestFinal_ex(copy, digest, &dl) ||
	    sev__random(fw->mnonce, sizeof(fw->mnonce)) ||
	    sev__measure(fw->keys.tik, PSP_API_MAJOR, PSP_API_MINOR, PSP_BUILD, fw->policy, digest,
			fw->mnonce, fw->measurement)) {
		EVP_MD_CTX_free(copy);
		return -EIO;
	}
	EVP_MD_CTX_free(copy);
	fw->measured = true;
	fw->state = PSP_STATE_LSECRET;
	memset(&mr, 0, sizeof(mr));
	memcpy(mr.measurement, fw->measurement, sizeof(mr.measurement));
	memcpy(mr.mnonce, fw->mnonce, sizeof(mr.mnonce));
	mr.api_major = PSP_API_MAJOR;
	mr.api_minor = PSP_API_MINOR;
	mr.build = PSP_BUILD;
	mr.policy = fw->policy;
	return reply__put(r, &mr, sizeof(mr));
}

int launch__secret(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_packet pk;
	struct fw_ctx *fw;
	uint8_t plain[PSP_PAGE];
	char err[160];
	int e;

	if (len < sizeof(pk))
		return -EINVAL;
	memcpy(&pk, p, sizeof(pk));
	if (pk.len != len - sizeof(pk) || pk.len == 0 || pk.len > PSP_PAGE ||
	    (pk.gpa % PSP_PAGE) + pk.len > PSP_PAGE)
		return -EINVAL;
	if (!(fw = need__state(vm, PSP_STATE_LSECRET, r)))
		return r->status;
	if (!guest__ptr(vm, pk.gpa, pk.len))
		return -EINVAL;
	/* bound to this launch's measurement: a packet made for another
	 * launch, or tampered with, never reaches guest memory */
	if (sev__packet_open(&fw->keys, SEV_CTX_SECRET, pk.hdr, p + sizeof(pk), pk.len,
			    fw->measurement, sizeof(fw->measurement), plain, err, sizeof(err))) {
		psp__log("LAUNCH_SECRET refused: %s", err);
		return fw__fail(r, PSP_FW_BAD_MEASUREMENT);
	}
	e = guest__write(vm, pk.gpa, plain, pk.len);
	OPENSSL_cleanse(plain, sizeof(plain));
	return e;
}

int launch__finish(struct pvm *vm, size_t len, struct reply *r)
{
	struct fw_ctx *fw;
	if (len)
		return -EINVAL;
	if (!(fw = need__state(vm, PSP_STATE_LSECRET, r)))
		return r->status;
	fw->state = PSP_STATE_RUNNING;
	return 0;
}

static int dbg_range(struct pvm *vm, const uint8_t *p, size_t len, struct psp_range *g,
		     struct reply *r)
{
	struct fw_ctx *fw = fw__of(vm);
	if (len < sizeof(*g))
		return -EINVAL;
	memcpy(g, p, sizeof(*g));
	if (!g->len || g->len > PSP_PAGE * 8)
		return -EINVAL;
	if (!fw)
		return fw__fail(r, PSP_FW_INVALID_GUEST);
	if (fw->policy & PSP_POLICY_NODBG)
		return fw__fail(r, PSP_FW_POLICY_FAILURE);
	if (!guest__ptr(vm, g->gpa, g->len))
		return -EINVAL;
	return 0;
}

int dbg__decrypt(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_range g;
	int s = dbg_range(vm, p, len, &g, r);
	if (s)
		return s;
	if (len != sizeof(g))
		return -EINVAL;
	if (g.len > sizeof(r->data) - r->len)
		return -EMSGSIZE;
	if ((s = guest__read(vm, g.gpa, r->data + r->len, g.len)))
		return s;
	r->len += g.len;
	return 0;
}

int dbg__encrypt(struct pvm *vm, const uint8_t *p, size_t len, struct reply *r)
{
	struct psp_range g;
	int s = dbg_range(vm, p, len, &g, r);
	if (s)
		return s;
	if (len != sizeof(g) + g.len)
		return -EINVAL;
	return guest__write(vm, g.gpa, p + sizeof(g), g.len);
}
