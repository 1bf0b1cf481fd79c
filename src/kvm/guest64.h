/* guest64.h - a bare 64-bit guest for probes, tests and benchmarks that need a vCPU
 * to write guest memory without the guest runtime (the way the KVM
 * selftests do it): identity page tables with 2 MiB pages, a GDT and TSS,
 * and a vCPU entry state straight into long mode at CPL 3.
 *
 * CPL 3 because on the nested development hosts ring-0 guest code is
 * emulated (slow) while ring 3 runs natively. `out` to ports 0-63 works
 * from ring 3 through the TSS's I/O permission bitmap (all zero): IOPL 3
 * set with KVM_SET_REGS is also given, but kvm_pvm drops it (measured
 * 2026-11: `out` then raised #GP). The page-table entries have
 * their accessed and dirty bits preset, so the CPU never writes the page
 * tables: the only guest writes are the ones the code makes, which lets a
 * dirty-tracking test compare exactly. Header-only (static functions).
 *
 * Guest physical layout (RAM at GPA 0):
 *   0x1000 GDT, 0x2000 TSS, 0x3000 PML4, 0x4000 PDPT, 0x5000.. PDs
 *   (one per GiB, up to 4), 0x9000 code (up to 4 KiB), 0x10000.. free.
 */
#ifndef TERN_KVM_GUEST64_H
#define TERN_KVM_GUEST64_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#define G64_GDT      0x1000ULL
#define G64_TSS      0x2000ULL
#define G64_PML4     0x3000ULL
#define G64_PDPT     0x4000ULL
#define G64_PD       0x5000ULL
#define G64_CODE     0x9000ULL
#define G64_FREE     0x10000ULL
#define G64_MAX_RAM  (4ULL << 30)
#define G64_EXIT_PORT 0x10            /* `out %al, $0x10`: "done, back to the host" */

#define G64_SEL_CODE (0x18 | 3)
#define G64_SEL_DATA (0x20 | 3)
#define G64_SEL_TSS  0x28

/* Page tables, GDT, TSS and the code. Returns 0, or -EINVAL if RAM is
 * above 4 GiB or the code above 4 KiB. */
static inline int g64__setup_memory(uint8_t *ram, uint64_t size, const void *code, size_t codelen)
{
	const uint64_t upper = 0x27;          /* P RW US A */
	const uint64_t leaf = 0xe7;           /* P RW US A D PS */
	uint64_t *pml4 = (uint64_t *)(ram + G64_PML4), *pdpt = (uint64_t *)(ram + G64_PDPT);
	uint64_t *gdt = (uint64_t *)(ram + G64_GDT);
	uint64_t tss = G64_TSS, tlim = 0x68 + 8;   /* 8 zero bitmap bytes + the byte past them */

	if (size > G64_MAX_RAM || codelen > 4096 || size < G64_FREE)
		return -EINVAL;
	memset(ram, 0, G64_FREE);
	pml4[0] = G64_PDPT | upper;
	for (uint64_t g = 0; g * (1ULL << 30) < size; g++) {
		uint64_t *pd = (uint64_t *)(ram + G64_PD + g * 0x1000);
		pdpt[g] = (G64_PD + g * 0x1000) | upper;
		for (uint64_t i = 0; i < 512; i++) {
			uint64_t gpa = (g << 30) | (i << 21);
			if (gpa < size)
				pd[i] = gpa | leaf;
		}
	}
	/* 0x18: 64-bit code DPL 3; 0x20: data DPL 3; 0x28: 64-bit TSS (16 bytes) */
	gdt[3] = 0x00affa000000ffffULL;
	gdt[4] = 0x00cff2000000ffffULL;
	gdt[5] = (tlim & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ULL << 40) |
		 (((tss >> 24) & 0xff) << 56);
	gdt[6] = tss >> 32;
	*(uint16_t *)(ram + G64_TSS + 0x66) = 0x68;   /* I/O bitmap right after: ports 0-63 allowed */
	memcpy(ram + G64_CODE, code, codelen);
	return 0;
}

/* Long mode at CPL 3, RIP = G64_CODE + entry_off, general registers from
 * *regs (rip and rflags are overwritten). Returns 0 or -errno. */
static inline int g64__setup_vcpu(int vcpufd, uint64_t entry_off, const struct kvm_regs *regs)
{
	struct kvm_sregs s;
	struct kvm_regs r = *regs;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = G64_SEL_CODE, .type = 0xb,
		.present = 1, .dpl = 3, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = G64_SEL_DATA, .type = 0x3,
		.present = 1, .dpl = 3, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment tr = {
		.base = G64_TSS, .limit = 0x68 + 8, .selector = G64_SEL_TSS, .type = 0xb,
		.present = 1, .dpl = 0, .s = 0,
	};

	if (ioctl(vcpufd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = tr;
	s.gdt.base = G64_GDT;
	s.gdt.limit = 7 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr3 = G64_PML4;
	s.cr4 = 0x20;                         /* PAE */
	s.cr0 = 0x80050033;                   /* PG AM WP NE ET MP PE */
	s.efer = 0x500;                       /* LME LMA */
	if (ioctl(vcpufd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	r.rip = G64_CODE + entry_off;
	r.rflags = 0x3002;                    /* IOPL 3, bit 1 */
	if (ioctl(vcpufd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

#endif
