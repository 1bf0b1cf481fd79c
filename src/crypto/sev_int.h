/* sev_int.h - helpers shared by the sev_*.c files (not part of the
 * interface): OpenSSL algorithm handles fetched once, multi-part HMAC,
 * AES-128-CTR, little-endian packing and error formatting. */
#ifndef TERN_CRYPTO_SEV_INT_H
#define TERN_CRYPTO_SEV_INT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

/* One piece of a message that is MACed in several parts. */
struct sev_part {
	const void *p;
	size_t      n;
};

/* Algorithm handles, fetched once per process (NULL if the default
 * provider lacks them: every user checks). Never freed. */
EVP_MAC    *sev__hmac(void);
EVP_CIPHER *sev__aes128ctr(void);
EVP_KDF    *sev__kbkdf(void);

/* HMAC-SHA256(key, parts[0] || parts[1] || ...). */
int sev__hmac_sha256(const uint8_t *key, size_t keylen, const struct sev_part *parts, int nparts,
		     uint8_t out[32]);
/* AES-128-CTR with a 16-byte initial counter block; in and out may be the
 * same buffer. len may be 0. */
int sev__aes128_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
		    uint8_t *out, size_t len);
/* Is k an EC key on NIST P-384 (secp384r1)? */
int sev__is_p384(const EVP_PKEY *k);
/* Z = ECDH P-384 shared secret (the x coordinate, 48 bytes, big endian as
 * OpenSSL returns it). */
int sev__ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[48], char *err, size_t errlen);

/* A memory BIO's contents as a malloc'd NUL-terminated string (free()). */
int sev__bio_take(BIO *b, char **pem, size_t *len);

/* "what: <first OpenSSL error>" into err; clears OpenSSL's error queue. */
void sev__ossl_err(char *err, size_t errlen, const char *what);

static inline void sev__put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

#endif
