/* entry.S - where a helper vCPU starts (docs/guest-abi.md, "Migration
 * helper"): ring 3, 64-bit, RSP = its lane's stack top, RDI = lane index,
 * FS base = its lane's TLS page. Linked first, at HELPER_BASE.
 *
 * BearSSL is built hosted with the stack protector, which reads its canary
 * at %fs:0x28, so the canary goes there before any C runs. It only has to
 * be unpredictable to data the VMM feeds in, so the TSC will do.
 */
	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	mov $0x9E3779B97F4A7C15, %rcx
	imul %rcx, %rax
	xor %rdi, %rax
	shl $8, %rax                   /* low byte zero: a string copy cannot forge it */
	mov %rax, %fs:0x28
	xor %eax, %eax
	xor %ecx, %ecx
	xor %edx, %edx
	and $-16, %rsp                 /* the ABI's alignment before a call */
	call helper_main               /* never returns */
1:	ud2                            /* no IDT: a fault ends in a shutdown exit */
	jmp 1b

	.section .note.GNU-stack, "", @progbits
