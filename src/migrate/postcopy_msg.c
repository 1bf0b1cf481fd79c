/* postcopy_msg.c - post-copy's two messages from outside, checked apart
 * from the VM (postcopy.h) so that the parsers that run are the ones
 * fuzzed (tests/fuzz/fuzz_postcopy.c). */
#include <string.h>

#include "migrate/postcopy.h"
#include "util/log.h"

int postcopy__parse_missing(const uint8_t *p, size_t len, uint64_t npages, uint64_t *words, uint64_t *count,
			    char *err, size_t errlen)
{
	struct wire_postcopy h;
	uint64_t nw = (npages + 63) / 64, n = 0;
	if (len < sizeof(h)) {
		errbuf__set(err, errlen, "POSTCOPY is malformed (%zu bytes)", len);
		return -1;
	}
	memcpy(&h, p, sizeof(h));
	if (h.npages != npages || len - sizeof(h) != nw * 8) {
		errbuf__set(err, errlen, "POSTCOPY describes %llu pages in %zu bytes; guest RAM has %llu",
			    (unsigned long long)h.npages, len, (unsigned long long)npages);
		return -1;
	}
	memcpy(words, p + sizeof(h), nw * 8);
	if (npages % 64 && (words[nw - 1] >> (npages % 64))) {
		errbuf__set(err, errlen, "POSTCOPY names pages beyond guest RAM");
		return -1;
	}
	for (uint64_t i = 0; i < nw; i++)
		n += (uint64_t)__builtin_popcountll(words[i]);
	if (n != h.missing) {
		errbuf__set(err, errlen, "POSTCOPY counts %llu missing pages, its bitmap %llu",
			    (unsigned long long)h.missing, (unsigned long long)n);
		return -1;
	}
	*count = n;
	return 0;
}

int postcopy__parse_request(const uint8_t *p, size_t len, uint64_t ram_size, uint64_t gpa[WIRE_MAX_PAGE_REQ],
			    uint32_t *n, char *err, size_t errlen)
{
	if (!len || len % 8 || len > WIRE_MAX_PAGE_REQ * 8) {
		errbuf__set(err, errlen, "PAGE_REQ is malformed (%zu bytes; 1 to %d GPAs of 8 bytes)", len,
			    WIRE_MAX_PAGE_REQ);
		return -1;
	}
	*n = (uint32_t)(len / 8);
	memcpy(gpa, p, len);
	for (uint32_t i = 0; i < *n; i++)
		if (gpa[i] % 4096 || gpa[i] >= ram_size) {
			errbuf__set(err, errlen, "page request for GPA 0x%llx refused: outside guest RAM "
				    "(%llu MiB) or not page aligned", (unsigned long long)gpa[i],
				    (unsigned long long)(ram_size >> 20));
			return -2;
		}
	return 0;
}
