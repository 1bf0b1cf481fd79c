/* seal.c - the helper's sealing core (seal.h): BearSSL's AES-256-GCM around
 * a page, the nonce and additional data that bind it to (stream, GPA,
 * version), the version table and stream admission that keep a nonce from
 * ever being used twice and an old page from being opened over a newer one.
 * No crypto of our own: only BearSSL's AES-CTR, GHASH and GCM.
 */
#include <string.h>

#include "seal.h"

#define VT_BUSY      0x80000000u
#define CTL_SWITCH   (1ULL << 32)

enum hs_impl hs_impl_for(uint32_t cpu_facts)
{
	const uint32_t need = HELPER_CPU_AESNI | HELPER_CPU_PCLMUL;
	return (cpu_facts & need) == need ? HS_IMPL_X86NI : HS_IMPL_CT;
}

int hs_key_init(struct hs_key *k, const uint8_t key[HELPER_KEY_LEN], enum hs_impl impl)
{
	memset(k, 0, sizeof(*k));
	/* The vtables and GHASH functions are named directly: their *_get()
	 * helpers probe with cpuid, which the helper must not run (ring 3). */
	switch (impl) {
	case HS_IMPL_CT:
		br_aes_ct64_ctr_init(&k->aes.ct, key, HELPER_KEY_LEN);
		br_gcm_init(&k->gcm, &k->aes.ct.vtable, br_ghash_ctmul64);
		break;
	case HS_IMPL_X86NI:
		br_aes_x86ni_ctr_init(&k->aes.ni, key, HELPER_KEY_LEN);
		br_gcm_init(&k->gcm, &k->aes.ni.vtable, br_ghash_pclmul);
		break;
	default:
		return -1;
	}
	k->impl = impl;
	return 0;
}

void hs_key_wipe(struct hs_key *k)
{
	/* volatile stores: a plain memset of a dying object may be elided */
	volatile uint8_t *p = (volatile uint8_t *)k;
	for (size_t i = 0; i < sizeof(*k); i++)
		p[i] = 0;
}

void hs_aead_seal(struct hs_key *k, const uint8_t nonce[HS_NONCE_LEN],
		  const void *ad, size_t ad_len, void *buf, size_t len, uint8_t tag[HELPER_TAG_LEN])
{
	br_gcm_reset(&k->gcm, nonce, HS_NONCE_LEN);
	br_gcm_aad_inject(&k->gcm, ad, ad_len);
	br_gcm_flip(&k->gcm);
	br_gcm_run(&k->gcm, 1, buf, len);
	br_gcm_get_tag(&k->gcm, tag);
}

