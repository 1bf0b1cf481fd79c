/* sev_identity.c - the platform's identity: a P-384 root key with a
 * self-signed CA certificate, and a P-384 PDH (platform Diffie-Hellman) key
 * whose certificate the root signs. The PDH certificate's subject carries
 * the firmware API version as "OU=sev-api-MAJOR.MINOR".
 *
 * On disk, under the state directory (created 0700 if missing):
 *   root.key  root.pem  pdh.key  pdh.pem      (PEM; keys PKCS#8, mode 0600)
 * All four present: load them and check they belong together. None
 * present: create them. Some present: refuse (never overwrite an identity
 * a guest owner may already trust). A PDH certificate naming another API
 * version than the running firmware's is re-issued by the root for the same
 * PDH key (a firmware update), and pdh.pem is replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/sev_crypto.h"
#include "crypto/sev_int.h"
#include "util/io.h"
#include "util/log.h"

#define CERT_DAYS   (365 * 25)
#define MAX_PEM     (1u << 20)
#define OU_PREFIX   "sev-api-"

static const char *const FILES[4] = { "root.key", "root.pem", "pdh.key", "pdh.pem" };

/* ---- files ---------------------------------------------------------------- */

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path)) {
		errbuf__set(err, errlen, "identity directory '%s': bad path", dir);
		return -1;
	}
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) && errno != EEXIST) {
			errbuf__set(err, errlen, "cannot create directory %s: %s", path, strerror(errno));
			return -1;
		}
		path[i] = c;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		errbuf__set(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	return 0;
}

static int join(char *out, size_t outlen, const char *dir, const char *name, char *err, size_t errlen)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= outlen) {
		errbuf__set(err, errlen, "path %s/%s is too long", dir, name);
		return -1;
	}
	return 0;
}

/* Write dir/name via dir/.name.tmp + rename, with mode, fsynced. */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len,
			mode_t mode, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX], tname[64];
	int fd, r;

	snprintf(tname, sizeof(tname), ".%s.tmp", name);
	if (join(path, sizeof(path), dir, name, err, errlen) ||
	    join(tmp, sizeof(tmp), dir, tname, err, errlen))
		return -1;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		errbuf__set(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	r = fchmod(fd, mode) ? -errno : 0;
	if (!r)
		r = write__full(fd, data, len);
	if (!r && fsync(fd))
		r = -errno;
	if (r) {
		errbuf__set(err, errlen, "cannot write %s: %s", tmp, strerror(-r));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path)) {
		errbuf__set(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static BIO *open_pem(const char *dir, const char *name, int secret, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	BIO *b;

	if (join(path, sizeof(path), dir, name, err, errlen))
		return NULL;
	if (stat(path, &st)) {
		errbuf__set(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_PEM) {
		errbuf__set(err, errlen, "%s is not a PEM file", path);
		return NULL;
	}
	if (secret && (st.st_mode & 077)) {
		errbuf__set(err, errlen, "%s is readable by others (mode %03o): it holds a private key; "
			   "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	b = BIO_new_file(path, "r");
	if (!b)
		sev__ossl_err(err, errlen, path);
	return b;
}

static EVP_PKEY *load_key(const char *dir, const char *name, char *err, size_t errlen)
{
	BIO *b = open_pem(dir, name, 1, err, errlen);
	EVP_PKEY *k;
	if (!b)
		return NULL;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!k) {
		ERR_clear_error();
		errbuf__set(err, errlen, "%s/%s: not a private key in PEM (unencrypted PKCS#8)", dir, name);
		return NULL;
	}
	if (!sev__is_p384(k)) {
		errbuf__set(err, errlen, "%s/%s: not a NIST P-384 key", dir, name);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static X509 *load_cert(const char *dir, const char *name, char *err, size_t errlen)
{
	BIO *b = open_pem(dir, name, 0, err, errlen);
	X509 *x;
	if (!b)
		return NULL;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!x) {
		ERR_clear_error();
		errbuf__set(err, errlen, "%s/%s: not a certificate in PEM", dir, name);
	}
	return x;
}

/* ---- certificates --------------------------------------------------------- */

/* The API version from a subject's "OU=sev-api-MAJOR.MINOR". */
static int parse_api_ou(X509 *x, uint8_t *maj, uint8_t *min)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = -1;

	while ((i = X509_NAME_get_index_by_NID(n, NID_organizationalUnitName, i)) >= 0) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
		const unsigned char *d = ASN1_STRING_get0_data(s);
		int len = ASN1_STRING_length(s);
		char buf[32], *end;
		unsigned long a, b;

		if (len <= (int)strlen(OU_PREFIX) || len >= (int)sizeof(buf) || memchr(d, 0, (size_t)len))
			continue;
		memcpy(buf, d, (size_t)len);
		buf[len] = '\0';
		if (strncmp(buf, OU_PREFIX, strlen(OU_PREFIX)))
			continue;
		const char *p = buf + strlen(OU_PREFIX);
		if (*p < '0' || *p > '9')
			return -1;
		a = strtoul(p, &end, 10);
		if (*end != '.' || end[1] < '0' || end[1] > '9')
			return -1;
		b = strtoul(end + 1, &end, 10);
		if (*end || a > 255 || b > 255)
			return -1;
		*maj = (uint8_t)a;
		*min = (uint8_t)b;
		return 0;
	}
	return -1;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	memset(&v3, 0, sizeof(v3));
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int random_serial(X509 *x)
{
	uint8_t r[16];
	BIGNUM *bn;
	int ok;

	if (sev__random(r, sizeof(r)))
		return -1;
	r[0] &= 0x7f;                     /* positive */
	r[0] |= 0x01;                     /* and not zero */
	bn = BN_bin2bn(r, sizeof(r), NULL);
	if (!bn)
		return -1;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

/* A certificate for subject_key. issuer NULL: self-signed root (CA);
 * otherwise a PDH certificate (key agreement, not a CA) carrying the API
 * version, signed by sign_key (the issuer's key). */
static X509 *make_cert(EVP_PKEY *subject_key, X509 *issuer, EVP_PKEY *sign_key,
		       uint8_t api_major, uint8_t api_minor)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	char ou[32];
	int ok = 0;

	if (!x || !name)
		goto out;
	snprintf(ou, sizeof(ou), OU_PREFIX "%u.%u", api_major, api_minor);
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tern", -1, -1, 0) != 1)
		goto out;
	if (issuer && X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
						 (const unsigned char *)ou, -1, -1, 0) != 1)
		goto out;
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)(issuer ?
				       "tern emulated SEV platform PDH" : "tern emulated SEV platform root"),
				       -1, -1, 0) != 1)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 || random_serial(x) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
	    X509_set_pubkey(x, subject_key) != 1)
		goto out;
	if (!issuer) {
		if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
		    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(x, x, NID_subject_key_identifier, "hash"))
			goto out;
	} else {
		if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(x, issuer, NID_key_usage, "critical,keyAgreement") ||
		    add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
		    add_ext(x, issuer, NID_authority_key_identifier, "keyid:always"))
			goto out;
	}
	if (X509_sign(x, sign_key, EVP_sha384()) <= 0)
		goto out;
	ok = 1;
