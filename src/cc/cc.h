/* cc.h - the confidential-computing platform behind a VM: one interface,
 * three back-ends (architecture.md section 2):
 *   none - ordinary VMs: every page is shared, nothing to do;
 *   emu  - the emulated SEV platform, tern-psp (emu.c);
 *   sev  - AMD hardware through /dev/sev and KVM_MEMORY_ENCRYPT_OP (sev.c).
 * Operations mirror the KVM SEV commands; each returns 0 or -errno, and
 * for -EIO the firmware's status is in *fw (may be NULL). */
#ifndef TERN_CC_CC_H
#define TERN_CC_CC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/psp_proto.h"

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
	const uint8_t *session;           /* PSP_SESSION_LEN bytes, or NULL */
	const char *owner_pub;            /* the owner's public key (PEM), with session */
	size_t owner_pub_len;
};

struct cc_ops {
	const char *name;
	/* connect to the platform; kvm_vm_fd is the KVM VM (used by sev) */
	int  (*open)(struct cc *c, int kvm_vm_fd, char *err, size_t errlen);
	void (*close)(struct cc *c);
	int  (*init)(struct cc *c, bool es, uint32_t *fw);
	int  (*register_ram)(struct cc *c, int memfd, uint64_t gpa, uint64_t size, void *hva);
	int  (*vcpus_created)(struct cc *c, int n);
	int  (*launch_start)(struct cc *c, const struct cc_launch *l, uint32_t *handle, uint32_t *fw);
	int  (*launch_update_data)(struct cc *c, uint64_t gpa, void *hva, uint32_t len, uint32_t *fw);
	int  (*launch_measure)(struct cc *c, struct cc_measurement *m, uint32_t *fw);
	int  (*launch_secret)(struct cc *c, uint64_t gpa, void *hva, const uint8_t hdr[PSP_PKT_HDR_LEN],
			      const uint8_t *cipher, uint32_t len, uint32_t *fw);
	int  (*launch_finish)(struct cc *c, uint32_t *fw);
	int  (*guest_status)(struct cc *c, struct psp_guest_status *st, uint32_t *fw);
};

struct cc {
	const struct cc_ops *ops;
	int  kvm_vm_fd;
	int  platform;                    /* emu: platform connection; sev: /dev/sev */
	int  handle_fd;                   /* emu: the VM's handle at tern-psp */
	char socket[108];                 /* emu: where tern-psp listens */
	bool have_measurement;
	uint64_t token;                   /* token-mode handoff: what LOCAL_SEND staged */
	struct cc_measurement m;
	/* emu: a thread watches the platform connection; when tern-psp dies or
	 * restarts, the VM's context is gone and `lost` is set (cc__lost) */
	int       watch_wake;             /* eventfd that ends the watcher, -1 if none */
	pthread_t watcher;
	int       lost;                   /* atomic */
};

extern const struct cc_ops cc_emu_ops, cc_sev_ops;

/* Pick the back-end by name ("emu", "sev"); NULL for unknown. */
const struct cc_ops *cc_ops_by_name(const char *name);
/* NULL while the platform is there; else why it is not ("the connection to
 * tern-psp at PATH was lost: ..."). Moves refuse on it; status shows it. */
const char *cc__lost(struct cc *c);
/* Describe an error from a cc call: "EIO (firmware: INVALID_GUEST_STATE)". */
const char *cc_strerror(int r, uint32_t fw, char *buf, size_t len);

#endif
