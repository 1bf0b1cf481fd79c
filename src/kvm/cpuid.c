/* cpuid.c - build the guest's CPUID table from what KVM supports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/cpuid.h"

struct kvm_cpuid_entry2 *cpuid__find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != fn)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != idx)
			continue;
		return e;
	}
	return NULL;
}

static struct kvm_cpuid_entry2 *add(struct kvm_cpuid2 **pc, uint32_t fn)
{
	struct kvm_cpuid2 *c = *pc;
	struct kvm_cpuid_entry2 *e = cpuid__find(c, fn, 0);
	if (e)
		return e;
	c = realloc(c, sizeof(*c) + (c->nent + 1) * sizeof(c->entries[0]));
	if (!c)
		return NULL;
	*pc = c;
	e = &c->entries[c->nent++];
	memset(e, 0, sizeof(*e));
	e->function = fn;
	return e;
}

int cpuid__build(struct kvm_sys *k, uint32_t tsc_khz, bool map_gpa_range, bool migctl,
		 struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *e;
	int r = kvm__supported_cpuid(k, &c);
	if (r)
		return r;

	/* KVM signature leaf; raise the max to include the timing leaf */
	if (!(e = add(&c, 0x40000000)))
		goto nomem;
	e->eax = CPUID_TIMING_LEAF;
	memcpy(&e->ebx, "KVMK", 4);
	memcpy(&e->ecx, "VMKV", 4);
	memcpy(&e->edx, "M\0\0\0", 4);

	if (!(e = add(&c, 0x40000001)))
		goto nomem;
	/* only what tern itself handles: the hypercall exit and the MSR filter */
	e->eax &= ~((1u << KVM_FEATURE_HC_MAP_GPA_RANGE_BIT) | (1u << KVM_FEATURE_MIGRATION_CONTROL_BIT));
	if (map_gpa_range)
		e->eax |= 1u << KVM_FEATURE_HC_MAP_GPA_RANGE_BIT;
	if (migctl)
		e->eax |= 1u << KVM_FEATURE_MIGRATION_CONTROL_BIT;

	if (!(e = add(&c, CPUID_TIMING_LEAF)))
		goto nomem;
	e->eax = tsc_khz;
	e->ebx = 0;                       /* no LAPIC timer */
	*out = c;
	return 0;
nomem:
	free(c);
	return -ENOMEM;
}

struct kvm_cpuid2 *cpuid__for_vcpu(const struct kvm_cpuid2 *base, int index)
{
	size_t sz = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return NULL;
	memcpy(c, base, sz);
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)index << 24);
		if (e->function == 0xb || e->function == 0x1f)
			e->edx = (uint32_t)index;
	}
	return c;
}