out:
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static int cert_pem(X509 *x, char **pem, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc = -1;
	if (!b)
		return -1;
	if (PEM_write_bio_X509(b, x) == 1 && sev__bio_take(b, pem, len) == 0)
		rc = 0;
	BIO_free(b);
	return rc;
}

static int save_key(const char *dir, const char *name, EVP_PKEY *k, char *err, size_t errlen)
{
	char *pem = NULL;
	size_t len = 0;
	int rc;
	if (sev__privkey_pem(k, &pem, &len)) {
		sev__ossl_err(err, errlen, "cannot encode a private key");
		return -1;
	}
	rc = write_atomic(dir, name, pem, len, 0600, err, errlen);
	sev__pem_free(pem, len);
	return rc;
}

static int save_cert(const char *dir, const char *name, X509 *x, char *err, size_t errlen)
{
	char *pem = NULL;
	size_t len = 0;
	int rc;
	if (cert_pem(x, &pem, &len)) {
		sev__ossl_err(err, errlen, "cannot encode a certificate");
		return -1;
	}
	rc = write_atomic(dir, name, pem, len, 0644, err, errlen);
	free(pem);
	return rc;
}

/* ---- identity ------------------------------------------------------------- */

static int create_identity(const char *dir, uint8_t maj, uint8_t min, struct sev_identity *id,
			   char *err, size_t errlen)
{
	EVP_PKEY *root_key = sev__p384_generate();
	int rc = -1;

	id->pdh = sev__p384_generate();
	if (!root_key || !id->pdh) {
		sev__ossl_err(err, errlen, "cannot generate a P-384 key");
		goto out;
	}
	id->root_cert = make_cert(root_key, NULL, root_key, maj, min);
	id->pdh_cert = id->root_cert ? make_cert(id->pdh, id->root_cert, root_key, maj, min) : NULL;
	if (!id->pdh_cert) {
		sev__ossl_err(err, errlen, "cannot create the platform certificates");
		goto out;
	}
	/* Certificates last: a crash part-way leaves an incomplete set, which
	 * the next start refuses rather than silently replaces. */
	if (save_key(dir, "root.key", root_key, err, errlen) ||
	    save_key(dir, "pdh.key", id->pdh, err, errlen) ||
	    save_cert(dir, "root.pem", id->root_cert, err, errlen) ||
	    save_cert(dir, "pdh.pem", id->pdh_cert, err, errlen))
		goto out;
	fsync_dir(dir);
	id->api_major = maj;
	id->api_minor = min;
	rc = 0;
out:
	EVP_PKEY_free(root_key);
	return rc;
}

