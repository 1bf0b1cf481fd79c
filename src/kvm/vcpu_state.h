/* vcpu_state.h - everything KVM exposes about one x86 vCPU, saved into and
 * restored from a self-describing tlv payload (a REC_VCPU section). */
#ifndef TERN_KVM_VCPU_STATE_H
#define TERN_KVM_VCPU_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/kvm.h"
#include "state/record.h"

#define VCPU_STATE_VERSION 1

/* tlv field ids inside REC_VCPU; all are required */
enum vcpu_field {
	VS_INDEX     = 1,                 /* u64 vCPU index */
	VS_REGS      = 2,                 /* struct kvm_regs */
	VS_SREGS     = 3,                 /* struct kvm_sregs */
	VS_XSAVE     = 4,                 /* KVM_GET_XSAVE(2) area, size varies by host */
	VS_XCRS      = 5,                 /* struct kvm_xcrs */
	VS_MSRS      = 6,                 /* n x struct kvm_msr_entry (index, data) */
	VS_DEBUGREGS = 7,                 /* struct kvm_debugregs */
	VS_EVENTS    = 8,                 /* struct kvm_vcpu_events */
	VS_MP_STATE  = 9,                 /* struct kvm_mp_state */
	VS_CPUID     = 10,                /* n x struct kvm_cpuid_entry2 the guest saw */
	/* SEV-ES: instead of all the above but VS_INDEX, u64 1: the vCPU's
	 * state is in its VMSA, which moves with the encryption context */
	VS_VMSA      = 11,
};

/* What to save, decided once per VM: the MSRs this host lets us read back,
 * and the size of the XSAVE area. */
struct vcpu_state_cfg {
	uint32_t *msrs;
	uint32_t  nmsrs;
	size_t    xsave_size;             /* 0: no XSAVE, use KVM_GET_FPU... not supported here */
};

/* Probe on a created (not yet run) vCPU. */
int  vcpu_state__probe(struct kvm_sys *k, int vcpufd, struct vcpu_state_cfg *cfg);
void vcpu_state__cfg_free(struct vcpu_state_cfg *cfg);

/* Save vCPU `index` (paused, with any pending I/O completed) into b. */
int  vcpu_state__save(int vcpufd, int index, const struct vcpu_state_cfg *cfg,
		      const struct kvm_cpuid2 *cpuid, struct tlv_buf *b,
		      char *err, size_t errlen);
/* Pull the CPUID table out of a saved payload (to give a new vCPU before
 * restoring the rest). *out is malloc'd. */
int  vcpu_state__cpuid(const void *p, size_t len, struct kvm_cpuid2 **out, char *err, size_t errlen);
/* Restore registers, MSRs, events... onto a vCPU that already has its CPUID. */
int  vcpu_state__restore(int vcpufd, const void *p, size_t len, char *err, size_t errlen);

/* Print registers for a crash report. */
void vcpu_state__dump(int vcpufd, int index);

#endif
