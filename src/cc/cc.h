/* cc.h - the confidential-computing platform behind a VM: one interface,
 * three back-ends (architecture.md section 2):
 *   none - ordinary VMs: every page is shared, nothing to do;
 *   emu  - the emulated SEV platform, tern-psp (emu.c);
 *   sev  - AMD hardware through /dev/sev and KVM_MEMORY_ENCRYPT_OP (sev.c).
 * Operations mirror the KVM SEV commands and capabilities; each returns 0
 * or -errno, and for -EIO the firmware's status is in *fw (may be NULL).
 *
 * Everything tern does with a platform goes through these ops: the rest
 * of tern (vm/, migrate/) never sees tern-psp's protocol, so the types
 * below are cc's own; emu.c translates them to tern-psp's messages and
 * sev.c to the kernel's parameter blocks. */
#ifndef TERN_CC_CC_H
#define TERN_CC_CC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CC_SESSION_LEN  128               /* a transport session blob (SEV API) */
#define CC_PKT_HDR_LEN  52                /* a packet header: flags, IV, MAC (SEV API) */
#define CC_POLICY_ES    (1u << 2)         /* guest policy bit: SEV-ES (SEV API) */

/* Guest states, as the firmware numbers them (sev-semantics.md section 6) */
enum cc_guest_state {
	CC_STATE_UNINIT  = 0,
	CC_STATE_LUPDATE = 1,
	CC_STATE_LSECRET = 2,
	CC_STATE_RUNNING = 3,
	CC_STATE_SUPDATE = 4,
	CC_STATE_RUPDATE = 5,
	CC_STATE_SENT    = 6,
};

struct cc_guest_status {
	uint32_t handle, policy, state;
};

struct cc;

struct cc_measurement {
	uint8_t  measurement[32];
	uint8_t  mnonce[16];
	uint8_t  api_major, api_minor, build;
	uint32_t policy;
	uint32_t handle;
};

/* What a guest owner supplies at launch (all optional). */
struct cc_launch {
	uint32_t policy;
	const uint8_t *session;           /* CC_SESSION_LEN bytes, or NULL */
	const char *owner_pub;            /* the owner's public key (PEM), with session */
	size_t owner_pub_len;
};

/* What SEND_START produced: everything the receiving platform needs for
 * RECEIVE_START. */
struct cc_send_session {
	uint32_t policy;
	uint8_t  session[CC_SESSION_LEN];
	void    *chain;                   /* the sending platform's certificate chain (malloc'd) */
	size_t   chain_len;
};

/* One sealed page (SEND_UPDATE_DATA's output, RECEIVE_UPDATE_DATA's input);
 * the len bytes of ciphertext travel in a buffer of the caller's. */
struct cc_packet {
	uint64_t gpa;
	uint64_t seq;                     /* emu: per-session number bound into the MAC; sev: 0 */
	uint32_t len;                     /* ciphertext bytes */
	uint8_t  hdr[CC_PKT_HDR_LEN];
};

/* Token-mode handoff (sev-semantics.md section 3): a one-time number that
 * names a context staged by LOCAL_SEND. Only the emulated platform has it. */
struct cc_token {
	uint64_t token;
};

struct cc_ops {
	const char *name;
	/* connect to the platform; kvm_vm_fd is the KVM VM (used by sev) */
	int  (*open)(struct cc *c, int kvm_vm_fd, char *err, size_t errlen);
	void (*close)(struct cc *c);
	int  (*init)(struct cc *c, bool es, uint32_t *fw);
	int  (*register_ram)(struct cc *c, int memfd, uint64_t gpa, uint64_t size, void *hva);
	int  (*vcpus_created)(struct cc *c, int n);

	/* launch */
	int  (*launch_start)(struct cc *c, const struct cc_launch *l, uint32_t *handle, uint32_t *fw);
	int  (*launch_update_data)(struct cc *c, uint64_t gpa, void *hva, uint32_t len, uint32_t *fw);
	int  (*launch_measure)(struct cc *c, struct cc_measurement *m, uint32_t *fw);
	int  (*launch_secret)(struct cc *c, uint64_t gpa, void *hva, const uint8_t hdr[CC_PKT_HDR_LEN],
			      const uint8_t *cipher, uint32_t len, uint32_t *fw);
	int  (*launch_finish)(struct cc *c, uint32_t *fw);

	/* SEV-ES (c->es). launch_update_vmsa: LAUNCH_UPDATE_VMSA for vCPU
	 * vcpu, after every LAUNCH_UPDATE_DATA and before LAUNCH_MEASURE,
	 * vmsa being the page vmsa.h serializes from the state the VMM set.
	 * emu: one request per vCPU, measured in that order; sev: KVM builds
	 * and encrypts every vCPU's VMSA itself from the registers the VMM
	 * set, in one call (made for vCPU 0; the others are no-ops). */
	int  (*launch_update_vmsa)(struct cc *c, int vcpu, const void *vmsa, size_t len, uint32_t *fw);
	/* A launched SEV-ES vCPU's state in the platform, for a handoff.
	 * emu: vmsa_store replaces the platform's copy with state (the VMM's
	 * saved vCPU, as the CPU writes the VMSA at #VMEXIT); vmsa_fetch
	 * gives it back (malloc'd) in the process the context moved to. sev:
	 * the CPU keeps the VMSA and the move carries it, so vmsa_store does
	 * nothing and vmsa_fetch returns *len = 0 (nothing for the VMM to
	 * restore). */
	int  (*vmsa_store)(struct cc *c, int vcpu, const void *state, size_t len, uint32_t *fw);
	int  (*vmsa_fetch)(struct cc *c, int vcpu, void **state, size_t *len, uint32_t *fw);

