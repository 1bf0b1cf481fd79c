/* multiboot.h - boot a guest the way a multiboot v1 loader would
 * (docs/guest-abi.md): find its header, write the information structure
 * and command line, and describe the 32-bit entry state of each vCPU. */
#ifndef TERN_BOOT_MULTIBOOT_H
#define TERN_BOOT_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MB_HEADER_MAGIC   0x1BADB002u
#define MB_BOOT_MAGIC     0x2BADB002u
#define TERN_AP_MAGIC     0x7E2A0AB5u
#define MB_INFO_GPA       0x8000u
#define MB_CMDLINE_GPA    0x9000u
#define MB_CMDLINE_MAX    4096u
#define GUEST_SECRET_GPA  0x6000u    /* confidential launch: the owner's secret */
#define GUEST_LOAD_MIN    0x100000u    /* images load at or above 1 MiB */

/* Find and check the multiboot header in the first 8 KiB. Returns 0 or -1. */
int multiboot__check(const void *img, size_t len, char *err, size_t errlen);
/* Write the info structure and "ncpus=N <args>" into RAM. */
int multiboot__write_info(uint8_t *ram, uint64_t ram_size, int ncpus, const char *args,
			 char *err, size_t errlen);

#endif