static int load_identity(const char *dir, uint8_t maj, uint8_t min, struct sev_identity *id,
			 char *err, size_t errlen)
{
	EVP_PKEY *root_key = NULL;
	uint8_t have_maj, have_min;
	int rc = -1;

	if (!(root_key = load_key(dir, "root.key", err, errlen)) ||
	    !(id->root_cert = load_cert(dir, "root.pem", err, errlen)) ||
	    !(id->pdh = load_key(dir, "pdh.key", err, errlen)) ||
	    !(id->pdh_cert = load_cert(dir, "pdh.pem", err, errlen)))
		goto out;
	if (X509_check_private_key(id->root_cert, root_key) != 1 ||
	    X509_verify(id->root_cert, root_key) != 1) {
		ERR_clear_error();
		errbuf__set(err, errlen, "%s: root.pem is not the self-signed certificate of root.key", dir);
		goto out;
	}
	if (X509_check_private_key(id->pdh_cert, id->pdh) != 1) {
		ERR_clear_error();
		errbuf__set(err, errlen, "%s: pdh.pem does not certify pdh.key", dir);
		goto out;
	}
	if (X509_verify(id->pdh_cert, root_key) != 1) {
		ERR_clear_error();
		errbuf__set(err, errlen, "%s: pdh.pem is not signed by root.key", dir);
		goto out;
	}
	if (parse_api_ou(id->pdh_cert, &have_maj, &have_min) || have_maj != maj || have_min != min) {
		/* Another firmware version: the root re-certifies the same key. */
		X509 *x = make_cert(id->pdh, id->root_cert, root_key, maj, min);
		if (!x) {
			sev__ossl_err(err, errlen, "cannot re-issue the PDH certificate");
			goto out;
		}
		X509_free(id->pdh_cert);
		id->pdh_cert = x;
		if (save_cert(dir, "pdh.pem", x, err, errlen))
			goto out;
		fsync_dir(dir);
	}
	id->api_major = maj;
	id->api_minor = min;
	rc = 0;
out:
	EVP_PKEY_free(root_key);
	return rc;
}

int sev__identity_load_or_create(const char *dir, uint8_t api_major, uint8_t api_minor,
				struct sev_identity *id, char *err, size_t errlen)
{
	char path[PATH_MAX], have[128] = "", missing[128] = "";
	int present = 0, lockfd, rc;

	if (!dir || !id) {
		errbuf__set(err, errlen, "identity: missing argument");
		return -1;
	}
	memset(id, 0, sizeof(*id));
	if (mkdir_p(dir, err, errlen))
		return -1;
	/* Two platforms starting on one directory must not both create. */
	lockfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lockfd < 0 || flock(lockfd, LOCK_EX)) {
		errbuf__set(err, errlen, "cannot lock %s: %s", dir, strerror(errno));
		if (lockfd >= 0)
			close(lockfd);
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		if (join(path, sizeof(path), dir, FILES[i], err, errlen)) {
			close(lockfd);
			return -1;
		}
		char *list = access(path, F_OK) == 0 ? have : missing;
		if (list == have)
			present++;
		size_t n = strlen(list);
		snprintf(list + n, 128 - n, "%s%s", n ? ", " : "", FILES[i]);
	}
	if (present == 0)
		rc = create_identity(dir, api_major, api_minor, id, err, errlen);
	else if (present == 4)
		rc = load_identity(dir, api_major, api_minor, id, err, errlen);
	else {
		errbuf__set(err, errlen, "the platform identity in %s is incomplete (has %s; missing %s): "
			   "refusing to replace it; restore the missing files, or remove the others "
			   "to create a new identity (guest owners must then trust the new root)",
			   dir, have, missing);
		rc = -1;
	}
	close(lockfd);
	if (rc)
		sev__identity_free(id);
	return rc;
}

