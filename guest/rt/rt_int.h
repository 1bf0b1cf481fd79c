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

/* Per-CPU thread-control block; FS base points to it in ring 3. Library
 * code built hosted (BearSSL) reads its stack-protector canary at %fs:0x28
 * and, through __errno_location, keeps errno here. */
struct rt_tls {
	struct rt_tls *self;     /* %fs:0, as in the x86-64 TLS ABI; set in ring 0 */
	u64 reserved[4];
	u64 stack_guard;         /* %fs:0x28; set in ring 3 before guest_main */
	unsigned cpu;
	int err;
} __attribute__((aligned(64)));
_Static_assert(__builtin_offsetof(struct rt_tls, stack_guard) == RT_TLS_CANARY, "TLS layout");
extern struct rt_tls rt_tls[RT_MAX_CPUS];

/* Exception frame as built by entry64.S. */
struct exc_frame {
	u64 vec, err, rip, cs, rflags, rsp, ss;
};

/* What the bootstrap CPU learnt from CPUID in ring 0 (cpuid.c). Ring-3 code
 * reads these and never runs `cpuid` itself: on some hosts a ring-3 cpuid
 * is not intercepted and answers with another hypervisor's leaves. */
struct rt_cpu_facts {
	u32 std_max;             /* CPUID 0 EAX */
	u32 leaf1_ecx, leaf1_edx;
	u32 kvm_max;             /* 0x40000000 EAX, 0 without the KVM signature */
	u32 kvm_features;        /* 0x40000001 EAX */
	u32 tsc_khz;             /* 0x40000010 EAX, 0 if absent */
};
extern struct rt_cpu_facts rt_cpu_facts;
void rt_cpuid_probe(void);           /* ring 0, bootstrap CPU only */

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