int hs_aead_open(struct hs_key *k, const uint8_t nonce[HS_NONCE_LEN],
		 const void *ad, size_t ad_len, void *buf, size_t len, const uint8_t tag[HELPER_TAG_LEN])
{
	br_gcm_reset(&k->gcm, nonce, HS_NONCE_LEN);
	br_gcm_aad_inject(&k->gcm, ad, ad_len);
	br_gcm_flip(&k->gcm);
	br_gcm_run(&k->gcm, 0, buf, len);          /* GHASH over the ciphertext, then decrypts */
	if (br_gcm_check_tag(&k->gcm, tag))
		return 1;
	memset(buf, 0, len);
	return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

void hs_nonce(uint32_t stream, uint64_t gpa, uint32_t version, uint8_t out[HS_NONCE_LEN])
{
	/* gpa >> 12 fits in 32 bits: hs_seal refuses GPAs at or above 16 TiB
	 * (and the table stops at HELPER_GPA_LIMIT, far below). */
	put_le32(out, stream);
	put_le32(out + 4, (uint32_t)(gpa >> 12));
	put_le32(out + 8, version);
}

void hs_ad(uint32_t stream, uint64_t gpa, uint32_t version, uint8_t out[HS_AD_LEN])
{
	put_le64(out, gpa);
	put_le32(out + 8, version);
	put_le32(out + 12, stream);
}

/* The header checks shared by seal and open. */
static int check_args(uint32_t stream, uint64_t gpa, uint32_t version)
{
	if (gpa & (HELPER_PAGE - 1) || gpa >= HELPER_GPA_LIMIT)
		return HELPER_ST_GPA;
	if (stream == 0 || stream > HS_STREAM_MAX)
		return HELPER_ST_STREAM;
	if (version == 0 || version > HS_VERSION_MAX)
		return HELPER_ST_REPLAY;
	return HELPER_ST_OK;
}

int hs_seal(struct hs_key *k, uint32_t stream, uint64_t gpa, uint32_t version,
	    const void *page, struct helper_packet *pkt)
{
	int st = check_args(stream, gpa, version);
	if (st)
		return st;
	uint8_t nonce[HS_NONCE_LEN], ad[HS_AD_LEN];
	hs_nonce(stream, gpa, version, nonce);
	hs_ad(stream, gpa, version, ad);
	pkt->h.gpa = gpa;
	pkt->h.version = version;
	pkt->h.stream = stream;
	memcpy(pkt->ct, page, HELPER_PAGE);
	hs_aead_seal(k, nonce, ad, sizeof(ad), pkt->ct, HELPER_PAGE, pkt->h.tag);
	return HELPER_ST_OK;
}

/* ---- version table ---- */

int hs_vt_claim(struct hs_vtable *vt, uint64_t gpa, uint32_t version, uint32_t *old)
{
	uint64_t pfn = gpa >> 12;
	if (gpa & (HELPER_PAGE - 1) || pfn >= vt->npages)
		return HELPER_ST_GPA;
	if (version == 0 || version > HS_VERSION_MAX)
		return HELPER_ST_REPLAY;
	uint32_t *e = &vt->v[pfn];
	uint32_t cur = __atomic_load_n(e, __ATOMIC_ACQUIRE);
	do {
		if (cur & VT_BUSY)
			return HELPER_ST_BUSY;
		if (version <= cur)
			return HELPER_ST_REPLAY;
	} while (!__atomic_compare_exchange_n(e, &cur, version | VT_BUSY, 0,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	*old = cur;
	return HELPER_ST_OK;
}

void hs_vt_commit(struct hs_vtable *vt, uint64_t gpa, uint32_t version)
{
	__atomic_store_n(&vt->v[gpa >> 12], version, __ATOMIC_RELEASE);
}

void hs_vt_release(struct hs_vtable *vt, uint64_t gpa, uint32_t old)
{
	__atomic_store_n(&vt->v[gpa >> 12], old, __ATOMIC_RELEASE);
}

int hs_open(struct hs_key *k, uint32_t stream, uint64_t gpa, struct helper_packet *pkt,
	    struct hs_vtable *vt, void *dst)
{
	/* Each header field is read once, so what is checked is what is used. */
	uint64_t p_gpa = pkt->h.gpa;
	uint32_t p_version = pkt->h.version, p_stream = pkt->h.stream;
	int st;

	if (p_gpa != gpa)
		st = HELPER_ST_GPA;
	else if (p_stream != stream)
		st = HELPER_ST_STREAM;
	else
		st = check_args(stream, gpa, p_version);
	uint32_t old = 0;
	if (!st)
		st = hs_vt_claim(vt, gpa, p_version, &old);
	if (st) {
		memset(pkt->ct, 0, HELPER_PAGE);
		return st;
	}

	uint8_t nonce[HS_NONCE_LEN], ad[HS_AD_LEN];
	hs_nonce(stream, gpa, p_version, nonce);
	hs_ad(stream, gpa, p_version, ad);
	if (!hs_aead_open(k, nonce, ad, sizeof(ad), pkt->ct, HELPER_PAGE, pkt->h.tag)) {
		hs_vt_release(vt, gpa, old);
		return HELPER_ST_TAG;
	}
	/* In place while the entry is still busy, so no other lane can put
	 * an older page there in between; then the table may say so. */
	memcpy(dst, pkt->ct, HELPER_PAGE);
	memset(pkt->ct, 0, HELPER_PAGE);
	hs_vt_commit(vt, gpa, p_version);
	return HELPER_ST_OK;
}

/* ---- stream admission ---- */

int hs_stream_enter(struct hs_streams *s, struct hs_vtable *vt, uint32_t stream)
{
	if (stream == 0 || stream > HS_STREAM_MAX)
		return HELPER_ST_STREAM;
	for (;;) {
		uint64_t c = __atomic_load_n(s->ctl, __ATOMIC_ACQUIRE);
		if (c == stream)
			return HELPER_ST_OK;                 /* the current stream */
		if (c & CTL_SWITCH) {                        /* another lane is zeroing the table */
			__builtin_ia32_pause();
			continue;
		}
		if (stream <= __atomic_load_n(s->floor, __ATOMIC_ACQUIRE))
			return HELPER_ST_STREAM;             /* used before: refuse */
		if (!__atomic_compare_exchange_n(s->ctl, &c, CTL_SWITCH | stream, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		/* Ours to start. Re-check under the switch bit: a lane may have
		 * finished another stream switch between our loads. */
		if (stream <= __atomic_load_n(s->floor, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(s->ctl, c, __ATOMIC_RELEASE);
			return HELPER_ST_STREAM;
		}
		__atomic_store_n(s->floor, stream, __ATOMIC_RELEASE);
		memset(vt->v, 0, vt->npages * sizeof(*vt->v));
		__atomic_store_n(s->ctl, (uint64_t)stream, __ATOMIC_RELEASE);
		return HELPER_ST_OK;
	}
}
