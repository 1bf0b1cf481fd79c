/* seal.h - the migration helper's sealing core: AES-256-GCM (BearSSL) over
 * one guest page, bound to its GPA, page version and stream, and the
 * replay checks of the side that opens. Pure functions: no port I/O, no
 * ring-specific code, so the same file is built into the helper and into
 * the host unit test (tests/unit/test_helper_seal.c).
 *
 * Every buffer handed to these functions must be memory the VMM cannot
 * read or write while they run (the helper's private bounce page): GCM
 * works in place, so a shared buffer would show the VMM plaintext.
 */
#ifndef GUEST_HELPER_SEAL_H
#define GUEST_HELPER_SEAL_H

#include <bearssl.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox.h"

enum hs_impl {
	HS_IMPL_CT = 0,          /* br_aes_ct64_ctr + br_ghash_ctmul64: constant time, any x86-64 */
	HS_IMPL_X86NI = 1,       /* br_aes_x86ni_ctr + br_ghash_pclmul: needs AES-NI and PCLMULQDQ */
};

/* A key ready to use: the AES key schedule and the GCM state pointing at
 * it. One per lane (the GCM state changes with every packet). */
struct hs_key {
	union {
		br_aes_ct64_ctr_keys ct;
		br_aes_x86ni_ctr_keys ni;
	} aes;
	br_gcm_context gcm;
	enum hs_impl impl;
};

#define HS_NONCE_LEN   12
#define HS_AD_LEN      16
#define HS_VERSION_MAX 0x7FFFFFFFu   /* bit 31 of a version-table entry is "busy" */
#define HS_STREAM_MAX  0xFFFFFFFEu

/* Which implementation the CPU facts (HELPER_CPU_*) allow. */
enum hs_impl hs_impl_for(uint32_t cpu_facts);

/* 0, or -1 for an unknown impl. The key bytes are not kept. */
int hs_key_init(struct hs_key *k, const uint8_t key[HELPER_KEY_LEN], enum hs_impl impl);
void hs_key_wipe(struct hs_key *k);

/* The generic AEAD the packets use, exposed for the known-answer tests:
 * AES-256-GCM with a 96-bit nonce, in place, 16-byte tag. */
void hs_aead_seal(struct hs_key *k, const uint8_t nonce[HS_NONCE_LEN],
		  const void *ad, size_t ad_len, void *buf, size_t len, uint8_t tag[HELPER_TAG_LEN]);
/* 1 if the tag is right (buf then holds the plaintext), 0 if not (buf is
 * then zeroed: nothing unauthenticated is left behind). */
int hs_aead_open(struct hs_key *k, const uint8_t nonce[HS_NONCE_LEN],
		 const void *ad, size_t ad_len, void *buf, size_t len, const uint8_t tag[HELPER_TAG_LEN]);

/* Nonce: LE32 stream || LE32 gpa>>12 || LE32 version, so it is unique per
 * (stream, page, version) as long as none of the three is reused; the
 * version table below is what stops reuse. AD: LE64 gpa || LE32 version ||
 * LE32 stream. */
void hs_nonce(uint32_t stream, uint64_t gpa, uint32_t version, uint8_t out[HS_NONCE_LEN]);
void hs_ad(uint32_t stream, uint64_t gpa, uint32_t version, uint8_t out[HS_AD_LEN]);

/* Seal one page into pkt (header + ciphertext). HELPER_ST_OK, or
 * HELPER_ST_GPA (unaligned, >= HELPER_GPA_LIMIT), HELPER_ST_REPLAY
 * (version 0 or above HS_VERSION_MAX), HELPER_ST_STREAM (0 or above
 * HS_STREAM_MAX). The caller guarantees (stream, gpa, version) was never
 * sealed before under this key: hs_vt_claim does that in the helper. */
int hs_seal(struct hs_key *k, uint32_t stream, uint64_t gpa, uint32_t version,
	    const void *page, struct helper_packet *pkt);

/* Per-page version table: the last version sealed (source) or opened
 * (destination) in the current stream, bit 31 set while a lane works on
 * the page. Entries change only through these atomics, so lanes that
 * share the table never let an older version in nor seal one twice. */
struct hs_vtable {
	uint32_t *v;
	uint64_t npages;         /* covers GPAs below npages * 4096 */
};
/* Claim gpa for version: HELPER_ST_OK (entry now busy, *old = previous
 * version), HELPER_ST_GPA (not covered), HELPER_ST_REPLAY (version not
 * newer), HELPER_ST_BUSY (another lane holds it). */
int hs_vt_claim(struct hs_vtable *vt, uint64_t gpa, uint32_t version, uint32_t *old);
void hs_vt_commit(struct hs_vtable *vt, uint64_t gpa, uint32_t version);  /* busy -> version */
void hs_vt_release(struct hs_vtable *vt, uint64_t gpa, uint32_t old);     /* busy -> old */

/* Open pkt (a private copy: its ciphertext is decrypted in place and then
 * zeroed), expected at gpa in stream: checks GPA, stream and version
 * (newer than the table's, claimed there), then the tag; only then copies
 * the page to dst and records the version. Returns HELPER_ST_OK or the
 * refusal (HELPER_ST_GPA, _STREAM, _REPLAY, _BUSY, _TAG); on a refusal dst
 * and the table are unchanged. */
int hs_open(struct hs_key *k, uint32_t stream, uint64_t gpa, struct helper_packet *pkt,
	    struct hs_vtable *vt, void *dst);

/* Stream admission, shared by the lanes of one helper. floor (persistent,
 * in the state page) is the highest stream id ever used under this key by
 * this helper or the one it was copied from; ctl (lane scratch, reset by
 * lane 0 at start) names the stream the version table belongs to. A
 * stream above the floor starts afresh (the table is zeroed once, by the
 * first lane to see it); the current stream goes on; any other is
 * HELPER_ST_STREAM. So no (stream, page, version) can be sealed twice
 * under one key, even across helper restarts, unless private memory itself
 * is rolled back. */
struct hs_streams {
	uint32_t *floor;
	uint64_t *ctl;           /* bits 0-31 stream, bit 32 "table being zeroed" */
};
int hs_stream_enter(struct hs_streams *s, struct hs_vtable *vt, uint32_t stream);

#endif
