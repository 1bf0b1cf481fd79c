/* test_helper_seal.c - the migration helper's sealing core (guest/helper/
 * seal.c, built here for the host), with both of BearSSL's implementations
 * it can use:
 *
 *  - known answers: AES-256-GCM test cases 13, 14 and 16 of the GCM
 *    specification (McGrew & Viega), through the very functions the
 *    packets use, so the BearSSL wiring is proven, not assumed; and one
 *    whole packet against OpenSSL's AES-256-GCM with the nonce and
 *    additional data the ABI documents;
 *  - round trips over several GPAs, versions and streams;
 *  - every refusal: a flipped bit (ciphertext, tag, header), another GPA,
 *    another stream, an older or equal version (replay), another key;
 *    nothing is written and the version table is unchanged on a refusal;
 *  - nonce uniqueness across (stream, gpa, version);
 *  - the AES-NI/PCLMUL path and the constant-time path open each other's
 *    packets (the first only if this host's CPU has both: host CPUID is
 *    fine here, it is the host);
 *  - the version table (busy entries, coverage) and stream admission
 *    (floor, a restarted helper, the table reset per stream);
 *  - lanes racing: four threads (as four helper vCPUs) enter the same new
 *    stream and open every version of the same pages in different orders
 *    into one table and one set of pages; only OK, REPLAY or BUSY may come
 *    back, and every page must end with the content of the version its
 *    table entry names (a consistency check: it does not force the narrow
 *    interleavings the busy bit exists for).
 */
#include <cpuid.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "../../guest/helper/seal.h"

#define NPAGES 64     /* the tests' version table: GPAs below 256 KiB */

static const uint8_t key_a[32] = {
	0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
	0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
};
static const uint8_t key_b[32] = { 1, 2, 3 };

static int have_x86ni(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return (c & bit_AES) && (c & bit_PCLMUL);
}

/* The implementations this host can run. */
static int impls(enum hs_impl out[2])
{
	int n = 0;
	out[n++] = HS_IMPL_CT;
	if (have_x86ni())
		out[n++] = HS_IMPL_X86NI;
	else
		print_message("note: no AES-NI/PCLMUL on this host, x86ni path not exercised\n");
	return n;
}

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void fill_page(uint8_t *p, uint64_t gpa, uint32_t version)
{
	for (int i = 0; i < HELPER_PAGE; i++)
		p[i] = (uint8_t)(gpa * 31 + version * 7 + i * 13 + (i >> 8));
}

struct fx {
	struct hs_key k;
	uint32_t table[NPAGES];
	struct hs_vtable vt;
	struct helper_packet pkt;
	uint8_t page[HELPER_PAGE], dst[HELPER_PAGE];
};

static struct fx *fx_new(const uint8_t *key, enum hs_impl impl)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(hs_key_init(&f->k, key, impl), 0);
	f->vt.v = f->table;
	f->vt.npages = NPAGES;
	return f;
}

/* ---- known answers ---- */

struct kat {
	const char *name, *key, *iv, *aad, *pt, *ct, *tag;
};

/* GCM spec (McGrew & Viega, "The Galois/Counter Mode of Operation"),
 * test cases 13, 14 and 16: the AES-256 ones with a 96-bit IV. */
