/* fuzz_ram_batch.c - libFuzzer target for the destination's readers of a
 * data connection (ram_batch.h): ram_batch__receive (a W_RAM payload, read
 * through the same reader callback the socket uses, here from the input),
 * ram_fence__check (W_FENCE against the suspects the batch left) and
 * ram_open__parse (W_DATA_OPEN). Guest RAM is an exact-size heap buffer, so
 * ASan sees any write past it; stubs stand in for the private paths.
 *
 * Input: one mode byte, then the payload.
 *   bits 5-6: 0 a RAM batch, then (bit 3) the rest of the input after the
 *             batch's length as a FENCE; 1 a DATA_OPEN
 *   bit 0: the harness writes the right table checksum into the batch's
 *          header and the right page hashes into NORMAL entries whose
 *          page is inside the payload, so the fuzzer gets past them
 *   bit 1: the guest is confidential: private entries go to a stub, which
 *          checks the packet lies inside the stage and refuses one whose
 *          first byte is 0xff
 *   bit 2: a helper runs here too: helper entries are queued by a stub,
 *          and the flush stub checks it is called once, after the last
 *   bit 3: a FENCE follows: u32 batch length, batch, fence
 *   bit 4: post-copy: pages are claimed (pages 0-3 were placed before,
 *          and a page is claimed once), placed only when claimed, once,
 *          and a hash mismatch fails the batch at once
 *
 * Seeds: TERN_FUZZ_SEEDS=DIR build-fuzz/fuzz/fuzz_ram_batch writes the
 * committed seeds (tests/fuzz/corpus/ram_batch/) and exits. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper/mailbox.h"
#include "migrate/private_path.h"
#include "migrate/ram_batch.h"
#include "migrate/wire.h"
#include "fuzz_seeds.h"
#include "util/hash.h"

#define NPAGES 16
#define RAM_SIZE (NPAGES * 4096ULL)
#define MAX_INPUT (1 << 20)

static uint8_t *stage;
static uint64_t queued, flushed, opened;
static uint32_t claimed_bits, placed_bits, nclaimed;

/* post-copy's claim: pages 0-3 are in place already; the rest once */
static bool stub_claim(void *ctx, uint64_t gpa)
{
	(void)ctx;
	uint32_t b = 1u << (gpa / 4096);
	if (gpa >= RAM_SIZE || gpa % 4096)
		abort();
	if ((b & 0xf) || (claimed_bits & b))
		return false;
	claimed_bits |= b;
	nclaimed++;
	return true;
}

static void stub_placed(void *ctx, uint64_t gpa)
{
	(void)ctx;
	uint32_t b = 1u << (gpa / 4096);
	if (!(claimed_bits & b) || (placed_bits & b))
		abort();                  /* placed without a claim, or twice */
	placed_bits |= b;
}

static int stub_open(void *ctx, const uint8_t *pkt, uint32_t len, char *err, size_t errlen)
{
	(void)ctx;
	if (len > PRIVATE_PACKET_MAX || pkt < stage || pkt + len > stage + RAM_BATCH_STAGE)
		abort();
	if (len && pkt[0] == 0xff) {
		snprintf(err, errlen, "stub: packet refused");
		return -1;
	}
	opened++;
	return 0;
}

static int stub_helper(void *ctx, uint64_t gpa, const uint8_t *pkt, char *err, size_t errlen)
{
	(void)ctx;
	if (gpa >= RAM_SIZE || gpa % 4096 || pkt < stage || pkt + HELPER_PACKET_SIZE > stage + RAM_BATCH_STAGE)
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

/* the reader: the payload's bytes in order, as a socket would give them */
struct cursor {
	const uint8_t *p;
	size_t left;
};

static int mem_read(void *rctx, struct iovec *iov, int n)
{
	struct cursor *c = rctx;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > c->left)
			return -ECONNRESET;
		memcpy(iov[i].iov_base, c->p, iov[i].iov_len);
		c->p += iov[i].iov_len;
		c->left -= iov[i].iov_len;
	}
	return 0;
}

/* mode bit 0: make the checksum and the page hashes right */
static void fix_sums(uint8_t *b, size_t len)
{
	struct ram_batch_hdr h;
	struct ram_entry e;
	size_t data;
	if (len < sizeof(h))
		return;
	memcpy(&h, b, sizeof(h));
	if (h.count > RAM_BATCH_PAGES || len < sizeof(h) + h.count * sizeof(e))
		return;
	data = sizeof(h) + h.count * sizeof(e);
	for (uint32_t i = 0; i < h.count; i++) {
		memcpy(&e, b + sizeof(h) + i * sizeof(e), sizeof(e));
		switch (e.word & PAGE_KIND_MASK) {
		case PAGE_NORMAL:
			if (data + 4096 <= len)
				e.aux = XXH3_64bits(b + data, 4096);
			data += 4096;
			break;
		case PAGE_PRIVATE: data += e.aux > PRIVATE_PACKET_MAX ? 0 : e.aux; break;
		case PAGE_HELPER: data += HELPER_PACKET_SIZE; break;
		}
		memcpy(b + sizeof(h) + i * sizeof(e), &e, sizeof(e));
	}
	h.checksum = XXH3_64bits(b + sizeof(h), h.count * sizeof(e));
	memcpy(b, &h, sizeof(h));
}

