/* test_elf.c - the strict ELF loader (good ELF64/ELF32 images, every kind
 * of malformed image refused with RAM untouched), file__slurp, the real test
 * guest if it has been built, and the multiboot header check and info
 * structure. Images are built in memory from <elf.h> structs. */
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

#include "boot/elf.h"
#include "boot/multiboot.h"

#define RAM_SIZE  (4ULL << 20)
#define PATTERN   0xA5
#define MIN_PADDR GUEST_LOAD_MIN

/* Segment layout of the good images. */
#define TEXT_PADDR 0x100000u
#define TEXT_SIZE  0x100u
#define DATA_PADDR 0x200000u
#define DATA_FILE  0x80u
#define DATA_MEM   0x3000u
#define ENTRY      (TEXT_PADDR + 0x10)

static uint8_t *ram;
static char err[256];

/* ---- image builders ---------------------------------------------------- */

struct img64 {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	uint8_t    data[0x2000];
};

struct img32 {
	Elf32_Ehdr eh;
	Elf32_Phdr ph[3];
	uint8_t    data[0x2000];
};

#define TEXT_OFF(T) offsetof(T, data)
#define DATA_OFF(T) (offsetof(T, data) + 0x1000)

static void fill_data(uint8_t *data)
{
	for (unsigned i = 0; i < TEXT_SIZE; i++)
		data[i] = (uint8_t)(0x10 + i);
	for (unsigned i = 0; i < DATA_FILE; i++)
		data[0x1000 + i] = (uint8_t)(0xC0 ^ i);
}

static void ident(unsigned char *id, int class)
{
	memcpy(id, ELFMAG, SELFMAG);
	id[EI_CLASS] = (unsigned char)class;
	id[EI_DATA] = ELFDATA2LSB;
	id[EI_VERSION] = EV_CURRENT;
}

/* Text PT_LOAD, a PT_NOTE (ignored), and a data PT_LOAD whose memsz
 * exceeds its filesz (the .bss tail, which must be zeroed). */
static void make64(struct img64 *m)
{
	memset(m, 0, sizeof(*m));
	ident(m->eh.e_ident, ELFCLASS64);
	m->eh.e_type = ET_EXEC;
	m->eh.e_machine = EM_X86_64;
	m->eh.e_version = EV_CURRENT;
	m->eh.e_entry = ENTRY;
	m->eh.e_phoff = offsetof(struct img64, ph);
	m->eh.e_ehsize = sizeof(Elf64_Ehdr);
	m->eh.e_phentsize = sizeof(Elf64_Phdr);
	m->eh.e_phnum = 3;
	m->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
				 .p_offset = TEXT_OFF(struct img64), .p_vaddr = TEXT_PADDR,
				 .p_paddr = TEXT_PADDR, .p_filesz = TEXT_SIZE,
				 .p_memsz = TEXT_SIZE, .p_align = 0x1000 };
	/* Nonsense offsets: headers other than PT_LOAD are not looked at. */
	m->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = UINT64_MAX,
				 .p_paddr = 0, .p_filesz = 0x10, .p_memsz = 0x10 };
	m->ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
				 .p_offset = DATA_OFF(struct img64), .p_vaddr = DATA_PADDR,
				 .p_paddr = DATA_PADDR, .p_filesz = DATA_FILE,
				 .p_memsz = DATA_MEM, .p_align = 0x1000 };
	fill_data(m->data);
}

