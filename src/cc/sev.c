/* sev.c - the cc back-end for AMD SEV hardware: every operation is one
 * KVM_MEMORY_ENCRYPT_OP (or KVM_MEMORY_ENCRYPT_REG_REGION) on the KVM VM,
 * with /dev/sev as the firmware's file descriptor, exactly as the kernel's
 * UAPI (<linux/kvm.h>, <linux/psp-sev.h>) and
 * Documentation/virt/kvm/x86/amd-memory-encryption.rst describe it.
 *
 * Written against the UAPI headers and tested only against a fake ioctl
 * layer (tests/unit/test_cc_sev.c); it has never run on AMD hardware.
 * The system calls go through cc_sev_sys (sev_sys.h) so tests can fake
 * them. See docs/cc.md, "The sev back-end".
 *
 * State kept in struct cc: platform = the /dev/sev fd; m.api_major,
 * m.api_minor, m.build from PLATFORM_STATUS at open; m.policy and m.handle
 * from LAUNCH_START (or RECEIVE_START). LAUNCH_MEASURE reports them with
 * the measurement.
 *
 * A certificate chain (platform_chain, send_start's peer chain) is tern's
 * framing of the SEV API's binary certificates:
 *   "TSC1" | u32 pdh_len | u32 plat_len | u32 amd_len | PDH | PEK,OCA,CEK | ASK,ARK
 * PDH and platform chain come from the firmware (PDH_CERT_EXPORT); the
 * AMD part is not the firmware's to export: it is read from SEV_AMD_CHAIN
 * (AMD's key server publishes it per CPU generation). A sender's own chain
 * (send_start's output) carries an empty AMD part: RECEIVE_START needs
 * only its PDH.
 *
 * Tokens (LOCAL_SEND/LOCAL_RECEIVE) do not exist on hardware: those ops
 * return -EOPNOTSUPP. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/psp-sev.h>

#include "cc/cc.h"
#include "cc/sev_sys.h"
#include "util/log.h"

#define SEV_DEV          "/dev/sev"
#define SEV_AMD_CHAIN    "/etc/tern/sev/ask_ark.cert"
#define SEV_MEASURE_LEN  48               /* measurement(32) || mnonce(16) */
#define SEV_BLOB_MAX     16384            /* KVM's SEV_FW_BLOB_MAX_SIZE */
#define SEV_NO_FW_CALL   0xffffffffu      /* SEV_RET_NO_FW_CALL: firmware never called */
#define SEV_PAGE         4096u
#define SEV_CHAIN_MAGIC  "TSC1"
#define SEV_CHAIN_HDR    16               /* magic + three u32 lengths */

static int sys_open(const char *path, int flags)
{
	return open(path, flags);
}

static int sys_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

struct cc_sev_sys cc_sev_sys = { sys_open, sys_ioctl, close, read };

static int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static uint64_t uaddr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* The firmware's status; none when the kernel never reached the firmware. */
static void set_fw(uint32_t *fw, uint32_t e)
{
	if (fw)
		*fw = e == SEV_NO_FW_CALL ? 0 : e;
}

/* One KVM_MEMORY_ENCRYPT_OP on the VM. sev_fd is always /dev/sev (INIT and
 * LAUNCH_START need it; KVM ignores it for the others). */
static int sev_op(struct cc *c, uint32_t id, void *data, uint32_t *fw)
{
	struct kvm_sev_cmd cmd;
	int r;

	memset(&cmd, 0, sizeof(cmd));
	cmd.id = id;
	cmd.data = uaddr(data);
	cmd.sev_fd = (uint32_t)c->platform;
	r = cc_sev_sys.ioctl(c->kvm_vm_fd, KVM_MEMORY_ENCRYPT_OP, &cmd) < 0 ? neg_errno() : 0;
	set_fw(fw, cmd.error);
	return r;
}

