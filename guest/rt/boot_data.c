/* boot_data.c - memory the boot stub uses: page tables, stacks, boot facts.
 * All in .bss, which the loader zeroes (guest RAM starts zeroed).
 */
#include "rt_int.h"

/* Identity map of RAM with 2 MiB pages; boot.S fills them. */
u64 rt_pml4[512] __attribute__((aligned(4096)));
u64 rt_pdpt[512] __attribute__((aligned(4096)));
u64 rt_pd[RT_MAX_PD][512] __attribute__((aligned(4096)));

u8 rt_kstacks[RT_MAX_CPUS][RT_KSTACK_SIZE] __attribute__((aligned(16)));
u8 rt_ustacks[RT_MAX_CPUS][RT_USTACK_SIZE] __attribute__((aligned(16)));

struct rt_tls rt_tls[RT_MAX_CPUS];  /* cpu.c sets FS base, init.c the canary */

u32 rt_mem_upper_kib;            /* multiboot mem_upper */
u32 rt_boot_cmdline;             /* multiboot cmdline GPA, 0 if none */
u32 rt_map_2m_pages;             /* how many 2 MiB pages are mapped */
volatile u32 rt_tables_ready;    /* set by the BSP; APs wait on it in boot.S */