static void make32(struct img32 *m)
{
	memset(m, 0, sizeof(*m));
	ident(m->eh.e_ident, ELFCLASS32);
	m->eh.e_type = ET_EXEC;
	m->eh.e_machine = EM_386;
	m->eh.e_version = EV_CURRENT;
	m->eh.e_entry = ENTRY;
	m->eh.e_phoff = offsetof(struct img32, ph);
	m->eh.e_ehsize = sizeof(Elf32_Ehdr);
	m->eh.e_phentsize = sizeof(Elf32_Phdr);
	m->eh.e_phnum = 3;
	m->ph[0] = (Elf32_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
				 .p_offset = TEXT_OFF(struct img32), .p_vaddr = TEXT_PADDR,
				 .p_paddr = TEXT_PADDR, .p_filesz = TEXT_SIZE,
				 .p_memsz = TEXT_SIZE, .p_align = 0x1000 };
	m->ph[1] = (Elf32_Phdr){ .p_type = PT_NOTE, .p_offset = UINT32_MAX,
				 .p_filesz = 0x10, .p_memsz = 0x10 };
	m->ph[2] = (Elf32_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
				 .p_offset = DATA_OFF(struct img32), .p_vaddr = DATA_PADDR,
				 .p_paddr = DATA_PADDR, .p_filesz = DATA_FILE,
				 .p_memsz = DATA_MEM, .p_align = 0x1000 };
	fill_data(m->data);
}

/* ---- helpers ------------------------------------------------------------ */

static void ram_fill(void)
{
	memset(ram, PATTERN, RAM_SIZE);
}

static void ram_untouched(void)
{
	for (uint64_t i = 0; i < RAM_SIZE; i++)
		if (ram[i] != PATTERN)
			fail_msg("RAM byte 0x%llx changed to 0x%02x", (unsigned long long)i, ram[i]);
}

static void ram_range_is(uint64_t at, uint64_t n, uint8_t v)
{
	for (uint64_t i = 0; i < n; i++)
		if (ram[at + i] != v)
			fail_msg("RAM byte 0x%llx is 0x%02x, expected 0x%02x",
				 (unsigned long long)(at + i), ram[at + i], v);
}

/* The image must be refused with a message containing word, writing nothing. */
static void refused_n(const void *img, size_t len, uint64_t ram_size, const char *word)
{
	struct elf_image ei;
	ram_fill();
	strcpy(err, "(unset)");
	if (elf__load(img, len, ram, ram_size, MIN_PADDR, &ei, err, sizeof(err)) != -1)
		fail_msg("image accepted, expected an error about '%s'", word);
	if (!strstr(err, word))
		fail_msg("error '%s' does not mention '%s'", err, word);
	ram_untouched();
}

static void refused(const void *img, size_t len, const char *word)
{
	refused_n(img, len, RAM_SIZE, word);
}

/* The good images' segments are in RAM, the .bss tail zeroed, the rest intact. */
static void check_loaded(const uint8_t *data, const struct elf_image *ei, int class64)
{
	assert_int_equal(ei->entry, ENTRY);
	assert_int_equal(ei->lowest, TEXT_PADDR);
	assert_int_equal(ei->highest, DATA_PADDR + DATA_MEM);
	assert_int_equal(ei->class64, class64);
	assert_memory_equal(ram + TEXT_PADDR, data, TEXT_SIZE);
	assert_memory_equal(ram + DATA_PADDR, data + 0x1000, DATA_FILE);
	ram_range_is(DATA_PADDR + DATA_FILE, DATA_MEM - DATA_FILE, 0);
	/* Everything else is as it was. */
	ram_range_is(0, TEXT_PADDR, PATTERN);
	ram_range_is(TEXT_PADDR + TEXT_SIZE, DATA_PADDR - TEXT_PADDR - TEXT_SIZE, PATTERN);
	ram_range_is(DATA_PADDR + DATA_MEM, RAM_SIZE - DATA_PADDR - DATA_MEM, PATTERN);
}

static int setup(void **state)
{
	(void)state;
	ram = malloc(RAM_SIZE);
	return ram ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(ram);
	ram = NULL;
	return 0;
}

/* ---- good images -------------------------------------------------------- */

static void test_good64(void **state)
{
	(void)state;
	struct img64 m;
	struct elf_image ei;
	make64(&m);
	ram_fill();
	assert_int_equal(elf__load(&m, sizeof(m), ram, RAM_SIZE, MIN_PADDR, &ei, err, sizeof(err)), 0);
	check_loaded(m.data, &ei, 1);
}