/* One platform command (SEV_ISSUE_CMD) on /dev/sev; *fw as sev_op. */
static int sev_issue(int sev_fd, uint32_t cmd, void *data, uint32_t *fw)
{
	struct sev_issue_cmd ic;
	int r;

	memset(&ic, 0, sizeof(ic));
	ic.cmd = cmd;
	ic.data = uaddr(data);
	r = cc_sev_sys.ioctl(sev_fd, SEV_ISSUE_CMD, &ic) < 0 ? neg_errno() : 0;
	set_fw(fw, ic.error);
	return r;
}

static int sev_open(struct cc *c, int kvm_vm_fd, char *err, size_t errlen)
{
	struct sev_user_data_status st;
	uint32_t fw = 0;
	int fd, r;

	c->kvm_vm_fd = kvm_vm_fd;
	c->platform = -1;
	fd = cc_sev_sys.open(SEV_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = neg_errno();
		if (r == -ENOENT)
			errbuf__set(err, errlen, "no /dev/sev: this host has no AMD SEV firmware (use --cc emu)");
		else if (r == -EACCES || r == -EPERM)
			errbuf__set(err, errlen, "cannot open /dev/sev: %s (tern needs read-write access to it)",
				   strerror(-r));
		else
			errbuf__set(err, errlen, "cannot open /dev/sev: %s", strerror(-r));
		return r;
	}

	/* the firmware's API version and build, reported with the measurement */
	memset(&st, 0, sizeof(st));
	if ((r = sev_issue(fd, SEV_PLATFORM_STATUS, &st, &fw))) {
		errbuf__set(err, errlen, "SEV PLATFORM_STATUS on /dev/sev failed: %s (firmware status 0x%x)",
			   strerror(-r), (unsigned)fw);
		goto fail;
	}

	/* A NULL argument asks KVM whether SEV is enabled: 0 if so, ENOTTY if
	 * not (older kernels run the command and fail with EFAULT: go on). */
	if (cc_sev_sys.ioctl(kvm_vm_fd, KVM_MEMORY_ENCRYPT_OP, NULL) < 0 && errno == ENOTTY) {
		r = -ENOTTY;
		errbuf__set(err, errlen, "/dev/sev is present but KVM does not offer SEV on this host "
			   "(is kvm_amd loaded with sev=1, and SEV enabled in the firmware setup?)");
		goto fail;
	}

	c->platform = fd;
	c->m.api_major = st.api_major;
	c->m.api_minor = st.api_minor;
	c->m.build = st.build;
	return 0;
fail:
	cc_sev_sys.close(fd);
	return r;
}

static void sev_close(struct cc *c)
{
	if (c->platform >= 0)
		cc_sev_sys.close(c->platform);
	c->platform = -1;
}

static int sev_init(struct cc *c, bool es, uint32_t *fw)
{
	return sev_op(c, es ? KVM_SEV_ES_INIT : KVM_SEV_INIT, NULL, fw);
}

/* KVM pins the range (it counts against RLIMIT_MEMLOCK without
 * CAP_IPC_LOCK). The memfd and GPA are the emulated platform's business. */
static int sev_register_ram(struct cc *c, int memfd, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_enc_region reg;
	(void)memfd;
	(void)gpa;
	memset(&reg, 0, sizeof(reg));
	reg.addr = uaddr(hva);
	reg.size = size;
	return cc_sev_sys.ioctl(c->kvm_vm_fd, KVM_MEMORY_ENCRYPT_REG_REGION, &reg) < 0 ? neg_errno() : 0;
}

static int sev_vcpus(struct cc *c, int n)
{
	(void)c;
	(void)n;
	return 0;                         /* KVM tracks the vCPUs itself */
}

/* The owner's key and session go to the firmware as given, and only
 * together (as the emu back-end sends them). */
