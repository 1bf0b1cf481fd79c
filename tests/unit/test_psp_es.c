/* test_psp_es.c - SEV-ES launch on the emulated platform (issue 14
 * section 2), against the real tern-psp daemon, and the VMSA serialization
 * tern and the guest owner share (src/cc/vmsa.c):
 *
 *   - the VMSA page's layout (the APM's save area offsets) and the entry
 *     state it holds;
 *   - LAUNCH_UPDATE_VMSA after LAUNCH_UPDATE_DATA: the measurement is the
 *     HMAC of SHA-256(data || VMSA 0 || VMSA 1), the digest `tern owner
 *     digest` computes (launch__digest_es) for the same memory;
 *   - the platform measures in command order: VMSAs before the data give
 *     another measurement;
 *   - LAUNCH_UPDATE_VMSA refused as the kernel does: a VM that is not
 *     SEV-ES (ENOTTY, legacy INIT and INIT2 alike), outside LUPDATE
 *     (INVALID_GUEST_STATE), twice for a vCPU or with no bytes (EINVAL);
 *   - the VMSAs after launch (emulation: PSP_OP_VMSA_SAVE/LOAD): only for
 *     SEV-ES, only launched vCPUs, only while RUNNING; they move with the
 *     context to the destination's vCPUs and the source is dead. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "boot/multiboot.h"
#include "cc/launch_digest.h"
#include "cc/vmsa.h"
#include "crypto/sev_crypto.h"
#include "psp_harness.h"

#define ENTRY 0x100123u

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)le64((const uint8_t[8]){ p[0], p[1], p[2], p[3] });
}

/* ---- the serialization -------------------------------------------------- */

static void test_vmsa_layout(void **state)
{
	struct vmsa_regs r;
	uint8_t page[VMSA_SIZE];
	(void)state;

	vmsa__entry(ENTRY, 0, &r);
	vmsa__encode(&r, 0x20, page);
	assert_int_equal(le64(page + 0x178), ENTRY);                  /* RIP */
	assert_int_equal(le64(page + 0x170), 0x2);                    /* RFLAGS */
	assert_int_equal(le64(page + 0x1f8), MB_BOOT_MAGIC);          /* RAX */
	assert_int_equal(le64(page + 0x318), MB_INFO_GPA);            /* RBX */
	assert_int_equal(le64(page + 0x158), 0x11);                   /* CR0: PE | ET */
	assert_int_equal(le64(page + 0x3b0), 0x20);                   /* SEV_FEATURES */
	/* CS at 0x10: selector 0x08, attributes type 0xb | S | P | DB | G */
	assert_int_equal(page[0x10] | page[0x11] << 8, 0x08);
	assert_int_equal(page[0x12] | page[0x13] << 8, 0xb | 1 << 4 | 1 << 7 | 1 << 10 | 1 << 11);
	assert_int_equal(le32(page + 0x14), 0xffffffffu);
	/* SS at 0x20, DS at 0x30: the data selector */
	assert_int_equal(page[0x20], 0x10);
	assert_int_equal(page[0x30], 0x10);
	/* an application processor: tern's AP magic and its index */
	vmsa__entry(ENTRY, 3, &r);
	vmsa__encode(&r, 0, page);
	assert_int_equal(le64(page + 0x1f8), TERN_AP_MAGIC);
	assert_int_equal(le64(page + 0x318), 3);
	assert_int_equal(le64(page + 0x3b0), 0);
	/* nothing else: the bytes past the last field are zero */
	for (size_t i = 0x3b8; i < VMSA_SIZE; i++)
		assert_int_equal(page[i], 0);
}

/* ---- a launch with an owner's session, so the test can check the HMAC -------- */

struct owner {
	struct sev_keys keys;
	uint8_t session[PSP_SESSION_LEN];
	char *pem;
	size_t plen;
};

static void owner_new(int plat, uint32_t policy, struct owner *o)
{
	size_t clen;
	char *chain = ph_chain(plat, &clen), err[256];
	const char *root = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
	EVP_PKEY *pdh = NULL, *key;
	uint8_t maj, min;

	assert_non_null(root);
	if (sev__chain_verify(chain, clen, root, strlen(root), &pdh, &maj, &min, err, sizeof(err)))
		fail_msg("platform chain: %s", err);
	key = sev__p384_generate();
	assert_non_null(key);
	assert_int_equal(sev__keys_random(&o->keys), 0);
	assert_int_equal(sev__session_wrap(key, pdh, &o->keys, policy, o->session), 0);
	assert_int_equal(sev__pubkey_pem(key, &o->pem, &o->plen), 0);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pdh);
	free(chain);
}

