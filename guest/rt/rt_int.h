/* rt_int.h - runtime internals shared between its own files. */
#ifndef GUEST_RT_INT_H
#define GUEST_RT_INT_H

#include "layout.h"
#include "rt.h"

/* Filled by boot.S on the bootstrap CPU. */
extern u32 rt_mem_upper_kib;
extern u32 rt_boot_cmdline;
extern u32 rt_map_2m_pages;
extern volatile u32 rt_tables_ready;
extern char _end[];

/* Exception frame as built by entry64.S. */
struct exc_frame {
	u64 vec, err, rip, cs, rflags, rsp, ss;
};

void rt_build_idt(void);
void rt_cpu_setup(unsigned cpu);
int rt_current_cpu(void);            /* from the task register, -1 before ltr */
void rt_exception(struct exc_frame *f) __attribute__((noreturn));
void rt_user_start(unsigned cpu) __attribute__((noreturn));
void cmdline_init(const char *src);
/* Serial output from ring 0: gives up on the lock after a while, because
 * the holder may be this very CPU, interrupted by the fault. */
void serial_write_force(const char *s, size_t n);

#endif