static int sev_launch_start(struct cc *c, const struct cc_launch *l, uint32_t *handle, uint32_t *fw)
{
	struct kvm_sev_launch_start ls;
	int r;

	memset(&ls, 0, sizeof(ls));       /* handle 0: the firmware makes a new context */
	ls.policy = l->policy;
	if (l->session) {
		if (l->owner_pub_len > UINT32_MAX)
			return -EINVAL;
		ls.dh_uaddr = uaddr(l->owner_pub);
		ls.dh_len = (uint32_t)l->owner_pub_len;
		ls.session_uaddr = uaddr(l->session);
		ls.session_len = CC_SESSION_LEN;
	}
	r = sev_op(c, KVM_SEV_LAUNCH_START, &ls, fw);
	if (r)
		return r;
	c->m.policy = l->policy;
	c->m.handle = ls.handle;
	if (handle)
		*handle = ls.handle;
	return 0;
}

static int sev_launch_update_data(struct cc *c, uint64_t gpa, void *hva, uint32_t len, uint32_t *fw)
{
	struct kvm_sev_launch_update_data u;
	(void)gpa;
	memset(&u, 0, sizeof(u));
	u.uaddr = uaddr(hva);
	u.len = len;
	return sev_op(c, KVM_SEV_LAUNCH_UPDATE_DATA, &u, fw);
}

static int sev_launch_measure(struct cc *c, struct cc_measurement *m, uint32_t *fw)
{
	struct kvm_sev_launch_measure q;
	uint8_t *blob;
	uint32_t n;
	int r;

	/* Length query: with len 0 KVM asks the firmware for the blob's
	 * length and writes it to len; the firmware answers INVALID_LEN, so
	 * the call itself fails. Like QEMU, trust len, not the return value. */
	memset(&q, 0, sizeof(q));
	r = sev_op(c, KVM_SEV_LAUNCH_MEASURE, &q, fw);
	if (q.len == 0)
		return r ? r : -EPROTO;
	if (q.len < SEV_MEASURE_LEN || q.len > SEV_BLOB_MAX) {
		set_fw(fw, 0);
		return -EPROTO;
	}
	n = q.len;
	blob = calloc(1, n);
	if (!blob)
		return -ENOMEM;
	memset(&q, 0, sizeof(q));
	q.uaddr = uaddr(blob);
	q.len = n;
	r = sev_op(c, KVM_SEV_LAUNCH_MEASURE, &q, fw);
	if (!r) {
		memcpy(m->measurement, blob, sizeof(m->measurement));
		memcpy(m->mnonce, blob + sizeof(m->measurement), sizeof(m->mnonce));
		m->api_major = c->m.api_major;
		m->api_minor = c->m.api_minor;
		m->build = c->m.build;
		m->policy = c->m.policy;
		m->handle = c->m.handle;
	}
	free(blob);
	return r;
}

static int sev_launch_secret(struct cc *c, uint64_t gpa, void *hva, const uint8_t hdr[CC_PKT_HDR_LEN],
			     const uint8_t *cipher, uint32_t len, uint32_t *fw)
{
	struct kvm_sev_launch_secret s;
	(void)gpa;
	memset(&s, 0, sizeof(s));
	s.hdr_uaddr = uaddr(hdr);
	s.hdr_len = CC_PKT_HDR_LEN;
	s.guest_uaddr = uaddr(hva);
	s.guest_len = len;
	s.trans_uaddr = uaddr(cipher);
	s.trans_len = len;
	return sev_op(c, KVM_SEV_LAUNCH_SECRET, &s, fw);
}

/* KVM_SEV_LAUNCH_UPDATE_VMSA takes no argument: KVM copies each vCPU's
 * registers (as KVM_SET_REGS/SREGS left them) into its VMSA and has the
 * firmware encrypt and measure every vCPU, in vCPU order, in one call. So
 * the call is made for vCPU 0; tern's serialization (vmsa) is not used:
 * the page hardware measures is KVM's (docs/cc.md). */
static int sev_launch_update_vmsa(struct cc *c, int vcpu, const void *vmsa, size_t len, uint32_t *fw)
{
	(void)vmsa;
	(void)len;
	if (vcpu)
		return 0;
	return sev_op(c, KVM_SEV_LAUNCH_UPDATE_VMSA, NULL, fw);
}

