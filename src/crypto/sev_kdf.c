/* sev_kdf.c - the primitives under the SEV transport scheme, all OpenSSL:
 * SP800-108 KDF (EVP_KDF "KBKDF"), HMAC-SHA256 (EVP_MAC), AES-128-CTR
 * (EVP_CIPHER), random bytes (RAND_bytes), constant-time compare
 * (CRYPTO_memcmp). */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto/sev_crypto.h"
#include "crypto/sev_int.h"
#include "util/log.h"

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MAC    *g_hmac;
static EVP_CIPHER *g_ctr;
static EVP_KDF    *g_kbkdf;

static void fetch_all(void)
{
	g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	g_ctr = EVP_CIPHER_fetch(NULL, "AES-128-CTR", NULL);
	g_kbkdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
}

EVP_MAC *sev__hmac(void)
{
	pthread_once(&fetch_once, fetch_all);
	return g_hmac;
}

EVP_CIPHER *sev__aes128ctr(void)
{
	pthread_once(&fetch_once, fetch_all);
	return g_ctr;
}

EVP_KDF *sev__kbkdf(void)
{
	pthread_once(&fetch_once, fetch_all);
	return g_kbkdf;
}

void sev__ossl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_error();
	char why[256];
	if (e) {
		ERR_error_string_n(e, why, sizeof(why));
		errbuf__set(err, errlen, "%s: %s", what, why);
	} else {
		errbuf__set(err, errlen, "%s", what);
	}
	ERR_clear_error();
}

/* SP800-108 counter mode, HMAC-SHA256, r = 32. OpenSSL builds each PRF
 * input as [i]_32 (big endian, from 1) || label || 0x00 || context ||
 * [L]_32 (big endian, L = outlen * 8 bits), the layout SP800-108 section
 * 5.1 suggests; "salt" is the label and "info" the context. */
int sev__kdf(const uint8_t *key, size_t keylen, const uint8_t *label, size_t labellen,
	    const uint8_t *context, size_t ctxlen, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = sev__kbkdf();
	EVP_KDF_CTX *kctx;
	OSSL_PARAM params[7], *p = params;
	int ok;

	if (!kdf || !key || !keylen || !out || !outlen || (labellen && !label) || (ctxlen && !context))
		return -1;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx)
		return -1;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *)"COUNTER", 0);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *)"HMAC", 0);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen);
	if (labellen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, labellen);
	if (ctxlen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)context, ctxlen);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, out, outlen, params) == 1;
	EVP_KDF_CTX_free(kctx);
	if (!ok) {
		OPENSSL_cleanse(out, outlen);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

int sev__random(void *buf, size_t len)
{
	if (len > INT_MAX)
		return -1;
	if (len == 0)
		return 0;
	if (RAND_bytes(buf, (int)len) != 1) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

int sev__keys_random(struct sev_keys *k)
{
	if (sev__random(k->tek, sizeof(k->tek)) || sev__random(k->tik, sizeof(k->tik))) {
		OPENSSL_cleanse(k, sizeof(*k));
		return -1;
	}
	return 0;
}

int sev__memeq(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int sev__hmac_sha256(const uint8_t *key, size_t keylen, const struct sev_part *parts, int nparts,
		     uint8_t out[32])
{
	EVP_MAC *mac = sev__hmac();
	EVP_MAC_CTX *ctx;
	OSSL_PARAM params[2];
	size_t outl = 0;
	int ok = 0;

	if (!mac)
		return -1;
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, keylen, params) != 1)
		goto out;
	for (int i = 0; i < nparts; i++)
		if (parts[i].n && EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1)
			goto out;
	if (EVP_MAC_final(ctx, out, &outl, 32) != 1 || outl != 32)
		goto out;
	ok = 1;
out:
	EVP_MAC_CTX_free(ctx);
	if (!ok) {
		OPENSSL_cleanse(out, 32);
		ERR_clear_error();
	}
	return ok ? 0 : -1;
}

int sev__aes128_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
		    uint8_t *out, size_t len)
{
	EVP_CIPHER *c = sev__aes128ctr();
	EVP_CIPHER_CTX *ctx;
	int ok = 0, n;

	if (!c)
		return -1;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -1;
	if (EVP_EncryptInit_ex2(ctx, c, key, iv, NULL) != 1)
		goto out;
	while (len) {
		int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
		if (EVP_EncryptUpdate(ctx, out, &n, in, chunk) != 1 || n != chunk)
			goto out;
		in += chunk;
		out += chunk;
		len -= (size_t)chunk;
	}
	if (EVP_EncryptFinal_ex(ctx, out, &n) != 1 || n != 0)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}
