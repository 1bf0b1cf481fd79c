/* owner.c - `tern owner`: what a guest owner's tooling does around a
 * confidential launch (docs/owner.md). Runs anywhere: no KVM, no platform
 * connection; it reads and writes files.
 *
 *   session  check the platform's certificate chain, make the owner's key
 *            and the guest's transport keys, wrap them for the platform
 *   digest   the launch digest to expect for a guest image and options
 *   verify   check the measurement the platform reports
 *   secret   seal a secret for LAUNCH_SECRET, bound to that measurement
 *   helper-key  make the migration helper's key, keep it, and seal it for
 *            LAUNCH_SECRET into the helper's key slot likewise
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "boot/elf.h"
#include "cc/cc.h"
#include "cc/launch_digest.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "mirror/region.h"                /* HELPER_CBIT_MIN/MAX */
#include "crypto/sev_crypto.h"
#include "helper/mailbox.h"
#include "util/io.h"
#include "util/log.h"
#include "util/size.h"
#include "vm/vm.h"

/* Files in a session directory */
#define F_OWNER_KEY  "owner.key"          /* owner's P-384 private key, PKCS#8 PEM, 0600 */
#define F_OWNER_PUB  "owner.pub.pem"      /* its public key, PEM (goes to LAUNCH_START) */
#define F_TEK_TIK    "tek-tik.bin"        /* TEK (16) || TIK (16), raw, 0600 */
#define F_SESSION    "session.bin"        /* the 128-byte session blob */
#define F_POLICY     "policy"             /* "0x%08x\n" */

/* The secret page (docs/guest-abi.md: GPA 0x6000) and what goes in it */
#define SECRET_MAGIC    "TSEC"
#define SECRET_MAX      3072u             /* "TSEC" | u32 LE length | bytes */
#define PACKET_MAGIC    "TERNSECP"        /* packet file: magic | u32 LE len | header | ciphertext */

/* The migration helper's key: kept by the owner, sealed into a packet of
 * its own kind, so neither packet can be passed off as the other */
#define F_HELPER_KEY    "helper.key"      /* the AES-256 key, raw, 0600 */
#define HKEY_MAGIC      "TERNHKYP"        /* packet file, laid out as PACKET_MAGIC's */

/* SEV policy: the minimum firmware API version (SEV API, bits 16-31) */
#define POLICY_API_MAJOR(p) (((p) >> 16) & 0xff)
#define POLICY_API_MINOR(p) (((p) >> 24) & 0xff)

#define EXIT_USAGE 2

static const char owner_usage[] =
	"usage: tern owner session --platform CHAIN.pem --trust ROOTS.pem --policy 0xN --dir DIR\n"
	"       tern owner digest --guest ELF [--mem SIZE] [--cpus N] [--guest-args \"ARGS\"]\n"
	"                         [--helper HELPER.elf [--c-bit N]] [--policy 0xN]\n"
	"       tern owner verify --dir DIR --measurement HEX --mnonce HEX --digest HEX\n"
	"                         --api MAJOR.MINOR --build N\n"
	"       tern owner secret --dir DIR --measurement HEX --in FILE --out PACKET\n"
	"       tern owner helper-key --dir DIR --measurement HEX --out PACKET\n"
	"  session  verify the platform's certificate chain (PDH certificate, then root) against\n"
	"           the roots you trust; write a new owner key, transport keys and the session\n"
	"           blob for the platform into DIR (a new or empty directory)\n"
	"  digest   print the launch digest `tern run` with these options will produce\n"
	"           (--mem and --cpus default to tern run's: 256M, 1); with --helper, the\n"
	"           migration helper's region too (--c-bit: the SEV C-bit position, CPUID\n"
	"           0x8000001F EBX[5:0] of the host; 0, the default, for --cc emu); with a\n"
	"           --policy that has the SEV-ES bit (0x4), every vCPU's VMSA follows\n"
	"  verify   check the launch measurement the platform reported (LAUNCH_MEASURE)\n"
	"  secret   seal FILE (at most 3064 bytes) for LAUNCH_SECRET, bound to the measurement\n"
	"  helper-key  write a new AES-256 key for the migration helper to DIR/helper.key and\n"
	"           seal it for LAUNCH_SECRET into the helper's key slot (tern run\n"
	"           --owner-helper-key), bound to the measurement\n"
	"See docs/owner.md.\n";