/* An SEV-ES VM as tern makes one: SEV-ES type, INIT2, memory, n vCPUs,
 * LAUNCH_START with the owner's session. Left in LUPDATE, nothing loaded. */
static void es_vm(struct tvm *v, int plat, uint32_t vcpus, uint32_t policy, const struct owner *o)
{
	tvm_mem(v);
	v->fd = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	assert_true(v->fd >= 0);
	ST_EQ(ph_init2(v->fd, PSP_VM_SEV_ES, 0, 0), 0);
	ST_EQ(ph_region(v->fd, v->memfd, 0, TVM_MEM, 0), 0);
	ST_EQ(ph_vcpus(v->fd, vcpus), 0);
	v->policy = policy;
	if (o)
		ST_EQ(ph_launch_session(v->fd, policy, o->session, o->pem, o->plen, NULL, &v->handle), 0);
	else
		ST_EQ(ph_launch_start(v->fd, policy, NULL, &v->handle), 0);
}

static int send_vmsa(int vm, uint16_t op, uint32_t cmd, uint32_t vcpu, const void *p, uint32_t len,
		     uint32_t *fw)
{
	uint8_t *buf = malloc(sizeof(struct psp_vmsa) + len + 1);
	struct psp_vmsa v = { vcpu, len };
	assert_non_null(buf);
	memcpy(buf, &v, sizeof(v));
	if (len)
		memcpy(buf + sizeof(v), p, len);
	int s = ph_call(vm, op, cmd, buf, sizeof(v) + len, -1, fw, NULL, 0, NULL);
	free(buf);
	return s;
}

/* tern's VMSA page for vCPU i */
static int launch_vmsa(int vm, uint32_t i, uint32_t *fw)
{
	struct vmsa_regs r;
	uint8_t page[VMSA_SIZE];
	vmsa__entry(ENTRY, (int)i, &r);
	vmsa__encode(&r, 0, page);
	return send_vmsa(vm, PSP_OP_ENC, PSP_SEV_LAUNCH_UPDATE_VMSA, i, page, sizeof(page), fw);
}

static void expect_measurement(const struct owner *o, uint32_t policy, const uint8_t digest[32],
			       const struct psp_measure_reply *mr, bool match)
{
	uint8_t want[32];
	assert_int_equal(sev__measure(o->keys.tik, PSP_API_MAJOR, PSP_API_MINOR, PSP_BUILD, policy,
				     digest, mr->mnonce, want), 0);
	if (match)
		assert_memory_equal(mr->measurement, want, 32);
	else
		assert_memory_not_equal(mr->measurement, want, 32);
}

static void test_vmsa_measured_after_data(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	const uint32_t policy = PSP_POLICY_ES | PSP_POLICY_NOKS;
	struct launch_range rg = { 0, 2 * PSP_PAGE };
	struct psp_measure_reply mr;
	uint8_t digest[32];
	struct owner o;
	struct tvm v;

	owner_new(plat, policy, &o);
	es_vm(&v, plat, 2, policy, &o);
	ST_EQ(ph_update_data(v.fd, 0, 2 * PSP_PAGE, NULL), 0);
	ST_EQ(launch_vmsa(v.fd, 0, NULL), 0);
	ST_EQ(launch_vmsa(v.fd, 1, NULL), 0);
	ST_EQ(ph_measure(v.fd, &mr, NULL), 0);
	/* what the owner computes: the data, then vCPU 0's and 1's VMSA */
	assert_int_equal(launch__digest_es(v.mem, TVM_MEM, &rg, 1, ENTRY, 2, 0, digest), 0);
	expect_measurement(&o, policy, digest, &mr, true);
	/* without the VMSAs, or with one, it is another digest */
	assert_int_equal(launch__digest_es(v.mem, TVM_MEM, &rg, 1, ENTRY, 0, 0, digest), 0);
	expect_measurement(&o, policy, digest, &mr, false);
	assert_int_equal(launch__digest_es(v.mem, TVM_MEM, &rg, 1, ENTRY, 1, 0, digest), 0);
	expect_measurement(&o, policy, digest, &mr, false);
	/* nor with other VMSA features in the pages */
	assert_int_equal(launch__digest_es(v.mem, TVM_MEM, &rg, 1, ENTRY, 2, PSP_VMSA_FEAT_DEBUG_SWAP,
					  digest), 0);
	expect_measurement(&o, policy, digest, &mr, false);
	/* after the measurement no VMSA is taken any more */
	uint32_t fw = 0;
	FW_EQ(launch_vmsa(v.fd, 0, &fw), fw, PSP_FW_INVALID_GUEST_STATE);
	tvm_close(&v);
	free(o.pem);
	close(plat);
}

