/* launch_digest.h - what a confidential launch measures, computed the same
 * way by tern (which passes these ranges to LAUNCH_UPDATE_DATA) and by a
 * guest owner's tooling (`tern owner digest`), so the two always agree. */
#ifndef TERN_CC_LAUNCH_DIGEST_H
#define TERN_CC_LAUNCH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/elf.h"

#define LAUNCH_BOOTINFO_GPA  0x8000u       /* multiboot info (MB_INFO_GPA) ... */
#define LAUNCH_BOOTINFO_END  0xA000u       /* ... and command line, up to here */

struct launch_range { uint64_t gpa, len; };

/* Ranges of guest RAM a launch passes to LAUNCH_UPDATE_DATA, in order: the
 * ELF image span [lowest rounded down to 4K, highest rounded up to 4K), then
 * the boot information [0x8000, 0xA000) (multiboot info + command line).
 * Returns the number of ranges (2), or -1 if ei describes no image. */
int launch__ranges(const struct elf_image *ei, struct launch_range out[2]);

/* With the migration helper, a third range follows the two above: the
 * helper's region [HELPER_BASE, HELPER_BASE + HELPER_MEASURED_SIZE) (image,
 * page tables, GDT, TSS, state page; docs/guest-abi.md). Appends it to r,
 * which holds n ranges and room for LAUNCH_RANGES_MAX; returns n + 1. */
#define LAUNCH_RANGES_MAX 3
int launch__add_helper_range(struct launch_range *r, int n);

/* SHA-256 over those ranges of ram, concatenated in order (what the
 * platform's launch digest is). Returns 0, or -1 if a range lies outside
 * ram (ram_size bytes, GPA 0 at ram[0]). */
int launch__digest(const uint8_t *ram, uint64_t ram_size, const struct launch_range *r, int n,
		  uint8_t out[32]);

/* SEV-ES: the same ranges, then each vCPU's VMSA page (vmsa.h: vCPU i's
 * entry state at the ELF's entry, with sev_features) for i = 0..ncpus-1,
 * the order tern's launch passes them (LAUNCH_UPDATE_DATA, then
 * LAUNCH_UPDATE_VMSA per vCPU). Returns 0 or -1 as launch__digest. */
int launch__digest_es(const uint8_t *ram, uint64_t ram_size, const struct launch_range *r, int n,
		      uint64_t entry, int ncpus, uint64_t sev_features, uint8_t out[32]);

/* The digest a guest owner expects for `tern run --guest elf --mem --cpus --guest-args`:
 * loads the ELF and writes the boot info exactly as tern does (elf_load,
 * multiboot__write_info, into an anonymous MAP_NORESERVE mapping of mem bytes).
 * Returns 0, or -1 with err naming the cause. */
int launch__expected_digest(const char *elf, uint64_t mem, int ncpus, const char *args,
			   uint8_t out[32], char *err, size_t errlen);

/* The same for a launch with every option, the helper's included. */
struct launch_expect {
	const char *guest;                /* guest ELF */
	uint64_t    mem;                  /* --mem */
	int         ncpus;                /* --cpus */
	const char *args;                 /* --guest-args, NULL: none */
	const char *helper;               /* --helper ELF, NULL: no helper */
	unsigned    c_bit;                /* the helper's page tables' C-bit, 0: none (--cc emu) */
	bool        es;                   /* SEV-ES (policy bit 0x4): the vCPUs' VMSAs follow */
};
int launch__digest_for(const struct launch_expect *e, uint8_t out[32], char *err, size_t errlen);

#endif
