/* init.c - ring-3 start of every CPU: CPU 0 reads the command line and the
 * TSC frequency (from the ring-0 CPUID probe), the others wait for it, then
 * all run guest_main().
 */
#include "rt_int.h"

u64 rt_ram_end;
u64 rt_image_end;
u64 rt_free_start;
unsigned rt_ncpus = 1;
u64 rt_tsc_khz;
const char *rt_tsc_source;
u32 rt_kvm_features;

static u32 rt_ready;

/* From the ring-0 probe (cpuid.c): never a ring-3 cpuid. */
static void take_cpuid_facts(void)
{
	rt_kvm_features = rt_cpu_facts.kvm_features;
	if (rt_cpu_facts.tsc_khz) {
		rt_tsc_khz = rt_cpu_facts.tsc_khz;
		rt_tsc_source = "cpuid";
	}
}

static void init_bsp(void)
{
	cmdline_init((const char *)(uintptr_t)rt_boot_cmdline);

	u64 ram = ((u64)rt_mem_upper_kib + 1024) * 1024;
	u64 mapped = (u64)rt_map_2m_pages << 21;
	rt_ram_end = ram < mapped ? ram : mapped;
	rt_image_end = (uintptr_t)_end;
	rt_free_start = rt_image_end > RT_HELPER_END ? rt_image_end : RT_HELPER_END;

	u64 v;
	if (parse_u64(arg_get("ncpus"), &v) == 0 && v >= 1) {
		if (v > RT_MAX_CPUS) {
			rt_printf("rt: ncpus=%lu, only %d CPUs supported\n", v, RT_MAX_CPUS);
			v = RT_MAX_CPUS;
		}
		rt_ncpus = (unsigned)v;
	}

	take_cpuid_facts();
	if (!rt_tsc_khz && parse_u64(arg_get("tsc_khz"), &v) == 0 && v) {
		rt_tsc_khz = v;
		rt_tsc_source = "arg";
	}
	if (!rt_tsc_khz) {
		rt_tsc_khz = 2000000;
		rt_tsc_source = "default";
	}
}

/* A stack-protector canary per CPU: RDRAND if there is one, else the TSC,
 * mixed with the CPU index. Low byte zero, as glibc does, so a string copy
 * past a buffer cannot reproduce it. */
static u64 make_canary(unsigned cpu)
{
	u64 r = 0;
	if (rt_cpu_facts.leaf1_ecx & (1u << 30)) {     /* RDRAND */
		u8 ok = 0;
		for (int i = 0; i < 10 && !ok; i++)
			__asm__ volatile("rdrand %0; setc %1" : "=r"(r), "=qm"(ok) :: "cc");
	}
	u64 z = r ^ rdtsc() ^ ((u64)cpu << 56);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z & ~0xFFULL;
}

void rt_user_start(unsigned cpu)
{
	/* First thing in ring 3: nothing stack-protected has run on this CPU
	 * yet (the runtime itself is built without the protector). */
	rt_tls[cpu].cpu = cpu;
	rt_tls[cpu].stack_guard = make_canary(cpu);
	if (cpu == 0) {
		init_bsp();
		__atomic_store_n(&rt_ready, 1, __ATOMIC_RELEASE);
	} else {
		while (!__atomic_load_n(&rt_ready, __ATOMIC_ACQUIRE))
			cpu_relax();
		if (cpu >= rt_ncpus)       /* more vCPUs than ncpus= says: stay out */
			rt_halt();
	}
	guest_main(cpu, rt_ncpus);
	if (cpu == 0)
		guest_exit(0);
	rt_halt();
}