/* The platform measures what it is given in the order it comes, as the
 * firmware does: a VMM that passed the VMSAs first gets a measurement the
 * owner's digest (data first) does not match. */
static void test_vmsa_order_is_measured(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	const uint32_t policy = PSP_POLICY_ES;
	struct launch_range rg = { 0, PSP_PAGE };
	struct psp_measure_reply mr;
	uint8_t digest[32], pages[VMSA_SIZE];
	struct vmsa_regs r;
	struct owner o;
	struct tvm v;
	EVP_MD_CTX *c;
	unsigned n = 0;

	owner_new(plat, policy, &o);
	es_vm(&v, plat, 1, policy, &o);
	ST_EQ(launch_vmsa(v.fd, 0, NULL), 0);
	ST_EQ(ph_update_data(v.fd, 0, PSP_PAGE, NULL), 0);
	ST_EQ(ph_measure(v.fd, &mr, NULL), 0);
	assert_int_equal(launch__digest_es(v.mem, TVM_MEM, &rg, 1, ENTRY, 1, 0, digest), 0);
	expect_measurement(&o, policy, digest, &mr, false);
	/* it is the digest of VMSA, then data */
	vmsa__entry(ENTRY, 0, &r);
	vmsa__encode(&r, 0, pages);
	c = EVP_MD_CTX_new();
	assert_non_null(c);
	assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(c, pages, sizeof(pages)), 1);
	assert_int_equal(EVP_DigestUpdate(c, v.mem, PSP_PAGE), 1);
	assert_int_equal(EVP_DigestFinal_ex(c, digest, &n), 1);
	EVP_MD_CTX_free(c);
	expect_measurement(&o, policy, digest, &mr, true);
	tvm_close(&v);
	free(o.pem);
	close(plat);
}

static void test_update_vmsa_refusals(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	uint8_t page[VMSA_SIZE] = { 1 };
	uint32_t fw = 0;
	struct tvm v;

	/* not SEV-ES: ENOTTY, whichever INIT made it an SEV guest */
	int sev = ph_sev_only(plat, NULL, false);
	ST_EQ(ph_vcpus(sev, 1), 0);
	ST_EQ(ph_launch_start(sev, 0, NULL, NULL), 0);
	ST_EQ(launch_vmsa(sev, 0, NULL), -ENOTTY);
	int sev2 = ph_vm_typed(plat, NULL, PSP_VM_SEV);
	assert_true(sev2 >= 0);
	ST_EQ(ph_init2(sev2, PSP_VM_SEV, 0, 0), 0);
	ST_EQ(ph_vcpus(sev2, 1), 0);
	ST_EQ(ph_launch_start(sev2, 0, NULL, NULL), 0);
	ST_EQ(launch_vmsa(sev2, 0, NULL), -ENOTTY);
	/* nor a VM that is no SEV guest at all */
	int plain = ph_aux(plat, NULL, 1);
	ST_EQ(launch_vmsa(plain, 0, NULL), -ENOTTY);
	/* an ES launch policy on a plain-SEV VM is the firmware's POLICY_FAILURE */
	int sev3 = ph_sev_only(plat, NULL, false);
	FW_EQ(ph_launch_start(sev3, PSP_POLICY_ES, &fw, NULL), fw, PSP_FW_POLICY_FAILURE);

	/* SEV-ES before LAUNCH_START: no context in LUPDATE */
	int early = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	assert_true(early >= 0);
	ST_EQ(ph_init2(early, PSP_VM_SEV_ES, 0, 0), 0);
	ST_EQ(ph_vcpus(early, 1), 0);
	FW_EQ(launch_vmsa(early, 0, &fw), fw, PSP_FW_INVALID_GUEST_STATE);

	es_vm(&v, plat, 2, PSP_POLICY_ES, NULL);
	ST_EQ(send_vmsa(v.fd, PSP_OP_ENC, PSP_SEV_LAUNCH_UPDATE_VMSA, 0, page, 0, NULL), -EINVAL);
	ST_EQ(send_vmsa(v.fd, PSP_OP_ENC, PSP_SEV_LAUNCH_UPDATE_VMSA, 2, page, sizeof(page), NULL), -EINVAL);
	ST_EQ(launch_vmsa(v.fd, 0, NULL), 0);
	ST_EQ(launch_vmsa(v.fd, 0, NULL), -EINVAL);       /* launched already */
	ST_EQ(launch_vmsa(v.fd, 1, NULL), 0);

	close(sev);
	close(sev2);
	close(sev3);
	close(plain);
	close(early);
	tvm_close(&v);
	close(plat);
}

