/* exception.c - what happens on a CPU exception: one line on the console,
 * then stop the VM with status 0x80 + vector. Runs in ring 0.
 */
#include "rt_int.h"

void rt_exception(struct exc_frame *f)
{
	char line[160];
	int cpu = rt_current_cpu();
	int n = rt_snprintf(line, sizeof(line),
			    "EXCEPTION vec=%lu err=0x%lx rip=0x%lx cpu=%d\n",
			    f->vec, f->err, f->rip, cpu);
	serial_write_force(line, (size_t)n);
	if (f->vec == 14) {
		u64 cr2;
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		n = rt_snprintf(line, sizeof(line), "  cr2=0x%lx cs=0x%lx rsp=0x%lx\n",
				cr2, f->cs, f->rsp);
		serial_write_force(line, (size_t)n);
	}
	/* guest_exit falls back to the QEMU debug-exit port and then to int 0x80
	 * from ring 3; here in ring 0 halting directly is simpler. */
	u8 status = (u8)(0x80 + f->vec);
	guest_call(TERN_HC_EXIT, status, 0, 0, 0);
	outb(0xF4, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}