static void one_batch(uint8_t mode, uint8_t *b, size_t len, const uint8_t *fence, size_t flen)
{
	static uint8_t *ram;
	struct mig_stats st = { 0 };
	struct ram_suspects sus = { 0 };
	struct cursor c = { b, len };
	char err[512] = "";

	if (!ram && !(ram = malloc(RAM_SIZE)))
		abort();
	if (!stage && !(stage = malloc(RAM_BATCH_STAGE)))
		abort();
	if (mode & 1)
		fix_sums(b, len);
	queued = flushed = opened = 0;
	claimed_bits = placed_bits = nclaimed = 0;
	const struct ram_batch_sink s = { .ram = ram, .ram_size = RAM_SIZE,
					  .claim = mode & 16 ? stub_claim : NULL,
					  .placed = mode & 16 ? stub_placed : NULL,
					  .open_private = mode & 2 ? stub_open : NULL,
					  .open_helper = mode & 4 ? stub_helper : NULL,
					  .flush_helper = stub_flush, .read = mem_read, .rctx = &c,
					  .stage = stage, .suspects = &sus, .st = &st };
	if (ram_batch__receive(&s, len, err, sizeof(err)) == 0) {
		/* every entry was counted once, as what it was; the whole
		 * payload was read; what was queued for the helper was flushed */
		struct ram_batch_hdr h;
		memcpy(&h, b, sizeof(h));
		uint32_t counted = mode & 16 ? nclaimed : h.count;
		if (st.normal + st.duplicate + st.private_pages != counted || c.left ||
		    ((mode & 16) && (placed_bits != claimed_bits || sus.n)) ||
		    st.psp_pages != opened || st.helper_pages != queued || flushed != queued ||
		    st.psp_pages + st.helper_pages != st.private_pages || sus.n > st.normal)
			abort();
		if ((st.psp_pages && !(mode & 2)) || (st.helper_pages && !(mode & 4)))
			abort();
		if (fence) {
			uint64_t round;
			size_t had = sus.n;
			err[0] = '\0';
			if (ram_fence__check(fence, flen, &sus, &round, err, sizeof(err)) == 0) {
				if (sus.n)
					abort();      /* a fence leaves no suspect behind */
			} else if (!err[0] || (!had && !strstr(err, "malformed"))) {
				abort();              /* no suspect: only a malformed fence fails */
			}
		}
	} else if (!err[0]) {
		abort();
	}
	ram_suspects__free(&sus);
}

static void one_open(const uint8_t *p, size_t len)
{
	const struct ram_extent *x;
	uint32_t conns, n;
	char err[256] = "";
	if (ram_open__parse(p, len, RAM_SIZE, &conns, &x, &n, err, sizeof(err)) == 0) {
		uint64_t end = 0;
		if (conns < 1 || conns > WIRE_MAX_DATA_CONNS)
			abort();
		for (uint32_t i = 0; i < n; i++) {   /* sorted, disjoint, inside RAM */
			struct ram_extent e;
			memcpy(&e, &x[i], sizeof(e));
			if (e.first < end || !e.count || (e.first + e.count) * 4096 > RAM_SIZE)
				abort();
			end = e.first + e.count;
		}
	} else if (!err[0]) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode;
	uint8_t *payload;
	size_t len;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	mode = data[0];
	len = size - 1;
	/* exact size, like the receiver's message */
	payload = malloc(len ? len : 1);
	if (!payload)
		abort();
	memcpy(payload, data + 1, len);
	if (((mode >> 5) & 3) == 1) {
		one_open(payload, len);
	} else if (mode & 8) {
		uint32_t blen;
		if (len >= 4) {
			memcpy(&blen, payload, 4);
			if (blen <= len - 4)
				one_batch(mode, payload + 4, blen, payload + 4 + blen, len - 4 - blen);
		}
	} else {
		one_batch(mode, payload, len, NULL, 0);
	}
	free(payload);
	return 0;
}

/* ---- seeds ----------------------------------------------------------- */

struct entry {
	uint64_t word;                    /* gpa | kind */
	size_t len;                       /* data bytes (page, packet) */
	uint8_t fill;
};

/* A batch as the source sends it: header, entry table, data; count_adj
 * and extra make it lie; bad_sum breaks the table checksum; bad_hash one
 * page's hash. Returns its length in buf. */