static int vmsa_load(int vm, uint32_t vcpu, uint8_t *out, size_t cap, size_t *len, uint32_t *fw)
{
	struct psp_vcpu_ref r = { vcpu };
	return ph_call(vm, PSP_OP_VMSA_LOAD, 0, &r, sizeof(r), -1, fw, out, cap, len);
}

static void test_vmsa_after_launch(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	static uint8_t got[PSP_VMSA_MAX];
	uint8_t mine[5000], page[VMSA_SIZE];
	struct vmsa_regs r;
	size_t len = 0;
	uint32_t fw = 0;
	struct tvm v;

	for (size_t i = 0; i < sizeof(mine); i++)
		mine[i] = (uint8_t)(i * 7);
	es_vm(&v, plat, 3, PSP_POLICY_ES, NULL);          /* 3 vCPUs, 2 launched */
	ST_EQ(ph_update_data(v.fd, 0, PSP_PAGE, NULL), 0);
	ST_EQ(launch_vmsa(v.fd, 0, NULL), 0);
	ST_EQ(launch_vmsa(v.fd, 1, NULL), 0);
	/* the guest does not run before LAUNCH_FINISH: no CPU uses its VMSA */
	FW_EQ(vmsa_load(v.fd, 0, got, sizeof(got), &len, &fw), fw, PSP_FW_INVALID_GUEST_STATE);
	FW_EQ(send_vmsa(v.fd, PSP_OP_VMSA_SAVE, 0, 0, mine, sizeof(mine), &fw), fw,
	      PSP_FW_INVALID_GUEST_STATE);
	tvm_run(&v);
	/* the launched VMSA is what the vCPU starts from */
	ST_EQ(vmsa_load(v.fd, 1, got, sizeof(got), &len, NULL), 0);
	vmsa__entry(ENTRY, 1, &r);
	vmsa__encode(&r, 0, page);
	assert_int_equal(len, VMSA_SIZE);
	assert_memory_equal(got, page, VMSA_SIZE);
	/* replaced by the state the VMM hands over, and given back */
	ST_EQ(send_vmsa(v.fd, PSP_OP_VMSA_SAVE, 0, 0, mine, sizeof(mine), NULL), 0);
	ST_EQ(vmsa_load(v.fd, 0, got, sizeof(got), &len, NULL), 0);
	assert_int_equal(len, sizeof(mine));
	assert_memory_equal(got, mine, sizeof(mine));
	/* a vCPU never launched, one that does not exist, a bad length */
	ST_EQ(vmsa_load(v.fd, 2, got, sizeof(got), &len, NULL), -EINVAL);
	ST_EQ(send_vmsa(v.fd, PSP_OP_VMSA_SAVE, 0, 2, mine, sizeof(mine), NULL), -EINVAL);
	ST_EQ(vmsa_load(v.fd, 9, got, sizeof(got), &len, NULL), -EINVAL);
	ST_EQ(send_vmsa(v.fd, PSP_OP_VMSA_SAVE, 0, 0, mine, 0, NULL), -EINVAL);
	ST_EQ(ph_call(v.fd, PSP_OP_VMSA_LOAD, 0, mine, 3, -1, NULL, NULL, 0, NULL), -EINVAL);
	/* not SEV-ES: ENOTTY */
	struct tvm s;
	tvm_sev(&s, plat, NULL, false, 0);
	tvm_run(&s);
	ST_EQ(vmsa_load(s.fd, 0, got, sizeof(got), &len, NULL), -ENOTTY);
	ST_EQ(send_vmsa(s.fd, PSP_OP_VMSA_SAVE, 0, 0, mine, sizeof(mine), NULL), -ENOTTY);
	tvm_close(&s);
	tvm_close(&v);
	close(plat);
}