/* The CPU itself keeps an SEV-ES vCPU's VMSA, and MOVE_ENC_CONTEXT_FROM
 * gives vCPU i's to the destination's vCPU i: nothing for the VMM to
 * carry. */
static int sev_vmsa_store(struct cc *c, int vcpu, const void *state, size_t len, uint32_t *fw)
{
	(void)c, (void)vcpu, (void)state, (void)len;
	if (fw)
		*fw = 0;
	return 0;
}

static int sev_vmsa_fetch(struct cc *c, int vcpu, void **state, size_t *len, uint32_t *fw)
{
	(void)c, (void)vcpu;
	*state = NULL;
	*len = 0;
	if (fw)
		*fw = 0;
	return 0;
}

static int sev_launch_finish(struct cc *c, uint32_t *fw)
{
	return sev_op(c, KVM_SEV_LAUNCH_FINISH, NULL, fw);
}

static int sev_guest_status(struct cc *c, struct cc_guest_status *st, uint32_t *fw)
{
	struct kvm_sev_guest_status g;
	int r;

	memset(&g, 0, sizeof(g));
	r = sev_op(c, KVM_SEV_GUEST_STATUS, &g, fw);
	if (!r) {
		st->handle = g.handle;
		st->policy = g.policy;
		st->state = g.state;
	}
	return r;
}

/* ---- certificate chains ----------------------------------------------- */

