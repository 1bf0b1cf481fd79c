/* vmsa.h - an SEV-ES vCPU's initial register state, and the one fixed
 * serialization of it that LAUNCH_UPDATE_VMSA measures: tern (vm.c, which
 * also sets the vCPU from the same values) and the guest owner's tooling
 * (`tern owner digest`, launch_digest.c) both build it here, so the two
 * always agree.
 *
 * The serialization is a 4 KiB page laid out as the AMD VMSA (the SEV-ES
 * save area of the APM, vol. 2, table B-4; Linux's struct
 * sev_es_save_area): segments at 0x000 (ES, CS, SS, DS, FS, GS, GDTR,
 * LDTR, IDTR, TR; 16 bytes each: selector u16, attributes u16 in the
 * VMCB's packed form, limit u32, base u64), EFER 0x0D0, CR4 0x148,
 * CR3 0x150, CR0 0x158, RFLAGS 0x170, RIP 0x178, RSP 0x1D8, RAX 0x1F8,
 * RCX 0x308, RDX 0x310, RBX 0x318, RBP 0x328, RSI 0x330, RDI 0x338,
 * R8-R15 0x340-0x378, SEV_FEATURES 0x3B0; little endian; every other byte
 * zero (docs/cc.md says what hardware's page holds besides). */
#ifndef TERN_CC_VMSA_H
#define TERN_CC_VMSA_H

#include <stdint.h>

#define VMSA_SIZE 4096u

struct vmsa_seg {
	uint16_t selector;
	uint16_t attrib;                  /* VMCB form: type | S<<4 | DPL<<5 | P<<7 | AVL<<8 |
					   * L<<9 | DB<<10 | G<<11 */
	uint32_t limit;
	uint64_t base;
};

/* What tern sets in a vCPU before it first runs; everything else is the
 * CPU's reset state. */
struct vmsa_regs {
	struct vmsa_seg es, cs, ss, ds, fs, gs;
	uint64_t efer, cr0, cr3, cr4, rflags, rip;
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r[8];                    /* r8..r15 */
};

/* The multiboot entry state of vCPU `index` (tern's boot protocol,
 * docs/guest-abi.md): flat 32-bit protected mode, paging off, CS 0x08 and
 * the data segments 0x10, CR0 = PE|ET, RFLAGS 0x2, RIP = entry; the boot
 * processor has EAX = the multiboot magic and EBX = the boot information's
 * GPA, the others EAX = tern's AP magic and EBX = their index. */
void vmsa__entry(uint64_t entry, int index, struct vmsa_regs *out);

/* The 4 KiB page LAUNCH_UPDATE_VMSA is given for these registers and the
 * VM's VMSA features (the SEV_FEATURES field, as KVM writes it from
 * KVM_SEV_INIT2's vmsa_features). */
void vmsa__encode(const struct vmsa_regs *r, uint64_t sev_features, uint8_t out[VMSA_SIZE]);

#endif