enum {
	O_PLATFORM = 1, O_TRUST, O_POLICY, O_DIR, O_GUEST, O_MEM, O_CPUS, O_ARGS,
	O_MEASUREMENT, O_MNONCE, O_DIGEST, O_API, O_BUILD, O_IN, O_OUT, O_HELPER, O_CBIT, O_HELP,
	O_COUNT
};

static const struct option long_opts[] = {
	{ "platform", required_argument, NULL, O_PLATFORM },
	{ "trust", required_argument, NULL, O_TRUST },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "dir", required_argument, NULL, O_DIR },
	{ "guest", required_argument, NULL, O_GUEST },
	{ "mem", required_argument, NULL, O_MEM },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "guest-args", required_argument, NULL, O_ARGS },
	{ "measurement", required_argument, NULL, O_MEASUREMENT },
	{ "mnonce", required_argument, NULL, O_MNONCE },
	{ "digest", required_argument, NULL, O_DIGEST },
	{ "api", required_argument, NULL, O_API },
	{ "build", required_argument, NULL, O_BUILD },
	{ "in", required_argument, NULL, O_IN },
	{ "out", required_argument, NULL, O_OUT },
	{ "helper", required_argument, NULL, O_HELPER },
	{ "c-bit", required_argument, NULL, O_CBIT },
	{ "help", no_argument, NULL, O_HELP },
	{ 0 },
};

struct sub {
	const char *name;
	int (*fn)(char **opt);
	int required[8];                  /* option ids, 0-terminated */
	int allowed[8];                   /* besides the required ones */
};

/* ---- small helpers -------------------------------------------------------- */

/* Exactly n bytes of hex (2n digits, either case). */
static int parse_hex(const char *opt, const char *s, uint8_t *out, size_t n)
{
	size_t len = strlen(s);
	if (len != 2 * n) {
		log__err("--%s: expected %zu hex digits (%zu bytes), got %zu characters", opt, 2 * n, n, len);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0) {
			log__err("--%s: '%c' at position %zu is not a hex digit", opt, c, i + 1);
			return -1;
		}
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;
	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_policy(const char *what, const char *s, uint32_t *policy)
{
	if (parse_u32(s, policy)) {
		log__err("%s '%s': not a 32-bit number (write it like 0x1)", what, s);
		return -1;
	}
	return 0;
}

static int dir_path(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= len) {
		log__err("path %s/%s is too long", dir, name);
		return -1;
	}
	return 0;
}