static void test_good32(void **state)
{
	(void)state;
	struct img32 m;
	struct elf_image ei;
	make32(&m);
	ram_fill();
	assert_int_equal(elf__load(&m, sizeof(m), ram, RAM_SIZE, MIN_PADDR, &ei, err, sizeof(err)), 0);
	check_loaded(m.data, &ei, 0);
}

/* Loading twice over the first load's RAM gives the same result. */
static void test_good_reload(void **state)
{
	(void)state;
	struct img64 m;
	struct elf_image ei;
	make64(&m);
	ram_fill();
	assert_int_equal(elf__load(&m, sizeof(m), ram, RAM_SIZE, MIN_PADDR, &ei, err, sizeof(err)), 0);
	assert_int_equal(elf__load(&m, sizeof(m), ram, RAM_SIZE, MIN_PADDR, &ei, err, sizeof(err)), 0);
	check_loaded(m.data, &ei, 1);
}

/* Limits that are exactly allowed: a segment at min_paddr, one ending
 * exactly at the end of RAM, a pure .bss segment (filesz 0) with its data
 * offset at the very end of the file, entry at the last byte of a segment. */
static void test_good_edges(void **state)
{
	(void)state;
	struct img64 m;
	struct elf_image ei;
	make64(&m);
	m.ph[2].p_paddr = RAM_SIZE - DATA_MEM;
	m.ph[2].p_filesz = 0;
	m.ph[2].p_offset = sizeof(m);
	m.eh.e_entry = TEXT_PADDR + TEXT_SIZE - 1;
	ram_fill();
	assert_int_equal(elf__load(&m, sizeof(m), ram, RAM_SIZE, MIN_PADDR, &ei, err, sizeof(err)), 0);
	assert_int_equal(ei.entry, TEXT_PADDR + TEXT_SIZE - 1);
	assert_int_equal(ei.lowest, MIN_PADDR);
	assert_int_equal(ei.highest, RAM_SIZE);
	assert_memory_equal(ram + TEXT_PADDR, m.data, TEXT_SIZE);
	ram_range_is(RAM_SIZE - DATA_MEM, DATA_MEM, 0);
	ram_range_is(TEXT_PADDR + TEXT_SIZE, RAM_SIZE - DATA_MEM - TEXT_PADDR - TEXT_SIZE, PATTERN);
}

/* A PT_LOAD with memsz 0 is skipped, whatever its other fields say. */
static void test_good_empty_load_skipped(void **state)
{
	(void)state;
	struct img64 m;
	struct elf_image ei;
	make64(&m);
	m.ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = UINT64_MAX, .p_paddr = 0 };
	ram_fill();
	assert_int_equal(elf__load(&m, sizeof(m), ram, RAM_SIZE, MIN_PADDR, &ei, err, sizeof(err)), 0);
	check_loaded(m.data, &ei, 1);
}

/* ---- malformed images ----------------------------------------------------- */

static void test_bad_magic(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.eh.e_ident[EI_MAG1] = 'F';
	refused(&m, sizeof(m), "magic");
	make64(&m);
	m.eh.e_ident[EI_MAG0] = 0;
	refused(&m, sizeof(m), "magic");
	refused("", 0, "magic");
	refused("hello, world", 12, "magic");
}

static void test_short_header(void **state)
{
	(void)state;
	struct img64 m;
	struct img32 m32;
	make64(&m);
	refused(&m, EI_NIDENT - 1, "magic");          /* not even e_ident */
	refused(&m, EI_NIDENT, "truncated");
	refused(&m, sizeof(Elf64_Ehdr) - 1, "truncated");
	make32(&m32);
	refused(&m32, sizeof(Elf32_Ehdr) - 1, "truncated");
}

static void test_wrong_machine(void **state)
{
	(void)state;
	struct img64 m;
	struct img32 m32;
	make64(&m);
	m.eh.e_machine = EM_AARCH64;
	refused(&m, sizeof(m), "x86");
	make64(&m);
	m.eh.e_machine = EM_386;                     /* ELF64 must be x86-64 */
	refused(&m, sizeof(m), "e_machine");
	make32(&m32);
	m32.eh.e_machine = EM_ARM;
	refused(&m32, sizeof(m32), "x86");
}

