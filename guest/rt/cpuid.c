/* cpuid.c - every CPUID the guest needs, executed once in ring 0.
 *
 * Why ring 0: on some hosts (the AMD development machines, see
 * docs/guest-abi.md "CPUID") a `cpuid` executed in ring 3 is not intercepted
 * and answers with the outer hypervisor's leaves instead of the VMM's table.
 * Only a ring-0 `cpuid` is sure to reach the VMM. So the bootstrap CPU probes
 * here, before it drops to ring 3, and ring-3 code reads rt_cpu_facts; it
 * never executes `cpuid` itself (rt.h offers no cpuid helper).
 * Ring 0 is emulated here (slow): a handful of leaves, nothing more.
 */
#include "rt_int.h"

struct rt_cpu_facts rt_cpu_facts;

static inline void cpuid_ring0(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

void rt_cpuid_probe(void)
{
	struct rt_cpu_facts *f = &rt_cpu_facts;
	u32 a, b, c, d;

	cpuid_ring0(0, &a, &b, &c, &d);
	f->std_max = a;
	if (f->std_max >= 1) {
		cpuid_ring0(1, &a, &b, &c, &d);
		f->leaf1_ecx = c;
		f->leaf1_edx = d;
	}

	/* "KVMKVMKVM\0\0\0" in EBX ECX EDX */
	cpuid_ring0(0x40000000, &a, &b, &c, &d);
	if (b != 0x4b4d564b || c != 0x564b4d56 || d != 0x4d)
		return;
	f->kvm_max = a;
	if (f->kvm_max >= 0x40000001) {
		cpuid_ring0(0x40000001, &a, &b, &c, &d);
		f->kvm_features = a;
	}
	if (f->kvm_max >= 0x40000010) {
		cpuid_ring0(0x40000010, &a, &b, &c, &d);
		f->tsc_khz = a;
	}
}