struct sev_chain {
	const uint8_t *pdh, *plat, *amd;
	uint32_t pdh_len, plat_len, amd_len;
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Frame the three parts into one malloc'd blob. */
static int chain_pack(const struct sev_chain *k, void **out, size_t *len)
{
	size_t n = SEV_CHAIN_HDR + (size_t)k->pdh_len + k->plat_len + k->amd_len;
	uint8_t *b = malloc(n);
	if (!b)
		return -ENOMEM;
	memcpy(b, SEV_CHAIN_MAGIC, 4);
	put32(b + 4, k->pdh_len);
	put32(b + 8, k->plat_len);
	put32(b + 12, k->amd_len);
	if (k->pdh_len)                   /* a part may be absent (NULL, 0) */
		memcpy(b + SEV_CHAIN_HDR, k->pdh, k->pdh_len);
	if (k->plat_len)
		memcpy(b + SEV_CHAIN_HDR + k->pdh_len, k->plat, k->plat_len);
	if (k->amd_len)
		memcpy(b + SEV_CHAIN_HDR + k->pdh_len + k->plat_len, k->amd, k->amd_len);
	*out = b;
	*len = n;
	return 0;
}

/* Split a peer's blob; its parts point into it. */
static int chain_parse(const void *blob, size_t len, struct sev_chain *k)
{
	const uint8_t *b = blob;
	if (len < SEV_CHAIN_HDR || memcmp(b, SEV_CHAIN_MAGIC, 4))
		return -EINVAL;
	k->pdh_len = get32(b + 4);
	k->plat_len = get32(b + 8);
	k->amd_len = get32(b + 12);
	if ((uint64_t)k->pdh_len + k->plat_len + k->amd_len != len - SEV_CHAIN_HDR || !k->pdh_len)
		return -EINVAL;
	k->pdh = b + SEV_CHAIN_HDR;
	k->plat = k->pdh + k->pdh_len;
	k->amd = k->plat + k->plat_len;
	return 0;
}

/* PDH_CERT_EXPORT on /dev/sev: a length query (zero lengths; the firmware
 * answers INVALID_LEN and KVM's PSP driver writes the lengths back), then
 * the export into one buffer, PDH first. */
static int pdh_export(struct cc *c, uint8_t **buf, struct sev_chain *k, uint32_t *fw)
{
	struct sev_user_data_pdh_cert_export x;
	uint8_t *b;
	int r;

	memset(&x, 0, sizeof(x));
	r = sev_issue(c->platform, SEV_PDH_CERT_EXPORT, &x, fw);
	if (!x.pdh_cert_len || !x.cert_chain_len)
		return r ? r : -EPROTO;
	if (x.pdh_cert_len > SEV_BLOB_MAX || x.cert_chain_len > SEV_BLOB_MAX) {
		set_fw(fw, 0);
		return -EPROTO;
	}
	k->pdh_len = x.pdh_cert_len;
	k->plat_len = x.cert_chain_len;
	if (!(b = calloc(1, (size_t)k->pdh_len + k->plat_len)))
		return -ENOMEM;
	memset(&x, 0, sizeof(x));
	x.pdh_cert_address = uaddr(b);
	x.pdh_cert_len = k->pdh_len;
	x.cert_chain_address = uaddr(b + k->pdh_len);
	x.cert_chain_len = k->plat_len;
	if ((r = sev_issue(c->platform, SEV_PDH_CERT_EXPORT, &x, fw))) {
		free(b);
		return r;
	}
	k->pdh = b;
	k->plat = b + k->pdh_len;
	*buf = b;
	return 0;
}

/* The AMD root chain (ASK, ARK) for this host's CPU generation. */
static int amd_chain_read(uint8_t **buf, uint32_t *len)
{
	uint8_t *b = malloc(SEV_BLOB_MAX);
	size_t n = 0;
	ssize_t k = 1;
	int fd, r = 0;

	if (!b)
		return -ENOMEM;
	fd = cc_sev_sys.open(SEV_AMD_CHAIN, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = neg_errno();
		log__err("sev: cannot read the AMD certificate chain (ASK, ARK) at %s: %s; SEND_START "
			"on the source needs it", SEV_AMD_CHAIN, strerror(-r));
		free(b);
		return r;
	}
	while (n < SEV_BLOB_MAX && (k = cc_sev_sys.read(fd, b + n, SEV_BLOB_MAX - n)) > 0)
		n += (size_t)k;
	if (k < 0)
		r = neg_errno();
	else if (n == 0 || n == SEV_BLOB_MAX)
		r = -EINVAL;              /* empty, or larger than the firmware takes */
	cc_sev_sys.close(fd);
	if (r) {
		log__err("sev: the AMD certificate chain at %s is unusable: %s", SEV_AMD_CHAIN, strerror(-r));
		free(b);
		return r;
	}
	*buf = b;
	*len = (uint32_t)n;
	return 0;
}

static int sev_platform_chain(struct cc *c, void **chain, size_t *len, uint32_t *fw)
{
	struct sev_chain k = { 0 };
	uint8_t *own = NULL, *amd = NULL;
	int r = pdh_export(c, &own, &k, fw);
	if (!r)
		r = amd_chain_read(&amd, &k.amd_len);
	k.amd = amd;
	if (!r)
		r = chain_pack(&k, chain, len);
	free(own);
	free(amd);
	return r;
}

/* ---- transport ---------------------------------------------------------- */

/* SEND_START: the receiver's PDH, platform and AMD chains in; policy and
 * session out. session_len 0 is KVM's length query (the firmware answers
 * INVALID_LEN; KVM writes the length back): ask first, as QEMU does, and
 * insist on the SEV API's 128 bytes. The sender's own PDH goes with the
 * session (RECEIVE_START needs it); it is exported first, so a failure
 * there leaves the guest RUNNING. */
static int sev_send_start(struct cc *c, const void *peer_chain, size_t peer_len,
			  struct cc_send_session *ss, uint32_t *fw)
{
	struct kvm_sev_send_start q;
	struct sev_chain peer, own = { 0 };
	uint8_t *ownbuf = NULL;
	int r;