static void test_wrong_class(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.eh.e_ident[EI_CLASS] = ELFCLASSNONE;
	refused(&m, sizeof(m), "class");
	m.eh.e_ident[EI_CLASS] = 3;
	refused(&m, sizeof(m), "class");
}

static void test_big_endian(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	refused(&m, sizeof(m), "little-endian");
	m.eh.e_ident[EI_DATA] = ELFDATANONE;
	refused(&m, sizeof(m), "little-endian");
}

static void test_bad_phentsize(void **state)
{
	(void)state;
	struct img64 m;
	struct img32 m32;
	make64(&m);
	m.eh.e_phentsize = sizeof(Elf32_Phdr);
	refused(&m, sizeof(m), "program header size");
	m.eh.e_phentsize = 0;
	refused(&m, sizeof(m), "program header size");
	make32(&m32);
	m32.eh.e_phentsize = sizeof(Elf64_Phdr);
	refused(&m32, sizeof(m32), "program header size");
}

static void test_no_phdrs(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.eh.e_phnum = 0;
	refused(&m, sizeof(m), "no program headers");
}

static void test_phdrs_past_eof(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.eh.e_phoff = sizeof(m) - 8;                 /* first header straddles EOF */
	refused(&m, sizeof(m), "outside the file");
	make64(&m);
	m.eh.e_phoff = sizeof(m);
	refused(&m, sizeof(m), "outside the file");
	make64(&m);
	m.eh.e_phoff = UINT64_MAX - 8;                /* offset + size wraps */
	refused(&m, sizeof(m), "outside the file");
	make64(&m);
	/* Later headers past EOF: 0-2 are good, the following ones read the
	 * segment data (never PT_LOAD) until one straddles the end. */
	m.eh.e_phnum = 0xffff;
	refused(&m, sizeof(m), "outside the file");
}

static void test_segment_past_eof(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.ph[2].p_offset = sizeof(m) - DATA_FILE + 1;
	refused(&m, sizeof(m), "outside the file");
	make64(&m);
	m.ph[2].p_offset = sizeof(m) + 1;
	m.ph[2].p_filesz = 0;
	refused(&m, sizeof(m), "outside the file");
	make64(&m);
	m.ph[2].p_offset = UINT64_MAX - 0x10;         /* offset + filesz wraps */
	refused(&m, sizeof(m), "outside the file");
	make64(&m);                                   /* file cut inside segment data */
	refused(&m, DATA_OFF(struct img64) + DATA_FILE - 1, "segment 2");
}

static void test_filesz_gt_memsz(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.ph[2].p_filesz = DATA_MEM + 1;
	m.ph[2].p_memsz = DATA_MEM;
	refused(&m, sizeof(m), "file size exceeds");
}

static void test_below_min_paddr(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.ph[2].p_paddr = MIN_PADDR - 0x1000;
	refused(&m, sizeof(m), "below");
	make64(&m);
	m.ph[0].p_paddr = 0;
	refused(&m, sizeof(m), "below");
}

static void test_beyond_ram(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.ph[2].p_paddr = RAM_SIZE - DATA_MEM + 1;   /* one byte too far */
	refused(&m, sizeof(m), "does not fit");
	make64(&m);
	m.ph[2].p_paddr = RAM_SIZE;
	refused(&m, sizeof(m), "does not fit");
	make64(&m);
	m.ph[2].p_paddr = RAM_SIZE + 0x100000;
	refused(&m, sizeof(m), "does not fit");
	make64(&m);
	m.ph[2].p_memsz = RAM_SIZE;
	refused(&m, sizeof(m), "does not fit");
	/* The good image is refused when RAM ends inside its first segment. */
	make64(&m);
	refused_n(&m, sizeof(m), TEXT_PADDR + TEXT_SIZE - 1, "does not fit");
}

