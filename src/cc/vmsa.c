/* vmsa.c - the initial register state of a vCPU and its VMSA page (the
 * layout is described in vmsa.h). */
#include <string.h>

#include "boot/multiboot.h"
#include "cc/vmsa.h"

void vmsa__entry(uint64_t entry, int index, struct vmsa_regs *out)
{
	/* type 0xb: execute/read code, accessed; S, P, DB (32-bit), G */
	const struct vmsa_seg code = { 0x08, 0xb | 1u << 4 | 1u << 7 | 1u << 10 | 1u << 11, 0xffffffff, 0 };
	/* type 0x3: read/write data, accessed */
	const struct vmsa_seg data = { 0x10, 0x3 | 1u << 4 | 1u << 7 | 1u << 10 | 1u << 11, 0xffffffff, 0 };

	memset(out, 0, sizeof(*out));
	out->cs = code;
	out->ds = out->es = out->fs = out->gs = out->ss = data;
	out->cr0 = 0x11;                  /* PE | ET */
	out->rflags = 0x2;
	out->rip = entry;
	out->rax = index == 0 ? MB_BOOT_MAGIC : TERN_AP_MAGIC;
	out->rbx = index == 0 ? MB_INFO_GPA : (uint64_t)index;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void put_seg(uint8_t *p, const struct vmsa_seg *s)
{
	put16(p, s->selector);
	put16(p + 2, s->attrib);
	put32(p + 4, s->limit);
	put64(p + 8, s->base);
}

void vmsa__encode(const struct vmsa_regs *r, uint64_t sev_features, uint8_t out[VMSA_SIZE])
{
	memset(out, 0, VMSA_SIZE);
	put_seg(out + 0x000, &r->es);
	put_seg(out + 0x010, &r->cs);
	put_seg(out + 0x020, &r->ss);
	put_seg(out + 0x030, &r->ds);
	put_seg(out + 0x040, &r->fs);
	put_seg(out + 0x050, &r->gs);
	put64(out + 0x0d0, r->efer);
	put64(out + 0x148, r->cr4);
	put64(out + 0x150, r->cr3);
	put64(out + 0x158, r->cr0);
	put64(out + 0x170, r->rflags);
	put64(out + 0x178, r->rip);
	put64(out + 0x1d8, r->rsp);
	put64(out + 0x1f8, r->rax);
	put64(out + 0x308, r->rcx);
	put64(out + 0x310, r->rdx);
	put64(out + 0x318, r->rbx);
	put64(out + 0x328, r->rbp);
	put64(out + 0x330, r->rsi);
	put64(out + 0x338, r->rdi);
	for (int i = 0; i < 8; i++)
		put64(out + 0x340 + 8 * i, r->r[i]);
	put64(out + 0x3b0, sev_features);
}