static const struct kat kats[] = {
	{ "TC13", "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "TC14", "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "TC16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void test_gcm_known_answers(void **state)
{
	(void)state;
	enum hs_impl im[2];
	int n = impls(im);
	for (int i = 0; i < n; i++) {
		for (size_t t = 0; t < sizeof(kats) / sizeof(kats[0]); t++) {
			const struct kat *v = &kats[t];
			uint8_t key[32], iv[12], aad[64], buf[64], ct[64], tag[16], want_tag[16];
			size_t aad_len = strlen(v->aad) / 2, len = strlen(v->pt) / 2;
			hex(v->key, key, 32);
			hex(v->iv, iv, 12);
			hex(v->aad, aad, aad_len);
			hex(v->pt, buf, len);
			hex(v->ct, ct, len);
			hex(v->tag, want_tag, 16);

			struct hs_key k;
			assert_int_equal(hs_key_init(&k, key, im[i]), 0);
			hs_aead_seal(&k, iv, aad, aad_len, buf, len, tag);
			assert_memory_equal(buf, ct, len);
			assert_memory_equal(tag, want_tag, 16);
			assert_int_equal(hs_aead_open(&k, iv, aad, aad_len, buf, len, tag), 1);
			hex(v->pt, ct, len);
			assert_memory_equal(buf, ct, len);
			tag[15] ^= 0x80;
			assert_int_equal(hs_aead_open(&k, iv, aad, aad_len, buf, len, tag), 0);
			hs_key_wipe(&k);
		}
	}
}

/* A whole packet as OpenSSL's AES-256-GCM computes it from the documented
 * nonce (LE32 stream | LE32 gpa>>12 | LE32 version) and AD (LE64 gpa |
 * LE32 version | LE32 stream): the format is what docs/guest-abi.md says. */
static void test_packet_matches_openssl(void **state)
{
	(void)state;
	const uint32_t stream = 0x01020304, version = 0x0A0B0C0D;
	const uint64_t gpa = 0x12345000;
	uint8_t nonce[12] = { 0x04, 0x03, 0x02, 0x01, 0x45, 0x23, 0x01, 0x00, 0x0D, 0x0C, 0x0B, 0x0A };
	uint8_t ad[16] = { 0x00, 0x50, 0x34, 0x12, 0, 0, 0, 0, 0x0D, 0x0C, 0x0B, 0x0A, 0x04, 0x03, 0x02, 0x01 };
	uint8_t got[12], got_ad[16];
	hs_nonce(stream, gpa, version, got);
	hs_ad(stream, gpa, version, got_ad);
	assert_memory_equal(got, nonce, 12);
	assert_memory_equal(got_ad, ad, 16);

	struct fx *f = fx_new(key_a, HS_IMPL_CT);
	fill_page(f->page, gpa, version);
	assert_int_equal(hs_seal(&f->k, stream, gpa, version, f->page, &f->pkt), HELPER_ST_OK);
	assert_int_equal(f->pkt.h.gpa, gpa);
	assert_int_equal(f->pkt.h.version, version);
	assert_int_equal(f->pkt.h.stream, stream);

	uint8_t ct[HELPER_PAGE], tag[16];
	int outl = 0;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key_a, nonce), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &outl, ad, sizeof(ad)), 1);
	assert_int_equal(EVP_EncryptUpdate(c, ct, &outl, f->page, HELPER_PAGE), 1);
	assert_int_equal(outl, HELPER_PAGE);
	assert_int_equal(EVP_EncryptFinal_ex(c, ct + outl, &outl), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
	assert_memory_equal(f->pkt.ct, ct, HELPER_PAGE);
	assert_memory_equal(f->pkt.h.tag, tag, 16);
	free(f);
}

/* ---- round trips and refusals ---- */

static void test_round_trip(void **state)
{
	(void)state;
	enum hs_impl im[2];
	int n = impls(im);
	for (int i = 0; i < n; i++) {
		struct fx *src = fx_new(key_a, im[i]), *dst = fx_new(key_a, im[i]);
		for (uint32_t stream = 1; stream <= 3; stream++) {
			memset(dst->table, 0, sizeof(dst->table));
			for (uint32_t version = 1; version <= 4; version++) {
				for (uint64_t pfn = 0; pfn < NPAGES; pfn += 7) {
					uint64_t gpa = pfn * HELPER_PAGE;
					fill_page(src->page, gpa, version + stream);
					assert_int_equal(hs_seal(&src->k, stream, gpa, version, src->page,
								 &src->pkt), HELPER_ST_OK);
					/* ciphertext is not the page */
					assert_memory_not_equal(src->pkt.ct, src->page, HELPER_PAGE);
					dst->pkt = src->pkt;
					assert_int_equal(hs_open(&dst->k, stream, gpa, &dst->pkt, &dst->vt,
								 dst->dst), HELPER_ST_OK);
					assert_memory_equal(dst->dst, src->page, HELPER_PAGE);
					assert_int_equal(dst->table[pfn], version);
				}
			}
		}
		free(src);
		free(dst);
	}
}

/* Seal one page at (stream 5, gpa 0x3000, version 2) into f->pkt. */
static struct fx *sealed(const uint8_t *key)
{
	struct fx *f = fx_new(key, HS_IMPL_CT);
	fill_page(f->page, 0x3000, 2);
	assert_int_equal(hs_seal(&f->k, 5, 0x3000, 2, f->page, &f->pkt), HELPER_ST_OK);
	return f;
}

/* Open pkt on a fresh destination (key key, table entry for 0x3000 = last)
 * and check the refusal leaves dst and the table as they were; with want
 * HELPER_ST_OK, that the page and its version arrived instead. */
