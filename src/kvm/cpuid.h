/* cpuid.h - the CPUID table a tern guest sees (docs/guest-abi.md). */
#ifndef TERN_KVM_CPUID_H
#define TERN_KVM_CPUID_H

#include <stdbool.h>
#include <stdint.h>
#include "kvm/kvm.h"

#define KVM_FEATURE_HC_MAP_GPA_RANGE_BIT    16
#define KVM_FEATURE_MIGRATION_CONTROL_BIT   17
#define CPUID_TIMING_LEAF                   0x40000010u

/* Host-supported CPUID plus tern's paravirtual leaves. *out is malloc'd. */
int cpuid__build(struct kvm_sys *k, uint32_t tsc_khz, bool map_gpa_range, bool migctl,
		 struct kvm_cpuid2 **out);
/* A copy of base with vCPU `index`'s APIC ids filled in. */
struct kvm_cpuid2 *cpuid__for_vcpu(const struct kvm_cpuid2 *base, int index);
struct kvm_cpuid_entry2 *cpuid__find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx);

#endif
