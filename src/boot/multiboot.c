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

int multiboot_check(const void *img, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = img;
	size_t lim = len < MB_SEARCH ? len : MB_SEARCH;
	for (size_t off = 0; off + 12 <= lim; off += 4) {
		uint32_t h[3];
		memcpy(h, p + off, sizeof(h));
		if (h[0] == MB_HEADER_MAGIC && (uint32_t)(h[0] + h[1] + h[2]) == 0)
			return 0;
	}
	errbuf_set(err, errlen, "no multiboot header in the first 8 KiB (not a tern/multiboot guest)");
	return -1;
}

int multiboot_write_info(uint8_t *ram, uint64_t ram_size, int ncpus, const char *args,
			 char *err, size_t errlen)
{
	struct mb_info mi = { 0 };
	char *cmd = (char *)ram + MB_CMDLINE_GPA;
	int n = snprintf(cmd, MB_CMDLINE_MAX, "ncpus=%d %s", ncpus, args ? args : "");
	if (n < 0 || (unsigned)n >= MB_CMDLINE_MAX) {
		errbuf_set(err, errlen, "guest arguments are longer than %u bytes", MB_CMDLINE_MAX - 16);
		return -1;
	}
	mi.flags = MB_INFO_MEM | MB_INFO_CMDLINE;
	mi.mem_lower = 640;
	mi.mem_upper = (uint32_t)((ram_size - 0x100000) >> 10);
	mi.cmdline = MB_CMDLINE_GPA;
	memcpy(ram + MB_INFO_GPA, &mi, sizeof(mi));
	return 0;
}
