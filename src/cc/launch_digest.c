/* launch_digest.c - the ranges a confidential launch measures and their
 * SHA-256 (EVP_Digest), and the digest a guest owner expects for a given
 * guest image and `tern run` options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "boot/elf.h"
#include "boot/multiboot.h"
#include "cc/launch_digest.h"
#include "cc/vmsa.h"
#include "mirror/region.h"
#include "util/log.h"

#define PAGE 4096ull
#define GUEST_MAX_IMAGE (64u << 20)    /* as vm__load_guest */

_Static_assert(LAUNCH_BOOTINFO_GPA == MB_INFO_GPA, "boot info moved");
_Static_assert(LAUNCH_BOOTINFO_END == MB_CMDLINE_GPA + MB_CMDLINE_MAX, "command line moved");

int launch__ranges(const struct elf_image *ei, struct launch_range out[2])
{
	uint64_t lo, hi;

	if (!ei || ei->lowest >= ei->highest || ei->highest > UINT64_MAX - (PAGE - 1))
		return -1;
	lo = ei->lowest & ~(PAGE - 1);
	hi = (ei->highest + PAGE - 1) & ~(PAGE - 1);
	out[0] = (struct launch_range){ lo, hi - lo };
	out[1] = (struct launch_range){ LAUNCH_BOOTINFO_GPA, LAUNCH_BOOTINFO_END - LAUNCH_BOOTINFO_GPA };
	return 2;
}

int launch__add_helper_range(struct launch_range *r, int n)
{
	r[n] = (struct launch_range){ HELPER_BASE, HELPER_MEASURED_SIZE };
	return n + 1;
}

int launch__digest(const uint8_t *ram, uint64_t ram_size, const struct launch_range *r, int n,
		  uint8_t out[32])
{
	return launch__digest_es(ram, ram_size, r, n, 0, 0, 0, out);
}

int launch__digest_es(const uint8_t *ram, uint64_t ram_size, const struct launch_range *r, int n,
		      uint64_t entry, int ncpus, uint64_t sev_features, uint8_t out[32])
{
	uint8_t page[VMSA_SIZE];
	struct vmsa_regs regs;
	EVP_MD_CTX *ctx;
	unsigned int outl = 0;
	int ok = 0;

	if (!ram || (n && !r) || n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (r[i].gpa > ram_size || r[i].len > ram_size - r[i].gpa)
			return -1;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -1;
	if (EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (int i = 0; i < n; i++)
		if (r[i].len && EVP_DigestUpdate(ctx, ram + r[i].gpa, r[i].len) != 1)
			goto out;
	for (int i = 0; i < ncpus; i++) {
		vmsa__entry(entry, i, &regs);
		vmsa__encode(&regs, sev_features, page);
		if (EVP_DigestUpdate(ctx, page, sizeof(page)) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, out, &outl) != 1 || outl != 32)
		goto out;
	ok = 1;
out:
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}

int launch__expected_digest(const char *elf, uint64_t mem, int ncpus, const char *args,
			   uint8_t out[32], char *err, size_t errlen)
{
	struct launch_expect e = { .guest = elf, .mem = mem, .ncpus = ncpus, .args = args };
	return launch__digest_for(&e, out, err, errlen);
}

/* The helper's region, as vm__load_guest builds it after the guest. */
static int expect_helper(const struct launch_expect *e, const struct elf_image *ei, uint8_t *ram,
			 char *err, size_t errlen)
{
	void *img = NULL;
	size_t len;
	char why[256];
	int rc = -1;

	if (helper_region__guest_clear(ei->lowest, ei->highest, why, sizeof(why))) {
		errbuf__set(err, errlen, "guest %s: %s", e->guest, why);
		return -1;
	}
	if (file__slurp(e->helper, GUEST_MAX_IMAGE, &img, &len, err, errlen))
		return -1;
	if (helper_region__build(ram, e->mem, img, len, e->c_bit, why, sizeof(why)))
		errbuf__set(err, errlen, "helper %s: %s", e->helper, why);
	else
		rc = 0;
	free(img);
	return rc;
}

int launch__digest_for(const struct launch_expect *e, uint8_t out[32], char *err, size_t errlen)
{
	struct launch_range r[LAUNCH_RANGES_MAX];
	struct elf_image ei;
	void *img = NULL;
	uint8_t *ram;
	size_t len;
	char why[256];
	uint64_t mem;
	int n, rc = -1;

	if (!e || !e->guest || !out) {
		errbuf__set(err, errlen, "launch digest: missing argument");
		return -1;
	}
	mem = e->mem;
	if (mem < GUEST_LOAD_MIN || mem % PAGE || mem > (uint64_t)SIZE_MAX) {
		errbuf__set(err, errlen, "guest memory size %llu: must be a multiple of 4 KiB and at "
			   "least 1 MiB", (unsigned long long)mem);
		return -1;
	}
	if (e->ncpus < 1) {
		errbuf__set(err, errlen, "vCPU count %d: must be at least 1", e->ncpus);
		return -1;
	}
	if (file__slurp(e->guest, GUEST_MAX_IMAGE, &img, &len, err, errlen))
		return -1;
	/* Untouched pages of a MAP_NORESERVE mapping cost nothing and read as
	 * zero, like the fresh memfd tern's guests start with. */
	ram = mmap(NULL, (size_t)mem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (ram == MAP_FAILED) {
		errbuf__set(err, errlen, "cannot map %llu bytes of scratch guest memory: %s",
			   (unsigned long long)mem, strerror(errno));
		free(img);
		return -1;
	}
	/* the same steps, in the same order, as vm__load_guest */
	if (elf__load(img, len, ram, mem, GUEST_LOAD_MIN, &ei, why, sizeof(why)) ||
	    multiboot__check(img, len, why, sizeof(why))) {
		errbuf__set(err, errlen, "guest %s: %s", e->guest, why);
		goto out;
	}
	if (multiboot__write_info(ram, mem, e->ncpus, e->args, err, errlen))
		goto out;
	if (e->helper && expect_helper(e, &ei, ram, err, errlen))
		goto out;
	n = launch__ranges(&ei, r);
	if (n > 0 && e->helper)
		n = launch__add_helper_range(r, n);
	/* SEV-ES: tern asks for no VMSA features (vm.c), so SEV_FEATURES is 0 */
	if (n < 0 || launch__digest_es(ram, mem, r, n, ei.entry, e->es ? e->ncpus : 0, 0, out)) {
		errbuf__set(err, errlen, "guest %s: cannot compute the launch digest", e->guest);
		goto out;
	}
	rc = 0;
out:
	munmap(ram, (size_t)mem);
	free(img);
	return rc;
}
