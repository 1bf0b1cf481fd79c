/* fuzz_postcopy.c - libFuzzer target for post-copy's two messages from
 * outside (postcopy_msg.c): POSTCOPY's payload (the pages the destination
 * lacks; POSTCOPY_MORE and the answer to POSTCOPY_RESUME have the same
 * layout and parser), checked against guest RAM's size, and PAGE_REQ's (GPAs the
 * source is asked for), checked against RAM.
 *
 * Input: one mode byte, then the payload.
 *   bit 0: 0 POSTCOPY, 1 PAGE_REQ
 *   bits 1-7: guest RAM's size in pages, times 8, plus 1..8 (so sizes that
 *             are not whole bitmap words come up)
 *
 * Seeds: TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_postcopy writes the
 * committed seeds (tests/fuzz/corpus/postcopy/) and exits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/postcopy.h"
#include "fuzz_seeds.h"

#define MAX_INPUT (1 << 16)

static void one_missing(const uint8_t *p, size_t len, uint64_t npages)
{
	uint64_t words[(127 * 8 + 8 + 63) / 64 + 1], count = 0, n = 0;
	char err[256] = "";
	uint64_t nw = (npages + 63) / 64;
	words[nw] = 0x5a5a5a5a5a5a5a5aull;   /* a write past the bitmap shows here */
	if (postcopy__parse_missing(p, len, npages, words, &count, err, sizeof(err)) == 0) {
		for (uint64_t i = 0; i < nw; i++)
			n += (uint64_t)__builtin_popcountll(words[i]);
		if (n != count || count > npages || (npages % 64 && words[nw - 1] >> (npages % 64)))
			abort();
	} else if (!err[0]) {
		abort();
	}
	if (words[nw] != 0x5a5a5a5a5a5a5a5aull)
		abort();
}

static void one_request(const uint8_t *p, size_t len, uint64_t ram_size)
{
	uint64_t gpa[WIRE_MAX_PAGE_REQ];
	uint32_t n = 0;
	char err[256] = "";
	int r = postcopy__parse_request(p, len, ram_size, gpa, &n, err, sizeof(err));
	if (r == 0) {
		if (!n || n > WIRE_MAX_PAGE_REQ || n * 8 != len)
			abort();
		for (uint32_t i = 0; i < n; i++)
			if (gpa[i] % 4096 || gpa[i] >= ram_size)
				abort();
	} else if (!err[0] || (r != -1 && r != -2)) {
		abort();
	}
}

static void write_seeds(const char *dir)
{
	/* 8*12+1 = 97 pages: two words, the last one partial */
	uint8_t mode = (uint8_t)(12 << 1);
	struct wire_postcopy h = { 97, 3 };
	uint64_t w[2] = { 0x8000000000000005ull, 0 };
	fuzz_seed__save2(dir, "missing_ok", mode, &h, sizeof(h), w, sizeof(w));
	w[1] = 1ull << 40;                    /* past page 96 */
	h.missing = 4;
	fuzz_seed__save2(dir, "missing_beyond", mode, &h, sizeof(h), w, sizeof(w));
	w[1] = 0;
	fuzz_seed__save2(dir, "missing_count", mode, &h, sizeof(h), w, sizeof(w));
	fuzz_seed__save2(dir, "missing_short", mode, &h, sizeof(h), w, 8);
	uint64_t req[3] = { 0x1000, 0x5000, 96 * 4096 };
	fuzz_seed__save(dir, "request_ok", mode | 1, req, 16);
	fuzz_seed__save(dir, "request_beyond", mode | 1, req, 24);
	fuzz_seed__save(dir, "request_odd", mode | 1, req, 12);
	uint64_t unaligned = 0x1234;
	fuzz_seed__save(dir, "request_unaligned", mode | 1, &unaligned, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > MAX_INPUT)
		return 0;
	uint64_t npages = (uint64_t)(data[0] >> 1) * 8 + 1 + (size > 1 ? data[1] % 8 : 0);
	size_t len = size - 1;
	uint8_t *payload = malloc(len ? len : 1);   /* exact size, like the message */
	if (!payload)
		abort();
	memcpy(payload, data + 1, len);
	if (data[0] & 1)
		one_request(payload, len, npages * 4096);
	else
		one_missing(payload, len, npages);
	free(payload);
	return 0;
}

FUZZ_SEEDS_MODE(write_seeds)
