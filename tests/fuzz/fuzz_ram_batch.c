/* fuzz_ram_batch.c - libFuzzer target for ram_batch__apply, the
 * destination's reader of a W_RAM payload (precopy_recv.c's on_ram), with
 * guest RAM an exact-size heap buffer (so ASan sees any write past it) and
 * a stub in place of the platform's private path.
 *
 * Input: one mode byte, then the payload.
 *   bit 0: the harness writes the right checksum into the payload's header
 *          (if it has one), so the fuzzer gets past it into the entries.
 *   bit 1: the guest is confidential: private entries go to the stub, which
 *          checks the packet lies inside the payload and refuses one whose
 *          first byte is 0xff (to reach the receiver's refusal path).
 *   bit 2: a helper runs here too: helper entries are queued by a stub
 *          (packet inside the payload, GPA inside RAM, first byte 0xff
 *          refused) and the flush stub checks it is called once, after
 *          the last of them, while the packets are still there.
 *
 * Seeds: TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_ram_batch writes the
 * committed seeds (tests/fuzz/corpus/ram_batch/) and exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "helper/mailbox.h"
#include "migrate/private_path.h"
#include "migrate/ram_batch.h"
#include "fuzz_seeds.h"

#define NPAGES 16
#define RAM_SIZE (NPAGES * 4096ULL)
#define MAX_INPUT (1 << 20)

/* the payload the stub may see packets from */
static const uint8_t *cur;
static size_t cur_len;

static int stub_open(void *ctx, const uint8_t *pkt, uint32_t len, char *err, size_t errlen)
{
	uint64_t *opened = ctx;
	if (len > PRIVATE_PACKET_MAX || pkt < cur || pkt + len > cur + cur_len)
		abort();
	if (len && pkt[0] == 0xff) {
		snprintf(err, errlen, "stub: packet refused");
		return -1;
	}
	(*opened)++;
	return 0;
}

static uint64_t queued, flushed;

static int stub_helper(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen)
{
	(void)ctx;
	if (gpa >= RAM_SIZE || gpa % 4096 || pkt < cur || pkt + HELPER_PACKET_SIZE > cur + cur_len)
		abort();
	if (pkt[0] == 0xff) {
		snprintf(err, errlen, "stub: helper refused the packet");
		return -1;
	}
	queued++;
	return 0;
}

static int stub_flush(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	if (!queued || flushed)
		abort();
	flushed = queued;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	struct mig_stats st = { 0 };
	struct ram_batch_hdr h;
	uint64_t opened = 0;
	char err[512] = "";
	uint8_t *payload;
	size_t len;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	if (!ram && !(ram = malloc(RAM_SIZE)))
		abort();
	len = size - 1;
	/* exact size, like the receiver's message (its NUL is not the batch's) */
	payload = malloc(len ? len : 1);
	if (!payload)
		abort();
	memcpy(payload, data + 1, len);
	if ((data[0] & 1) && len >= sizeof(h)) {
		memcpy(&h, payload, sizeof(h));
		h.checksum = XXH3_64bits(payload + sizeof(h), len - sizeof(h));
		memcpy(payload, &h, sizeof(h));
	}
	cur = payload;
	cur_len = len;

	queued = flushed = 0;
	const struct ram_batch_sink s = { .ram = ram, .ram_size = RAM_SIZE,
					  .open_private = data[0] & 2 ? stub_open : NULL,
					  .open_helper = data[0] & 4 ? stub_helper : NULL,
					  .flush_helper = stub_flush, .ctx = &opened, .st = &st };
	if (ram_batch__apply(&s, payload, len, err, sizeof(err)) == 0) {
		/* every entry was counted once, as what it was; what was queued
		 * for the helper was flushed, once */
		memcpy(&h, payload, sizeof(h));
		if (st.normal + st.duplicate + st.private_pages != h.count ||
		    st.psp_pages != opened || st.helper_pages != queued || flushed != queued ||
		    st.psp_pages + st.helper_pages != st.private_pages)
			abort();
		if ((st.psp_pages && !(data[0] & 2)) || (st.helper_pages && !(data[0] & 4)))
			abort();
	} else if (!err[0]) {
		abort();
	}
	free(payload);
	return 0;
}

/* ---- seeds ----------------------------------------------------------- */

struct entry {
	uint64_t word;                    /* gpa | kind */
	size_t len;                       /* bytes after the word (page, or u32 len + packet) */
	uint8_t fill;
};

/* A batch as the source sends it: header with count and checksum, then the
 * entries; count_adj and extra make it lie. */
