/* entry64.S - 64-bit ring-0 entry, exception stubs and the int 0x80 gate.
 *
 * entry64: per-CPU setup in C (rt_cpu_setup), then iretq into ring 3 with
 * IF=0 on the CPU's own user stack. The exception stubs push a uniform
 * frame and call rt_exception, which reports and stops the VM. The service
 * gate handles the few things ring 3 cannot do itself (an MSR write, a
 * deliberate triple fault, a final halt).
 */
#include "layout.h"

	.text
	.code64
	.globl entry64
entry64:
	mov $SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax                 /* FS, GS null: iretq to ring 3 leaves them be, */
	mov %eax, %fs                  /* and rt_cpu_setup then sets FS base by MSR */
	mov %eax, %gs
	mov %esp, %esp                 /* upper halves are undefined after the mode switch */
	mov %esi, %r12d                /* cpu index, callee-saved across C calls */

	test %r12d, %r12d
	jnz 1f
	call rt_cpuid_probe            /* BSP only: CPUID is trusted in ring 0 alone */
	call rt_build_idt              /* BSP only, then let the APs in */
	movl $1, rt_tables_ready
1:	mov %r12d, %edi
	call rt_cpu_setup              /* TSS, ltr, lidt, FS base */

	/* iretq frame: SS, RSP, RFLAGS, CS, RIP. RSP sits 8 below the top so
	 * rt_user_start sees the stack alignment of a normal call. */
	lea 1(%r12), %rax
	imul $RT_USTACK_SIZE, %rax
	add $rt_ustacks, %rax
	sub $8, %rax
	pushq $(SEL_UDATA | 3)
	push %rax
	/* IF=0, IOPL=3. Ring-3 port I/O must work on every host, and hosts
	 * differ: the nested development KVM ignores an IOPL set by iretq but
	 * honours the TSS I/O bitmap (all ports open); QEMU's TCG, which runs
	 * the nested-KVM test VM (scripts/nested-kvm), checks the bitmap only
	 * while TR's cached type is "available", and after a restore TR is
	 * "busy" (as KVM reports it), so there only IOPL lets the guest's
	 * port I/O through. With both set, either path works. */
	pushq $0x3002
	pushq $(SEL_UCODE | 3)
	pushq $rt_user_start
	mov %r12d, %edi
	iretq

/* Exception stubs: make every frame look like (vector, error code, CPU frame). */
.macro EXC vec
	.balign 16
exc_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp exc_common
.endm

	.irp v, 0,1,2,3,4,5,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	EXC \v
	.endr

/* #UD. On the development machines' KVM every ring-3 "int n" raises #UD
 * instead of going through its gate, so a #UD from ring 3 on the bytes of
 * "int $0x80" (cd 80) is the service call: run it and resume after it. The
 * frame (RIP CS RFLAGS RSP SS) is the same one the gate would have built. */
	.balign 16
exc_6:
	testb $3, 8(%rsp)              /* from ring 3? */
	jz 1f
	push %rcx
	mov 8(%rsp), %rcx              /* faulting RIP */
	cmpw $(0x80 << 8 | 0xCD), (%rcx)
	pop %rcx                       /* flags survive the pop */
	jne 1f
	addq $2, (%rsp)
	jmp rt_svc_entry
1:	pushq $0
	pushq $6
	jmp exc_common

exc_common:
	mov %rsp, %rdi
	and $-16, %rsp
	call rt_exception              /* does not return */
2:	cli
	hlt
	jmp 2b

	.section .rodata
	.balign 8
	.globl rt_exc_stubs
rt_exc_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad exc_\v
	.endr

/* int 0x80 from ring 3. Preserves every register except RAX. */
	.text
	.globl rt_svc_entry
rt_svc_entry:
	cmp $RT_SVC_MIGCTL, %rax
	je svc_migctl
	cmp $RT_SVC_TRIPLE, %rax
	je svc_triple
	cmp $RT_SVC_HALT, %rax
	je svc_halt
	mov $-1, %rax
	iretq
svc_migctl:
	push %rcx
	push %rdx
	mov $MSR_KVM_MIGRATION_CONTROL, %ecx
	mov %ebx, %eax
	mov %rbx, %rdx
	shr $32, %rdx
	wrmsr                          /* reserved bits raise #GP: reported as an exception */
	rdmsr
	shl $32, %rdx
	or %rdx, %rax
	pop %rdx
	pop %rcx
	iretq
svc_triple:
	/* No IDT from here on. The caller's next exception cannot be delivered,
	 * nor the #GP and #DF that follow: a triple fault. The exception is
	 * raised back in ring 3 (rt_triple_fault), because on the development
	 * machines' KVM an exception in emulated ring 0 with no IDT ends in an
	 * emulation failure instead of a shutdown. */
	lidt rt_null_idt_ptr
	iretq
svc_halt:
	cli
	hlt
	jmp svc_halt

	.section .rodata
	.balign 16
rt_null_idt_ptr:
	.word 0
	.quad 0

	.section .note.GNU-stack, "", @progbits