	set_fw(fw, 0);
	if (chain_parse(peer_chain, peer_len, &peer) || !peer.plat_len || !peer.amd_len)
		return -EINVAL;
	if ((r = pdh_export(c, &ownbuf, &own, fw)))
		return r;
	memset(&q, 0, sizeof(q));
	r = sev_op(c, KVM_SEV_SEND_START, &q, fw);
	if (q.session_len != CC_SESSION_LEN) {
		if (!r || q.session_len) {
			set_fw(fw, 0);
			r = -EPROTO;
		}
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.pdh_cert_uaddr = uaddr(peer.pdh);
	q.pdh_cert_len = peer.pdh_len;
	q.plat_certs_uaddr = uaddr(peer.plat);
	q.plat_certs_len = peer.plat_len;
	q.amd_certs_uaddr = uaddr(peer.amd);
	q.amd_certs_len = peer.amd_len;
	q.session_uaddr = uaddr(ss->session);
	q.session_len = CC_SESSION_LEN;
	if ((r = sev_op(c, KVM_SEV_SEND_START, &q, fw)))
		goto out;
	own.amd_len = 0;
	if ((r = chain_pack(&own, &ss->chain, &ss->chain_len))) {
		/* the guest is in SUPDATE now: back to RUNNING */
		(void)sev_op(c, KVM_SEV_SEND_CANCEL, NULL, NULL);
		goto out;
	}
	ss->policy = q.policy;
out:
	free(ownbuf);
	return r;
}

/* KVM pins one page: the range may not cross a page boundary. */
static bool one_page(const void *hva, uint32_t len)
{
	return len && len <= SEV_PAGE && ((uintptr_t)hva & (SEV_PAGE - 1)) + len <= SEV_PAGE;
}

/* The header is the SEV API's 52 bytes and, uncompressed, the transport
 * buffer is as long as the guest range, so no length query is needed. */
static int sev_send_update_data(struct cc *c, uint64_t gpa, void *hva, uint32_t len, struct cc_packet *pk,
				uint8_t *trans, size_t trans_cap, uint32_t *fw)
{
	struct kvm_sev_send_update_data u;
	int r;

	set_fw(fw, 0);
	if (!one_page(hva, len))
		return -EINVAL;
	if (len > trans_cap)
		return -EMSGSIZE;
	memset(&u, 0, sizeof(u));
	u.hdr_uaddr = uaddr(pk->hdr);
	u.hdr_len = CC_PKT_HDR_LEN;
	u.guest_uaddr = uaddr(hva);
	u.guest_len = len;
	u.trans_uaddr = uaddr(trans);
	u.trans_len = len;
	if ((r = sev_op(c, KVM_SEV_SEND_UPDATE_DATA, &u, fw)))
		return r;
	pk->gpa = gpa;
	pk->seq = 0;
	pk->len = len;
	return 0;
}

static int sev_send_finish(struct cc *c, uint32_t *fw)
{
	return sev_op(c, KVM_SEV_SEND_FINISH, NULL, fw);
}

static int sev_send_cancel(struct cc *c, uint32_t *fw)
{
	return sev_op(c, KVM_SEV_SEND_CANCEL, NULL, fw);
}

/* RECEIVE_START on a VM with SEV initialised: handle 0 asks for a new
 * context; KVM binds it to this VM's ASID and writes the handle back. */
static int sev_receive_start(struct cc *c, uint32_t policy, const uint8_t session[CC_SESSION_LEN],
			     const void *peer_chain, size_t peer_len, uint32_t *handle, uint32_t *fw)
{
	struct kvm_sev_receive_start rs;
	struct sev_chain peer;
	int r;

	set_fw(fw, 0);
	if (chain_parse(peer_chain, peer_len, &peer))
		return -EINVAL;
	memset(&rs, 0, sizeof(rs));
	rs.policy = policy;
	rs.pdh_uaddr = uaddr(peer.pdh);
	rs.pdh_len = peer.pdh_len;
	rs.session_uaddr = uaddr(session);
	rs.session_len = CC_SESSION_LEN;
	if ((r = sev_op(c, KVM_SEV_RECEIVE_START, &rs, fw)))
		return r;
	c->m.policy = policy;
	c->m.handle = rs.handle;
	if (handle)
		*handle = rs.handle;
	return 0;
}

static int sev_receive_update_data(struct cc *c, const struct cc_packet *pk, void *hva,
				   const uint8_t *trans, uint32_t *fw)
{
	struct kvm_sev_receive_update_data u;

	set_fw(fw, 0);
	if (!one_page(hva, pk->len))
		return -EINVAL;
	memset(&u, 0, sizeof(u));
	u.hdr_uaddr = uaddr(pk->hdr);
	u.hdr_len = CC_PKT_HDR_LEN;
	u.guest_uaddr = uaddr(hva);
	u.guest_len = pk->len;
	u.trans_uaddr = uaddr(trans);
	u.trans_len = pk->len;
	return sev_op(c, KVM_SEV_RECEIVE_UPDATE_DATA, &u, fw);
}

static int sev_receive_finish(struct cc *c, uint32_t *fw)
{
	return sev_op(c, KVM_SEV_RECEIVE_FINISH, NULL, fw);
}

/* ---- same host ---------------------------------------------------------- */

/* On hardware a VM's context is named by its KVM VM fd. */
static int sev_context_fd(struct cc *c)
{
	return c->kvm_vm_fd;
}

/* KVM_ENABLE_CAP on this VM with the other VM's fd in args[0]. KVM checks
 * everything (sev-semantics.md sections 1 and 2); no firmware status. */
static int enable_cap_fd(struct cc *c, uint32_t cap, int fd, uint32_t *fw)
{
	struct kvm_enable_cap e;

	set_fw(fw, 0);
	memset(&e, 0, sizeof(e));
	e.cap = cap;
	e.args[0] = (uint64_t)fd;
	return cc_sev_sys.ioctl(c->kvm_vm_fd, KVM_ENABLE_CAP, &e) < 0 ? neg_errno() : 0;
}

static int sev_move_from(struct cc *c, int src, uint32_t *fw)
{
	return enable_cap_fd(c, KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM, src, fw);
}

static int sev_mirror_from(struct cc *c, int owner, uint32_t *fw)
{
	return enable_cap_fd(c, KVM_CAP_VM_COPY_ENC_CONTEXT_FROM, owner, fw);
}

/* The token design never reached the kernel: hardware has no tokens. */
static int sev_local_send(struct cc *c, struct cc_token *t, uint32_t *fw)
{
	(void)c;
	(void)t;
	set_fw(fw, 0);
	return -EOPNOTSUPP;
}

static int sev_local_receive(struct cc *c, const struct cc_token *t, uint32_t *fw)
{
	(void)c;
	(void)t;
	set_fw(fw, 0);
	return -EOPNOTSUPP;
}

const struct cc_ops cc_sev_ops = {
	.name = "sev",
	.open = sev_open,
	.close = sev_close,
	.init = sev_init,
	.register_ram = sev_register_ram,
	.vcpus_created = sev_vcpus,
	.launch_start = sev_launch_start,
	.launch_update_data = sev_launch_update_data,
	.launch_measure = sev_launch_measure,
	.launch_secret = sev_launch_secret,
	.launch_finish = sev_launch_finish,
	.launch_update_vmsa = sev_launch_update_vmsa,
	.vmsa_store = sev_vmsa_store,
	.vmsa_fetch = sev_vmsa_fetch,
	.platform_chain = sev_platform_chain,
	.send_start = sev_send_start,
	.send_update_data = sev_send_update_data,
	.send_finish = sev_send_finish,
	.send_cancel = sev_send_cancel,
	.receive_start = sev_receive_start,
	.receive_update_data = sev_receive_update_data,
	.receive_finish = sev_receive_finish,
	.context_fd = sev_context_fd,
	.move_from = sev_move_from,
	.mirror_from = sev_mirror_from,
	.local_send = sev_local_send,
	.local_receive = sev_local_receive,
	.guest_status = sev_guest_status,
};
