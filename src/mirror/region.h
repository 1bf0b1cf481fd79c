/* region.h - the migration helper's region in guest RAM as the VMM lays it
 * out before a confidential launch measures it: the helper image, its page
 * tables, GDT, TSS and a zero state page (docs/guest-abi.md, "Migration
 * helper"; the layout is guest/helper/mailbox.h). Pure functions over a RAM
 * buffer, no KVM: `tern owner digest` builds the same bytes offline. */
#ifndef TERN_MIRROR_REGION_H
#define TERN_MIRROR_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "helper/mailbox.h"

/* Page-table entry bits the helper's identity map uses. */
#define HELPER_PTE_P   (1ULL << 0)
#define HELPER_PTE_RW  (1ULL << 1)
#define HELPER_PTE_US  (1ULL << 2)
#define HELPER_PTE_PS  (1ULL << 7)

/* The C-bit positions accepted: 0 (no encryption bit: --cc emu) or an
 * address bit above the 4 GiB the tables map and below the 52-bit limit. */
#define HELPER_CBIT_MIN 32u
#define HELPER_CBIT_MAX 51u

/* Check elf (elf_len bytes: helper.elf, ELF64 x86-64 ET_EXEC, entry
 * HELPER_BASE, PT_LOAD segments inside the image area) and ram (ram_size
 * bytes, GPA 0 at ram[0], at least HELPER_END), then write
 * [HELPER_BASE, HELPER_BASE + HELPER_MEASURED_SIZE): zeroes, the segments,
 * page tables (C-bit c_bit on every entry but the shared windows'; 0: none),
 * GDT and TSS. Nothing is written unless every check passes. The bytes
 * depend only on elf and c_bit. Returns 0, or -1 with err naming the cause. */
int helper_region__build(uint8_t *ram, uint64_t ram_size, const void *elf, size_t elf_len,
			 unsigned c_bit, char *err, size_t errlen);

/* A guest image spanning [lowest, highest) must keep out of the region
 * [HELPER_BASE, HELPER_END) when a helper is loaded. 0, or -1 with err set. */
int helper_region__guest_clear(uint64_t lowest, uint64_t highest, char *err, size_t errlen);

#endif
