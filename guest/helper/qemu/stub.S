/* stub.S - plays the VMM's part for guest/helper/qemu/smoke.py: QEMU loads
 * the region's contents (image, page tables, GDT, TSS, key slot, mailbox)
 * as raw blobs, as a VMM would write them; this multiboot stub only sets
 * what KVM_SET_SREGS/REGS would (docs/guest-abi.md, "Entry state of a
 * helper vCPU") and irets into ring 3 at the helper's entry as lane 0.
 * The GDT's TSS descriptor is "available" so that ltr can load it. */
	.section .multiboot, "a"
	.balign 4
	.long 0x1BADB002
	.long 0
	.long -(0x1BADB002)
	.text
	.code32
	.globl _start
_start:
	cli
	mov $0x500000, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x620, %eax
	mov %eax, %cr4
	mov $0xC0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	lgdt gdtr
	mov %cr0, %eax
	and $~0xC, %eax
	or $0x80010033, %eax
	mov %eax, %cr0
	ljmp $0x08, $long64
	.code64
long64:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	mov $0x28, %eax
	ltr %ax
	mov $0xC0000100, %ecx
	mov $0x610000, %eax
	xor %edx, %edx
	wrmsr
	mov $0x200000, %rsp
	pushq $0x1B
	pushq $0x610000
	pushq $0x3002
	pushq $0x23
	pushq $0x400000
	xor %edi, %edi
	xor %eax, %eax
	xor %ecx, %ecx
	xor %edx, %edx
	xor %esi, %esi
	iretq
	.data
	.balign 8
gdtr:	.word 0x37
	.long 0x580000
	.section .note.GNU-stack, "", @progbits
