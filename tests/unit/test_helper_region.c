/* test_helper_region.c - the migration helper's region as the VMM lays it
 * out before launch (src/mirror/region.c): the exact bytes of the page
 * tables, GDT and TSS of docs/guest-abi.md, the C-bit on every entry but
 * the shared windows', every refusal with RAM untouched, determinism (the
 * bytes depend on the ELF and the C-bit only, not on the RAM size), the
 * measured range the launch adds, and the real build/guest/helper.elf if
 * it has been built ($HELPER_ELF overrides the path). Images are built in
 * memory from <elf.h> structs. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cc/launch_digest.h"
#include "mirror/region.h"
#include "util/io.h"

#define PATTERN   0xA5
#define RAM_SMALL HELPER_END                  /* just enough */
#define RAM_BIG   (HELPER_END + (8ULL << 20))

#define TEXT_PADDR HELPER_BASE
#define TEXT_SIZE  0x180u
#define DATA_PADDR (HELPER_BASE + 0x4000)
#define DATA_FILE  0x40u
#define DATA_MEM   0x3000u

#define PT     (HELPER_BASE + HELPER_PT_OFF)
#define GDT    (HELPER_BASE + HELPER_GDT_OFF)
#define TSS    (HELPER_BASE + HELPER_TSS_OFF)
#define STATE  (HELPER_BASE + HELPER_STATE_OFF)
#define KEY    (HELPER_BASE + HELPER_KEY_OFF)
#define MEAS_END (HELPER_BASE + HELPER_MEASURED_SIZE)

static char err[512];

/* ---- an image like helper.elf: text at the base (the entry), data + bss --- */

struct img {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	uint8_t    data[0x2000];
};

static void make_img(struct img *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->eh.e_ident, ELFMAG, SELFMAG);
	m->eh.e_ident[EI_CLASS] = ELFCLASS64;
	m->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	m->eh.e_ident[EI_VERSION] = EV_CURRENT;
	m->eh.e_type = ET_EXEC;
	m->eh.e_machine = EM_X86_64;
	m->eh.e_version = EV_CURRENT;
	m->eh.e_entry = HELPER_BASE;
	m->eh.e_phoff = offsetof(struct img, ph);
	m->eh.e_ehsize = sizeof(Elf64_Ehdr);
	m->eh.e_phentsize = sizeof(Elf64_Phdr);
	m->eh.e_phnum = 3;
	m->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(struct img, data),
				 .p_paddr = TEXT_PADDR, .p_vaddr = TEXT_PADDR,
				 .p_filesz = TEXT_SIZE, .p_memsz = TEXT_SIZE };
	m->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0, .p_filesz = 4, .p_memsz = 0 };
	m->ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(struct img, data) + 0x1000,
				 .p_paddr = DATA_PADDR, .p_vaddr = DATA_PADDR,
				 .p_filesz = DATA_FILE, .p_memsz = DATA_MEM };
	for (unsigned i = 0; i < TEXT_SIZE; i++)
		m->data[i] = (uint8_t)(0x10 + i);
	for (unsigned i = 0; i < DATA_FILE; i++)
		m->data[0x1000 + i] = (uint8_t)(0xC0 ^ i);
}

static uint8_t *new_ram(uint64_t size)
{
	uint8_t *r = malloc(size);
	assert_non_null(r);
	memset(r, PATTERN, size);
	return r;
}

static uint64_t get64(const uint8_t *ram, uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, ram + gpa, 8);
	return v;
}

static int all(const uint8_t *ram, uint64_t from, uint64_t to, uint8_t v)
{
	for (uint64_t i = from; i < to; i++)
		if (ram[i] != v)
			return 0;
	return 1;
}

/* ---- the good image: every byte of the measured range -------------------- */