void sev__identity_free(struct sev_identity *id)
{
	if (!id)
		return;
	EVP_PKEY_free(id->pdh);
	X509_free(id->pdh_cert);
	X509_free(id->root_cert);
	memset(id, 0, sizeof(*id));
}

int sev__identity_export(const struct sev_identity *id, char **pem, size_t *len)
{
	BIO *b;
	int rc = -1;
	if (!id || !id->pdh_cert || !id->root_cert || !pem)
		return -1;
	b = BIO_new(BIO_s_mem());
	if (!b)
		return -1;
	if (PEM_write_bio_X509(b, id->pdh_cert) == 1 && PEM_write_bio_X509(b, id->root_cert) == 1 &&
	    sev__bio_take(b, pem, len) == 0)
		rc = 0;
	BIO_free(b);
	if (rc)
		ERR_clear_error();
	return rc;
}

/* ---- verification ----------------------------------------------------------- */

/* Every certificate in a PEM text; fails on malformed PEM or none. */
static STACK_OF(X509) *read_certs(const char *pem, size_t len, const char *what, char *err, size_t errlen)
{
	STACK_OF(X509) *sk;
	BIO *b;
	X509 *x;
	unsigned long e;

	if (!pem || !len || len > MAX_PEM) {
		errbuf__set(err, errlen, "%s: empty or too large", what);
		return NULL;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	sk = sk_X509_new_null();
	if (!b || !sk) {
		BIO_free(b);
		sk_X509_free(sk);
		errbuf__set(err, errlen, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			break;
		}
	e = ERR_peek_last_error();
	BIO_free(b);
	/* the loop ends at "no start line" once the input is used up */
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		const char *why = ERR_reason_error_string(e);
		errbuf__set(err, errlen, "%s: malformed PEM certificate (%s)", what, why ? why : "unknown");
		ERR_clear_error();
		sk_X509_pop_free(sk, X509_free);
		return NULL;
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		errbuf__set(err, errlen, "%s: no PEM certificate in it", what);
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

int sev__chain_verify(const char *chain_pem, size_t chain_len, const char *trusted_pem,
		     size_t trusted_len, EVP_PKEY **peer_pdh, uint8_t *api_major,
		     uint8_t *api_minor, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL, *roots = NULL, *untrusted = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *vctx = NULL;
	EVP_PKEY *pk = NULL;
	X509 *leaf;
	uint8_t maj, min;
	int rc = -1;

	if (peer_pdh)
		*peer_pdh = NULL;
	if (!(chain = read_certs(chain_pem, chain_len, "certificate chain", err, errlen)) ||
	    !(roots = read_certs(trusted_pem, trusted_len, "trusted roots", err, errlen)))
		goto out;
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	vctx = X509_STORE_CTX_new();
	if (!store || !untrusted || !vctx) {
		errbuf__set(err, errlen, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(roots); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(roots, i)) != 1) {
			sev__ossl_err(err, errlen, "trusted roots");
			goto out;
		}
	leaf = sk_X509_value(chain, 0);
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
			errbuf__set(err, errlen, "out of memory");
			goto out;
		}
	if (X509_STORE_CTX_init(vctx, store, leaf, untrusted) != 1) {
		sev__ossl_err(err, errlen, "certificate verification");
		goto out;
	}
	X509_STORE_CTX_set_flags(vctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(vctx) != 1) {
		int e = X509_STORE_CTX_get_error(vctx);
		ERR_clear_error();
		errbuf__set(err, errlen, "the certificate chain does not verify against the trusted "
			   "roots: %s", X509_verify_cert_error_string(e));
		goto out;
	}
	if (X509_check_ca(leaf) != 0) {
		errbuf__set(err, errlen, "the chain's first certificate is a CA certificate, not a PDH "
			   "certificate");
		goto out;
	}
	pk = X509_get_pubkey(leaf);
	if (!pk || !sev__is_p384(pk)) {
		ERR_clear_error();
		errbuf__set(err, errlen, "the PDH certificate's key is not a NIST P-384 key");
		goto out;
	}
	if (parse_api_ou(leaf, &maj, &min)) {
		errbuf__set(err, errlen, "the PDH certificate's subject has no OU=" OU_PREFIX
			   "MAJOR.MINOR (firmware API version)");
		goto out;
	}
	if (api_major)
		*api_major = maj;
	if (api_minor)
		*api_minor = min;
	if (peer_pdh) {
		*peer_pdh = pk;
		pk = NULL;
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	sk_X509_free(untrusted);          /* its certificates belong to chain */
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(roots, X509_free);
	return rc;
}
