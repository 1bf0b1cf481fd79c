/* region.c - lay out the migration helper's region before launch: a small
 * checked ELF64 loader for helper.elf, the identity-mapping page tables,
 * the GDT and the TSS of docs/guest-abi.md ("Entry state of a helper
 * vCPU"). boot/elf.c is not reused: it accepts ELF32 and any address in
 * RAM, while the helper must be one exact kind of file confined to the
 * first MiB of its region, and everything must be checked before the
 * region is zeroed. */
#include <elf.h>
#include <string.h>

#include "mirror/region.h"
#include "util/log.h"

#define PAGE      0x1000ULL
#define LARGE     0x200000ULL             /* a 2 MiB page */
#define MAP_PDS   4                       /* page directories: 4 x 1 GiB = 0..4 GiB */

#define IMG_LO    (HELPER_BASE + HELPER_IMAGE_OFF)
#define IMG_HI    (IMG_LO + HELPER_IMAGE_MAX)

/* Table layout inside the page-table area: PML4, then the PDPT, then the
 * page directories, one page each. */
#define PT_PML4   0ULL
#define PT_PDPT   PAGE
#define PT_PD(i)  ((2ULL + (uint64_t)(i)) * PAGE)
_Static_assert(PT_PD(MAP_PDS) <= HELPER_PT_SIZE, "page tables fit their area");
_Static_assert(HELPER_GDT_ENTRIES * 8 <= PAGE, "GDT fits its page");
_Static_assert(HELPER_TSS_LIMIT + 1 <= HELPER_STATE_OFF - HELPER_TSS_OFF, "TSS fits its pages");
_Static_assert((HELPER_BASE + HELPER_SHARED_OFF) % LARGE == 0 &&
	       HELPER_SHARED_SIZE % LARGE == 0, "shared windows are whole 2 MiB pages");

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Program header i, or -1 if it lies outside the file. */
static int phdr_at(const uint8_t *img, size_t len, const Elf64_Ehdr *h, unsigned i, Elf64_Phdr *p)
{
	uint64_t at = h->e_phoff + (uint64_t)i * sizeof(*p);
	if (h->e_phoff > len || at < h->e_phoff || at > len || sizeof(*p) > len - at)
		return -1;
	memcpy(p, img + at, sizeof(*p));
	return 0;
}

/* Everything about the file, before a byte of RAM is written. */
static int check_elf(const uint8_t *img, size_t len, Elf64_Ehdr *h, char *err, size_t errlen)
{
	int entry_ok = 0, loads = 0;

	if (len < sizeof(*h) || memcmp(img, ELFMAG, SELFMAG)) {
		errbuf__set(err, errlen, "not an ELF64 file (bad magic or truncated header)");
		return -1;
	}
	memcpy(h, img, sizeof(*h));
	if (img[EI_CLASS] != ELFCLASS64 || img[EI_DATA] != ELFDATA2LSB) {
		errbuf__set(err, errlen, "not a little-endian ELF64 file (the helper is never converted "
			   "to ELF32)");
		return -1;
	}
	if (h->e_machine != EM_X86_64 || h->e_type != ET_EXEC) {
		errbuf__set(err, errlen, "not an x86-64 executable (e_machine %u, e_type %u)",
			   h->e_machine, h->e_type);
		return -1;
	}
	if (h->e_entry != HELPER_BASE) {
		errbuf__set(err, errlen, "entry point 0x%llx, the helper's must be 0x%llx",
			   (unsigned long long)h->e_entry, HELPER_BASE);
		return -1;
	}
	if (h->e_phentsize != sizeof(Elf64_Phdr) || h->e_phnum == 0) {
		errbuf__set(err, errlen, "bad program headers (size %u, count %u)", h->e_phentsize, h->e_phnum);
		return -1;
	}
	for (unsigned i = 0; i < h->e_phnum; i++) {
		Elf64_Phdr p;
		if (phdr_at(img, len, h, i, &p)) {
			errbuf__set(err, errlen, "program header %u lies outside the file", i);
			return -1;
		}
		if (p.p_type != PT_LOAD || p.p_memsz == 0)
			continue;
		if (p.p_filesz > p.p_memsz) {
			errbuf__set(err, errlen, "segment %u: file size exceeds memory size", i);
			return -1;
		}
		if (p.p_offset > len || p.p_filesz > len - p.p_offset) {
			errbuf__set(err, errlen, "segment %u: data lies outside the file", i);
			return -1;
		}
		if (p.p_paddr < IMG_LO || p.p_paddr >= IMG_HI || p.p_memsz > IMG_HI - p.p_paddr) {
			errbuf__set(err, errlen, "segment %u: 0x%llx+0x%llx is outside the helper image area "
				   "[0x%llx, 0x%llx)", i, (unsigned long long)p.p_paddr,
				   (unsigned long long)p.p_memsz, IMG_LO, IMG_HI);
			return -1;
		}
		if (h->e_entry >= p.p_paddr && h->e_entry - p.p_paddr < p.p_memsz)
			entry_ok = 1;
		loads++;
	}
	if (!loads) {
		errbuf__set(err, errlen, "no loadable segments");
		return -1;
	}
	if (!entry_ok) {
		errbuf__set(err, errlen, "entry point 0x%llx is outside the loaded segments", HELPER_BASE);
		return -1;
	}
	return 0;
}