static void check_layout(const uint8_t *ram, uint64_t ram_size, unsigned c_bit)
{
	const uint64_t c = c_bit ? 1ULL << c_bit : 0, f = 0x7, pd = 0x87;

	/* outside the measured range nothing was touched, the key slot included */
	assert_true(all(ram, 0, HELPER_BASE, PATTERN));
	assert_true(all(ram, MEAS_END, ram_size, PATTERN));

	/* image: the segments, bss and the rest of the first MiB zero */
	for (unsigned i = 0; i < TEXT_SIZE; i++)
		assert_int_equal(ram[TEXT_PADDR + i], (uint8_t)(0x10 + i));
	assert_true(all(ram, TEXT_PADDR + TEXT_SIZE, DATA_PADDR, 0));
	for (unsigned i = 0; i < DATA_FILE; i++)
		assert_int_equal(ram[DATA_PADDR + i], (uint8_t)(0xC0 ^ i));
	assert_true(all(ram, DATA_PADDR + DATA_FILE, PT, 0));

	/* PML4 -> PDPT -> four PDs, one page each, in that order */
	assert_int_equal(get64(ram, PT), (PT + 0x1000) | f | c);
	assert_true(all(ram, PT + 8, PT + 0x1000, 0));
	for (unsigned d = 0; d < 4; d++)
		assert_int_equal(get64(ram, PT + 0x1000 + 8 * d), (PT + 0x2000 + 0x1000ULL * d) | f | c);
	assert_true(all(ram, PT + 0x1000 + 32, PT + 0x2000, 0));
	for (unsigned d = 0; d < 4; d++)
		for (unsigned e = 0; e < 512; e++) {
			uint64_t gpa = ((uint64_t)d * 512 + e) << 21;
			int shared = gpa >= HELPER_BASE + HELPER_SHARED_OFF &&
				     gpa < HELPER_BASE + HELPER_SHARED_OFF + HELPER_SHARED_SIZE;
			assert_int_equal(get64(ram, PT + 0x2000 + 0x1000ULL * d + 8 * e),
					 gpa | pd | (shared ? 0 : c));
		}
	/* the shared windows by number: [8 MiB, 12 MiB) = PD 0 entries 4 and 5 */
	assert_int_equal(get64(ram, PT + 0x2000 + 8 * 4), 0x800000ULL | pd);
	assert_int_equal(get64(ram, PT + 0x2000 + 8 * 5), 0xA00000ULL | pd);
	assert_int_equal(get64(ram, PT + 0x2000 + 8 * 6), 0xC00000ULL | pd | c);
	assert_true(all(ram, PT + 0x6000, GDT, 0));

	/* GDT as docs/guest-abi.md's table */
	assert_int_equal(get64(ram, GDT + 0x00), 0);
	assert_int_equal(get64(ram, GDT + 0x08), 0x00AF9A000000FFFFULL);
	assert_int_equal(get64(ram, GDT + 0x10), 0x00CF92000000FFFFULL);
	assert_int_equal(get64(ram, GDT + 0x18), 0x00CFF2000000FFFFULL);
	assert_int_equal(get64(ram, GDT + 0x20), 0x00AFFA000000FFFFULL);
	/* available 64-bit TSS, base 0x581000, limit 0x2068, DPL 0, present */
	assert_int_equal(get64(ram, GDT + 0x28), 0x0000895810002068ULL);
	assert_int_equal(get64(ram, GDT + 0x30), 0);
	assert_true(all(ram, GDT + 0x38, TSS, 0));

	/* TSS: I/O map base 104, the bitmap all zero, then 0xFF */
	assert_true(all(ram, TSS, TSS + 102, 0));
	assert_int_equal(ram[TSS + 102], 104);
	assert_int_equal(ram[TSS + 103], 0);
	assert_true(all(ram, TSS + 104, TSS + 104 + 8192, 0));
	assert_int_equal(ram[TSS + 104 + 8192], 0xFF);
	assert_true(all(ram, TSS + 104 + 8193, STATE, 0));

	/* state page zero; the key slot is not ours */
	assert_true(all(ram, STATE, KEY, 0));
	assert_int_equal(ram[KEY], PATTERN);
}

static void test_layout_no_cbit(void **state)
{
	struct img m;
	uint8_t *ram = new_ram(RAM_SMALL);
	(void)state;
	make_img(&m);
	if (helper_region__build(ram, RAM_SMALL, &m, sizeof(m), 0, err, sizeof(err)))
		fail_msg("%s", err);
	check_layout(ram, RAM_SMALL, 0);
	free(ram);
}

static void test_layout_cbit(void **state)
{
	static const unsigned bits[] = { 32, 47, 51 };
	struct img m;
	(void)state;
	make_img(&m);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t *ram = new_ram(RAM_SMALL);
		if (helper_region__build(ram, RAM_SMALL, &m, sizeof(m), bits[i], err, sizeof(err)))
			fail_msg("c-bit %u: %s", bits[i], err);
		check_layout(ram, RAM_SMALL, bits[i]);
		free(ram);
	}
}

/* The owner computes the digest offline with whatever RAM size: the bytes
 * may depend on the ELF and the C-bit only. */
