/* sev_crypto.h - the SEV firmware's transport and launch cryptography, as
 * ../shared/docs/sev-semantics.md section 6 specifies it, on OpenSSL
 * libcrypto. Used by the emulated platform (psp/) and by the guest owner's
 * tool (`tern owner`). Nothing here is hand-rolled: SP800-108 is OpenSSL's
 * KBKDF, ECDH is EVP_PKEY_derive, AES-128-CTR and HMAC-SHA256 are EVP.
 *
 * All functions return 0 on success and -1 on failure (a MAC that does not
 * verify, a malformed input, an OpenSSL error); where an err buffer is
 * given it names the cause.
 */
#ifndef TERN_CRYPTO_SEV_CRYPTO_H
#define TERN_CRYPTO_SEV_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define SEV_KEY_LEN      16            /* TEK (AES-128) and TIK (128-bit HMAC key) */
#define SEV_NONCE_LEN    16
#define SEV_IV_LEN       16
#define SEV_MAC_LEN      32            /* HMAC-SHA256 */
#define SEV_DIGEST_LEN   32            /* SHA-256 */
#define SEV_MNONCE_LEN   16
#define SEV_SESSION_LEN  128           /* nonce 16 | wrapped TEK||TIK 32 | iv 16 | wrap MAC 32 | policy MAC 32 */
#define SEV_PKT_HDR_LEN  52            /* flags u32 | IV 16 | MAC 32 */

/* packet context bytes: what a packet carries, bound into its MAC */
#define SEV_CTX_SECRET   0x01
#define SEV_CTX_DATA     0x02
#define SEV_CTX_VMSA     0x03

struct sev_keys {
	uint8_t tek[SEV_KEY_LEN];
	uint8_t tik[SEV_KEY_LEN];
};

/* NIST SP800-108 KDF in counter mode with HMAC-SHA256 (OpenSSL "KBKDF"):
 * out = PRF(key, [i]_32 || label || 0x00 || context || [L]_32) ... */
int sev__kdf(const uint8_t *key, size_t keylen, const uint8_t *label, size_t labellen,
	    const uint8_t *context, size_t ctxlen, uint8_t *out, size_t outlen);

/* Fresh random TEK and TIK (OS random source). */
int sev__keys_random(struct sev_keys *k);
int sev__random(void *buf, size_t len);

/* Session blob (spec section 6): wrap k for the holder of peer_pub, from
 * the holder of my_priv, bound to policy. ECDH P-384 -> master secret ->
 * KEK, KIK. Fresh nonce and IV each call. */
int sev__session_wrap(EVP_PKEY *my_priv, EVP_PKEY *peer_pub, const struct sev_keys *k,
		     uint32_t policy, uint8_t out[SEV_SESSION_LEN]);
/* Verify both MACs, then unwrap. Fails on any flipped bit or another policy. */
int sev__session_unwrap(EVP_PKEY *my_priv, EVP_PKEY *peer_pub, const uint8_t in[SEV_SESSION_LEN],
		       uint32_t policy, struct sev_keys *k, char *err, size_t errlen);

/* Packets: header = flags(u32 LE) | IV (fresh per packet) | MAC;
 * payload = AES-128-CTR(TEK, IV, plaintext);
 * MAC = HMAC-SHA256(TIK, ctx || flags || IV || len(u32) || len(u32) || ciphertext || bind)
 * where `bind` is extra authenticated data: the launch measurement for a
 * secret packet; for data packets tern binds the destination GPA (u64 LE)
 * so a packet replayed at another address is refused (hardware SEV does
 * not; tern's emulated platform does). bind may be NULL/0. */
int sev__packet_seal(const struct sev_keys *k, uint8_t ctx, uint32_t flags,
		    const uint8_t *plain, size_t len, const uint8_t *bind, size_t bindlen,
		    uint8_t hdr[SEV_PKT_HDR_LEN], uint8_t *cipher);
/* Verify the MAC first (constant time), then decrypt into plain. */
int sev__packet_open(const struct sev_keys *k, uint8_t ctx, const uint8_t hdr[SEV_PKT_HDR_LEN],
		    const uint8_t *cipher, size_t len, const uint8_t *bind, size_t bindlen,
		    uint8_t *plain, char *err, size_t errlen);

/* LAUNCH_MEASURE: HMAC-SHA256(TIK, 0x04 || api_major || api_minor || build
 * || policy (u32 LE) || digest || mnonce). */
int sev__measure(const uint8_t tik[SEV_KEY_LEN], uint8_t api_major, uint8_t api_minor,
		uint8_t build, uint32_t policy, const uint8_t digest[SEV_DIGEST_LEN],
		const uint8_t mnonce[SEV_MNONCE_LEN], uint8_t out[SEV_MAC_LEN]);

/* Constant-time compare. */
int sev__memeq(const void *a, const void *b, size_t len);

/* ---- platform identity: a P-384 PDH key with a certificate chain ----
 * root (self-signed, P-384) -> PDH certificate (P-384 public key, signed by
 * the root, carrying the firmware API version in its subject as
 * "OU=sev-api-MAJOR.MINOR"). The emulated platform creates both on first
 * start under its state directory (root.key root.pem pdh.key pdh.pem, mode
 * 0600 for keys) and loads them afterwards, so its identity survives
 * restarts. The exported chain is PEM: PDH certificate, then root. */
struct sev_identity {
	EVP_PKEY *pdh;                    /* private */
	X509     *pdh_cert;
	X509     *root_cert;
	uint8_t   api_major, api_minor;
};

/* dir is created (0700, with parents) if missing. All four files present:
 * load and cross-check them; none: create them; some: refuse, naming what
 * is missing (never overwrite an identity owners may trust). A PDH
 * certificate for another API version is re-issued by the root for the same
 * PDH key. */
int  sev__identity_load_or_create(const char *dir, uint8_t api_major, uint8_t api_minor,
				 struct sev_identity *id, char *err, size_t errlen);
void sev__identity_free(struct sev_identity *id);
/* PEM chain (malloc'd, NUL-terminated). */
int  sev__identity_export(const struct sev_identity *id, char **pem, size_t *len);

/* Verify a peer's PEM chain (PDH cert + root) against trusted roots (PEM,
 * one or more certificates; the chain's own root is NOT trusted unless it
 * is among them). On success returns the peer's PDH public key and the API
 * version from its certificate. */
int  sev__chain_verify(const char *chain_pem, size_t chain_len, const char *trusted_pem,
		      size_t trusted_len, EVP_PKEY **peer_pdh, uint8_t *api_major,
		      uint8_t *api_minor, char *err, size_t errlen);

/* A guest owner's (or any party's) ephemeral-or-stored P-384 key. */
EVP_PKEY *sev__p384_generate(void);
/* PEM encode/decode of public keys (for the owner's key sent at LAUNCH_START).
 * The PEM strings are malloc'd and NUL-terminated: free() them. */
int  sev__pubkey_pem(EVP_PKEY *k, char **pem, size_t *len);
/* Returns NULL for anything but one P-384 public key. */
EVP_PKEY *sev__pubkey_from_pem(const char *pem, size_t len);
/* (added) Private keys as unencrypted PKCS#8 PEM, for the owner's stored key.
 * sev__privkey_from_pem, like sev__pubkey_from_pem, returns NULL for anything
 * but a P-384 key. Free a private key's PEM with sev__pem_free (cleanses). */
int  sev__privkey_pem(EVP_PKEY *k, char **pem, size_t *len);
EVP_PKEY *sev__privkey_from_pem(const char *pem, size_t len);
void sev__pem_free(char *pem, size_t len);

#endif