static void copy_segments(uint8_t *ram, const uint8_t *img, size_t len, const Elf64_Ehdr *h)
{
	for (unsigned i = 0; i < h->e_phnum; i++) {
		Elf64_Phdr p;
		if (phdr_at(img, len, h, i, &p) || p.p_type != PT_LOAD || p.p_memsz == 0)
			continue;
		/* the rest of p_memsz is already zero: the region was cleared */
		memcpy(ram + p.p_paddr, img + p.p_offset, p.p_filesz);
	}
}

/* Identity map of 0..4 GiB in 2 MiB pages, present, writable, ring 3, no
 * NX. The C-bit goes on every entry: the tables themselves and the memory
 * they map are private; only the shared windows' large pages are mapped
 * without it, so the VMM reads and writes them in plaintext. */
static void build_page_tables(uint8_t *ram, uint64_t cbit)
{
	const uint64_t pt = HELPER_BASE + HELPER_PT_OFF;
	const uint64_t flags = HELPER_PTE_P | HELPER_PTE_RW | HELPER_PTE_US;
	const uint64_t sh_lo = HELPER_BASE + HELPER_SHARED_OFF, sh_hi = sh_lo + HELPER_SHARED_SIZE;

	put64(ram + pt + PT_PML4, (pt + PT_PDPT) | flags | cbit);
	for (unsigned d = 0; d < MAP_PDS; d++) {
		put64(ram + pt + PT_PDPT + 8ULL * d, (pt + PT_PD(d)) | flags | cbit);
		for (unsigned e = 0; e < 512; e++) {
			uint64_t gpa = ((uint64_t)d * 512 + e) * LARGE;
			uint64_t c = gpa >= sh_lo && gpa < sh_hi ? 0 : cbit;
			put64(ram + pt + PT_PD(d) + 8ULL * e, gpa | flags | HELPER_PTE_PS | c);
		}
	}
}

/* tern's guest runtime's GDT: kernel code and data, user data and code,
 * then the 16-byte TSS descriptor, "available" (type 9): KVM_SET_SREGS
 * sets TR busy itself. */
static void build_gdt(uint8_t *ram)
{
	static const uint64_t seg[] = {
		0, 0x00AF9A000000FFFFULL, 0x00CF92000000FFFFULL, 0x00CFF2000000FFFFULL,
		0x00AFFA000000FFFFULL,
	};
	const uint64_t base = HELPER_BASE + HELPER_TSS_OFF, lim = HELPER_TSS_LIMIT;
	uint8_t *g = ram + HELPER_BASE + HELPER_GDT_OFF;

	for (unsigned i = 0; i < sizeof(seg) / sizeof(seg[0]); i++)
		put64(g + 8 * i, seg[i]);
	put64(g + HELPER_SEL_TSS, (lim & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ULL << 40 |
	      ((lim >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56);
	put64(g + HELPER_SEL_TSS + 8, base >> 32);
}

/* The TSS: nothing but the I/O permission bitmap (all ports allowed) and
 * its terminating 0xFF byte; no ring-0 stack, ring 0 never runs. */
static void build_tss(uint8_t *ram)
{
	uint8_t *t = ram + HELPER_BASE + HELPER_TSS_OFF;
	put16(t + 102, HELPER_TSS_IOMAP);
	t[HELPER_TSS_IOMAP + 8192] = 0xFF;
}

int helper_region__build(uint8_t *ram, uint64_t ram_size, const void *elf, size_t elf_len,
			 unsigned c_bit, char *err, size_t errlen)
{
	Elf64_Ehdr h;
	char why[200];

	if (!ram || !elf) {
		errbuf__set(err, errlen, "helper region: missing argument");
		return -1;
	}
	if (ram_size < HELPER_END) {
		errbuf__set(err, errlen, "guest RAM of %llu MiB is too small for the migration helper's "
			   "region [0x%llx, 0x%llx)", (unsigned long long)(ram_size >> 20), HELPER_BASE,
			   HELPER_END);
		return -1;
	}
	if (c_bit && (c_bit < HELPER_CBIT_MIN || c_bit > HELPER_CBIT_MAX)) {
		errbuf__set(err, errlen, "C-bit position %u: must be 0 (none) or %u..%u", c_bit,
			   HELPER_CBIT_MIN, HELPER_CBIT_MAX);
		return -1;
	}
	if (check_elf(elf, elf_len, &h, why, sizeof(why))) {
		errbuf__set(err, errlen, "helper image: %s", why);
		return -1;
	}
	memset(ram + HELPER_BASE, 0, HELPER_MEASURED_SIZE);
	copy_segments(ram, elf, elf_len, &h);
	build_page_tables(ram, c_bit ? 1ULL << c_bit : 0);
	build_gdt(ram);
	build_tss(ram);
	return 0;
}

int helper_region__guest_clear(uint64_t lowest, uint64_t highest, char *err, size_t errlen)
{
	if (lowest < HELPER_END && highest > HELPER_BASE) {
		errbuf__set(err, errlen, "the guest image [0x%llx, 0x%llx) overlaps the migration helper's "
			   "region [0x%llx, 0x%llx): link the guest below 0x%llx or above it",
			   (unsigned long long)lowest, (unsigned long long)highest, HELPER_BASE,
			   HELPER_END, HELPER_BASE);
		return -1;
	}
	return 0;
}