static void test_deterministic(void **state)
{
	struct img m;
	uint8_t *a = new_ram(RAM_SMALL), *b = new_ram(RAM_BIG), *c = new_ram(RAM_SMALL);
	(void)state;
	make_img(&m);
	memset(b, 0x3C, RAM_BIG);              /* other leftovers too */
	assert_int_equal(helper_region__build(a, RAM_SMALL, &m, sizeof(m), 47, err, sizeof(err)), 0);
	assert_int_equal(helper_region__build(b, RAM_BIG, &m, sizeof(m), 47, err, sizeof(err)), 0);
	assert_memory_equal(a + HELPER_BASE, b + HELPER_BASE, HELPER_MEASURED_SIZE);
	/* built twice over itself: the same */
	assert_int_equal(helper_region__build(a, RAM_SMALL, &m, sizeof(m), 47, err, sizeof(err)), 0);
	assert_memory_equal(a + HELPER_BASE, b + HELPER_BASE, HELPER_MEASURED_SIZE);
	/* another C-bit, other bytes */
	assert_int_equal(helper_region__build(c, RAM_SMALL, &m, sizeof(m), 0, err, sizeof(err)), 0);
	assert_memory_not_equal(a + HELPER_BASE, c + HELPER_BASE, HELPER_MEASURED_SIZE);
	free(a);
	free(b);
	free(c);
}

/* ---- refusals: a message naming the cause, and not a byte written --------- */

