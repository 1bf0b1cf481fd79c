/* boot.S - multiboot header and the 32-bit entry every CPU starts at.
 *
 * The bootstrap CPU (EAX = multiboot magic) saves what it needs from the
 * multiboot information and builds identity page tables; the others (tern's
 * AP magic, EBX = vCPU index) wait until the tables and the IDT exist. Then
 * each CPU enables long mode and SSE on its own ring-0 stack and jumps to
 * entry64 (entry64.S). Everything here runs emulated in ring 0, so it stays
 * short.
 */
#include "layout.h"

#define MB_FLAGS (1 << 0 | 1 << 1)     /* page-align modules, want memory info; no a.out kludge */

	.section .multiboot, "a"
	.balign 4
	.long MB_HEADER_MAGIC
	.long MB_FLAGS
	.long -(MB_HEADER_MAGIC + MB_FLAGS)

	.section .text.boot, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	cmp $MB_BOOT_MAGIC, %eax
	je bsp
	cmp $TERN_AP_MAGIC, %eax
	jne park                       /* unknown loader: nothing sensible to do */
	mov %ebx, %esi                 /* esi = cpu index for the rest of the stub */
	cmp $RT_MAX_CPUS, %esi
	jae park                       /* no GDT slot / stacks for this CPU */
1:	pause                          /* BSP publishes this after page tables + IDT */
	cmpl $0, rt_tables_ready
	je 1b
	jmp common

bsp:
	xor %esi, %esi
	mov (%ebx), %ecx               /* multiboot flags */
	mov $(127 * 1024), %eax        /* no memory info (never seen): assume 128 MiB */
	test $1, %ecx
	jz 2f
	mov 8(%ebx), %eax              /* mem_upper, KiB above 1 MiB */
2:	mov %eax, rt_mem_upper_kib
	xor %eax, %eax
	test $4, %ecx
	jz 3f
	mov 16(%ebx), %eax             /* cmdline GPA; ring 3 copies it before touching RAM */
3:	mov %eax, rt_boot_cmdline

	/* Number of 2 MiB pages covering RAM = ceil((mem_upper + 1 MiB) / 2 MiB),
	 * clamped to what the page directories in .bss can map. */
	mov rt_mem_upper_kib, %eax
	cmp $(RT_MAX_PD * 1024 * 1024 - 1024), %eax
	jb 4f
	mov $(RT_MAX_PD * 1024 * 1024 - 1024), %eax
4:	add $(1024 + 2047), %eax
	shr $11, %eax
	mov %eax, rt_map_2m_pages

	/* PD entries: P | RW | US | PS. Ring 3 may touch all RAM. */
	mov %eax, %edx                 /* edx = count */
	xor %ecx, %ecx
	mov $rt_pd, %edi
5:	cmp %edx, %ecx
	jae 6f
	mov %ecx, %eax
	shl $21, %eax
	or $0x87, %eax
	mov %eax, (%edi, %ecx, 8)
	mov %ecx, %eax
	shr $11, %eax                  /* bits 32+ of the 2 MiB frame address */
	mov %eax, 4(%edi, %ecx, 8)
	inc %ecx
	jmp 5b
	/* PDPT entries: one per 1 GiB directory in use. */
6:	add $511, %edx
	shr $9, %edx
	xor %ecx, %ecx
	mov $rt_pdpt, %edi
7:	cmp %edx, %ecx
	jae 8f
	mov %ecx, %eax
	shl $12, %eax
	add $(rt_pd + 7), %eax         /* P | RW | US */
	mov %eax, (%edi, %ecx, 8)
	inc %ecx
	jmp 7b
8:	movl $(rt_pdpt + 7), rt_pml4

common:
	/* Own ring-0 stack: rt_kstacks + (cpu + 1) * RT_KSTACK_SIZE. */
	lea 1(%esi), %eax
	imul $RT_KSTACK_SIZE, %eax
	add $rt_kstacks, %eax
	mov %eax, %esp

	lgdt rt_gdt_ptr
	mov %cr4, %eax
	or $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax   /* PAE; SSE for ring-3 libraries */
	mov %eax, %cr4
	mov $rt_pml4, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx          /* EFER */
	rdmsr
	or $(1 << 8), %eax             /* LME */
	wrmsr
	mov %cr0, %eax
	and $~(CR0_EM | CR0_TS), %eax  /* SSE: no x87 emulation, no lazy-FPU trap */
	or $(CR0_PG | CR0_MP | CR0_PE), %eax
	mov %eax, %cr0
	ljmp $SEL_KCODE, $entry64

park:
	cli
	hlt
	jmp park

	.section .note.GNU-stack, "", @progbits