	/* transport to another host. platform_chain: this platform's
	 * certificate chain, for the peer's SEND_START (malloc'd). The chain
	 * is opaque outside the back-end. */
	int  (*platform_chain)(struct cc *c, void **chain, size_t *len, uint32_t *fw);
	/* RUNNING -> SUPDATE, for the platform whose chain is given; on
	 * success s->chain is the caller's to free */
	int  (*send_start)(struct cc *c, const void *peer_chain, size_t peer_len,
			   struct cc_send_session *s, uint32_t *fw);
	/* seal len bytes at gpa (hva: the same bytes in this process, one page
	 * at most, not crossing a page boundary) into *pk and trans (trans_cap
	 * bytes) */
	int  (*send_update_data)(struct cc *c, uint64_t gpa, void *hva, uint32_t len, struct cc_packet *pk,
				 uint8_t *trans, size_t trans_cap, uint32_t *fw);
	int  (*send_finish)(struct cc *c, uint32_t *fw);    /* SUPDATE -> SENT */
	int  (*send_cancel)(struct cc *c, uint32_t *fw);    /* SUPDATE -> RUNNING */
	/* UNINIT (SEV initialised) -> RUPDATE; peer_chain is the sender's */
	int  (*receive_start)(struct cc *c, uint32_t policy, const uint8_t session[CC_SESSION_LEN],
			      const void *peer_chain, size_t peer_len, uint32_t *handle, uint32_t *fw);
	/* verify and write one packet at pk->gpa (hva: the same address here) */
	int  (*receive_update_data)(struct cc *c, const struct cc_packet *pk, void *hva,
				    const uint8_t *trans, uint32_t *fw);
	int  (*receive_finish)(struct cc *c, uint32_t *fw); /* RUPDATE -> RUNNING */

	/* same host. context_fd: the descriptor another VM names this VM's
	 * context by (emu: the tern-psp handle; sev: the KVM VM fd); passing
	 * it to another process passes the right to take the context. */
	int  (*context_fd)(struct cc *c);
	/* KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: take over src's context (src
	 * is its context_fd); this VM must not have initialised SEV */
	int  (*move_from)(struct cc *c, int src, uint32_t *fw);
	/* KVM_CAP_VM_COPY_ENC_CONTEXT_FROM: become a mirror of owner's
	 * context (owner is its context_fd); this VM has no vCPUs yet */
	int  (*mirror_from)(struct cc *c, int owner, uint32_t *fw);
	/* token mode: stage the context / adopt a staged one. -EOPNOTSUPP
	 * where the platform has no tokens (hardware) */
	int  (*local_send)(struct cc *c, struct cc_token *t, uint32_t *fw);
	int  (*local_receive)(struct cc *c, const struct cc_token *t, uint32_t *fw);

	/* status */
	int  (*guest_status)(struct cc *c, struct cc_guest_status *st, uint32_t *fw);
};

struct cc {
	const struct cc_ops *ops;
	int  kvm_vm_fd;
	int  platform;                    /* emu: platform connection; sev: /dev/sev */
	int  handle_fd;                   /* emu: the VM's handle at tern-psp */
	char socket[108];                 /* emu: where tern-psp listens */
	bool have_measurement;
	/* SEV-ES: set before open (emu creates an SEV-ES-type VM, init uses
	 * KVM_SEV_INIT2 with vmsa_features); vmsa_sealed once
	 * LAUNCH_UPDATE_VMSA encrypted the vCPUs' state (cc__vcpu_regs) */
	bool es;
	uint64_t vmsa_features;
	bool vmsa_sealed;
	uint64_t token;                   /* token-mode handoff: what LOCAL_SEND staged */
	struct cc_measurement m;
	/* emu: a thread watches the platform connection; when tern-psp dies or
	 * restarts, the VM's context is gone and `lost` is set (cc__lost) */
	int       watch_wake;             /* eventfd that ends the watcher, -1 if none */
	pthread_t watcher;
	int       lost;                   /* atomic */
};

extern const struct cc_ops cc_emu_ops, cc_sev_ops;

/* NULL while the platform is there; else why it is not ("the connection to
 * tern-psp at PATH was lost: ..."). Moves refuse on it; status shows it. */
const char *cc__lost(struct cc *c);
/* Describe an error from a cc call: "EIO (firmware: INVALID_GUEST_STATE)". */
const char *cc__strerror(int r, uint32_t fw, char *buf, size_t len);
/* Whether the host may read or set vCPU vcpu's registers: 0 if so; -1
 * with err naming the cause once an SEV-ES launch has encrypted them into
 * its VMSA (the host can neither read nor set them from then on). */
int cc__vcpu_regs(const struct cc *c, int vcpu, char *err, size_t errlen);
/* emu: is a tern-psp answering at the default socket (path into sock)?
 * 0 if so, else -errno. For host-check; opening a VM finds its own. */
int cc__emu_probe(char *sock, size_t len);

#endif