static void seed(const char *dir, const char *name, uint8_t mode, const struct entry *e, int n,
		 int count_adj, size_t extra, int bad_sum)
{
	static uint8_t buf[16 * 4300];
	struct ram_batch_hdr h = { .count = (uint32_t)(n + count_adj) };
	size_t o = sizeof(h);

	for (int i = 0; i < n; i++) {
		memcpy(buf + o, &e[i].word, 8);
		o += 8;
		if ((e[i].word & PAGE_KIND_MASK) == PAGE_PRIVATE) {
			uint32_t l = (uint32_t)e[i].len;
			memcpy(buf + o, &l, 4);
			o += 4;
		}
		memset(buf + o, e[i].fill, e[i].len);
		o += e[i].len;
	}
	memset(buf + o, 0, extra);
	o += extra;
	h.checksum = XXH3_64bits(buf + sizeof(h), o - sizeof(h)) ^ (bad_sum ? 1 : 0);
	memcpy(buf, &h, sizeof(h));

	fuzz_seed__save(dir, name, mode, buf, o);
}

static void write_seeds(const char *dir)
{
	const struct entry normal = { 0x3000 | PAGE_NORMAL, 4096, 0xa5 },
		zero = { 0x5000 | PAGE_ZERO, 0, 0 },
		last = { (RAM_SIZE - 4096) | PAGE_NORMAL, 4096, 0x11 },
		priv = { 0x2000 | PAGE_PRIVATE, 72 + 4096, 0x42 },
		priv_refused = { 0x2000 | PAGE_PRIVATE, 200, 0xff },
		beyond = { RAM_SIZE | PAGE_ZERO, 0, 0 },
		kind = { 0x1000 | 7, 0, 0 },
		short_page = { 0x1000 | PAGE_NORMAL, 100, 0x33 },
		huge_priv = { 0x1000 | PAGE_PRIVATE, PRIVATE_PACKET_MAX + 1, 0x42 },
		helper = { 0x4000 | PAGE_HELPER, HELPER_PACKET_SIZE, 0x24 },
		helper_refused = { 0x6000 | PAGE_HELPER, HELPER_PACKET_SIZE, 0xff },
		helper_short = { 0x6000 | PAGE_HELPER, 100, 0x24 };

	/* accepted: plain pages, a mix, a confidential guest's batch, empty */
	seed(dir, "plain", 0, (struct entry[]){ normal, zero, last }, 3, 0, 0, 0);
	seed(dir, "empty", 0, NULL, 0, 0, 0, 0);
	seed(dir, "cc_mix", 2, (struct entry[]){ normal, priv, zero, priv }, 4, 0, 0, 0);
	seed(dir, "cc_mix_fixed", 3, (struct entry[]){ priv, normal, zero }, 3, 0, 0, 0);
	/* refused: checksum, truncated, count off either way, trailing bytes */
	seed(dir, "bad_checksum", 0, (struct entry[]){ normal }, 1, 0, 0, 1);
	seed(dir, "count_high", 1, (struct entry[]){ zero, normal }, 2, 1, 0, 0);
	seed(dir, "count_low", 1, (struct entry[]){ zero, normal }, 2, -1, 0, 0);
	seed(dir, "trailing", 1, (struct entry[]){ zero }, 1, 0, 5, 0);
	/* refused: beyond RAM, unknown kind, page cut short, private in a plain
	 * guest, a packet too big, the platform refusing a packet */
	seed(dir, "beyond_ram", 1, (struct entry[]){ zero, beyond }, 2, 0, 0, 0);
	seed(dir, "unknown_kind", 1, (struct entry[]){ kind }, 1, 0, 0, 0);
	seed(dir, "short_page", 1, (struct entry[]){ short_page }, 1, 0, 0, 0);
	seed(dir, "private_plain", 1, (struct entry[]){ priv }, 1, 0, 0, 0);
	seed(dir, "private_huge", 3, (struct entry[]){ huge_priv }, 1, 0, 0, 0);
	seed(dir, "private_refused", 3, (struct entry[]){ zero, priv_refused }, 2, 0, 0, 0);
	/* the helper's entries: accepted with a helper, mixed with the others;
	 * refused without one, cut short, or refused by the helper */
	seed(dir, "helper_mix", 7, (struct entry[]){ helper, normal, priv, helper, zero }, 5, 0, 0, 0);
	seed(dir, "helper_without", 3, (struct entry[]){ helper }, 1, 0, 0, 0);
	seed(dir, "helper_short", 5, (struct entry[]){ helper_short }, 1, 0, 0, 0);
	seed(dir, "helper_refused", 5, (struct entry[]){ helper, helper_refused }, 2, 0, 0, 0);
}

FUZZ_SEEDS_MODE(write_seeds)
