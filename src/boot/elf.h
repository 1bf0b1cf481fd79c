/* elf.h - load a guest ELF image's PT_LOAD segments into guest RAM. */
#ifndef TERN_BOOT_ELF_H
#define TERN_BOOT_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "util/io.h"                 /* file__slurp, for the loaders' callers */

struct elf_image {
	uint64_t entry;                   /* entry point (a physical address for tern guests) */
	uint64_t lowest, highest;         /* physical range the segments occupy */
	int      class64;                 /* 1 if ELFCLASS64 */
};

/* Check img (len bytes) and copy its PT_LOAD segments into ram (ram_size
 * bytes, physical address 0 at ram[0]). Segments may not go below
 * min_paddr. Returns 0, or -1 with a message naming what is wrong. */
int elf__load(const void *img, size_t len, uint8_t *ram, uint64_t ram_size,
	     uint64_t min_paddr, struct elf_image *out, char *err, size_t errlen);

#endif
