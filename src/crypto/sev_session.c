/* sev_session.c - P-384 keys, ECDH, and the session blob that carries a
 * TEK/TIK pair from one party to another (sev-semantics.md section 6).
 *
 *   Z      = ECDH P-384 (my private key, peer's public key): the shared
 *            x coordinate, 48 bytes big endian (EVP_PKEY_derive)
 *   master = KDF(Z, "sev-master-secret", nonce)       32 bytes
 *   KEK    = KDF(master, "sev-kek", empty context)    16 bytes
 *   KIK    = KDF(master, "sev-kik", empty context)    16 bytes
 * KDF = sev__kdf (SP800-108 counter mode, HMAC-SHA256); the labels are the
 * ASCII strings without a terminating NUL.
 *
 * Blob (128 bytes):
 *   [  0.. 16) nonce            random per blob
 *   [ 16.. 48) wrapped          AES-128-CTR(KEK, iv, TEK || TIK)
 *   [ 48.. 64) iv               random per blob
 *   [ 64.. 96) wrap MAC         HMAC-SHA256(KIK, wrapped)
 *   [ 96..128) policy MAC       HMAC-SHA256(TIK, policy as u32 little endian)
 * The wrap MAC covers the wrapped keys as the spec says; the nonce is
 * bound through KEK/KIK, and an altered iv unwraps another TIK, which the
 * policy MAC then refuses. Both MACs are checked before keys are returned.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "crypto/sev_crypto.h"
#include "crypto/sev_int.h"
#include "util/log.h"

#define OFF_NONCE   0
#define OFF_WRAPPED 16
#define OFF_IV      48
#define OFF_WMAC    64
#define OFF_PMAC    96

static const char LABEL_MASTER[] = "sev-master-secret";
static const char LABEL_KEK[] = "sev-kek";
static const char LABEL_KIK[] = "sev-kik";

int sev__is_p384(const EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;
	if (!k || !EVP_PKEY_is_a(k, "EC"))
		return 0;
	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &glen) != 1) {
		ERR_clear_error();
		return 0;
	}
	return !strcmp(group, "secp384r1");
}

int sev__ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[48], char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx;
	size_t zlen = 48;
	int ok = 0;

	if (!sev__is_p384(priv) || !sev__is_p384(peer)) {
		errbuf__set(err, errlen, "ECDH: both keys must be NIST P-384 keys");
		return -1;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (!ctx) {
		sev__ossl_err(err, errlen, "ECDH");
		return -1;
	}
	/* validate_peer = 1: the peer's point is checked to be on the curve */
	if (EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) != 1 ||
	    EVP_PKEY_derive(ctx, z, &zlen) != 1 || zlen != 48) {
		sev__ossl_err(err, errlen, "ECDH P-384 failed");
		OPENSSL_cleanse(z, 48);
		goto out;
	}
	ok = 1;