static size_t batch(uint8_t *buf, const struct entry *e, int n, int count_adj, size_t extra, int bad_sum,
		    int bad_hash)
{
	struct ram_batch_hdr h = { .count = (uint32_t)(n + count_adj) };
	size_t o = sizeof(h) + (size_t)n * sizeof(struct ram_entry);

	for (int i = 0; i < n; i++) {
		struct ram_entry re = { e[i].word, 0 };
		memset(buf + o, e[i].fill, e[i].len);
		if ((e[i].word & PAGE_KIND_MASK) == PAGE_NORMAL)
			re.aux = XXH3_64bits(buf + o, e[i].len) ^ (bad_hash ? 1 : 0);
		else if ((e[i].word & PAGE_KIND_MASK) == PAGE_PRIVATE)
			re.aux = e[i].len;
		memcpy(buf + sizeof(h) + (size_t)i * sizeof(re), &re, sizeof(re));
		o += e[i].len;
	}
	memset(buf + o, 0, extra);
	o += extra;
	h.checksum = XXH3_64bits(buf + sizeof(h), (size_t)n * sizeof(struct ram_entry)) ^ (bad_sum ? 1 : 0);
	memcpy(buf, &h, sizeof(h));
	return o;
}

static void seed(const char *dir, const char *name, uint8_t mode, const struct entry *e, int n,
		 int count_adj, size_t extra, int bad_sum)
{
	static uint8_t buf[16 * 4400];
	fuzz_seed__save(dir, name, mode, buf, batch(buf, e, n, count_adj, extra, bad_sum, 0));
}

/* a batch with one page whose hash is wrong, then a fence that lists
 * `changed` (or nothing) */
static void seed_fence(const char *dir, const char *name, const uint64_t *changed, uint32_t n)
{
	static uint8_t buf[4 + 2 * 4400 + 64];
	const struct entry page = { 0x3000 | PAGE_NORMAL, 4096, 0x5a };
	struct ram_fence f = { .round = 2, .nchanged = n };
	uint32_t blen = (uint32_t)batch(buf + 4, &page, 1, 0, 0, 0, 1);
	memcpy(buf, &blen, 4);
	memcpy(buf + 4 + blen, &f, sizeof(f));
	if (n)
		memcpy(buf + 4 + blen + sizeof(f), changed, n * 8);
	fuzz_seed__save(dir, name, 8, buf, 4 + blen + sizeof(f) + n * 8);
}

static void seed_open(const char *dir, const char *name, uint32_t conns, const struct ram_extent *x,
		      uint32_t n)
{
	struct wire_data_open o = { conns, n };
	fuzz_seed__save2(dir, name, 1 << 5, &o, sizeof(o), x, n * sizeof(*x));
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
	 * guest, the platform refusing a packet */
	seed(dir, "beyond_ram", 1, (struct entry[]){ zero, beyond }, 2, 0, 0, 0);
	seed(dir, "unknown_kind", 1, (struct entry[]){ kind }, 1, 0, 0, 0);
	seed(dir, "short_page", 1, (struct entry[]){ short_page }, 1, 0, 0, 0);
	seed(dir, "private_plain", 1, (struct entry[]){ priv }, 1, 0, 0, 0);
	seed(dir, "private_refused", 3, (struct entry[]){ zero, priv_refused }, 2, 0, 0, 0);
	/* the helper's entries: accepted with a helper, mixed with the others;
	 * refused without one, cut short, or refused by the helper */
	seed(dir, "helper_mix", 7, (struct entry[]){ helper, normal, priv, helper, zero }, 5, 0, 0, 0);
	seed(dir, "helper_without", 3, (struct entry[]){ helper }, 1, 0, 0, 0);
	seed(dir, "helper_short", 5, (struct entry[]){ helper_short }, 1, 0, 0, 0);
	seed(dir, "helper_refused", 5, (struct entry[]){ helper, helper_refused }, 2, 0, 0, 0);
	/* post-copy: a page placed before (0x1000), one claimed twice, a mix */
	const struct entry early = { 0x1000 | PAGE_NORMAL, 4096, 0x77 },
		pc_zero = { 0x6000 | PAGE_ZERO, 0, 0 };
	seed(dir, "postcopy_mix", 16 | 7, (struct entry[]){ early, normal, pc_zero, normal, helper, priv }, 6, 0, 0, 0);
	seed(dir, "postcopy_plain", 16 | 1, (struct entry[]){ last, normal, pc_zero }, 3, 0, 0, 0);
	/* a page corrupted on the way: excused by the fence (the guest wrote
	 * it meanwhile), or not (corrupted in transit), or a malformed fence */
	seed_fence(dir, "fence_excused", (uint64_t[]){ 0x1000, 0x3000 }, 2);
	seed_fence(dir, "fence_corrupt", (uint64_t[]){ 0x4000 }, 1);
	seed_fence(dir, "fence_empty", NULL, 0);
	/* DATA_OPEN: good, unsorted, overlapping, beyond RAM, too many conns */
	seed_open(dir, "open_good", 2, (struct ram_extent[]){ { 0, 4 }, { 8, 8 } }, 2);
	seed_open(dir, "open_unsorted", 2, (struct ram_extent[]){ { 8, 2 }, { 0, 4 } }, 2);
	seed_open(dir, "open_overlap", 1, (struct ram_extent[]){ { 0, 4 }, { 3, 2 } }, 2);
	seed_open(dir, "open_beyond", 1, (struct ram_extent[]){ { 12, 8 } }, 1);
	seed_open(dir, "open_conns", 99, NULL, 0);
}

FUZZ_SEEDS_MODE(write_seeds)
