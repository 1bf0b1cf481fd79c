/* call.c - guest calls through port 0xE0 and the int 0x80 service gate. */
#include "rt_int.h"

#define GUEST_CALL_PORT  0xE0
#define QEMU_DEBUG_EXIT  0xF4    /* -device isa-debug-exit,iobase=0xf4,iosize=1 */

long guest_call(long nr, long a0, long a1, long a2, long a3)
{
	/* KVM hypercall register convention; the VMM reads the registers and
	 * writes RAX while handling the port write. */
	__asm__ volatile("outl %%eax, %1"
			 : "+a"(nr)
			 : "i"(GUEST_CALL_PORT), "b"(a0), "c"(a1), "d"(a2), "S"(a3)
			 : "memory");
	return nr;
}

long map_gpa_range(u64 gpa, u64 npages, u64 attrs)
{
	return guest_call(KVM_HC_MAP_GPA_RANGE, (long)gpa, (long)npages, (long)attrs, 0);
}

void guest_exit(int status)
{
	guest_call(TERN_HC_EXIT, status & 0xFF, 0, 0, 0);
	/* Still running: no tern behind the port (QEMU). QEMU's isa-debug-exit,
	 * if present, exits with (status << 1) | 1; otherwise halt for good. */
	outb(QEMU_DEBUG_EXIT, (u8)status);
	rt_halt();
}

static long svc(long fn, long arg)
{
	__asm__ volatile("int %2" : "+a"(fn) : "b"(arg), "i"(RT_SVC_VECTOR) : "memory");
	return fn;
}

u64 rt_migctl_write(u64 value) { return (u64)svc(RT_SVC_MIGCTL, (long)value); }

void rt_triple_fault(void)
{
	svc(RT_SVC_TRIPLE, 0);      /* unloads the IDT and returns */
	for (;;)
		__builtin_trap();   /* ud2: undeliverable, so #GP, #DF, shutdown */
}

void rt_halt(void)
{
	for (;;)
		svc(RT_SVC_HALT, 0);
}