static void test_paddr_overflow(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.ph[2].p_paddr = UINT64_MAX - 0xfff;         /* paddr + memsz wraps to small */
	refused(&m, sizeof(m), "does not fit");
	make64(&m);
	m.ph[2].p_paddr = UINT64_MAX;
	m.ph[2].p_memsz = 1;
	m.ph[2].p_filesz = 1;
	refused(&m, sizeof(m), "does not fit");
	make64(&m);
	m.ph[2].p_memsz = UINT64_MAX - DATA_PADDR + 2; /* wraps to 1 */
	refused(&m, sizeof(m), "does not fit");
}

static void test_entry_outside(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.eh.e_entry = TEXT_PADDR - 1;
	refused(&m, sizeof(m), "entry point");
	m.eh.e_entry = DATA_PADDR + DATA_MEM;         /* one past the end */
	refused(&m, sizeof(m), "entry point");
	m.eh.e_entry = 0;
	refused(&m, sizeof(m), "entry point");
	m.eh.e_entry = UINT64_MAX;
	refused(&m, sizeof(m), "entry point");
	/* In the gap between the two segments: inside [lowest, highest) but in
	 * no segment (was accepted before the fix in elf.c). */
	m.eh.e_entry = TEXT_PADDR + TEXT_SIZE;
	refused(&m, sizeof(m), "entry point");
	m.eh.e_entry = (TEXT_PADDR + DATA_PADDR) / 2;
	refused(&m, sizeof(m), "entry point");
	/* In the .bss part of a segment is still inside the segment. */
	struct elf_image ei;
	m.eh.e_entry = DATA_PADDR + DATA_MEM - 1;
	ram_fill();
	assert_int_equal(elf__load(&m, sizeof(m), ram, RAM_SIZE, MIN_PADDR, &ei, err, sizeof(err)), 0);
	assert_int_equal(ei.entry, DATA_PADDR + DATA_MEM - 1);

	struct img32 m32;
	make32(&m32);
	m32.eh.e_entry = 0x150000;
	refused(&m32, sizeof(m32), "entry point");
}

static void test_no_pt_load(void **state)
{
	(void)state;
	struct img64 m;
	make64(&m);
	m.ph[0].p_type = PT_NOTE;
	m.ph[2].p_type = PT_NULL;
	refused(&m, sizeof(m), "no loadable");
	make64(&m);
	m.ph[0].p_memsz = m.ph[0].p_filesz = 0;       /* empty PT_LOADs do not count */
	m.ph[2].p_memsz = m.ph[2].p_filesz = 0;
	refused(&m, sizeof(m), "no loadable");
}

/* Every check runs before any copy: a bad second segment leaves the good
 * first one unwritten too (each case above already checks the whole RAM;
 * this one makes the ordering explicit for ELF32 as well). */
static void test_bad_later_segment_writes_nothing(void **state)
{
	(void)state;
	struct img32 m32;
	make32(&m32);
	m32.ph[2].p_paddr = 0xfffff000u;
	refused(&m32, sizeof(m32), "segment 2");
	make32(&m32);
	m32.ph[2].p_filesz = DATA_MEM + 1;
	refused(&m32, sizeof(m32), "segment 2");
}

/* ---- file__slurp ---------------------------------------------------------- */