/* Write a new file (never replacing one unless replace is set). */
static int write_file(const char *path, const void *data, size_t len, mode_t mode, int replace)
{
	int fd, r;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (replace ? O_TRUNC : O_EXCL), mode);
	if (fd < 0) {
		if (errno == EEXIST)
			log__err("%s already exists: refusing to overwrite it", path);
		else
			log__err("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	r = fchmod(fd, mode) ? -errno : 0;
	if (!r)
		r = write__full(fd, data, len);
	if (!r && fsync(fd))
		r = -errno;
	close(fd);
	if (r) {
		log__err("cannot write %s: %s", path, strerror(-r));
		unlink(path);
		return -1;
	}
	return 0;
}

static int read_file(const char *path, size_t max, void **buf, size_t *len)
{
	char err[512];
	if (file__slurp(path, max, buf, len, err, sizeof(err))) {
		log__err("%s", err);
		return -1;
	}
	return 0;
}

/* TEK and TIK, and the policy, from a session directory. */
static int load_session_dir(const char *dir, struct sev_keys *k, uint32_t *policy)
{
	char path[4096], text[64];
	void *buf;
	size_t len;

	if (dir_path(path, sizeof(path), dir, F_TEK_TIK) || read_file(path, 4096, &buf, &len))
		return -1;
	if (len != 2 * SEV_KEY_LEN) {
		log__err("%s: %zu bytes, expected %d (TEK || TIK); was it written by `tern owner session`?",
			path, len, 2 * SEV_KEY_LEN);
		OPENSSL_cleanse(buf, len);
		free(buf);
		return -1;
	}
	memcpy(k->tek, buf, SEV_KEY_LEN);
	memcpy(k->tik, (uint8_t *)buf + SEV_KEY_LEN, SEV_KEY_LEN);
	OPENSSL_cleanse(buf, len);
	free(buf);

	if (dir_path(path, sizeof(path), dir, F_POLICY) || read_file(path, sizeof(text) - 1, &buf, &len))
		goto fail;
	memcpy(text, buf, len);
	free(buf);
	text[len] = '\0';
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (parse_u32(text, policy)) {
		log__err("%s: '%s' is not a policy (expected a number like 0x1)", path, text);
		goto fail;
	}
	return 0;
fail:
	OPENSSL_cleanse(k, sizeof(*k));
	return -1;
}

/* ---- session ---------------------------------------------------------------- */

static int do_session(char **opt)
{
	static const char *const outputs[] = { F_OWNER_KEY, F_OWNER_PUB, F_TEK_TIK, F_SESSION, F_POLICY };
	const char *dir = opt[O_DIR];
	char err[1024], path[4096], *chain = NULL, *trust = NULL, *pem = NULL, *pub = NULL;
	char ptext[32];
	size_t chain_len, trust_len, pem_len = 0, pub_len = 0;
	EVP_PKEY *pdh = NULL, *owner = NULL;
	struct sev_keys k;
	uint8_t session[SEV_SESSION_LEN], tektik[2 * SEV_KEY_LEN] = { 0 }, maj, min;
	uint32_t policy;
	struct stat st;
	int rc = 1, plen;

	if (parse_policy("--policy", opt[O_POLICY], &policy))
		return EXIT_USAGE;
	if (read_file(opt[O_PLATFORM], 1 << 20, (void **)&chain, &chain_len) ||
	    read_file(opt[O_TRUST], 1 << 20, (void **)&trust, &trust_len))
		goto out;
	if (sev__chain_verify(chain, chain_len, trust, trust_len, &pdh, &maj, &min, err, sizeof(err))) {
		log__err("platform chain %s is not trusted (roots: %s): %s", opt[O_PLATFORM],
			opt[O_TRUST], err);
		goto out;
	}
	if (maj < POLICY_API_MAJOR(policy) ||
	    (maj == POLICY_API_MAJOR(policy) && min < POLICY_API_MINOR(policy))) {
		log__err("the platform's firmware API %u.%u is older than policy 0x%08x requires (%u.%u)",
			maj, min, policy, POLICY_API_MAJOR(policy), POLICY_API_MINOR(policy));
		goto out;
	}

	if (mkdir(dir, 0700) && errno != EEXIST) {
		log__err("cannot create directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		log__err("%s is not a directory", dir);
		goto out;
	}
	for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		if (dir_path(path, sizeof(path), dir, outputs[i]))
			goto out;
		if (access(path, F_OK) == 0) {
			log__err("%s already holds a session (%s exists): use a new directory, every "
				"launch needs fresh keys", dir, outputs[i]);
			goto out;
		}
	}

	owner = sev__p384_generate();
	if (!owner || sev__keys_random(&k)) {
		log__err("cannot generate keys (OpenSSL)");
		goto out;
	}
	if (sev__session_wrap(owner, pdh, &k, policy, session)) {
		log__err("cannot wrap the transport keys for the platform's PDH key");
		goto out_keys;
	}
	if (sev__privkey_pem(owner, &pem, &pem_len) || sev__pubkey_pem(owner, &pub, &pub_len)) {
		log__err("cannot encode the owner's key");
		goto out_keys;
	}
	memcpy(tektik, k.tek, SEV_KEY_LEN);
	memcpy(tektik + SEV_KEY_LEN, k.tik, SEV_KEY_LEN);
	plen = snprintf(ptext, sizeof(ptext), "0x%08x\n", policy);

	if (dir_path(path, sizeof(path), dir, F_OWNER_KEY) || write_file(path, pem, pem_len, 0600, 0))
		goto out_keys;
	printf("wrote %s (the owner's P-384 private key: keep it)\n", path);
	if (dir_path(path, sizeof(path), dir, F_OWNER_PUB) || write_file(path, pub, pub_len, 0644, 0))
		goto out_keys;
	printf("wrote %s (the owner's public key, for LAUNCH_START)\n", path);
	if (dir_path(path, sizeof(path), dir, F_TEK_TIK) ||
	    write_file(path, tektik, sizeof(tektik), 0600, 0))
		goto out_keys;
	printf("wrote %s (transport keys TEK || TIK: keep them secret)\n", path);
	if (dir_path(path, sizeof(path), dir, F_SESSION) ||
	    write_file(path, session, sizeof(session), 0644, 0))
		goto out_keys;
	printf("wrote %s (session blob for the platform, %d bytes)\n", path, SEV_SESSION_LEN);
	if (dir_path(path, sizeof(path), dir, F_POLICY) || write_file(path, ptext, (size_t)plen, 0644, 0))
		goto out_keys;
	printf("wrote %s (policy 0x%08x)\n", path, policy);
	printf("platform: firmware API %u.%u, chain verified against %s\n", maj, min, opt[O_TRUST]);
	rc = 0;
out_keys:
	OPENSSL_cleanse(&k, sizeof(k));
out:
	OPENSSL_cleanse(tektik, sizeof(tektik));
	sev__pem_free(pem, pem_len);
	free(pub);
	free(chain);
	free(trust);
	EVP_PKEY_free(owner);
	EVP_PKEY_free(pdh);
	return rc;
}

/* ---- digest ----------------------------------------------------------------- */

static int do_digest(char **opt)
{
	uint64_t mem = RUN_DEFAULT_MEM;
	long cpus = 1;
	uint8_t d[SEV_DIGEST_LEN];
	char err[1024];

	if (opt[O_MEM]) {
		if (size__parse(opt[O_MEM], &mem)) {
			log__err("--mem %s: not a size (try 512M or 1G)", opt[O_MEM]);
			return EXIT_USAGE;
		}
		if (mem < VM_MIN_MEM || mem % VM_MEM_ALIGN) {
			log__err("--mem %s: tern run needs a multiple of 2M, at least %lluM", opt[O_MEM],
				VM_MIN_MEM >> 20);
			return EXIT_USAGE;
		}
	}
	if (opt[O_CPUS]) {
		char *end;
		errno = 0;
		cpus = strtol(opt[O_CPUS], &end, 10);
		if (errno || *end || end == opt[O_CPUS] || cpus < 1 || cpus > VM_MAX_VCPUS) {
			log__err("--cpus %s: must be a number from 1 to %d", opt[O_CPUS], VM_MAX_VCPUS);
			return EXIT_USAGE;
		}
	}
	struct launch_expect e = { .guest = opt[O_GUEST], .mem = mem, .ncpus = (int)cpus,
				   .args = opt[O_ARGS], .helper = opt[O_HELPER] };
	if (opt[O_CBIT]) {
		uint32_t cb;
		if (!opt[O_HELPER]) {
			log__err("--c-bit is where the helper's page tables put the C-bit: it needs --helper");
			return EXIT_USAGE;
		}
		if (parse_u32(opt[O_CBIT], &cb) || (cb && (cb < HELPER_CBIT_MIN || cb > HELPER_CBIT_MAX))) {
			log__err("--c-bit %s: 0 (--cc emu) or a bit position from %u to %u (CPUID "
				"0x8000001F EBX[5:0])", opt[O_CBIT], HELPER_CBIT_MIN, HELPER_CBIT_MAX);
			return EXIT_USAGE;
		}
		e.c_bit = cb;
	}
	if (opt[O_POLICY]) {
		uint32_t policy;
		if (parse_policy("--policy", opt[O_POLICY], &policy))
			return EXIT_USAGE;
		/* SEV-ES: the launch measures each vCPU's VMSA after the data */
		e.es = (policy & CC_POLICY_ES) != 0;
		if (e.es && e.helper) {
			log__err("--helper with an SEV-ES policy: tern run refuses that launch (the "
				"helper's mirror VM would need VMSAs of its own)");
			return EXIT_USAGE;
		}
	}
	if (launch__digest_for(&e, d, err, sizeof(err))) {
		log__err("%s", err);
		return 1;
	}
	print_hex(d, sizeof(d));
	return 0;
}

/* ---- verify ----------------------------------------------------------------- */

static int do_verify(char **opt)
{
	uint8_t meas[SEV_MAC_LEN], mnonce[SEV_MNONCE_LEN], digest[SEV_DIGEST_LEN], want[SEV_MAC_LEN];
	unsigned maj, min;
	uint32_t build, policy;
	struct sev_keys k;
	char tail;
	int ok;

	if (parse_hex("measurement", opt[O_MEASUREMENT], meas, sizeof(meas)) ||
	    parse_hex("mnonce", opt[O_MNONCE], mnonce, sizeof(mnonce)) ||
	    parse_hex("digest", opt[O_DIGEST], digest, sizeof(digest)))
		return EXIT_USAGE;
	if (sscanf(opt[O_API], "%3u.%3u%c", &maj, &min, &tail) != 2 || maj > 255 || min > 255 ||
	    opt[O_API][0] < '0' || opt[O_API][0] > '9') {
		log__err("--api %s: expected MAJOR.MINOR, each 0-255 (e.g. 1.55)", opt[O_API]);
		return EXIT_USAGE;
	}
	if (parse_u32(opt[O_BUILD], &build) || build > 255) {
		log__err("--build %s: expected a number 0-255", opt[O_BUILD]);
		return EXIT_USAGE;
	}
	if (load_session_dir(opt[O_DIR], &k, &policy))
		return 1;
	ok = sev__measure(k.tik, (uint8_t)maj, (uint8_t)min, (uint8_t)build, policy, digest, mnonce, want) == 0;
	OPENSSL_cleanse(&k, sizeof(k));
	if (!ok) {
		log__err("cannot compute the measurement (OpenSSL)");
		return 1;
	}
	if (!sev__memeq(want, meas, sizeof(want))) {
		log__err("measurement does not match: the platform launched something else");
		return 1;
	}
	printf("measurement OK\n");
	return 0;
}

/* ---- secret, helper-key ---------------------------------------------------- */

/* Seal plain (plen bytes) for LAUNCH_SECRET with the session in dir, bound
 * to the measurement, and write it to path as magic | u32 LE plen |
 * header | ciphertext (docs/owner.md). 0, or 1 with the cause logged. */
static int seal_packet(const char *dir, const uint8_t meas[SEV_MAC_LEN], const char *magic,
		       const uint8_t *plain, size_t plen, const char *path)
{
	uint8_t out[8 + 4 + SEV_PKT_HDR_LEN + SECRET_MAX];
	uint32_t policy;
	struct sev_keys k;
	int rc = 1;

	if (plen > SECRET_MAX) {
		log__err("%zu bytes do not fit a secret packet (at most %u)", plen, SECRET_MAX);
		return 1;
	}
	if (load_session_dir(dir, &k, &policy))
		return 1;
	memcpy(out, magic, 8);
	out[8] = (uint8_t)plen;
	out[9] = (uint8_t)(plen >> 8);
	out[10] = (uint8_t)(plen >> 16);
	out[11] = (uint8_t)(plen >> 24);
	if (sev__packet_seal(&k, SEV_CTX_SECRET, 0, plain, plen, meas, SEV_MAC_LEN, out + 12,
			    out + 12 + SEV_PKT_HDR_LEN)) {
		log__err("cannot seal the packet (OpenSSL)");
		goto out;
	}
	if (write_file(path, out, 12 + SEV_PKT_HDR_LEN + plen, 0644, 1))
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(&k, sizeof(k));
	OPENSSL_cleanse(out, sizeof(out));
	return rc;
}

static int do_secret(char **opt)
{
	uint8_t meas[SEV_MAC_LEN], plain[SECRET_MAX], *file = NULL;
	size_t len;
	int rc = 1;

	if (parse_hex("measurement", opt[O_MEASUREMENT], meas, sizeof(meas)))
		return EXIT_USAGE;
	if (read_file(opt[O_IN], 1 << 20, (void **)&file, &len))
		return 1;
	if (len > SECRET_MAX - 8) {
		log__err("%s: %zu bytes, but a secret holds at most %u (it must fit the secret page "
			"with its 8-byte header)", opt[O_IN], len, SECRET_MAX - 8);
		goto out;
	}
	memcpy(plain, SECRET_MAGIC, 4);
	plain[4] = (uint8_t)len;
	plain[5] = (uint8_t)(len >> 8);
	plain[6] = (uint8_t)(len >> 16);
	plain[7] = (uint8_t)(len >> 24);
	memcpy(plain + 8, file, len);
	if (seal_packet(opt[O_DIR], meas, PACKET_MAGIC, plain, 8 + len, opt[O_OUT]))
		goto out;
	printf("wrote %s (secret packet: %zu bytes of secret, bound to measurement %.16s...)\n",
	       opt[O_OUT], len, opt[O_MEASUREMENT]);
	rc = 0;
out:
	OPENSSL_cleanse(plain, sizeof(plain));
	if (file) {
		OPENSSL_cleanse(file, len);
		free(file);
	}
	return rc;
}

/* The helper's key is made here, by the owner, never by the host: the
 * owner keeps helper.key (to open what the helper seals, should they
 * want to) and the platform writes the slot only for this launch. */
static int do_helper_key(char **opt)
{
	struct helper_key_slot slot = { .magic = HELPER_KEY_MAGIC, .len = HELPER_KEY_LEN };
	uint8_t meas[SEV_MAC_LEN];
	char path[4096];
	int rc = 1;

	if (parse_hex("measurement", opt[O_MEASUREMENT], meas, sizeof(meas)))
		return EXIT_USAGE;
	if (dir_path(path, sizeof(path), opt[O_DIR], F_HELPER_KEY))
		return 1;
	if (RAND_bytes(slot.key, sizeof(slot.key)) != 1) {
		log__err("cannot make a random key (OpenSSL RAND_bytes)");
		return 1;
	}
	/* the key file first, never replacing one: a key already given to a
	 * helper must not be lost */
	if (write_file(path, slot.key, sizeof(slot.key), 0600, 0))
		goto out;
	if (seal_packet(opt[O_DIR], meas, HKEY_MAGIC, (const uint8_t *)&slot, sizeof(slot), opt[O_OUT])) {
		unlink(path);             /* no packet: nobody has this key */
		goto out;
	}
	printf("wrote %s (the helper's AES-256 key: keep it secret)\n", path);
	printf("wrote %s (helper-key packet for GPA 0x%llx, bound to measurement %.16s...)\n",
	       opt[O_OUT], HELPER_BASE + HELPER_KEY_OFF, opt[O_MEASUREMENT]);
	rc = 0;
out:
	OPENSSL_cleanse(&slot, sizeof(slot));
	return rc;
}

/* ---- dispatch ----------------------------------------------------------------- */

static const struct sub subs[] = {
	{ "session", do_session, { O_PLATFORM, O_TRUST, O_POLICY, O_DIR }, { 0 } },
	{ "digest", do_digest, { O_GUEST }, { O_MEM, O_CPUS, O_ARGS, O_HELPER, O_CBIT, O_POLICY } },
	{ "verify", do_verify, { O_DIR, O_MEASUREMENT, O_MNONCE, O_DIGEST, O_API, O_BUILD }, { 0 } },
	{ "secret", do_secret, { O_DIR, O_MEASUREMENT, O_IN, O_OUT }, { 0 } },
	{ "helper-key", do_helper_key, { O_DIR, O_MEASUREMENT, O_OUT }, { 0 } },
};

static int listed(const int *ids, int id)
{
	for (int i = 0; i < 8 && ids[i]; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int cmd__owner(int argc, char **argv)
{
	char *opt[O_COUNT] = { 0 };
	const struct sub *s = NULL;
	int c;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fprintf(argc < 2 ? stderr : stdout, "%s", owner_usage);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			s = &subs[i];
	if (!s) {
		log__err("owner: unknown step '%s' (session, digest, verify, secret or helper-key)", argv[1]);
		fprintf(stderr, "%s", owner_usage);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1) {
		if (c == 'h' || c == O_HELP) {
			printf("%s", owner_usage);
			return 0;
		}
		if (c > 0 && c < O_COUNT) {
			if (!listed(s->required, c) && !listed(s->allowed, c)) {
				log__err("owner %s: option --%s does not apply here", s->name, long_opts[c - 1].name);
				return EXIT_USAGE;
			}
			if (opt[c]) {
				log__err("owner %s: --%s given twice", s->name, long_opts[c - 1].name);
				return EXIT_USAGE;
			}
			opt[c] = optarg;
			continue;
		}
		if (optopt > 0 && optopt < O_COUNT)
			log__err("owner %s: option --%s needs a value", s->name, long_opts[optopt - 1].name);
		else
			log__err("owner %s: unknown option %s", s->name, argv[optind - 1]);
		fprintf(stderr, "%s", owner_usage);
		return EXIT_USAGE;
	}
	if (optind < argc) {
		log__err("owner %s: unexpected argument '%s'", s->name, argv[optind]);
		return EXIT_USAGE;
	}
	for (int i = 0; i < 8 && s->required[i]; i++)
		if (!opt[s->required[i]] || !*opt[s->required[i]]) {
			log__err("owner %s: --%s is required", s->name, long_opts[s->required[i] - 1].name);
			fprintf(stderr, "%s", owner_usage);
			return EXIT_USAGE;
		}
	return s->fn(opt);
}