static void refused(const void *elf, size_t len, uint64_t ram_size, unsigned c_bit, const char *want)
{
	uint8_t *ram = new_ram(RAM_SMALL);
	err[0] = '\0';
	assert_int_equal(helper_region__build(ram, ram_size, elf, len, c_bit, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("expected '%s' in: %s", want, err);
	assert_true(all(ram, 0, RAM_SMALL, PATTERN));
	free(ram);
}

static void test_refuses_small_ram(void **state)
{
	struct img m;
	(void)state;
	make_img(&m);
	refused(&m, sizeof(m), HELPER_END - 0x1000, 0, "too small");
}

static void test_refuses_bad_cbit(void **state)
{
	struct img m;
	(void)state;
	make_img(&m);
	refused(&m, sizeof(m), RAM_SMALL, 5, "C-bit position 5");
	refused(&m, sizeof(m), RAM_SMALL, 31, "C-bit position 31");
	refused(&m, sizeof(m), RAM_SMALL, 52, "C-bit position 52");
}

static void test_refuses_bad_header(void **state)
{
	struct img m;
	(void)state;
	make_img(&m);
	refused(&m, 10, RAM_SMALL, 0, "truncated");
	m.eh.e_ident[0] = 0;
	refused(&m, sizeof(m), RAM_SMALL, 0, "bad magic");
	make_img(&m);
	m.eh.e_ident[EI_CLASS] = ELFCLASS32;
	refused(&m, sizeof(m), RAM_SMALL, 0, "ELF64");
	make_img(&m);
	m.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	refused(&m, sizeof(m), RAM_SMALL, 0, "little-endian");
	make_img(&m);
	m.eh.e_machine = EM_386;
	refused(&m, sizeof(m), RAM_SMALL, 0, "x86-64 executable");
	make_img(&m);
	m.eh.e_type = ET_DYN;
	refused(&m, sizeof(m), RAM_SMALL, 0, "x86-64 executable");
	make_img(&m);
	m.eh.e_entry = HELPER_BASE + 0x10;
	refused(&m, sizeof(m), RAM_SMALL, 0, "entry point 0x400010");
	make_img(&m);
	m.eh.e_phentsize = sizeof(Elf32_Phdr);
	refused(&m, sizeof(m), RAM_SMALL, 0, "program headers");
	make_img(&m);
	m.eh.e_phnum = 0;
	refused(&m, sizeof(m), RAM_SMALL, 0, "program headers");
	make_img(&m);
	m.eh.e_phoff = sizeof(m) - 8;
	refused(&m, sizeof(m), RAM_SMALL, 0, "outside the file");
	make_img(&m);
	m.eh.e_phoff = UINT64_MAX - 8;       /* wraps */
	refused(&m, sizeof(m), RAM_SMALL, 0, "outside the file");
}

static void test_refuses_bad_segments(void **state)
{
	struct img m;
	(void)state;
	make_img(&m);
	m.ph[2].p_paddr = HELPER_BASE - 0x1000;           /* below the region */
	refused(&m, sizeof(m), RAM_SMALL, 0, "outside the helper image area");
	make_img(&m);
	m.ph[2].p_paddr = HELPER_BASE + HELPER_IMAGE_MAX - 0x1000;  /* runs into the page tables */
	refused(&m, sizeof(m), RAM_SMALL, 0, "outside the helper image area");
	make_img(&m);
	m.ph[2].p_paddr = HELPER_BASE + HELPER_IMAGE_MAX;
	m.ph[2].p_memsz = 0x10;
	m.ph[2].p_filesz = 0x10;
	refused(&m, sizeof(m), RAM_SMALL, 0, "outside the helper image area");
	make_img(&m);
	m.ph[2].p_memsz = UINT64_MAX;                     /* wraps */
	m.ph[2].p_filesz = 0x10;
	refused(&m, sizeof(m), RAM_SMALL, 0, "outside the helper image area");
	make_img(&m);
	m.ph[2].p_filesz = DATA_MEM + 1;
	refused(&m, sizeof(m), RAM_SMALL, 0, "file size exceeds memory size");
	make_img(&m);
	m.ph[2].p_offset = sizeof(m) - 0x10;
	refused(&m, sizeof(m), RAM_SMALL, 0, "data lies outside the file");
	make_img(&m);
	m.ph[2].p_offset = UINT64_MAX - 0x10;
	refused(&m, sizeof(m), RAM_SMALL, 0, "data lies outside the file");
	make_img(&m);
	m.ph[0].p_type = PT_NULL;
	m.ph[2].p_type = PT_NULL;
	refused(&m, sizeof(m), RAM_SMALL, 0, "no loadable segments");
	make_img(&m);
	m.ph[0].p_type = PT_NULL;                          /* entry no longer loaded */
	refused(&m, sizeof(m), RAM_SMALL, 0, "outside the loaded segments");
}

/* ---- the guest keeps out of the region; the measured range ---------------- */

static void test_guest_clear(void **state)
{
	(void)state;
	assert_int_equal(helper_region__guest_clear(0x100000, HELPER_BASE, err, sizeof(err)), 0);
	assert_int_equal(helper_region__guest_clear(HELPER_END, HELPER_END + 0x1000, err, sizeof(err)), 0);
	assert_int_equal(helper_region__guest_clear(0x100000, HELPER_BASE + 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "overlaps the migration helper's region"));
	assert_int_equal(helper_region__guest_clear(HELPER_END - 1, HELPER_END + 1, err, sizeof(err)), -1);
	assert_int_equal(helper_region__guest_clear(0x100000, HELPER_END + 1, err, sizeof(err)), -1);
}

static void test_measured_range(void **state)
{
	struct launch_range r[LAUNCH_RANGES_MAX];
	struct elf_image ei = { .lowest = 0x100000, .highest = 0x123456 };
	(void)state;
	assert_int_equal(launch__ranges(&ei, r), 2);
	assert_int_equal(launch__add_helper_range(r, 2), 3);
	assert_int_equal(r[2].gpa, 0x400000);
	assert_int_equal(r[2].len, 0x185000);
	/* the guest first, then the boot info, then the helper */
	assert_int_equal(r[0].gpa, 0x100000);
	assert_int_equal(r[1].gpa, LAUNCH_BOOTINFO_GPA);
}

/* ---- the real helper.elf ------------------------------------------------- */

static const char *helper_path(void)
{
	const char *p = getenv("HELPER_ELF");
	return p && *p ? p : "build/guest/helper.elf";
}

static void test_real_helper(void **state)
{
	const char *path = helper_path();
	uint8_t *a, *b;
	void *img;
	size_t len;
	(void)state;
	if (access(path, R_OK)) {
		printf("%s not built, skipping (make guests, or set HELPER_ELF)\n", path);
		skip();
	}
	assert_int_equal(file__slurp(path, 64u << 20, &img, &len, err, sizeof(err)), 0);
	a = new_ram(RAM_SMALL);
	b = new_ram(RAM_BIG);
	if (helper_region__build(a, RAM_SMALL, img, len, 0, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	assert_int_equal(helper_region__build(b, RAM_BIG, img, len, 0, err, sizeof(err)), 0);
	assert_memory_equal(a + HELPER_BASE, b + HELPER_BASE, HELPER_MEASURED_SIZE);
	/* its first bytes are code (not the zeroes of an empty image), and the
	 * tables, GDT and TSS are the same as for any image */
	assert_false(all(a, HELPER_BASE, HELPER_BASE + 16, 0));
	assert_int_equal(get64(a, PT), (PT + 0x1000) | 7);
	assert_int_equal(get64(a, GDT + 0x28), 0x0000895810002068ULL);
	assert_int_equal(a[TSS + 104 + 8192], 0xFF);
	assert_int_equal(a[KEY], PATTERN);
	free(a);
	free(b);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_no_cbit),
		cmocka_unit_test(test_layout_cbit),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_refuses_small_ram),
		cmocka_unit_test(test_refuses_bad_cbit),
		cmocka_unit_test(test_refuses_bad_header),
		cmocka_unit_test(test_refuses_bad_segments),
		cmocka_unit_test(test_guest_clear),
		cmocka_unit_test(test_measured_range),
		cmocka_unit_test(test_real_helper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
