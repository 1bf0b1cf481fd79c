/* sev_packet.c - transport packets (secret, data, VMSA) and the launch
 * measurement (sev-semantics.md section 6).
 *
 * Packet header, 52 bytes:
 *   [ 0.. 4) flags   u32 little endian (bit 0: compressed)
 *   [ 4..20) IV      16 bytes, random per packet: the initial AES-CTR
 *                    counter block (incremented as a 128-bit big-endian
 *                    number, as OpenSSL's CTR mode does)
 *   [20..52) MAC     HMAC-SHA256(TIK, ctx (1 byte) || flags (u32 LE) || IV
 *                    || plaintext length (u32 LE) || transport length
 *                    (u32 LE) || ciphertext || bind)
 * ciphertext = AES-128-CTR(TEK, IV, plaintext); CTR keeps the length, so
 * both lengths are the same number. bind is caller-chosen extra
 * authenticated data (the measurement for a secret, the GPA for data).
 *
 * Measurement: HMAC-SHA256(TIK, 0x04 || api_major || api_minor || build ||
 * policy (u32 LE) || digest (32) || mnonce (16)).
 */
#include <string.h>
#include <openssl/crypto.h>

#include "crypto/sev_crypto.h"
#include "crypto/sev_int.h"
#include "util/log.h"

#define HDR_FLAGS 0
#define HDR_IV    4
#define HDR_MAC   20

static int packet_mac(const uint8_t tik[SEV_KEY_LEN], uint8_t ctx, const uint8_t flags_le[4],
		      const uint8_t iv[SEV_IV_LEN], const uint8_t *cipher, size_t len,
		      const uint8_t *bind, size_t bindlen, uint8_t out[SEV_MAC_LEN])
{
	uint8_t lens[8];
	sev__put_le32(lens, (uint32_t)len);      /* plaintext length */
	sev__put_le32(lens + 4, (uint32_t)len);  /* transport (ciphertext) length */
	struct sev_part parts[] = {
		{ &ctx, 1 }, { flags_le, 4 }, { iv, SEV_IV_LEN }, { lens, 8 },
		{ cipher, len }, { bind, bind ? bindlen : 0 },
	};
	return sev__hmac_sha256(tik, SEV_KEY_LEN, parts, 6, out);
}

int sev__packet_seal(const struct sev_keys *k, uint8_t ctx, uint32_t flags,
		    const uint8_t *plain, size_t len, const uint8_t *bind, size_t bindlen,
		    uint8_t hdr[SEV_PKT_HDR_LEN], uint8_t *cipher)
{
	uint8_t h[SEV_PKT_HDR_LEN];

	if (!k || !hdr || len > UINT32_MAX || (len && (!plain || !cipher)) || (bindlen && !bind))
		return -1;
	sev__put_le32(h + HDR_FLAGS, flags);
	if (sev__random(h + HDR_IV, SEV_IV_LEN))
		return -1;
	if (sev__aes128_ctr(k->tek, h + HDR_IV, plain, cipher, len))
		return -1;
	if (packet_mac(k->tik, ctx, h + HDR_FLAGS, h + HDR_IV, cipher, len, bind, bindlen,
		       h + HDR_MAC))
		return -1;
	memcpy(hdr, h, sizeof(h));
	return 0;
}

int sev__packet_open(const struct sev_keys *k, uint8_t ctx, const uint8_t hdr[SEV_PKT_HDR_LEN],
		    const uint8_t *cipher, size_t len, const uint8_t *bind, size_t bindlen,
		    uint8_t *plain, char *err, size_t errlen)
{
	uint8_t h[SEV_PKT_HDR_LEN], mac[SEV_MAC_LEN];

	if (!k || !hdr || (len && (!cipher || !plain)) || (bindlen && !bind)) {
		errbuf__set(err, errlen, "packet: missing argument");
		return -1;
	}
	if (len > UINT32_MAX) {
		errbuf__set(err, errlen, "packet: %zu bytes is too long", len);
		return -1;
	}
	memcpy(h, hdr, sizeof(h));
	if (packet_mac(k->tik, ctx, h + HDR_FLAGS, h + HDR_IV, cipher, len, bind, bindlen, mac)) {
		errbuf__set(err, errlen, "packet: HMAC failed");
		return -1;
	}
	if (!sev__memeq(mac, h + HDR_MAC, SEV_MAC_LEN)) {
		errbuf__set(err, errlen, "packet: the MAC does not verify (altered header or data, "
			   "another key, kind or binding)");
		return -1;
	}
	/* Note: the ciphertext was MACed where it lies; if the caller's buffer
	 * is shared with an untrusted writer, it must copy it first. */
	if (sev__aes128_ctr(k->tek, h + HDR_IV, cipher, plain, len)) {
		errbuf__set(err, errlen, "packet: AES-128-CTR failed");
		return -1;
	}
	return 0;
}

int sev__measure(const uint8_t tik[SEV_KEY_LEN], uint8_t api_major, uint8_t api_minor,
		uint8_t build, uint32_t policy, const uint8_t digest[SEV_DIGEST_LEN],
		const uint8_t mnonce[SEV_MNONCE_LEN], uint8_t out[SEV_MAC_LEN])
{
	uint8_t head[8];
	if (!tik || !digest || !mnonce || !out)
		return -1;
	head[0] = 0x04;
	head[1] = api_major;
	head[2] = api_minor;
	head[3] = build;
	sev__put_le32(head + 4, policy);
	struct sev_part parts[] = {
		{ head, sizeof(head) }, { digest, SEV_DIGEST_LEN }, { mnonce, SEV_MNONCE_LEN },
	};
	return sev__hmac_sha256(tik, SEV_KEY_LEN, parts, 3, out);
}
