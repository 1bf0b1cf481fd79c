/* cpuid_probe.h - does this host intercept a guest's ring-3 CPUID?
 *
 * On some hosts (docs/guest-abi.md "Read CPUID in ring 0") a `cpuid` in
 * guest ring 3 is not intercepted and answers with the outer hypervisor's
 * leaves. `tern host-check` asks by running one instruction in a
 * throwaway VM at CPL 3 whose CPUID table is the one tern gives guests. */
#ifndef TERN_KVM_CPUID_PROBE_H
#define TERN_KVM_CPUID_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include "kvm/kvm.h"

struct cpuid_probe {
	uint32_t tsc_khz;          /* KVM_GET_TSC_KHZ of the probe's vCPU */
	uint32_t want_max;         /* 0x40000000 EAX in tern's table */
	uint32_t got_eax, got_ebx, got_ecx, got_edx;   /* what ring 3 saw */
	int intercepted;           /* 1: ring 3 saw tern's table */
};

/* Returns 0 with *p filled, or -1 with a reason in err. */
int cpuid_probe__ring3(struct kvm_sys *k, struct cpuid_probe *p, char *err, size_t errlen);

/* Do AES-NI and PCLMULQDQ execute in guest ring 3? KVM's supported CPUID
 * may not list them although the CPU runs them (the nested development
 * hosts: ring 3 runs natively on a CPU that has them); the migration
 * helper, which runs in ring 3 and never executes cpuid, is told what
 * works (mirror/). *works: 1 if both ran, 0 if the probe faulted. 0, or
 * -1 with err when the probe itself could not run. */
int cpuid_probe__ring3_aes(struct kvm_sys *k, int *works, char *err, size_t errlen);

#endif
