/* multiboot.c - the multiboot v1 parts of booting a guest. */
#include <stdio.h>
#include <string.h>

#include "boot/multiboot.h"
#include "util/log.h"

#define MB_SEARCH 8192u
#define MB_INFO_MEM     (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)

struct mb_info {                      /* the fields tern fills; the rest stay 0 */
	uint32_t flags;
	uint32_t mem_lower;
	uint32_t mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
};

int multiboot__check(const void *img, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = img;
	size_t lim = len < MB_SEARCH ? len : MB_SEARCH;
	for (size_t off = 0; off + 12 <= lim; off += 4) {
		uint32_t h[3];
		memcpy(h, p + off, sizeof(h));
		if (h[0] == MB_HEADER_MAGIC && (uint32_t)(h[0] + h[1] + h[2]) == 0)
			return 0;
	}
	errbuf__set(err, errlen, "no multiboot header in the first 8 KiB (not a tern/multiboot guest)");
	return -1;
}

int multiboot__write_info(uint8_t *ram, uint64_t ram_size, int ncpus, const char *args,
			 char *err, size_t errlen)
{
	struct mb_info mi = { 0 };
	char *cmd = (char *)ram + MB_CMDLINE_GPA;
	uint64_t upper_kib;
	/* The info and command line live below 1 MiB, and mem_upper is RAM
	 * above 1 MiB: with less RAM than that, the writes below would run
	 * past the end of ram and mem_upper would wrap. */
	if (ram_size < GUEST_LOAD_MIN) {
		errbuf__set(err, errlen, "guest RAM is too small for multiboot (%llu bytes)",
			   (unsigned long long)ram_size);
		return -1;
	}
	int n = snprintf(cmd, MB_CMDLINE_MAX, "ncpus=%d %s", ncpus, args ? args : "");
	if (n < 0 || (unsigned)n >= MB_CMDLINE_MAX) {
		errbuf__set(err, errlen, "guest arguments are longer than %u bytes", MB_CMDLINE_MAX - 16);
		return -1;
	}
	mi.flags = MB_INFO_MEM | MB_INFO_CMDLINE;
	mi.mem_lower = 640;
	/* mem_upper is a 32-bit KiB count: saturate instead of truncating
	 * (more than ~4 TiB of RAM used to report a small wrapped value). */
	upper_kib = (ram_size - 0x100000) >> 10;
	mi.mem_upper = upper_kib > UINT32_MAX ? UINT32_MAX : (uint32_t)upper_kib;
	mi.cmdline = MB_CMDLINE_GPA;
	memcpy(ram + MB_INFO_GPA, &mi, sizeof(mi));
	return 0;
}