/* A handoff: vCPU i's VMSA goes to the destination's vCPU i with the
 * context; the source is dead. */
static void test_vmsas_move_with_context(void **state)
{
	struct pd *d = *state;
	int plat = pd_connect(d);
	static uint8_t got[PSP_VMSA_MAX];
	uint8_t a[300], b[600];
	size_t len = 0;
	struct tvm v;

	memset(a, 0xa5, sizeof(a));
	memset(b, 0x5a, sizeof(b));
	es_vm(&v, plat, 2, PSP_POLICY_ES, NULL);
	ST_EQ(ph_update_data(v.fd, 0, PSP_PAGE, NULL), 0);
	ST_EQ(launch_vmsa(v.fd, 0, NULL), 0);
	ST_EQ(launch_vmsa(v.fd, 1, NULL), 0);
	tvm_run(&v);
	ST_EQ(send_vmsa(v.fd, PSP_OP_VMSA_SAVE, 0, 0, a, sizeof(a), NULL), 0);
	ST_EQ(send_vmsa(v.fd, PSP_OP_VMSA_SAVE, 0, 1, b, sizeof(b), NULL), 0);

	/* the destination: the same VM type and as many vCPUs (else EINVAL) */
	int plain_type = ph_vm(plat, NULL);
	ST_EQ(ph_vcpus(plain_type, 2), 0);
	ST_EQ(ph_move(plain_type, v.fd), -EINVAL);
	int fewer = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	ST_EQ(ph_vcpus(fewer, 1), 0);
	ST_EQ(ph_move(fewer, v.fd), -EINVAL);
	int dst = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	assert_true(dst >= 0);
	ST_EQ(ph_vcpus(dst, 2), 0);
	ST_EQ(vmsa_load(dst, 0, got, sizeof(got), &len, NULL), -ENOTTY);   /* nothing before */
	ST_EQ(ph_move(dst, v.fd), 0);
	ST_EQ(vmsa_load(dst, 0, got, sizeof(got), &len, NULL), 0);
	assert_int_equal(len, sizeof(a));
	assert_memory_equal(got, a, sizeof(a));
	ST_EQ(vmsa_load(dst, 1, got, sizeof(got), &len, NULL), 0);
	assert_int_equal(len, sizeof(b));
	assert_memory_equal(got, b, sizeof(b));
	ST_EQ(vmsa_load(v.fd, 0, got, sizeof(got), &len, NULL), -EIO);     /* the source is dead */
	ST_EQ(send_vmsa(v.fd, PSP_OP_VMSA_SAVE, 0, 0, a, sizeof(a), NULL), -EIO);
	/* and on again: the VMSAs follow every move */
	int dst2 = ph_vm_typed(plat, NULL, PSP_VM_SEV_ES);
	ST_EQ(ph_vcpus(dst2, 2), 0);
	ST_EQ(ph_move(dst2, dst), 0);
	ST_EQ(vmsa_load(dst2, 1, got, sizeof(got), &len, NULL), 0);
	assert_memory_equal(got, b, sizeof(b));
	/* token mode refuses SEV-ES (sev-semantics.md section 3) */
	ST_EQ(ph_enc(dst2, PSP_SEV_LOCAL_SEND, NULL, 0, NULL), -EPERM);

	close(plain_type);
	close(fewer);
	close(dst);
	close(dst2);
	tvm_close(&v);
	ph_wait(plat, 0, -1);
	close(plat);
}

int main(int argc, char **argv)
{
	(void)argc;
	ph_init(argv[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmsa_layout),
		cmocka_unit_test_setup_teardown(test_vmsa_measured_after_data, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_vmsa_order_is_measured, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_update_vmsa_refusals, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_vmsa_after_launch, pd_setup, pd_teardown),
		cmocka_unit_test_setup_teardown(test_vmsas_move_with_context, pd_setup, pd_teardown),
	};
	return cmocka_run_group_tests_name("psp_es", tests, NULL, NULL);
}