static int write_tmp(char *path, const void *data, size_t len)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void test_file_slurp(void **state)
{
	(void)state;
	char path[] = "/tmp/tern-test-elf-XXXXXX";
	uint8_t data[5000];
	void *buf = NULL;
	size_t len = 0;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(write_tmp(path, data, sizeof(data)), 0);

	assert_int_equal(file__slurp(path, sizeof(data), &buf, &len, err, sizeof(err)), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(buf, data, sizeof(data));
	free(buf);

	strcpy(err, "");
	assert_int_equal(file__slurp(path, sizeof(data) - 1, &buf, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too large"));
	unlink(path);

	strcpy(err, "");
	assert_int_equal(file__slurp(path, 1 << 20, &buf, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));

	strcpy(err, "");
	assert_int_equal(file__slurp("/tmp", 1 << 20, &buf, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_file_slurp_empty(void **state)
{
	(void)state;
	char path[] = "/tmp/tern-test-elf-XXXXXX";
	void *buf = NULL;
	size_t len = 99;
	assert_int_equal(write_tmp(path, "", 0), 0);
	assert_int_equal(file__slurp(path, 0, &buf, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 0);
	assert_non_null(buf);
	free(buf);
	unlink(path);
	/* And an empty file is, of course, not an ELF image. */
	refused("", 0, "magic");
}

/* ---- the real test guest --------------------------------------------------- */

static void load_real_guest(const char *path, int class64)
{
	void *img;
	size_t len;
	struct elf_image ei;
	uint64_t size = 64ULL << 20;
	uint8_t *big;

	if (access(path, R_OK)) {
		printf("%s not built, skipping\n", path);
		skip();
	}
	assert_int_equal(file__slurp(path, 64u << 20, &img, &len, err, sizeof(err)), 0);
	big = malloc(size);
	assert_non_null(big);
	memset(big, PATTERN, size);
	if (elf__load(img, len, big, size, GUEST_LOAD_MIN, &ei, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	assert_int_equal(ei.class64, class64);
	assert_true(ei.lowest >= GUEST_LOAD_MIN);
	assert_true(ei.entry >= ei.lowest && ei.entry < ei.highest);
	assert_true(ei.highest <= size);
	/* Below the load address nothing was written. */
	for (uint64_t i = 0; i < GUEST_LOAD_MIN; i++)
		if (big[i] != PATTERN)
			fail_msg("byte 0x%llx below the image was written", (unsigned long long)i);
	if (multiboot__check(img, len, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	/* With less RAM than the image needs it is refused. */
	memset(big, PATTERN, size);
	assert_int_equal(elf__load(img, len, big, ei.highest - 1, GUEST_LOAD_MIN, &ei, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not fit"));
	free(big);
	free(img);
}

static void test_real_guest(void **state)
{
	(void)state;
	load_real_guest("build/guest/dirtier.elf", 0);
}

static void test_real_guest64(void **state)
{
	(void)state;
	load_real_guest("build/guest/dirtier.elf64", 1);
}

/* ---- multiboot__check ------------------------------------------------------ */

#define MB_FLAGS 0x00000003u

static void put_mb_header(uint8_t *img, size_t off, uint32_t flags, uint32_t checksum)
{
	uint32_t h[3] = { MB_HEADER_MAGIC, flags, checksum };
	memcpy(img + off, h, sizeof(h));
}

static uint32_t good_sum(uint32_t flags)
{
	return (uint32_t)-(MB_HEADER_MAGIC + flags);
}

static int mb_at(size_t off, size_t len)
{
	static uint8_t img[12288];
	memset(img, 0, sizeof(img));
	put_mb_header(img, off, MB_FLAGS, good_sum(MB_FLAGS));
	strcpy(err, "");
	return multiboot__check(img, len, err, sizeof(err));
}

static void test_mb_offsets(void **state)
{
	(void)state;
	assert_int_equal(mb_at(0, 12288), 0);
	assert_int_equal(mb_at(0, 12), 0);            /* the image is just the header */
	assert_int_equal(mb_at(4096, 12288), 0);
	/* The header must lie wholly within the first 8192 bytes: at 8180 it
	 * ends exactly at 8192; at 8184 and 8188 it straddles the limit. */
	assert_int_equal(mb_at(8180, 12288), 0);
	assert_int_equal(mb_at(8184, 12288), -1);
	assert_non_null(strstr(err, "multiboot header"));
	assert_int_equal(mb_at(8188, 12288), -1);
	assert_non_null(strstr(err, "multiboot header"));
	assert_int_equal(mb_at(8192, 12288), -1);
	assert_non_null(strstr(err, "8 KiB"));
	assert_int_equal(mb_at(10000, 12288), -1);
	/* Not 32-bit aligned. */
	assert_int_equal(mb_at(2, 12288), -1);
	assert_int_equal(mb_at(8182, 12288), -1);
	/* The header is cut off by the end of the image. */
	assert_int_equal(mb_at(100, 111), -1);
	assert_int_equal(mb_at(100, 112), 0);
	assert_int_equal(mb_at(0, 0), -1);
}

static void test_mb_checksum(void **state)
{
	(void)state;
	uint8_t img[64] = { 0 };
	put_mb_header(img, 0, MB_FLAGS, good_sum(MB_FLAGS) + 1);
	assert_int_equal(multiboot__check(img, sizeof(img), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "multiboot header"));
	put_mb_header(img, 0, MB_FLAGS, 0);
	assert_int_equal(multiboot__check(img, sizeof(img), err, sizeof(err)), -1);
	/* The boot magic (what a loader passes in eax) is not a header magic. */
	uint32_t h[3] = { MB_BOOT_MAGIC, 0, (uint32_t)-MB_BOOT_MAGIC };
	memcpy(img, h, sizeof(h));
	assert_int_equal(multiboot__check(img, sizeof(img), err, sizeof(err)), -1);
	/* A bad header first, then a good one further on: found. */
	put_mb_header(img, 0, MB_FLAGS, 1);
	put_mb_header(img, 16, 0, good_sum(0));
	assert_int_equal(multiboot__check(img, sizeof(img), err, sizeof(err)), 0);
	/* An ELF without the header (our synthetic image). */
	struct img64 m;
	make64(&m);
	assert_int_equal(multiboot__check(&m, sizeof(m), err, sizeof(err)), -1);
}

/* ---- multiboot__write_info -------------------------------------------------- */

struct mbi {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

#define INFO_RAM (MB_CMDLINE_GPA + 2 * MB_CMDLINE_MAX)   /* all write_info touches */

static struct mbi read_info(void)
{
	struct mbi mi;
	memcpy(&mi, ram + MB_INFO_GPA, sizeof(mi));
	return mi;
}

static void test_mb_info(void **state)
{
	(void)state;
	ram_fill();
	assert_int_equal(multiboot__write_info(ram, RAM_SIZE, 4, "mode=fast seed=7", err, sizeof(err)), 0);
	assert_string_equal((char *)ram + MB_CMDLINE_GPA, "ncpus=4 mode=fast seed=7");
	struct mbi mi = read_info();
	assert_int_equal(mi.flags, (1u << 0) | (1u << 2));
	assert_int_equal(mi.mem_lower, 640);
	assert_int_equal(mi.mem_upper, (RAM_SIZE - 0x100000) >> 10);
	assert_int_equal(mi.boot_device, 0);
	assert_int_equal(mi.cmdline, MB_CMDLINE_GPA);

	/* No arguments at all: just the prefix. */
	assert_int_equal(multiboot__write_info(ram, RAM_SIZE, 16, NULL, err, sizeof(err)), 0);
	assert_string_equal((char *)ram + MB_CMDLINE_GPA, "ncpus=16 ");
	assert_int_equal(multiboot__write_info(ram, RAM_SIZE, 1, "", err, sizeof(err)), 0);
	assert_string_equal((char *)ram + MB_CMDLINE_GPA, "ncpus=1 ");
}

static void test_mb_info_mem_upper(void **state)
{
	(void)state;
	static const struct { uint64_t ram; uint32_t upper; } cases[] = {
		{ 64ULL << 20, (63u << 10) },
		{ 256ULL << 20, (255u << 10) },
		{ 1ULL << 30, (1023u << 10) },
		{ 4ULL << 30, (4095u << 10) },
		{ 1ULL << 20, 0 },
		/* Beyond what 32 bits of KiB can say: saturates (fixed in
		 * multiboot.c; 8 TiB used to report 0xfffffc00 KiB - wrapped). */
		{ (4ULL << 40) + (1ULL << 20), UINT32_MAX },
		{ 8ULL << 40, UINT32_MAX },
	};
	/* Only the low pages are written, so RAM can be said to be larger
	 * than the buffer. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ram_fill();
		assert_int_equal(multiboot__write_info(ram, cases[i].ram, 2, "x", err, sizeof(err)), 0);
		struct mbi mi = read_info();
		if (mi.mem_upper != cases[i].upper)
			fail_msg("RAM %llu: mem_upper %u, expected %u", (unsigned long long)cases[i].ram,
				 mi.mem_upper, cases[i].upper);
		ram_range_is(INFO_RAM, RAM_SIZE - INFO_RAM, PATTERN);
	}
	/* Less than 1 MiB of RAM is refused (fixed in multiboot.c: it used to
	 * wrap mem_upper and could write past the end of RAM). */
	ram_fill();
	assert_int_equal(multiboot__write_info(ram, (1ULL << 20) - 1, 1, "x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too small"));
	ram_untouched();
}

static void test_mb_info_too_long(void **state)
{
	(void)state;
	char *args = malloc(MB_CMDLINE_MAX + 100);
	assert_non_null(args);
	/* "ncpus=1 " is 8 bytes; with the NUL, 4087 bytes of arguments fit. */
	size_t fit = MB_CMDLINE_MAX - 1 - strlen("ncpus=1 ");
	memset(args, 'a', fit);
	args[fit] = 0;
	ram_fill();
	assert_int_equal(multiboot__write_info(ram, RAM_SIZE, 1, args, err, sizeof(err)), 0);
	assert_int_equal(strlen((char *)ram + MB_CMDLINE_GPA), MB_CMDLINE_MAX - 1);
	assert_int_equal(memcmp((char *)ram + MB_CMDLINE_GPA, "ncpus=1 aaa", 11), 0);
	/* Nothing beyond the command line area is written. */
	ram_range_is(MB_CMDLINE_GPA + MB_CMDLINE_MAX, RAM_SIZE - MB_CMDLINE_GPA - MB_CMDLINE_MAX, PATTERN);

	/* One more byte does not fit; with ncpus=10 one byte less fits. */
	memset(args, 'a', fit + 1);
	args[fit + 1] = 0;
	strcpy(err, "");
	assert_int_equal(multiboot__write_info(ram, RAM_SIZE, 1, args, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	args[fit] = 0;
	assert_int_equal(multiboot__write_info(ram, RAM_SIZE, 10, args, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));

	memset(args, 'b', MB_CMDLINE_MAX + 50);
	args[MB_CMDLINE_MAX + 50] = 0;
	ram_fill();
	assert_int_equal(multiboot__write_info(ram, RAM_SIZE, 1, args, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "guest arguments"));
	/* The info structure is not written for a refused command line, and
	 * the command line never overflows its 4 KiB area. */
	ram_range_is(MB_INFO_GPA, sizeof(struct mbi), PATTERN);
	ram_range_is(MB_CMDLINE_GPA + MB_CMDLINE_MAX, RAM_SIZE - MB_CMDLINE_GPA - MB_CMDLINE_MAX, PATTERN);
	free(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good64),
		cmocka_unit_test(test_good32),
		cmocka_unit_test(test_good_reload),
		cmocka_unit_test(test_good_edges),
		cmocka_unit_test(test_good_empty_load_skipped),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_short_header),
		cmocka_unit_test(test_wrong_machine),
		cmocka_unit_test(test_wrong_class),
		cmocka_unit_test(test_big_endian),
		cmocka_unit_test(test_bad_phentsize),
		cmocka_unit_test(test_no_phdrs),
		cmocka_unit_test(test_phdrs_past_eof),
		cmocka_unit_test(test_segment_past_eof),
		cmocka_unit_test(test_filesz_gt_memsz),
		cmocka_unit_test(test_below_min_paddr),
		cmocka_unit_test(test_beyond_ram),
		cmocka_unit_test(test_paddr_overflow),
		cmocka_unit_test(test_entry_outside),
		cmocka_unit_test(test_no_pt_load),
		cmocka_unit_test(test_bad_later_segment_writes_nothing),
		cmocka_unit_test(test_file_slurp),
		cmocka_unit_test(test_file_slurp_empty),
		cmocka_unit_test(test_real_guest),
		cmocka_unit_test(test_real_guest64),
		cmocka_unit_test(test_mb_offsets),
		cmocka_unit_test(test_mb_checksum),
		cmocka_unit_test(test_mb_info),
		cmocka_unit_test(test_mb_info_mem_upper),
		cmocka_unit_test(test_mb_info_too_long),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
