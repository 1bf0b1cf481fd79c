/* cpu.c - descriptor tables: the shared GDT and IDT, one TSS per CPU;
 * each CPU's FS base (its TLS block).
 * Runs in ring 0 (emulated, so slow): only table setup lives here.
 */
#include "rt_int.h"

struct tss {
	u32 reserved0;
	u64 rsp0, rsp1, rsp2;
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
	/* All-zero bitmap: every port allowed from ring 3. IOPL=3 set by iretq is
	 * not honoured on the development machines' KVM, the bitmap is. */
	u8 iomap[8192];
	u8 iomap_end;        /* the CPU may read one byte past the bitmap: must be 0xFF */
} __attribute__((packed, aligned(16)));

#define TSS_IOMAP_OFFSET 104
#define TSS_LIMIT        (TSS_IOMAP_OFFSET + 8192)   /* inclusive: covers iomap_end */
_Static_assert(__builtin_offsetof(struct tss, iomap) == TSS_IOMAP_OFFSET, "TSS layout");
_Static_assert(__builtin_offsetof(struct tss, iomap_end) == TSS_LIMIT, "TSS layout");

struct idt_gate {
	u16 off0;
	u16 sel;
	u8 ist;
	u8 type;
	u16 off1;
	u32 off2;
	u32 reserved;
} __attribute__((packed));

struct desc_ptr {
	u16 limit;
	u64 base;
} __attribute__((packed));

#define IDT_ENTRIES   (RT_SVC_VECTOR + 1)
#define GATE_INTR     0x8E        /* present, DPL 0, 64-bit interrupt gate */
#define GATE_INTR_U   0xEE        /* same, callable from ring 3 with int */

static struct tss rt_tss[RT_MAX_CPUS];
static struct idt_gate rt_idt[IDT_ENTRIES] __attribute__((aligned(16)));
static const struct desc_ptr rt_idt_ptr = { sizeof(rt_idt) - 1, (uintptr_t)rt_idt };

u64 rt_gdt[RT_GDT_ENTRIES] __attribute__((aligned(16))) = {
	0,
	0x00AF9A000000FFFFULL,    /* SEL_KCODE: 64-bit code, DPL 0 */
	0x00CF92000000FFFFULL,    /* SEL_KDATA: flat data, DPL 0 */
	0x00CFF2000000FFFFULL,    /* SEL_UDATA: flat data, DPL 3 */
	0x00AFFA000000FFFFULL,    /* SEL_UCODE: 64-bit code, DPL 3 */
	/* TSS descriptors are written by each CPU in rt_cpu_setup */
};
/* Loaded by boot.S in 32-bit mode (reads limit + low 32 bits of base). */
const struct desc_ptr rt_gdt_ptr = { sizeof(rt_gdt) - 1, (uintptr_t)rt_gdt };

extern const u64 rt_exc_stubs[32];
extern char rt_svc_entry[];
extern u8 rt_kstacks[RT_MAX_CPUS][RT_KSTACK_SIZE];

static void set_gate(unsigned vec, u64 handler, u8 type)
{
	struct idt_gate *g = &rt_idt[vec];
	g->off0 = handler & 0xFFFF;
	g->sel = SEL_KCODE;
	g->ist = 0;
	g->type = type;
	g->off1 = (handler >> 16) & 0xFFFF;
	g->off2 = handler >> 32;
}

void rt_build_idt(void)
{
	for (unsigned v = 0; v < 32; v++)
		set_gate(v, rt_exc_stubs[v], GATE_INTR);
	set_gate(RT_SVC_VECTOR, (uintptr_t)rt_svc_entry, GATE_INTR_U);
}

void rt_cpu_setup(unsigned cpu)
{
	struct tss *t = &rt_tss[cpu];
	u64 base = (uintptr_t)t;
	unsigned sel = SEL_TSS0 + 16 * cpu;

	t->rsp0 = (uintptr_t)rt_kstacks[cpu] + RT_KSTACK_SIZE;
	t->iomap_base = TSS_IOMAP_OFFSET;
	t->iomap_end = 0xFF;

	rt_gdt[sel / 8] = (TSS_LIMIT & 0xFFFFULL) | (base & 0xFFFFFFULL) << 16 |
			  0x89ULL << 40 |               /* present, 64-bit TSS (available) */
			  ((u64)(TSS_LIMIT >> 16) & 0xF) << 48 |
			  ((base >> 24) & 0xFF) << 56;
	rt_gdt[sel / 8 + 1] = base >> 32;

	__asm__ volatile("ltr %w0" :: "r"(sel) : "memory");
	__asm__ volatile("lidt %0" :: "m"(rt_idt_ptr) : "memory");

	/* FS base = this CPU's TLS block (its canary is set in ring 3). FS
	 * holds the null selector (entry64.S), so nothing reloads the base. */
	u64 tls = (uintptr_t)&rt_tls[cpu];
	rt_tls[cpu].self = &rt_tls[cpu];
	__asm__ volatile("wrmsr" :: "c"(MSR_FS_BASE), "a"((u32)tls), "d"((u32)(tls >> 32))
			 : "memory");
}

int rt_current_cpu(void)
{
	u16 tr;
	__asm__ volatile("str %0" : "=r"(tr));
	if (tr < SEL_TSS0)
		return -1;
	return (tr - SEL_TSS0) / 16;
}