out:
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* KEK || KIK from the ECDH secret and the blob's nonce. */
static int derive_kek_kik(EVP_PKEY *my_priv, EVP_PKEY *peer_pub, const uint8_t nonce[SEV_NONCE_LEN],
			  uint8_t kek[SEV_KEY_LEN], uint8_t kik[SEV_KEY_LEN], char *err, size_t errlen)
{
	uint8_t z[48], master[32];
	int rc = -1;

	if (sev__ecdh(my_priv, peer_pub, z, err, errlen))
		return -1;
	if (sev__kdf(z, sizeof(z), (const uint8_t *)LABEL_MASTER, strlen(LABEL_MASTER), nonce,
		    SEV_NONCE_LEN, master, sizeof(master)) ||
	    sev__kdf(master, sizeof(master), (const uint8_t *)LABEL_KEK, strlen(LABEL_KEK), NULL, 0,
		    kek, SEV_KEY_LEN) ||
	    sev__kdf(master, sizeof(master), (const uint8_t *)LABEL_KIK, strlen(LABEL_KIK), NULL, 0,
		    kik, SEV_KEY_LEN)) {
		errbuf__set(err, errlen, "key derivation (SP800-108 KBKDF) failed");
		OPENSSL_cleanse(kek, SEV_KEY_LEN);
		OPENSSL_cleanse(kik, SEV_KEY_LEN);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(master, sizeof(master));
	return rc;
}

static int policy_mac(const uint8_t tik[SEV_KEY_LEN], uint32_t policy, uint8_t out[SEV_MAC_LEN])
{
	uint8_t le[4];
	sev__put_le32(le, policy);
	struct sev_part parts[] = { { le, 4 } };
	return sev__hmac_sha256(tik, SEV_KEY_LEN, parts, 1, out);
}

int sev__session_wrap(EVP_PKEY *my_priv, EVP_PKEY *peer_pub, const struct sev_keys *k,
		     uint32_t policy, uint8_t out[SEV_SESSION_LEN])
{
	uint8_t blob[SEV_SESSION_LEN], kek[SEV_KEY_LEN], kik[SEV_KEY_LEN], keys[2 * SEV_KEY_LEN];
	int rc = -1;

	if (!k || !out)
		return -1;
	if (sev__random(blob + OFF_NONCE, SEV_NONCE_LEN) || sev__random(blob + OFF_IV, SEV_IV_LEN))
		return -1;
	if (derive_kek_kik(my_priv, peer_pub, blob + OFF_NONCE, kek, kik, NULL, 0))
		return -1;
	memcpy(keys, k->tek, SEV_KEY_LEN);
	memcpy(keys + SEV_KEY_LEN, k->tik, SEV_KEY_LEN);
	struct sev_part wrapped[] = { { blob + OFF_WRAPPED, 2 * SEV_KEY_LEN } };
	if (sev__aes128_ctr(kek, blob + OFF_IV, keys, blob + OFF_WRAPPED, sizeof(keys)) ||
	    sev__hmac_sha256(kik, SEV_KEY_LEN, wrapped, 1, blob + OFF_WMAC) ||
	    policy_mac(k->tik, policy, blob + OFF_PMAC))
		goto out;
	memcpy(out, blob, SEV_SESSION_LEN);
	rc = 0;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(kik, sizeof(kik));
	OPENSSL_cleanse(keys, sizeof(keys));
	return rc;
}

int sev__session_unwrap(EVP_PKEY *my_priv, EVP_PKEY *peer_pub, const uint8_t in[SEV_SESSION_LEN],
		       uint32_t policy, struct sev_keys *k, char *err, size_t errlen)
{
	uint8_t blob[SEV_SESSION_LEN], kek[SEV_KEY_LEN], kik[SEV_KEY_LEN], keys[2 * SEV_KEY_LEN];
	uint8_t mac[SEV_MAC_LEN];
	int rc = -1;

	if (!in || !k) {
		errbuf__set(err, errlen, "session blob: missing argument");
		return -1;
	}
	memcpy(blob, in, sizeof(blob));   /* in may change under us (shared memory) */
	if (derive_kek_kik(my_priv, peer_pub, blob + OFF_NONCE, kek, kik, err, errlen))
		return -1;
	struct sev_part wrapped[] = { { blob + OFF_WRAPPED, 2 * SEV_KEY_LEN } };
	if (sev__hmac_sha256(kik, SEV_KEY_LEN, wrapped, 1, mac)) {
		errbuf__set(err, errlen, "session blob: HMAC failed");
		goto out;
	}
	if (!sev__memeq(mac, blob + OFF_WMAC, SEV_MAC_LEN)) {
		errbuf__set(err, errlen, "session blob: the wrap MAC does not verify (altered blob, "
			   "or wrapped for another key)");
		goto out;
	}
	if (sev__aes128_ctr(kek, blob + OFF_IV, blob + OFF_WRAPPED, keys, sizeof(keys))) {
		errbuf__set(err, errlen, "session blob: AES-128-CTR failed");
		goto out;
	}
	if (policy_mac(keys + SEV_KEY_LEN, policy, mac)) {
		errbuf__set(err, errlen, "session blob: HMAC failed");
		goto out;
	}
	if (!sev__memeq(mac, blob + OFF_PMAC, SEV_MAC_LEN)) {
		errbuf__set(err, errlen, "session blob: the policy MAC does not verify (another "
			   "policy 0x%x, or an altered blob)", policy);
		goto out;
	}
	memcpy(k->tek, keys, SEV_KEY_LEN);
	memcpy(k->tik, keys + SEV_KEY_LEN, SEV_KEY_LEN);
	rc = 0;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(kik, sizeof(kik));
	OPENSSL_cleanse(keys, sizeof(keys));
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* ---- keys ---------------------------------------------------------------- */

EVP_PKEY *sev__p384_generate(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (!k)
		ERR_clear_error();
	return k;
}

/* The contents of a memory BIO as a malloc'd NUL-terminated string. */
int sev__bio_take(BIO *b, char **pem, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);
	if (n <= 0)
		return -1;
	*pem = calloc(1, (size_t)n + 1);     /* the caller frees it with free() */
	if (!*pem)
		return -1;
	memcpy(*pem, data, (size_t)n);
	if (len)
		*len = (size_t)n;
	return 0;
}

int sev__pubkey_pem(EVP_PKEY *k, char **pem, size_t *len)
{
	BIO *b;
	int rc = -1;
	if (!k || !pem)
		return -1;
	b = BIO_new(BIO_s_mem());
	if (!b)
		return -1;
	if (PEM_write_bio_PUBKEY(b, k) == 1 && sev__bio_take(b, pem, len) == 0)
		rc = 0;
	BIO_free(b);
	if (rc)
		ERR_clear_error();
	return rc;
}

/* Returns NULL for anything but one P-384 public key in PEM. */
EVP_PKEY *sev__pubkey_from_pem(const char *pem, size_t len)
{
	BIO *b;
	EVP_PKEY *k;
	if (!pem || !len || len > 64 * 1024)
		return NULL;
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return NULL;
	k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k && !sev__is_p384(k)) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	ERR_clear_error();
	return k;
}

int sev__privkey_pem(EVP_PKEY *k, char **pem, size_t *len)
{
	BIO *b;
	int rc = -1;
	if (!k || !pem)
		return -1;
	b = BIO_new(BIO_s_secmem());
	if (!b)
		b = BIO_new(BIO_s_mem());
	if (!b)
		return -1;
	if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1 && sev__bio_take(b, pem, len) == 0)
		rc = 0;
	BIO_free(b);
	if (rc)
		ERR_clear_error();
	return rc;
}

EVP_PKEY *sev__privkey_from_pem(const char *pem, size_t len)
{
	BIO *b;
	EVP_PKEY *k;
	if (!pem || !len || len > 64 * 1024)
		return NULL;
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return NULL;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k && !sev__is_p384(k)) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	ERR_clear_error();
	return k;
}

void sev__pem_free(char *pem, size_t len)
{
	if (pem) {
		OPENSSL_cleanse(pem, len);
		free(pem);
	}
}