static void expect_refused(const struct helper_packet *pkt, const uint8_t *key, uint32_t stream,
			   uint64_t gpa, uint32_t last, int want)
{
	struct fx *d = fx_new(key, HS_IMPL_CT);
	d->table[3] = last;
	memset(d->dst, 0xA5, sizeof(d->dst));
	d->pkt = *pkt;
	assert_int_equal(hs_open(&d->k, stream, gpa, &d->pkt, &d->vt, d->dst), want);
	if (want == HELPER_ST_OK) {       /* a control: the same packet, accepted */
		uint8_t page[HELPER_PAGE];
		fill_page(page, gpa, pkt->h.version);
		assert_memory_equal(d->dst, page, HELPER_PAGE);
		assert_int_equal(d->table[gpa >> 12], pkt->h.version);
		free(d);
		return;
	}
	for (int i = 0; i < HELPER_PAGE; i++)
		assert_int_equal(d->dst[i], 0xA5);
	assert_int_equal(d->table[3], last);
	for (int i = 0; i < NPAGES; i++)
		if (i != 3)
			assert_int_equal(d->table[i], 0);
	free(d);
}

static void test_refuse_flipped_bits(void **state)
{
	(void)state;
	struct fx *f = sealed(key_a);
	expect_refused(&f->pkt, key_a, 5, 0x3000, 0, HELPER_ST_OK);   /* control */
	/* every 97th bit of the ciphertext, and each bit of the tag */
	for (unsigned bit = 0; bit < HELPER_PAGE * 8; bit += 97) {
		struct helper_packet p = f->pkt;
		p.ct[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		expect_refused(&p, key_a, 5, 0x3000, 0, HELPER_ST_TAG);
	}
	for (unsigned bit = 0; bit < 128; bit++) {
		struct helper_packet p = f->pkt;
		p.h.tag[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		expect_refused(&p, key_a, 5, 0x3000, 0, HELPER_ST_TAG);
	}
	/* a header edited consistently with what the destination expects:
	 * the AD and nonce bind it, so the tag fails */
	struct helper_packet p = f->pkt;
	p.h.version = 3;
	expect_refused(&p, key_a, 5, 0x3000, 0, HELPER_ST_TAG);
	p = f->pkt;
	p.h.gpa = 0x4000;
	struct fx *d = fx_new(key_a, HS_IMPL_CT);
	assert_int_equal(hs_open(&d->k, 5, 0x4000, &p, &d->vt, d->dst), HELPER_ST_TAG);
	assert_int_equal(d->table[4], 0);
	p = f->pkt;
	p.h.stream = 6;
	assert_int_equal(hs_open(&d->k, 6, 0x3000, &p, &d->vt, d->dst), HELPER_ST_TAG);
	assert_int_equal(d->table[3], 0);
	free(d);
	free(f);
}

static void test_refuse_other_gpa(void **state)
{
	(void)state;
	struct fx *f = sealed(key_a);
	/* the VMM places the packet at another GPA than it was sealed for */
	expect_refused(&f->pkt, key_a, 5, 0x4000, 0, HELPER_ST_GPA);
	expect_refused(&f->pkt, key_a, 5, 0x3001, 0, HELPER_ST_GPA);
	/* and GPAs the table does not cover, or unaligned, are refused at seal */
	assert_int_equal(hs_seal(&f->k, 5, 0x3800, 2, f->page, &f->pkt), HELPER_ST_GPA);
	assert_int_equal(hs_seal(&f->k, 5, HELPER_GPA_LIMIT, 2, f->page, &f->pkt), HELPER_ST_GPA);
	uint32_t old;
	assert_int_equal(hs_vt_claim(&f->vt, NPAGES * HELPER_PAGE, 1, &old), HELPER_ST_GPA);
	free(f);
}

static void test_refuse_other_stream(void **state)
{
	(void)state;
	struct fx *f = sealed(key_a);
	expect_refused(&f->pkt, key_a, 6, 0x3000, 0, HELPER_ST_STREAM);
	expect_refused(&f->pkt, key_a, 4, 0x3000, 0, HELPER_ST_STREAM);
	assert_int_equal(hs_seal(&f->k, 0, 0x3000, 2, f->page, &f->pkt), HELPER_ST_STREAM);
	assert_int_equal(hs_seal(&f->k, 0xFFFFFFFF, 0x3000, 2, f->page, &f->pkt), HELPER_ST_STREAM);
	free(f);
}

static void test_refuse_replay(void **state)
{
	(void)state;
	struct fx *f = sealed(key_a);     /* version 2 */
	expect_refused(&f->pkt, key_a, 5, 0x3000, 2, HELPER_ST_REPLAY);   /* same version again */
	expect_refused(&f->pkt, key_a, 5, 0x3000, 9, HELPER_ST_REPLAY);   /* an older round */
	expect_refused(&f->pkt, key_a, 5, 0x3000, 1, HELPER_ST_OK);

	/* in sequence: v2 then v3 accepted, then v2 replayed refused and the
	 * page keeps v3's content */
	struct fx *d = fx_new(key_a, HS_IMPL_CT);
	struct helper_packet v2 = f->pkt, p = v2;
	assert_int_equal(hs_open(&d->k, 5, 0x3000, &p, &d->vt, d->dst), HELPER_ST_OK);
	uint8_t page3[HELPER_PAGE];
	fill_page(page3, 0x3000, 3);
	assert_int_equal(hs_seal(&f->k, 5, 0x3000, 3, page3, &p), HELPER_ST_OK);
	assert_int_equal(hs_open(&d->k, 5, 0x3000, &p, &d->vt, d->dst), HELPER_ST_OK);
	p = v2;
	assert_int_equal(hs_open(&d->k, 5, 0x3000, &p, &d->vt, d->dst), HELPER_ST_REPLAY);
	assert_memory_equal(d->dst, page3, HELPER_PAGE);
	assert_int_equal(d->table[3], 3);

	/* versions outside 1..HS_VERSION_MAX */
	assert_int_equal(hs_seal(&f->k, 5, 0x3000, 0, f->page, &p), HELPER_ST_REPLAY);
	assert_int_equal(hs_seal(&f->k, 5, 0x3000, HS_VERSION_MAX + 1, f->page, &p), HELPER_ST_REPLAY);
	free(d);
	free(f);
}

static void test_refuse_other_key(void **state)
{
	(void)state;
	struct fx *f = sealed(key_b);     /* another owner's helper */
	expect_refused(&f->pkt, key_a, 5, 0x3000, 0, HELPER_ST_TAG);
	expect_refused(&f->pkt, key_b, 5, 0x3000, 0, HELPER_ST_OK);
	free(f);
}

/* ---- nonces, implementations, table, streams ---- */

static int cmp12(const void *a, const void *b) { return memcmp(a, b, 12); }

static void test_nonce_unique(void **state)
{
	(void)state;
	enum { S = 8, G = 64, V = 32 };
	uint8_t (*n)[12] = malloc(sizeof(*n) * S * G * V);
	assert_non_null(n);
	size_t i = 0;
	for (uint32_t s = 1; s <= S; s++)
		for (uint64_t g = 0; g < G; g++)
			for (uint32_t v = 1; v <= V; v++)
				/* GPAs spread out, so bits beyond the low ones are used */
				hs_nonce(s * 0x01000001u, (g * 0x10001ULL) << 12, v * 0x00100001u, n[i++]);
	qsort(n, i, 12, cmp12);
	for (size_t j = 1; j < i; j++)
		assert_true(memcmp(n[j - 1], n[j], 12) != 0);
	free(n);
}

static void test_impls_interoperate(void **state)
{
	(void)state;
	if (!have_x86ni()) {
		print_message("SKIP: this host's CPU lacks AES-NI or PCLMULQDQ\n");
		skip();
	}
	assert_int_equal(hs_impl_for(HELPER_CPU_AESNI | HELPER_CPU_PCLMUL), HS_IMPL_X86NI);
	assert_int_equal(hs_impl_for(HELPER_CPU_AESNI), HS_IMPL_CT);
	assert_int_equal(hs_impl_for(0), HS_IMPL_CT);
	enum hs_impl from[2] = { HS_IMPL_CT, HS_IMPL_X86NI }, to[2] = { HS_IMPL_X86NI, HS_IMPL_CT };
	for (int i = 0; i < 2; i++) {
		struct fx *s = fx_new(key_a, from[i]), *d = fx_new(key_a, to[i]);
		for (uint32_t v = 1; v <= 3; v++) {
			uint64_t gpa = v * 5 * HELPER_PAGE;
			fill_page(s->page, gpa, v);
			assert_int_equal(hs_seal(&s->k, 9, gpa, v, s->page, &s->pkt), HELPER_ST_OK);
			/* same packet from both implementations */
			struct helper_packet other;
			assert_int_equal(hs_seal(&d->k, 9, gpa, v, s->page, &other), HELPER_ST_OK);
			assert_memory_equal(&other, &s->pkt, sizeof(other));
			d->pkt = s->pkt;
			assert_int_equal(hs_open(&d->k, 9, gpa, &d->pkt, &d->vt, d->dst), HELPER_ST_OK);
			assert_memory_equal(d->dst, s->page, HELPER_PAGE);
		}
		free(s);
		free(d);
	}
}

static void test_vtable_busy(void **state)
{
	(void)state;
	struct fx *f = fx_new(key_a, HS_IMPL_CT);
	uint32_t old;
	assert_int_equal(hs_vt_claim(&f->vt, 0x5000, 4, &old), HELPER_ST_OK);
	assert_int_equal(old, 0);
	/* another lane, same page, even with a newer version: busy */
	assert_int_equal(hs_vt_claim(&f->vt, 0x5000, 7, &old), HELPER_ST_BUSY);
	/* an open for that page now is refused and changes nothing */
	struct fx *s = sealed(key_a);
	s->pkt.h.gpa = 0x5000;            /* (tag would fail anyway; busy is seen first) */
	assert_int_equal(hs_open(&f->k, 5, 0x5000, &s->pkt, &f->vt, f->dst), HELPER_ST_BUSY);
	hs_vt_release(&f->vt, 0x5000, 0);
	assert_int_equal(f->table[5], 0);
	assert_int_equal(hs_vt_claim(&f->vt, 0x5000, 7, &old), HELPER_ST_OK);
	hs_vt_commit(&f->vt, 0x5000, 7);
	assert_int_equal(f->table[5], 7);
	assert_int_equal(hs_vt_claim(&f->vt, 0x5000, 7, &old), HELPER_ST_REPLAY);
	free(s);
	free(f);
}

static void test_stream_admission(void **state)
{
	(void)state;
	uint32_t table[NPAGES], floor = 0;
	uint64_t ctl = 0;
	struct hs_vtable vt = { table, NPAGES };
	struct hs_streams st = { &floor, &ctl };

	memset(table, 0x11, sizeof(table));
	assert_int_equal(hs_stream_enter(&st, &vt, 0), HELPER_ST_STREAM);
	assert_int_equal(hs_stream_enter(&st, &vt, 0xFFFFFFFF), HELPER_ST_STREAM);
	/* a new stream: above the floor, the table starts empty */
	assert_int_equal(hs_stream_enter(&st, &vt, 3), HELPER_ST_OK);
	assert_int_equal(floor, 3);
	assert_int_equal(table[7], 0);
	table[7] = 5;
	/* the same stream goes on with its table */
	assert_int_equal(hs_stream_enter(&st, &vt, 3), HELPER_ST_OK);
	assert_int_equal(table[7], 5);
	/* an older stream is refused */
	assert_int_equal(hs_stream_enter(&st, &vt, 2), HELPER_ST_STREAM);
	/* a newer one takes over, with a fresh table; the old one is gone */
	assert_int_equal(hs_stream_enter(&st, &vt, 8), HELPER_ST_OK);
	assert_int_equal(floor, 8);
	assert_int_equal(table[7], 0);
	assert_int_equal(hs_stream_enter(&st, &vt, 3), HELPER_ST_STREAM);
	/* a restarted helper (lane 0 resets ctl) cannot resume stream 8,
	 * whose versions it no longer knows: no nonce reuse, no replay */
	ctl = 0;
	assert_int_equal(hs_stream_enter(&st, &vt, 8), HELPER_ST_STREAM);
	assert_int_equal(hs_stream_enter(&st, &vt, 9), HELPER_ST_OK);
	/* the largest stream id */
	assert_int_equal(hs_stream_enter(&st, &vt, HS_STREAM_MAX), HELPER_ST_OK);
	assert_int_equal(floor, HS_STREAM_MAX);
}

/* ---- lanes racing ---- */

enum { RACE_PAGES = 16, RACE_VERSIONS = 20, RACE_LANES = 4 };

struct race {
	struct helper_packet *pkts;      /* RACE_PAGES * RACE_VERSIONS, sealed */
	struct hs_vtable vt;
	uint8_t (*pages)[HELPER_PAGE];   /* the "guest memory" the lanes write */
	struct hs_streams streams;
};

struct lane_arg {
	struct race *r;
	unsigned seed;
	int bad;                         /* a status other than OK, REPLAY, BUSY */
};

static void *race_lane(void *p)
{
	struct lane_arg *a = p;
	struct race *r = a->r;
	struct hs_key k;
	struct helper_packet bounce;
	enum { N = RACE_PAGES * RACE_VERSIONS };
	unsigned order[N];
	if (hs_key_init(&k, key_a, HS_IMPL_CT) || hs_stream_enter(&r->streams, &r->vt, 5)) {
		a->bad = -1;
		return NULL;
	}
	for (unsigned i = 0; i < N; i++)
		order[i] = i;
	for (unsigned i = N - 1; i > 0; i--) {           /* this lane's own order */
		unsigned j = (unsigned)rand_r(&a->seed) % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < N; i++) {
		const struct helper_packet *src = &r->pkts[order[i]];
		bounce = *src;
		int st = hs_open(&k, 5, src->h.gpa, &bounce, &r->vt, r->pages[src->h.gpa >> 12]);
		if (st != HELPER_ST_OK && st != HELPER_ST_REPLAY && st != HELPER_ST_BUSY)
			a->bad = st;
	}
	hs_key_wipe(&k);
	return NULL;
}

static void test_lanes_race(void **state)
{
	(void)state;
	struct race r;
	uint32_t table[RACE_PAGES], floor = 0;
	uint64_t ctl = 0;
	struct fx *s = fx_new(key_a, HS_IMPL_CT);
	r.pkts = calloc(RACE_PAGES * RACE_VERSIONS, sizeof(*r.pkts));
	r.pages = calloc(RACE_PAGES, HELPER_PAGE);
	assert_non_null(r.pkts);
	assert_non_null(r.pages);
	memset(table, 0x5A, sizeof(table));  /* stale: the first lane in stream 5 clears it */
	r.vt.v = table;
	r.vt.npages = RACE_PAGES;
	r.streams.floor = &floor;
	r.streams.ctl = &ctl;
	for (unsigned pfn = 0; pfn < RACE_PAGES; pfn++)
		for (unsigned v = 1; v <= RACE_VERSIONS; v++) {
			fill_page(s->page, pfn * HELPER_PAGE, v);
			assert_int_equal(hs_seal(&s->k, 5, pfn * HELPER_PAGE, v, s->page,
						 &r.pkts[pfn * RACE_VERSIONS + v - 1]), HELPER_ST_OK);
		}

	pthread_t t[RACE_LANES];
	struct lane_arg a[RACE_LANES];
	for (int i = 0; i < RACE_LANES; i++) {
		a[i] = (struct lane_arg){ &r, 1234u + (unsigned)i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, race_lane, &a[i]), 0);
	}
	for (int i = 0; i < RACE_LANES; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].bad, 0);
	}
	assert_int_equal(floor, 5);
	assert_int_equal(ctl, 5);
	for (unsigned pfn = 0; pfn < RACE_PAGES; pfn++) {
		uint32_t v = table[pfn];
		assert_true(v >= 1 && v <= RACE_VERSIONS);  /* not busy, not stale */
		fill_page(s->page, pfn * HELPER_PAGE, v);
		assert_memory_equal(r.pages[pfn], s->page, HELPER_PAGE);
	}
	free(r.pkts);
	free(r.pages);
	free(s);
}

static void test_key_init(void **state)
{
	(void)state;
	struct hs_key k;
	assert_int_equal(hs_key_init(&k, key_a, (enum hs_impl)7), -1);
	assert_int_equal(hs_key_init(&k, key_a, HS_IMPL_CT), 0);
	hs_key_wipe(&k);
	const uint8_t *p = (const uint8_t *)&k;
	for (size_t i = 0; i < sizeof(k); i++)
		assert_int_equal(p[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_known_answers),
		cmocka_unit_test(test_packet_matches_openssl),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refuse_flipped_bits),
		cmocka_unit_test(test_refuse_other_gpa),
		cmocka_unit_test(test_refuse_other_stream),
		cmocka_unit_test(test_refuse_replay),
		cmocka_unit_test(test_refuse_other_key),
		cmocka_unit_test(test_nonce_unique),
		cmocka_unit_test(test_impls_interoperate),
		cmocka_unit_test(test_vtable_busy),
		cmocka_unit_test(test_stream_admission),
		cmocka_unit_test(test_lanes_race),
		cmocka_unit_test(test_key_init),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
